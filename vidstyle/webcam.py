"""Live preview: a camera feed stylized a few optimiser iterations per frame.

The pieces, each testable alone:

* a **source** (:class:`OpenCVSource` for a camera index, a video file or a stream URL;
  :class:`SyntheticSource` for benchmarks) that returns RGB frames;
* a **capture thread** (:class:`LatestFrameGrabber`) that keeps only the newest frame: when
  stylization is slower than the camera, older frames are dropped and counted, never queued,
  so latency cannot build up (OpenCV's ``samples/python/video_threaded.py`` measures the same
  capture-to-display latency);
* **keys** as a pure function (:func:`handle_key`) from a :class:`WebcamState` to the next;
* a **display** (:class:`WindowDisplay`, OpenCV ``imshow``/``waitKey``, scaled up, with an
  overlay of frames/s, iterations per frame and the style name);
* the **loop** (:func:`run_loop`): newest frame -> warm-started stylize -> show -> record;
* :func:`run_session`, which opens and closes all of the above in the right order.

Nothing here prints: progress goes to ``on_frame``, messages to ``on_event``, and a
:class:`WebcamResult` says how the run went and why it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import subprocess
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from .errors import VidstyleError
from .settings import WebcamSettings


class WebcamError(VidstyleError):
    """An expected failure of the live preview (camera, display, recording)."""


class CameraError(WebcamError):
    """The camera source cannot be opened or delivers no frames."""


class DisplayError(WebcamError):
    """No window can be opened here."""


# -- sources -------------------------------------------------------------------------------

#: Consecutive failed reads after which a live source counts as gone (a file ends at once).
LIVE_READ_RETRIES = 5
_FALLBACK_FPS = 30.0


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
        self.pace_fps = (fps or _FALLBACK_FPS) if kind == "file" else None
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


def working_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) with the shorter side ``short_side`` (never above the source's), both even."""
    if width < 2 or height < 2:
        raise ValueError(f"invalid camera frame size {width}x{height}")
    scale = min(1.0, short_side / min(width, height))

    def even(value: float, limit: int) -> int:
        return max(2, min(2 * math.floor(value / 2 + 0.5), limit - limit % 2))

    return even(width * scale, width), even(height * scale, height)


@dataclass(frozen=True, eq=False)
class CapturedFrame:
    """One camera frame: ``index`` in capture order, ``time`` (``time.perf_counter``) when it
    arrived, ``image`` at the working size and ``original`` as captured (both RGB uint8)."""

    index: int
    time: float
    image: np.ndarray
    original: np.ndarray


class LatestFrameGrabber:
    """Reads ``source`` in its own thread and keeps only the newest frame.

    A frame that is replaced before the loop took it is *dropped* (counted in ``dropped``);
    at most one frame ever waits, so memory is bounded and the frame the loop gets is never
    older than one camera interval. After :meth:`stop`, ``captured == taken + dropped``.
    ``ended`` turns true when the source stops delivering (end of file, camera gone); then
    ``error`` holds the exception text if reading raised.
    """

    def __init__(self, source: FrameSource, size: tuple[int, int]) -> None:
        self.source = source
        self.size = size
        self.captured = self.taken = self.dropped = 0
        self.ended = False
        self.error: str | None = None
        self._slot: CapturedFrame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vidstyle-capture", daemon=True)

    def start(self) -> "LatestFrameGrabber":
        self._thread.start()
        return self

    def _run(self) -> None:
        width, height = self.size
        pace = self.source.pace_fps
        start, delivered, failures = time.perf_counter(), 0, 0
        try:
            while not self._stop.is_set():
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
                with self._cond:
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = CapturedFrame(self.captured, arrived, small, image)
                    self.captured += 1
                    self._cond.notify_all()
        except Exception as error:  # noqa: BLE001 - reported as the reason the source ended
            self.error = f"{type(error).__name__}: {error}"
        finally:
            with self._cond:
                self.ended = True
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
        """Stop the thread; a frame still waiting counts as dropped."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._cond:
            if self._slot is not None:
                self._slot = None
                self.dropped += 1


# -- keys --------------------------------------------------------------------------------

ESC = 27


@dataclass(frozen=True)
class WebcamState:
    """What the keys change. ``style_index`` indexes the styles given on the command line."""

    n_styles: int = 1
    style_index: int = 0
    iters: int = 3
    paused: bool = False
    side_by_side: bool = False
    quit: bool = False


#: The keys and what they do (the CLI's --help shows the same list).
KEYS = (
    ("q, Esc", "quit"),
    ("space", "pause / resume"),
    ("s", "save a snapshot: stylized and original PNG"),
    ("n, p", "next / previous style"),
    ("+, -", "one more / one fewer iteration per frame (= and _ work too)"),
    ("v", "toggle side-by-side with the camera image"),
)

SNAPSHOT = "snapshot"


def handle_key(state: WebcamState, key: int | None) -> tuple[WebcamState, str | None]:
    """The state after ``key`` (a ``cv2.waitKey`` code; None or -1: no key) and an action
    for the loop to perform (``"snapshot"``) or None. Unknown keys change nothing."""
    if key is None or key < 0 or key > 0xFF:
        return state, None
    char = chr(key)
    replace = dataclasses.replace
    if key == ESC or char in "qQ":
        return replace(state, quit=True), None
    if char == " ":
        return replace(state, paused=not state.paused), None
    if char in "sS":
        return state, SNAPSHOT
    if char in "nN":
        return replace(state, style_index=(state.style_index + 1) % state.n_styles), None
    if char in "pP":
        return replace(state, style_index=(state.style_index - 1) % state.n_styles), None
    if char in "+=":
        return replace(state, iters=state.iters + 1), None
    if char in "-_":
        return replace(state, iters=max(1, state.iters - 1)), None
    if char in "vV":
        return replace(state, side_by_side=not state.side_by_side), None
    return state, None


# -- display ---------------------------------------------------------------------------------


def display_problem(probe_timeout: float = 20.0) -> str | None:
    """Why no OpenCV window can be opened here, or None if one can.

    On Linux and other X11/Wayland systems an unset DISPLAY and WAYLAND_DISPLAY is enough to
    know. Otherwise a child process opens and closes a window: OpenCV's Qt backend aborts
    the whole process when it cannot reach the display, so this must not run in ours.
    """
    unix_gui = not sys.platform.startswith(("win", "darwin", "cygwin"))
    if unix_gui and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return "no display available (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    code = "import cv2; cv2.namedWindow('vidstyle-probe'); cv2.waitKey(1); cv2.destroyAllWindows(); cv2.waitKey(1)"
    where = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "this system"
    try:
        probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=probe_timeout)
    except subprocess.TimeoutExpired:
        return f"opening a window on display {where} did not finish within {probe_timeout:g} s"
    except OSError as error:
        return f"cannot check the display ({error.strerror})"
    if probe.returncode == 0:
        return None
    lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
    fallback = lines[-1] if lines else f"exit status {probe.returncode}"
    detail = next((line for line in lines if "display" in line.lower()), fallback)
    return f"cannot open a window on display {where} ({detail})"


def check_display() -> None:
    """Raise :class:`DisplayError` (suggesting ``--headless``) if no window can be opened."""
    problem = display_problem()
    if problem is not None:
        raise DisplayError(f"{problem}; use --headless (with --record OUT.mp4 to keep the result)")


def compose_view(stylized: np.ndarray, original: np.ndarray, side_by_side: bool) -> np.ndarray:
    """The image to show: the stylized frame, or the camera image and it side by side (RGB)."""
    if not side_by_side:
        return stylized
    if original.shape[:2] != stylized.shape[:2]:
        original = cv2.resize(original, stylized.shape[1::-1], interpolation=cv2.INTER_AREA)
    return np.hstack([original, stylized])


def fit_into(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to fit ``size`` = (w, h), aspect kept, centred on black (letterbox)."""
    width, height = size
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas


def draw_overlay(image_bgr: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Write ``lines`` at the top left, white on a darkened box, in place; returns the image.

    (A black outline drawn with a larger thickness does not line up in OpenCV 5, whose
    thickness also changes the glyphs' weight and width.)
    """
    if not lines:
        return image_bgr
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, image_bgr.shape[0] / 720 * 0.7)
    sizes = [cv2.getTextSize(text, font, scale, 1) for text in lines]
    line_height = max(h + base for (_, h), base in sizes) + round(8 * scale)
    pad = round(8 * scale)
    width = min(image_bgr.shape[1], max(w for (w, _), _ in sizes) + 2 * pad)
    height = min(image_bgr.shape[0], line_height * len(lines) + pad)
    box = image_bgr[:height, :width]
    box[:] = (box.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken to 40 %
    for row, (text, ((_, h), _)) in enumerate(zip(lines, sizes)):
        origin = (pad, pad + row * line_height + h)
        cv2.putText(image_bgr, text, origin, font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image_bgr


class Display(Protocol):
    """What the loop shows frames on. Tests use a fake that returns scripted keys."""

    def show(self, image_rgb: np.ndarray, lines: Sequence[str]) -> None: ...

    def poll_key(self, delay_ms: int) -> int | None: ...

    def closed(self) -> bool: ...

    def close(self) -> None: ...


class WindowDisplay:
    """An OpenCV window; the image is scaled so that its short side is ``display_size``."""

    def __init__(self, title: str = "vidstyle webcam", display_size: int = 720) -> None:
        self.title, self.display_size = title, display_size
        self._opened = False

    def show(self, image_rgb: np.ndarray, lines: Sequence[str]) -> None:
        h, w = image_rgb.shape[:2]
        scale = self.display_size / min(h, w)
        bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
        if scale != 1:
            interpolation = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
            bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=interpolation)
        if not self._opened:
            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # no Qt toolbar
            self._opened = True
        cv2.imshow(self.title, draw_overlay(bgr, lines))

    def poll_key(self, delay_ms: int) -> int | None:
        key = cv2.waitKey(max(1, delay_ms))
        return None if key == -1 else key & 0xFF

    def closed(self) -> bool:
        """True once the user closed the window with its close button."""
        if not self._opened:
            return False
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self) -> None:
        cv2.destroyAllWindows()
        cv2.waitKey(1)  # let the GUI backend process the close


# -- the loop ----------------------------------------------------------------------------------


class _Stylizer(Protocol):
    device: Any

    def stylize(self, content: Any, init: Any = None, iters: int | None = None, *, temporal: Any = None) -> Any: ...


@dataclass(frozen=True)
class FrameReport:
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

    @property
    def fps(self) -> float:
        return self.processed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def source_lost(self) -> bool:
        """True if a camera or stream stopped delivering (the end of a file is normal)."""
        return self.stop_reason == "ended" and self.source_kind not in ("file",)


@dataclass
class _Previous:
    rgb: np.ndarray  # the working-size camera frame it was made from
    stylized: Any  # (1, 3, h, w) tensor on the stylizer's device


def stylize_frame(stylizer: _Stylizer, frame: np.ndarray, previous: _Previous | None, iters: int,
                  init_mode: str, estimator: Any) -> Any:
    """One warm-started stylization of ``frame`` (RGB uint8 at the working size).

    The first frame (or ``init_mode="independent"``) starts from the content; later frames from
    the previous stylized frame (``"prev"``) or that frame warped along the optical flow, with
    occlusions filled from the content and the temporal-loss target set (``"flow"``).
    """
    from .flow import warm_start_init
    from .imageio import to_tensor

    content = to_tensor(frame, stylizer.device)
    if previous is None or init_mode == "independent":
        return stylizer.stylize(content, "content", iters)
    if init_mode == "prev":
        return stylizer.stylize(content, previous.stylized, iters)
    init, warped, mask = warm_start_init(previous.stylized, previous.rgb, frame, content, estimator)
    return stylizer.stylize(content, init, iters, temporal=(warped, mask))


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


#: After this many frames, a rate below SLOW_FPS is reported once as a warning.
SLOW_CHECK_FRAMES, SLOW_FPS = 5, 5.0


def run_loop(
    stylizers: Sequence[_Stylizer],
    names: Sequence[str],
    grabber: LatestFrameGrabber,
    settings: WebcamSettings,
    *,
    display: Display | None = None,
    writer: Any = None,
    on_frame: Callable[[FrameReport], None] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> WebcamResult:
    """Take the newest frame, stylize it warm-started, show it, record it; until a stop.

    ``writer`` is an open :class:`vidstyle.video.VideoWriter` (or None) at the working size:
    it gets what the window shows without the text overlay, timed by capture time. Keys are
    read from ``display`` (none when headless). Ctrl-C ends the loop like ``q`` does, so a
    recording is still finished.
    """
    from .flow import FlowEstimator
    from .imageio import to_uint8

    source = grabber.source
    size = grabber.size
    state = WebcamState(n_styles=len(stylizers), iters=max(1, settings.optim.iters))
    estimator = FlowEstimator(settings.flow_preset) if settings.init_mode == "flow" else None
    result = WebcamResult("", "", source.name, source.kind, size,
                          record_path=settings.record if writer is not None else None)
    recent: deque[float] = deque(maxlen=1000)
    latency_total = process_total = 0.0
    previous: _Previous | None = None
    shown: tuple[np.ndarray, np.ndarray, int] | None = None  # stylized, original, iterations
    fps, last_shown_at, interval = 0.0, None, None
    pts_origin, last_pts = None, -1
    warned_slow = False
    emit = on_event or (lambda message: None)

    def overlay() -> list[str]:
        style = f"style: {names[state.style_index]}"
        if len(names) > 1:
            style += f" ({state.style_index + 1}/{len(names)})"
        first = f"{fps:4.1f} fps  {state.iters} it/frame  {style}"
        flags = ("  PAUSED" if state.paused else "") + ("  REC" if writer is not None else "")
        latency = recent[-1] * 1000 if recent else 0.0
        return [first, f"latency {latency:.0f} ms  dropped {grabber.dropped}{flags}"]

    def redraw() -> None:
        if display is not None and shown is not None:
            display.show(compose_view(shown[0], shown[1], state.side_by_side), overlay())

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
                key = display.poll_key(30 if state.paused else 1)
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
            styled = stylize_frame(stylizer, frame.image, previous, state.iters, settings.init_mode, estimator)
            previous = _Previous(frame.image, styled.image.detach())
            stylized = to_uint8(styled.image)
            processed_at = time.perf_counter()
            shown = (stylized, frame.original, styled.iterations)
            view = compose_view(stylized, frame.image, state.side_by_side)
            if writer is not None:
                if pts_origin is None:
                    pts_origin = frame.time
                pts = max(last_pts + 1, round((frame.time - pts_origin) * 1000))
                writer.write(np.ascontiguousarray(fit_into(view, size)), pts)
                last_pts = pts
                result.recorded += 1
            now = time.perf_counter()
            if last_shown_at is not None:  # frames/s from a moving average of the display interval
                interval = now - last_shown_at if interval is None else 0.9 * interval + 0.1 * (now - last_shown_at)
                fps = 1 / max(interval, 1e-6)
            last_shown_at = now
            if display is not None:
                display.show(view, overlay())
            latency = time.perf_counter() - frame.time
            recent.append(latency)
            result.processed += 1
            latency_total += latency
            process_total += processed_at - began
            result.latency_max = max(result.latency_max, latency)
            if on_frame is not None:
                on_frame(FrameReport(result.processed, frame.index, names[state.style_index], styled.iterations,
                                     latency, processed_at - began, fps, grabber.captured, grabber.dropped,
                                     result.recorded))
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


def build_stylizers(styles: Sequence[Any], settings: WebcamSettings, *, extractor: Any = None,
                    progress: bool = True) -> list[Any]:
    """One :class:`~vidstyle.stylizer.Stylizer` per style image, sharing one network.

    Weights and device come from ``settings.model`` unless ``extractor`` is given (tests).
    """
    from .runtime import resolve_device
    from .stylizer import Stylizer

    style = dataclasses.replace(settings.style, blend=None)
    common = dict(loss=settings.loss, optim=settings.optim, style=style)
    if extractor is None:
        first = Stylizer.from_settings([styles[0]], settings.loss, settings.optim, style, settings.model,
                                       progress=progress)
    else:
        first = Stylizer(extractor, [styles[0]], device=resolve_device(settings.model.device),
                         precision=settings.model.precision, compile=settings.model.compile, **common)
    result = [first]
    for image in styles[1:]:
        other = Stylizer(first.extractor, [image], device=first.device, precision=first.precision,
                         compile=settings.model.compile, **common)
        other.weights_label = first.weights_label
        result.append(other)
    return result


def run_session(
    settings: WebcamSettings,
    styles: Sequence[Any],
    *,
    names: Sequence[str] | None = None,
    extractor: Any = None,
    stylizers: Sequence[_Stylizer] | None = None,
    source: FrameSource | None = None,
    display: Display | None = None,
    on_frame: Callable[[FrameReport], None] | None = None,
    on_event: Callable[[str], None] | None = None,
    progress: bool = True,
) -> WebcamResult:
    """Check the outputs and the display, open the camera, build the stylizers (style targets
    for every style computed here, once), then run :func:`run_loop` and close everything.

    ``styles`` are loaded (1, 3, H, W) tensors, checked by the caller before this opens the
    camera. ``extractor``, ``stylizers``, ``source`` and ``display`` replace the real ones (tests,
    benchmarks). A recording is finished whenever the loop ends without an error.
    """
    from .imageio import check_writable
    from .video import VideoError, VideoWriter

    names = list(names) if names else [Path(p).stem for p in settings.style.paths] or \
        [f"style{i + 1}" for i in range(len(styles))]
    if settings.record is not None:
        check_writable(settings.record, "recording")
    if not settings.headless:
        check_writable(Path(settings.snapshot_dir) / "snapshot.png", "snapshot")
        if display is None:
            check_display()
            display = WindowDisplay(display_size=settings.display_size)
    elif display is not None:
        raise ValueError("a display was given for a headless run")

    try:
        with quiet_opencv():
            if source is None:
                source = open_camera(settings.camera)
            try:
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
                grabber = LatestFrameGrabber(source, size)
                writer: Any = None
                if settings.record is not None:
                    rate = Fraction(source.fps or _FALLBACK_FPS).limit_denominator(1001)
                    writer = VideoWriter(settings.record, size[0], size[1], time_base=Fraction(1, 1000), rate=rate)
                with writer if writer is not None else contextlib.nullcontext():
                    grabber.start()
                    try:
                        result = run_loop(stylizers, names, grabber, settings, display=display, writer=writer,
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
