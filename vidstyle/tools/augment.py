"""``RandomStylize``: style transfer as a data augmentation, in the manner of torchvision transforms.

>>> from vidstyle import RandomStylize
>>> augment = RandomStylize(["starry.jpg", "wave.jpg"], p=0.5, iters=30, size=256, seed=0)
>>> out = augment(image)  # (3, H, W) or (B, 3, H, W) tensor, or HxWx3 / BxHxWx3 ndarray

Each call draws, for every image, whether to stylize it (probability ``p``) and which style to
use. With ``seed`` set the transform has its own ``torch.Generator``, so the same sequence of
calls gives the same images; with ``seed=None`` it draws from torch's global RNG like
torchvision's transforms (a DataLoader seeds that per worker, so workers do not repeat each
other). The network is built on first use, so the transform is cheap to create and to pickle.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..core.tensors import resize, resize_long_side, to_tensor
from ..media.image_files import load_image
from ..settings import AugmentSettings


def _style_tensor(style: Any) -> torch.Tensor:
    """A style given as a path, a (3, H, W)/(1, 3, H, W) tensor in [0, 1] or an HxWx3 uint8 array."""
    if isinstance(style, (str, os.PathLike)):
        return load_image(style, "style")
    if isinstance(style, np.ndarray):
        return to_tensor(style) if style.dtype == np.uint8 else torch.from_numpy(style).permute(2, 0, 1)[None].float()
    if isinstance(style, torch.Tensor):
        style = style.float() / 255 if style.dtype == torch.uint8 else style.float()
        return style[None] if style.dim() == 3 else style
    raise TypeError(f"a style must be a path, a tensor or an ndarray, not {type(style).__name__}")


class RandomStylize:
    """Stylize each image with probability ``p`` with a style drawn uniformly from ``styles``.

    Keyword arguments left as None come from ``settings`` (:class:`~vidstyle.settings.AugmentSettings`):
    ``iters`` per image, ``size`` (long side to stylize at; the result is resized back),
    ``alpha`` (style weight), ``weights`` (``"auto"``, ``"imagenet"``, ``"random"`` or a path),
    ``device``. ``extractor`` injects a network (a :class:`~vidstyle.core.features.VGGFeatures`), e.g.
    one shared by several transforms. Images keep their type, shape, dtype and device.
    """

    def __init__(
        self,
        styles: Sequence[Any],
        p: float | None = None,
        *,
        iters: int | None = None,
        size: int | None = None,
        alpha: float | None = None,
        seed: int | None = None,
        weights: str | None = None,
        device: str | None = None,
        extractor: Any = None,
        settings: AugmentSettings = AugmentSettings(),
    ) -> None:
        if not styles:
            raise ValueError("RandomStylize needs at least one style")
        replace = dataclasses.replace
        settings = replace(
            settings,
            p=settings.p if p is None else float(p),
            size=settings.size if size is None else size,
            seed=settings.seed if seed is None else seed,
            optim=settings.optim if iters is None else replace(settings.optim, iters=iters),
            loss=settings.loss if alpha is None else replace(settings.loss, alpha=alpha),
            model=replace(settings.model, **{k: v for k, v in (("weights", weights), ("device", device)) if v is not None}),
        )
        if not 0.0 <= settings.p <= 1.0:
            raise ValueError(f"p must be in [0, 1], not {settings.p}")
        self.settings = settings
        self.styles = [_style_tensor(s) for s in styles]
        self.extractor = extractor
        self.generator = torch.Generator().manual_seed(settings.seed) if settings.seed is not None else None
        self._bank = None

    def __repr__(self) -> str:
        s = self.settings
        return (f"{type(self).__name__}(styles={len(self.styles)}, p={s.p}, iters={s.optim.iters}, "
                f"size={s.size}, alpha={s.loss.alpha:g}, seed={s.seed})")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_bank"] = None  # rebuilt on first use in the receiving process
        return state

    # -- the network, built once on first use -------------------------------------------------

    def bank(self):  # noqa: ANN201
        """The :class:`~vidstyle.tools.style_bank.StyleBank` that does the work (built on first call)."""
        if self._bank is None:
            from ..core.factory import build_stylizer
            from .style_bank import StyleBank

            stylizer = build_stylizer(self.settings, self.styles[:1], extractor=self.extractor, progress=False)
            self._bank = StyleBank(stylizer, self.styles)
        return self._bank

    # -- drawing ------------------------------------------------------------------------------

    def draw(self, count: int) -> list[int | None]:
        """For ``count`` images: the style index to use, or None to leave the image as it is."""
        n = len(self.styles)
        choices: list[int | None] = []
        for _ in range(count):
            # Always draw both numbers, so the stream of draws does not depend on p.
            apply = float(torch.rand((), generator=self.generator)) < self.settings.p
            index = int(torch.randint(n, (), generator=self.generator))
            choices.append(index if apply else None)
        return choices

    # -- the transform ------------------------------------------------------------------------

    def __call__(self, image: Any) -> Any:
        if isinstance(image, np.ndarray):
            return self._call_ndarray(image)
        if isinstance(image, torch.Tensor):
            return self._call_tensor(image)
        raise TypeError(f"RandomStylize takes a torch.Tensor or a numpy.ndarray, not {type(image).__name__} "
                        "(convert PIL images with torchvision.transforms.functional.pil_to_tensor)")

    def _call_tensor(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() not in (3, 4) or image.shape[-3] != 3:
            raise ValueError(f"expected an RGB tensor (3, H, W) or (B, 3, H, W), not {tuple(image.shape)}")
        batch = image[None] if image.dim() == 3 else image
        choices = self.draw(batch.shape[0])
        if all(c is None for c in choices):
            return image
        as_float = batch.float() / 255 if batch.dtype == torch.uint8 else batch.float()
        out = as_float.clone()
        chosen = [i for i, c in enumerate(choices) if c is not None]
        out[chosen] = self._stylize(as_float[chosen], [choices[i] for i in chosen]).to(out.device)
        if batch.dtype == torch.uint8:
            out = out.mul(255).round().clamp(0, 255)
        out = out.to(image.dtype)
        return out[0] if image.dim() == 3 else out

    def _call_ndarray(self, image: np.ndarray) -> np.ndarray:
        if image.ndim not in (3, 4) or image.shape[-1] != 3:
            raise ValueError(f"expected an RGB array HxWx3 or BxHxWx3, not {image.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(image))
        tensor = tensor.movedim(-1, -3)
        out = self._call_tensor(tensor)
        if out is tensor:
            return image
        return np.ascontiguousarray(out.movedim(-3, -1).numpy())

    def _stylize(self, batch: torch.Tensor, styles: list[int]) -> torch.Tensor:
        """Stylize (B, 3, H, W) floats in [0, 1] with one style each; returns them at their size."""
        size = tuple(batch.shape[-2:])
        work = resize_long_side(batch, self.settings.size) if self.settings.size else batch
        result = self.bank().stylize(work, styles).image
        return resize(result, size).cpu()
