"""Colour preservation (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving colour in neural
artistic style transfer"), as pure functions on image tensors (B, 3, H, W) RGB in [0, 1].

Two methods:

- ``luminance``: luminance-only transfer (the paper's section 2.2). The network sees only the
  luminance Y of the content and of the style (the style's Y first shifted and scaled to the
  content's mean and standard deviation), replicated to three channels; the result's Y is then
  recombined with the content's chroma. The colour space is **YIQ** (NTSC 1953 matrix), the one
  the paper uses; its I and Q channels of the output equal the content's, up to clipping to
  [0, 1] where the new luminance pushes a colour out of the RGB gamut.
- ``histogram``: colour histogram matching (the paper's section 2.1): before stylizing, an
  affine map moves the style's RGB pixels to the content's mean and covariance (the symmetric
  "Image Analogies" square-root variant, A = S_c^1/2 S_s^-1/2). Only the first two moments are
  matched, as in the paper; the stylized result keeps the style's brush strokes in the
  content's colours, but its chroma is not the content's pixel for pixel.

The video pipeline can call :func:`color_inputs` once (styles matched to the first frame) and
then :func:`luminance_input` / :func:`color_output` per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..settings import COLOR_METHODS, StyleSettings
from .tensors import resize, to_tensor, to_uint8

# FCC NTSC (1953) RGB -> YIQ.
_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply_matrix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """A 3x3 colour matrix applied to every pixel of (B, 3, H, W)."""
    m = matrix.to(device=image.device, dtype=torch.promote_types(image.dtype, torch.float32))
    return torch.einsum("ij,bjhw->bihw", m, image.to(m.dtype))


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> YIQ (Y in [0, 1], I in about [-0.6, 0.6], Q in about [-0.52, 0.52])."""
    return _apply_matrix(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ -> RGB, not clipped."""
    return _apply_matrix(_YIQ_TO_RGB, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Y of (B, 3, H, W) RGB, shape (B, 1, H, W)."""
    return rgb_to_yiq(image)[:, :1]


def gray3(y: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luminance -> (B, 3, H, W) gray RGB (what the network sees)."""
    return y.expand(-1, 3, -1, -1).contiguous()


def luminance_input(image: torch.Tensor) -> torch.Tensor:
    """The luminance-only version of an RGB image, as gray RGB."""
    return gray3(luminance(image))


def match_luminance(style: torch.Tensor, content: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The style's luminance, shifted and scaled to the content's mean and standard deviation.

    ``L_s' = sigma_c / sigma_s (L_s - mu_s) + mu_c`` (the paper's eq. for luminance-only
    transfer), clipped to [0, 1], returned as gray RGB (B_s, 3, H_s, W_s). ``content`` (1, 3, H, W).
    """
    ys, yc = luminance(style), luminance(content)
    mu_s, sd_s = ys.mean(dim=(1, 2, 3), keepdim=True), ys.std(dim=(1, 2, 3), keepdim=True)
    mu_c, sd_c = yc.mean(), yc.std()
    return gray3(((ys - mu_s) * (sd_c / (sd_s + eps)) + mu_c).clamp(0, 1))


def combine_luminance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylized image's Y with the content's I and Q, back in RGB, clipped to [0, 1].

    ``content`` is resized to the stylized image's size if they differ.
    """
    if content.shape[-2:] != stylized.shape[-2:]:
        content = resize(content, tuple(stylized.shape[-2:]))
    yiq = torch.cat([luminance(stylized), rgb_to_yiq(content)[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1).to(stylized.dtype)


def _sqrt_psd(matrix: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    """``matrix^power`` of symmetric positive semi-definite (B, 3, 3), eigenvalues floored at eps."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag_embed(values.clamp_min(eps).pow(power)) @ vectors.transpose(-1, -2)


def match_color_histogram(
    source: torch.Tensor, reference: torch.Tensor, *, eps: float = 1e-5, clip: bool = True
) -> torch.Tensor:
    """``source`` (B, 3, H, W) with its RGB mean and covariance moved to ``reference``'s (1, 3, h, w).

    ``x' = A (x - mu_s) + mu_r`` with ``A = S_r^1/2 S_s^-1/2`` (symmetric square roots). Without
    ``clip`` the result's mean and covariance equal the reference's exactly (up to ``eps``
    regularisation of near-singular covariances); ``clip`` keeps it in [0, 1].
    """
    def stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = image.double().flatten(2)  # (B, 3, N)
        mean = flat.mean(dim=2, keepdim=True)
        centred = flat - mean
        return mean, centred @ centred.transpose(1, 2) / flat.shape[2]

    mu_s, cov_s = stats(source)
    mu_r, cov_r = stats(reference)
    a = _sqrt_psd(cov_r, 0.5, eps) @ _sqrt_psd(cov_s, -0.5, eps)
    flat = source.double().flatten(2)
    out = (a @ (flat - mu_s) + mu_r).view(source.shape).to(source.dtype)
    return out.clamp(0, 1) if clip else out


def check_color_method(method: str | None) -> str | None:
    if method is not None and method not in COLOR_METHODS:
        raise ValueError(f"unknown colour method {method!r}; choose one of {', '.join(COLOR_METHODS)}")
    return method


def color_inputs(
    method: str | None,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    init: str | torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor], str | torch.Tensor | None]:
    """What the optimisation sees for colour preservation ``method`` (None: unchanged).

    Returns ``(content, styles, init)``: for ``luminance`` all three as gray luminance images
    (styles matched to the content's luminance statistics; a string ``init`` passes through);
    for ``histogram`` the styles recoloured to the content's colour statistics.
    """
    check_color_method(method)
    if method == "luminance":
        init = luminance_input(init) if isinstance(init, torch.Tensor) else init
        return luminance_input(content), [match_luminance(s, content) for s in styles], init
    if method == "histogram":
        return content, [match_color_histogram(s, content) for s in styles], init
    return content, list(styles), init


def color_output(method: str | None, stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The final image: for ``luminance``, the stylized Y with the content's chroma; else as is."""
    if check_color_method(method) == "luminance":
        return combine_luminance(stylized, content)
    return stylized


def preserve_method(style: StyleSettings) -> str | None:
    """The colour method in force for these style settings (None unless --preserve-colors)."""
    return check_color_method(style.color_method) if style.preserve_colors else None


def network_content(method: str | None, content: torch.Tensor) -> torch.Tensor:
    """What the network sees of a content frame: its luminance as gray RGB for ``luminance``."""
    return luminance_input(content) if method == "luminance" else content


def recolor_frame(method: str | None, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """:func:`color_output` on HxWx3 uint8 arrays: the frame as it is encoded (a video's last step)."""
    if method != "luminance":
        return stylized
    return to_uint8(combine_luminance(to_tensor(stylized), to_tensor(frame)))
