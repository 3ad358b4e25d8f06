"""Scale out with Ray: one video split into frame ranges, or a folder of videos, as Ray tasks.

One video (``vidstyle INPUT STYLE --ray [ADDRESS]``):

* The driver counts the frames exactly (by demuxing packets, no decoding), splits them into
  N frame ranges and submits one Ray task per range that is not finished yet.
* Each task runs :func:`run_segment`, a plain function with no Ray in it: it decodes its range
  (seeking near it), stylizes ``lead_in`` frames before the range to warm the frame chain up
  (a cold start, then warm frames) and discards them, then stylizes and encodes the range into
  one segment file, written atomically, plus a small JSON record next to it. Segment 0 has no
  lead-in: it is the single-machine run's first frames exactly.
* Finished segments persist in the work folder beside the output, so a rerun after the driver
  died only runs the missing ones. The work folder must be on storage every node can read.
* The segments are joined without re-encoding, with the source audio, by the same function
  the single-machine path uses (:func:`vidstyle.pipeline.assemble_output`).

Many videos (``vidstyle batch-video IN_DIR STYLE -o OUT_DIR --ray``): one task per clip, each
running the single-machine pipeline; finished outputs are skipped.

Seams. Each frame is optimised from the previous stylized one, so the texture a chain settles
into is carried along for good. Two chains that start at different frames settle into different
textures, and no lead-in makes them meet: what it buys is that the first kept frame of a segment
is a warm frame like its neighbours, not a cold start. The warping error across a seam is
therefore above the error inside a segment (2-4x in the tests and scripts/bench_ray.py, tiny
clips with random weights). Fewer, longer segments mean fewer seams.

Ray is imported only inside functions of this module, and only when asked for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .errors import Interrupted, VidstyleError
from .features import LAYER_INDEX, VGGFeatures, resolve_state_dict
from .imageio import load_image, to_tensor, to_uint8
from .cartoon import cartoonize, fit_palette
from .pipeline import DecodedFrame, assemble_output, decode_frames, run_identity, stylize_sequence
from .remux import to_fraction
from .runtime import resolve_device
from .settings import DistributedSettings, VideoSettings
from .stylizer import Stylizer
from .threads import BackgroundIterator
from .video import (VideoError, VideoInfo, VideoWriter, _open_input, _require_video_stream, is_video_file, probe,
                    processing_size, read_frames)
from .workdir import STATE_FILE, WorkFolder, work_folder_for

#: Testing hook: ``k:times[,k2:times2]`` makes segment k's task raise on its first ``times``
#: attempts (``always``: on every attempt). Read inside the task; set on the driver, it is
#: forwarded to the tasks. Attempts are counted in a file in the work folder.
FAIL_ENV = "VIDSTYLE_FAIL_SEGMENT"

RAY_EXTRA_HINT = "pip install 'vidstyle[ray]'"


class RayMissing(VidstyleError):
    """``--ray`` was asked for, but Ray is not installed."""


class SegmentFailed(VidstyleError):
    """A segment (or clip) task kept failing; finished segments stay in the work folder."""


class InjectedFailure(RuntimeError):
    """Raised by the :data:`FAIL_ENV` testing hook (a RuntimeError, so Ray retries it)."""


# -- Ray, lazily ---------------------------------------------------------------------------------


def require_ray() -> Any:
    """The ``ray`` module, or :class:`RayMissing` with the install command."""
    try:
        import ray
    except ImportError:
        raise RayMissing(f"--ray needs Ray, which is not installed here: {RAY_EXTRA_HINT}") from None
    return ray


def connect(ray: Any, dist: DistributedSettings) -> bool:
    """Connect to the cluster at ``dist.address`` (or start a local Ray); True if this call did.

    An already initialised Ray (a test, a notebook, a Ray job) is used as it is.
    """
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "address": dist.address,
        # Failures come back through the task results, as one line each: keep Ray's own logs
        # (retry notices with tracebacks, worker output) off the user's terminal.
        "logging_level": "ERROR",
        "log_to_driver": False,
        "runtime_env": {"env_vars": {"OMP_NUM_THREADS": str(dist.cpus_per_task)}},
    }
    if dist.address is None and not os.environ.get("RAY_ADDRESS"):
        kwargs["include_dashboard"] = False  # only valid when this call may start a new instance
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at {dist.address}" if dist.address else "Ray"
        text = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
        raise VidstyleError(f"cannot connect to {where}: {(text.strip().splitlines() or [repr(error)])[0]}") from None
    return True


def task_slots(ray: Any, dist: DistributedSettings, device: str = "auto") -> tuple[int, bool]:
    """How many tasks the cluster runs at once, and whether they get a GPU each (not when
    ``device`` says the CPU)."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus and device not in ("cpu", "mps"):
        return gpus, True
    return max(1, int(resources.get("CPU", 1)) // dist.cpus_per_task), False


def _task_options(dist: DistributedSettings, gpu: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"num_cpus": dist.cpus_per_task, "max_retries": dist.max_retries,
                               "retry_exceptions": True}
    if gpu:
        options["num_gpus"] = 1
    return options


# -- the frames, exactly -------------------------------------------------------------------------


def frame_table(settings: VideoSettings) -> list[int] | None:
    """The pts of every frame the single-machine run stylizes, in order, read from the packets.

    Demuxes without decoding (fast even for a film) and applies ``start``/``duration``/
    ``max_frames`` exactly as :func:`~vidstyle.video.read_frames` does. ``None`` if some packet
    carries no pts (raw streams): then only decoding can count the frames.
    """
    start_t = to_fraction(settings.start) if settings.start is not None else None
    end_t = None
    if settings.duration is not None:
        end_t = (start_t or Fraction(0)) + to_fraction(settings.duration)
    pts: list[int] = []
    with _open_input(settings.input) as container:
        stream = _require_video_stream(container, settings.input)
        time_base = stream.time_base
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:  # the flush packet; edit-list pre-roll
                continue
            if packet.pts is None:
                return None
            t = packet.pts * time_base
            if (start_t is not None and t < start_t) or (end_t is not None and t >= end_t):
                continue
            pts.append(int(packet.pts))
    pts.sort()
    return pts[:settings.max_frames] if settings.max_frames is not None else pts


def count_frames(settings: VideoSettings) -> int:
    """How many frames the single-machine run stylizes (decodes, tiny, when packets lack pts)."""
    table = frame_table(settings)
    if table is not None:
        return len(table)
    return sum(1 for _ in read_frames(settings.input, size=(2, 2), start=settings.start,
                                      duration=settings.duration, max_frames=settings.max_frames))


@dataclass(frozen=True)
class SegmentPlan:
    """Frames ``[first, end)`` of the run; ``lead_in`` frames before ``first`` warm the chain.

    ``seek`` (seconds) lies between frame ``first - lead_in - 1`` and the next: decoding starts
    there instead of at the beginning. ``pts`` are the expected pts of frames
    ``first - lead_in .. end - 1`` (checked while decoding). Both are None without a frame table.
    """

    index: int
    first: int
    end: int
    lead_in: int
    seek: float | None = None
    pts: tuple[int, ...] | None = None

    @property
    def frames(self) -> int:
        return self.end - self.first


def plan_segments(count: int, segments: int, lead_in: int, pts: Sequence[int] | None = None,
                  time_base: Fraction | None = None) -> list[SegmentPlan]:
    """Split ``count`` frames into ``segments`` ranges of (nearly) equal work.

    Every segment has one cold start; those after the first also stylize ``lead_in`` frames
    they discard, so they get ``lead_in`` fewer frames than the first: all finish together.
    (Falls back to ranges of equal length when the video is too short for that.)
    """
    if count < 1:
        raise ValueError("no frames to split")
    if segments < 1 or lead_in < 0:
        raise ValueError(f"segments must be >= 1 and lead_in >= 0, got {segments} and {lead_in}")
    n = min(segments, count)
    work = (count + (n - 1) * lead_in) / n  # frames stylized per segment, lead-in included
    bounds = [0, *(round(work + (k - 1) * (work - lead_in)) for k in range(1, n)), count]
    if any(b >= c for b, c in zip(bounds, bounds[1:])):
        bounds = [k * count // n for k in range(n + 1)]
    return plans_from_bounds(bounds, lead_in, pts, time_base)


def plans_from_bounds(bounds: Sequence[int], lead_in: int, pts: Sequence[int] | None = None,
                      time_base: Fraction | None = None) -> list[SegmentPlan]:
    """Segments ``[bounds[k], bounds[k + 1])`` with their lead-in, seek time and expected pts."""
    plans = []
    for k in range(len(bounds) - 1):
        first, end = bounds[k], bounds[k + 1]
        lead = min(lead_in, first)
        begin = first - lead
        seek = expected = None
        if pts is not None:
            expected = tuple(pts[begin:end])
            if begin > 0:
                seek = float((Fraction(pts[begin - 1]) + pts[begin]) / 2 * time_base)
        plans.append(SegmentPlan(k, first, end, lead, seek, expected))
    return plans


# -- one segment, no Ray -------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentResult:
    """A finished segment: ``frames`` kept frames of ``[first, end)``, ``stylized`` with lead-in."""

    index: int
    first: int
    end: int
    lead_in: int
    frames: int
    stylized: int
    end_time: float  # seconds (source timeline) when its last frame ends
    seconds: float  # wall time of the stylization
    cold_iterations: int
    warm_iterations: int
    path: str
    attempt: int = 1  # which attempt of its Ray task produced it (counted in the work folder)


def record_path(segment_path: str | os.PathLike) -> Path:
    """``segment_00003.mp4`` -> ``segment_00003.json``: the record that marks it finished."""
    return Path(segment_path).with_suffix(".json")


def build_stylizer(settings: VideoSettings, weights: tuple[dict, str] | None = None,
                   styles: Sequence[torch.Tensor] | None = None, *, progress: bool = False) -> Stylizer:
    """The Stylizer for ``settings``; ``weights`` = (features state dict, label) skips loading."""
    if styles is None:
        styles = [load_image(path, "style") for path in settings.style.paths]
    if weights is None:
        return Stylizer.from_settings(styles, settings.loss, settings.optim, settings.style, settings.model,
                                      progress=progress)
    state, label = weights
    device = resolve_device(settings.model.device)
    layers = _layers(settings)
    extractor = VGGFeatures(layers, state, pooling=settings.model.pooling).to(device)
    stylizer = Stylizer(extractor, styles, loss=settings.loss, optim=settings.optim, style=settings.style,
                        device=device, precision=settings.model.precision, compile=settings.model.compile)
    stylizer.weights_label = label
    return stylizer


def _layers(settings: VideoSettings) -> tuple[str, ...]:
    return tuple(dict.fromkeys([settings.loss.content_layer, *(name for name, _ in settings.loss.style_layers)]))


def resolve_weights(settings: VideoSettings, *, progress: bool = True) -> tuple[dict, str]:
    """The features state dict for ``--weights`` and its label, resolved once (on the driver), so
    every worker uses the same weights even where ImageNet weights are missing."""
    depth = max(LAYER_INDEX[name] for name in _layers(settings)) + 1
    return resolve_state_dict(settings.model.weights, depth, settings.optim.seed, progress=progress)


def run_segment(
    settings: VideoSettings,
    first: int,
    end: int,
    lead_in: int,
    segment_path: str | os.PathLike,
    *,
    weights: tuple[dict, str] | None = None,
    styles: Sequence[torch.Tensor] | None = None,
    stylizer: Stylizer | None = None,
    info: VideoInfo | None = None,
    init_frame: np.ndarray | None = None,
    seek: float | None = None,
    expected_pts: Sequence[int] | None = None,
    palette: np.ndarray | None = None,
    index: int = 0,
    on_frame: Callable[[int, bool], None] | None = None,
) -> SegmentResult:
    """Stylize frames ``[first, end)`` of ``settings.input`` into ``segment_path`` (no Ray here).

    The ``lead_in`` frames before ``first`` are stylized first (the first of them a cold start,
    or warm from ``init_frame``, an RGB uint8 stylized frame) and discarded. Frame numbers count
    what the single-machine run stylizes (``start``/``duration`` applied), so keyframe mode puts
    its keyframes where that run does. With ``seek`` (seconds, between frame ``first - lead_in - 1``
    and the next) decoding starts near the range; ``expected_pts`` are then checked frame by
    frame. With the cartoon look on, ``palette`` is the clip's (:func:`first_frame_palette`);
    without one it is fitted on this segment's first kept frame. The segment file is written
    atomically and a JSON record (:func:`record_path`) after it. ``on_frame(number, kept)`` is
    called after each frame. Raises :class:`VideoError` if the frames are not the expected ones.
    """
    if not 0 <= lead_in <= first < end:
        raise ValueError(f"need 0 <= lead_in <= first < end, got lead_in={lead_in}, first={first}, end={end}")
    started = time.perf_counter()
    info = probe(settings.input) if info is None else info
    width, height = processing_size(info.width, info.height, settings.size)
    out_w, out_h = (width, height) if settings.output_size == "processing" else processing_size(
        info.width, info.height, None)
    if stylizer is None:
        stylizer = build_stylizer(settings, weights, styles)
    begin = first - lead_in
    flow = settings.flow_preset if settings.init_mode == "flow" else None
    if seek is None:  # from the start of the window: exact without a frame table, slower far in
        decoded = decode_frames(settings.input, (width, height), start=settings.start, duration=settings.duration,
                                max_frames=end, skip=begin, flow_preset=flow)
    else:
        decoded = _renumbered(decode_frames(settings.input, (width, height), start=seek, max_frames=end - begin,
                                            flow_preset=flow), begin)
    previous = to_tensor(init_frame, stylizer.device) if init_frame is not None else None
    path = Path(segment_path)
    kept = stylized = cold_iters = warm_iters = 0
    end_time = 0.0
    writer = VideoWriter(path, out_w, out_h, time_base=info.time_base, rate=info.frame_rate,
                         codec=settings.codec, crf=settings.crf, b_frames=False)
    with BackgroundIterator(decoded, maxsize=settings.queue_size, name="decoder") as frames, writer:
        for item, result, cold in stylize_sequence(frames, stylizer, settings, previous):
            frame = item.frame
            number = frame.index
            if expected_pts is not None:
                expected = expected_pts[number - begin] if number - begin < len(expected_pts) else None
                if frame.pts != expected:
                    raise VideoError(
                        f"{settings.input}: frame {number} decoded with pts {frame.pts}, expected {expected} "
                        "(the packets and the decoded frames disagree; this input cannot be split)")
            stylized += 1
            if cold:
                cold_iters += result.iterations
            else:
                warm_iters += result.iterations
            if number >= first:
                image = to_uint8(result.image)
                if settings.cartoon.enabled:  # changes what is encoded, never what the next frame starts from
                    if palette is None:
                        palette = fit_palette(image, settings.cartoon.colors)
                    image = cartoonize(frame.image, image, settings.cartoon, palette)
                if image.shape[:2] != (out_h, out_w):
                    image = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_CUBIC)
                writer.write(image, frame.pts)
                kept += 1
                end_time = frame.time + float(1 / info.frame_rate)
            if on_frame is not None:
                on_frame(number, number >= first)
        if kept != end - first:
            raise VideoError(f"{settings.input}: segment {index} expected frames {first}-{end - 1}, "
                             f"but the video gave {kept} of them")
    result = SegmentResult(index, first, end, lead_in, kept, stylized, end_time, time.perf_counter() - started,
                           cold_iters, warm_iters, str(path))
    _write_json(record_path(path), dataclasses.asdict(result))
    return result


def _renumbered(items: Iterator[DecodedFrame], offset: int) -> Iterator[DecodedFrame]:
    """Frames decoded from a seek point, numbered as in the whole run."""
    for item in items:
        yield dataclasses.replace(item, frame=dataclasses.replace(item.frame, index=item.frame.index + offset))


def first_frame_palette(settings: VideoSettings, *, weights: tuple[dict, str] | None = None,
                        styles: Sequence[torch.Tensor] | None = None, info: VideoInfo | None = None) -> np.ndarray:
    """The cartoon palette of the clip: fitted on the stylized first frame, as the single-machine
    run does (one palette for every segment, or the colours would jump at the seams)."""
    info = probe(settings.input) if info is None else info
    size = processing_size(info.width, info.height, settings.size)
    stylizer = build_stylizer(settings, weights, styles)
    frames = decode_frames(settings.input, size, start=settings.start, duration=settings.duration, max_frames=1)
    for _, result, _ in stylize_sequence(frames, stylizer, settings):
        return fit_palette(to_uint8(result.image), settings.cartoon.colors)
    raise VideoError(f"{settings.input}: no frames to stylize (check --start/--duration)")


def _palette_task(settings: VideoSettings, info: VideoInfo, weights: tuple[dict, str] | None,
                  styles: list[torch.Tensor], threads: int) -> np.ndarray | _TaskFailure:
    torch.set_num_threads(max(1, threads))
    try:
        return first_frame_palette(settings, weights=weights, styles=styles, info=info)
    except VidstyleError as error:
        return _TaskFailure(type(error).__name__, str(error))


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def finished_segment(segment_path: str | os.PathLike, plan: SegmentPlan) -> SegmentResult | None:
    """The record of a finished segment matching ``plan``, if its file and record are both there."""
    record = record_path(segment_path)
    if not Path(segment_path).exists() or not record.exists():
        return None
    try:
        result = SegmentResult(**json.loads(record.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if (result.first, result.end, result.lead_in, result.frames) != (plan.first, plan.end, plan.lead_in, plan.frames):
        return None
    return dataclasses.replace(result, path=str(segment_path))


# -- the Ray task --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TaskFailure:
    """An expected failure (bad input) returned instead of raised, so Ray does not retry it."""

    kind: str
    message: str


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
                  weights: tuple[dict, str] | None, styles: list[torch.Tensor], palette: np.ndarray | None,
                  fail_spec: str | None, threads: int) -> SegmentResult | _TaskFailure:
    """Ray task body: one segment. Exceptions other than VidstyleError are retried by Ray."""
    torch.set_num_threads(max(1, threads))
    attempt = _next_attempt(Path(segment_path))
    _inject_failure(plan.index, fail_spec or os.environ.get(FAIL_ENV), attempt)
    try:
        result = run_segment(settings, plan.first, plan.end, plan.lead_in, segment_path, weights=weights,
                             styles=styles, info=info, seek=plan.seek, expected_pts=plan.pts, palette=palette,
                             index=plan.index)
        return dataclasses.replace(result, attempt=attempt)
    except VidstyleError as error:  # the same on every attempt: report it, do not retry
        return _TaskFailure(type(error).__name__, str(error))


def _one_line(error: BaseException) -> str:
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        error = cause
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _gather(ray: Any, refs: dict, on_result: Callable[[Any, Any], None]) -> None:
    """Wait for every task; ``on_result(key, outcome)`` per task, where ``outcome`` is its value
    or the exception it ended with. Stops (and cancels the rest) if ``on_result`` raises."""
    pending = dict(refs)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            key = pending.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except ray.exceptions.RayError as error:
                outcome = error
            on_result(key, outcome)
    except BaseException:
        _cancel(ray, pending)
        raise


def _cancel(ray: Any, refs: Sequence) -> None:
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:  # noqa: BLE001 - already finished, or the cluster is gone
            pass
    for ref in refs:
        try:
            ray.get(ref, timeout=30)  # wait for it to stop; its error is expected
        except Exception:  # noqa: BLE001
            pass


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
    settings = dataclasses.replace(settings, input=os.path.abspath(settings.input),
                                   output=os.path.abspath(settings.output))
    info = probe(settings.input)
    size = processing_size(info.width, info.height, settings.size)
    pts = frame_table(settings)
    count = len(pts) if pts is not None else count_frames(settings)
    if count == 0:
        raise VideoError(f"{settings.input}: no frames to stylize (check --start/--duration)")
    state, label = resolve_weights(settings, progress=progress)
    if styles is None:
        styles = [load_image(path, "style") for path in settings.style.paths]
    started_ray = connect(ray, dist)
    try:
        slots, gpu = task_slots(ray, dist, settings.model.device)
        folder_path = work_folder_for(settings.output)
        bounds = None if dist.segments is not None else _saved_bounds(folder_path, count)
        if bounds is not None:  # resume with the ranges of the run being resumed, whatever the cluster's size now
            plans = plans_from_bounds(bounds, dist.lead_in, pts, info.time_base)
        else:
            plans = plan_segments(count, dist.segments or slots, dist.lead_in, pts, info.time_base)
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
            options = _task_options(dist, gpu)
            palette = None
            if settings.cartoon.enabled:  # one palette for all segments, kept for a resumed run
                palette = folder.load_array("palette")
                if palette is None:
                    palette = _clip_palette(ray, options, settings, info, weights, styles, dist, folder)
                    folder.save_array("palette", palette)
            task = ray.remote(_segment_task).options(**options)
            refs = {task.remote(settings, plan, str(folder.segment_path(plan.index)), info, weights, list(styles),
                                palette, fail_spec, dist.cpus_per_task): plan for plan in todo}

            def on_result(plan: SegmentPlan, outcome: Any) -> None:
                what = f"segment {plan.index} (frames {plan.first}-{plan.end - 1})"
                kept = f"{len(results)} finished segment(s) are kept in {folder.path}; rerun the same command to resume"
                if isinstance(outcome, _TaskFailure):
                    raise SegmentFailed(f"{what} failed: {outcome.message}; {kept}")
                if isinstance(outcome, BaseException):
                    raise SegmentFailed(f"{what} failed after {dist.max_retries + 1} attempt(s): "
                                        f"{_one_line(outcome)}; {kept}")
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
                _gather(ray, refs, on_result)
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
        if started_ray:
            ray.shutdown()


def _clip_palette(ray: Any, options: dict, settings: VideoSettings, info: VideoInfo, weights: Any,
                  styles: Sequence[torch.Tensor], dist: DistributedSettings, folder: WorkFolder) -> np.ndarray:
    """The cartoon palette from the stylized first frame, computed by one task before the segments."""
    ref = ray.remote(_palette_task).options(**options).remote(settings, info, weights, list(styles),
                                                              dist.cpus_per_task)
    try:
        outcome = ray.get(ref)
    except ray.exceptions.RayError as error:
        raise SegmentFailed(f"the cartoon palette (stylized frame 0) failed after {dist.max_retries + 1} attempt(s): "
                            f"{_one_line(error)}") from None
    except KeyboardInterrupt:
        _cancel(ray, [ref])
        raise Interrupted("interrupted before any segment started; rerun the same command to start again") from None
    if isinstance(outcome, _TaskFailure):
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


# -- many videos ---------------------------------------------------------------------------------


class BatchVideoError(VidstyleError):
    """``batch-video`` cannot start: missing folders, clashing output names."""


@dataclass(frozen=True)
class ClipEvent:
    """``plan`` (``count`` clips to do), ``skipped`` (output exists), ``bad`` (not a video),
    ``done`` or ``failed`` (``message`` says why)."""

    kind: str
    name: str = ""
    message: str = ""
    count: int = 0
    frames: int = 0
    seconds: float = 0.0


def plan_batch_video(input_dir: str | os.PathLike, output_dir: str | os.PathLike, *,
                     overwrite: bool = False) -> tuple[list[tuple[Path, Path]], list[ClipEvent]]:
    """``(input, output)`` pairs to do, and events for files skipped (finished or not videos)."""
    source, target = Path(input_dir), Path(output_dir)
    if not source.is_dir():
        raise BatchVideoError(f"input folder not found: {source}")
    if target.exists() and not target.is_dir():
        raise BatchVideoError(f"{target} exists and is not a folder")
    if target.exists() and os.path.samefile(source, target):
        raise BatchVideoError("the output folder is the input folder; choose another -o")
    todo: list[tuple[Path, Path]] = []
    events: list[ClipEvent] = []
    outputs: dict[str, str] = {}
    for path in sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith(".")):
        if not is_video_file(path):
            events.append(ClipEvent("bad", path.name, "not a video"))
            continue
        output = target / f"{path.stem}.mp4"
        if output.name in outputs:
            raise BatchVideoError(f"{outputs[output.name]} and {path.name} would both be written to {output}")
        outputs[output.name] = path.name
        if output.exists() and not overwrite:
            events.append(ClipEvent("skipped", path.name))
        else:
            todo.append((path, output))
    return todo, events


@dataclass(frozen=True)
class _ClipDone:
    frames: int
    seconds: float


def run_clip(settings: VideoSettings, weights: tuple[dict, str] | None = None,
             styles: Sequence[torch.Tensor] | None = None, stylizer: Stylizer | None = None) -> _ClipDone:
    """One clip through the single-machine pipeline (resumable through its own work folder)."""
    from .pipeline import run_video

    if stylizer is None:
        stylizer = build_stylizer(settings, weights, styles)
    report = run_video(settings, stylizer)
    return _ClipDone(report.frames, report.seconds)


def _clip_task(settings: VideoSettings, weights: tuple[dict, str] | None, styles: list[torch.Tensor],
               threads: int) -> _ClipDone | _TaskFailure:
    torch.set_num_threads(max(1, threads))
    try:
        return run_clip(settings, weights, styles)
    except VidstyleError as error:
        return _TaskFailure(type(error).__name__, str(error))


def run_batch_video(
    template: VideoSettings,
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    dist: DistributedSettings | None,
    *,
    styles: Sequence[torch.Tensor] | None = None,
    progress: bool = True,
    on_event: Callable[[ClipEvent], None] | None = None,
) -> list[ClipEvent]:
    """Stylize every video of ``input_dir`` into ``output_dir/STEM.mp4`` with ``template``'s settings.

    With ``dist``, each clip is a Ray task (a GPU each where the cluster has them); without, the
    clips run one after another here. Existing outputs are skipped (unless ``template.overwrite``),
    files that are not videos are reported as ``bad``, and a clip that fails is reported as
    ``failed`` while the others go on. Returns every event (also passed to ``on_event``).
    """
    ray = require_ray() if dist is not None else None
    todo, events = plan_batch_video(input_dir, output_dir, overwrite=template.overwrite)
    emit = on_event or (lambda event: None)
    for event in events:
        emit(event)
    plan = ClipEvent("plan", count=len(todo))
    events.append(plan)
    emit(plan)
    if not todo:
        return events
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    if styles is None:
        styles = [load_image(path, "style") for path in template.style.paths]
    clips = {source.name: dataclasses.replace(template, input=os.path.abspath(source), output=os.path.abspath(output))
             for source, output in todo}

    def record(name: str, outcome: Any) -> None:
        if isinstance(outcome, _ClipDone):
            event = ClipEvent("done", name, frames=outcome.frames, seconds=outcome.seconds)
        elif isinstance(outcome, _TaskFailure):
            event = ClipEvent("failed", name, outcome.message)
        else:
            event = ClipEvent("failed", name, _one_line(outcome))
        events.append(event)
        emit(event)

    if dist is None:
        stylizer = build_stylizer(template, styles=styles, progress=progress)
        for name, settings in clips.items():
            try:
                outcome: Any = run_clip(settings, stylizer=stylizer)
            except VidstyleError as error:
                outcome = _TaskFailure(type(error).__name__, str(error))
            record(name, outcome)
        return events

    state, label = resolve_weights(template, progress=progress)
    started_ray = connect(ray, dist)
    try:
        _, gpu = task_slots(ray, dist, template.model.device)
        weights = None if template.model.weights == "random" else ray.put((state, label))
        task = ray.remote(_clip_task).options(**_task_options(dist, gpu))
        refs = {task.remote(settings, weights, list(styles), dist.cpus_per_task): name
                for name, settings in clips.items()}
        try:
            _gather(ray, refs, record)
        except KeyboardInterrupt:
            done = sum(e.kind == "done" for e in events)
            raise Interrupted(f"interrupted after {done} of {len(todo)} clips; finished outputs are kept: "
                              "run the same command again to continue") from None
        return events
    finally:
        if started_ray:
            ray.shutdown()
