"""Scale out with Ray: one video split into frame ranges, or a folder of videos, as Ray tasks.

One video (``vidstyle INPUT STYLE --ray [ADDRESS]``):

* The driver counts the frames exactly (by demuxing packets, no decoding), splits them into
  N frame ranges and submits one Ray task per range that is not finished yet.
* Before submitting, the driver checks each range's seek against a forward decode
  (:func:`checked_plans`; :mod:`vidstyle.media.seeking`) and hands the verdict to every task: a
  range whose seek cannot be trusted decodes from the start (or from a seek that verified).
* Each task runs :func:`run_segment`, a plain function with no Ray in it: it decodes its range
  (seeking near it), stylizes ``lead_in`` frames before the range to warm the frame chain up
  (a cold start, then warm frames) and discards them, then stylizes and encodes the range into
  one segment file, written atomically, plus a small JSON record next to it. Segment 0 has no
  lead-in: it is the single-machine run's first frames exactly.
* Finished segments persist in the work folder beside the output, so a rerun after the driver
  died only runs the missing ones. The work folder must be on storage every node can read.
* The segments are joined without re-encoding, with the source audio, by the same function
  the single-machine path uses (:func:`vidstyle.video.pipeline.assemble_output`).

Many videos (``vidstyle batch-video IN_DIR STYLE -o OUT_DIR --ray``): one task per clip, each
running the single-machine pipeline; finished outputs are skipped (:mod:`vidstyle.scale.clip_folder`).

Connecting to Ray and gathering results is in :mod:`vidstyle.scale.cluster`, the frame table, the
plans and the segment body in :mod:`vidstyle.scale.frame_ranges`.

Seams. Each frame is optimised from the previous stylized one, so the texture a chain settles
into is carried along for good. Two chains that start at different frames settle into different
textures, and no lead-in makes them meet: what it buys is that the first kept frame of a segment
is a warm frame like its neighbours, not a cold start. The warping error across a seam is
therefore above the error inside a segment (2-4x in the tests and scripts/bench_ray.py, tiny
clips with random weights). Fewer, longer segments mean fewer seams.

Ray is imported only inside functions, and only when asked for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.factory import Weights, resolve_weights
from ..errors import Interrupted, VidstyleError
from ..media.image_files import load_image
from ..media.seeking import SeekChecks, SeekVerdict
from ..media.video_files import VideoError, VideoInfo, probe, processing_size
from ..settings import DistributedSettings, VideoSettings
from ..video.chain import detect_cuts, video_styles
from ..video.pipeline import assemble_output, run_identity
from ..video.workdir import STATE_FILE, WorkFolder, work_folder_for
from .cluster import (
    TaskFailure,
    cancel,
    connect,
    gather,
    one_line,
    require_ray,
    task_options,
    task_slots,
    worker_settings,
)
from .frame_ranges import (
    SegmentPlan,
    SegmentResult,
    checked_plans,
    count_frames,
    finished_segment,
    first_frame_palette,
    frame_and_sync_table,
    plan_segments,
    plans_from_bounds,
    run_segment,
    snap_to_sync,
)

#: Testing hook: ``k:times[,k2:times2]`` makes segment k's task raise on its first ``times``
#: attempts (``always``: on every attempt). Read inside the task; set on the driver, it is
#: forwarded to the tasks. Attempts are counted in a file in the work folder.
FAIL_ENV = "VIDSTYLE_FAIL_SEGMENT"


class SegmentFailed(VidstyleError):
    """A segment (or clip) task kept failing; finished segments stay in the work folder."""


class InjectedFailure(RuntimeError):
    """Raised by the :data:`FAIL_ENV` testing hook (a RuntimeError, so Ray retries it)."""


# -- the Ray task --------------------------------------------------------------------------------


def _palette_task(settings: VideoSettings, info: VideoInfo, weights: Weights | None,
                  styles: list[torch.Tensor], threads: int, seeks: SeekVerdict) -> np.ndarray | TaskFailure:
    torch.set_num_threads(max(1, threads))
    try:
        return first_frame_palette(settings, weights=weights, styles=styles, info=info, seeks=seeks)
    except VidstyleError as error:
        return TaskFailure(type(error).__name__, str(error))


def parse_fail_spec(spec: str | None) -> dict[int, int | None]:
    """``"1:2,3:always"`` -> ``{1: 2, 3: None}`` (None: every attempt fails)."""
    result: dict[int, int | None] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        index, _, times = part.strip().partition(":")
        try:
            result[int(index)] = None if times == "always" else int(times or 1)
        except ValueError:
            raise ValueError(f"{FAIL_ENV}={spec!r}: expected k:times or k:always, comma-separated") from None
    return result


def _next_attempt(segment_path: Path) -> int:
    """Count this attempt at a segment in a file beside it (retries may run on other nodes)."""
    counter = segment_path.with_name(f".{segment_path.stem}.attempts")
    try:
        attempt = int(counter.read_text()) + 1
    except (OSError, ValueError):
        attempt = 1
    counter.write_text(str(attempt))
    return attempt


def _inject_failure(index: int, spec: str | None, attempt: int) -> None:
    times = parse_fail_spec(spec).get(index, 0)
    if times is None or attempt <= times:
        raise InjectedFailure(f"injected failure of segment {index} on attempt {attempt} ({FAIL_ENV}={spec})")


def _segment_task(settings: VideoSettings, plan: SegmentPlan, segment_path: str, info: VideoInfo,
                  weights: Weights | None, styles: list[torch.Tensor], palette: np.ndarray | None,
                  fail_spec: str | None, threads: int, seeks: SeekVerdict) -> SegmentResult | TaskFailure:
    """Ray task body: one segment. Exceptions other than VidstyleError are retried by Ray."""
    torch.set_num_threads(max(1, threads))
    attempt = _next_attempt(Path(segment_path))
    _inject_failure(plan.index, fail_spec or os.environ.get(FAIL_ENV), attempt)
    try:
        result = run_segment(settings, plan.first, plan.end, plan.lead_in, segment_path, weights=weights,
                             styles=styles, info=info, seek=plan.seek, expected_pts=plan.pts, palette=palette,
                             index=plan.index, seeks=seeks, cuts=plan.cuts)
        return dataclasses.replace(result, attempt=attempt)
    except VidstyleError as error:  # the same on every attempt: report it, do not retry
        return TaskFailure(type(error).__name__, str(error))


# -- the driver ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStart:
    """What the driver found before submitting work (for progress bars)."""

    frames: int
    segments: int
    reused_segments: int
    reused_frames: int
    slots: int
    gpu: bool
    work_folder: str
    weights_label: str


@dataclass
class DistributedReport:
    """What a ``--ray`` run did."""

    output: str
    frames: int = 0
    segments: int = 0
    reused: list[int] = dataclasses.field(default_factory=list)  # segment indices finished earlier
    ran: list[int] = dataclasses.field(default_factory=list)  # segment indices this run stylized
    attempts: dict[int, int] = dataclasses.field(default_factory=dict)  # segment -> attempt that finished it
    stylized_frames: int = 0  # frames this run stylized, lead-in frames included
    seconds: float = 0.0  # wall time of this run (Ray start, planning, tasks, assembly)
    slots: int = 0
    gpu: bool = False
    weights_label: str = ""
    processing_size: tuple[int, int] = (0, 0)


def run_distributed(
    settings: VideoSettings,
    dist: DistributedSettings,
    *,
    styles: Sequence[torch.Tensor] | None = None,
    progress: bool = True,
    on_start: Callable[[RunStart], None] | None = None,
    on_segment: Callable[[SegmentResult], None] | None = None,
) -> DistributedReport:
    """Stylize ``settings.input`` into ``settings.output`` as Ray tasks, one per frame range.

    Connects to ``dist.address`` (or starts a local Ray; an initialised Ray is reused), plans
    ``dist.segments`` ranges, skips segments already finished in the work folder, runs the rest
    (``max_retries`` retries each), assembles with the source audio and removes the work folder.
    Raises :class:`RayMissing`, :class:`SegmentFailed` (naming the segment and its error; the
    finished segments are kept) or :class:`~vidstyle.errors.Interrupted`.
    """
    ray = require_ray()
    if dist.segments is not None and dist.segments < 1:
        raise ValueError(f"segments must be >= 1, got {dist.segments}")
    if dist.lead_in < 0 or dist.max_retries < 0 or dist.cpus_per_task < 1:
        raise ValueError("lead_in and max_retries must be >= 0 and cpus_per_task >= 1")
    fail_spec = os.environ.get(FAIL_ENV)
    parse_fail_spec(fail_spec)  # a typo fails here, not in every task
    started = time.perf_counter()
    # Workers have their own working directory: hand them absolute paths.
    settings = worker_settings(settings)
    info = probe(settings.input)
    size = processing_size(info.width, info.height, settings.size)
    pts, sync = frame_and_sync_table(settings)
    count = len(pts) if pts is not None else count_frames(settings)
    if count == 0:
        raise VideoError(f"{settings.input}: no frames to stylize (check --start/--duration)")
    state, label = resolve_weights(settings, progress=progress)
    if styles is None:
        styles = [load_image(path, "style") for path in settings.style.paths]
    checks = SeekChecks()  # the verdict on seeking in the input, checked here once for every task
    styles = video_styles(settings, styles, size, checks)  # as the network sees them, the same for every task
    started_ray = connect(ray, dist)
    folder = None
    try:
        slots, gpu = task_slots(ray, dist, settings.model.device)
        folder_path = work_folder_for(settings.output)
        bounds = None if dist.segments is not None else _saved_bounds(folder_path, count)
        cuts = detect_cuts(settings, size)  # segments split at cuts where they can, and all use these
        if bounds is not None:  # resume with the ranges of the run being resumed, whatever the cluster's size now
            plans = plans_from_bounds(bounds, dist.lead_in, pts, info.time_base, cuts)
        else:
            plans = plan_segments(count, dist.segments or slots, dist.lead_in, pts, info.time_base, cuts)
            if pts is not None:  # split where seeks land exactly, if that moves a seam by 10% of a range at most
                plans = snap_to_sync(plans, sync, dist.lead_in, pts, info.time_base, count // len(plans) // 10)
        plans = checked_plans(settings, plans, info.time_base, checks)
        seeks = checks.verdict(settings.input)
        identity = run_identity(settings, label)
        identity["distributed.plan"] = [[p.first, p.end, p.lead_in] for p in plans]
        folder = WorkFolder.open(folder_path, identity, must_exist=settings.resume)
        results: dict[int, SegmentResult] = {}
        for plan in plans:
            done = finished_segment(folder.segment_path(plan.index), plan)
            if done is not None:
                results[plan.index] = done
        report = DistributedReport(settings.output, segments=len(plans), reused=sorted(results), slots=slots,
                                   gpu=gpu, weights_label=label, processing_size=size)
        if on_start is not None:
            on_start(RunStart(count, len(plans), len(results), sum(r.frames for r in results.values()), slots, gpu,
                              str(folder.path), label))
        todo = [plan for plan in plans if plan.index not in results]
        if todo:
            # Random weights are regenerated from the seed by each task; others travel once per node.
            weights = None if settings.model.weights == "random" else ray.put((state, label))
            options = task_options(dist, gpu)
            palette = None
            if settings.cartoon.enabled:  # one palette for all segments, kept for a resumed run
                palette = folder.load_array("palette")
                if palette is None:
                    palette = _clip_palette(ray, options, settings, info, weights, styles, dist, folder, seeks)
                    folder.save_array("palette", palette)
            task = ray.remote(_segment_task).options(**options)
            refs = {task.remote(settings, plan, str(folder.segment_path(plan.index)), info, weights, list(styles),
                                palette, fail_spec, dist.cpus_per_task, seeks): plan for plan in todo}

            def on_result(plan: SegmentPlan, outcome: Any) -> None:
                what = f"segment {plan.index} (frames {plan.first}-{plan.end - 1})"
                kept = f"{len(results)} finished segment(s) are kept in {folder.path}; rerun the same command to resume"
                if isinstance(outcome, TaskFailure):
                    raise SegmentFailed(f"{what} failed: {outcome.message}; {kept}")
                if isinstance(outcome, BaseException):
                    raise SegmentFailed(f"{what} failed after {dist.max_retries + 1} attempt(s): "
                                        f"{one_line(outcome)}; {kept}")
                if finished_segment(folder.segment_path(plan.index), plan) is None:
                    raise SegmentFailed(
                        f"{what} was written by a worker to {outcome.path}, but it is not visible here: "
                        "the work folder (beside the output) must be on storage every node can read")
                results[plan.index] = outcome
                report.ran.append(plan.index)
                report.attempts[plan.index] = outcome.attempt
                report.stylized_frames += outcome.stylized
                if on_segment is not None:
                    on_segment(outcome)

            try:
                gather(ray, refs, on_result)
            except KeyboardInterrupt:
                raise Interrupted(f"interrupted with {len(results)} of {len(plans)} segments finished; they are kept "
                                  f"in {folder.path}: run the same command again to resume") from None
        ordered = [results[plan.index] for plan in plans]
        assemble_output(settings, info, [folder.segment_path(r.index) for r in ordered], ordered[-1].end_time)
        report.frames = sum(r.frames for r in ordered)
        folder.remove()
        report.seconds = time.perf_counter() - started
        return report
    finally:
        if folder is not None:
            folder.unlock()  # the work folder's lock (vidstyle/video/workdir.py) goes with the run
        if started_ray:
            ray.shutdown()


def _clip_palette(ray: Any, options: dict, settings: VideoSettings, info: VideoInfo, weights: Any,
                  styles: Sequence[torch.Tensor], dist: DistributedSettings, folder: WorkFolder,
                  seeks: SeekVerdict) -> np.ndarray:
    """The cartoon palette from the stylized first frame, computed by one task before the segments."""
    ref = ray.remote(_palette_task).options(**options).remote(settings, info, weights, list(styles),
                                                              dist.cpus_per_task, seeks)
    try:
        outcome = ray.get(ref)
    except ray.exceptions.RayError as error:
        raise SegmentFailed(f"the cartoon palette (stylized frame 0) failed after {dist.max_retries + 1} attempt(s): "
                            f"{one_line(error)}") from None
    except KeyboardInterrupt:
        cancel(ray, [ref])
        raise Interrupted("interrupted before any segment started; rerun the same command to start again") from None
    if isinstance(outcome, TaskFailure):
        raise SegmentFailed(f"the cartoon palette (stylized frame 0) failed: {outcome.message}")
    return outcome


def _saved_bounds(folder: Path, count: int) -> list[int] | None:
    """The segment bounds of an earlier ``--ray`` run in ``folder`` (None if none fit ``count``)."""
    try:
        plan = json.loads((folder / STATE_FILE).read_text())["identity"]["distributed.plan"]
        bounds = [int(first) for first, _, _ in plan] + [int(plan[-1][1])]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    ok = bounds[0] == 0 and bounds[-1] == count and all(b < c for b, c in zip(bounds, bounds[1:]))
    return bounds if ok else None
