"""Speed-up of ``--ray`` with 2 workers against 1 on this machine; prints JSON.

    python scripts/bench_ray.py [--frames 24] [--size 64] [--iters 10] [--warm-iters 5] [--lead-in 4] [--repeat 2]

A synthetic clip (a slow pan with an AAC track) is written to a temporary folder and stylized
with random weights and Adam on the CPU:

* ``in_process``: the single-machine pipeline in this process (1 torch thread), no Ray;
* ``ray_1_worker``: ``--ray --segments 1`` on a local Ray with 2 CPUs: one task does everything;
* ``ray_2_workers``: ``--ray --segments 2``: two tasks, one per CPU, the second with a lead-in.

Ray is started once and its workers are warmed up (torch imported) before timing, so the times
are steady-state; Ray's start-up is reported separately. The configurations run interleaved,
``--repeat`` times, and the fastest of each is kept (the machine may be shared: the load average
is reported). ``ideal_speedup_with_lead_in`` is what 2 workers could give at best once segment
1's lead-in (a cold start plus warm frames, all discarded) is paid for: the work of one chain over
the work of the larger segment, counted in iterations (decode, flow and encode not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from clips import make_clip  # noqa: E402
from helpers import stripes_image, structured_image  # noqa: E402

from vidstyle.core.factory import load_network, network_layers  # noqa: E402
from vidstyle.media.video_files import read_frames  # noqa: E402
from vidstyle.scale.distributed import run_distributed  # noqa: E402
from vidstyle.scale.frame_ranges import plan_segments  # noqa: E402
from vidstyle.settings import DistributedSettings, ModelSettings, OptimSettings, StyleSettings, VideoSettings  # noqa: E402
from vidstyle.video.metrics import warping_error  # noqa: E402
from vidstyle.video.pipeline import run_video  # noqa: E402


def pan(count: int, width: int, height: int) -> list[np.ndarray]:
    scene = structured_image(height, width + count, seed=3)
    return [np.ascontiguousarray(scene[:, i:i + width]) for i in range(count)]


def _warm_up() -> int:
    import vidstyle.scale.distributed  # noqa: F401 - imports torch, cv2 and av in the worker

    return os.getpid()


def _busy() -> float:
    """A fixed amount of single-threaded torch work; returns its wall time."""
    torch.set_num_threads(1)
    a = torch.randn(192, 192)
    start = time.perf_counter()
    for _ in range(3000):
        a = torch.tanh(a @ a)
    return time.perf_counter() - start


def parallel_capacity(ray) -> float:
    """How many cores 2 Ray workers really get right now (2.0 on an idle 2-core machine):
    the same work run by one worker alone, then by two at once."""
    busy = ray.remote(num_cpus=1)(_busy)
    alone = ray.get(busy.remote())
    pair = ray.get([busy.remote(), busy.remote()])
    return round(2 * alone / max(pair), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=64, help="long side of the clip (4:3)")
    parser.add_argument("--iters", type=int, default=10, help="cold-start iterations")
    parser.add_argument("--warm-iters", type=int, default=5)
    parser.add_argument("--lead-in", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    import ray

    torch.set_num_threads(1)
    width, height = args.size, args.size * 3 // 4 // 2 * 2
    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    clip = make_clip(work / "clip.mp4", images=pan(args.frames, width, height))
    style = work / "style.png"
    cv2.imwrite(str(style), stripes_image(64, 64))
    base = VideoSettings(input=str(clip), output="", size=args.size, warm_iters=args.warm_iters, tol=0.0,
                         style=StyleSettings(paths=(str(style),)),
                         optim=OptimSettings(optimizer="adam", iters=args.iters, tol=0.0),
                         model=ModelSettings(weights="random", device="cpu"), overwrite=True)

    def settings(name: str) -> VideoSettings:
        out = work / f"{name}.mp4"
        if out.exists():
            out.unlink()
        return VideoSettings(**{**base.__dict__, "output": str(out)})

    timings: dict[str, list[float]] = {"in_process": [], "ray_1_worker": [], "ray_2_workers": []}
    network = load_network(network_layers(base.loss), base.model, seed=base.optim.seed, progress=False)
    load_before = os.getloadavg()
    start = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    ray_init = time.perf_counter() - start
    start = time.perf_counter()
    warm = ray.remote(num_cpus=1)(_warm_up)
    pids = set(ray.get([warm.remote() for _ in range(4)]))
    warm_up = time.perf_counter() - start

    capacity = [parallel_capacity(ray)]
    reports = {}
    for _ in range(args.repeat):  # interleaved, so a burst of load from elsewhere hits all three alike
        start = time.perf_counter()
        run_video(settings("in_process"), extractor=network, progress=False)
        timings["in_process"].append(time.perf_counter() - start)
        for name, segments in (("ray_1_worker", 1), ("ray_2_workers", 2)):
            start = time.perf_counter()
            reports[name] = run_distributed(settings(name), DistributedSettings(segments=segments, lead_in=args.lead_in),
                                            progress=False)
            timings[name].append(time.perf_counter() - start)
    capacity.append(parallel_capacity(ray))
    ray.shutdown()

    load_after = os.getloadavg()
    best = {name: min(values) for name, values in timings.items()}
    frames = args.frames
    # Work in iterations: each segment a cold start, then warm frames (segment 1's lead-in included).
    plans = plan_segments(frames, 2, args.lead_in)
    work_one = args.iters + (frames - 1) * args.warm_iters
    work_two = max(args.iters + (p.frames + p.lead_in - 1) * args.warm_iters for p in plans)
    reference = [f.image for f in read_frames(clip)]
    two = [f.image for f in read_frames(work / "ray_2_workers.mp4")]
    errors = warping_error(two, reference).per_frame
    seam = plans[1].first
    inside = [e for t, e in enumerate(errors, 1) if t != seam]
    result = {
        "machine": {
            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__, "ray": ray.__version__, "torch_threads_per_worker": 1,
            "load_average_1_5_15_min_before": [round(x, 2) for x in load_before],
            "load_average_1_5_15_min_after": [round(x, 2) for x in load_after],
            "cores_two_workers_got_before_after": capacity,
        },
        "clip": {"size": f"{width}x{height}", "frames": frames},
        "settings": {"optimizer": "adam", "iters": args.iters, "warm_iters": args.warm_iters, "lead_in": args.lead_in,
                     "weights": "random"},
        "ray_init_s": round(ray_init, 2),
        "worker_warm_up_s": round(warm_up, 2),
        "worker_pids": len(pids),
        "seconds": {name: round(value, 2) for name, value in best.items()},
        "all_seconds": {name: [round(v, 2) for v in values] for name, values in timings.items()},
        "stylized_frames": {name: report.stylized_frames for name, report in reports.items()},
        "speedup_2_vs_1_worker": round(best["ray_1_worker"] / best["ray_2_workers"], 2),
        "speedup_2_workers_vs_in_process": round(best["in_process"] / best["ray_2_workers"], 2),
        "ray_overhead_1_worker_vs_in_process_s": round(best["ray_1_worker"] - best["in_process"], 2),
        "segments": [[p.first, p.end, p.lead_in] for p in plans],
        "ideal_speedup_with_lead_in": round(work_one / work_two, 2),
        "seam_warping_error": round(errors[seam - 1], 6),
        "inside_warping_error_mean": round(float(np.mean(inside)), 6),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
