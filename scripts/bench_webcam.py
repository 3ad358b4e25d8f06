"""Benchmark of the live webcam loop (``vidstyle webcam``) on a generated camera.

Runs the real loop headless (capture thread with newest-frame-wins, flow warm start,
stylization, no window) on a synthetic moving pattern delivered at ``--source-fps``, and
prints one JSON line per configuration: shown frames/s and capture-to-display latency,
measured after ``--warmup`` frames. Numbers, not a test: nothing is asserted.

    python scripts/bench_webcam.py                      # tiny CPU configuration, seconds
    python scripts/bench_webcam.py --sizes 128,256 --iters 2,3 --frames 20
    python scripts/bench_webcam.py --device cuda --sizes 256 --iters 2,3,4 --frames 100

Random weights cost exactly what ImageNet weights cost, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from vidstyle.core.runtime import resolve_device, synchronize  # noqa: E402
from vidstyle.live.camera import SyntheticSource  # noqa: E402
from vidstyle.live.loop import run_session  # noqa: E402
from vidstyle.settings import ModelSettings, WebcamSettings  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def bench_webcam(long_side: int, iters: int, args: argparse.Namespace) -> dict:
    """One configuration: run the loop for warmup + frames frames and measure the last ones."""
    base = WebcamSettings()
    settings = dataclasses.replace(
        base, headless=True, size=long_side, max_frames=args.warmup + args.frames, init_mode=args.init_mode,
        scene_detect=not args.no_scene_detect,
        optim=dataclasses.replace(base.optim, iters=iters),
        model=ModelSettings(weights="random", device=args.device, precision=args.precision),
    )
    width, height = (int(v) for v in args.source_size.split("x"))
    source = SyntheticSource(width, height, fps=args.source_fps)
    style = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    shown_at: list[float] = []
    reports = []

    def on_frame(report) -> None:  # noqa: ANN001
        shown_at.append(time.perf_counter())
        reports.append(report)

    result = run_session(settings, [style], names=["random"], source=source, on_frame=on_frame, progress=False)
    measured = reports[args.warmup:]
    times = shown_at[args.warmup:]
    latencies = sorted(r.latency * 1000 for r in measured)
    fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

    device = resolve_device(args.device)
    return {
        "section": "webcam",
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else platform.processor() or platform.machine()),
        "torch_threads": torch.get_num_threads(),
        "precision": args.precision,
        "size": list(result.working_size),
        "long_side": long_side,
        "iters": iters,
        "init_mode": args.init_mode,
        "scene_detect": not args.no_scene_detect,
        "source_fps": args.source_fps,
        "frames": len(measured),
        "fps": round(fps, 2),
        "latency_ms": {"mean": round(statistics.fmean(latencies), 1), "p50": pct(0.5), "p95": pct(0.95),
                       "max": round(latencies[-1], 1)},
        "stylize_ms_mean": round(statistics.fmean(r.process * 1000 for r in measured), 1),
        "captured": result.captured,
        "dropped": result.dropped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ... [default: cpu]")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16, ... [default: auto]")
    parser.add_argument("--sizes", type=_ints, default=[64], help="long sides (--size), comma-separated [default: 64]")
    parser.add_argument("--iters", type=_ints, default=[2], help="iterations per frame, comma-separated [default: 2]")
    parser.add_argument("--frames", type=int, default=8, help="measured frames per configuration [default: 8]")
    parser.add_argument("--warmup", type=int, default=2, help="frames run before measuring [default: 2]")
    parser.add_argument("--init-mode", default="flow", help="independent, prev or flow [default: flow]")
    parser.add_argument("--source-fps", type=float, default=30.0, help="rate of the generated camera [default: 30]")
    parser.add_argument("--source-size", default="640x480", help="size of the generated camera [default: 640x480]")
    parser.add_argument("--no-scene-detect", action="store_true",
                        help="no shot detection (no frame held back) [default: detection on]")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: torch's choice]")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for long_side in args.sizes:
        for iters in args.iters:
            print(json.dumps(bench_webcam(long_side, iters, args)), flush=True)
    synchronize(resolve_device(args.device))


if __name__ == "__main__":
    main()
