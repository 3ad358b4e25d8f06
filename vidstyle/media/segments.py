"""Segment files: encode a run of frames on its own, then join the segments without re-encoding.

Segments make long runs resumable (a finished segment never needs redoing) and let several
workers encode parts of one video. Each segment is a complete, independently decodable file,
written atomically by :class:`~vidstyle.video.VideoWriter`.

Decisions that make the join a plain remux:

* **No B-frames in segments.** With B-frames each segment's decode timestamps start before
  its first pts, and can collide with the previous segment's last dts (a non-monotonic dts
  stream the muxer rejects). Without them dts == pts, so segments on one timeline follow
  each other cleanly; :func:`assemble` still checks that dts strictly increase.
* **Same encoder settings for every segment**, so their extradata (H.264 SPS/PPS) match and
  the first segment's codec parameters describe them all; :func:`assemble` verifies this.
* **MP4 segments** (``.mp4``) keep the source time_base exactly (Matroska rounds to 1 ms) and
  remux cleanly into MP4, MOV or Matroska outputs.
"""

import heapq
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction

import av
import numpy as np

from .remux import add_audio_copy, configure_muxer, temporary_path, to_fraction
from .video_files import VideoError, VideoWriter, open_input, require_video_stream


def write_segment(
    path: str | os.PathLike,
    frames: Iterable[tuple[np.ndarray, int]],
    width: int,
    height: int,
    time_base: Fraction,
    rate: Fraction,
    codec: str = "libx264",
    crf: int = 18,
) -> int:
    """Encode ``(image, pts)`` pairs into a segment file and return how many were written.

    Timestamps stay on the source timeline (``pts`` in ``time_base``); no audio. The file
    appears at ``path`` only once complete. Use an ``.mp4`` path: it keeps pts exact.
    """
    writer = VideoWriter(
        path, width, height, time_base=time_base, rate=rate, codec=codec, crf=crf, b_frames=False
    )
    with writer:
        for image, pts in frames:
            writer.write(image, pts)
    return writer.frames_written


def decodable_frames(path: str | os.PathLike) -> int:
    """How many video frames of ``path`` decode before the first error (0 if it does not open)."""
    count = 0
    try:
        with av.open(os.fspath(path)) as container:
            stream = require_video_stream(container, path)
            for _ in container.decode(stream):
                count += 1
    except (av.FFmpegError, VideoError, OSError):
        pass
    return count


def frame_end(segment_paths: Sequence[str | os.PathLike], frames: int) -> float:
    """When (seconds, source timeline) frame number ``frames - 1`` of the joined segments ends."""
    seen = 0
    for path in segment_paths:
        with open_input(os.fspath(path)) as segment:
            stream = require_video_stream(segment, path)
            rate = stream.average_rate or 25
            for packet in segment.demux(stream):
                if packet.dts is None or packet.size == 0:
                    continue
                seen += 1
                if seen == frames:
                    length = packet.duration or round(1 / (rate * stream.time_base))
                    return float((packet.pts + length) * stream.time_base)
    raise VideoError(f"the segments hold {seen} frames, fewer than {frames}")


def assemble(
    segment_paths: Sequence[str | os.PathLike],
    output_path: str | os.PathLike,
    *,
    audio_source: str | os.PathLike | None = None,
    audio_start: float | None = None,
    audio_end: float | None = None,
    origin: float = 0.0,
    max_frames: int | None = None,
    before_move: Callable[[str], None] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Join segments, in order, into ``output_path`` without re-encoding; return the frame count.

    The video packets of all segments are remuxed one after another; if ``audio_source`` has
    audio, its packets in ``[audio_start, audio_end)`` seconds are remuxed alongside (never
    re-encoded). ``origin`` (seconds, source timeline) is subtracted from all timestamps, as
    in :class:`~vidstyle.video.VideoWriter`. The output format follows the extension. The
    result is written to a temporary file in the same folder and moved into place with
    ``os.replace``, so ``output_path`` never holds a half-written file.

    ``max_frames`` keeps only that many video frames (segments have no B-frames, so any cut is
    clean). ``before_move(temporary_path)`` is called once the file is complete, just before it
    is moved into place (the run records it there, so a kill after the move is recognised).
    ``metadata``: container tags to write (e.g. ``{"comment": ...}``).

    Raises :class:`VideoError` if a segment is unreadable, was encoded with other settings
    than the first, or overlaps the previous one.
    """
    paths = [os.fspath(p) for p in segment_paths]
    if not paths:
        raise ValueError("assemble() needs at least one segment")
    output_path = os.fspath(output_path)
    origin_t = to_fraction(origin)
    temp = temporary_path(output_path)
    output = source = video = None
    try:
        output = av.open(temp, "w")
        output.metadata.update(metadata or {})
        with open_input(paths[0]) as first:
            template = require_video_stream(first, paths[0])
            reference = _settings(template)
            out_video = output.add_stream_from_template(template)  # copies codec parameters
            if template.average_rate:  # else Matroska guesses a rate from the 1 ms timestamps
                out_video.codec_context.framerate = template.average_rate
            configure_muxer(output, template.time_base)
        audio = None
        if audio_source is not None:
            source = open_input(os.fspath(audio_source))
            audio = add_audio_copy(source, output, audio_start, audio_end, origin_t)
        video = _segment_packets(paths, reference, out_video, origin_t)
        kept = itertools.islice(video, max_frames) if max_frames is not None else video
        sound = audio.packets_until(None) if audio is not None else iter(())
        # Interleave by time so the muxer never has to buffer a whole stream.
        frames = 0
        for _, is_video, packet in heapq.merge(
            ((t, True, p) for t, p in kept), ((t, False, p) for t, p in sound), key=lambda x: x[0]
        ):
            output.mux(packet)
            frames += is_video
        output.close()
        output = None
        if before_move is not None:
            before_move(temp)
        os.replace(temp, output_path)
        return frames
    except av.FFmpegError as err:
        raise VideoError(f"{output_path}: assembling segments failed ({err})") from err
    finally:
        if video is not None:
            video.close()  # closes the segment it was reading, even after an error
        if source is not None:
            source.close()
        if output is not None:
            try:
                output.close()
            except av.FFmpegError:
                pass  # the temporary file is deleted below anyway
        if os.path.exists(temp):
            os.remove(temp)


def _settings(stream) -> tuple:
    """What must match across segments for one set of codec parameters to describe them all."""
    ctx = stream.codec_context
    return ctx.name, ctx.width, ctx.height, ctx.pix_fmt, bytes(ctx.extradata or b"")


def _segment_packets(paths, reference, out_stream, origin):
    """Yield ``(time, packet)`` for the video packets of every segment, in order."""
    last_time = None
    for number, path in enumerate(paths):
        with open_input(path) as segment:
            stream = require_video_stream(segment, path)
            if _settings(stream) != reference:
                raise VideoError(
                    f"{path}: segment {number} was encoded with other settings than segment 0"
                )
            shift = round(origin / stream.time_base)
            for packet in segment.demux(stream):
                if packet.dts is None or packet.size == 0:  # the demuxer's empty flush packet
                    continue
                time = (packet.dts - shift) * packet.time_base
                if time < 0:
                    raise VideoError(f"{path}: segment {number} starts before the origin")
                if last_time is not None and time <= last_time:
                    raise VideoError(
                        f"{path}: segment {number} overlaps the previous one "
                        f"(dts {float(time):.3f} s after {float(last_time):.3f} s)"
                    )
                last_time = time
                packet.dts -= shift
                packet.pts = packet.dts if packet.pts is None else packet.pts - shift
                packet.stream = out_stream
                yield time, packet


def container_comment(path: str | os.PathLike) -> str | None:
    """A video file's ``comment`` tag (any case; :func:`assemble` writes its ``metadata``), or None:
    no tag, or a file FFmpeg cannot open."""
    try:
        with av.open(os.fspath(path)) as container:
            tags = {key.lower(): value for key, value in container.metadata.items()}
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return None
    return tags.get("comment")
