"""The live preview's window and keys: what the window shows, and what each key changes.

Keys are a pure function (:func:`handle_key`) from one :class:`WebcamState` to the next; the
window (:class:`WindowDisplay`) is OpenCV ``imshow``/``waitKey`` with a text overlay, and
:func:`check_display` tells in advance whether a window can be opened here.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from .camera import WebcamError


class DisplayError(WebcamError):
    """No window can be opened here."""


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


#: Run in a child process: can an OpenCV window be opened?
_WINDOW_PROBE = ("import cv2; cv2.namedWindow('vidstyle-probe'); cv2.waitKey(1); cv2.destroyAllWindows(); "
                 "cv2.waitKey(1)")

#: Run in another child process: the screen's size through Tk (OpenCV has no call for it).
_SCREEN_PROBE = ("import tkinter; root = tkinter.Tk(); root.withdraw(); "
                 "print('screen', root.winfo_screenwidth(), root.winfo_screenheight()); root.destroy()")


@dataclass(frozen=True)
class DisplayProbe:
    """Whether a window can be opened here (``problem`` says why not) and, if known, the
    screen's size in pixels (w, h)."""

    problem: str | None
    screen: tuple[int, int] | None = None


def parse_screen(text: str) -> tuple[int, int] | None:
    """The screen size in the Tk probe's output (``screen W H``) or in ``xdpyinfo``'s
    (``dimensions:    1280x800 pixels``); None if neither is there."""
    found = re.search(r"^screen (\d+) (\d+)$", text, re.M) or re.search(r"dimensions:\s+(\d+)x(\d+) pixels", text)
    if found is None:
        return None
    width, height = int(found.group(1)), int(found.group(2))
    return (width, height) if width > 0 and height > 0 else None


def screen_size(timeout: float = 5.0) -> tuple[int, int] | None:
    """The screen's size (w, h): from Tk in a child process (so a Tk problem cannot hurt this
    one), else from ``xdpyinfo`` on X11; None when neither answers within ``timeout`` s."""
    commands = [[sys.executable, "-c", _SCREEN_PROBE]]
    if os.environ.get("DISPLAY"):
        commands.append(["xdpyinfo"])
    for command in commands:
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            continue
        screen = parse_screen(out.stdout) if out.returncode == 0 else None
        if screen is not None:
            return screen
    return None


def probe_display(probe_timeout: float = 20.0) -> DisplayProbe:
    """Can an OpenCV window be opened here, and how large is the screen?

    On Linux and other X11/Wayland systems an unset DISPLAY and WAYLAND_DISPLAY is enough to
    know. Otherwise a child process opens and closes a window: OpenCV's Qt backend aborts
    the whole process when it cannot reach the display, so this must not run in ours. Where
    it can, :func:`screen_size` is asked too; an unknown size is not an error (the window then
    keeps ``--display-size``).
    """
    unix_gui = not sys.platform.startswith(("win", "darwin", "cygwin"))
    if unix_gui and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return DisplayProbe("no display available (neither DISPLAY nor WAYLAND_DISPLAY is set)")
    where = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "this system"
    try:
        probe = subprocess.run([sys.executable, "-c", _WINDOW_PROBE], capture_output=True, text=True,
                               timeout=probe_timeout)
    except subprocess.TimeoutExpired:
        return DisplayProbe(f"opening a window on display {where} did not finish within {probe_timeout:g} s")
    except OSError as error:
        return DisplayProbe(f"cannot check the display ({error.strerror})")
    if probe.returncode == 0:
        return DisplayProbe(None, screen_size())
    lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
    fallback = lines[-1] if lines else f"exit status {probe.returncode}"
    detail = next((line for line in lines if "display" in line.lower()), fallback)
    return DisplayProbe(f"cannot open a window on display {where} ({detail})")


def display_problem(probe_timeout: float = 20.0) -> str | None:
    """Why no OpenCV window can be opened here, or None if one can (see :func:`probe_display`)."""
    return probe_display(probe_timeout).problem


def check_display() -> tuple[int, int] | None:
    """Raise :class:`DisplayError` (suggesting ``--headless``) if no window can be opened;
    otherwise the screen size (w, h) if it could be found, else None."""
    probe = probe_display()
    if probe.problem is not None:
        raise DisplayError(f"{probe.problem}; use --headless (with --record OUT.mp4 to keep the result)")
    return probe.screen


#: The share of the screen a window may take (room for its title bar and the desktop's panels).
SCREEN_SHARE = (0.92, 0.85)


def window_scale(view: tuple[int, int], panes: int, display_size: int,
                 screen: tuple[int, int] | None) -> float:
    """How much the window scales a view of ``view`` = (w, h) made of ``panes`` images side by
    side: each pane's long side becomes ``display_size``, unless the whole view would then not
    fit ``SCREEN_SHARE`` of ``screen`` = (w, h), in which case it is shrunk to fit."""
    width, height = view
    scale = display_size / max(width / panes, height)
    if screen is not None:
        scale = min(scale, screen[0] * SCREEN_SHARE[0] / width, screen[1] * SCREEN_SHARE[1] / height)
    return scale


def window_size(view: tuple[int, int], panes: int, display_size: int,
                screen: tuple[int, int] | None) -> tuple[int, int]:
    """The (w, h) the window shows a view of ``view`` = (w, h) at (see :func:`window_scale`)."""
    scale = window_scale(view, panes, display_size, screen)
    return max(1, round(view[0] * scale)), max(1, round(view[1] * scale))


def compose_view(stylized: np.ndarray, original: np.ndarray, side_by_side: bool) -> np.ndarray:
    """The image to show: the stylized frame, or the camera image and it side by side (RGB)."""
    if not side_by_side:
        return stylized
    if original.shape[:2] != stylized.shape[:2]:
        original = cv2.resize(original, stylized.shape[1::-1], interpolation=cv2.INTER_AREA)
    return np.hstack([original, stylized])


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

    def show(self, image_rgb: np.ndarray, lines: Sequence[str], panes: int = 1) -> None: ...

    def poll_key(self, delay_ms: int) -> int | None: ...

    def closed(self) -> bool: ...

    def close(self) -> None: ...


class WindowDisplay:
    """An OpenCV window; the image is scaled by :func:`window_size` (each pane's long side
    ``display_size``, the whole within ``screen`` when its size is known)."""

    def __init__(self, title: str = "vidstyle webcam", display_size: int = 960,
                 screen: tuple[int, int] | None = None) -> None:
        self.title, self.display_size, self.screen = title, display_size, screen
        self._opened = False

    def show(self, image_rgb: np.ndarray, lines: Sequence[str], panes: int = 1) -> None:
        h, w = image_rgb.shape[:2]
        size = window_size((w, h), panes, self.display_size, self.screen)
        bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
        if size != (w, h):
            interpolation = cv2.INTER_LINEAR if size[0] > w else cv2.INTER_AREA
            bgr = cv2.resize(bgr, size, interpolation=interpolation)
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
