"""Frames named other than as one video file: numbered image folders, pipes, frame numbers.

* **Frame folders** (``frames/%05d.png``, the way artistic-videos users work): read through
  FFmpeg's own ``image2`` demuxer, so :func:`~vidstyle.media.video_files.probe` and
  :func:`~vidstyle.media.video_files.read_frames` (the frame generator every run uses) take a
  pattern like any video file (:func:`open_frame_folder` is what they open it with). Frames
  are numbered as FFmpeg does (the first number found in 0..4, then consecutive) and shown at
  :data:`FOLDER_FRAME_RATE` frames/s. :func:`write_frame_folder` writes PNG (or PPM) files with
  FFmpeg's ``image2`` muxer, numbered from 1.
* **Pipes**: ``-`` means stdin or stdout. A run needs to seek its input (probe, then decode;
  resume) and writes its output by remuxing finished segments, so a piped input is first
  copied to a file (:func:`spool`) and a piped output is written to a Matroska file (readable
  from a pipe, unlike MP4 whose index comes last), then copied out (:func:`copy_out`).
* **Frame numbers**: :func:`frame_start_time` turns ``--start-frame N`` into the time of frame N.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

PIPE = "-"

# FFmpeg's default rate for image sequences; a folder of frames has no timing of its own.
FOLDER_FRAME_RATE = 25

# A printf-style frame number in a file name: %d, %05d, %4d.
_NUMBER = re.compile(r"%0?\d*d")

# Output frame formats: encoder and pixel format for FFmpeg's image2 muxer (lossless ones only).
_FRAME_WRITERS = {".png": ("png", "rgb24"), ".ppm": ("ppm", "rgb24")}

# Container of a piped output: Matroska can be read from a pipe (MP4 needs its index, which comes last).
PIPE_CONTAINER = ".mkv"


def _error(message: str) -> Exception:
    from .video_files import VideoError  # video_files opens folders through this module: import late

    return VideoError(message)


def is_frame_pattern(path: str | os.PathLike) -> bool:
    """True for a numbered file pattern such as ``frames/%05d.png`` (exactly one ``%d`` in the name),
    unless a file has that very name (``take%2d.mp4`` is a video)."""
    path = os.fspath(path)
    return len(_NUMBER.findall(os.path.basename(path))) == 1 and not os.path.isfile(path)


def is_pipe(path: str | os.PathLike | None) -> bool:
    """True for ``-`` (stdin as input, stdout as output)."""
    return path is not None and os.fspath(path) == PIPE


def _existing_frames(pattern: str, limit: int | None = None) -> list[Path]:
    """The files a pattern names, from the first number in 0..4 on, consecutive (as FFmpeg reads them)."""
    for first in range(5):
        if os.path.isfile(pattern % first):
            break
    else:
        return []
    files, number = [], first
    while os.path.isfile(pattern % number) and (limit is None or len(files) < limit):
        files.append(Path(pattern % number))
        number += 1
    return files


def frame_gap(pattern: str | os.PathLike) -> str | None:
    """Where the numbered files of ``pattern`` have a gap that FFmpeg's reader stops at, as one
    line (``...: frame 3 is missing; the 2 file(s) after the gap (4-5) are not read``; an empty
    file is such a gap too), or None."""
    pattern = os.fspath(pattern)
    found = _existing_frames(pattern)
    if not found:
        return None
    empty = next((i for i, path in enumerate(found) if path.stat().st_size == 0), None)
    if empty is not None:  # FFmpeg's reader takes an empty file for the end of the sequence
        after = len(found) - empty - 1
        return (f"{pattern}: {found[empty].name} is empty (0 bytes); it and the {after} file(s) after it are "
                "not read")
    last = _number_of(pattern, found[-1].name)
    later = numbers_after(pattern, last)
    if not later:
        return None
    return (f"{pattern}: frame {last + 1} is missing; the {len(later)} file(s) after the gap "
            f"({later[0]}-{later[-1]}) are not read")


def numbers_after(pattern: str | os.PathLike, last: int) -> list[int]:
    """The frame numbers above ``last`` of files in ``pattern``'s folder that fit it (sorted): what an
    earlier, longer run left beyond the frames just written."""
    pattern = os.fspath(pattern)
    folder = Path(os.path.dirname(pattern) or ".")
    return sorted(n for n in (_number_of(pattern, f.name) for f in folder.iterdir()) if n is not None and n > last)


def _number_of(pattern: str, name: str) -> int | None:
    """The frame number in file ``name`` if it fits ``pattern``'s file name, else None."""
    head, tail = _NUMBER.split(os.path.basename(pattern))
    match = re.fullmatch(re.escape(head) + r"(\d+)" + re.escape(tail), name)
    return int(match.group(1)) if match else None


def open_frame_folder(pattern: str | os.PathLike):
    """An open PyAV container reading the numbered images of ``pattern`` as a video stream.

    Raises :class:`~vidstyle.media.video_files.VideoError` when the folder or its first frame
    is missing.
    """
    pattern = os.fspath(pattern)
    folder = os.path.dirname(pattern) or "."
    if not os.path.isdir(folder):
        raise _error(f"{pattern}: no such folder {folder}")
    if not _existing_frames(pattern, limit=1):
        example = ", ".join(pattern % n for n in (0, 1))
        raise _error(f"{pattern}: no numbered frames found (looked for {example}, ...)")
    try:
        return av.open(pattern, format="image2", options={"framerate": str(FOLDER_FRAME_RATE)})
    except av.FFmpegError as err:
        raise _error(f"{pattern}: cannot read the frames ({err})") from err


def frame_folder_fingerprint(pattern: str | os.PathLike) -> str:
    """Names, sizes and modification times of a pattern's frames, hashed (what a resumed run must find again)."""
    digest = hashlib.sha256()
    for path in _existing_frames(os.fspath(pattern)):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}\n".encode())
    return digest.hexdigest()[:16]


def overwritten_input_frame(source: str | os.PathLike, output: str | os.PathLike) -> Path | None:
    """The first frame file of input pattern ``source`` that writing output pattern ``output``
    (numbered from 1) would replace, or None. ``--overwrite`` must never destroy the input."""
    found = _existing_frames(os.fspath(source))
    inputs = {path.resolve() for path in found}
    for number in range(1, len(found) + 5):  # the input may start at any number in 0..4
        target = Path(os.fspath(output) % number).resolve()
        if target in inputs:
            return target
    return None


def check_frame_output(pattern: str | os.PathLike, overwrite: bool) -> Path:
    """Check that frames can be written to ``pattern`` (folder created if missing); returns the folder.

    Refuses an unknown image format, and a folder that already holds the first frame unless
    ``overwrite``.
    """
    pattern = os.fspath(pattern)
    suffix = os.path.splitext(pattern)[1].lower()
    if suffix not in _FRAME_WRITERS:
        raise _error(f"{pattern}: frames are written as {' or '.join(_FRAME_WRITERS)} files; "
                     f"name the pattern e.g. frames/%05d.png")
    folder = Path(os.path.dirname(pattern) or ".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _error(f"cannot create the output folder {folder} ({err.strerror})") from None
    if os.path.exists(pattern % 1) and not overwrite:
        raise _error(f"{pattern % 1} exists; pass --overwrite to replace the frames")
    return folder


def write_frame_folder(images: Iterable[np.ndarray], pattern: str | os.PathLike) -> int:
    """Write HxWx3 uint8 RGB ``images`` as ``pattern % 1``, ``pattern % 2``, ...; returns the count."""
    pattern = os.fspath(pattern)
    codec, pix_fmt = _FRAME_WRITERS[os.path.splitext(pattern)[1].lower()]
    Path(os.path.dirname(pattern) or ".").mkdir(parents=True, exist_ok=True)
    count = 0
    with av.open(pattern, "w", format="image2") as container:
        stream = None
        for image in images:
            if stream is None:
                stream = container.add_stream(codec, rate=FOLDER_FRAME_RATE)
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = pix_fmt
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = count
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode(None):
                container.mux(packet)
    return count


def spool(source: BinaryIO, path: str | os.PathLike) -> Path:
    """Copy a piped input (``sys.stdin.buffer``) to ``path`` so it can be probed, sought and resumed."""
    path = Path(path)
    with open(path, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    if path.stat().st_size == 0:
        raise _error("stdin is empty: pipe a video into vidstyle, e.g. 'cat clip.mp4 | vidstyle - style.png'")
    return path


def copy_out(path: str | os.PathLike, sink: BinaryIO) -> None:
    """Copy a finished output file to a pipe (``sys.stdout.buffer``)."""
    with open(path, "rb") as source:
        shutil.copyfileobj(source, sink, 1 << 20)
    sink.flush()


def frame_start_time(path: str | os.PathLike, index: int) -> float:
    """The time (seconds, as a ``--start`` value) at which frame ``index`` (from 0) of a video starts.

    Found by demuxing packets (no decoding) and sorting their timestamps, so B-frames and
    variable frame rates are handled. Rounded down to the microsecond, so that a seek to it
    keeps frame ``index`` and drops the one before.
    """
    from .video_files import open_input, require_video_stream

    path = os.fspath(path)
    with open_input(path) as container:
        stream = require_video_stream(container, path)
        times = []
        # Presentation order differs from decoding order only within a few frames: read a margin.
        for packet in container.demux(stream):
            if packet.pts is not None:
                times.append(packet.pts)
                if len(times) > index + 64:
                    break
        times.sort()
        if index >= len(times):
            raise _error(f"{path} has only {len(times)} frames; --start-frame {index} is past its end")
        start = times[index] * stream.time_base  # absolute, as read_frames compares it
        return max(0.0, int(start * 1_000_000) / 1_000_000)
