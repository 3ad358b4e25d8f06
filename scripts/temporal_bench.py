"""Temporal benchmark: run the chain's modes on clips and print, per mode, how steady, how stylized
and how alive the output is, and what it cost. JSON lines on stdout, Markdown tables on stderr.

    python scripts/temporal_bench.py samples/clip.mp4 --frames 12 --size 96
    python scripts/temporal_bench.py samples/clip.mp4 ../shared/media/video_car_traffic.mp4 --modes flow,long-term

Each mode runs through the real pipeline (``run_video``) with the same style, network and budgets;
the decoded output is then measured against the input at the processing size:

* warping error (Lai et al. 2018, ``vidstyle eval``), its ratio to the input's own floor and to
  independent frames (lower is steadier);
* stylization strength: the mean style loss per frame (sum over the style layers of w_l L_style_l
  of the decoded output frame against the style, without alpha; lower is more stylized) and the
  mean squared difference from the content frame (higher is further from the photo): steadiness
  bought by stylizing less shows here;
* motion following: the correlation of output frame differences with input frame differences,
  mean over frame pairs (1: the output changes where the input does; near 0: frozen or flicker);
* mean iterations and seconds per frame (all passes counted);
* frames to catch up after a cut and in revealed regions: n/a until the chain reports them.

Modes: independent frames, ``prev`` (warm start from the previous output), ``flow`` (warm start
along the flow), ``flow+temporal`` (plus the temporal loss), ``long-term`` (plus ``--long-term
1,2,4``), ``multi-pass`` (``--passes 3``), and ``defaults`` (whatever ``VideoSettings()`` does now,
with this benchmark's size, frames and budgets).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vidstyle.core.factory import load_network, network_layers
from vidstyle.core.features import VGGFeatures
from vidstyle.core.runtime import resolve_device
from vidstyle.core.stylizer import Stylizer
from vidstyle.core.tensors import to_tensor
from vidstyle.media.image_files import load_image
from vidstyle.media.video_files import read_frames
from vidstyle.settings import LossSettings, ModelSettings, OptimSettings, StyleSettings, VideoSettings
from vidstyle.video.metrics import evaluate_video
from vidstyle.video.pipeline import run_video

MODES: dict[str, dict] = {
    "independent": {"init_mode": "independent"},
    "prev": {"init_mode": "prev"},
    "flow": {"init_mode": "flow"},
    "flow+temporal": {"init_mode": "flow", "temporal": True},
    "long-term": {"init_mode": "flow", "temporal": True, "long_term": (1, 2, 4)},
    "multi-pass": {"init_mode": "flow", "temporal": True, "passes": 3},
    "defaults": {},
}


# -- pure measures (tests/test_temporal_bench.py checks them by hand) ------------------------------


def content_distance(outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray]) -> float:
    """Mean over frames of the mean squared difference between output and input, RGB in [0, 1]."""
    return float(np.mean([np.mean((_unit(o) - _unit(i)) ** 2) for o, i in zip(outputs, inputs, strict=True)]))


def motion_following(outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray]) -> float:
    """Mean over frame pairs of the Pearson correlation between the output's frame difference
    and the input's (all pixels and channels); pairs where either does not change are skipped
    (NaN if all are)."""
    if len(outputs) != len(inputs):
        raise ValueError(f"{len(outputs)} output frames for {len(inputs)} input frames")
    values = []
    for t in range(1, len(outputs)):
        d_out = (_unit(outputs[t]) - _unit(outputs[t - 1])).ravel()
        d_in = (_unit(inputs[t]) - _unit(inputs[t - 1])).ravel()
        if d_out.std() > 0 and d_in.std() > 0:
            values.append(float(np.corrcoef(d_out, d_in)[0, 1]))
    return float(np.mean(values)) if values else math.nan


def ratio(value: float, reference: float) -> float:
    """``value / reference`` (NaN when the reference is 0 or missing)."""
    return value / reference if reference else math.nan


def _unit(frame: np.ndarray) -> np.ndarray:
    return np.asarray(frame, dtype=np.float64) / (255.0 if frame.dtype == np.uint8 else 1.0)


# -- measures through the network ------------------------------------------------------------------


def style_losses(stylizer: Stylizer, outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray]) -> list[float]:
    """Per frame: sum over style layers of w_l L_style_l of the output against the style (no alpha)."""
    values = []
    for output, content in zip(outputs, inputs, strict=True):
        stylizer.set_targets(to_tensor(content, stylizer.device))
        with torch.no_grad():
            terms = stylizer.loss_terms(to_tensor(output, stylizer.device))
        values.append(sum(float(terms[f"style/{name}"].sum()) * w for name, w in stylizer.loss.style_weights.items()))
    return values


def run_mode(clip: str, mode: str, args: argparse.Namespace, extractor: VGGFeatures, styles: list[torch.Tensor],
             folder: Path) -> dict:
    """Run one mode on ``clip`` and measure its output."""
    spec = dict(MODES[mode])
    model = ModelSettings(weights=args.weights, device=args.device)
    loss = LossSettings(temporal_weight=args.temporal_weight) if spec.pop("temporal", False) else LossSettings()
    out = folder / f"{Path(clip).stem}_{mode}.mp4"
    settings = VideoSettings(input=clip, output=str(out), size=args.size, max_frames=args.frames,
                             warm_iters=args.warm_iters, optim=OptimSettings(iters=args.iters), model=model,
                             style=StyleSettings(paths=(args.style,)), loss=loss, overwrite=True)
    settings = dataclasses.replace(settings, **spec)
    report = run_video(settings, styles=styles, extractor=extractor, progress=False)
    error = evaluate_video(str(out), clip)
    outputs = [f.image for f in read_frames(out)]
    size = (outputs[0].shape[1], outputs[0].shape[0])
    inputs = [f.image for f in read_frames(clip, size=size, max_frames=len(outputs))]
    stylizer = Stylizer(extractor, styles, loss=settings.loss, model=model)
    iterations = report.cold_iterations + report.warm_iterations
    return {
        "clip": Path(clip).name, "mode": mode, "frames": len(outputs), "size": list(size),
        "warping_error": error.mean, "input_floor": error.floor_mean,
        "style_loss": float(np.mean(style_losses(stylizer, outputs, inputs))),
        "content_distance": content_distance(outputs, inputs),
        "motion_following": motion_following(outputs, inputs),
        "mean_iterations": sum(iterations) / len(iterations), "seconds_per_frame": report.seconds / len(iterations),
        "cut_catch_up_frames": None, "revealed_catch_up_frames": None,
        "weights": report.weights_label, "device": str(resolve_device(model.device)),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
    }


def table(rows: list[dict]) -> list[str]:
    """The Markdown table of one clip's rows (ratios against its ``independent`` row, if run)."""
    independent = next((r["warping_error"] for r in rows if r["mode"] == "independent"), None)
    lines = ["| mode | warping error | x floor | x independent | style loss | distance from content | "
             "motion following | iterations / frame | seconds / frame | catch-up after cut / revealed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        catch = "n/a" if r["cut_catch_up_frames"] is None else f"{r['cut_catch_up_frames']} / {r['revealed_catch_up_frames']}"
        lines.append(
            f"| {r['mode']} | {r['warping_error']:.3g} | {ratio(r['warping_error'], r['input_floor']):.3g} | "
            f"{ratio(r['warping_error'], independent):.3g} | {r['style_loss']:.3g} | {r['content_distance']:.3g} | "
            f"{r['motion_following']:.2f} | {r['mean_iterations']:.1f} | {r['seconds_per_frame']:.2f} | {catch} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--style", default="samples/style.png")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--iters", type=int, default=60, help="cold iterations (every frame in independent mode)")
    parser.add_argument("--warm-iters", type=int, default=20)
    parser.add_argument("--temporal-weight", type=float, default=2000.0)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown modes {', '.join(unknown)}; choose from {', '.join(MODES)}")

    model = ModelSettings(weights=args.weights, device=args.device)
    extractor = load_network(network_layers(LossSettings()), model, seed=OptimSettings().seed)
    styles = [load_image(args.style, "style")]
    tables = []
    with tempfile.TemporaryDirectory() as folder:
        for clip in args.clips:
            rows = []
            for mode in modes:
                row = run_mode(clip, mode, args, extractor, styles, Path(folder))
                rows.append(row)
                print(json.dumps(row), flush=True)
            first = rows[0]
            tables += [f"\n{first['clip']}: {first['frames']} frames at {first['size'][0]}x{first['size'][1]}, "
                       f"input floor {first['input_floor']:.3g}; weights {first['weights']}; {first['device']} "
                       f"({first['machine']})", *table(rows)]
            print("\n".join(tables[-len(rows) - 3:]), file=sys.stderr, flush=True)
    print("\n".join(tables), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
