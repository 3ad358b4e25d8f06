"""Video input and output with PyAV: probe, a frame generator in, a writer context manager out.

All I/O lives behind these functions; nothing here keeps global state. Timestamps always come
from the stream's ``pts`` and ``time_base`` (never from a frame counter), so variable frame
rate survives a round trip. Segment files and their assembly live in :mod:`vidstyle.media.segments`.
"""

import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import VidstyleError
from .containers import quality_options
from .image_files import STILL_IMAGE_EXTENSIONS
from .remux import add_audio_copy, configure_muxer, temporary_path, to_fraction
from .seeking import SeekChecks, checked_frames

# FFmpeg demuxers that read still images; anything else with a video stream counts as video.
_IMAGE_DEMUXERS = ("image2", "_pipe")

# Used when a stream declares no frame rate at all; only encoder settings depend on it.
_FALLBACK_RATE = Fraction(25)


class VideoError(VidstyleError):
    """An expected failure reading or writing a video; the message is one line for the user.

    A :class:`~vidstyle.errors.VidstyleError`, so the CLI reports it without a traceback.

    ``frame_index`` is set when decoding failed part-way: frames before it were read fine.
    """

    def __init__(self, message: str, *, frame_index: int | None = None):
        super().__init__(message)
        self.frame_index = frame_index


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` found out about a video file.

    ``width``/``height`` are as displayed, i.e. after ``rotation``, the clockwise turn in
    degrees (0, 90, 180 or 270) that the container's display matrix asks players to apply.
    ``time_base`` is the video stream's: frame ``pts`` values are counted in it.
    ``duration`` (seconds) and ``frame_count`` are estimates and may be ``None``.
    """

    width: int
    height: int
    rotation: int
    frame_rate: Fraction
    time_base: Fraction
    duration: float | None
    frame_count: int | None
    codec: str
    has_audio: bool
    audio_codec: str | None


@dataclass(frozen=True, eq=False)  # eq=False: comparing the arrays element-wise is ambiguous
class Frame:
    """One decoded, upright RGB frame; ``pts`` is in the stream's time_base, ``time`` in seconds."""

    index: int
    pts: int
    time: float
    image: np.ndarray
    corrupt: bool = False  # the decoder met damaged data and concealed it (FFmpeg's corrupt flag)


def processing_size(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """Size to process a ``width`` x ``height`` video at: longer side ``long_side``, aspect kept.

    Never upscales (``long_side`` is capped at the source's longer side; ``None`` means the
    source size) and both sides come out even, as yuv420p encoders require: each is rounded
    to the nearest even number, at least 2 and not above the source side.
    """
    if width < 1 or height < 1:
        raise ValueError(f"invalid source size {width}x{height}")
    if long_side is not None and long_side < 2:
        raise ValueError(f"long_side must be at least 2, got {long_side}")
    source_long = max(width, height)
    scale = 1.0 if long_side is None else min(long_side, source_long) / source_long

    def even(value: float, limit: int) -> int:
        rounded = 2 * math.floor(value / 2 + 0.5)  # round half up; round() would be banker's
        return max(2, min(rounded, limit - limit % 2))

    return even(width * scale, width), even(height * scale, height)


def is_video_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is a readable file with a video stream that is not a still image.

    Images (.png, .jpg, ...) return False even though FFmpeg can open them, so callers can
    fall through to image mode. Missing or unreadable files return False too.
    """
    path = os.fspath(path)
    if not os.path.isfile(path) or os.path.splitext(path)[1].lower() in STILL_IMAGE_EXTENSIONS:
        return False
    try:
        with av.open(path) as container:
            if any(part in container.format.name for part in _IMAGE_DEMUXERS):
                return False
            return _video_stream(container) is not None
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return False


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's size, rotation, frame rate, duration and codecs (decodes one frame).

    Raises :class:`VideoError` for a missing file, a file FFmpeg cannot read, a file
    without a video stream, or a video stream without a single decodable frame.
    """
    path = os.fspath(path)
    with open_input(path) as container:
        stream = require_video_stream(container, path)
        time_base = stream.time_base
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or _FALLBACK_RATE
        end = _declared_end(stream)
        if end is not None:
            duration = float(end - (stream.start_time or 0) * time_base)
        elif container.duration:
            duration = container.duration / av.time_base  # whole file, audio included
        else:
            duration = None
        frame_count = stream.frames or (round(duration * rate) if duration else None)
        audio = container.streams.audio[0] if container.streams.audio else None
        codec = stream.codec_context.name
        # The rotation lives in the display matrix that decoded frames carry (PyAV exposes no
        # stream-level getter), so decode the first frame to read it.
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as err:
            raise VideoError(f"{path}: cannot decode the first video frame ({err})") from err
        if first is None:
            raise VideoError(f"{path}: the video stream has no decodable frames")
        transform = _display_transform(first)
        width, height = first.width, first.height
        if transform[0]:
            width, height = height, width
    return VideoInfo(
        width=width,
        height=height,
        rotation=_clockwise_rotation(first),
        frame_rate=Fraction(rate),
        time_base=Fraction(time_base),
        duration=duration,
        frame_count=frame_count,
        codec=codec,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None else None,
    )


def read_frames(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    start: float | None = None,
    duration: float | None = None,
    max_frames: int | None = None,
    seeks: SeekChecks | None = None,
) -> Iterator[Frame]:
    """Yield upright RGB frames of the first video stream, in presentation order.

    ``size=(width, height)`` resizes (in PyAV) to that *displayed* size, i.e. after the
    rotation from the display matrix is applied. ``start`` (seconds) seeks and drops frames
    before it; ``duration`` stops before ``start + duration``; ``max_frames`` caps the count.
    ``Frame.index`` counts from 0 within what this call yields. The seek is checked against a
    forward decode before its frames are used (:mod:`vidstyle.media.seeking`): the frames are
    those of a sequential decode either way. ``seeks`` keeps the verdicts for a whole run
    (without it, each call checks its own seek).

    Raises :class:`VideoError` (with ``frame_index``) when decoding fails part-way or the
    file turns out truncated; frames yielded before that stay valid.
    """
    path = os.fspath(path)
    if size is not None and (size[0] < 1 or size[1] < 1):
        raise ValueError(f"invalid size {size}")
    start_t = to_fraction(start) if start is not None else None
    end_t = None
    if duration is not None:
        end_t = (start_t or Fraction(0)) + to_fraction(duration)
    with open_input(path) as container:
        stream = require_video_stream(container, path)
        stream.thread_type = "AUTO"  # frame + slice threads; decoding order is unaffected
        time_base = stream.time_base
        rate = stream.average_rate or stream.guessed_rate or _FALLBACK_RATE
        if start_t is not None and start_t > 0:
            decoded = checked_frames(container, stream, path, start_t, SeekChecks() if seeks is None else seeks)
        else:
            decoded = container.decode(stream)
        # One scaler for the whole clip: frame.reformat() makes a scaler (with its own worker
        # threads) per frame, freed only when the garbage collector gets to the frame, which made
        # native threads and memory climb and fall over a long run.
        reformatter = VideoReformatter()
        index = 0
        last_pts = None
        last_end = start_t
        stopped_early = max_frames is not None and max_frames <= 0
        while not stopped_early:
            try:
                av_frame = next(decoded)
            except StopIteration:
                break
            except av.FFmpegError as err:
                raise VideoError(
                    f"{path}: decoding failed at frame {index} ({err})", frame_index=index
                ) from err
            pts = av_frame.pts
            if pts is None:  # rare (raw streams): continue from the last known timestamp
                pts = 0 if last_pts is None else last_pts + max(1, round(1 / (rate * time_base)))
            last_pts = pts
            t = pts * time_base
            if start_t is not None and t < start_t:
                continue
            if end_t is not None and t >= end_t:
                stopped_early = True
                break
            try:
                image = _to_rgb(av_frame, size, reformatter)
            except av.FFmpegError as err:
                raise VideoError(
                    f"{path}: converting frame {index} failed ({err})", frame_index=index
                ) from err
            yield Frame(index=index, pts=pts, time=float(t), image=image, corrupt=bool(av_frame.is_corrupt))
            index += 1
            last_end = t + (av_frame.duration or 1 / rate / time_base) * time_base
            if max_frames is not None and index >= max_frames:
                stopped_early = True
        if not stopped_early and _looks_truncated(path, stream, last_end, end_t, rate):
            raise VideoError(
                f"{path}: the video ends early at frame {index} (t={float(last_end or 0):.3f} s); "
                "the file looks truncated",
                frame_index=index,
            )


class VideoWriter:
    """Encode RGB frames into a video file, optionally remuxing audio from a source file.

    Use as a context manager; ``write(image, pts)`` takes an HxWx3 uint8 RGB array and its
    pts in ``time_base``, so variable frame rate stays variable. ``rate`` is the nominal
    frame rate the encoder is told. The container format follows the extension of ``path``.

    Audio: if ``audio_source`` has an audio stream, its packets whose time lies in
    ``[audio_start, audio_end)`` seconds are copied without re-encoding. ``origin`` (seconds,
    on the source timeline) is subtracted from video and audio timestamps alike, so a clip
    cut at ``start`` can begin at 0 in sync. ``b_frames=False`` makes every packet's dts equal
    its pts (used for segments that are concatenated later).

    The file is written under a temporary name in the same folder and moved into place only
    when the ``with`` block ends without an exception, so ``path`` never holds half a video.
    If ``libx264`` is missing from this PyAV build, ``mpeg4`` is used, with a warning.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        *,
        time_base: Fraction,
        rate: Fraction,
        codec: str = "libx264",
        crf: int = 18,
        pix_fmt: str = "yuv420p",
        audio_source: str | os.PathLike | None = None,
        audio_start: float | None = None,
        audio_end: float | None = None,
        origin: float = 0.0,
        b_frames: bool = True,
        tune: str | None = None,
    ):
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise ValueError(f"width and height must be even and >= 2, got {width}x{height}")
        self.path = os.fspath(path)
        self.width, self.height = width, height
        self.time_base = Fraction(time_base)
        self.rate = Fraction(rate)
        self.codec = _pick_encoder(codec)
        self.crf, self.pix_fmt, self.b_frames = crf, pix_fmt, b_frames
        self.tune = tune  # x264 --tune (libx264 only)
        self.audio_source = os.fspath(audio_source) if audio_source is not None else None
        self.audio_start, self.audio_end = audio_start, audio_end
        self.origin = to_fraction(origin)
        self.frames_written = 0
        self._container = None  # the output, open between __enter__ and __exit__
        self._stream = None
        self._source = None  # the audio source, open while its packets are copied
        self._audio = None
        self._last_pts = None
        self._temp_path = None

    def __enter__(self) -> "VideoWriter":
        self._temp_path = temporary_path(self.path)
        try:
            self._container = av.open(self._temp_path, "w")
            configure_muxer(self._container, self.time_base)
            self._stream = _add_video_stream(self._container, self)
            if self.audio_source is not None:
                self._source = open_input(self.audio_source)
                self._audio = add_audio_copy(
                    self._source, self._container, self.audio_start, self.audio_end, self.origin
                )
        except av.FFmpegError as err:
            self._abort()
            raise VideoError(f"{self.path}: cannot create the video file ({err})") from err
        except BaseException:
            self._abort()
            raise
        return self

    def write(self, image: np.ndarray, pts: int) -> None:
        """Encode one RGB frame shown at ``pts`` (in ``time_base``, on the source timeline)."""
        if self._container is None:
            raise RuntimeError("VideoWriter.write() called outside its `with` block")
        if image.dtype != np.uint8 or image.shape != (self.height, self.width, 3):
            raise ValueError(
                f"expected a {self.height}x{self.width}x3 uint8 image, "
                f"got {image.shape} {image.dtype}"
            )
        out_pts = int(pts) - round(self.origin / self.time_base)
        if out_pts < 0:
            raise ValueError(f"pts {pts} lies before the origin ({float(self.origin)} s)")
        if self._last_pts is not None and out_pts <= self._last_pts:
            raise ValueError(f"pts must increase: {out_pts} after {self._last_pts}")
        self._last_pts = out_pts
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts, frame.time_base = out_pts, self.time_base
        try:
            # Interleave as we go: audio up to this frame's time is muxed before the frame.
            if self._audio is not None:
                self._audio.mux_until(self._container, out_pts * self.time_base)
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except av.FFmpegError as err:
            raise VideoError(f"{self.path}: encoding frame {self.frames_written} failed ({err})") from err
        self.frames_written += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            for packet in self._stream.encode(None):  # flush the encoder's delayed frames
                self._container.mux(packet)
            if self._audio is not None:
                self._audio.mux_until(self._container, None)
            self._container.close()
            self._container = None
            os.replace(self._temp_path, self.path)
        except av.FFmpegError as err:
            self._abort()
            raise VideoError(f"{self.path}: writing failed ({err})") from err
        except BaseException:
            self._abort()
            raise
        finally:
            self._close_source()

    def _close_source(self) -> None:
        self._audio = None
        if self._source is not None:
            self._source.close()
            self._source = None

    def _abort(self) -> None:
        """Close everything and delete the temporary file; the final path is never touched."""
        self._close_source()
        if self._container is not None:
            try:
                self._container.close()
            except av.FFmpegError:
                pass  # the file is being thrown away anyway
            self._container = None
        if self._temp_path is not None and os.path.exists(self._temp_path):
            os.remove(self._temp_path)


def _pick_encoder(codec: str) -> str:
    """``codec`` if this PyAV build can encode with it; ``libx264`` falls back to ``mpeg4``."""
    if _encoder_available(codec):
        return codec
    if codec == "libx264" and _encoder_available("mpeg4"):
        warnings.warn("libx264 is not available in this PyAV build; encoding with mpeg4",
                      stacklevel=3)
        return "mpeg4"
    raise VideoError(f"video encoder {codec!r} is not available in this PyAV build")


def _add_video_stream(container, writer: VideoWriter):
    """Add the writer's encoder stream to the open output ``container``."""
    options = quality_options(writer.codec, writer.crf)
    if not writer.b_frames and writer.codec == "libx264":
        # No lookahead: a frame is then coded the same whatever follows it in its segment, so a
        # segment cut short by Ctrl-C or a resume encodes its frames as an uninterrupted run does.
        options["rc-lookahead"] = "0"
    if writer.codec == "libx264" and writer.tune:
        options["tune"] = writer.tune
    if writer.codec == "mpeg4":
        # mpeg4 has no CRF: a fixed quantiser of similar quality instead (crf 18 -> q 3). Only
        # qmin = qmax fixes it: qscale with global_quality left every --crf byte-identical.
        crf = writer.crf if writer.crf is not None else 18  # None: not yet resolved for a size (a check)
        quantiser = str(max(2, min(31, round(crf / 6))))
        options.update(qmin=quantiser, qmax=quantiser)
    stream = container.add_stream(writer.codec, rate=writer.rate, options=options)
    # mpeg4 (the fallback) has no 4:4:4 profile.
    pix_fmt = "yuv420p" if writer.codec == "mpeg4" and writer.pix_fmt == "yuv444p" else writer.pix_fmt
    stream.width, stream.height, stream.pix_fmt = writer.width, writer.height, pix_fmt
    # Frames carry source pts; the muxer may choose a finer time_base and rescales exactly.
    stream.time_base = writer.time_base
    stream.codec_context.time_base = writer.time_base
    if not writer.b_frames:
        stream.codec_context.max_b_frames = 0
    return stream


# ---------------------------------------------------------------------------------------------
# Helpers


def _encoder_available(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except (ValueError, av.FFmpegError):  # UnknownCodecError is a ValueError
        return False
    return True


def open_input(path: str):
    """``av.open`` for reading, with our error messages for the expected failures.

    A numbered pattern (``frames/%05d.png``) opens that folder of frames as a video stream.
    """
    from .frame_sources import is_frame_pattern, open_frame_folder

    if is_frame_pattern(path) and not os.path.exists(path):
        return open_frame_folder(path)
    if not os.path.exists(path):
        raise VideoError(f"{path}: no such file")
    if os.path.isdir(path):
        raise VideoError(f"{path}: is a folder, not a video file")
    try:
        return av.open(path)
    except (av.FFmpegError, UnicodeDecodeError) as err:
        raise VideoError(f"{path}: not a readable media file ({err.__class__.__name__})") from err


def _video_stream(container):
    """The first real video stream (cover-art pictures attached to audio files don't count)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def require_video_stream(container, path):
    stream = _video_stream(container)
    if stream is None:
        raise VideoError(f"{path}: has no video stream")
    return stream


def _declared_end(stream) -> Fraction | None:
    """End time (seconds) the container declares for the video stream itself, if any."""
    if stream.duration:
        return ((stream.start_time or 0) + stream.duration) * stream.time_base
    tag = stream.metadata.get("DURATION")  # Matroska writes it per stream: "HH:MM:SS.nnnnnnnnn"
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return Fraction(int(hours) * 3600 + int(minutes) * 60) + Fraction(seconds)
        except ValueError:
            return None
    return None


def _looks_truncated(path, stream, last_end, end_t, rate) -> bool:
    """Did decoding stop at end of file before the video the container promises?

    FFmpeg treats a cut-off file as a normal end of file, so compare what was decoded
    with the container's own index (MP4/MOV: a sample lying past the end of the file) or,
    without one, with the video stream's declared duration (Matroska's DURATION tag).
    """
    entries = stream.index_entries
    if len(entries) and entries[len(entries) - 1].size:
        file_size = os.path.getsize(path)
        return any(entry.pos + entry.size > file_size for entry in entries)
    declared = _declared_end(stream)
    if declared is None:
        return False
    if end_t is not None:
        declared = min(declared, end_t)
    reached = last_end if last_end is not None else (stream.start_time or 0) * stream.time_base
    return declared - reached > max(2 / Fraction(rate), Fraction(1, 20))


def _display_transform(frame) -> tuple[bool, bool, bool]:
    """``(transpose, flip_rows, flip_cols)`` that makes ``frame`` upright, from its matrix.

    The display matrix maps a source pixel (x, y) to (a*x + c*y, b*x + d*y); for the
    rotations and mirrors cameras write, a..d are 0 or +-1 (16.16 fixed point).
    """
    for side_data in frame.side_data:
        if side_data.type.name == "DISPLAYMATRIX":
            a, b, _, c, d = np.frombuffer(bytes(side_data), dtype=np.int32)[:5].tolist()
            break
    else:
        return False, False, False
    if abs(a) >= abs(b):  # no transpose: x' = a*x, y' = d*y
        return False, d < 0, a < 0
    return True, b < 0, c < 0  # x' = c*y, y' = b*x: transpose, then flip by the signs


def _clockwise_rotation(frame) -> int:
    # frame.rotation is FFmpeg's counter-clockwise angle (av_display_rotation_get).
    return int(round(-frame.rotation / 90) * 90) % 360


def _to_rgb(frame, size, reformatter: VideoReformatter | None = None) -> np.ndarray:
    """Upright, contiguous HxWx3 uint8 RGB array of ``frame``, resized to displayed ``size``."""
    transpose, flip_rows, flip_cols = _display_transform(frame)
    if size is None:
        width, height = frame.width, frame.height
    else:
        # size is the displayed size; before a transpose the stored frame has it swapped.
        width, height = (size[1], size[0]) if transpose else size
    reformatter = reformatter if reformatter is not None else VideoReformatter()
    image = reformatter.reformat(frame, width=width, height=height, format="rgb24",
                                 interpolation="BICUBIC").to_ndarray()
    if transpose:
        image = image.transpose(1, 0, 2)
    if flip_rows:
        image = image[::-1]
    if flip_cols:
        image = image[:, ::-1]
    return np.ascontiguousarray(image)
