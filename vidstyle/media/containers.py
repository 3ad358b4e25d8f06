"""Which container and encoder an output name means, checked before any work is done.

A bad output name used to fail at assembly, after every frame had been stylized. Here the
container follows the extension, the encoder follows ``--codec`` (or, left at the default, the
container's own default where the default does not fit), and a tiny test file is written in a
temporary folder with that encoder, in the segment container and in the output container, with
the source's audio stream added. Whatever FFmpeg refuses there is refused up front in one line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from ..errors import VidstyleError

# CRF ranges of the encoders that take one ({} options they need besides "crf").
CRF_RANGES: dict[str, tuple[int, int, dict[str, str]]] = {
    "libx264": (0, 51, {}),
    "libx265": (0, 51, {"x265-params": "log-level=error"}),  # else x265 prints ~20 info lines per encoder
    "libvpx-vp9": (0, 63, {"b": "0"}),  # constant quality needs bitrate 0
    "libvpx": (4, 63, {"b": "10M"}),  # VP8 caps the bitrate in CRF mode
    "libaom-av1": (0, 63, {"b": "0"}),
    "libsvtav1": (1, 63, {}),
    "mpeg4": (0, 51, {}),  # no CRF: mapped to a fixed quantiser (see quality_options)
}

# Containers that keep a segment's timestamps exact (MP4 first; MOV takes ProRes and the like).
SEGMENT_SUFFIXES = (".mp4", ".mov", ".mkv")

_IMAGE_MUXERS = ("image2", "apng")
_TEST_SIZE = 64  # some encoders (SVT-AV1) refuse anything smaller
_TEST_FRAMES = 3  # enough for the joined file's frame times to be checked
_TEST_TIME_BASE = Fraction(1, 25)


class OutputError(VidstyleError):
    """The output name, encoder or encoder settings cannot work; found before any decoding."""


@dataclass(frozen=True)
class OutputPlan:
    """What a video run will write: ``codec`` (an encoder name) in the ``format`` muxer,
    segments in ``segment_suffix`` files, the audio copied (``audio``) or not; ``notes`` are
    one-line warnings for the user (audio that will be dropped, an encoder that was changed)."""

    codec: str
    format: str
    segment_suffix: str
    audio: bool
    notes: tuple[str, ...] = ()


def encoder_name(codec: str) -> str | None:
    """The encoder FFmpeg uses for ``codec`` (an encoder or codec name), or None if it has none."""
    try:
        found = av.codec.Codec(codec, "w")
    except (ValueError, av.FFmpegError):
        return None
    return found.name


def pixel_format(codec: str) -> str:
    """yuv420p (what players expect) if ``codec`` takes it, else its first format (ProRes: 4:2:2 10-bit)."""
    try:
        formats = [f.name for f in (av.codec.Codec(codec, "w").video_formats or [])]
    except (ValueError, av.FFmpegError):
        return "yuv420p"  # an unknown encoder is refused where it is opened
    return "yuv420p" if not formats or "yuv420p" in formats else formats[0]


def writable_pixel_format(codec: str, requested: str, explicit: bool) -> str:
    """The pixel format ``codec`` is opened with: ``requested`` where the encoder takes it;
    otherwise the encoder's own (:func:`pixel_format`, e.g. ProRes' 4:2:2) for a default, and an
    :class:`OutputError` for an explicit ``--pix-fmt`` (the user would believe it applied)."""
    found = encoder_name(codec) or codec
    try:
        formats = [f.name for f in (av.codec.Codec(found, "w").video_formats or [])]
    except (ValueError, av.FFmpegError):
        return requested  # an unknown encoder is refused where it is opened
    if not formats or requested in formats:
        return requested
    if explicit:
        raise OutputError(f"--pix-fmt {requested}: the {found} encoder cannot write it "
                          f"(it takes {', '.join(formats[:12])}{', ...' if len(formats) > 12 else ''})")
    return pixel_format(found)


def check_quality(codec: str, crf: int | None, explicit: bool) -> None:
    """Refuse a ``--crf`` outside ``codec``'s range, or an explicit one for an encoder without a
    CRF (the user would believe it changed something)."""
    found = encoder_name(codec)
    if found is None:
        raise OutputError(f"--codec {codec}: no such video encoder in this PyAV build")
    kind = av.codec.Codec(found, "w").type
    if kind != "video":
        raise OutputError(f"--codec {codec} is an {kind} encoder; --codec takes a video encoder such as libx264")
    if found not in CRF_RANGES:
        if explicit:
            raise OutputError(f"--crf has no meaning for {found} (it takes no CRF); leave --crf out "
                              f"(CRF encoders: {', '.join(CRF_RANGES)})")
        return
    low, high, _ = CRF_RANGES[found]
    if crf is not None and not low <= crf <= high:  # None: the size-dependent default (settings.encoder_choice)
        raise OutputError(f"--crf {crf} is out of range for {found} ({low}-{high})")


# Encoders that corrupt their heap (glibc "corrupted size vs. prev_size", then abort) on narrow frames:
# measured with x265 4.2 through PyAV, frames 40 and 48 px wide aborted in most runs, 56 px and wider
# never (heights down to 32 px were fine); 64 px is x265's coding-tree unit.
MIN_FRAME_WIDTHS = {"libx265": 64}


def check_frame_size(codec: str, width: int, height: int) -> None:
    """Refuse an output of ``width`` x ``height`` that ``codec``'s encoder cannot take safely
    (x265 crashes the process on narrow frames), before any work."""
    found = encoder_name(codec) or codec
    least = MIN_FRAME_WIDTHS.get(found)
    if least is not None and width < least:
        raise OutputError(f"--codec {found}: frames {width}x{height} are too narrow for it (it crashes under "
                          f"{least} px wide); raise --size or use libx264")


def fit_crf(codec: str, crf: int) -> int:
    """A default ``crf`` (chosen for x264) moved into ``codec``'s CRF range: the small-size default 0
    is lossless for x264 but out of range for VP8 (4-63) and SVT-AV1 (1-63), which a WebM or Ogg
    output falls back to. An explicit ``--crf`` is checked instead (:func:`check_quality`)."""
    found = encoder_name(codec) or codec
    if found not in CRF_RANGES:
        return crf
    low, high, _ = CRF_RANGES[found]
    return min(max(crf, low), high)


def quality_options(codec: str, crf: int | None) -> dict[str, str]:
    """Encoder options that carry ``crf`` to ``codec`` (empty for encoders without a CRF)."""
    if codec not in CRF_RANGES or codec == "mpeg4":
        return {}
    if crf is None:  # not yet resolved for an output size (a container check's test file): the encoder's own
        return dict(CRF_RANGES[codec][2])
    return {"crf": str(crf), **CRF_RANGES[codec][2]}


def _container_format(path: str) -> str:
    """The muxer FFmpeg picks from ``path``'s extension; OutputError if none or an image one."""
    name = os.path.basename(path)
    suffix = os.path.splitext(name)[1]
    if not suffix:
        raise OutputError(f"{path}: the output needs a video extension (.mp4, .mkv, .webm, .mov)")
    with tempfile.TemporaryDirectory(prefix="vidstyle-check-") as folder:
        try:
            with av.open(os.path.join(folder, "probe" + suffix), "w") as container:
                muxer = container.format.name
        except ValueError:
            raise OutputError(f"{path}: {suffix} is not a video format FFmpeg can write; "
                              "use .mp4, .mkv, .webm or .mov") from None
    if muxer in _IMAGE_MUXERS:
        raise OutputError(f"{path}: {suffix} is an image format; a video needs .mp4, .mkv, .webm or .mov")
    return muxer


def _default_encoder(suffix: str) -> str | None:
    """The encoder of the container's own default video codec, e.g. VP9 for WebM."""
    with tempfile.TemporaryDirectory(prefix="vidstyle-check-") as folder:
        with av.open(os.path.join(folder, "probe" + suffix), "w") as container:
            return encoder_name(container.default_video_codec)


def _test_write(path: str, codec: str, crf: int, audio_template, pix_fmt: str | None = None,  # noqa: ANN001
                tune: str | None = None) -> None:
    """Encode ``_TEST_FRAMES`` small frames into ``path`` (and add ``audio_template``'s stream)
    with the run's pixel format and x264 tune; FFmpeg errors pass."""
    container = av.open(path, "w")
    try:
        options = quality_options(codec, crf)
        if tune and codec == "libx264":
            options["tune"] = tune
        stream = container.add_stream(codec, rate=_TEST_TIME_BASE.denominator, options=options)
        stream.width = stream.height = _TEST_SIZE
        stream.pix_fmt = writable_pixel_format(codec, pix_fmt, False) if pix_fmt else pixel_format(codec)
        stream.codec_context.max_b_frames = 0
        if audio_template is not None:
            container.add_stream_from_template(audio_template)
        for index in range(_TEST_FRAMES):
            frame = av.VideoFrame.from_ndarray(np.full((_TEST_SIZE, _TEST_SIZE, 3), 40 * index, np.uint8),
                                               format="rgb24")
            frame.pts, frame.time_base = index, _TEST_TIME_BASE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    finally:
        container.close()


def _joins(segment: str, output: str) -> str | None:
    """Why the test ``segment`` cannot be joined into ``output``'s container as the run joins its
    segments (remuxed, not re-encoded), or None if it can."""
    from .segments import assemble  # segments -> video_files -> containers: imported when used
    from .video_files import VideoError

    try:
        assemble([segment], output)
        try:
            joined = av.open(output)
        except av.error.EOFError:
            return None  # too short for the demuxer to probe (MPEG-TS wants more than 3 tiny frames)
        with joined:
            if not joined.streams.video:
                return "it comes back without a video stream"
            stream = joined.streams.video[0]
            times = [frame.time for frame in joined.decode(stream)]
    except av.codec.codec.UnknownCodecError as error:  # AV1: PyAV copies a stream by its decoder's name
        return f"PyAV copies the stream by its decoder's name, {error}, which names no encoder"
    except (VideoError, av.FFmpegError, ValueError, OSError) as error:
        cause = error.__cause__ if error.__cause__ is not None else error
        return getattr(cause, "strerror", None) or _error_text(cause)  # FFmpeg's reason, without the temporary path
    # The frames must come back at their times (VP8 segments remuxed into Ogg come back at
    # 0.082, 0.083, 0.166 s for 0, 0.083, 0.167 s: the output would play wrong and read as cut off).
    wanted = [float(index * _TEST_TIME_BASE) for index in range(_TEST_FRAMES)]
    if None in times:
        return "its test frames come back without timestamps"
    start = times[0] if times else 0.0
    if len(times) != len(wanted) or any(abs(t - start - w) > _TEST_TIME_BASE / 2 for t, w in zip(times, wanted)):
        shown = ", ".join(f"{t - start:.3f}" for t in times)
        return f"its {_TEST_FRAMES} test frames at {', '.join(f'{w:.3f}' for w in wanted)} s come back at {shown} s"
    return None


def _error_text(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else error.__class__.__name__


def plan_output(path: str, codec: str, *, crf: int, explicit_codec: bool, audio_source: str | None,
                pix_fmt: str | None = None, tune: str | None = None) -> OutputPlan:
    """Decide and check the container, encoder and audio of a video output named ``path``.

    ``codec`` is used as given if ``explicit_codec``; otherwise, when it does not fit the
    container (H.264 in WebM), the container's default encoder is taken instead, with a note.
    ``audio_source`` (a file with an audio stream to copy, or None) is tried in the container;
    if it cannot go there the plan says the audio will be dropped. ``pix_fmt`` (an explicit
    ``--pix-fmt``, or None) and ``tune`` (x264's) are tried too, so a bad value stops the run
    before any work. Raises :class:`OutputError`.
    """
    muxer = _container_format(path)
    suffix = os.path.splitext(path)[1]
    notes: list[str] = []
    check_quality(codec, crf, explicit=False)
    found = encoder_name(codec)
    if pix_fmt is not None:
        writable_pixel_format(found, pix_fmt, explicit=True)
    with tempfile.TemporaryDirectory(prefix="vidstyle-check-") as folder:
        def fits(encoder: str, ext: str) -> str | None:
            try:
                _test_write(os.path.join(folder, f"test-{encoder}{ext}"), encoder, crf, None, pix_fmt, tune)
            except (av.FFmpegError, ValueError, OSError, TypeError) as error:
                return _error_text(error)
            return None

        problem = fits(found, suffix)
        if problem is not None and not explicit_codec:
            fallback = _default_encoder(suffix)
            if fallback is not None and fallback != found and fits(fallback, suffix) is None:
                notes.append(f"{found} cannot go in {suffix}; encoding with {fallback} (choose with --codec)")
                found, problem = fallback, None
        if problem is not None and all(fits(found, ext) is not None for ext in SEGMENT_SUFFIXES if ext != suffix):
            # No container takes it: the encoder itself does not open here (NVENC without an NVIDIA GPU).
            raise OutputError(f"--codec {found}: the encoder cannot be opened on this machine ({problem}); "
                              "choose another --codec")
        if problem is not None:
            raise OutputError(f"{path}: cannot write {found} video into {suffix} ({problem}); "
                              "choose another --codec or output extension")
        segment_suffix = next((ext for ext in SEGMENT_SUFFIXES if fits(found, ext) is None), None)
        if segment_suffix is None:
            raise OutputError(f"--codec {found}: no segment container (MP4, MOV, MKV) takes it")
        problem = _joins(os.path.join(folder, f"test-{found}{segment_suffix}"), os.path.join(folder, f"joined{suffix}"))
        if problem is not None:  # e.g. H.264 from MP4 segments into AVI (which wants Annex B)
            other = [ext for ext in (".mp4", ".mkv", ".mov") if ext != suffix]
            hint = "choose another --codec" if suffix in SEGMENT_SUFFIXES else f"use {', '.join(other)}"
            raise OutputError(f"{path}: {found} segments cannot be joined into {suffix} without re-encoding "
                              f"({problem}); {hint}")
        audio = False
        if audio_source is not None and os.path.isfile(audio_source):
            try:
                source = av.open(audio_source)
            except (av.FFmpegError, OSError, UnicodeDecodeError):
                source = None  # an unreadable input is reported where it is probed
            with source if source is not None else contextlib.nullcontext():
                if source is not None and source.streams.audio:
                    try:
                        _test_write(os.path.join(folder, f"audio{suffix}"), found, crf, source.streams.audio[0])
                        audio = True
                    except (av.FFmpegError, ValueError, OSError) as error:
                        name = source.streams.audio[0].codec_context.name
                        notes.append(f"the audio ({name}) cannot be copied into {suffix} and will be dropped "
                                     f"({_error_text(error)}); use .mkv or .mp4 to keep it, or --no-audio")
    return OutputPlan(found, muxer, segment_suffix, audio, tuple(notes))
