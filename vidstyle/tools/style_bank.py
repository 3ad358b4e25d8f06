"""Several styles, one per image of a batch: Gram targets per style and size, stacked per batch.

The Stylizer blends its styles into one target for every image; augmentation wants a different
style per image of the same batch. The loss already takes targets of shape (B, C, C) (one per
image), so a batch (B, 3, H, W) is optimised in one go with each image against its own style.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..media.image_files import resize_long_side
from ..core.optimize import OptimResult, ProgressCallback
from ..core.stylizer import Stylizer


class StyleBank:
    """Style images and a Stylizer (network, loss, settings) that optimises a batch of images,
    each against the style chosen for it. Gram targets are computed once per (style, size)."""

    def __init__(self, stylizer: Stylizer, styles: Sequence[torch.Tensor]) -> None:
        if not styles:
            raise ValueError("at least one style image is needed")
        self.stylizer = stylizer
        self.styles = [s.to(stylizer.device) for s in styles]
        self._grams: dict[tuple[int, int], dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.styles)

    def grams(self, index: int, content_long_side: int) -> dict[str, torch.Tensor]:
        """Gram targets (1, C, C) of style ``index`` for content of this long side (cached)."""
        side = self.stylizer.style_long_side(content_long_side)
        key = (index, side)
        if key not in self._grams:
            with torch.no_grad():
                features = self.stylizer.features(resize_long_side(self.styles[index], side))
                self._grams[key] = self.stylizer.loss.grams(features)
        return self._grams[key]

    def stylize(
        self,
        content: torch.Tensor,
        style_indices: Sequence[int],
        iters: int | None = None,
        *,
        init: str | torch.Tensor | None = None,
        callback: ProgressCallback | None = None,
    ) -> OptimResult:
        """Stylize the batch ``content`` (B, 3, H, W), image ``i`` with style ``style_indices[i]``.

        Single scale (the settings' ``multiscale`` is not used); ``iters``/``init`` default to
        the Stylizer's settings. With L-BFGS the images of one batch share the optimiser's step
        history; with Adam each image's result equals the one it would get alone.
        """
        if len(style_indices) != content.shape[0]:
            raise ValueError(f"{len(style_indices)} style indices for a batch of {content.shape[0]}")
        stylizer, optim = self.stylizer, self.stylizer.optim
        content = content.to(stylizer.device, torch.float32)
        long_side = max(content.shape[-2:])
        per_image = [self.grams(i, long_side) for i in style_indices]
        with torch.no_grad():
            stylizer.loss.set_content(stylizer.features(content))
        stylizer.loss.set_style_grams({name: torch.cat([g[name] for g in per_image]) for name in per_image[0]})
        stylizer.loss.set_temporal(None)
        return stylizer.optimize(stylizer.initial_image(content, init), optim.iters if iters is None else iters,
                                 callback=callback)
