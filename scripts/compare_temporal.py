"""Compare temporal coherence of the init modes on one clip; print JSON lines and a Markdown table.

    python scripts/compare_temporal.py samples/clip.mp4 --frames 24
    python scripts/compare_temporal.py ../shared/media/video_his_girl_friday.mp4 --frames 24 --size 128

Runs four configurations through the real pipeline (independent frames, `prev`, `flow`, `flow`
plus the temporal loss), then measures each output with the warping error of Lai et al. 2018
(`vidstyle eval`). Reports mean iterations per frame and seconds per frame on this machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import torch

from vidstyle.core.runtime import resolve_device
from vidstyle.settings import LossSettings, ModelSettings, OptimSettings, StyleSettings, VideoSettings
from vidstyle.video.metrics import evaluate_video
from vidstyle.video.pipeline import run_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip")
    parser.add_argument("--style", default="samples/style.png")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iters", type=int, default=100, help="cold iterations (every frame in independent mode)")
    parser.add_argument("--warm-iters", type=int, default=30)
    parser.add_argument("--temporal-weight", type=float, default=2000.0)
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    model = ModelSettings(weights=args.weights, device=args.device)
    optim = OptimSettings(iters=args.iters)
    style = StyleSettings(paths=(args.style,))
    configs = [
        ("independent", 0.0), ("prev", 0.0), ("flow", 0.0), ("flow", args.temporal_weight),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for mode, weight in configs:
            loss = LossSettings(temporal_weight=weight)
            out = str(Path(folder) / f"{mode}_{weight:g}.mp4")
            settings = VideoSettings(input=args.clip, output=out, size=args.size, warm_iters=args.warm_iters,
                                     init_mode=mode, max_frames=args.frames, loss=loss, optim=optim, model=model,
                                     style=style)
            report = run_video(settings, progress=False)
            error = evaluate_video(out, args.clip)
            iterations = report.cold_iterations + report.warm_iterations
            row = {
                "clip": Path(args.clip).name, "mode": mode, "temporal_weight": weight,
                "warping_error": error.mean, "input_floor": error.floor_mean,
                "mean_iterations": sum(iterations) / len(iterations),
                "seconds_per_frame": report.seconds / len(iterations),
                "frames": len(iterations), "size": list(report.processing_size),
                "weights": report.weights_label, "device": str(resolve_device(model.device)),
                "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| mode | warping error | mean iterations / frame | seconds / frame |", file=sys.stderr)
    print("| --- | --- | --- | --- |", file=sys.stderr)
    for row in rows:
        name = row["mode"] + (f" + temporal loss {row['temporal_weight']:g}" if row["temporal_weight"] else "")
        print(f"| {name} | {row['warping_error']:.4g} | {row['mean_iterations']:.1f} | {row['seconds_per_frame']:.2f} |",
              file=sys.stderr)
    print(f"\ninput floor {rows[0]['input_floor']:.4g}; {rows[0]['frames']} frames at "
          f"{rows[0]['size'][0]}x{rows[0]['size'][1]}; weights {rows[0]['weights']}; {rows[0]['device']}", file=sys.stderr)


if __name__ == "__main__":
    main()
