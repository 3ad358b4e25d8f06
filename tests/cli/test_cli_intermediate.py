"""Intermediate results of ``vidstyle image``: ``--save-every``, Ctrl-C keeps the image so far,
``--average``; from the CLI and from the Python API."""

import cv2
import numpy as np
import pytest
import torch
from helpers import as_tensor, run_cli, stripes_image, structured_image

import vidstyle.cli.image as cli_image
from vidstyle.cli import main
from vidstyle.core.optimize import OptimizationInterrupted
from vidstyle.core.stylize_image import stylize_image
from vidstyle.settings import ImageSettings, ModelSettings, OptimSettings

FAST = ["--weights", "random", "--quiet", "--device", "cpu", "--size", "32"]


def test_save_every_writes_numbered_images_beside_the_output(image_files, tmp_path):
    content, style = image_files
    out = tmp_path / "out.png"
    assert main(["image", str(content), str(style), "-o", str(out), *FAST, "--iters", "5", "--save-every", "2"]) == 0
    written = sorted(p.name for p in tmp_path.glob("out.*.png"))
    assert written == ["out.0002.png", "out.0004.png"]
    first, second, final = (cv2.imread(str(tmp_path / name)) for name in (*written, "out.png"))
    assert first.shape == final.shape and max(final.shape[:2]) == 32
    assert np.abs(first.astype(int) - second).max() > 0  # the optimisation moved on between them


def test_ctrl_c_writes_the_image_so_far_and_exits_130(image_files, tmp_path, capsys, monkeypatch):
    content, style = image_files
    out = tmp_path / "out.png"
    real_bar = cli_image.iteration_bar

    def bar_that_is_interrupted(total, quiet, desc):
        bar, advance = real_bar(total, quiet, desc)

        def callback(iteration, loss):
            advance(iteration, loss)
            if iteration == 3:
                raise KeyboardInterrupt  # what Ctrl-C raises in the main thread

        return bar, callback

    monkeypatch.setattr(cli_image, "iteration_bar", bar_that_is_interrupted)
    status = main(["image", str(content), str(style), "-o", str(out), *FAST, "--iters", "50", "--check-every", "1"])
    assert status == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"vidstyle: interrupted after 3 of 50 iterations; the image so far is in {out}"
    saved = cv2.imread(str(out))
    assert saved is not None and max(saved.shape[:2]) == 32


@pytest.mark.parametrize("value, ok", [("0.9", True), ("1", False), ("-0.5", False)])
def test_average_option(image_files, tmp_path, capsys, value, ok):
    content, style = image_files
    status = run_cli(["image", content, style, "-o", tmp_path / "o.png", *FAST, "--iters", "3", "--average", value])
    assert (status == 0) == ok
    if not ok:
        assert status == 2 and "--average" in capsys.readouterr().err


def test_api_snapshots_and_interrupt_come_at_full_size_and_finished(extractor):
    """Multiscale cold start: snapshots from the coarse level are upsampled; colours are put back."""
    content, style = as_tensor(structured_image(32, 48)), as_tensor(stripes_image(32, 32))
    settings = ImageSettings(save_every=2, optim=OptimSettings(iters=6, multiscale=2),
                             model=ModelSettings(device="cpu", weights="random"))
    seen = []
    done = stylize_image(content, [style], settings, extractor=extractor, progress=False,
                         snapshot=lambda i, image: seen.append((i, tuple(image.shape))))
    assert seen == [(2, (1, 3, 32, 48)), (4, (1, 3, 32, 48)), (6, (1, 3, 32, 48))]
    assert done.image.shape == content.shape

    def interrupt(iteration, loss):
        if iteration == 2:
            raise KeyboardInterrupt

    gray = ImageSettings(optim=OptimSettings(iters=6, check_every=1),
                         style=settings.style.__class__(preserve_colors=True),
                         model=ModelSettings(device="cpu", weights="random"))
    with pytest.raises(OptimizationInterrupted) as caught:
        stylize_image(content, [style], gray, extractor=extractor, progress=False, callback=interrupt)
    assert caught.value.iterations == 2
    image = caught.value.image
    assert image.shape == content.shape
    # Luminance-only transfer: the network's image is grey; the content's colours come back.
    assert not torch.allclose(image[:, 0], image[:, 1], atol=1e-3)
