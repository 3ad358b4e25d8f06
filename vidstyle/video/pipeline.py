"""The frame loop: decode (+ flow) in one thread, stylize here, encode segments in another.

``decode -> (flow) -> stylize(frame, init) -> encode``. The previous stylized frame travels
from frame to frame as a value through :func:`stylize_sequence`; finished work is kept as
segment files in a work folder (see :mod:`vidstyle.workdir`) so a killed run resumes.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from ..core.colors import network_content, preserve_method, recolor_frame
from ..errors import Interrupted, VidstyleError
from .flow import FlowEstimator, fill_masked, occlusion_mask, warp
from ..media.image_files import to_tensor, to_uint8
from ..media.segments import assemble
from ..settings import INIT_MODES, RESUME_FREE_FIELDS, CartoonSettings, VideoSettings
from ..core.stylizer import Stylizer, StylizeResult
from .threads import BackgroundConsumer, BackgroundIterator
from ..media.video_files import Frame, VideoError, VideoInfo, VideoWriter, probe, processing_size, read_frames
from .workdir import WorkFolder, file_fingerprint, flatten, work_folder_for

# torch.OutOfMemoryError (torch >= 2.5) is the base of torch.cuda.OutOfMemoryError; older torch has only the latter.
_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


class RunFailed(VidstyleError):
    """The run stopped part-way (decode error, out of memory); finished frames are kept."""


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    """A decoded frame at the processing size, with the flow to the previous frame if asked.

    ``flow_back`` maps this frame onto the previous one (``warp(prev, flow_back) ~= this``);
    ``mask`` is 1 where that warp is reliable (Ruder et al.'s consistency check).
    """

    frame: Frame
    flow_back: np.ndarray | None = None
    mask: np.ndarray | None = None


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

    @property
    def frames_per_second(self) -> float:
        done = len(self.cold_iterations) + len(self.warm_iterations)
        return done / self.seconds if self.seconds > 0 else 0.0


def decode_frames(
    path: str,
    size: tuple[int, int],
    *,
    start: float | None = None,
    duration: float | None = None,
    max_frames: int | None = None,
    skip: int = 0,
    flow_preset: str | None = None,
) -> Iterator[DecodedFrame]:
    """Frames at ``size``, from index ``skip`` on, with backward flow and mask if ``flow_preset``.

    Skipped frames are decoded (not stylized) so the first yielded frame still gets its flow
    from the frame before it. Meant to run in the decode thread: the flow estimator is made
    here, in that thread (OpenCV's DIS object is not thread-safe).
    """
    estimator = FlowEstimator(flow_preset) if flow_preset else None
    previous: Frame | None = None
    for frame in read_frames(path, size=size, start=start, duration=duration, max_frames=max_frames):
        if frame.index >= skip:
            flow_back = mask = None
            if estimator is not None and previous is not None:
                flow_forward, flow_back = estimator.forward_backward(previous.image, frame.image)
                mask = occlusion_mask(flow_forward, flow_back)
            yield DecodedFrame(frame, flow_back, mask)
        previous = frame


def device_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float on ``device``; pinned, non-blocking copy on CUDA."""
    if device.type != "cuda":
        return to_tensor(image, device)
    host = torch.from_numpy(np.ascontiguousarray(image)).pin_memory()
    return host.to(device, non_blocking=True).permute(2, 0, 1).unsqueeze(0).float().div_(255.0).contiguous()


def stylize_sequence(
    items: Iterable[DecodedFrame],
    stylizer: Stylizer,
    settings: VideoSettings,
    previous: torch.Tensor | None = None,
) -> Iterator[tuple[DecodedFrame, StylizeResult, bool]]:
    """Stylize frames in order; yields ``(item, result, cold)``.

    With ``--preserve-colors luminance`` the chain runs on the frames' luminance (gray), and
    :func:`vidstyle.colors.recolor_frame` puts the frame's chroma back only when encoding.

    The first frame (when ``previous`` is None) and every frame in ``independent`` mode is a
    cold start with ``optim.iters``; the others start from ``previous`` — as it is (``prev``)
    or warped along the flow with rejected regions filled from the content frame (``flow``)
    — with :func:`warm_budget` iterations. Every frame stops early at ``settings.tol``. The temporal loss
    (if its weight is set) pulls each frame towards the (warped) previous output where the
    mask allows.
    """
    if settings.init_mode not in INIT_MODES:
        raise ValueError(f"unknown init mode {settings.init_mode!r}; choose one of {', '.join(INIT_MODES)}")
    colors = preserve_method(settings.style)
    for item in items:
        content = network_content(colors, device_tensor(item.frame.image, stylizer.device))
        cold = previous is None or settings.init_mode == "independent"
        if cold:
            result = stylizer.stylize(content, None, settings.optim.iters, tol=settings.tol)
        else:
            init, warped, mask = warm_start(previous, content, item, settings.init_mode)
            budget = warm_budget(item.frame.index, settings)
            result = stylizer.stylize(content, init, budget, tol=settings.tol, temporal=(warped, mask))
        previous = result.image
        yield item, result, cold


def warm_start(
    previous: torch.Tensor, content: torch.Tensor, item: DecodedFrame, init_mode: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(init, temporal target, mask)`` for a warm-started frame.

    ``flow``: the previous output warped along the flow, rejected regions filled from the
    content; otherwise (``prev``, or no flow for this frame) the previous output as it is,
    with the temporal term applying everywhere.
    """
    if init_mode == "flow" and item.flow_back is not None:
        warped = warp(previous, item.flow_back)
        mask = torch.from_numpy(item.mask)[None, None].to(previous.device)
        return fill_masked(warped, content, mask), warped, mask
    return previous, previous, torch.ones_like(previous[:, :1])


def warm_budget(index: int, settings: VideoSettings) -> int:
    """Iterations for warm-started frame ``index``: ``warm_iters``, or in keyframe mode the full
    ``optim.iters`` on every ``keyframe_every``-th frame and ``refine_iters`` in between."""
    if settings.keyframe_every > 0:
        return settings.optim.iters if index % settings.keyframe_every == 0 else settings.refine_iters
    return settings.warm_iters


def run_identity(settings: VideoSettings, weights_label: str) -> dict[str, object]:
    """What must not change between a run and its resumption (files by content, not name)."""
    identity = {k: v for k, v in flatten(settings).items() if k not in RESUME_FREE_FIELDS}
    identity["input"] = file_fingerprint(settings.input)
    identity["style.paths"] = [file_fingerprint(p) for p in settings.style.paths]
    identity["weights"] = weights_label
    return identity


class CartoonPost:
    """The cartoon post-process for a video: one palette for the whole clip (a palette refitted
    per frame would flicker), fitted on the first stylized frame and kept in the work folder so
    a resumed run uses the same one."""

    def __init__(self, settings: CartoonSettings, folder: WorkFolder) -> None:
        self.settings, self.folder = settings, folder
        self.palette: np.ndarray | None = folder.load_array("palette")

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        from ..core.cartoon import cartoonize, fit_palette

        if self.palette is None:
            self.palette = fit_palette(stylized, self.settings.colors)
            self.folder.save_array("palette", self.palette)
        return cartoonize(frame, stylized, self.settings, self.palette)


def encoding_look(settings: VideoSettings, folder: WorkFolder) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """What turns ``(frame, stylized)`` into the encoded picture: the content's colours back
    (``--preserve-colors luminance``), then the cartoon look; None when neither is on."""
    colors = preserve_method(settings.style)
    cartoon = CartoonPost(settings.cartoon, folder) if settings.cartoon.enabled else None
    if colors != "luminance" and cartoon is None:
        return None

    def look(frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        image = recolor_frame(colors, frame, stylized)
        return cartoon(frame, image) if cartoon is not None else image

    return look


def _encode_segments(
    items: Iterator[tuple[int, int, float, np.ndarray, np.ndarray]],
    folder: WorkFolder,
    *,
    segment_frames: int,
    out_size: tuple[int, int],
    info: VideoInfo,
    codec: str,
    crf: int,
    post: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> None:
    """Encoder thread: write ``(index, pts, end_time, stylized, frame)`` into segments.

    ``post(frame, stylized)`` (e.g. the cartoon look) changes what is encoded, never what the
    next frame starts from. A segment of ``segment_frames`` is recorded in the work folder only
    once its file is complete, together with its last stylized frame (the warm start for a
    resumed run). When the stream ends early (Ctrl-C, an error upstream) the segment in
    progress is closed and kept.
    """
    width, height = out_size
    stack = contextlib.ExitStack()
    writer: VideoWriter | None = None
    first = count = 0
    last: np.ndarray | None = None
    end_time = 0.0
    path = folder.segment_path(len(folder.segments))

    def close_segment() -> None:
        nonlocal writer
        stack.close()  # VideoWriter moves the finished file into place here
        folder.add_segment(path, first, count, last, end_time)
        writer = None

    try:
        for index, pts, end_time, image, source in items:
            if writer is None:
                path = folder.segment_path(len(folder.segments))
                writer = stack.enter_context(VideoWriter(
                    path, width, height, time_base=info.time_base, rate=info.frame_rate,
                    codec=codec, crf=crf, b_frames=False,
                ))
                first, count = index, 0
            frame = post(source, image) if post is not None else image
            if frame.shape[:2] != (height, width):
                frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC)
            writer.write(frame, pts)
            count += 1
            last = image
            if count == segment_frames:
                close_segment()
    except BaseException:
        stack.__exit__(*sys.exc_info())  # the unfinished segment's temporary file is deleted
        raise
    if writer is not None:
        close_segment()


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_video(
    settings: VideoSettings,
    stylizer: Stylizer,
    *,
    on_start: Callable[[int | None, int], None] | None = None,
    on_frame: Callable[[FrameReport], None] | None = None,
) -> VideoReport:
    """Stylize ``settings.input`` into ``settings.output``, resuming finished segments.

    ``on_start(total_frames_estimate, frames_already_done)`` and ``on_frame(report)`` let the
    caller draw progress. Raises :class:`~vidstyle.errors.Interrupted` on Ctrl-C and :class:`RunFailed` on
    a decode error or out of memory, in both cases after the finished frames have been saved.
    """
    info = probe(settings.input)
    width, height = processing_size(info.width, info.height, settings.size)
    out_size = (width, height) if settings.output_size == "processing" else processing_size(info.width, info.height, None)
    folder = WorkFolder.open(work_folder_for(settings.output), run_identity(settings, stylizer.weights_label),
                             must_exist=settings.resume)
    skip = folder.frames_done
    report = VideoReport(settings.output, resumed_from=skip, processing_size=(width, height))
    previous = None
    if skip:
        previous = to_tensor(folder.last_frame(), stylizer.device)
    if on_start is not None:
        on_start(_frame_estimate(info, settings), skip)
    if stylizer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(stylizer.device)

    decoded = decode_frames(
        settings.input, (width, height), start=settings.start, duration=settings.duration,
        max_frames=settings.max_frames, skip=skip,
        flow_preset=settings.flow_preset if settings.init_mode == "flow" else None,
    )
    encoder = BackgroundConsumer(
        lambda items: _encode_segments(items, folder, segment_frames=settings.segment_frames, out_size=out_size,
                                       info=info, codec=settings.codec, crf=settings.crf,
                                       post=encoding_look(settings, folder)),
        maxsize=settings.queue_size, name="encoder",
    )
    started = time.perf_counter()
    decode_error: VideoError | None = None
    out_of_memory = False
    try:
        with BackgroundIterator(decoded, maxsize=settings.queue_size, name="decoder") as frames:
            clock = time.perf_counter()
            for item, result, cold in stylize_sequence(frames, stylizer, settings, previous):
                frame = item.frame
                end_time = frame.time + float(1 / info.frame_rate)
                encoder.put((frame.index, frame.pts, end_time, to_uint8(result.image), frame.image))
                (report.cold_iterations if cold else report.warm_iterations).append(result.iterations)
                now = time.perf_counter()
                if on_frame is not None:
                    loss = result.losses[-1] if result.losses else float("nan")
                    on_frame(FrameReport(frame.index, result.iterations, loss, cold, now - clock))
                clock = now
    except VideoError as error:  # corrupt or truncated input: keep and deliver what came before
        decode_error = error
    except _OUT_OF_MEMORY:
        out_of_memory = True
    except KeyboardInterrupt:
        encoder.finish()
        raise Interrupted(
            f"interrupted after {folder.frames_done} frames; they are kept in {folder.path}: "
            "run the same command again to resume"
        ) from None
    except BaseException:
        encoder.abort()
        raise
    encoder.finish()
    report.seconds = time.perf_counter() - started
    report.peak_memory_bytes = _peak_memory(stylizer.device)
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
    _assemble(settings, info, folder)
    report.frames = folder.frames_done
    folder.remove()
    if decode_error is not None:
        raise RunFailed(f"{decode_error}; wrote the {report.frames} frames before it to {settings.output}")
    return report


def _frame_estimate(info: VideoInfo, settings: VideoSettings) -> int | None:
    estimate = info.frame_count
    if settings.duration is not None:
        estimate = int(round(settings.duration * float(info.frame_rate)))
    elif settings.start and estimate is not None:
        estimate = max(0, estimate - int(settings.start * float(info.frame_rate)))
    if settings.max_frames is not None:
        estimate = settings.max_frames if estimate is None else min(estimate, settings.max_frames)
    return estimate


def _assemble(settings: VideoSettings, info: VideoInfo, folder: WorkFolder) -> None:
    """Join the segments (no re-encode) with the source audio, moved into place atomically."""
    assemble_output(settings, info, folder.segment_paths(), folder.segments[-1]["end"])


def assemble_output(settings: VideoSettings, info: VideoInfo, segment_paths: list, end: float) -> None:
    """Join ``segment_paths`` (in order, no re-encode) into ``settings.output`` with the source
    audio, moved into place atomically; ``end`` (seconds) is when the last frame ends, where the
    audio is cut if ``--duration`` or ``--max-frames`` cut the video. Shared with the Ray driver."""
    audio = settings.audio and info.has_audio
    cut = settings.duration is not None or settings.max_frames is not None
    assemble(
        segment_paths, settings.output,
        audio_source=settings.input if audio else None,
        audio_start=settings.start,
        audio_end=end if cut else None,
        origin=settings.start or 0.0,
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
