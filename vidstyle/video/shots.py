"""Shot detection: where a hard cut starts a new shot, found on the decoded frames.

PySceneDetect's :class:`~scenedetect.AdaptiveDetector`, fed frame by frame in the decode
thread: each frame's content score (mean change of hue, saturation and luminance against the
frame before, 0-255) is compared with the mean score of the ``window`` frames on either side,
and a frame is a cut when that ratio reaches ``threshold`` and its score ``min_content``. The
ratio is what tells a cut from fast motion: measured on the team's clips at 256 px, the plain
``ContentDetector`` (fixed threshold 27) marks 16 of the 25 frames of the hand-held
``video_fire_vfr_rot180.mp4`` as cuts, the adaptive one none, and both find every splice
between clips. It decides a frame ``window`` frames later, so :func:`mark_cuts` holds that many
frames back. The frame chain cold-starts the first frame of every shot
(:func:`vidstyle.video.chain.plan_frame`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Shot:
    """Frames ``[first, end)`` of a run, between two cuts (or the run's ends)."""

    first: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.first


class ShotDetector:
    """Feeds frames, in order, to PySceneDetect's adaptive detector; reports cuts by position.

    ``threshold``: the adaptive ratio (a frame's content score over its neighbours' mean) at or
    above which a frame is a cut (PySceneDetect's default is 3). ``min_content``: the least
    content score of a cut. ``min_frames``: no cut within this many frames of the previous cut
    or of the first frame fed. ``window``: frames on either side averaged; a frame's verdict
    comes ``window`` frames after it. One detector per decoded sequence.
    """

    def __init__(self, threshold: float, min_frames: int, min_content: float = 15.0, window: int = 2) -> None:
        from scenedetect import AdaptiveDetector, FrameTimecode

        if threshold <= 0 or min_frames < 1 or window < 1:
            raise ValueError(f"need threshold > 0, min_frames >= 1 and window >= 1, got {threshold}, {min_frames}, "
                             f"{window}")
        self.threshold, self.min_frames, self.window = float(threshold), int(min_frames), int(window)
        self._detector = AdaptiveDetector(adaptive_threshold=self.threshold, min_scene_len=self.min_frames,
                                          window_width=self.window, min_content_val=float(min_content))
        self._timecode = FrameTimecode
        self.fed = 0

    def feed(self, rgb: np.ndarray) -> list[int]:
        """Feed HxWx3 uint8 RGB ``rgb`` (position ``fed``); the positions found to be cuts so far
        (each frame's verdict comes ``window`` frames after it)."""
        timecode = self._timecode(self.fed, fps=25.0)  # positions only: the rate plays no part
        self.fed += 1
        cuts = self._detector.process_frame(timecode, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return [int(cut.frame_num) for cut in cuts]


def mark_cuts(items: Iterable[T], detector: ShotDetector, image: Callable[[T], np.ndarray]) -> Iterator[tuple[T, bool]]:
    """``(item, cut)`` for each of ``items`` in order, ``cut`` True where a new shot starts.

    Items are held back ``detector.window`` frames, until their verdict is known; the last
    ``window`` frames of a stream are never cuts (nothing comes after them to compare). If
    ``items`` raises, the held items are yielded first, then the error is raised.
    """
    pending: deque[tuple[int, T]] = deque()
    cuts: set[int] = set()
    try:
        for item in items:
            position = detector.fed
            cuts.update(detector.feed(image(item)))
            pending.append((position, item))
            while len(pending) > detector.window:
                at, held = pending.popleft()
                yield held, at in cuts
    except Exception:  # a decode error: the frames before it are still delivered, then the error
        while pending:
            at, held = pending.popleft()
            yield held, at in cuts
        raise
    while pending:
        at, held = pending.popleft()
        yield held, at in cuts


def find_cuts(frames: Iterable[np.ndarray], threshold: float, min_frames: int, min_content: float = 15.0) -> list[int]:
    """Positions (0-based, in ``frames``) of the frames that start a new shot."""
    detector = ShotDetector(threshold, min_frames, min_content)
    return [i for i, (_, cut) in enumerate(mark_cuts(frames, detector, lambda frame: frame)) if cut]


def shots_from_cuts(cuts: Sequence[int], first: int, end: int) -> list[Shot]:
    """The shots of frames ``[first, end)`` cut at ``cuts`` (frame numbers; others ignored)."""
    bounds = [first, *sorted(c for c in set(cuts) if first < c < end), end]
    return [Shot(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
