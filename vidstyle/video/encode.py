"""The encoder side of a video run: stylized frames -> the look -> the output size -> segment files.

Runs in the encoder thread of the offline run (:mod:`vidstyle.video.pipeline`) and of every Ray
segment (:mod:`vidstyle.scale.frame_ranges`), so both encode exactly alike.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..core.tensors import to_uint8_array
from ..media.containers import fit_crf, writable_pixel_format
from ..media.video_files import Frame, VideoInfo, VideoWriter, processing_size
from ..settings import VideoSettings, encoder_choice
from .chain import FrameLook


@dataclass(frozen=True, eq=False)
class StylizedFrame:
    """One frame for the encoder: ``stylized`` (1, 3, h, w) float32 on the host, exactly the
    chain's value (a resumed run warm-starts from it), and ``frame``, the RGB uint8 input frame
    at the working size (the look reads its colours and outlines)."""

    index: int
    pts: int
    end_time: float  # seconds (source timeline) when this frame ends
    stylized: np.ndarray
    frame: np.ndarray

    @classmethod
    def of(cls, frame: Frame, stylized: torch.Tensor, info: VideoInfo) -> "StylizedFrame":
        """The decoded ``frame`` and its stylization (a tensor on any device), copied to the host."""
        end_time = frame.time + float(1 / info.frame_rate)
        return cls(frame.index, frame.pts, end_time, stylized.detach().cpu().numpy(), frame.image)


def output_size(settings: VideoSettings, info: VideoInfo) -> tuple[int, int]:
    """(w, h) the video is encoded at: the processing size, or the source's (``--output-size source``)."""
    return processing_size(info.width, info.height, settings.size if settings.output_size == "processing" else None)


@dataclass(frozen=True, eq=False)
class SegmentDone:
    """A finished segment file: frames ``[first, first + count)``, the last one's stylized value
    and the time (seconds) it ends."""

    path: Path
    first: int
    count: int
    last_stylized: np.ndarray
    end_time: float


def video_encoder(settings: VideoSettings, info: VideoInfo, *, look: FrameLook, segment_frames: int,
                  next_path: Callable[[], Path], on_segment: Callable[[SegmentDone], None],
                  on_palette: Callable[[np.ndarray], None] | None = None, aligned: bool = False) -> "SegmentEncoder":
    """The encoder of a video run (the offline run's segments, or one Ray segment)."""
    size = output_size(settings, info)
    crf, pix_fmt = encoder_choice(settings, *size)
    if settings.crf is None:
        crf = fit_crf(settings.codec, crf)
    pix_fmt = writable_pixel_format(settings.codec, pix_fmt, explicit=settings.pix_fmt != "auto")
    return SegmentEncoder(look=look, out_size=size, info=info, codec=settings.codec,
                          crf=crf, segment_frames=segment_frames, next_path=next_path,
                          on_segment=on_segment, on_palette=on_palette, aligned=aligned, pix_fmt=pix_fmt,
                          tune=settings.tune)


class SegmentEncoder:
    """Consumes :class:`StylizedFrame` items (from a :class:`~vidstyle.video.threads.BackgroundConsumer`)
    and writes them into segment files of ``segment_frames`` each, at ``out_size`` = (w, h).

    Every picture is ``look(frame, stylized)`` (fitting the cartoon palette on the first frame
    if the look still needs one: ``on_palette`` receives it). A segment is reported to
    ``on_segment`` only once its file is complete; ``next_path()`` names the next one. When the
    stream ends early (Ctrl-C, an error upstream) the segment in progress is closed and kept;
    when it is aborted, the unfinished file is deleted.

    ``aligned``: segments end after frame numbers that are multiples of ``segment_frames`` (minus
    one), so a run resumed after a short segment (Ctrl-C) finds the same boundaries again and
    encodes every later segment exactly as an uninterrupted run.
    """

    def __init__(
        self,
        *,
        look: FrameLook,
        out_size: tuple[int, int],
        info: VideoInfo,
        codec: str,
        crf: int,
        segment_frames: int,
        next_path: Callable[[], Path],
        on_segment: Callable[[SegmentDone], None],
        on_palette: Callable[[np.ndarray], None] | None = None,
        aligned: bool = False,
        pix_fmt: str = "yuv420p",
        tune: str | None = None,
    ) -> None:
        self.pix_fmt, self.tune = pix_fmt, tune
        self.look, self.out_size, self.info = look, out_size, info
        self.aligned = aligned
        self.codec, self.crf, self.segment_frames = codec, crf, segment_frames
        self.next_path, self.on_segment, self.on_palette = next_path, on_segment, on_palette

    def picture(self, item: StylizedFrame) -> np.ndarray:
        """What is encoded for ``item``: the look, at the output size."""
        stylized = to_uint8_array(item.stylized)
        if self.look.needs_palette:
            self.look = self.look.fitted(item.frame, stylized)
            if self.on_palette is not None:
                self.on_palette(self.look.palette)
        image = self.look(item.frame, stylized)
        width, height = self.out_size
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
        return image

    def __call__(self, items: Iterator[StylizedFrame]) -> None:
        width, height = self.out_size
        stack = contextlib.ExitStack()
        writer: VideoWriter | None = None
        path = Path()
        first = count = 0
        last: StylizedFrame | None = None

        def close_segment() -> None:
            nonlocal writer
            stack.close()  # VideoWriter moves the finished file into place here
            self.on_segment(SegmentDone(path, first, count, last.stylized, last.end_time))
            writer = None

        try:
            for item in items:
                if writer is None:
                    path = self.next_path()
                    writer = stack.enter_context(VideoWriter(
                        path, width, height, time_base=self.info.time_base, rate=self.info.frame_rate,
                        codec=self.codec, crf=self.crf, b_frames=False, pix_fmt=self.pix_fmt, tune=self.tune,
                    ))
                    first, count = item.index, 0
                writer.write(self.picture(item), item.pts)
                count += 1
                last = item
                if count == self.segment_frames or (self.aligned and (item.index + 1) % self.segment_frames == 0):
                    close_segment()
        except BaseException:
            stack.__exit__(*sys.exc_info())  # the unfinished segment's temporary file is deleted
            raise
        if writer is not None:
            close_segment()
