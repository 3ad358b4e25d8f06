"""One image stylized the way ``vidstyle image`` does it: working size, colour preservation in
and out, the Stylizer from the factory, the cartoon look. Tensors in, tensors out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..settings import ImageSettings
from .cartoon import cartoonize
from .colors import color_inputs, color_output, preserve_method
from .factory import build_stylizer
from .features import VGGFeatures
from .optimize import OptimizationInterrupted, ProgressCallback, SnapshotCallback
from .stylizer import StylizeResult
from .tensors import resize_long_side, to_tensor, to_uint8, working_long_side


@dataclass
class ImageResult:
    """The finished image (1, 3, H, W) in [0, 1], how its optimisation went, and the weights used."""

    image: torch.Tensor
    result: StylizeResult
    weights_label: str


def stylize_image(
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    settings: ImageSettings,
    *,
    init: str | torch.Tensor | None = None,
    extractor: VGGFeatures | None = None,
    progress: bool = True,
    callback: ProgressCallback | None = None,
    snapshot: SnapshotCallback | None = None,
    masks: torch.Tensor | None = None,
) -> ImageResult:
    """Stylize ``content`` (1, 3, H, W) with ``styles`` under ``settings``.

    The content is resized to ``settings.size`` (long side; None: its own, at most
    ``MAX_AUTO_SIZE``). ``init`` overrides ``settings.optim.init`` (an image file must come in
    as a tensor). With ``--preserve-colors`` the network sees what
    :func:`~vidstyle.core.colors.color_inputs` gives it and the content's colours come back
    after; with ``--cartoon`` the cartoon look is applied last. ``masks`` (1, R, H', W') in [0, 1],
    one channel per style (``--style-mask``; any size, resized to the working size): region r
    takes style r.

    ``snapshot(iteration, image)`` is called every ``settings.save_every`` iterations with the
    image so far, finished like the result (colours, cartoon). Ctrl-C raises
    :class:`~vidstyle.core.optimize.OptimizationInterrupted` whose ``image`` is the image so
    far, finished the same way.
    """
    content = resize_long_side(content, working_long_side(settings.size, *content.shape[-2:]))
    colors = preserve_method(settings.style)
    start = settings.optim.init if init is None else init
    net_content, net_styles, start = color_inputs(colors, content, styles, start)
    stylizer = build_stylizer(settings, net_styles, extractor=extractor, progress=progress)

    def finish(image: torch.Tensor) -> torch.Tensor:
        image = color_output(colors, image, content.to(image.device))
        if settings.cartoon.enabled:
            image = to_tensor(cartoonize(to_uint8(content), to_uint8(image), settings.cartoon))
        return image

    every = settings.save_every if snapshot is not None else 0
    try:
        result = stylizer.stylize(net_content, start, callback=callback, masks=masks, snapshot_every=every,
                                  snapshot=(lambda i, image: snapshot(i, finish(image))) if every else None)
    except OptimizationInterrupted as stop:
        stop.image = finish(stop.image)
        raise
    return ImageResult(finish(result.image), result, stylizer.weights_label)
