"""Seeks that are checked before their frames are used, so a seek costs time, never pixels.

``container.seek`` followed by decoding can silently give other frames than a sequential decode
of the same file: flat green pictures after every seek with frame threads in an H.264 High 4:4:4
file (issue 15), or, with x264's periodic intra refresh, frames missing until the decoder has
"recovered". So the first seek into a sync sample is checked: the frames decoded after the seek,
up to the first one at or after the requested time, must equal (pts and pixels, bit for bit) the
same frames decoded forward from an earlier point, with slice threads only. Where they differ,
seeking in that file is not trusted for the rest of the run: frames come from the start (or
from a seek that did verify) and the ones before the requested time are dropped, with one
warning line. The verdicts live in a :class:`SeekChecks` object that the caller keeps for its run
(a Ray driver hands its :class:`SeekVerdict` to the tasks); nothing is cached globally.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import numpy as np

from .remux import seek, to_fraction

#: Threads of the reference decode. Frame threading is what broke the seeks of the one file known
#: to fail with wrong pixels (slice threads decoded it right), so the reference does without.
REFERENCE_THREADS = "SLICE"

#: How many ever-earlier seeks the reference tries before it decodes from the start.
_REFERENCE_TRIES = 4

#: Seconds the reference decodes, at most, to start from a trusted point (the start, or a seek that
#: verified) rather than from the sync sample just before: a longer decode than that costs more than
#: the (unlikely) case it guards against, a file whose seeks go wrong the same way in every decoder.
_TRUSTED_REACH = Fraction(5)


class SeekWarning(UserWarning):
    """Seeking gave other frames than decoding forward: this file is read without seeking."""


@dataclass(frozen=True)
class SeekVerdict:
    """What the checks of one run found out about seeking in the file ``path``.

    ``verified`` holds ``(target, landing)`` pairs (stream ticks): a seek to ``target`` decoded
    from ``landing`` on and gave the frames a forward decode gives. ``failed`` holds the targets
    whose check failed; after the first failure the file is no longer ``trusted``: reads then
    start at the latest verified target at or before their start time, or at the very start.
    """

    path: str
    trusted: bool = True
    verified: tuple[tuple[int, int], ...] = ()
    failed: tuple[int, ...] = ()

    def known_landing(self, landing: int, target: int) -> bool:
        """Did a seek that landed on ``landing`` verify, with ``landing <= target`` (so no frame
        between ``target`` and ``landing`` can be missing)?"""
        return landing <= target and any(seen == landing for _, seen in self.verified)

    def resume_target(self, target: int) -> int | None:
        """The latest verified seek target whose frames start at or before ``target`` (None: the start)."""
        usable = [known for known, landing in self.verified if known <= target and landing <= target]
        return max(usable) if usable else None

    def with_verified(self, target: int, landing: int) -> SeekVerdict:
        """This verdict plus a seek to ``target`` that landed on ``landing`` and verified."""
        if (target, landing) in self.verified:
            return self
        return replace(self, verified=(*self.verified, (target, landing)))

    def with_failure(self, target: int) -> SeekVerdict:
        """This verdict after a seek to ``target`` failed its check: no longer trusted."""
        return replace(self, trusted=False, failed=(*self.failed, target))


class SeekChecks:
    """The seek verdicts of one run, one per file; pass the same object to every read of the run.

    ``SeekChecks([verdict])`` starts from verdicts found elsewhere (a Ray task gets the driver's).
    """

    def __init__(self, verdicts: Iterable[SeekVerdict] = ()):
        self._verdicts = {_key(v.path): v for v in verdicts}

    def verdict(self, path: str | os.PathLike) -> SeekVerdict:
        """The verdict for ``path`` so far (trusted with nothing verified if never checked)."""
        return self._verdicts.get(_key(path), SeekVerdict(_key(path)))

    def record(self, verdict: SeekVerdict) -> None:
        """Keep ``verdict`` as its file's verdict for the rest of the run."""
        self._verdicts[_key(verdict.path)] = verdict


def checked_frames(container, stream, path: str, start: Fraction, checks: SeekChecks) -> Iterator[av.VideoFrame]:
    """Decoded frames of ``stream`` from some frame at or before ``start`` seconds on, as a
    sequential decode gives them; the caller drops those before ``start``.

    Seeks ``container`` to ``start`` and checks the seek (:func:`seek_matches_forward_decode`)
    unless ``checks`` already verified where it landed; a seek that lands on the first frame is
    replaced by a decode from the start (no check needed). If the check fails (or the file is
    already untrusted), warns once with :class:`SeekWarning` and decodes a fresh container from
    the latest verified seek target before ``start``, or from the start. The decoder's
    ``thread_type`` is ``stream``'s, as set by the caller.
    """
    time_base = stream.time_base
    target = math.ceil(start / time_base)
    verdict = checks.verdict(path)
    resume = verdict.resume_target(target)
    if verdict.trusted:
        seek(container, stream, start)
        decoded = container.decode(stream)
        try:
            first = next(decoded, None)
        except av.FFmpegError:
            first = None
        frames = itertools.chain([first] if first is not None else [], decoded)
        if first is None or first.pts is None or first.pts > (stream.start_time or 0):
            ok, landing, pending = seek_matches_forward_decode(path, stream, frames, start, verdict)
            if ok:
                checks.record(verdict.with_verified(target, landing))
                yield from pending
                yield from frames
                return
            verdict = verdict.with_failure(target)
            checks.record(verdict)
            resume = verdict.resume_target(target)
            where = "the start" if resume is None else f"a seek to {float(resume * time_base):.3f} s that verified"
            warnings.warn(f"{path}: seeking to {float(start):.3f} s gave other frames than decoding forward; seeking "
                          f"in this file is not trusted: reading from {where} instead (slower, same frames)",
                          SeekWarning, stacklevel=2)
        # else: the seek landed on the very first frame, so decoding from the start costs the same
    with av.open(path) as fresh:  # a decoder no failed seek has touched
        fresh_stream = fresh.streams[stream.index]
        fresh_stream.thread_type = stream.thread_type
        if resume is not None:
            seek(fresh, fresh_stream, resume * time_base)
        yield from fresh.decode(fresh_stream)


def verify_seek(path: str | os.PathLike, start: float | Fraction, checks: SeekChecks, *,
                thread_type: str = "AUTO") -> bool:
    """Check a seek to ``start`` seconds in the first video stream as :func:`checked_frames`
    does (warning if it fails), record the verdict in ``checks``; True if the file stays trusted."""
    path = os.fspath(path)
    with av.open(path) as container:
        stream = next(s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic)
        stream.thread_type = thread_type
        with contextlib.closing(checked_frames(container, stream, path, to_fraction(start), checks)) as frames:
            next(frames, None)
    return checks.verdict(path).trusted


def seek_matches_forward_decode(path: str, stream, decoded: Iterator[av.VideoFrame], start: Fraction,
                                verdict: SeekVerdict | None = None) -> tuple[bool, int | None, list[av.VideoFrame]]:
    """Compare the frames decoded after a seek (``decoded``) with a forward decode of ``path``.

    Every frame from the first decoded one up to the first at or after ``start`` must have the
    pts and the pixels (raw planes, bit for bit) of the same frame decoded, with
    :data:`REFERENCE_THREADS`, from a trusted point (the start, or a seek ``verdict`` verified)
    if that lies within a few seconds, else from the sync sample before both; and no frame of
    that decode at or after ``start`` may be missing. Skipped (True) if ``verdict`` already
    verified a seek that landed where this one did. Returns ``(ok, landing pts, frames to
    keep)``: the frames at or after ``start`` that were consumed (at most one). A decoding error
    on either side, no frame at all, or a frame without pts counts as a mismatch.
    """
    time_base = stream.time_base
    try:
        first = next(decoded, None)
    except av.FFmpegError:
        return False, None, []
    if first is None or first.pts is None:
        return False, None, []
    landing = first.pts
    if verdict is not None and verdict.known_landing(landing, math.ceil(start / time_base)):
        return True, landing, [first]
    low = min(Fraction(landing) * time_base, start)
    anchors = [(seen, known) for known, seen in (verdict.verified if verdict is not None else ()) if seen * time_base < low]
    anchor = max(anchors)[1] * time_base if anchors else None
    trusted = Fraction(stream.start_time or 0) * time_base if anchor is None else anchor
    if low - trusted <= _TRUSTED_REACH:
        reference = _forward_from(path, stream.index, low, anchor)
    else:
        reference = _from_sync_before(path, stream.index, low)
    with contextlib.closing(reference):
        try:
            for frame in itertools.chain([first], decoded):
                expected = next(reference, None)
                if expected is None or frame.pts != expected.pts or not _same_pixels(frame, expected):
                    return False, landing, []
                if frame.pts * time_base >= start:
                    return True, landing, [frame]
            return next(reference, None) is None, landing, []  # nothing at or after start, on both sides
        except av.FFmpegError:
            return False, landing, []


# ---------------------------------------------------------------------------------------------
# Helpers


def _forward_from(path: str, index: int, low: Fraction, anchor: Fraction | None) -> Iterator[av.VideoFrame]:
    """Frames of stream ``index`` with time >= ``low`` seconds, decoded with slice threads from the
    start, or after a seek to ``anchor`` (one that verified)."""
    with av.open(path) as container:
        stream = container.streams[index]
        stream.thread_type = REFERENCE_THREADS
        if anchor is not None:
            seek(container, stream, anchor)
        for frame in container.decode(stream):
            if frame.pts is None or frame.pts * stream.time_base >= low:
                yield frame


def _from_sync_before(path: str, index: int, low: Fraction) -> Iterator[av.VideoFrame]:
    """Frames of stream ``index`` with time >= ``low`` seconds, decoded with slice threads from a
    sync sample strictly before ``low`` (seeking ever further back) or from the start."""
    for attempt in range(_REFERENCE_TRIES + 1):
        with av.open(path) as container:  # fresh for every try: no decoder a seek has flushed
            stream = container.streams[index]
            stream.thread_type = REFERENCE_THREADS
            time_base = stream.time_base
            origin = Fraction(stream.start_time or 0) * time_base
            point = low - time_base - (2 ** attempt - 1)  # one tick before, then 1, 3, 7... s earlier
            from_start = point <= origin or attempt == _REFERENCE_TRIES
            if not from_start:
                seek(container, stream, point)
            frames = container.decode(stream)
            first = next(frames, None)
            if first is None:
                return
            if not from_start and (first.pts is None or first.pts * time_base >= low):
                continue  # landed at or after the frames we need: go further back
            for frame in itertools.chain([first], frames):
                if frame.pts is None or frame.pts * time_base >= low:
                    yield frame
            return


def _same_pixels(a: av.VideoFrame, b: av.VideoFrame) -> bool:
    if (a.format.name, a.width, a.height) != (b.format.name, b.width, b.height):
        return False
    return np.array_equal(_planes(a), _planes(b))


def _planes(frame: av.VideoFrame) -> np.ndarray:
    """The frame's samples without line padding (native format; 16-bit RGB where PyAV has no array view)."""
    try:
        return frame.to_ndarray()
    except (ValueError, NotImplementedError, TypeError):
        return frame.to_ndarray(format="rgb48le")


def _key(path: str | os.PathLike) -> str:
    return os.path.realpath(os.fspath(path))
