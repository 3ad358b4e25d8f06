"""One video in frame ranges: the exact frame table, the plans, and one range stylized (no Ray here).

:func:`run_segment` is the body of every ``--ray`` task (:mod:`vidstyle.scale.distributed`): it
decodes its range, warms the frame chain up on the lead-in frames, and writes one segment file
(through the same encoder as the single-machine run) plus the JSON record that marks it finished.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..core.factory import Weights, build_stylizer
from ..core.tensors import to_uint8
from ..media.image_files import load_image
from ..media.remux import to_fraction
from ..media.seeking import SeekChecks, SeekVerdict, verify_seek
from ..media.video_files import (
    VideoError,
    VideoInfo,
    open_input,
    probe,
    processing_size,
    read_frames,
    require_video_stream,
)
from ..settings import VideoSettings
from ..video.chain import (
    close_masks,
    decode_frames,
    stylize_frames,
    video_decoder,
    video_look,
    video_rule,
    video_styles,
)
from ..video.encode import SegmentDone, StylizedFrame, video_encoder
from ..video.long_term import long_term_memory, with_long_term
from ..video.threads import BackgroundConsumer, BackgroundIterator

# -- the frames, exactly -------------------------------------------------------------------------


def frame_table(settings: VideoSettings) -> list[int] | None:
    """The pts of every frame the single-machine run stylizes, in order, read from the packets.

    Demuxes without decoding (fast even for a film) and applies ``start``/``duration``/
    ``max_frames`` exactly as :func:`~vidstyle.video.read_frames` does. ``None`` if some packet
    carries no pts (raw streams): then only decoding can count the frames.
    """
    return frame_and_sync_table(settings)[0]


def frame_and_sync_table(settings: VideoSettings) -> tuple[list[int] | None, list[int]]:
    """:func:`frame_table` and the positions in it of the sync samples (keyframe packets), in one demux."""
    start_t = to_fraction(settings.start) if settings.start is not None else None
    end_t = None
    if settings.duration is not None:
        end_t = (start_t or Fraction(0)) + to_fraction(settings.duration)
    pts: list[int] = []
    sync: set[int] = set()
    with open_input(settings.input) as container:
        stream = require_video_stream(container, settings.input)
        time_base = stream.time_base
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:  # the flush packet; edit-list pre-roll
                continue
            if packet.pts is None:
                return None, []
            t = packet.pts * time_base
            if (start_t is not None and t < start_t) or (end_t is not None and t >= end_t):
                continue
            pts.append(int(packet.pts))
            if packet.is_keyframe:
                sync.add(int(packet.pts))
    pts.sort()
    pts = pts[:settings.max_frames] if settings.max_frames is not None else pts
    return pts, [i for i, p in enumerate(pts) if p in sync]


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

    ``seek`` (seconds) lies half a tick before frame ``first - lead_in``: decoding starts
    there instead of at the beginning. ``pts`` are the expected pts of frames
    ``first - lead_in .. end - 1`` (checked while decoding). Both are None without a frame table.
    """

    index: int
    first: int
    end: int
    lead_in: int
    seek: float | None = None
    pts: tuple[int, ...] | None = None
    cuts: tuple[int, ...] = ()  # frames of [first - lead_in, end) that start a new shot (the driver's detection)

    @property
    def frames(self) -> int:
        return self.end - self.first


def plan_segments(count: int, segments: int, lead_in: int, pts: Sequence[int] | None = None,
                  time_base: Fraction | None = None, cuts: Sequence[int] = ()) -> list[SegmentPlan]:
    """Split ``count`` frames into ``segments`` ranges of (nearly) equal work.

    Every segment has one cold start; those after the first also stylize ``lead_in`` frames
    they discard, so they get ``lead_in`` fewer frames than the first: all finish together.
    (Falls back to ranges of equal length when the video is too short for that.) With ``cuts``
    (frames that start a new shot), each boundary moves to the nearest cut within a quarter of
    a segment's length (see :func:`snap_to_cuts`).
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
    if cuts:
        bounds = snap_to_cuts(bounds, cuts, max(1, count // (4 * n)))
    return plans_from_bounds(bounds, lead_in, pts, time_base, cuts)


def snap_to_cuts(bounds: Sequence[int], cuts: Sequence[int], reach: int) -> list[int]:
    """``bounds`` with each inner boundary moved to the nearest cut at most ``reach`` frames away
    (if that keeps every range non-empty): a segment that starts at a cut has no seam to hide
    (the frame starts cold in a single run too) and needs no lead-in."""
    snapped = list(bounds)
    for k in range(1, len(snapped) - 1):
        near = [c for c in cuts if abs(c - snapped[k]) <= reach and snapped[k - 1] < c < bounds[k + 1]]
        if near:
            snapped[k] = min(near, key=lambda c: (abs(c - snapped[k]), c))
    return snapped


def plans_from_bounds(bounds: Sequence[int], lead_in: int, pts: Sequence[int] | None = None,
                      time_base: Fraction | None = None, cuts: Sequence[int] = ()) -> list[SegmentPlan]:
    """Segments ``[bounds[k], bounds[k + 1])`` with their lead-in, seek time and expected pts; a
    segment that starts at one of ``cuts`` gets no lead-in."""
    plans = []
    for k in range(len(bounds) - 1):
        first, end = bounds[k], bounds[k + 1]
        lead = 0 if first in cuts else min(lead_in, first)
        begin = first - lead
        seek = expected = None
        if pts is not None:
            expected = tuple(pts[begin:end])
            if begin > 0:  # half a tick before frame `begin`: a sync sample there is landed on
                seek = float((Fraction(pts[begin]) - Fraction(1, 2)) * time_base)
        plans.append(SegmentPlan(k, first, end, lead, seek, expected, tuple(c for c in cuts if begin <= c < end)))
    return plans


def snap_to_sync(plans: Sequence[SegmentPlan], sync: Sequence[int], lead_in: int, pts: Sequence[int],
                 time_base: Fraction, tolerance: int) -> list[SegmentPlan]:
    """``plans`` with each range's decoding start (``first - lead_in``) moved onto a sync sample
    (``sync``: frame positions) at most ``tolerance`` frames away, where there is one: its seek
    then lands on the first frame it needs (nothing decoded to be dropped) and its check compares
    that one frame. Ranges stay in order and non-empty; the work balance moves by ``tolerance`` at most.
    """
    bounds = [plans[0].first, *(plan.end for plan in plans)]
    cuts = sorted({cut for plan in plans for cut in plan.cuts})
    moved = list(bounds)
    for k in range(1, len(bounds) - 1):
        if bounds[k] in cuts:  # a range that starts at a cut stays there (no lead-in, no seam)
            continue
        begin = bounds[k] - min(lead_in, bounds[k])
        near = [s for s in sync if 0 < s and abs(s - begin) <= tolerance]
        if near:
            first = min(near, key=lambda s: (abs(s - begin), s)) + lead_in
            if moved[k - 1] < first < bounds[k + 1]:
                moved[k] = first
    if any(b >= c for b, c in zip(moved, moved[1:])):
        return list(plans)
    return plans_from_bounds(moved, lead_in, pts, time_base, cuts)


def checked_plans(settings: VideoSettings, plans: Sequence[SegmentPlan], time_base: Fraction,
                  checks: SeekChecks) -> list[SegmentPlan]:
    """``plans`` whose seeks can be trusted: checks the seek to ``settings.start`` and each plan's
    seek (:func:`~vidstyle.media.seeking.verify_seek`, one warning line if seeking in the file
    fails), recording the verdict in ``checks`` for the tasks. Once a check fails, a plan whose
    seek has no verified seek at or before it decodes from the start instead (``seek`` None);
    the others start from that verified seek (:func:`~vidstyle.media.video_files.read_frames`).
    """
    if settings.start:
        verify_seek(settings.input, to_fraction(settings.start), checks)
    for plan in plans:
        if plan.seek is not None and checks.verdict(settings.input).trusted:
            verify_seek(settings.input, to_fraction(plan.seek), checks)
    verdict = checks.verdict(settings.input)
    if verdict.trusted:
        return list(plans)
    return [plan if plan.seek is None or verdict.resume_target(math.ceil(to_fraction(plan.seek) / time_base))
            is not None else dataclasses.replace(plan, seek=None) for plan in plans]


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


def network_styles(settings: VideoSettings, styles: Sequence[torch.Tensor] | None,
                   size: tuple[int, int], seeks: SeekChecks | None = None) -> list[torch.Tensor]:
    """The styles as the network sees them: ``styles`` as given (the driver matched them once,
    :func:`~vidstyle.video.chain.video_styles`), or read from ``settings`` and matched here."""
    if styles is not None:
        return list(styles)
    return video_styles(settings, [load_image(path, "style") for path in settings.style.paths], size, seeks)


def run_segment(
    settings: VideoSettings,
    first: int,
    end: int,
    lead_in: int,
    segment_path: str | os.PathLike,
    *,
    weights: Weights | None = None,
    styles: Sequence[torch.Tensor] | None = None,
    info: VideoInfo | None = None,
    seek: float | None = None,
    expected_pts: Sequence[int] | None = None,
    palette: np.ndarray | None = None,
    index: int = 0,
    on_frame: Callable[[int, bool], None] | None = None,
    seeks: SeekVerdict | None = None,
    cuts: Sequence[int] | None = None,
) -> SegmentResult:
    """Stylize frames ``[first, end)`` of ``settings.input`` into ``segment_path`` (no Ray here).

    The ``lead_in`` frames before ``first`` are stylized first (the first of them a cold start)
    and discarded. Frame numbers count what the single-machine run stylizes (``start``/
    ``duration`` applied), so keyframe mode puts its keyframes where that run does. With
    ``seek`` (seconds, after frame ``first - lead_in - 1``, at most at the next) decoding starts near
    the range; ``expected_pts`` are then checked frame by frame. ``styles`` are as the network
    sees them (:func:`~vidstyle.video.chain.video_styles`). With the cartoon look on,
    ``palette`` is the clip's (:func:`first_frame_palette`); without one it is fitted on this
    segment's first kept frame. The segment file is written atomically and a JSON record
    (:func:`record_path`) after it. ``on_frame(number, kept)`` is called after each frame.
    ``seeks`` is the driver's verdict on seeking in the input (:func:`checked_plans`); without
    it, the seek is checked here. ``cuts``: the frames of the run that start a new shot, as the
    driver found them (None: the segment detects them itself, from where it starts decoding).
    Raises :class:`VideoError` if the frames are not the expected ones.
    """
    if not 0 <= lead_in <= first < end:
        raise ValueError(f"need 0 <= lead_in <= first < end, got lead_in={lead_in}, first={first}, end={end}")
    started = time.perf_counter()
    info = probe(settings.input) if info is None else info
    width, height = processing_size(info.width, info.height, settings.size)
    checks = SeekChecks([seeks] if seeks is not None else [])
    stylizer = build_stylizer(settings, network_styles(settings, styles, (width, height), checks), weights=weights,
                              progress=False)
    begin = first - lead_in
    if seek is None:  # from the start of the window: exact without a frame table, slower far in
        decoded = video_decoder(settings, (width, height), start=settings.start, duration=settings.duration,
                                max_frames=end, skip=begin, cuts=cuts, seeks=checks)
    else:
        decoded = video_decoder(settings, (width, height), start=seek, max_frames=end - begin, index_offset=begin,
                                cuts=cuts, seeks=checks)
    path = Path(segment_path)
    done: list[SegmentDone] = []
    encoder = BackgroundConsumer(video_encoder(settings, info, look=video_look(settings, palette),
                                               segment_frames=end - first, next_path=lambda: path,
                                               on_segment=done.append), maxsize=settings.queue_size, name="encoder")
    stylized = cold_iters = warm_iters = 0
    rule = video_rule(settings)
    try:
        with BackgroundIterator(with_long_term(decoded, settings), maxsize=settings.queue_size,
                                name="decoder") as frames:
            for item, result, cold in stylize_frames(frames, stylizer, rule, memory=long_term_memory(settings)):
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
                    encoder.put(StylizedFrame.of(frame, result.image, info))
                if on_frame is not None:
                    on_frame(number, number >= first)
    except BaseException:
        encoder.abort()
        raise
    finally:
        close_masks(rule)  # a mask video's decoders
    encoder.finish()
    kept = done[0].count if done else 0
    if kept != end - first:
        path.unlink(missing_ok=True)
        raise VideoError(f"{settings.input}: segment {index} expected frames {first}-{end - 1}, "
                         f"but the video gave {kept} of them")
    result = SegmentResult(index, first, end, lead_in, kept, stylized, done[0].end_time,
                           time.perf_counter() - started, cold_iters, warm_iters, str(path))
    _write_json(record_path(path), dataclasses.asdict(result))
    return result


def first_frame_palette(settings: VideoSettings, *, weights: Weights | None = None,
                        styles: Sequence[torch.Tensor] | None = None, info: VideoInfo | None = None,
                        seeks: SeekVerdict | None = None) -> np.ndarray:
    """The cartoon palette of the clip: fitted on the stylized first frame, as the single-machine
    run does (one palette for every segment, or the colours would jump at the seams)."""
    info = probe(settings.input) if info is None else info
    size = processing_size(info.width, info.height, settings.size)
    checks = SeekChecks([seeks] if seeks is not None else [])
    stylizer = build_stylizer(settings, network_styles(settings, styles, size, checks), weights=weights, progress=False)
    frames = decode_frames(settings.input, size, start=settings.start, duration=settings.duration, max_frames=1,
                           seeks=checks)
    for item, result, _ in stylize_frames(frames, stylizer, video_rule(settings)):
        return video_look(settings).fitted(item.image, to_uint8(result.image)).palette
    raise VideoError(f"{settings.input}: no frames to stylize (check --start/--duration)")


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
