"""Optical flow (OpenCV DIS), backward warping and occlusion masks for video stylisation.

Conventions used throughout this module
---------------------------------------
* A flow is stored in **pixels** as ``(u, v) = (dx, dy)``: channel 0 is horizontal (x, to the
  right), channel 1 is vertical (y, downwards). NumPy flows are ``HxWx2 float32``; tensor flows
  are ``(B, 2, H, W)``.
* A flow lives on the grid of its **first** image and points into its second:
  ``flow_a_to_b = estimator(a, b)`` satisfies ``a[y, x] ~= b[y + v, x + u]`` with
  ``(u, v) = flow_a_to_b[y, x]``. This is what ``cv2.DISOpticalFlow.calc(a, b)`` returns.
* Backward warping therefore pairs a frame with the flow *from the frame you want to
  reconstruct*: ``warp(prev, flow_cur_to_prev) ~= cur``.
* Masks: 1 = reliable (use the warped value / apply the temporal loss), 0 = occluded,
  disoccluded, motion boundary or sourced from outside the frame.

Nothing here holds state between frames: the previous stylised frame and the flows travel as
values (see :mod:`vidstyle.video.chain`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

#: Preset names accepted by ``FlowEstimator`` and the OpenCV constants they stand for.
PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}

# Constants of the consistency check. Ruder et al. 2016 (eqs. 5 and 6) take them from
# Sundaram et al. 2010; they are fixed by the method, not user settings.
_FB_REL = 0.01  # relative tolerance of the forward-backward check
_FB_ABS = 0.5  # absolute tolerance of the forward-backward check, px^2
_MB_REL = 0.01  # motion boundary: relative to |w^|^2
_MB_ABS = 0.002  # motion boundary: absolute, (px/px)^2
# The warm-start mask's own addition (neither Ruder et al. nor Lai et al. have it): a source this
# far outside the frame still counts as inside. Border-replicated samples within half a pixel are
# close to right, and without a tolerance a 0.01 px outward flow rejects a whole border column.
OUT_OF_FRAME_TOLERANCE = 0.5  # px


def _to_gray_u8(image: np.ndarray) -> np.ndarray:
    """RGB uint8 ``HxWx3`` (or grey ``HxW``) -> contiguous grey uint8 ``HxW``."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"flow input must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    if image.ndim == 3 and image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    raise ValueError(f"flow input must be HxW or HxWx3, got shape {image.shape}")


class FlowEstimator:
    """Dense optical flow with OpenCV's DIS (Dense Inverse Search, Kroeger et al. 2016).

    ``estimator(src, dst)`` returns the flow from ``src`` to ``dst`` as an ``HxWx2 float32``
    array in pixels, defined on the grid of ``src``: ``src[y, x] ~= dst[y + v, x + u]``.
    Inputs are RGB uint8 ``HxWx3`` (or grey ``HxW``) of the same size; flow is computed on
    greyscale because DIS only accepts single-channel 8-bit images.

    One instance per thread: the wrapped ``cv2.DISOpticalFlow`` keeps internal buffers that
    ``calc`` reuses, so it is not thread-safe. Create one estimator in each worker thread
    instead of sharing one.

    Presets trade speed for accuracy: ``"medium"`` (finest pyramid level 1) is the accurate
    choice for offline video; ``"fast"`` and ``"ultrafast"`` (finest level 2) suit live
    webcam use and are typically ~0.1-0.2 px less accurate.
    """

    def __init__(self, preset: str = "medium") -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose one of {sorted(PRESETS)}")
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(preset={self.preset!r})"

    def __call__(self, src_rgb_u8: np.ndarray, dst_rgb_u8: np.ndarray) -> np.ndarray:
        """Flow from ``src`` to ``dst`` (``HxWx2 float32``, pixels, on ``src``'s grid)."""
        src = _to_gray_u8(src_rgb_u8)
        dst = _to_gray_u8(dst_rgb_u8)
        if src.shape != dst.shape:
            raise ValueError(f"frame sizes differ: {src.shape} vs {dst.shape}")
        flow = self._dis.calc(src, dst, None)
        return np.asarray(flow, dtype=np.float32)

    def forward_backward(
        self, prev_rgb_u8: np.ndarray, cur_rgb_u8: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(flow_prev_to_cur, flow_cur_to_prev)``.

        The first lives on the previous frame's grid, the second on the current frame's grid;
        ``warp(prev, flow_cur_to_prev)`` approximates ``cur``, and both together feed
        ``occlusion_mask``.
        """
        return self(prev_rgb_u8, cur_rgb_u8), self(cur_rgb_u8, prev_rgb_u8)


def _flow_to_tensor(
    flow: torch.Tensor | np.ndarray, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Flow as a ``(B, 2, H, W)`` tensor on ``device`` with ``dtype``."""
    if isinstance(flow, np.ndarray):
        if flow.ndim != 3 or flow.shape[2] != 2:
            raise ValueError(f"NumPy flow must be HxWx2, got shape {flow.shape}")
        flow = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(2, 0, 1)[None]
    elif isinstance(flow, torch.Tensor):
        if flow.ndim != 4 or flow.shape[1] != 2:
            raise ValueError(f"tensor flow must be (B, 2, H, W), got shape {tuple(flow.shape)}")
    else:
        raise TypeError(f"flow must be a torch.Tensor or np.ndarray, got {type(flow).__name__}")
    return flow.to(device=device, dtype=dtype)


def warp(image: torch.Tensor, flow: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Backward-warp ``image`` with ``flow``: ``out[y, x] = image[y + v, x + u]`` (bilinear).

    ``image`` is ``(B, C, H, W)``; ``flow`` is ``(B, 2, H, W)`` or ``(1, 2, H, W)`` (broadcast
    over the batch) or an ``HxWx2`` NumPy array, in pixels, on the grid of the *output*.
    So ``warp(prev_frame, flow_cur_to_prev)`` approximates the current frame. Samples that
    fall outside the image take the nearest border value (``padding_mode="border"``); use
    ``occlusion_mask`` to ignore them. The result has ``image``'s device and dtype and is
    differentiable with respect to ``image`` (and to a tensor ``flow``).

    A flow that is exactly zero everywhere returns an exact copy of ``image``.
    """
    if image.ndim != 4:
        raise ValueError(f"image must be (B, C, H, W), got shape {tuple(image.shape)}")
    b, _, h, w = image.shape
    # fp16/bf16 cannot address pixels of a large frame (bf16 has ~3 significant digits, so a
    # normalised coordinate near 1 moves in steps of several pixels at 1080p): sample in fp32.
    work_dtype = image.dtype if image.dtype in (torch.float32, torch.float64) else torch.float32
    flow_t = _flow_to_tensor(flow, image.device, work_dtype)
    if flow_t.shape[-2:] != (h, w):
        raise ValueError(f"flow size {tuple(flow_t.shape[-2:])} != image size {(h, w)}")
    if flow_t.shape[0] not in (1, b):
        raise ValueError(f"flow batch {flow_t.shape[0]} does not match image batch {b}")

    # grid_sample's normalise/unnormalise round trip is off by ~1 ulp, which would leak a
    # 1e-7 fraction of the neighbour into every pixel; a static shot should be bit-exact.
    if not flow_t.requires_grad and not bool(flow_t.any()):
        return image.clone()

    src = image.to(work_dtype)
    ys = torch.arange(h, device=image.device, dtype=work_dtype).view(1, h, 1)
    xs = torch.arange(w, device=image.device, dtype=work_dtype).view(1, 1, w)
    x_src = xs + flow_t[:, 0]
    y_src = ys + flow_t[:, 1]
    # align_corners=True puts -1 and +1 on the centres of the first and last pixels, so pixel
    # index i maps to 2 i / (size - 1) - 1. The max() keeps a 1-pixel axis finite (any value
    # samples the single pixel there).
    gx = 2.0 * x_src / max(w - 1, 1) - 1.0
    gy = 2.0 * y_src / max(h - 1, 1) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    if grid.shape[0] != b:
        grid = grid.expand(b, h, w, 2)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.to(image.dtype)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``HxWx2`` flow to ``size = (height, width)``, rescaling the vectors.

    Lets flow be estimated at one resolution and used at another (e.g. flow on the decoded
    frame, stylisation at a working resolution). The displacement in x scales with the width
    ratio and in y with the height ratio.
    """
    h, w = flow.shape[:2]
    new_h, new_w = size
    if (h, w) == (new_h, new_w):
        return flow
    out = cv2.resize(flow, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= new_w / w
    out[..., 1] *= new_h / h
    return out.astype(np.float32, copy=False)


def _sources(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel ``x`` of an ``HxWx2`` flow's grid comes from: ``x + flow(x)`` as (map_x, map_y)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return gx + flow[..., 0], gy + flow[..., 1]


def _outside(map_x: np.ndarray, map_y: np.ndarray, tolerance: float) -> np.ndarray:
    """Where positions lie more than ``tolerance`` px outside ``[0, W-1] x [0, H-1]``."""
    h, w = map_x.shape
    tol = float(tolerance)
    return (map_x < -tol) | (map_x > w - 1 + tol) | (map_y < -tol) | (map_y > h - 1 + tol)


def entered_frame(flow_back: np.ndarray, tolerance: float = OUT_OF_FRAME_TOLERANCE) -> np.ndarray:
    """``HxW`` bool: where the source ``x + flow_back(x)`` in the previous frame lies more than
    ``tolerance`` px outside it, i.e. the content entered the frame (a pan's new columns)."""
    return _outside(*_sources(np.asarray(flow_back, dtype=np.float32)), tolerance)


def occlusion_mask(flow_fwd: np.ndarray, flow_bwd: np.ndarray,
                   out_of_frame_tolerance: float = OUT_OF_FRAME_TOLERANCE) -> np.ndarray:
    """Reliability mask of the *current* frame, Ruder et al. 2016 (sec. 3.2, eqs. 5-6).

    ``flow_fwd`` is ``w``, previous -> current, on the previous frame's grid;
    ``flow_bwd`` is ``w^``, current -> previous, on the current frame's grid (the pair
    ``FlowEstimator.forward_backward`` returns). Both are ``HxWx2`` pixels.
    Returns ``HxW float32`` with 1 = reliable and 0 where any of these holds at pixel ``x``:

    * disocclusion (forward-backward check): with ``w~(x) = w(x + w^(x))`` the forward flow
      warped to the current frame (bilinear),
      ``|w~ + w^|^2 > 0.01 (|w~|^2 + |w^|^2) + 0.5``;
    * motion boundary: ``|grad u^|^2 + |grad v^|^2 > 0.01 |w^|^2 + 0.002`` where
      ``w^ = (u^, v^)`` and the gradients are central differences (one-sided at the border);
    * the source ``x + w^(x)`` lies more than ``out_of_frame_tolerance`` (half a pixel) outside
      ``[0, W-1] x [0, H-1]``: the pixel is newly exposed and nothing in the previous frame can
      be carried over to it. This test is the warm start's own (see :func:`lai_occlusion_mask`
      for the mask of the published evaluation code, which has none).

    Notes: the constants come from Sundaram et al. 2010 via Ruder et al.; the released
    ``consistencyChecker`` of Ruder et al. additionally blurs the mask (sigma 0.8) and, in
    some versions, keeps motion boundaries reliable. Here the mask stays binary and motion
    boundaries are rejected, as the paper states.
    """
    flow_fwd = np.asarray(flow_fwd, dtype=np.float32)
    flow_bwd = np.asarray(flow_bwd, dtype=np.float32)
    if flow_fwd.shape != flow_bwd.shape or flow_fwd.ndim != 3 or flow_fwd.shape[2] != 2:
        raise ValueError(f"flows must both be HxWx2, got {flow_fwd.shape} and {flow_bwd.shape}")
    h, w = flow_bwd.shape[:2]

    map_x, map_y = _sources(flow_bwd)
    inside = ~_outside(map_x, map_y, out_of_frame_tolerance)

    # w~(x) = w(x + w^(x)); the border mode only matters where `inside` is already False.
    fwd_at_src = cv2.remap(
        flow_fwd, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    # Along a consistent trajectory, going back then forth returns home: w~ ~= -w^.
    sum_sq = np.sum((fwd_at_src + flow_bwd) ** 2, axis=2)
    mag_fwd = np.sum(fwd_at_src**2, axis=2)
    mag_bwd = np.sum(flow_bwd**2, axis=2)
    disoccluded = sum_sq > _FB_REL * (mag_fwd + mag_bwd) + _FB_ABS

    du_dy, du_dx = np.gradient(flow_bwd[..., 0]) if min(h, w) > 1 else (0.0, 0.0)
    dv_dy, dv_dx = np.gradient(flow_bwd[..., 1]) if min(h, w) > 1 else (0.0, 0.0)
    grad_sq = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2
    boundary = grad_sq > _MB_REL * mag_bwd + _MB_ABS

    return (inside & ~disoccluded & ~boundary).astype(np.float32)


def lai_occlusion_mask(flow_forward: np.ndarray, flow_backward: np.ndarray) -> np.ndarray:
    """Non-occlusion mask of the *first* frame of a pair, as Lai et al. 2018's released
    evaluation code computes it (``utils.detect_occlusion``, called as
    ``detect_occlusion(bw_flow, fw_flow)`` in ``compute_flow_occlusion.py``).

    ``flow_forward``: first -> second, on the first frame's grid; ``flow_backward``: second ->
    first, on the second frame's grid (``FlowEstimator.forward_backward(first, second)``).
    Returns ``HxW float32``, 1 = reliable, 0 where either holds at pixel ``x``:

    * ``|b~ + f|^2 > 0.01 (|b~|^2 + |f|^2) + 0.5`` with ``f = flow_forward(x)`` and
      ``b~ = flow_backward(x + f)`` (bilinear, border replicated as their ``Resample2d``);
    * motion boundary ``|grad f_u|^2 + |grad f_v|^2 > 0.01 |f|^2 + 0.002`` with *forward*
      differences (``f[x] - f[x + 1]``; 0 in the last row and column).

    No out-of-frame test: a source outside the frame samples the border. Use it with the
    forward flow and the first frame's grid, as they do (warp the second frame back onto the
    first, :func:`vidstyle.video.metrics.warping_error`).
    """
    flow_forward = np.asarray(flow_forward, dtype=np.float32)
    flow_backward = np.asarray(flow_backward, dtype=np.float32)
    if flow_forward.shape != flow_backward.shape or flow_forward.ndim != 3 or flow_forward.shape[2] != 2:
        raise ValueError(f"flows must both be HxWx2, got {flow_forward.shape} and {flow_backward.shape}")
    h, w = flow_forward.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    back_at_target = cv2.remap(flow_backward, gx + flow_forward[..., 0], gy + flow_forward[..., 1],
                               interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mag_forward = np.sum(flow_forward**2, axis=2)
    occluded = (np.sum((back_at_target + flow_forward) ** 2, axis=2)
                > _FB_REL * (np.sum(back_at_target**2, axis=2) + mag_forward) + _FB_ABS)
    grad_sq = np.zeros((h, w), np.float32)
    for component in (flow_forward[..., 0], flow_forward[..., 1]):
        grad_sq[:, :-1] += (component[:, :-1] - component[:, 1:]) ** 2
        grad_sq[:-1, :] += (component[:-1, :] - component[1:, :]) ** 2
    boundary = grad_sq > _MB_REL * mag_forward + _MB_ABS
    return (~(occluded | boundary)).astype(np.float32)


def fill_masked(
    warped: torch.Tensor, fill: torch.Tensor, mask: torch.Tensor | np.ndarray
) -> torch.Tensor:
    """``warped`` where ``mask`` is 1, ``fill`` where it is 0 (a linear blend in between).

    ``fill`` should be the current *content* frame, in the same value space as ``warped``:
    a region the warp cannot vouch for has no stylised history, and starting it from the
    content frame (rather than noise) is the natural initialisation for a cold region, is
    what a single image would start from, and converges fastest. ``mask`` is ``HxW``
    (NumPy) or broadcastable to ``warped`` (e.g. ``(1, 1, H, W)``). With a binary mask the
    result is exact: ``warped * 1 + fill * 0``.
    """
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
        if mask.ndim == 2:
            mask = mask[None, None]
    mask = mask.to(device=warped.device, dtype=warped.dtype)
    fill = fill.to(device=warped.device, dtype=warped.dtype)
    return mask * warped + (1.0 - mask) * fill


@dataclass(frozen=True, eq=False)
class Motion:
    """How a frame relates to the frame before it in a chain.

    ``flow_back`` (``HxWx2``, pixels, on this frame's grid) maps this frame onto the previous
    one: ``warp(previous, flow_back) ~= this``; ``mask`` (``HxW``) is 1 where that warp is
    reliable (:func:`occlusion_mask`).
    """

    flow_back: np.ndarray
    mask: np.ndarray

    @functools.cached_property
    def entered(self) -> np.ndarray:
        """:func:`entered_frame` of ``flow_back``, computed once (the fill and the revealed region both use it)."""
        return entered_frame(self.flow_back)


def motion_between(estimator: FlowEstimator, previous_rgb: np.ndarray, current_rgb: np.ndarray) -> Motion:
    """The :class:`Motion` of ``current_rgb`` against ``previous_rgb`` (RGB uint8, same size):
    forward and backward flow, then Ruder et al.'s consistency and motion-boundary mask.

    The one place flow is turned into a warm start's inputs: the decode thread of a video run,
    the webcam's capture thread and the metrics all call it."""
    flow_forward, flow_back = estimator.forward_backward(previous_rgb, current_rgb)
    return Motion(flow_back, occlusion_mask(flow_forward, flow_back))
