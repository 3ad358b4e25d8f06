"""Temporal-consistency metrics for stylised videos, and a dependency-free plot of them.

The warping error follows Lai et al. 2018, "Learning Blind Video Temporal Consistency"
(sec. 5.1): flow and the non-occlusion mask come from the *input* video, and the output
video is scored on how well each output frame agrees with its motion-compensated
predecessor. Lower is more stable. The same number computed on the input video itself is
its floor: flow errors, lighting changes and interpolation make even the input score above
zero, and a stylised video cannot be expected to beat it by much.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..settings import EVAL_MASKS
from .flow import FlowEstimator, lai_occlusion_mask, motion_between, warp

__all__ = ["WarpingErrorResult", "evaluate_video", "plot_error_curve", "warping_error"]


@dataclass(frozen=True)
class WarpingErrorResult:
    """Outcome of ``warping_error``; every per-frame tuple has one entry per ``t >= 1``.

    Attributes:
        per_frame: warping error of the output between frames ``t-1`` and ``t``.
        mean: mean of ``per_frame`` (Lai et al.'s ``E_warp`` of the video).
        floor_per_frame: the same measure computed on the reference (input) video.
        floor_mean: mean of ``floor_per_frame``.
        frame_diff_per_frame: mean absolute difference ``|out_t - out_{t-1}|`` without
            motion compensation (all pixels and channels, values in [0, 1]): a flicker
            proxy that needs no flow, but also grows with genuine motion.
        mean_abs_frame_diff: mean of ``frame_diff_per_frame``.
        valid_fraction_per_frame: fraction of pixels the occlusion mask kept.
        num_frames: number of frames compared (``len(per_frame) + 1``).
        size: ``(height, width)`` the measure was computed at (the output's size).
        reference_resized: whether reference frames were resized to the output size.
    """

    per_frame: tuple[float, ...]
    mean: float
    floor_per_frame: tuple[float, ...]
    floor_mean: float
    frame_diff_per_frame: tuple[float, ...]
    mean_abs_frame_diff: float
    valid_fraction_per_frame: tuple[float, ...]
    num_frames: int
    size: tuple[int, int]
    reference_resized: bool

    def to_dict(self) -> dict:
        """Plain ``dict`` of lists, floats, ints and bools, ready for ``json.dump``."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out


def _to_unit_float(frame: np.ndarray) -> np.ndarray:
    """RGB frame (uint8, or float already in [0, 1]) -> ``HxWx3 float32`` in [0, 1]."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be HxWx3 RGB, got shape {frame.shape}")
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    if np.issubdtype(frame.dtype, np.floating):
        return frame.astype(np.float32, copy=False)
    raise TypeError(f"frames must be uint8 or float in [0, 1], got {frame.dtype}")


def _to_u8(frame: np.ndarray) -> np.ndarray:
    """RGB frame -> uint8, the only input DIS accepts."""
    if frame.dtype == np.uint8:
        return frame
    return (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _resize_to(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``frame`` to ``size = (height, width)``: area when shrinking, bilinear otherwise."""
    h, w = frame.shape[:2]
    if (h, w) == size:
        return frame
    shrinking = size[0] * size[1] < h * w
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(frame, (size[1], size[0]), interpolation=interpolation)


def _as_tensor(frame: np.ndarray) -> torch.Tensor:
    """``HxWx3 float32`` -> ``(1, 3, H, W)`` CPU tensor (shares memory)."""
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None]


def _masked_warp_mse(
    target: np.ndarray, source: np.ndarray, flow: np.ndarray, mask: np.ndarray
) -> float:
    """``sum(M * |target - warp(source, flow)|^2) / (C * sum(M))``: per-channel MSE over valid
    pixels; ``flow`` and ``mask`` live on ``target``'s grid."""
    valid = float(mask.sum())
    if valid == 0.0:
        # Nothing can be compared (a cut or a total occlusion); Lai et al.'s code reports 0
        # for such a pair too, since the numerator is empty.
        return 0.0
    warped = warp(_as_tensor(source), flow)[0].permute(1, 2, 0).numpy()
    sq = np.sum((target.astype(np.float64) - warped) ** 2, axis=2)
    return float(np.sum(sq * mask) / (target.shape[2] * valid))


def warping_error(
    output_frames: Iterable[np.ndarray],
    reference_frames: Iterable[np.ndarray],
    estimator: FlowEstimator | None = None,
    mask: str = EVAL_MASKS[0],
) -> WarpingErrorResult:
    """Temporal warping error of a stylised video (Lai et al. 2018), with its floor.

    For every ``t >= 1`` the flows between reference (input) frames ``t-1`` and ``t`` and
    the mask ``M`` come from the *reference*. ``mask="lai"`` (default) is Lai et al.'s released
    evaluation code exactly: ``M`` is :func:`~vidstyle.video.flow.lai_occlusion_mask` on frame
    ``t-1``'s grid, output frame ``t`` is warped back onto ``t-1`` with the forward flow and

        E_t = sum_p M_p * ||O_{t-1}(p) - warp(O_t, F_{t-1->t})(p)||^2 / (3 * sum_p M_p)

    with RGB in [0, 1], i.e. the mean squared error per channel over reliable pixels.
    ``mask="warm-start"`` is the mirror image with the mask the frame chain uses
    (:func:`~vidstyle.video.flow.occlusion_mask` on frame ``t``'s grid, which also rejects
    sources more than half a pixel outside the frame; output ``t-1`` warped onto ``t``). Only
    ``lai`` gives numbers comparable with published ones (up to the flow method: DIS here,
    FlowNet2 there). The video's error is the mean of ``E_t``. The same quantity is computed,
    in the same pass, on the reference frames (the floor), along with the output's mean
    absolute frame difference.

    Frames are RGB ``HxWx3``, uint8 or float in [0, 1]; both iterables are consumed in
    lock-step and at most two frames of each are held. If the reference's size differs from
    the output's, each reference frame is resized to the output size (area filter when
    shrinking, bilinear when enlarging) because the measure is about the output; this is
    flagged in the result. ``estimator`` defaults to a fresh ``FlowEstimator("medium")``.

    Raises ``ValueError`` if the videos have different frame counts or fewer than 2 frames.
    """
    if mask not in EVAL_MASKS:
        raise ValueError(f"unknown mask {mask!r}; choose one of {', '.join(EVAL_MASKS)}")
    if estimator is None:
        estimator = FlowEstimator("medium")

    per_frame: list[float] = []
    floor: list[float] = []
    frame_diff: list[float] = []
    valid_fraction: list[float] = []
    resized = False
    size: tuple[int, int] | None = None
    prev_out = prev_ref = prev_ref_u8 = None

    missing = object()
    pairs = itertools.zip_longest(output_frames, reference_frames, fillvalue=missing)
    for index, (out_frame, ref_frame) in enumerate(pairs):
        if out_frame is missing or ref_frame is missing:
            which = "reference" if out_frame is not missing else "output"
            raise ValueError(f"the {which} video ended after {index} frames; the other did not")
        out = _to_unit_float(out_frame)
        if size is None:
            size = out.shape[:2]
        elif out.shape[:2] != size:
            raise ValueError(f"output frame {index} is {out.shape[:2]}, earlier ones {size}")
        ref_frame = np.asarray(ref_frame)
        if ref_frame.shape[:2] != size:
            resized = True
            ref_frame = _resize_to(ref_frame, size)
        ref = _to_unit_float(ref_frame)
        ref_u8 = _to_u8(ref_frame)

        if prev_out is not None:
            if mask == "lai":  # on frame t-1's grid: frame t warped back along the forward flow
                forward, backward = estimator.forward_backward(prev_ref_u8, ref_u8)
                valid = lai_occlusion_mask(forward, backward)
                per_frame.append(_masked_warp_mse(prev_out, out, forward, valid))
                floor.append(_masked_warp_mse(prev_ref, ref, forward, valid))
            else:  # on frame t's grid, as the frame chain warps its warm starts
                motion = motion_between(estimator, prev_ref_u8, ref_u8)
                valid = motion.mask
                per_frame.append(_masked_warp_mse(out, prev_out, motion.flow_back, valid))
                floor.append(_masked_warp_mse(ref, prev_ref, motion.flow_back, valid))
            frame_diff.append(float(np.mean(np.abs(out - prev_out))))
            valid_fraction.append(float(valid.mean()))
        prev_out, prev_ref, prev_ref_u8 = out, ref, ref_u8

    if not per_frame:
        raise ValueError("the warping error needs at least 2 frames")
    assert size is not None
    return WarpingErrorResult(
        per_frame=tuple(per_frame),
        mean=float(np.mean(per_frame)),
        floor_per_frame=tuple(floor),
        floor_mean=float(np.mean(floor)),
        frame_diff_per_frame=tuple(frame_diff),
        mean_abs_frame_diff=float(np.mean(frame_diff)),
        valid_fraction_per_frame=tuple(valid_fraction),
        num_frames=len(per_frame) + 1,
        size=(int(size[0]), int(size[1])),
        reference_resized=resized,
    )


# Plot layout, in pixels. BGR colours, since OpenCV draws and encodes BGR.
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 90, 20, 40, 50
_OUTPUT_BGR = (200, 90, 20)  # blue
_FLOOR_BGR = (40, 140, 240)  # orange
_AXIS_BGR = (0, 0, 0)
_GRID_BGR = (225, 225, 225)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _nice_step(span: float, max_ticks: int) -> float:
    """A 1/2/5 x 10^k tick step that gives at most ``max_ticks`` intervals over ``span``."""
    raw = span / max(max_ticks, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10.0 * magnitude


def plot_error_curve(
    per_frame_errors: Sequence[float],
    floor_per_frame: Sequence[float],
    path: str | os.PathLike,
    *,
    width: int = 800,
    height: int = 400,
) -> np.ndarray:
    """Draw per-frame warping error of the output and of the reference floor to a PNG.

    Drawn with OpenCV only (matplotlib is not a dependency): axes with ticks, axis labels,
    one polyline per curve and a legend. The x axis is the frame index ``t`` (first value at
    ``t = 1``), the y axis starts at 0. ``path`` gets a ``width x height`` PNG; the same
    image is returned as an ``HxWx3`` uint8 BGR array.
    """
    errors = np.asarray(per_frame_errors, dtype=np.float64)
    floor = np.asarray(floor_per_frame, dtype=np.float64)
    if errors.ndim != 1 or errors.size == 0:
        raise ValueError("per_frame_errors must be a non-empty 1-D sequence")
    if floor.shape != errors.shape:
        raise ValueError(f"floor has {floor.size} values, errors {errors.size}")
    if not (np.all(np.isfinite(errors)) and np.all(np.isfinite(floor))):
        raise ValueError("errors must be finite")
    plot_w = width - _MARGIN_LEFT - _MARGIN_RIGHT
    plot_h = height - _MARGIN_TOP - _MARGIN_BOTTOM
    if plot_w < 50 or plot_h < 50:
        raise ValueError(f"plot size {width}x{height} is too small")

    img = np.full((height, width, 3), 255, dtype=np.uint8)
    x0, y0 = _MARGIN_LEFT, _MARGIN_TOP + plot_h  # pixel position of the origin
    n = errors.size
    t_first, t_last = 1, max(n, 2)  # a single value still gets a non-empty x range
    # 25% headroom keeps the curves clear of the legend in the top-right corner.
    y_max = 1.25 * max(float(errors.max()), float(floor.max()), 1e-12)
    y_step = _nice_step(y_max, 5)
    y_top = y_step * math.ceil(y_max / y_step)

    def to_px(t: np.ndarray, value: np.ndarray) -> np.ndarray:
        px = x0 + (t - t_first) / (t_last - t_first) * plot_w
        py = y0 - value / y_top * plot_h
        return np.stack([px, py], axis=1).round().astype(np.int32)

    # Grid and y ticks.
    for k in range(int(round(y_top / y_step)) + 1):
        value = k * y_step
        py = int(round(y0 - value / y_top * plot_h))
        cv2.line(img, (x0, py), (x0 + plot_w, py), _GRID_BGR, 1)
        cv2.line(img, (x0 - 5, py), (x0, py), _AXIS_BGR, 1)
        label = f"{value:.2e}" if value else "0"
        (tw, th), _ = cv2.getTextSize(label, _FONT, 0.4, 1)
        cv2.putText(img, label, (x0 - 8 - tw, py + th // 2), _FONT, 0.4, _AXIS_BGR, 1, cv2.LINE_AA)
    # x ticks at integer frame indices.
    x_step = max(1, int(_nice_step(t_last - t_first, 10)))
    for t in range(t_first, t_last + 1):
        if (t - t_first) % x_step and t != t_first:
            continue
        px = int(round(x0 + (t - t_first) / (t_last - t_first) * plot_w))
        cv2.line(img, (px, y0), (px, y0 + 5), _AXIS_BGR, 1)
        (tw, th), _ = cv2.getTextSize(str(t), _FONT, 0.4, 1)
        cv2.putText(img, str(t), (px - tw // 2, y0 + 8 + th), _FONT, 0.4, _AXIS_BGR, 1, cv2.LINE_AA)
    # Axes and labels.
    cv2.line(img, (x0, y0), (x0 + plot_w, y0), _AXIS_BGR, 1)
    cv2.line(img, (x0, y0), (x0, _MARGIN_TOP), _AXIS_BGR, 1)
    (tw, _), _ = cv2.getTextSize("frame t", _FONT, 0.5, 1)
    cv2.putText(
        img, "frame t", (x0 + (plot_w - tw) // 2, height - 10), _FONT, 0.5, _AXIS_BGR, 1,
        cv2.LINE_AA,
    )
    cv2.putText(
        img, "warping error (MSE, RGB in [0,1])", (10, 25), _FONT, 0.5, _AXIS_BGR, 1, cv2.LINE_AA
    )

    # Curves: the floor first so the output curve stays on top where they overlap.
    t = np.arange(t_first, t_first + n, dtype=np.float64)
    for values, colour in ((floor, _FLOOR_BGR), (errors, _OUTPUT_BGR)):
        pts = to_px(t, values)
        if n > 1:
            cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, colour, 2, cv2.LINE_AA)
        else:
            cv2.circle(img, tuple(int(c) for c in pts[0]), 3, colour, -1, cv2.LINE_AA)

    # Legend, top right inside the plot.
    entries = (("output", _OUTPUT_BGR), ("reference (floor)", _FLOOR_BGR))
    text_w = max(cv2.getTextSize(name, _FONT, 0.45, 1)[0][0] for name, _ in entries)
    box_w, box_h = text_w + 45, 22 * len(entries) + 8
    bx, by = x0 + plot_w - box_w - 8, _MARGIN_TOP + 8
    cv2.rectangle(img, (bx, by), (bx + box_w, by + box_h), (255, 255, 255), -1)
    cv2.rectangle(img, (bx, by), (bx + box_w, by + box_h), _AXIS_BGR, 1)
    for i, (name, colour) in enumerate(entries):
        cy = by + 16 + 22 * i
        cv2.line(img, (bx + 8, cy), (bx + 32, cy), colour, 2, cv2.LINE_AA)
        cv2.putText(img, name, (bx + 38, cy + 5), _FONT, 0.45, _AXIS_BGR, 1, cv2.LINE_AA)

    # imencode + write_bytes rather than imwrite: it reports failure and handles any path.
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise OSError(f"could not encode the plot for {os.fspath(path)}")
    Path(path).write_bytes(buf.tobytes())
    return img


def evaluate_video(
    output: str, reference: str, flow_preset: str = "medium", *, reference_start: float | None = None,
    mask: str = EVAL_MASKS[0],
) -> WarpingErrorResult:
    """:func:`warping_error` of video file ``output`` against its input video ``reference``.

    Both are decoded as a stream (upright, see :func:`vidstyle.media.video_files.read_frames`); the
    reference is resized to the output's size when they differ. A stylized part of a clip
    (``--start``, ``--max-frames``) is compared with the same part of the reference: from
    ``reference_start`` seconds, as many frames as the output has. ``mask``: see :func:`warping_error`.
    """
    from ..media.video_files import read_frames

    count = sum(1 for _ in read_frames(output))
    return warping_error(
        (frame.image for frame in read_frames(output)),
        (frame.image for frame in read_frames(reference, start=reference_start, max_frames=count)),
        FlowEstimator(flow_preset),
        mask,
    )
