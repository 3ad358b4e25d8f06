"""Camera sources and the capture thread of the live preview (``vidstyle webcam``).

A source (:class:`OpenCVSource` from :func:`open_camera` for a camera index, a video file or a
stream URL; :class:`SyntheticSource` for benchmarks) returns RGB frames. :class:`LatestFrameGrabber`
reads one in its own thread and keeps only the newest frame.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from ..errors import VidstyleError
from ..media.video_files import processing_size
from ..video.chain import photometric_check
from ..video.flow import FlowEstimator, Motion, motion_between
from ..video.shots import ShotDetector


class WebcamError(VidstyleError):
    """An expected failure of the live preview (camera, display, recording)."""


class CameraError(WebcamError):
    """The camera source cannot be opened or delivers no frames."""


# -- sources -------------------------------------------------------------------------------


#: Consecutive failed reads after which a live source counts as gone (a file ends at once).
LIVE_READ_RETRIES = 5

FALLBACK_FPS = 30.0  # what a source that states no frame rate is assumed to deliver


class FrameSource(Protocol):
    """What the capture thread reads from: RGB ``HxWx3`` uint8 frames, ``None`` when there are none.

    ``kind`` is ``"camera"``, ``"stream"``, ``"file"`` or ``"synthetic"``; ``pace_fps`` (if not
    None) makes the capture thread deliver frames at that rate, the way a camera would.
    """

    name: str
    kind: str
    width: int
    height: int
    fps: float | None
    pace_fps: float | None
    retries: int

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


def parse_camera(text: str | int) -> int | str:
    """``"0"`` -> camera index 0; anything else is a file path or a stream URL."""
    if isinstance(text, int):
        return text
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() else text


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class OpenCVSource:
    """A ``cv2.VideoCapture`` (camera index, video file or stream URL) returning RGB frames.

    Build it with :func:`open_camera`. A file is played at its own frame rate (``pace_fps``),
    like a camera, so frames are dropped when stylization is slower than the video.
    """

    def __init__(self, capture: Any, name: str, kind: str, first: np.ndarray, fps: float | None) -> None:
        self._capture = capture
        self.name, self.kind, self.fps = name, kind, fps
        self.height, self.width = first.shape[:2]
        self.pace_fps = (fps or FALLBACK_FPS) if kind == "file" else None
        self.retries = 1 if kind == "file" else LIVE_READ_RETRIES
        self._first: np.ndarray | None = first  # read at open time to learn the size

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            image, self._first = self._first, None
            return image
        ok, image = self._capture.read()
        return _to_rgb(image) if ok and image is not None else None

    def close(self) -> None:
        self._capture.release()


def describe_source(source: int | str) -> str:
    return f"camera {source}" if isinstance(source, int) else str(source)


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log lines (failed opens print several) while the preview runs."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    # OpenCV's FFmpeg backend reads this once, when it first opens something (-8: quiet).
    set_env = "OPENCV_FFMPEG_LOGLEVEL" not in os.environ
    if set_env:
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = "-8"
    previous = logging.getLogLevel() if logging is not None else None
    if logging is not None:
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        if logging is not None:
            logging.setLogLevel(previous)
        if set_env:
            os.environ.pop("OPENCV_FFMPEG_LOGLEVEL", None)


def open_camera(spec: str | int, *, timeout_ms: int = 10_000) -> OpenCVSource:
    """Open ``spec`` (an index, a video file or a stream URL) and read its first frame.

    Raises :class:`CameraError` naming the source and suggesting ``--camera`` when it cannot
    be opened or delivers no frame.
    """
    source = parse_camera(spec)
    hint = "choose another with --camera INDEX, --camera VIDEO_FILE or --camera URL"
    if isinstance(source, int):
        kind = "camera"
        capture = cv2.VideoCapture(source)
        failure = f"cannot open camera {source} (no such device, or it is in use); {hint}"
    elif "://" in source:
        kind = "stream"
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
        capture = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
        failure = f"cannot open stream {source} (unreachable, or not a video stream); {hint}"
    else:
        kind = "file"
        path = Path(source)
        if not path.exists():
            raise CameraError(f"camera source not found: {source} (not a camera index or an existing file); {hint}")
        if not path.is_file():
            raise CameraError(f"camera source is not a file: {source}; {hint}")
        capture = cv2.VideoCapture(str(path))
        failure = f"cannot open camera source {source}: not a video OpenCV can read; {hint}"
    if not capture.isOpened():
        capture.release()
        raise CameraError(failure)
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise CameraError(f"{describe_source(source)} opened but delivered no frame; {hint}")
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if fps and math.isfinite(fps) and 0 < fps < 1000 else None
    return OpenCVSource(capture, describe_source(source), kind, _to_rgb(first), fps)


class SyntheticSource:
    """A generated moving test pattern at ``fps`` (for benchmarks and tests): no camera needed.

    ``frames`` limits how many it delivers (None: endless); ``live`` says whether running out
    counts as a camera going away (True) or as the end of a file (False).
    """

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, frames: int | None = None,
                 *, live: bool = True, seed: int = 0) -> None:
        self.name, self.kind = f"synthetic {width}x{height} at {fps:g} fps", "synthetic" if live else "file"
        self.width, self.height, self.fps, self.pace_fps = width, height, fps, fps
        self.retries = 1
        self.frames, self.delivered = frames, 0
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        base = np.stack([xx / width, yy / height, 0.5 + 0.5 * np.sin((xx + yy) / 7.0)], axis=-1)
        base += rng.normal(0, 0.02, base.shape).astype(np.float32)
        self._base = (np.clip(base, 0, 1) * 255).astype(np.uint8)

    def read(self) -> np.ndarray | None:
        if self.frames is not None and self.delivered >= self.frames:
            return None
        t = self.delivered
        self.delivered += 1
        image = np.roll(self._base, (2 * t) % self.width, axis=1)
        side = max(2, min(self.width, self.height) // 4)
        x = int((self.width - side) * (0.5 + 0.5 * math.sin(t / 10.0)))
        y = int((self.height - side) * (0.5 + 0.5 * math.cos(t / 13.0)))
        image[y:y + side, x:x + side] = (230, 60, 40)
        return image

    def close(self) -> None:
        pass


# -- capture thread: newest frame wins ----------------------------------------------------


def working_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(w, h) with the longer side ``long_side`` (never above the source's), both even: the
    video run's rule (:func:`~vidstyle.media.video_files.processing_size`), so ``--size`` means
    the long side here as in ``vidstyle image`` and ``vidstyle video``."""
    if width < 2 or height < 2:
        raise ValueError(f"invalid camera frame size {width}x{height}")
    return processing_size(width, height, max(2, long_side))


@dataclass(frozen=True, eq=False)
class CapturedFrame:
    """One camera frame: ``index`` in capture order, ``time`` (``time.perf_counter``) when it
    arrived, ``image`` at the working size and ``original`` as captured (both RGB uint8).

    ``motion`` (with flow on) is this frame's motion against frame ``motion_from``, the frame
    the loop took before it, computed in the capture thread; None where there was none yet.
    ``cut``: shot detection found a hard cut at this frame or at a frame dropped since the loop
    took its last one, so this frame starts a new shot (the frame chain starts it cold).
    """

    index: int
    time: float
    image: np.ndarray
    original: np.ndarray
    motion: Motion | None = None
    motion_from: int | None = None
    cut: bool = False


class LatestFrameGrabber:
    """Reads ``source`` in its own thread and keeps only the newest frame.

    A frame that is replaced before the loop took it is *dropped* (counted in ``dropped``);
    at most one frame ever waits, so memory is bounded and the frame the loop gets is never
    older than one camera interval. After :meth:`stop`, ``captured == taken + dropped``.
    ``ended`` turns true when the source stops delivering (end of file, camera gone); then
    ``error`` holds the exception text if reading raised.

    ``flow_preset``: a new frame's :class:`~vidstyle.video.flow.Motion` against the frame the
    loop took last is computed here, off the loop's thread, when no other frame is waiting (the
    loop computes it for a frame that arrived while another waited). ``keep_all``: the thread
    waits until the loop has taken a frame before it reads the next, so nothing is dropped (a
    file processed frame by frame rather than watched live). ``scenes``: a fresh shot detector fed
    every frame read (dropped ones too); each frame is held back until its verdict is known
    (``scenes.window`` frames later), so it adds that many camera intervals of latency (``time``
    stays the frame's arrival, so the loop's latency includes the wait; with ``keep_all`` the
    thread reads that many frames ahead of the one waiting).
    """

    def __init__(self, source: FrameSource, size: tuple[int, int], *, flow_preset: str | None = None,
                 photometric_tol: float = 0.0,
                 keep_all: bool = False, scenes: ShotDetector | None = None) -> None:
        self.source = source
        self.scenes = scenes
        self.size = size
        self.flow_preset, self.keep_all = flow_preset, keep_all
        self.photometric_tol = photometric_tol  # the frame chain's photometric check of the flow mask (0: off)
        self.captured = self.taken = self.dropped = 0
        self.ended = False
        self.error: str | None = None
        self._slot: CapturedFrame | None = None
        self._reference: CapturedFrame | None = None  # the frame the loop took last
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vidstyle-capture", daemon=True)

    def start(self) -> "LatestFrameGrabber":
        self._thread.start()
        return self

    def _run(self) -> None:
        width, height = self.size
        pace = self.source.pace_fps
        estimator = FlowEstimator(self.flow_preset) if self.flow_preset else None  # made in this thread
        start, delivered, failures = time.perf_counter(), 0, 0
        held: deque[tuple[int, float, np.ndarray, np.ndarray]] = deque()  # read, verdict not yet known
        cuts: set[int] = set()  # positions (in reading order) found to be cuts, not yet handed out
        try:
            while not self._stop.is_set():
                if self.keep_all and not held:
                    with self._cond:
                        self._cond.wait_for(lambda: self._slot is None or self._stop.is_set())
                    if self._stop.is_set():
                        break
                if pace:
                    delay = start + delivered / pace - time.perf_counter()
                    if delay > 0 and self._stop.wait(delay):
                        break
                image = self.source.read()
                if image is None:
                    failures += 1
                    if failures >= self.source.retries:
                        break
                    self._stop.wait(0.02)
                    continue
                failures = 0
                delivered += 1
                arrived = time.perf_counter()
                if image.shape[:2] != (height, width):
                    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                else:
                    small = image
                if self.scenes is None:
                    self._publish(estimator, small, image, arrived, False)
                    continue
                held.append((self.scenes.fed, arrived, small, image))
                cuts.update(self.scenes.feed(small))
                while len(held) > self.scenes.window and not self._stop.is_set():
                    self._publish_held(estimator, held, cuts)
        except Exception as error:  # noqa: BLE001 - reported as the reason the source ended
            self.error = f"{type(error).__name__}: {error}"
        finally:
            try:  # the last frames of a file (their verdict: no cut, nothing comes after them)
                while held and not self._stop.is_set():
                    self._publish_held(estimator, held, cuts)
            finally:
                with self._cond:
                    self.ended = True
                    self._cond.notify_all()

    def _publish_held(self, estimator: FlowEstimator | None, held: deque, cuts: set[int]) -> None:
        position, arrived, small, image = held.popleft()
        cut = position in cuts
        cuts.discard(position)
        if self.keep_all:
            with self._cond:
                self._cond.wait_for(lambda: self._slot is None or self._stop.is_set())
            if self._stop.is_set():
                return
        self._publish(estimator, small, image, arrived, cut)

    def _publish(self, estimator: FlowEstimator | None, small: np.ndarray, image: np.ndarray, arrived: float,
                 cut: bool) -> None:
        """Hand out a frame (its motion computed first, unless it starts a new shot)."""
        with self._cond:
            # Ahead of the loop only when nothing waits: a frame that arrives while another
            # waits usually replaces it, and flow for dropped frames would be wasted work.
            reference = self._reference if self._slot is None else None
        motion = None
        if estimator is not None and reference is not None and not cut:
            motion = motion_between(estimator, reference.image, small)
            if self.photometric_tol > 0:
                motion = photometric_check(motion, reference.image, small, self.photometric_tol)
        with self._cond:
            if self._slot is not None:
                self.dropped += 1
                cut = cut or self._slot.cut  # a cut at a dropped frame: this one is in the new shot
            self._slot = CapturedFrame(self.captured, arrived, small, image, motion,
                                       reference.index if motion is not None else None, cut)
            self.captured += 1
            self._cond.notify_all()

    def newest(self, timeout: float | None = None) -> CapturedFrame | None:
        """The newest frame not yet taken, waiting up to ``timeout`` s; None if none came
        (check ``ended`` to tell a timeout from the end of the source)."""
        with self._cond:
            if self._slot is None and not self.ended:
                self._cond.wait_for(lambda: self._slot is not None or self.ended, timeout)
            frame, self._slot = self._slot, None
            if frame is not None:
                self.taken += 1
                self._reference = frame
                self._cond.notify_all()
            return frame

    @property
    def pending(self) -> int:
        """Frames waiting for the loop: 0 or 1, never more."""
        with self._cond:
            return int(self._slot is not None)

    @property
    def exhausted(self) -> bool:
        with self._cond:
            return self.ended and self._slot is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread. A frame still waiting was never due (the loop stopped before it: --max-frames, q, a
        held-back look-ahead frame): it is forgotten, not counted as captured nor as dropped."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._cond:
            if self._slot is not None:
                self._slot = None
                self.captured -= 1
