"""``vidstyle.stylize_video(input, style, output, **options)``: a video stylized in one call,
every setting defaulted (the Python counterpart of ``vidstyle INPUT STYLE -o OUTPUT``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.features import VGGFeatures
from ..core.keywords import settings_from_options
from ..media.image_files import check_writable, load_image
from ..settings import VideoSettings
from .pipeline import FrameReport, VideoReport, run_video, same_file

PathLike = str | os.PathLike


def video_settings_from(input: PathLike, style: PathLike | Sequence[PathLike], output: PathLike,
                        options: dict[str, Any]) -> VideoSettings:
    """The :class:`~vidstyle.settings.VideoSettings` of a call: the defaults, ``options`` by name
    (see :mod:`vidstyle.core.keywords`), and ``tol`` for the optimiser too, as the CLI does."""
    settings = settings_from_options(VideoSettings, options, caller="stylize_video", reserved=("input", "output", "paths"))
    paths = tuple(str(p) for p in (style if isinstance(style, (list, tuple)) else [style]))
    return dataclasses.replace(settings, input=str(input), output=str(output),
                               style=dataclasses.replace(settings.style, paths=paths),
                               optim=dataclasses.replace(settings.optim, tol=settings.tol))


def stylize_video(input: PathLike, style: PathLike | Sequence[PathLike], output: PathLike, *,
                  extractor: VGGFeatures | None = None, progress: bool = True,
                  on_frame: Callable[[FrameReport], None] | None = None, **options: Any) -> VideoReport:
    """Stylize the video file ``input`` with the style image file(s) ``style`` into ``output``.

    The same run as ``vidstyle INPUT STYLE -o OUTPUT``: ``options`` are any setting of
    :class:`~vidstyle.settings.VideoSettings` by name (``size=256, iters=150, warm_iters=30,
    max_frames=48, device="cuda", overwrite=True``, ...); an unknown one is a ``TypeError``.
    Style images are files, so that an interrupted run resumes only with the same ones.
    Returns the run's :class:`~vidstyle.video.pipeline.VideoReport`; ``on_frame`` gets a
    :class:`~vidstyle.video.pipeline.FrameReport` per frame. ``extractor``: a loaded network to
    reuse (or a small one in tests).
    """
    settings = video_settings_from(input, style, output, options)
    if not settings.style.paths:
        raise ValueError("at least one style image is needed")
    styles = [load_image(path, "style") for path in settings.style.paths]
    if not Path(settings.input).is_file():
        raise FileNotFoundError(f"input video not found: {settings.input}")
    if same_file(settings.input, settings.output):
        raise ValueError(f"the output would overwrite the input {settings.input}")
    check_writable(settings.output)
    if Path(settings.output).exists() and not settings.overwrite:
        raise FileExistsError(f"{settings.output} exists; pass overwrite=True to replace it")
    return run_video(settings, styles=styles, extractor=extractor, progress=progress, on_frame=on_frame)
