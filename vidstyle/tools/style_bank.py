"""Several styles, one per image of a batch: Gram targets per style and size, stacked per batch.

The Stylizer blends its styles into one target for every image; augmentation and folder
batches want a different style per image of the same batch. The loss takes targets of shape
(B, C, C) (one per image), so a batch (B, 3, H, W) is optimised in one go with each image
against its own style, through the Stylizer's one way of setting targets.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

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
        key = (index, self.stylizer.style_long_side(content_long_side))
        if key not in self._grams:
            self._grams[key] = self.stylizer.grams_of(self.styles[index], content_long_side)
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
        stylizer = self.stylizer
        content = content.to(stylizer.device, torch.float32)
        long_side = max(content.shape[-2:])
        per_image = [self.grams(i, long_side) for i in style_indices]
        stacked = {name: torch.cat([grams[name] for grams in per_image]) for name in per_image[0]}
        stylizer.set_targets(content, style_grams=stacked)
        start = stylizer.initial_image(content, init)
        return stylizer.optimize(start, stylizer.optim.iters if iters is None else iters, callback=callback)
