#!/usr/bin/env python
"""Render the README's pictures of the method's controls into samples/pictures/.

Every picture is made by the commands and functions it illustrates, and its title names the
weights that made it. Offline we only have seeded *random* VGG19 weights (ImageNet weights
cannot be downloaded here), so the pictures show what each control does to the optimisation,
not the painterly results ImageNet weights give. Rerun with ``--weights auto`` where the
ImageNet file is in the torch hub cache to get those.

Inputs: only the project's own procedural samples, made by ``scripts/make_samples.py``:
``samples/content.png`` (a dusk city skyline) as content, frames of ``samples/clip.mp4`` (a pan
across that skyline) where a picture needs several, and two styles, ``samples/style.png``
(swirling colour bands) and ``samples/style2.png`` (mosaic tiles).

    python scripts/make_pictures.py [--out samples/pictures] [--size 128]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
sys.path.insert(0, str(ROOT))

from vidstyle.cli import main as vidstyle  # noqa: E402
from vidstyle.tools.grids import label_grid  # noqa: E402

JPEG_QUALITY = 80  # the six pictures stay under 300 KB together


def rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def save_rgb(path: Path, image: np.ndarray) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == ".jpg" else []
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)


def video_frames(path: Path, times: list[float]) -> list[np.ndarray]:
    """RGB frames of ``path`` nearest to ``times`` (seconds)."""
    import av

    frames, wanted = [], list(times)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if wanted and frame.time is not None and frame.time >= wanted[0]:
                frames.append(frame.to_ndarray(format="rgb24"))
                wanted.pop(0)
            if not wanted:
                break
    return frames


def thumbnail(image: np.ndarray, long_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def style_control_pictures(out: Path, tmp: Path, run: list[str], iters: int, weights_note: str) -> None:
    """The style-loss controls: ``masks.jpg`` (two styles in two regions) and ``loss_controls.jpg``
    (gram vs w2, several content layers, normalised gradients), all on ``samples/content.png``."""
    content = SAMPLES / "content.png"
    style, style2 = SAMPLES / "style.png", SAMPLES / "style2.png"
    h, w = rgb(content).shape[:2]
    left = np.zeros((h, w, 3), np.uint8)
    left[:, : w // 2] = 255
    masks = [tmp / "mask_left.png", tmp / "mask_right.png"]
    save_rgb(masks[0], left)
    save_rgb(masks[1], 255 - left)

    def stylize(name: str, *args: str) -> np.ndarray:
        path = tmp / f"{name}.png"
        assert vidstyle(["image", str(content), *args, "-o", str(path), *run]) == 0, name
        return rgb(path)

    size = int(run[run.index("--size") + 1])
    small = lambda path: thumbnail(rgb(path), size)  # noqa: E731
    masked = [stylize(f"masked_{kind}", str(style), str(style2), "--style-mask", str(masks[0]),
                      "--style-mask", str(masks[1]), "--style-loss", kind) for kind in ("gram", "w2")]
    tile = masked[0].shape[:2]
    grid = label_grid(
        [[small(content), small(style), small(style2), small(masks[0])] + masked],
        [["content", "style A: style.png", "style B: style2.png", "mask A (B: the rest)", "--style-mask A, B",
          "the same, --style-loss w2"]],
        title=f"spatial control: style A paints the left half, style B the right; {iters} L-BFGS iterations; "
              f"{weights_note}", tile_size=tile)
    save_rgb(out / "masks.jpg", grid.image)

    grid = label_grid(
        [[small(content), small(style), stylize("gram", str(style)), stylize("w2", str(style), "--style-loss", "w2")],
         [stylize("content_deep", str(style), "--content-layers", "relu4_2:1"),
          stylize("content_two", str(style), "--content-layers", "relu4_2:1,relu2_1:1"),
          stylize("normalized_off", str(style), "--alpha", "1"),
          stylize("normalized_on", str(style), "--alpha", "1", "--normalize-gradients")]],
        [["content", "style", "--style-loss gram", "--style-loss w2"],
         ["--content-layers relu4_2:1", "relu4_2:1,relu2_1:1", "--alpha 1", "--alpha 1 --normalize-gradients"]],
        title=f"style-loss controls; {iters} L-BFGS iterations, alpha 100 unless shown; {weights_note}",
        tile_size=tile)
    save_rgb(out / "loss_controls.jpg", grid.image)


def intermediate_picture(content: Path, style: Path, out: Path, tmp: Path, *, size: int, iters: int,
                         common: list[str], weights_note: str) -> None:
    """``--save-every`` and ``--average``: the image every few iterations of one L-BFGS run from
    noise, with and without iterate averaging (what the snapshot files show)."""
    stops = [iters * k // 6 for k in range(1, 7)]
    every = stops[0]
    rows, labels = [], []
    for average in ("0", "0.9"):
        target = tmp / f"steps_avg{average}.png"
        args = ["image", str(content), str(style), "-o", str(target), "--size", str(size), "--iters", str(iters),
                "--init", "random", "--save-every", str(every), "--average", average, *common]
        assert vidstyle(args) == 0, args
        rows.append([rgb(tmp / f"{target.stem}.{i:04d}.png") for i in stops])
        name = "last iterate" if average == "0" else "--average 0.9"
        labels.append([f"{name}, iteration {i}" for i in stops])
    grid = label_grid(rows, labels, title=f"--save-every {every}: the image so far, cold start from noise, L-BFGS; "
                                          f"{weights_note}", tile_size=rows[0][0].shape[:2])
    save_rgb(out / "intermediate.jpg", grid.image)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "samples" / "pictures")
    parser.add_argument("--size", type=int, default=128, help="long side of every stylized tile")
    parser.add_argument("--iters", type=int, default=150, help="L-BFGS iterations per stylization")
    parser.add_argument("--weights", default="random", help="as vidstyle --weights (default: random)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", choices=("all", "style-controls"), default="all",
                        help="make every picture, or only the style-loss controls' (masks.jpg, loss_controls.jpg)")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="vidstyle-pictures-"))
    common = ["--weights", options.weights, "--device", options.device, "--quiet"]
    run = ["--size", str(options.size), "--iters", str(options.iters), *common]
    started = time.time()

    # Inputs: the project's own samples (scripts/make_samples.py); the 2 s clip gives four frames.
    content = SAMPLES / "content.png"
    style, style2 = SAMPLES / "style.png", SAMPLES / "style2.png"
    frames = video_frames(SAMPLES / "clip.mp4", [0.0, 0.6, 1.2, 1.8])
    weights_note = "weights: random (seed 0)" if options.weights == "random" else f"weights: {options.weights}"
    if options.only == "style-controls":
        style_control_pictures(options.out, tmp, run, options.iters, weights_note)
        print(f"wrote masks.jpg and loss_controls.jpg in {time.time() - started:.0f} s")
        return 0

    def stylize(name: str, *args: str) -> np.ndarray:
        out = tmp / f"{name}.png"
        assert vidstyle(["image", str(content), *args, "-o", str(out), *run]) == 0, name
        return rgb(out)

    small = lambda path: thumbnail(rgb(path), options.size)  # noqa: E731
    content_tile = small(content)

    # 1. Reconstructions from each layer (content) and from the layers up to it (style).
    assert vidstyle(["reconstruct", str(content), "-o", str(tmp / "reconstruct.png"),
                     "--size", str(options.size), "--iters", str(options.iters), *common]) == 0
    save_rgb(options.out / "reconstruct.jpg", rgb(tmp / "reconstruct.png"))

    # 2. An alpha sweep. With random weights the style terms start ~100x smaller than with
    # ImageNet ones, so the interesting range of alpha is lower than the default 100.
    assert vidstyle(["sweep", str(content), str(style), "-o", str(tmp / "sweep.png"),
                     "--alpha", "0.01,0.1,1,10,100", *run]) == 0
    save_rgb(options.out / "sweep.jpg", rgb(tmp / "sweep.png"))

    # 3. Colour preservation.
    plain = stylize("plain", str(style))
    grid = label_grid(
        [[content_tile, small(style), plain, stylize("luminance", str(style), "--preserve-colors"),
          stylize("histogram", str(style), "--preserve-colors", "--color-method", "histogram")]],
        [["content", "style", "plain", "--preserve-colors", "histogram"]],
        title=f"colour preservation (luminance: YIQ, content's I and Q kept); {options.iters} L-BFGS "
              f"iterations; {weights_note}", tile_size=plain.shape[:2])
    save_rgb(options.out / "colors.jpg", grid.image)

    # 4. Two styles blended.
    grid = label_grid(
        [[small(style), small(style2)] + [stylize(f"blend{w}", str(style), str(style2), "--style-blend", w)
                                         for w in ("1,0", "0.5,0.5", "0,1")]],
        [["style A: style.png", "style B: style2.png", "blend 1,0", "blend 0.5,0.5", "blend 0,1"]],
        title=f"--style-blend: Gram targets mixed; {options.iters} L-BFGS iterations; {weights_note}",
        tile_size=plain.shape[:2])
    save_rgb(options.out / "blend.jpg", grid.image)

    # 5. The cartoon preset (its size and iterations overridden to match the other pictures).
    grid = label_grid(
        [[content_tile, stylize("cartoon_off", str(style2), "--preset", "cartoon", "--no-cartoon"),
          stylize("cartoon_on", str(style2), "--preset", "cartoon")]],
        [["content", "--preset cartoon --no-cartoon", "--preset cartoon"]],
        title=f"cartoon preset: l1 TV (beta 20), then flat palette and dark outlines; {weights_note}",
        tile_size=plain.shape[:2])
    save_rgb(options.out / "cartoon.jpg", grid.image)

    # 6. Augmentation: RandomStylize on four frames, p = 0.75, seeded.
    from vidstyle import RandomStylize
    from vidstyle.settings import AugmentSettings, ModelSettings

    augment = RandomStylize([str(style), str(style2)], p=0.75, iters=options.iters // 2, seed=0,
                            settings=AugmentSettings(model=ModelSettings(weights=options.weights,
                                                                         device=options.device)))
    originals = [thumbnail(f, options.size) for f in frames]
    augmented = [augment(f) for f in originals]
    choices = RandomStylize([style, style2], p=0.75, seed=0).draw(4)
    grid = label_grid([originals, augmented],
                      [["input"] * 4, [("unchanged", "style.png", "style2.png")[0 if c is None else c + 1] for c in choices]],
                      title=f"RandomStylize(p=0.75, seed=0): a random style per image; {weights_note}")
    save_rgb(options.out / "augment.jpg", grid.image)

    # 7. The style-loss controls: style masks, w2, several content layers, normalised gradients.
    style_control_pictures(options.out, tmp, run, options.iters, weights_note)

    # 8. Intermediate results (--save-every) with and without iterate averaging.
    intermediate_picture(content, style, options.out, tmp, size=options.size, iters=options.iters, common=common,
                         weights_note=weights_note)

    sizes = {p.name: p.stat().st_size for p in sorted(options.out.glob("*.jpg"))}
    print(f"wrote {len(sizes)} pictures, {sum(sizes.values()) / 1024:.0f} KiB in all, "
          f"in {time.time() - started:.0f} s: " + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in sizes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
