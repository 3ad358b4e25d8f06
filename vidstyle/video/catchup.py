"""Catching up where the warm start is poor: what rejected regions start from, and budgets.

A warm-started frame keeps the previous stylization where the flow mask trusts it; the rest
(revealed by a pan or a moving object, or grain the flow cannot follow) has no stylized past.
Two things help it catch up with the settled rest of the frame:

- **the fill** (:func:`fill_rejected`): ``content`` starts those pixels from the frame itself;
  ``residual`` adds the stylization's change to the content (stylized minus content), taken
  from the trusted neighbourhood by OpenCV's inpainting (mirrored into what entered the frame at
  its borders, :func:`mirror_border_bands`), so the region starts with the neighbourhood's
  colours and strokes on its own structure;
- **the budget** (:func:`catch_up_budget`): a frame gets more iterations the more of it is
  new, and (:func:`needs_more`) keeps going while its style loss is above the level of the
  shot's cold frame;
- **its own style term** (:func:`revealed_region`, ``LossSettings.revealed_weight``): the
  whole frame's Gram matrices hardly see a thin unstylized strip, so the region gets a style
  term of its own (its masked Gram matrices against the style) while it is new.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..settings import FILLS
from .flow import entered_frame


def fill_rejected(warped: torch.Tensor, content: torch.Tensor, mask: torch.Tensor, warped_content: torch.Tensor | None,
                  fill: str, entered: np.ndarray | None = None) -> torch.Tensor:
    """The warm start: ``warped`` (1, 3, H, W) where ``mask`` (1, 1, H, W) is 1, the fill elsewhere.

    ``residual`` needs ``warped_content``, the previous *input* frame warped like ``warped``:
    the stylization's change ``warped - warped_content`` is inpainted (Telea) from the trusted
    pixels into the rejected ones and added to ``content`` there; ``entered`` (HxW bool, the
    pixels whose flow comes from outside the previous frame: :func:`~vidstyle.video.flow.entered_frame`)
    marks the content that came in at the borders, which gets the change mirrored instead
    (:func:`mirror_border_bands`). Only there: mirroring every rejected band along the borders
    (film grain the flow cannot follow) raised a 1940 film clip's warping error by 85% at 96 px.
    """
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; choose one of {', '.join(FILLS)}")
    keep = mask.to(warped.dtype)
    if fill == "content" or warped_content is None or warped.shape[0] != 1:
        return keep * warped + (1 - keep) * content
    rejected = (mask[0, 0] < 0.5).cpu().numpy().astype(np.uint8)
    if not rejected.any() or rejected.all():
        return keep * warped + (1 - keep) * content
    residual = (warped - warped_content)[0].permute(1, 2, 0).detach().cpu().numpy().astype(np.float32)
    # cv2.inpaint takes 8-bit images: the residual in [-1, 1] as 128 + 127 x residual (0 exactly at 128).
    coded = np.clip(np.rint(residual * 127.0 + 128.0), 0, 255).astype(np.uint8)
    filled = (cv2.inpaint(coded, rejected, 3, cv2.INPAINT_TELEA).astype(np.float32) - 128.0) / 127.0
    if entered is not None:
        mirrored, done = mirror_border_bands(residual, rejected.astype(bool) & entered)
        filled = np.where(done[..., None], mirrored, filled)
    fill_image = (content + torch.from_numpy(filled).permute(2, 0, 1)[None].to(content)).clamp(0, 1)
    return keep * warped + (1 - keep) * fill_image


def mirror_border_bands(values: np.ndarray, rejected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (HxWxC) with each rejected band along a frame border replaced by its mirror image
    across the band's inner edge, and the HxW bool of the pixels so replaced.

    A band is, per row (left and right borders) or per column (top and bottom), the run of
    ``rejected`` pixels from the border in; a pixel is replaced where its mirror lies inside the
    frame and is not rejected itself. This is what enters a panning frame: the stylization's
    residual mirrored into it keeps its texture and the size of its colour patches, where
    inpainting smears the edge columns across it. On an 8-frame 96x64 pan (6 px/frame, the video
    defaults) the strips 3 frames on rose from 0.93 to 1.00 of the settled part's distance from
    the content over `samples/content.png` and from 0.66 to 0.72 over the sample clip's skyline.
    """
    out, done = values.copy(), np.zeros(rejected.shape, bool)
    for turn in range(4):  # each border as the right-hand one of the grid turned by 90 degrees
        grid, flags = np.rot90(rejected, turn), np.rot90(done, turn)
        width = grid.shape[1]
        flipped = grid[:, ::-1]
        run = np.where(flipped.all(axis=1), width, np.argmax(~flipped, axis=1))[:, None]  # band width per row
        columns = np.arange(width)[None, :]
        mirror = 2 * (width - run) - 1 - columns
        rows = np.arange(grid.shape[0])[:, None]
        take = (columns >= width - run) & (mirror >= 0) & ~flags
        take &= ~grid[rows, np.clip(mirror, 0, width - 1)]
        target, source = np.rot90(out, turn), np.rot90(values, turn)
        target[take] = source[np.broadcast_to(rows, take.shape)[take], mirror[take]]
        flags[take] = True
    return out, done


# Below this share of the frame the revealed pixels get no style term of their own: a handful of
# pixels cannot carry the style's statistics, and pushing them to would only make noise.
REVEALED_MIN_SHARE = 0.005
# Revealed regions thinner than this (px, square opening) are dropped as speckle.
REVEALED_MIN_WIDTH = 3


def revealed_region(mask: torch.Tensor, flow_back: np.ndarray | None, min_share: float = REVEALED_MIN_SHARE,
                    min_width: int = REVEALED_MIN_WIDTH, entered: np.ndarray | None = None) -> torch.Tensor | None:
    """The pixels that entered the frame: rejected by ``mask`` (1, 1, H, W; below 0.5) and
    sourced from outside the previous frame by ``flow_back`` (HxWx2), as a 0/1 region of the
    mask's shape, opened with a ``min_width`` square; None when it covers less than ``min_share``
    of the frame or there is no flow.

    Only content that came in from outside counts: the rest of what the mask rejects (film
    grain the flow cannot follow, the parts of a moving person it tracks badly) has a stylized
    neighbourhood all round, which the residual fill carries in, and giving it a style term of
    its own restylized it every frame: on a 1940 film clip at 96 px that raised the warping
    error by 35-95% (weights 0.1-1), while a pan's new columns at the frame's edge stayed at half
    the stylization of the rest without it (see README, Catching up). ``entered``: the
    :func:`~vidstyle.video.flow.entered_frame` of ``flow_back`` if already computed
    (:attr:`~vidstyle.video.flow.Motion.entered`)."""
    if flow_back is None:
        return None
    if entered is None:
        entered = entered_frame(flow_back)
    region = (mask[0, 0] < 0.5).cpu().numpy() & entered
    region = region.astype(np.uint8)
    if min_width > 1:
        region = cv2.morphologyEx(region, cv2.MORPH_OPEN, np.ones((min_width, min_width), np.uint8))
    if float(region.mean()) < min_share:
        return None
    return torch.from_numpy(region).to(mask.device, torch.float32)[None, None]


def rejected_fraction(mask: torch.Tensor) -> float:
    """The share of a frame the mask rejects (0: all warped, 1: all new)."""
    return float(1.0 - mask.float().mean())


def catch_up_budget(warm_iters: int, cold_iters: int, rejected: float, gain: float) -> int:
    """A warm frame's first budget: ``warm_iters`` plus ``gain`` x the rejected share of the
    cold budget (a frame that is all new gets up to ``cold_iters``)."""
    extra = int(np.ceil(gain * rejected * max(0, cold_iters - warm_iters)))
    return min(max(warm_iters, cold_iters), warm_iters + extra)


def style_level(terms: dict[str, float], alpha: float, weights: dict[str, float]) -> float:
    """The weighted style loss ``alpha * sum_l w_l L_style_l`` from a result's named terms."""
    return alpha * sum(weights.get(name.split("/", 1)[1], 0.0) * value
                       for name, value in terms.items() if name.startswith("style/"))


def catch_up_ceiling(warm_iters: int, cold_iters: int, limit: float) -> int:
    """The most iterations a warm frame may spend, catch-up included: ``limit`` x ``warm_iters``
    (rounded up), never above the cold budget. It bounds the run's cost: at 1.5 a video costs at
    most 1.5x the warm iterations it did before catch-up existed, whatever the loss does."""
    return min(max(warm_iters, cold_iters), max(warm_iters, int(np.ceil(limit * warm_iters))))


def needs_more(level: float, reference: float | None, margin: float) -> bool:
    """Whether a frame's style level is still above ``(1 + margin)`` x the shot's cold frame's."""
    return reference is not None and level > (1.0 + margin) * reference
