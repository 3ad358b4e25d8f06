"""The losses of Gatys et al. as pure functions, and one thin module that holds their targets.

Every function takes batched tensors (B, ...) and returns one value per image, shape (B,), so
several independent images can be optimised in one batch: the gradient of the summed loss with
respect to each image is that image's own gradient. Reductions run in float32 whatever the
dtype of the features (bf16 autocast would lose the small differences that matter here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

TV_KINDS = ("l2", "l1", "pow")
GRAM_KINDS = ("plain", "centered")


def _fp32(tensor: torch.Tensor) -> torch.Tensor:
    """At least float32 (bf16/fp16 features are promoted; float64 stays float64)."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def gram_matrix(features: torch.Tensor, centered: bool = False) -> torch.Tensor:
    """``G = F F^T / (H W)`` for features (B, C, H, W) -> (B, C, C), computed in float32.

    ``centered`` subtracts each channel's spatial mean first (a covariance matrix), which
    ignores the mean activation and keeps only how channels co-vary.
    """
    b, c, h, w = features.shape
    flat = _fp32(features.reshape(b, c, h * w))
    if centered:
        flat = flat - flat.mean(dim=2, keepdim=True)
    return torch.bmm(flat, flat.transpose(1, 2)) / (h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||F - P||_F^2 / (C H W)`` per image: (B, C, H, W) x (B or 1, C, H, W) -> (B,)."""
    diff = _fp32(features) - _fp32(target)
    return diff.pow(2).flatten(1).mean(dim=1)


def style_loss(gram: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """``||G - A||_F^2 / C^2`` per image: (B, C, C) x (B or 1, C, C) -> (B,)."""
    return (gram - target_gram).pow(2).flatten(1).mean(dim=1)


def total_variation(
    image: torch.Tensor, kind: str = "l2", gamma: float = 1.25, eps: float = 1e-8
) -> torch.Tensor:
    """Total variation of images (B, C, H, W) -> (B,), as a mean over pixels.

    With ``dx``/``dy`` the horizontal/vertical neighbour differences:
    ``l2`` = mean(dx^2) + mean(dy^2); ``l1`` = mean|dx| + mean|dy|;
    ``pow`` = mean(((dx^2 + dy^2) + eps)^gamma) over the (H-1) x (W-1) pixels that have both
    (Mahendran & Vedaldi's TV^beta with beta = 2 gamma; ``eps`` keeps the gradient finite where
    the image is flat when gamma < 1).

    Means rather than sums: the value does not grow with the number of pixels, and for
    pixel-level noise it is the same at every size. For a picture it is not: it depends on how
    much detail each pixel carries. Measured per doubling of the long side: photos with detail
    at every scale change little (l2 0.9-2x), a picture enlarged beyond its detail loses about
    4x (l2), 2x (l1), 5x (pow). So ``--beta`` is not resolution-free: retune it when the working
    size changes much.
    """
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    if kind == "l2":
        return dx.pow(2).flatten(1).mean(1) + dy.pow(2).flatten(1).mean(1)
    if kind == "l1":
        return dx.abs().flatten(1).mean(1) + dy.abs().flatten(1).mean(1)
    if kind == "pow":
        squared = dx[..., :-1, :].pow(2) + dy[..., :, :-1].pow(2)
        return (squared + eps).pow(gamma).flatten(1).mean(1)
    raise ValueError(f"unknown total variation kind {kind!r}; choose one of {', '.join(TV_KINDS)}")


def temporal_loss(image: torch.Tensor, warped_previous: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean(c * (x - warp(x_prev))^2)`` per image (Ruder et al. 2016); ``mask`` c in [0, 1]."""
    diff = (_fp32(image) - _fp32(warped_previous)).pow(2) * _fp32(mask)
    return diff.flatten(1).mean(dim=1)


def blend_grams(grams: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """Weighted mean of several styles' Gram matrices (weights normalised to sum to 1)."""
    if len(grams) != len(weights):
        raise ValueError(f"{len(weights)} blend weights for {len(grams)} styles")
    total = float(sum(weights))
    if any(w < 0 for w in weights) or total <= 0:
        raise ValueError("style blend weights must be >= 0 and sum to a positive number")
    return sum(g * (w / total) for g, w in zip(grams, weights))


@dataclass(eq=False)
class LossTargets:
    """What the loss compares an image against.

    ``content``: the content layer's features (B or 1, C, H, W); ``style``: Gram matrices per
    style layer (B or 1, C, C); ``temporal``: (warped previous output (B or 1, 3, H, W), mask
    (B or 1, 1, H, W)), or None where there is no previous frame.
    """

    content: torch.Tensor
    style: dict[str, torch.Tensor]
    temporal: tuple[torch.Tensor, torch.Tensor] | None = None

    def tensors(self) -> list[torch.Tensor]:
        """Every target tensor, in a fixed order (content, style layers, temporal)."""
        return [self.content, *self.style.values(), *(self.temporal or ())]

    def layout(self) -> tuple:
        """Shapes and presence of the targets: equal layouts can share static buffers."""
        return (tuple(self.style), self.temporal is not None, tuple(tuple(t.shape) for t in self.tensors()))

    def clone(self) -> "LossTargets":
        """Copies of every tensor (e.g. the static buffers a CUDA graph reads)."""
        temporal = tuple(t.clone() for t in self.temporal) if self.temporal is not None else None
        return LossTargets(self.content.clone(), {k: v.clone() for k, v in self.style.items()}, temporal)

    def copy_(self, other: "LossTargets") -> None:
        """Overwrite these tensors in place with ``other``'s values (same layout)."""
        if self.layout() != other.layout():
            raise ValueError("targets of another layout cannot be copied in place")
        with torch.no_grad():
            for mine, theirs in zip(self.tensors(), other.tensors()):
                mine.copy_(theirs)


class StyleTransferLoss(nn.Module):
    """Holds the weights and the current :class:`LossTargets`; ``forward(features, image)``
    returns named loss terms.

    ``L = L_content + alpha * sum_l w_l L_style_l + beta * L_tv (+ w_t * L_temporal)``.
    Targets come in whole through :meth:`load_targets` and go out through
    :meth:`export_targets`; ``forward(..., targets=...)`` evaluates against other targets
    without touching the held ones (a CUDA graph passes its static buffers this way).
    Terms come back per image, shape (B,), under ``content``, ``style/<layer>``, ``tv``,
    ``temporal`` and ``total``.
    """

    def __init__(
        self,
        content_layer: str,
        style_weights: Mapping[str, float],
        alpha: float,
        beta: float,
        *,
        gram: str = "plain",
        tv: str = "l2",
        tv_gamma: float = 1.25,
        temporal_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if gram not in GRAM_KINDS:
            raise ValueError(f"unknown gram kind {gram!r}; choose one of {', '.join(GRAM_KINDS)}")
        if tv not in TV_KINDS:
            raise ValueError(f"unknown total variation kind {tv!r}; choose one of {', '.join(TV_KINDS)}")
        self.content_layer = content_layer
        self.style_weights = dict(style_weights)
        self.alpha, self.beta = float(alpha), float(beta)
        self.gram_kind, self.tv_kind, self.tv_gamma = gram, tv, float(tv_gamma)
        self.temporal_weight = float(temporal_weight)
        self.targets: LossTargets | None = None

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the loss reads, content first."""
        return tuple(dict.fromkeys([self.content_layer, *self.style_weights]))

    def grams(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Gram matrices of the style layers of ``features``."""
        centered = self.gram_kind == "centered"
        return {name: gram_matrix(features[name], centered) for name in self.style_weights}

    def make_targets(
        self,
        content_features: Mapping[str, torch.Tensor],
        style_grams: Mapping[str, torch.Tensor],
        temporal: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    ) -> LossTargets:
        """Targets from the content image's features, the style Grams and (warped previous
        output, mask) for the temporal term; a mask of None means every pixel counts."""
        if temporal is not None and not self.temporal_weight:
            temporal = None  # a term with no weight needs no target
        if temporal is not None:
            warped, mask = temporal
            mask = torch.ones_like(warped[:, :1]) if mask is None else mask
            temporal = (warped.detach(), mask.detach())
        return LossTargets(
            content_features[self.content_layer].detach(),
            {name: style_grams[name].detach() for name in self.style_weights},
            temporal,
        )

    def load_targets(self, targets: LossTargets) -> None:
        """Use ``targets`` from now on."""
        missing = set(self.style_weights) - set(targets.style)
        if missing:
            raise ValueError(f"style targets lack layers {sorted(missing)}")
        self.targets = targets

    def export_targets(self) -> LossTargets:
        """The targets in use (raises if none were loaded)."""
        if self.targets is None:
            raise RuntimeError("load_targets must be called before the loss is used")
        return self.targets

    def uses_temporal(self, targets: LossTargets | None = None) -> bool:
        """Whether the temporal term is on: a weight and a temporal target."""
        targets = targets if targets is not None else self.targets
        return bool(self.temporal_weight) and targets is not None and targets.temporal is not None

    def forward(self, features: Mapping[str, torch.Tensor], image: torch.Tensor,
                targets: LossTargets | None = None) -> dict[str, torch.Tensor]:
        targets = targets if targets is not None else self.export_targets()
        terms: dict[str, torch.Tensor] = {"content": content_loss(features[self.content_layer], targets.content)}
        total = terms["content"]
        for name, gram in self.grams(features).items():
            term = style_loss(gram, targets.style[name])
            terms[f"style/{name}"] = term
            total = total + self.alpha * self.style_weights[name] * term
        if self.beta:
            terms["tv"] = total_variation(image, self.tv_kind, self.tv_gamma)
            total = total + self.beta * terms["tv"]
        if self.uses_temporal(targets):
            terms["temporal"] = temporal_loss(image, *targets.temporal)
            total = total + self.temporal_weight * terms["temporal"]
        terms["total"] = total
        return terms

    def extra_repr(self) -> str:
        layers = ", ".join(f"{k}:{v:g}" for k, v in self.style_weights.items())
        return (
            f"content={self.content_layer}, style=[{layers}], alpha={self.alpha:g}, beta={self.beta:g}, "
            f"gram={self.gram_kind}, tv={self.tv_kind}, temporal_weight={self.temporal_weight:g}"
        )
