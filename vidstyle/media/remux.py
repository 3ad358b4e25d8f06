"""Packet-level plumbing shared by the video writer and segment assembly: copying audio
without re-encoding, muxer options that keep timestamps exact, and temporary output names.

Nothing here decodes or encodes; timestamps are only shifted and handed to the muxer.
"""

import math
import os
import uuid
import warnings
from collections.abc import Iterator
from fractions import Fraction

import av

# Muxers of the MP4/QuickTime family (they share the ``movie_timescale`` option).
_MOV_FAMILY = ("mp4", "mov", "ipod", "3gp", "3g2", "psp", "ismv", "f4v")


def to_fraction(value) -> Fraction:
    """Seconds as an exact Fraction; floats go through their shortest decimal (0.3 -> 3/10)."""
    return value if isinstance(value, Fraction) else Fraction(repr(float(value)))


def seek(container, stream, time: Fraction) -> None:
    """Seek to the keyframe at or before ``time`` seconds, or to the start if that fails.

    The target is the first tick at or after ``time``: a keyframe there is the first frame a
    caller keeps, so it is landed on, not the keyframe before it.

    Callers drop what comes before ``time`` either way, so a failed seek only costs speed;
    decoded frames after a seek are checked by :mod:`vidstyle.media.seeking`.
    """
    try:
        container.seek(math.ceil(time / stream.time_base), stream=stream, backward=True)
    except av.FFmpegError:
        container.seek(0)


def configure_muxer(container, time_base: Fraction) -> None:
    """Muxer options that keep timestamps exact; call before the first packet is muxed.

    MP4/MOV store a stream's start offset (an edit list) in the movie timescale, 1/1000 s by
    default, which rounds a segment's first pts to the millisecond; a multiple of the video
    time_base's denominator keeps it exact.
    """
    if container.format.name in _MOV_FAMILY:
        den = Fraction(time_base).denominator
        container.options["movie_timescale"] = str(den * math.ceil(1000 / den))


def temporary_path(path: str | os.PathLike) -> str:
    """A fresh hidden name next to ``path``, ending in the same extension (FFmpeg picks the
    format from it). The file is not created here, so it gets the usual permissions."""
    folder, name = os.path.split(os.path.abspath(path))
    ext = os.path.splitext(name)[1]
    return os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.partial{ext}")


class AudioCopy:
    """The packets of a source's audio stream in ``[start, end)`` seconds, ready to remux.

    Timestamps are shifted by ``-origin`` seconds, like the video they go with. Use
    :func:`add_audio_copy` to make one; the source container stays the caller's to close.
    """

    def __init__(self, source, out_stream, *, start, end, origin):
        in_stream = source.streams.audio[0]
        self.stream = out_stream
        self._shift = round(to_fraction(origin) / in_stream.time_base)
        self._packets = _packets_in_range(source, in_stream, start, end)
        self._pending = next(self._packets, None)

    def packets_until(self, limit: Fraction | None) -> Iterator[tuple[Fraction, "av.Packet"]]:
        """Yield ``(time, packet)`` (output seconds, by dts) up to ``limit`` (None: all)."""
        while self._pending is not None:
            packet = self._pending
            time = (packet.dts - self._shift) * packet.time_base
            if limit is not None and time > limit:
                return
            self._pending = next(self._packets, None)
            packet.pts -= self._shift
            packet.dts -= self._shift
            packet.stream = self.stream
            yield time, packet

    def mux_until(self, container, limit: Fraction | None) -> None:
        """Mux every remaining packet up to ``limit`` seconds (None: all of them)."""
        for _, packet in self.packets_until(limit):
            container.mux(packet)


def add_audio_copy(source, output, start=None, end=None, origin=0) -> AudioCopy | None:
    """Add a copy of ``source``'s first audio stream to ``output`` (before anything is muxed).

    Returns None if the source has no audio, or (with a warning) if the output format
    cannot hold that codec: audio is never re-encoded.
    """
    if not source.streams.audio:
        return None
    try:
        out_stream = output.add_stream_from_template(source.streams.audio[0])
    except (ValueError, av.FFmpegError) as err:
        warnings.warn(f"audio dropped: the {output.format.name} format cannot hold it ({err})",
                      stacklevel=3)
        return None
    return AudioCopy(source, out_stream, start=start, end=end, origin=origin)


def _packets_in_range(container, stream, start, end) -> Iterator["av.Packet"]:
    """Demuxed packets of ``stream`` whose pts lies in ``[start, end)`` seconds (None: open)."""
    start_t = to_fraction(start) if start is not None else None
    end_t = to_fraction(end) if end is not None else None
    if start_t is not None and start_t > 0:
        seek(container, stream, start_t)
    for packet in container.demux(stream):
        if packet.dts is None or packet.size == 0:  # the demuxer's empty flush packet
            continue
        if packet.pts is None:
            packet.pts = packet.dts
        time = packet.pts * stream.time_base
        if start_t is not None and time < start_t:
            continue
        if end_t is not None and time >= end_t:
            break
        yield packet
