"""The offline run: decode (+ flow) in one thread, the frame chain here, encode segments in another.

``decode -> (flow) -> stylize(frame, init) -> encode``. Each frame goes through the frame chain
(:mod:`vidstyle.video.chain`); finished work is kept as segment files in a work folder (see
:mod:`vidstyle.video.workdir`) so a killed run resumes, and the resumed run equals an
uninterrupted one (the last stylized frame of each segment is kept exactly).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.factory import Weights, build_stylizer
from ..core.features import VGGFeatures
from ..core.runtime import OUT_OF_MEMORY
from ..errors import Interrupted, VidstyleError, storage_error, storage_message
from ..media.containers import OutputPlan, check_frame_size, plan_output
from ..media.image_files import load_image
from ..media.seeking import SeekChecks
from ..media.segments import assemble, decodable_frames, frame_end
from ..media.video_files import VideoError, VideoInfo, probe, processing_size
from ..settings import RESUME_FREE_FIELDS, VideoSettings
from .chain import (
    DecodedFrame,
    close_masks,
    frame_style_level,
    stylize_frames,
    video_decoder,
    video_look,
    video_rule,
    video_styles,
)
from .encode import SegmentDone, StylizedFrame, output_size, video_encoder
from .long_term import check_long_term, forget_kept, kept_memory, lead_in, long_term_memory, with_long_term
from .passes import PassProgress, check_passes, multi_pass
from .shots import Shot, shots_from_cuts
from .threads import BackgroundConsumer, BackgroundIterator
from .workdir import WorkFolder, file_fingerprint, flatten, stale_partials, work_folder_for


class RunFailed(VidstyleError):
    """The run stopped part-way (decode error, out of memory); finished frames are kept.

    ``report`` is the run's :class:`VideoReport` when it still delivered an output (the frames
    before a truncated input's damage), else None."""

    def __init__(self, message: str, report: "VideoReport | None" = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class FrameReport:
    """What happened to one frame (for progress bars and benchmarks)."""

    index: int
    iterations: int
    loss: float
    cold: bool
    seconds: float


@dataclass
class VideoReport:
    """What a whole run did."""

    output: str
    frames: int = 0  # frames in the output
    resumed_from: int = 0  # frames that an earlier run had finished
    seconds: float = 0.0  # wall time of this run's frames
    cold_iterations: list[int] = field(default_factory=list)
    warm_iterations: list[int] = field(default_factory=list)
    peak_memory_bytes: int = 0  # GPU memory on CUDA, else the process's peak RSS
    processing_size: tuple[int, int] = (0, 0)
    weights_label: str = ""
    finished_earlier: bool = False  # the output was assembled by a run killed before its clean-up
    damaged_frames: list[int] = field(default_factory=list)  # decoded with concealed errors
    cuts: list[int] = field(default_factory=list)  # frames that start a new shot (shot detection), in order

    def shots(self) -> list[Shot]:
        """The shots of the output's frames ``[0, frames)``, split at :attr:`cuts`."""
        return shots_from_cuts(self.cuts, 0, self.frames) if self.frames else []

    @property
    def frames_per_second(self) -> float:
        done = len(self.cold_iterations) + len(self.warm_iterations)
        return done / self.seconds if self.seconds > 0 else 0.0


def run_identity(settings: VideoSettings, weights_label: str) -> dict[str, object]:
    """What must not change between a run and its resumption (files by content, not name)."""
    identity = {k: v for k, v in flatten(settings).items() if k not in RESUME_FREE_FIELDS}
    identity["input"] = file_fingerprint(settings.input)
    identity["style.paths"] = [file_fingerprint(p) for p in settings.style.paths]
    identity["style.masks"] = [file_fingerprint(p) for p in settings.style.masks]
    if settings.optim.init not in ("content", "random"):
        identity["optim.init"] = file_fingerprint(settings.optim.init)
    identity["weights"] = weights_label
    return identity


# The comment tag of a finished output starts with this; the rest is :func:`settings_stamp`'s hash.
STAMP_PREFIX = "vidstyle settings "


def settings_stamp(settings: VideoSettings) -> str:
    """What made an output, as one short line written into its ``comment`` tag: a hash of
    :func:`run_identity` (the input and style files by content, the weights by their setting).
    ``batch-video`` compares it to tell an output made with other settings from a finished one."""
    identity = run_identity(settings, settings.model.weights)
    identity["max_frames"] = settings.max_frames  # free for a resume, but an output of 2 frames is not one of all
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return STAMP_PREFIX + digest


def peak_memory(device: torch.device) -> int:
    """Peak GPU memory on CUDA, else the process's peak RSS, in bytes."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_video(
    settings: VideoSettings,
    *,
    styles: Sequence[torch.Tensor] | None = None,
    extractor: VGGFeatures | None = None,
    weights: Weights | None = None,
    progress: bool = True,
    on_start: Callable[[int | None, int], None] | None = None,
    on_frame: Callable[[FrameReport], None] | None = None,
    on_pass_step: PassProgress | None = None,
) -> VideoReport:
    """Stylize ``settings.input`` into ``settings.output``, resuming finished segments.

    ``styles`` (loaded images) default to ``settings.style.paths``; the network is ``extractor``
    (shared, or a tiny one in tests) or loaded from ``weights``/``settings.model.weights``.
    ``on_start(total_frames_estimate, frames_already_done)`` and ``on_frame(report)`` let the
    caller draw progress; with ``--passes``, every pass runs before the first frame is reported,
    and ``on_pass_step(pass, position, iterations)`` follows them. The output name, encoder and
    audio are checked (a tiny test file) before the network is built. Raises :class:`~vidstyle.errors.Interrupted` on Ctrl-C and
    :class:`RunFailed` on a decode error, out of memory or a full disk, in every case after the
    finished frames have been saved.
    """
    check_long_term(settings)
    check_passes(settings)
    info = probe(settings.input)
    plan = plan_output(settings.output, settings.codec, crf=settings.crf, explicit_codec=True,
                       audio_source=settings.input if settings.audio and info.has_audio else None,
                       pix_fmt=None if settings.pix_fmt == "auto" else settings.pix_fmt, tune=settings.tune)
    check_frame_size(plan.codec, *output_size(settings, info))
    width, height = processing_size(info.width, info.height, settings.size)
    rule = video_rule(settings)
    if styles is None:
        styles = [load_image(path, "style") for path in settings.style.paths]
    folder = WorkFolder(work_folder_for(settings.output), {})
    folder.lock()  # before the network is built: a second run into this output stops at once
    seeks = SeekChecks()  # one verdict per file for the whole run
    try:
        stylizer = build_stylizer(settings, video_styles(settings, styles, (width, height), seeks),
                                  extractor=extractor, weights=weights, progress=progress)
    except BaseException:
        folder.unlock()
        if folder.created_by_lock:
            folder.remove()
        close_masks(rule)
        raise
    folder.load(run_identity(settings, stylizer.weights_label), must_exist=settings.resume, restart=settings.restart,
                suffix=plan.segment_suffix)
    report = VideoReport(settings.output, processing_size=(width, height), weights_label=stylizer.weights_label)
    try:
        return _run(settings, info, plan, folder, stylizer, rule, report, on_start, on_frame, seeks, on_pass_step)
    except (OSError, VideoError) as error:
        problem = storage_error(error)
        if problem is None:
            raise
        raise RunFailed(f"{storage_message(problem, Path(settings.output).parent.resolve())}; the "
                        f"{folder.frames_done} finished frames are kept in {folder.path}: free some space and "
                        "run the same command again to resume") from error
    finally:
        folder.unlock()
        close_masks(rule)


def _run(settings: VideoSettings, info: VideoInfo, plan: OutputPlan, folder: WorkFolder, stylizer, rule,  # noqa: ANN001
         report: VideoReport, on_start, on_frame, seeks: SeekChecks,  # noqa: ANN001
         on_pass_step: PassProgress | None = None) -> VideoReport:
    """:func:`run_video` once the work folder is open and locked."""
    for stale in stale_partials(settings.output):  # a killed assembly's temporary output
        stale.unlink(missing_ok=True)
    if folder.completed(settings.output):  # killed after the move, before the clean-up
        report.frames = folder.frames_done if settings.max_frames is None else min(folder.frames_done,
                                                                                    settings.max_frames)
        report.finished_earlier = True
        folder.remove()
        return report
    partial = folder.delivered_partial(settings.output)
    if partial is not None:  # the same input and settings fail the same way: say so, redo nothing
        report.frames = int(partial["frames"])
        raise RunFailed(f"{partial['error']} (by an earlier run; the input is unchanged, --restart redoes it)",
                        report)
    dropped = folder.drop_damaged(decodable_frames)
    if dropped:
        warnings.warn(f"a damaged segment in {folder.path}: the {dropped} segment(s) from it on will be redone",
                      stacklevel=3)
    limit = settings.max_frames
    skip = folder.frames_done
    report.resumed_from = skip
    last = folder.last_stylized()
    previous = torch.from_numpy(last).to(stylizer.device) if last is not None else None
    if on_start is not None:
        on_start(frame_estimate(info, settings), skip if limit is None else min(skip, limit))
    if stylizer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(stylizer.device)
    decode_error: VideoError | None = None
    out_of_memory = False
    started = time.perf_counter()
    if limit is None or skip < limit:
        decoded = checked(video_decoder(
            settings, (report.processing_size[0], report.processing_size[1]), start=settings.start,
            duration=settings.duration, max_frames=settings.max_frames,
            skip=0 if settings.passes > 1 else skip - lead_in(settings, skip), seeks=seeks),
            settings.input, report.damaged_frames)
        # Multi-pass keeps its own per-frame results; a single pass keeps the frames long-term needs.
        memory = (long_term_memory(settings) if settings.passes > 1
                  else kept_memory(settings, folder, skip, stylizer.device))
        saved_cuts = folder.load_array("cuts")
        report.cuts = [int(c) for c in saved_cuts] if saved_cuts is not None else []
        # (frame, style level) of each cold frame: a resumed run's warm frames catch up to the same level.
        saved_levels = folder.load_array("levels")
        levels = [tuple(row) for row in saved_levels] if saved_levels is not None else []
        reference = next((level for index, level in reversed(levels) if index < skip), None)

        def record(segment: SegmentDone) -> None:
            end = segment.first + segment.count
            folder.add_segment(segment.path, segment.first, segment.count, segment.last_stylized, segment.end_time)
            # After the segment is recorded: what a resumed run needs of the shots and the catch-up level.
            cuts = [c for c in list(report.cuts) if c < end]
            if cuts:
                folder.save_array("cuts", np.array(cuts, dtype=np.int64))
            kept = [row for row in list(levels) if row[0] < end]
            if kept:
                folder.save_array("levels", np.array(kept, dtype=np.float64).reshape(-1, 2))
            if memory is not None and settings.passes == 1:
                forget_kept(settings, folder, segment.first + segment.count)

        encoder = BackgroundConsumer(video_encoder(
            settings, info, look=video_look(settings, folder.load_array("palette")),
            segment_frames=settings.segment_frames, aligned=True,
            next_path=lambda: folder.segment_path(len(folder.segments)), on_segment=record,
            on_palette=lambda palette: folder.save_array("palette", palette),
        ), maxsize=settings.queue_size, name="encoder")
        try:
            with BackgroundIterator(with_long_term(decoded, settings, 0 if settings.passes > 1 else skip),
                                    maxsize=settings.queue_size, name="decoder") as frames:
                clock = time.perf_counter()
                chain = (multi_pass(frames, stylizer, rule, settings, folder, memory, skip, on_pass_step)
                         if settings.passes > 1
                         else stylize_frames(frames, stylizer, rule, previous, memory, reference))
                for item, result, cold in chain:
                    frame = item.frame
                    if cold and rule.catch_up_margin is not None:
                        levels.append((frame.index, frame_style_level(stylizer, result)))
                    if getattr(item, "cut", False) and frame.index not in report.cuts:
                        report.cuts.append(frame.index)
                    encoder.put(StylizedFrame.of(frame, result.image, info))
                    (report.cold_iterations if cold else report.warm_iterations).append(result.iterations)
                    now = time.perf_counter()
                    if on_frame is not None:
                        loss = result.losses[-1] if result.losses else float("nan")
                        on_frame(FrameReport(frame.index, result.iterations, loss, cold, now - clock))
                    clock = now
        except VideoError as error:  # corrupt or truncated input: keep and deliver what came before
            if storage_error(error) is not None:
                encoder.abort()
                raise
            decode_error = error
        except OUT_OF_MEMORY:
            out_of_memory = True
        except KeyboardInterrupt:
            encoder.finish()
            done = (f"{folder.frames_done} frames" if settings.passes == 1 else
                    f"{folder.frames_done} frames of the output (and the frames each pass finished)")
            raise Interrupted(
                f"interrupted after {done}; they are kept in {folder.path}: run the same command again to resume"
            ) from None
        except BaseException:
            encoder.abort()
            raise
        encoder.finish()
    report.seconds = time.perf_counter() - started
    report.peak_memory_bytes = peak_memory(stylizer.device)
    width, height = report.processing_size
    if out_of_memory:
        smaller = max(64, int(max(width, height) * 0.7) // 16 * 16)
        raise RunFailed(
            f"out of GPU memory at {width}x{height}; try --size {smaller} (the {folder.frames_done} finished "
            f"frames are kept in {folder.path}, but a new --size starts over)"
        )
    if folder.frames_done == 0:
        folder.remove()
        if decode_error is not None:
            raise RunFailed(str(decode_error))
        raise VideoError(f"{settings.input}: no frames to stylize (check --start/--duration)")
    frames = folder.frames_done if limit is None else min(folder.frames_done, limit)
    end = folder.segments[-1]["end"] if frames == folder.frames_done else frame_end(folder.segment_paths(), frames)
    failure = None
    if decode_error is not None:
        damage = f"; also {damage_note(settings.input, report.damaged_frames)}" if report.damaged_frames else ""
        failure = f"{decode_error}; wrote the {frames} frames before it to {settings.output}{damage}"
    elif report.damaged_frames:  # exit 0 only when every frame decoded cleanly
        failure = f"{damage_note(settings.input, report.damaged_frames)}; wrote all {frames} frames to {settings.output}"
    # A partial output is recorded as such (the folder stays), so no rerun counts it as finished.
    assemble_output(settings, info, folder.segment_paths(), end, audio=plan.audio, max_frames=frames,
                    before_move=folder.mark_complete if failure is None
                    else lambda path: folder.mark_partial(path, failure, frames),
                    stopped_early=decode_error is not None)
    report.frames = frames
    if failure is not None:
        raise RunFailed(failure, report)
    folder.remove()
    return report


def checked(frames: Iterator[DecodedFrame], path: str, damaged: list[int]) -> Iterator[DecodedFrame]:
    """``frames`` while their timestamps increase; a frame that goes back in time (a damaged
    WebM) stops the run there with a :class:`VideoError` naming it, so the frames before it are
    delivered (an encoder would refuse it later, after the work). Frames the decoder flagged as
    corrupt (concealed damage) pass, their numbers appended to ``damaged``."""
    last = None
    for item in frames:
        if last is not None and item.frame.pts <= last:
            raise VideoError(f"{path}: frame {item.frame.index} goes back in time (pts {item.frame.pts} after "
                             f"{last}); the frames after it were skipped", frame_index=item.frame.index)
        last = item.frame.pts
        if item.frame.corrupt:
            damaged.append(item.frame.index)
        yield item


def damage_note(path: str, damaged: list[int]) -> str:
    """``clip.mp4: 3 frame(s) had damaged data, concealed by the decoder (frames 4, 9, 12)``."""
    shown = ", ".join(map(str, damaged[:10])) + (", ..." if len(damaged) > 10 else "")
    return f"{path}: {len(damaged)} frame(s) had damaged data, concealed by the decoder (frames {shown})"


def frame_estimate(info: VideoInfo, settings: VideoSettings) -> int | None:
    """How many frames the run will stylize, as far as the container says (None: unknown)."""
    estimate = info.frame_count
    if settings.duration is not None:
        estimate = int(round(settings.duration * float(info.frame_rate)))
    elif settings.start and estimate is not None:
        estimate = max(0, estimate - int(settings.start * float(info.frame_rate)))
    if settings.max_frames is not None:
        estimate = settings.max_frames if estimate is None else min(estimate, settings.max_frames)
    return estimate


def assemble_output(settings: VideoSettings, info: VideoInfo, segment_paths: list, end: float, *,
                    audio: bool = True, max_frames: int | None = None,
                    before_move: Callable[[str], None] | None = None, stopped_early: bool = False) -> None:
    """Join ``segment_paths`` (in order, no re-encode) into ``settings.output`` with the source
    audio (unless ``audio`` is False: the container cannot hold it), moved into place atomically;
    ``end`` (seconds) is when the last frame ends, where the audio is cut if ``--duration`` or
    ``--max-frames`` cut the video, or the video ``stopped_early`` (a decode error: the audio
    would otherwise run on under a frozen last frame); ``max_frames`` keeps that many frames of
    the segments; ``before_move`` sees the finished temporary file; the file's comment tag holds
    :func:`settings_stamp`. Shared with the Ray driver."""
    audio = audio and settings.audio and info.has_audio
    cut = settings.duration is not None or settings.max_frames is not None or stopped_early
    assemble(
        segment_paths, settings.output,
        audio_source=settings.input if audio else None,
        audio_start=settings.start,
        audio_end=end if cut else None,
        origin=settings.start or 0.0,
        max_frames=max_frames,
        before_move=before_move,
        metadata={"comment": settings_stamp(settings)},
    )


def default_output(input_path: str, style_path: str) -> str:
    """``clip.mov`` + ``wave.jpg`` -> ``clip_wave.mp4`` in the current folder."""
    return f"{Path(input_path).stem}_{Path(style_path).stem}.mp4"


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if both paths name one file (also through links or different spellings)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()
