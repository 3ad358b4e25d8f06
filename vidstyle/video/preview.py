"""A preview of a video run: its first frame, stylized exactly as the run would, in seconds.

The first frame of a run is its cold start (the full ``--iters`` budget, ``--init``,
``--multiscale``); everything after it is warm-started from it. So the first frame shows what
the settings do (``--alpha``, layers, colours, cartoon) at a small fraction of the run's cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.factory import Weights, build_stylizer
from ..core.features import VGGFeatures
from ..core.optimize import ProgressCallback
from ..media.frame_sources import is_frame_pattern, is_pipe
from ..media.video_files import VideoError, probe, processing_size, read_frames
from ..settings import VideoSettings
from .chain import DecodedFrame, close_masks, plan_frame, video_look, video_rule, video_styles
from .encode import StylizedFrame, video_encoder


@dataclass(frozen=True, eq=False)
class Preview:
    """The first frame as the run would encode it (HxWx3 uint8 RGB), and how it got there."""

    image: np.ndarray
    iterations: int
    loss: float
    weights_label: str


def preview_path(output: str) -> Path:
    """Where the preview of a run writing ``output`` goes: ``clip_style.mp4`` -> ``clip_style.preview.png``
    beside it; a frame folder's ``preview.png`` inside it; ``vidstyle-preview.png`` here for stdout."""
    if is_pipe(output):
        return Path("vidstyle-preview.png")
    if is_frame_pattern(output):
        return Path(output).parent / "preview.png"
    return Path(output).with_suffix(".preview.png")


def preview_first_frame(
    settings: VideoSettings,
    styles: Sequence[torch.Tensor],
    *,
    extractor: VGGFeatures | None = None,
    weights: Weights | None = None,
    progress: bool = True,
    callback: ProgressCallback | None = None,
) -> Preview:
    """Stylize the first frame of ``settings``' range (``--start``) the way :func:`run_video`
    would: same working size, style inputs, cold start, budget and look (colours, cartoon), at
    the output size. ``callback(iteration, loss)`` reports progress."""
    info = probe(settings.input)
    size = processing_size(info.width, info.height, settings.size)
    frame = next(read_frames(settings.input, size=size, start=settings.start, max_frames=1), None)
    if frame is None:
        raise VideoError(f"{settings.input}: no frame to preview (check --start/--start-frame)")
    stylizer = build_stylizer(settings, video_styles(settings, styles, size), extractor=extractor,
                              weights=weights, progress=progress)
    rule = video_rule(settings)
    try:
        plan = plan_frame(DecodedFrame(frame), None, rule, stylizer.device)
        result = stylizer.stylize(plan.content, plan.init, plan.iters, tol=rule.tol, callback=callback,
                                  masks=plan.masks)
    finally:
        close_masks(rule)
    # The encoder's own picture step: the look (colours back, cartoon palette) and the output size.
    encoder = video_encoder(settings, info, look=video_look(settings), segment_frames=1,
                            next_path=Path, on_segment=lambda segment: None)
    image = encoder.picture(StylizedFrame.of(frame, result.image, info))
    loss = result.losses[-1] if result.losses else float("nan")
    return Preview(image, result.iterations, loss, stylizer.weights_label)
