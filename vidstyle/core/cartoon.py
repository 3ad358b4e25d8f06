"""The cartoon post-process: flat colour regions and dark outlines, blended with the stylized frame.

``cartoonize(frame, stylized, settings)`` is a pure function on HxWx3 uint8 RGB arrays:

1. the stylized frame is resized to the frame's size and smoothed with OpenCV's edge-preserving
   (recursive) filter, which flattens texture but keeps boundaries;
2. its colours are reduced to a palette of ``colors`` entries (``cv2.kmeans``, deterministic);
3. the flat picture is blended with the stylized one (``blend`` = weight of the flat one);
4. outlines found in the *input frame* (bilateral smoothing, then Canny edges, widened to
   ``edge_width``) are darkened by ``edge_strength``.

Outlines come from the input frame, not the stylized one, because the frame's edges are stable
from frame to frame while the strokes of the stylized frames are not. For video, fit the palette
once (:func:`fit_palette` on the first stylized frame) and pass it to every call: a palette
refitted per frame would flicker.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..settings import CartoonSettings


def _check_rgb(image: np.ndarray, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what} must be an HxWx3 uint8 RGB array, not {image.dtype} {image.shape}")
    return image


def check_cartoon_settings(settings: CartoonSettings) -> CartoonSettings:
    """Raise ``ValueError`` for values the post-process cannot use."""
    if not 0.0 <= settings.blend <= 1.0:
        raise ValueError(f"cartoon blend must be in [0, 1], not {settings.blend:g}")
    if not 0.0 <= settings.edge_strength <= 1.0:
        raise ValueError(f"cartoon edge strength must be in [0, 1], not {settings.edge_strength:g}")
    if settings.colors < 2:
        raise ValueError(f"a cartoon palette needs at least 2 colours, not {settings.colors}")
    if not 0.0 <= settings.edge_low <= settings.edge_high:
        raise ValueError(f"cartoon edge thresholds must satisfy 0 <= low <= high, not {settings.edge_low:g}, "
                         f"{settings.edge_high:g}")
    if settings.edge_width < 0:
        raise ValueError(f"cartoon edge width must be >= 0, not {settings.edge_width}")
    return settings


def fit_palette(image: np.ndarray, colors: int, *, samples: int = 20000, iters: int = 12) -> np.ndarray:
    """A palette of ``colors`` RGB entries (k, 3) float32 for ``image``, by OpenCV's k-means.

    ``cv2.kmeans`` does the iterations; the start is ours: k-means++ seeding drawn from a local
    seeded generator, passed in as initial labels with one attempt. That keeps the palette
    deterministic (same picture, same palette) without ``cv2.setRNGSeed``, which would reset
    OpenCV's RNG for every other caller in the thread. Pixels are sampled on a fixed stride.
    """
    pixels = _check_rgb(image, "image").reshape(-1, 3).astype(np.float32)
    pixels = np.ascontiguousarray(pixels[:: max(1, len(pixels) // samples)])
    starts = _kmeans_pp_starts(pixels, colors, np.random.default_rng(0))
    if len(pixels) <= colors:  # nothing to iterate: every pixel is its own centre
        return starts
    labels = _nearest(pixels, starts).astype(np.int32).reshape(-1, 1)
    criteria = (cv2.TERM_CRITERIA_MAX_ITER | cv2.TERM_CRITERIA_EPS, iters, 0.01)
    _, _, centres = cv2.kmeans(pixels, colors, labels, criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    return centres.astype(np.float32)


def _kmeans_pp_starts(pixels: np.ndarray, colors: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each next start is a pixel drawn with
    probability proportional to its squared distance from the starts so far, so distinct colours
    get distinct starts (a picture of k flat colours gets exactly those k)."""
    chosen = [int(rng.integers(len(pixels)))]
    distance = ((pixels - pixels[chosen[0]]) ** 2).sum(1)
    for _ in range(1, colors):
        total = float(distance.sum())
        index = int(rng.choice(len(pixels), p=distance / total)) if total > 0 else chosen[-1]
        chosen.append(index)
        distance = np.minimum(distance, ((pixels - pixels[index]) ** 2).sum(1))
    return pixels[chosen].copy()


def _nearest(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette entry for every pixel (N, 3)."""
    distances = (pixels**2).sum(1, keepdims=True) - 2 * pixels @ palette.T + (palette**2).sum(1)
    return distances.argmin(axis=1)


def quantize(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Every pixel of HxWx3 uint8 ``image`` replaced by its nearest ``palette`` colour."""
    image = _check_rgb(image, "image")
    palette = np.asarray(palette, dtype=np.float32)
    nearest = _nearest(image.reshape(-1, 3).astype(np.float32), palette)
    return np.clip(palette.round(), 0, 255).astype(np.uint8)[nearest].reshape(image.shape)


def edge_mask(frame: np.ndarray, low: float = 40.0, high: float = 110.0, width: int = 0) -> np.ndarray:
    """HxW bool: outline pixels of ``frame``.

    Canny edges (hysteresis thresholds ``low``/``high``) of the gray frame after bilateral
    smoothing (which drops texture and noise but keeps boundaries), dilated to ``width`` pixels
    (0: one pixel per 360 pixels of the short side, so outlines keep their look at any size).
    """
    gray = cv2.cvtColor(_check_rgb(frame, "frame"), cv2.COLOR_RGB2GRAY)
    gray = cv2.bilateralFilter(gray, 7, 50, 7)
    edges = cv2.Canny(gray, low, high)
    width = width or max(1, round(min(gray.shape) / 360))
    if width > 1:
        edges = cv2.dilate(edges, np.ones((width, width), np.uint8))
    return edges > 0


def cartoonize(
    frame: np.ndarray,
    stylized: np.ndarray,
    settings: CartoonSettings = CartoonSettings(),
    palette: np.ndarray | None = None,
) -> np.ndarray:
    """The cartoon post-process of ``stylized`` (any size) for input ``frame``; HxWx3 uint8 RGB at the frame's size.

    ``palette`` (k, 3): fixed colours (e.g. :func:`fit_palette` of the first frame), else fitted
    to this picture. Inputs are never modified.
    """
    frame = _check_rgb(frame, "frame")
    stylized = _check_rgb(stylized, "stylized frame")
    check_cartoon_settings(settings)
    h, w = frame.shape[:2]
    if stylized.shape[:2] != (h, w):
        shrink = stylized.shape[0] > h
        stylized = cv2.resize(stylized, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    smooth = cv2.edgePreservingFilter(stylized, flags=cv2.RECURS_FILTER,
                                      sigma_s=settings.sigma_s, sigma_r=settings.sigma_r)
    if palette is None:
        palette = fit_palette(smooth, settings.colors)
    flat = quantize(smooth, palette).astype(np.float32)
    mixed = settings.blend * flat + (1.0 - settings.blend) * stylized.astype(np.float32)
    edges = edge_mask(frame, settings.edge_low, settings.edge_high, settings.edge_width)
    mixed *= (1.0 - settings.edge_strength * edges)[..., None]
    return np.clip(mixed.round(), 0, 255).astype(np.uint8)
