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
import torch.nn.functional as F
from torch import nn

TV_KINDS = ("l2", "l1", "pow")
GRAM_KINDS = ("plain", "centered")
STYLE_LOSSES = ("gram", "w2")
W2_EPS = 1e-4  # added to both covariances' diagonals: keeps the matrix square root's gradient finite


def _fp32(tensor: torch.Tensor) -> torch.Tensor:
    """At least float32 (bf16/fp16 features are promoted; float64 stays float64)."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def downsample_mask(mask: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Masks (B or 1, R, H, W) in [0, 1] at a layer's ``size`` (h, w): the mean over each
    cell (area interpolation), so a region's area and soft borders carry over to every layer."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return _fp32(mask)
    return F.interpolate(_fp32(mask), size=tuple(size), mode="area")


def region_shares(mask: torch.Tensor) -> torch.Tensor:
    """Masks (B or 1, R, h, w) -> each region's share of the frame (B or 1, R): its mean."""
    return _fp32(mask).mean(dim=(-2, -1))


def _region_weights(mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Masks (B or 1, R, h, w) -> per-position weights (B or 1, R, h w) summing to 1 per region."""
    flat = mask.flatten(2)
    return flat / flat.sum(dim=2, keepdim=True).clamp_min(eps)


def gram_matrix(features: torch.Tensor, centered: bool = False, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``G = F F^T / (H W)`` for features (B, C, H, W) -> (B, C, C), computed in float32.

    ``centered`` subtracts each channel's spatial mean first (a covariance matrix), which
    ignores the mean activation and keeps only how channels co-vary.

    ``mask`` (B or 1, R, H, W) with values in [0, 1] gives one Gram matrix per region, (B, R, C, C):
    ``G_r = sum_p m_rp F_p F_p^T / sum_p m_rp`` (Gatys et al. 2017's guided Gram matrix, with
    the mask as per-position weights and normalised by the region's area, so a small region's
    statistics compare with a whole style image's). For a 0/1 mask this is the plain Gram
    matrix of the features inside the region.
    """
    b, c, h, w = features.shape
    flat = _fp32(features.reshape(b, c, h * w))
    if mask is not None:
        weights = _region_weights(downsample_mask(mask, (h, w)))  # (B|1, R, P)
        second = torch.matmul(flat[:, None] * weights[:, :, None], flat.transpose(1, 2)[:, None])
        if centered:
            mean = (flat[:, None] * weights[:, :, None]).sum(-1)  # (B, R, C)
            second = second - mean[..., :, None] * mean[..., None, :]
        return second
    if centered:
        flat = flat - flat.mean(dim=2, keepdim=True)
    return torch.bmm(flat, flat.transpose(1, 2)) / (h * w)


def moment_matrix(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The Gaussian fit of features (B, C, H, W) as one matrix that blends linearly: (B, C+1, C+1)
    ``[[E f f^T, E f], [E f^T, 1]]`` (the second raw moment of ``[f; 1]``), or (B, R, C+1, C+1)
    per region with ``mask`` (weights as in :func:`gram_matrix`).

    A weighted mean of these matrices (several styles) is the moment matrix of the mixture, as
    crowsonkb's style-transfer-pytorch blends means and raw moments rather than covariances.
    """
    b, c, h, w = features.shape
    ones = torch.ones(b, 1, h, w, dtype=features.dtype, device=features.device)
    return gram_matrix(torch.cat([features, ones], dim=1), mask=mask)


def gaussian_of(moments: torch.Tensor, eps: float = W2_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean (..., C), covariance + eps I (..., C, C))`` from a :func:`moment_matrix`."""
    mean = moments[..., :-1, -1]
    cov = moments[..., :-1, :-1] - mean[..., :, None] * mean[..., None, :]
    return mean, cov + eps * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)


def psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of symmetric positive semi-definite matrices (..., C, C).

    By eigendecomposition in float64 (negative rounding-level eigenvalues clipped to 0); meant
    for targets, computed once, so no gradient is needed.
    """
    sym = _fp32(matrix).double()
    values, vectors = torch.linalg.eigh((sym + sym.transpose(-2, -1)) / 2)
    root = (vectors * values.clamp_min(0).sqrt()[..., None, :]) @ vectors.transpose(-2, -1)
    return root.to(_fp32(matrix).dtype)


def wasserstein2_squared(
    mean: torch.Tensor, cov: torch.Tensor, target_mean: torch.Tensor, target_cov: torch.Tensor,
    target_cov_sqrt: torch.Tensor,
) -> torch.Tensor:
    """Squared 2-Wasserstein distance between Gaussians N(mean, cov) and N(target_mean, target_cov):
    ``|m - m_t|^2 + tr(S + S_t - 2 (S_t^1/2 S S_t^1/2)^1/2)``, over any leading dimensions.

    The trace of the square root is the sum of the square roots of the eigenvalues of the
    symmetric ``S_t^1/2 S S_t^1/2`` (float64). Its gradient needs only the eigenvectors, not the
    eigenvalue gaps, so repeated eigenvalues are harmless (unlike differentiating a matrix
    square root itself); ``eps I`` in both covariances (:func:`gaussian_of`) keeps the
    eigenvalues away from 0, where the square root's slope is infinite.
    """
    mean, cov = _fp32(mean), _fp32(cov)
    middle = target_cov_sqrt @ cov @ target_cov_sqrt
    middle = ((middle + middle.transpose(-2, -1)) / 2).double()
    root_trace = torch.linalg.eigvalsh(middle).clamp_min(0).sqrt().sum(-1).to(cov.dtype)
    trace = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1) + torch.diagonal(target_cov, dim1=-2, dim2=-1).sum(-1)
    return (mean - target_mean).pow(2).sum(-1) + trace - 2 * root_trace


def w2_style_loss(moments: torch.Tensor, target: Sequence[torch.Tensor], eps: float = W2_EPS) -> torch.Tensor:
    """The ``w2`` style term: :func:`wasserstein2_squared` / C between the Gaussian fit of the
    image's features (``moments``, a :func:`moment_matrix`) and ``target`` = (mean, covariance,
    its square root) from :func:`w2_target`; one value per leading index."""
    mean, cov = gaussian_of(moments, eps)
    return wasserstein2_squared(mean, cov, *target) / mean.shape[-1]


def w2_target(moments: torch.Tensor, eps: float = W2_EPS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A style image's (mean, covariance, covariance square root) from its moment matrix, once."""
    mean, cov = gaussian_of(moments, eps)
    return mean, cov, psd_sqrt(cov)


class _NormalizeGradient(torch.autograd.Function):
    """Identity forward; backward divides each image's gradient by its L1 norm, times ``strength``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, strength: float, eps: float) -> torch.Tensor:  # noqa: ANN001
        ctx.strength, ctx.eps = strength, eps
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205
        norm = grad.abs().flatten(1).sum(1).view(-1, *([1] * (grad.dim() - 1)))
        return grad / (norm + ctx.eps) * ctx.strength, None, None


def normalize_gradient(x: torch.Tensor, strength: float = 1.0, eps: float = 1e-8) -> torch.Tensor:
    """``x`` unchanged in the forward pass; in the backward pass the gradient reaching ``x`` is
    divided by its L1 norm (per image) and multiplied by ``strength`` (jcjohnson/neural-style's
    ``-normalize_gradients``). Put it in front of one weighted loss term with that term's
    weight as ``strength``: the weight already in the incoming gradient cancels in the
    normalisation, so each term pushes with exactly its weight whatever its layer's scale."""
    return _NormalizeGradient.apply(x, float(strength), float(eps))


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||F - P||_F^2 / (C H W)`` per image: (B, C, H, W) x (B or 1, C, H, W) -> (B,)."""
    diff = _fp32(features) - _fp32(target)
    return diff.pow(2).flatten(1).mean(dim=1)


def style_loss(gram: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """``||G - A||_F^2 / C^2`` per image: (B, C, C) x (B or 1, C, C) -> (B,); per region
    (B, R, C, C) x (B or 1, R, C, C) -> (B, R)."""
    return (gram - target_gram).pow(2).mean(dim=(-2, -1))


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


StyleTarget = tuple[torch.Tensor, ...]  # one layer's target: (Gram,) or (mean, covariance, its square root)


@dataclass(eq=False)
class LossTargets:
    """What the loss compares an image against.

    ``content``: features per content layer (B or 1, C, H, W); ``style``: per style layer, the
    Gram matrix ``(G,)`` (B or 1, C, C) for the ``gram`` loss or ``(mean, covariance, its square
    root)`` for ``w2``, with a region dimension after the batch one when there are masks;
    ``temporal``: (warped previous output (B or 1, 3, H, W), mask (B or 1, 1, H, W)), or None
    where there is no previous frame; ``masks``: per style layer, the style masks (B or 1, R,
    h, w) at that layer's size (region r takes style r), or None (one style target everywhere);
    ``revealed``: per style layer, the region of a warm-started frame that has no stylized past
    (B or 1, 1, h, w) at that layer's size, or None (see ``StyleTransferLoss``).
    """

    content: dict[str, torch.Tensor]
    style: dict[str, StyleTarget]
    temporal: tuple[torch.Tensor, torch.Tensor] | None = None
    masks: dict[str, torch.Tensor] | None = None
    revealed: dict[str, torch.Tensor] | None = None

    def tensors(self) -> list[torch.Tensor]:
        """Every target tensor, in a fixed order (content, style layers, temporal, masks, revealed)."""
        return [*self.content.values(), *(t for target in self.style.values() for t in target),
                *(self.temporal or ()), *(self.masks or {}).values(), *(self.revealed or {}).values()]

    def layout(self) -> tuple:
        """Shapes and presence of the targets: equal layouts can share static buffers."""
        return (tuple(self.content), tuple(self.style), self.temporal is not None, self.masks is not None,
                self.revealed is not None, tuple(tuple(t.shape) for t in self.tensors()))

    def clone(self) -> "LossTargets":
        """Copies of every tensor (e.g. the static buffers a CUDA graph reads)."""
        temporal = tuple(t.clone() for t in self.temporal) if self.temporal is not None else None
        masks = {k: v.clone() for k, v in self.masks.items()} if self.masks is not None else None
        revealed = {k: v.clone() for k, v in self.revealed.items()} if self.revealed is not None else None
        return LossTargets({k: v.clone() for k, v in self.content.items()},
                           {k: tuple(t.clone() for t in v) for k, v in self.style.items()}, temporal, masks, revealed)

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

    ``L = sum_k c_k L_content_k + alpha * sum_l w_l L_style_l + beta * L_tv (+ w_t * L_temporal)
    (+ alpha * w_r * sum_l w_l L_revealed_l)``.
    ``content_layer`` is one layer name (weight 1) or ``{layer: weight}``. ``style_loss``:
    ``gram`` (``||G - A||^2 / C^2``) or ``w2`` (the squared 2-Wasserstein distance between
    Gaussian fits of the features, divided by C). With masks (``make_targets(..., masks=)``)
    each style layer's term is the sum over regions of the region's term against its own
    style. ``normalize_gradients``: each content and style term's gradient reaches its layer
    divided by its L1 norm, times the term's weight (:func:`normalize_gradient`); the values
    are unchanged.

    ``revealed_weight`` w_r: with a ``revealed`` region in the targets (the pixels of a
    warm-started frame that the flow mask rejected: revealed by motion, with no stylized past),
    ``L_revealed_l`` is the style term of that region on its own (its masked Gram matrices
    against the style, :func:`revealed_style_term`). The whole frame's Gram matrix hardly sees a
    thin unstylized strip (its statistics are dominated by the settled rest), so without this
    term such a strip stays close to the photo for many frames.

    Targets come in whole through :meth:`load_targets` and go out through
    :meth:`export_targets`; ``forward(..., targets=...)`` evaluates against other targets
    without touching the held ones (a CUDA graph passes its static buffers this way).
    Terms come back per image, shape (B,), under ``content`` (the weighted sum; also
    ``content/<layer>`` with several layers), ``style/<layer>``, ``tv``, ``temporal`` and ``total``.
    """

    def __init__(
        self,
        content_layer: str | Mapping[str, float],
        style_weights: Mapping[str, float],
        alpha: float,
        beta: float,
        *,
        gram: str = "plain",
        tv: str = "l2",
        tv_gamma: float = 1.25,
        temporal_weight: float = 0.0,
        style_loss: str = "gram",
        normalize_gradients: bool = False,
        revealed_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if gram not in GRAM_KINDS:
            raise ValueError(f"unknown gram kind {gram!r}; choose one of {', '.join(GRAM_KINDS)}")
        if tv not in TV_KINDS:
            raise ValueError(f"unknown total variation kind {tv!r}; choose one of {', '.join(TV_KINDS)}")
        if style_loss not in STYLE_LOSSES:
            raise ValueError(f"unknown style loss {style_loss!r}; choose one of {', '.join(STYLE_LOSSES)}")
        weights = {content_layer: 1.0} if isinstance(content_layer, str) else dict(content_layer)
        if not weights:
            raise ValueError("at least one content layer is needed")
        self.content_weights = weights
        self.content_layer = next(iter(weights))  # the first (main) content layer
        self.style_weights = dict(style_weights)
        self.alpha, self.beta = float(alpha), float(beta)
        self.gram_kind, self.tv_kind, self.tv_gamma = gram, tv, float(tv_gamma)
        self.temporal_weight = float(temporal_weight)
        self.style_loss_kind = style_loss
        self.normalize_gradients = bool(normalize_gradients)
        self.revealed_weight = float(revealed_weight)
        self.targets: LossTargets | None = None

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the loss reads, content first."""
        return tuple(dict.fromkeys([*self.content_weights, *self.style_weights]))

    def style_stats(self, features: Mapping[str, torch.Tensor],
                    masks: Mapping[str, torch.Tensor] | torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The style statistics of ``features`` per style layer, in a form that blends linearly:
        Gram matrices (``gram``) or moment matrices (``w2``, :func:`moment_matrix`); per region
        with ``masks`` (one tensor at the image's size, or already one per layer)."""
        stats = {}
        for name in (name for name in self.style_weights if name in features):
            mask = masks if masks is None or isinstance(masks, torch.Tensor) else masks[name]
            if self.style_loss_kind == "w2":
                stats[name] = moment_matrix(features[name], mask)
            else:
                stats[name] = gram_matrix(features[name], self.gram_kind == "centered", mask)
        return stats

    def grams(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The style statistics of ``features`` (Gram matrices for the ``gram`` loss): :meth:`style_stats`."""
        return self.style_stats(features)

    def style_targets(self, stats: Mapping[str, torch.Tensor]) -> dict[str, StyleTarget]:
        """Targets from (blended) style statistics: ``(G,)`` per layer, or for ``w2`` (mean,
        covariance, its square root), computed once here rather than at every iteration."""
        return {name: self._style_target(value) for name, value in stats.items()}

    def _style_target(self, value: torch.Tensor | StyleTarget) -> StyleTarget:
        if not isinstance(value, torch.Tensor):
            return tuple(value)  # already a target
        return w2_target(value.detach()) if self.style_loss_kind == "w2" else (value.detach(),)

    def make_targets(
        self,
        content_features: Mapping[str, torch.Tensor],
        style: Mapping[str, torch.Tensor | StyleTarget],
        temporal: tuple[torch.Tensor, torch.Tensor | None] | None = None,
        masks: torch.Tensor | None = None,
        revealed: torch.Tensor | None = None,
    ) -> LossTargets:
        """Targets from the content image's features, the style statistics (tensors, as
        :meth:`style_stats` gives them) or targets (tuples, from :meth:`style_targets`), and
        (warped previous output, mask) for the temporal term; a mask of None means every pixel
        counts. ``masks`` (B or 1, R, H, W) at the content's size: region r takes style r (the
        style targets then have a region dimension of R after the batch one). ``revealed`` (B or 1,
        1, H, W) in [0, 1] at the content's size: the region the revealed term looks at (dropped
        when the term has no weight or the region is empty)."""
        if temporal is not None and not self.temporal_weight:
            temporal = None  # a term with no weight needs no target
        if temporal is not None:
            warped, mask = temporal
            mask = torch.ones_like(warped[:, :1]) if mask is None else mask
            temporal = (warped.detach(), mask.detach())
        layer_masks = None
        if masks is not None:
            layer_masks = {name: downsample_mask(masks.detach(), content_features[name].shape[-2:])
                           for name in self.style_weights}
        layer_revealed = None
        if revealed is not None and self.revealed_weight and float(revealed.sum()) > 0:
            # At each layer, the cells at least half inside the region: a strip thinner than a deep
            # layer's cell has no features of its own there (they mostly see the settled neighbours),
            # and pushing those toward the style would restyle the frame around it.
            layer_revealed = {}
            for name in self.style_weights:
                cells = (downsample_mask(revealed.detach(), content_features[name].shape[-2:]) >= 0.5).float()
                if float(cells.sum()) > 0:
                    layer_revealed[name] = cells
            layer_revealed = layer_revealed or None
        return LossTargets(
            {name: content_features[name].detach() for name in self.content_weights},
            {name: self._style_target(style[name]) for name in self.style_weights if name in style},
            temporal,
            layer_masks,
            layer_revealed,
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

    def _input(self, features: torch.Tensor, weight: float) -> torch.Tensor:
        """A term's input: with normalised gradients, behind :func:`normalize_gradient`."""
        return normalize_gradient(features, weight) if self.normalize_gradients else features

    def style_term(self, features: torch.Tensor, target: StyleTarget, mask: torch.Tensor | None) -> torch.Tensor:
        """One style layer's term per image; with masks, the regions' terms weighted by their
        share of the frame at this layer, so a full mask equals no mask, complementary masks
        press as hard as one style does, and an empty region adds nothing."""
        if self.style_loss_kind == "w2":
            term = w2_style_loss(moment_matrix(features, mask), target)
        else:
            term = style_loss(gram_matrix(features, self.gram_kind == "centered", mask), target[0])
        return (term * region_shares(mask)).sum(dim=1) if mask is not None else term

    def revealed_style_term(self, features: torch.Tensor, target: StyleTarget, revealed: torch.Tensor,
                            masks: torch.Tensor | None) -> torch.Tensor:
        """One style layer's term of the ``revealed`` region (B or 1, 1, h, w) alone, per image: its
        masked statistics against the style, as if it were the whole frame (with style ``masks``,
        each style's region within it, weighted by its share of the revealed region)."""
        region = revealed if masks is None else revealed * masks
        share = region_shares(revealed).sum(dim=1).clamp_min(1e-8)  # (B or 1,)
        return self.style_term(features, target, region) / share

    def forward(self, features: Mapping[str, torch.Tensor], image: torch.Tensor,
                targets: LossTargets | None = None) -> dict[str, torch.Tensor]:
        targets = targets if targets is not None else self.export_targets()
        terms: dict[str, torch.Tensor] = {}
        content = None
        for name, weight in self.content_weights.items():
            term = content_loss(self._input(features[name], weight), targets.content[name])
            if len(self.content_weights) > 1:
                terms[f"content/{name}"] = term
            content = weight * term if content is None else content + weight * term
        terms["content"] = content
        total = content
        for name, weight in self.style_weights.items():
            mask = targets.masks[name] if targets.masks is not None else None
            term = self.style_term(self._input(features[name], self.alpha * weight), targets.style[name], mask)
            terms[f"style/{name}"] = term
            total = total + self.alpha * weight * term
        if self.beta:
            terms["tv"] = total_variation(image, self.tv_kind, self.tv_gamma)
            total = total + self.beta * terms["tv"]
        if self.uses_temporal(targets):
            terms["temporal"] = temporal_loss(image, *targets.temporal)
            total = total + self.temporal_weight * terms["temporal"]
        if targets.revealed is not None and self.revealed_weight:
            revealed, settled = None, None
            for name, weight in self.style_weights.items():
                if name not in targets.revealed:
                    continue  # the region has no cell of its own at this layer
                masks = targets.masks[name] if targets.masks is not None else None
                region = targets.revealed[name]
                term = weight * self.revealed_style_term(features[name], targets.style[name], region, masks)
                with torch.no_grad():
                    rest = weight * self.revealed_style_term(features[name], targets.style[name], 1 - region, masks)
                    # An image of a batch whose region has no cell here (another's has) leaves this layer
                    # out, as it would alone (its term is already 0: an empty region weighs nothing).
                    rest = rest * (region.flatten(1).amax(dim=1) > 0).to(rest.dtype)
                revealed = term if revealed is None else revealed + term
                settled = rest if settled is None else settled + rest
            # Catch up with the settled rest of the frame, not beyond it: the term is how far the
            # region's style loss is above the rest's (the same layers, the rest held fixed).
            terms["revealed"] = torch.relu(revealed - settled)
            total = total + self.alpha * self.revealed_weight * terms["revealed"]
        terms["total"] = total
        return terms

    def extra_repr(self) -> str:
        layers = ", ".join(f"{k}:{v:g}" for k, v in self.style_weights.items())
        content = ", ".join(f"{k}:{v:g}" for k, v in self.content_weights.items())
        return (
            f"content=[{content}], style=[{layers}], alpha={self.alpha:g}, beta={self.beta:g}, "
            f"style_loss={self.style_loss_kind}, gram={self.gram_kind}, tv={self.tv_kind}, "
            f"temporal_weight={self.temporal_weight:g}, normalize_gradients={self.normalize_gradients}, "
            f"revealed_weight={self.revealed_weight:g}"
        )
