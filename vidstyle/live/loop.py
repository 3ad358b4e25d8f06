"""Live preview: a camera feed stylized a few optimiser iterations per frame.

The pieces, each testable alone:

* a **source** (:class:`~vidstyle.live.camera.OpenCVSource` for a camera index, a video file or a
  stream URL; :class:`~vidstyle.live.camera.SyntheticSource` for benchmarks) that returns RGB frames;
* a **capture thread** (:class:`~vidstyle.live.camera.LatestFrameGrabber`) that keeps only the
  newest frame (and computes its motion against the frame taken before it, and finds hard cuts
  with one frame of look-ahead, :func:`live_scenes`): when stylization
  is slower than the camera, older frames are dropped and counted, never queued, so latency
  cannot build up (OpenCV's ``samples/python/video_threaded.py`` measures the same
  capture-to-display latency);
* **keys** as a pure function (:func:`~vidstyle.live.display.handle_key`) and a **display**
  (:class:`~vidstyle.live.display.WindowDisplay`) with an overlay of frames/s, iterations per
  frame and the style name;
* the **loop** (:func:`run_loop`): newest frame -> the frame chain of
  :mod:`vidstyle.video.chain` (warm start, flow, temporal target, the look) -> show -> record;
* :func:`run_session`, which opens and closes all of the above in the right order.

Nothing here prints: progress goes to ``on_frame``, messages to ``on_event``, and a
:class:`WebcamResult` says how the run went and why it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch

from ..core.colors import preserve_method
from ..core.factory import build_stylizer
from ..core.features import VGGFeatures
from ..core.tensors import to_uint8
from ..media.containers import OutputError, plan_output
from ..media.image_files import check_writable, load_init
from ..media.video_files import VideoError, VideoWriter
from ..settings import CartoonSettings, WebcamSettings
from ..video.chain import ChainRule, FrameLook, chain_content, photometric_check, still_motion, stylize_frame
from ..video.flow import FlowEstimator, motion_between
from ..video.shots import ShotDetector
from .camera import (
    FALLBACK_FPS,
    CapturedFrame,
    FrameSource,
    LatestFrameGrabber,
    WebcamError,
    open_camera,
    quiet_opencv,
    working_size,
)
from .display import SNAPSHOT, Display, WebcamState, WindowDisplay, check_display, compose_view, handle_key

# -- the loop ----------------------------------------------------------------------------------


class LiveStylizer(Protocol):
    """What the loop stylizes with: a :class:`~vidstyle.core.stylizer.Stylizer` (tests pass fakes)."""

    device: Any

    def stylize(self, content: Any, init: Any = None, iters: int | None = None, *, tol: float | None = None,
                temporal: Any = None, callback: Any = None, masks: Any = None, revealed: Any = None) -> Any: ...


@dataclass(frozen=True)
class ShownFrame:
    """Sent to ``on_frame`` after each shown frame. Times in seconds.

    ``latency``: from the frame's capture to its display; ``process``: stylization alone;
    ``fps``: shown frames per second (moving average); counts are totals so far.
    """

    number: int  # shown frames so far, this one included
    capture_index: int
    style: str
    iterations: int
    latency: float
    process: float
    fps: float
    captured: int
    dropped: int
    recorded: int
    cold: bool = False  # the chain started this frame cold (the first, a new style, or a new shot)


@dataclass
class WebcamResult:
    """How a run went. ``stop_reason``: quit, window closed, max frames, seconds, interrupted
    or ended (the source stopped delivering; ``message`` says what happened)."""

    stop_reason: str
    message: str
    source: str
    source_kind: str
    working_size: tuple[int, int]
    processed: int = 0
    captured: int = 0
    dropped: int = 0
    recorded: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # the last 1000 frames
    latency_mean: float = 0.0
    latency_max: float = 0.0
    process_mean: float = 0.0
    record_path: str | None = None
    snapshots: list[str] = field(default_factory=list)
    weights: str = ""
    cuts: list[int] = field(default_factory=list)  # capture indices of the stylized frames that started a new shot

    @property
    def fps(self) -> float:
        return self.processed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def source_lost(self) -> bool:
        """True if a camera or stream stopped delivering (the end of a file is normal)."""
        return self.stop_reason == "ended" and self.source_kind not in ("file",)


def live_rule(settings: WebcamSettings, iters: int) -> ChainRule:
    """The frame chain's rule for the webcam: ``iters`` for every frame, cold or warm."""
    return ChainRule(init_mode=settings.init_mode, cold_iters=iters, warm_iters=iters, tol=settings.optim.tol,
                     cold_init=load_init(settings.optim.init), colors=preserve_method(settings.style),
                     fill=settings.fill, temporal_relative=True)  # --temporal-weight as for videos


def live_scenes(settings: WebcamSettings) -> ShotDetector | None:
    """A fresh shot detector for the capture thread (``scene_window`` frames of look-ahead), or None
    with ``--no-scene-detect``."""
    if not settings.scene_detect:
        return None
    return ShotDetector(settings.scene_threshold, settings.scene_min_frames, settings.scene_min_content,
                        window=settings.scene_window)


def live_look(settings: WebcamSettings) -> FrameLook:
    """What the window shows of a stylized frame: the camera's colours back with
    ``--preserve-colors luminance`` (the webcam offers no cartoon look)."""
    return FrameLook(preserve_method(settings.style), CartoonSettings(enabled=False))


def _save_png(image_rgb: np.ndarray, path: Path) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"cannot encode {path}")
    encoded.tofile(str(path))


def save_snapshot(folder: str | os.PathLike, stylized: np.ndarray, original: np.ndarray, number: int) -> list[str]:
    """Write ``vidstyle-<time>-<number>-stylized.png`` and ``...-original.png``; their paths."""
    stem = Path(folder) / f"vidstyle-{time.strftime('%Y%m%d-%H%M%S')}-{number:03d}"
    paths = [Path(f"{stem}-stylized.png"), Path(f"{stem}-original.png")]
    _save_png(stylized, paths[0])
    _save_png(original, paths[1])
    return [str(p) for p in paths]


#: What ``--record`` encodes with (VideoWriter's defaults; a container that cannot hold H.264 gets its own).
RECORD_CODEC, RECORD_CRF = "libx264", 18


class Recorder:
    """The ``--record`` file: opened (through ``stack``) at the size of the first view written,
    which fixes its layout: the stylized frame, or the camera image beside it if that was shown
    when recording began. Later toggles of the window's view do not squeeze it (see :func:`run_loop`)."""

    def __init__(self, path: str, rate: Fraction, stack: contextlib.ExitStack, codec: str = "libx264") -> None:
        self.path, self.rate, self._stack, self.codec = path, rate, stack, codec
        self._writer: VideoWriter | None = None
        self.size: tuple[int, int] | None = None  # (w, h) once opened
        self.side_by_side: bool | None = None  # the layout, once opened

    def write(self, view: np.ndarray, side_by_side: bool, pts: int) -> None:
        if self._writer is None:
            self.size, self.side_by_side = (view.shape[1], view.shape[0]), side_by_side
            self._writer = self._stack.enter_context(
                VideoWriter(self.path, *self.size, time_base=Fraction(1, 1000), rate=self.rate, codec=self.codec))
        self._writer.write(np.ascontiguousarray(view), pts)


class _StopNow(Exception):
    """q, Esc or the window's close button while a frame is being stylized."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


#: While a frame is optimised, keys are read at its checks, at most this often (seconds): each
#: read waits about 1 ms in the GUI's event loop.
KEY_POLL_INTERVAL = 0.03

#: After this many frames, a rate below SLOW_FPS is reported once as a warning.
SLOW_CHECK_FRAMES, SLOW_FPS = 5, 5.0


def run_loop(
    stylizers: Sequence[LiveStylizer],
    names: Sequence[str],
    grabber: LatestFrameGrabber,
    settings: WebcamSettings,
    *,
    display: Display | None = None,
    recorder: Recorder | None = None,
    on_frame: Callable[[ShownFrame], None] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> WebcamResult:
    """Take the newest frame, stylize it through the frame chain, show it, record it; until a stop.

    ``recorder`` (or None) gets what the window shows without the text overlay, in the layout
    it started with, timed by capture time (with ``every_frame``, by the file's frame rate).
    Keys are read from ``display`` (none when headless) between frames and, at most every
    ``KEY_POLL_INTERVAL`` s, at the optimiser's checks within a frame: q, Esc and closing the
    window stop at once (the frame in progress is dropped); other keys act after the frame.
    Ctrl-C ends the loop like ``q`` does, so a recording is still finished.
    """
    source = grabber.source
    size = grabber.size
    state = WebcamState(n_styles=len(stylizers), iters=max(1, settings.optim.iters),
                        side_by_side=settings.side_by_side)
    rule, look = live_rule(settings, state.iters), live_look(settings)
    # The grabber computes each frame's motion; this estimator is for the rare frame whose motion
    # was computed against another frame than the one stylized before it.
    estimator = FlowEstimator(settings.flow_preset) if settings.init_mode == "flow" else None
    result = WebcamResult("", "", source.name, source.kind, size,
                          record_path=settings.record if recorder is not None else None)
    recent: deque[float] = deque(maxlen=1000)
    latency_total = process_total = 0.0
    previous: tuple[CapturedFrame, torch.Tensor] | None = None  # the last frame taken, and its stylization
    shown: tuple[np.ndarray, np.ndarray, int] | None = None  # stylized, original, iterations
    fps, last_shown_at, interval = 0.0, None, None
    pts_origin, last_pts = None, -1
    warned_slow = False
    emit = on_event or (lambda message: None)
    pending: deque[int] = deque()  # keys read during a frame, handled after it
    frame_rate = source.fps or FALLBACK_FPS
    last_poll = 0.0

    def keys_during_frame(iteration: int, loss: float) -> None:
        nonlocal last_poll
        now = time.perf_counter()
        if display is None or now - last_poll < KEY_POLL_INTERVAL:
            return
        last_poll = now
        key = display.poll_key(1)
        if key is not None:
            if handle_key(state, key)[0].quit:
                raise _StopNow("quit", "quit by key")
            pending.append(key)
        if display.closed():
            raise _StopNow("window closed", "window closed")

    def overlay() -> list[str]:
        style = f"style: {names[state.style_index]}"
        if len(names) > 1:
            style += f" ({state.style_index + 1}/{len(names)})"
        first = f"{fps:4.1f} fps  {state.iters} it/frame  {style}"
        flags = ("  PAUSED" if state.paused else "") + ("  REC" if recorder is not None else "")
        latency = recent[-1] * 1000 if recent else 0.0
        return [first, f"latency {latency:.0f} ms  dropped {grabber.dropped}{flags}"]

    def redraw() -> None:
        if display is not None and shown is not None:
            display.show(compose_view(shown[0], shown[1], state.side_by_side), overlay(),
                         panes=2 if state.side_by_side else 1)

    start = time.perf_counter()
    stop_reason, message = "", ""
    try:
        while True:
            if settings.max_frames is not None and result.processed >= settings.max_frames:
                stop_reason, message = "max frames", f"{settings.max_frames} frames stylized (--max-frames)"
                break
            if settings.seconds is not None and time.perf_counter() - start >= settings.seconds:
                stop_reason, message = "seconds", f"{settings.seconds:g} s passed (--seconds)"
                break
            if display is not None:
                key = pending.popleft() if pending else display.poll_key(30 if state.paused else 1)
                before = state
                state, action = handle_key(state, key)
                if action == SNAPSHOT:
                    if shown is None:
                        emit("no frame to save yet")
                    else:
                        try:
                            number = len(result.snapshots) // 2 + 1
                            paths = save_snapshot(settings.snapshot_dir, shown[0], shown[1], number)
                        except OSError as error:
                            emit(f"cannot save a snapshot in {settings.snapshot_dir}: {error}")
                        else:
                            result.snapshots += paths
                            emit(f"saved snapshot {paths[0]} and {paths[1]}")
                if state.style_index != before.style_index:
                    previous = None  # a new style starts again from the camera image
                    emit(f"style {names[state.style_index]}")
                if state != before and not state.quit:
                    redraw()
                if state.quit:
                    stop_reason, message = "quit", "quit by key"
                    break
                if display.closed():
                    stop_reason, message = "window closed", "window closed"
                    break
                if state.paused:
                    continue  # the grabber keeps replacing its one frame: those count as dropped
            frame = grabber.newest(timeout=0.02 if display is not None else 0.5)
            if frame is None:
                if grabber.exhausted:
                    stop_reason = "ended"
                    break
                continue

            began = time.perf_counter()
            stylizer = stylizers[state.style_index]
            item = frame
            warm = previous is not None and not frame.cut  # a new shot starts cold: no motion needed
            if warm and estimator is not None and frame.motion_from != previous[0].index:
                motion = motion_between(estimator, previous[0].image, frame.image)
                if settings.photometric_tol > 0:
                    motion = photometric_check(motion, previous[0].image, frame.image, settings.photometric_tol)
                item = dataclasses.replace(frame, motion=motion, motion_from=previous[0].index)
            elif warm and settings.init_mode == "prev":
                item = dataclasses.replace(frame, motion=still_motion(previous[0].image, frame.image),
                                           motion_from=previous[0].index)
            last_poll = time.perf_counter()
            try:
                styled, cold = stylize_frame(stylizer, item, previous[1] if previous is not None else None,
                                             rule.with_iters(state.iters),
                                             callback=keys_during_frame if display is not None else None,
                                             previous_content=chain_content(rule, previous[0].image, stylizer.device)
                                             if warm and rule.fill == "residual" else None)
            except _StopNow as stop:
                stop_reason, message = stop.reason, stop.message
                break
            previous = (frame, styled.image.detach())
            if frame.cut:
                result.cuts.append(frame.index)
            stylized = look(frame.image, to_uint8(styled.image))
            processed_at = time.perf_counter()
            shown = (stylized, frame.original, styled.iterations)
            view = compose_view(stylized, frame.image, state.side_by_side)
            if recorder is not None:
                if pts_origin is None:
                    pts_origin = frame.index / frame_rate if grabber.keep_all else frame.time
                # Every frame of a file: the file's timing; live: when each frame was captured.
                at = frame.index / frame_rate if grabber.keep_all else frame.time
                pts = max(last_pts + 1, round((at - pts_origin) * 1000))
                layout = state.side_by_side if recorder.side_by_side is None else recorder.side_by_side
                recorder.write(view if layout == state.side_by_side else compose_view(stylized, frame.image, layout),
                               layout, pts)
                last_pts = pts
                result.recorded += 1
            now = time.perf_counter()
            if last_shown_at is not None:  # frames/s from a moving average of the display interval
                interval = now - last_shown_at if interval is None else 0.9 * interval + 0.1 * (now - last_shown_at)
                fps = 1 / max(interval, 1e-6)
            last_shown_at = now
            if display is not None:
                display.show(view, overlay(), panes=2 if state.side_by_side else 1)
            latency = time.perf_counter() - frame.time
            recent.append(latency)
            result.processed += 1
            latency_total += latency
            process_total += processed_at - began
            result.latency_max = max(result.latency_max, latency)
            if on_frame is not None:
                on_frame(ShownFrame(result.processed, frame.index, names[state.style_index], styled.iterations,
                                     latency, processed_at - began, fps, grabber.captured, grabber.dropped,
                                     result.recorded, cold))
            if not warned_slow and result.processed == SLOW_CHECK_FRAMES:
                warned_slow = True
                rate = result.processed / (time.perf_counter() - start)
                if rate < SLOW_FPS:
                    device = getattr(stylizer, "device", "?")
                    warnings.warn(f"only {rate:.1f} frames/s on {device} at {size[0]}x{size[1]} with {state.iters} "
                                  f"iterations per frame; a smaller --size, fewer --iters or a GPU is faster",
                                  stacklevel=2)
    except KeyboardInterrupt:
        stop_reason, message = "interrupted", "interrupted"
    result.elapsed = time.perf_counter() - start
    grabber.stop()
    if stop_reason == "ended":
        message = _ended_message(source, grabber)
    result.stop_reason, result.message = stop_reason, message
    result.captured, result.dropped = grabber.captured, grabber.dropped
    result.latencies = list(recent)
    if result.processed:
        result.latency_mean = latency_total / result.processed
        result.process_mean = process_total / result.processed
    return result


def _ended_message(source: FrameSource, grabber: LatestFrameGrabber) -> str:
    after = f"after {grabber.captured} frames"
    why = f" ({grabber.error})" if grabber.error else ""
    if source.kind == "file":
        return f"end of {source.name} reached {after}{why}"
    if source.kind == "camera":
        return f"{source.name} stopped delivering frames {after} (disconnected?){why}"
    return f"{source.name} stopped delivering frames {after} (stream ended or connection lost){why}"


# -- a whole session ---------------------------------------------------------------------------


def build_stylizers(styles: Sequence[torch.Tensor], settings: WebcamSettings, *,
                    extractor: VGGFeatures | None = None, progress: bool = True) -> list[Any]:
    """One Stylizer per style image (``n`` and ``p`` switch between them), sharing one network,
    all from :func:`~vidstyle.core.factory.build_stylizer`."""
    single = dataclasses.replace(settings, style=dataclasses.replace(settings.style, blend=None))
    first = build_stylizer(single, styles[:1], extractor=extractor, progress=progress)
    return [first, *(build_stylizer(single, [image], extractor=first.extractor) for image in styles[1:])]


def check_record(settings: WebcamSettings) -> str:
    """The ``--record`` file checked as the video command checks its output (writable, not the
    camera file, not an existing file without ``overwrite``, a container and encoder that work:
    WebM gets its own encoder, VP9); the encoder to record with. Raises :class:`WebcamError`."""
    record, camera = settings.record, str(settings.camera)
    check_writable(record, "recording")
    if Path(camera).is_file() and Path(camera).resolve() == Path(record).resolve():
        raise WebcamError(f"the recording would overwrite the camera file {camera}; choose another --record")
    if Path(record).exists() and not settings.overwrite:
        raise WebcamError(f"{record} exists; pass --overwrite to replace it")
    try:
        plan = plan_output(record, RECORD_CODEC, crf=RECORD_CRF, explicit_codec=False, audio_source=None)
    except OutputError as error:
        raise WebcamError(f"--record {error}") from None
    return plan.codec  # no audio is recorded, so the plan's only note would be the encoder change


def run_session(
    settings: WebcamSettings,
    styles: Sequence[Any],
    *,
    names: Sequence[str] | None = None,
    extractor: Any = None,
    stylizers: Sequence[LiveStylizer] | None = None,
    source: FrameSource | None = None,
    display: Display | None = None,
    on_frame: Callable[[ShownFrame], None] | None = None,
    on_event: Callable[[str], None] | None = None,
    progress: bool = True,
    record_codec: str | None = None,
) -> WebcamResult:
    """Check the outputs and the display, open the camera, build the stylizers (style targets
    for every style computed here, once), then run :func:`run_loop` and close everything.

    ``styles`` are loaded (1, 3, H, W) tensors, checked by the caller before this opens the
    camera. ``extractor``, ``stylizers``, ``source`` and ``display`` replace the real ones (tests,
    benchmarks). ``record_codec``: what :func:`check_record` returned, when the caller already
    checked the ``--record`` file (it is not checked twice). A recording is finished whenever the
    loop ends without an error.
    """
    names = list(names) if names else [Path(p).stem for p in settings.style.paths] or \
        [f"style{i + 1}" for i in range(len(styles))]
    codec = record_codec
    if settings.record is not None and codec is None:
        codec = check_record(settings)  # before the camera opens
    if not settings.headless:
        check_writable(Path(settings.snapshot_dir) / "snapshot.png", "snapshot")
        if display is None:
            screen = check_display()  # the screen's size where it can be found
            display = WindowDisplay(display_size=settings.display_size, screen=screen)
    elif display is not None:
        raise ValueError("a display was given for a headless run")

    try:
        with quiet_opencv():
            if source is None:
                source = open_camera(settings.camera)
            try:
                if settings.every_frame and source.kind != "file":
                    raise WebcamError(f"--every-frame needs a video file as --camera; {source.name} is live and "
                                      "cannot wait for the stylizer (for a file at its full rate, use "
                                      "`vidstyle video`)")
                size = working_size(source.width, source.height, settings.size)
                if on_event is not None:
                    rate = f" at {source.fps:g} fps" if source.fps else ""
                    on_event(f"{source.name}: {source.width}x{source.height}{rate}; stylizing at {size[0]}x{size[1]}")
                if stylizers is None:
                    stylizers = build_stylizers(styles, settings, extractor=extractor, progress=progress)
                    for stylizer in stylizers:  # style Gram targets, once, at the working size
                        stylizer.style_grams(max(size))
                if len(names) != len(stylizers):
                    raise ValueError(f"{len(names)} style names for {len(stylizers)} stylizers")
                grabber = LatestFrameGrabber(source, size, keep_all=settings.every_frame,
                                             flow_preset=settings.flow_preset if settings.init_mode == "flow" else None,
                                             photometric_tol=settings.photometric_tol, scenes=live_scenes(settings))
                with contextlib.ExitStack() as stack:
                    recorder = None
                    if settings.record is not None:
                        rate = Fraction(source.fps or FALLBACK_FPS).limit_denominator(1001)
                        recorder = Recorder(settings.record, rate, stack, codec)
                    grabber.start()
                    try:
                        result = run_loop(stylizers, names, grabber, settings, display=display, recorder=recorder,
                                          on_frame=on_frame, on_event=on_event)
                    finally:
                        grabber.stop()
            finally:
                source.close()
    except VideoError as error:  # the recording could not be written
        raise WebcamError(f"recording failed: {error}") from error
    finally:
        if display is not None:
            display.close()
    result.weights = getattr(stylizers[0], "weights_label", "") if stylizers else ""
    return result
