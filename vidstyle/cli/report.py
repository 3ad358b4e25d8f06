"""What a run says: the plan before it starts, and the report after (a line, or JSON with ``--json``)."""

from __future__ import annotations

import json
import sys
from typing import Any

from ..settings import VideoSettings


def video_plan(settings: VideoSettings, *, frames: int | None, size: tuple[int, int], source: tuple[int, int],
               device: str, weights: str, input_name: str | None = None, output: str | None = None) -> list[str]:
    """The short block printed before a video run: frames, size, iterations cold/warm, device, weights."""
    w, h = size
    count = "unknown (the container does not say)" if frames is None else str(frames)
    lines = [f"{input_name or settings.input} -> {output or settings.output}",
             f"  frames   {count}" + (f" from {settings.start:g} s" if settings.start else ""),
             f"  size     {w}x{h}" + ("" if (w, h) == source else f" (source {source[0]}x{source[1]})")
             + (f", encoded at {source[0]}x{source[1]}" if settings.output_size == "source" and (w, h) != source
                else "")]
    cold, warm = settings.optim.iters, settings.warm_iters
    if settings.init_mode == "independent":
        budget = f"{cold} per frame (every frame starts cold)"
    elif settings.keyframe_every:
        budget = (f"first frame {cold}; then {cold} on every {settings.keyframe_every}th frame and "
                  f"{settings.refine_iters} between")
    else:
        budget = f"first frame {cold}, then up to {warm} per frame"
        most = warm_ceiling(settings)
        if most > warm:
            budget = f"first frame {cold}, then {warm} per frame, up to {most} with catch-up"
    if settings.tol > 0:
        budget += f" (a frame stops early when the loss falls by less than {settings.tol:g})"
    lines.append(f"  iters    {budget}")
    lines.append(f"  device   {device}")
    lines.append(f"  weights  {weights}")
    return lines


def warm_ceiling(settings: VideoSettings) -> int:
    """The most iterations a warm frame may spend: ``--warm-iters`` raised by the catch-up margin's
    ceiling and by ``--catch-up-gain``'s budget for a frame that is all new (the same functions the
    chain uses)."""
    from ..video.catchup import catch_up_budget, catch_up_ceiling

    cold, warm = settings.optim.iters, settings.warm_iters
    most = warm
    if settings.catch_up_margin > 0:
        most = max(most, catch_up_ceiling(warm, cold, settings.catch_up_limit))
    if settings.catch_up_gain > 0:
        most = max(most, catch_up_budget(warm, cold, 1.0, settings.catch_up_gain))
    return most


def print_lines(lines: list[str]) -> None:
    """Lines to stderr (stdout is for JSON and piped video)."""
    for line in lines:
        print(line, file=sys.stderr)


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def video_report_dict(report: Any, *, output: str, device: str) -> dict[str, Any]:
    """A :class:`~vidstyle.video.pipeline.VideoReport` as JSON-ready values."""
    cold, warm = report.cold_iterations, report.warm_iterations
    result = {
        "command": "video",
        "output": output,
        "frames": report.frames,
        "frames_this_run": len(cold) + len(warm),
        "resumed_from": report.resumed_from,
        "processing_size": list(report.processing_size),
        "iterations": {"total": sum(cold) + sum(warm), "cold_frames": len(cold), "warm_frames": len(warm),
                       "cold_mean": round(_mean(cold), 2), "warm_mean": round(_mean(warm), 2)},
        "seconds": round(report.seconds, 3),
        "frames_per_second": round(report.frames_per_second, 4),
        "peak_memory_bytes": report.peak_memory_bytes,
        "device": device,
        "weights": report.weights_label,
    }
    shots = getattr(report, "shots", None)  # present when the run detects shots
    shots = shots() if callable(shots) else shots  # VideoReport.shots() lists them
    if shots is not None:
        result["shots"] = shots if isinstance(shots, int) else len(shots)
    return result


def refuse_overwriting(path: str, option: str, *files: str | None) -> None:
    """Refuse a side file (``--report``, ``eval --json``/``--plot``) that names one of the run's own
    ``files`` (inputs, output): it would be replaced by JSON or a plot. Frame patterns are skipped
    (their frames are checked where they are read or written)."""
    import os

    from ..video.pipeline import same_file
    from .options import CommandError

    for other in files:
        if other and "%" not in os.path.basename(other) and same_file(path, other):
            raise CommandError(f"{option} {path} would overwrite {other}; choose another file")


def print_json(data: dict[str, Any]) -> None:
    """The run report on stdout, one JSON document."""
    print(json.dumps(data, indent=2))
