"""``vidstyle.stylize(image, style, **options)``: one image stylized in one call, every setting
defaulted (the Python counterpart of ``vidstyle image``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import torch

from ..core.features import VGGFeatures
from ..core.keywords import settings_from_options
from ..core.stylize_image import stylize_image
from ..core.tensors import image_batch, to_tensor, to_uint8
from ..media.image_files import load_image, load_init
from ..media.style_masks import load_mask_images
from ..settings import ImageSettings

ImageLike = Union[str, "os.PathLike[str]", np.ndarray, torch.Tensor]


def as_image_tensor(image: ImageLike, what: str) -> torch.Tensor:
    """A path, an HxWx3 uint8 RGB array or a tensor (see
    :func:`~vidstyle.core.tensors.image_batch`) as a (1, 3, H, W) float tensor in [0, 1]."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, what)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{what} arrays must be HxWx3 uint8 RGB, not {image.dtype} {image.shape}")
        return to_tensor(image)
    batch = image_batch(image, what)
    if batch.shape[0] != 1:
        raise ValueError(f"{what}: one image at a time, not a batch of {batch.shape[0]} "
                         "(vidstyle.RandomStylize and `vidstyle batch` take batches)")
    return batch


def stylize(image: ImageLike, style: ImageLike | Sequence[ImageLike], *, extractor: VGGFeatures | None = None,
            progress: bool = True, **options: Any) -> Any:
    """Stylize ``image`` with ``style`` (one image or a list, blended) as ``vidstyle image`` does.

    ``image`` and each style: a file path, an HxWx3 uint8 RGB array, or a (3, H, W) /
    (1, 3, H, W) tensor (uint8, or float in [0, 1]). The result has the working size (long
    side ``size``; default: the image's own, at most 512) and the input's kind: a tensor for a
    tensor (same number of dimensions, dtype and device), an HxWx3 uint8 array for an array
    *or a path*. ``options`` are any setting of :class:`~vidstyle.settings.ImageSettings` by
    name, nested ones included (``size=256, iters=100, alpha=1e3, device="cpu",
    weights="random", preserve_colors=True, cartoon=True``; see
    :mod:`vidstyle.core.keywords`); an unknown one is a ``TypeError``. ``extractor``: a
    loaded network to reuse across calls (or a small one in tests); otherwise the weights
    are loaded per call (``weights="auto"``: ImageNet VGG19 from the torch hub cache).
    """
    settings = settings_from_options(ImageSettings, options, caller="stylize", reserved=("content", "output", "paths"))
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise ValueError("at least one style image is needed")
    content = as_image_tensor(image, "image")
    style_tensors = [as_image_tensor(s, "style image") for s in styles]
    # Files are read before the network loads, so a typo fails at once (as on the CLI).
    masks = load_mask_images(settings.style.masks)
    init = load_init(settings.optim.init)
    result = stylize_image(content, style_tensors, settings, init=init, extractor=extractor, progress=progress,
                           masks=masks).image
    if not isinstance(image, torch.Tensor):
        return to_uint8(result)
    out = result.to(image.device)
    if image.dtype == torch.uint8:
        out = (out * 255).round_().to(torch.uint8)
    else:
        out = out.to(image.dtype)
    return out[0] if image.ndim == 3 else out
