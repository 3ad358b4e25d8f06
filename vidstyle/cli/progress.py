"""The frame bar of a video run, with an ETA that counts cold and warm frames apart.

tqdm's own ETA divides the frames left by the rate so far; after a cold first frame (the full
``--iters`` budget, often 5-10x a warm frame) that projects the cold frame onto every frame and
reads hours for a minutes-long run. :func:`eta_seconds` instead adds up what the remaining
frames of each kind cost, from what finished frames of that kind took. Cold frames are the
chain's first and the first of every new shot (shot detection): the frames left are expected to
hold cuts at the rate the finished frames did (:func:`cut_rate`).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class FrameTimes:
    """Finished frames of this run so far, cold and warm apart: counts, iterations, seconds."""

    cold_frames: int = 0
    cold_iters: int = 0
    cold_seconds: float = 0.0
    warm_frames: int = 0
    warm_iters: int = 0
    warm_seconds: float = 0.0

    def add(self, iterations: int, seconds: float, cold: bool) -> "FrameTimes":
        """These times with one more finished frame."""
        kind = "cold" if cold else "warm"
        return dataclasses.replace(self, **{
            f"{kind}_frames": getattr(self, f"{kind}_frames") + 1,
            f"{kind}_iters": getattr(self, f"{kind}_iters") + iterations,
            f"{kind}_seconds": getattr(self, f"{kind}_seconds") + seconds,
        })


def eta_seconds(times: FrameTimes, *, cold_left: float, warm_left: float, cold_budget: int,
                warm_budget: float) -> float | None:
    """Seconds the ``cold_left`` cold and ``warm_left`` warm frames still to do will take.

    A kind already seen costs what its finished frames took on average (early stopping and
    keyframes included). A kind not seen yet costs its budget (``cold_budget`` iterations, or
    ``warm_budget`` on average per warm frame) times the seconds per iteration of the other
    kind. None while nothing can be said (no finished frame, or no iteration to time).
    """

    def per_frame(frames: int, seconds: float, budget: float, other_iters: int, other_seconds: float) -> float | None:
        if frames:
            return seconds / frames
        if other_iters:
            return budget * other_seconds / other_iters
        return None

    total = 0.0
    for left, mine, other in (
        (cold_left, (times.cold_frames, times.cold_seconds, cold_budget), (times.warm_iters, times.warm_seconds)),
        (warm_left, (times.warm_frames, times.warm_seconds, warm_budget), (times.cold_iters, times.cold_seconds)),
    ):
        if left <= 0:
            continue
        cost = per_frame(*mine, *other)
        if cost is None:
            return None
        total += left * cost
    return total


def frames_left(total: int | None, done: int, *, first_done: bool, independent: bool,
                cut_rate: float = 0.0) -> tuple[float, float] | None:
    """``(cold, warm)`` frames still to stylize out of ``total`` with ``done`` finished (None: unknown total).

    The chain's first frame starts cold, and so does every frame in ``--init-mode independent``
    and the first frame of every new shot: of the frames left after the first, ``cut_rate`` (see
    :func:`cut_rate`) are expected to start a shot, so counts may be fractional. ``first_done``:
    the chain has a previous frame (a frame of this run finished, or a resumed run).
    """
    if total is None:
        return None
    left = max(0, total - done)
    if independent:
        return left, 0
    cold = 0 if first_done or left == 0 else 1
    cuts = min(1.0, max(0.0, cut_rate)) * (left - cold)
    return cold + cuts, left - cold - cuts


def cut_rate(cuts: int, frames: int, min_gap: int = 0) -> float:
    """The share of frames that started a new shot so far: ``cuts`` cold frames among the
    ``frames`` finished after the chain's first (0 before any). Shot detection allows no two
    cuts within ``min_gap`` frames (``VideoSettings.scene_min_frames``), so the share is at most 1 / ``min_gap``:
    one cut early in a run does not make every later frame look like a cut."""
    if frames <= 0 or cuts <= 0:
        return 0.0
    rate = cuts / frames
    return min(rate, 1.0 / min_gap) if min_gap > 0 else rate


def format_seconds(seconds: float) -> str:
    """``75`` -> ``1:15``, ``3725`` -> ``1:02:05``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class FrameBar:
    """The ``frames`` bar of a video run: tqdm for drawing, :func:`eta_seconds` for the ETA.

    ``verbose`` also writes one line per frame (above the bar).
    """

    def __init__(self, *, cold_budget: int, warm_budget: float, independent: bool, quiet: bool,
                 verbose: bool = False, min_cut_gap: int = 0) -> None:
        self.cold_budget, self.warm_budget, self.independent = cold_budget, warm_budget, independent
        self.quiet, self.verbose = quiet, verbose
        self.min_cut_gap = min_cut_gap  # shot detection's least distance between cuts (0: no bound)
        self.times = FrameTimes()
        self.bar = None
        self.total: int | None = None
        self.done = 0
        self.resumed = False
        self.after_first = 0  # frames of this run finished after the chain's first
        self.cuts = 0  # ... of which started cold: the first frames of new shots

    def start(self, total: int | None, done: int) -> None:
        """The run knows its frame count (estimate) and how many an earlier run finished."""
        from tqdm import tqdm

        self.total, self.done, self.resumed = total, done, done > 0
        # Our ETA replaces tqdm's remaining time; it goes in the postfix.
        fmt = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]" if total else None
        self.bar = tqdm(total=total, initial=done, desc="frames", unit="frame", disable=self.quiet,
                        dynamic_ncols=True, bar_format=fmt, file=sys.stderr)

    def frame(self, index: int, iterations: int, loss: float, cold: bool, seconds: float) -> None:
        """One frame finished."""
        chain_first = self.done == 0 and not self.resumed
        self.times = self.times.add(iterations, seconds, cold)
        self.done += 1
        if not chain_first:
            self.after_first += 1
            self.cuts += int(cold and not self.independent)
        eta = self.eta()
        postfix = {"iters": iterations, "loss": f"{loss:.4g}"}
        if eta is not None:
            postfix = {"eta": format_seconds(eta), **postfix}
        if self.bar is None:
            return
        if self.verbose:
            self.bar.write(f"frame {index}: {'cold' if cold else 'warm'}, {iterations} iterations, "
                           f"loss {loss:.4g}, {seconds:.2f} s", file=sys.stderr)
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def eta(self) -> float | None:
        """Seconds the frames left will take (None: unknown), cold frames after cuts included at
        the rate seen so far."""
        rate = cut_rate(self.cuts, self.after_first, self.min_cut_gap)
        left = frames_left(self.total, self.done, first_done=True, independent=self.independent, cut_rate=rate)
        if left is None:
            return None
        return eta_seconds(self.times, cold_left=left[0], warm_left=left[1], cold_budget=self.cold_budget,
                           warm_budget=self.warm_budget)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class PassBar:
    """The bar of a multi-pass run (``--passes N``): every pass runs before any frame is encoded,
    so it counts the frames of all passes (N x the clip's frames); ``verbose`` writes a line per
    frame of each pass. Frames an interrupted run finished are counted as they are loaded."""

    def __init__(self, passes: int, *, quiet: bool, verbose: bool = False) -> None:
        self.passes, self.quiet, self.verbose = passes, quiet, verbose
        self.bar = None

    def start(self, frames: int | None) -> None:
        """The run knows its frame count (estimate, or None)."""
        from tqdm import tqdm

        self.bar = tqdm(total=frames * self.passes if frames else None, desc=f"{self.passes} passes",
                        unit="frame", disable=self.quiet, dynamic_ncols=True, file=sys.stderr)

    def step(self, number: int, position: int, iterations: int) -> None:
        """Frame ``position`` of pass ``number`` finished (0 iterations: done by an earlier run)."""
        if self.bar is None:
            return
        if self.verbose:
            how = f"{iterations} iterations" if iterations else "done before"
            self.bar.write(f"pass {number}, frame {position}: {how}", file=sys.stderr)
        self.bar.set_postfix({"pass": f"{number}/{self.passes}", "iters": iterations}, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
