"""vidstyle.video.metrics: Lai et al. warping error, its floor, streaming, and the plot."""

import json
import tracemalloc

import cv2
import numpy as np
import pytest

from vidstyle.video.flow import FlowEstimator, occlusion_mask
from vidstyle.video.metrics import WarpingErrorResult, plot_error_curve, warping_error

H = W = 96
DX, DY = 3, -2
SIGMA = 0.05


def make_pan(num_frames: int, size: int = H, seed: int = 0) -> list[np.ndarray]:
    """A smooth random RGB texture panning by (DX, DY) px per frame, values in [0.2, 0.8]."""
    rng = np.random.default_rng(seed)
    pad = 8 + num_frames * max(abs(DX), abs(DY))
    big = rng.normal(size=(size + 2 * pad, size + 2 * pad, 3)).astype(np.float32)
    big = cv2.GaussianBlur(big, (0, 0), 2.0)
    big = 0.2 + 0.6 * (big - big.min()) / (big.max() - big.min())
    return [
        (big[pad - k * DY : pad - k * DY + size, pad - k * DX : pad - k * DX + size] * 255)
        .round()
        .astype(np.uint8)
        for k in range(num_frames)
    ]


def add_noise(frames: list[np.ndarray], sigma: float, seed: int = 1) -> list[np.ndarray]:
    """Independent Gaussian noise per frame, float output in [0, 1] (no uint8 rounding)."""
    rng = np.random.default_rng(seed)
    return [
        np.clip(f / 255.0 + rng.normal(0.0, sigma, f.shape), 0.0, 1.0).astype(np.float32)
        for f in frames
    ]


def test_identical_video_scores_its_own_floor():
    ref = make_pan(6)
    result = warping_error(iter(ref), iter(ref), mask="warm-start")
    assert isinstance(result, WarpingErrorResult)
    assert result.num_frames == 6 and len(result.per_frame) == 5
    assert result.per_frame == result.floor_per_frame  # same computation, bit for bit
    assert result.mean == pytest.approx(result.floor_mean, abs=1e-12)
    # A pure pan is almost perfectly explained by the flow: ~5e-7, i.e. ~0.2 grey levels RMS.
    assert result.floor_mean < 1e-5
    # ...while the unwarped frame difference sees the motion.
    assert result.mean_abs_frame_diff > 0.02
    assert all(0.85 < v <= 1.0 for v in result.valid_fraction_per_frame)
    assert result.size == (H, W) and result.reference_resized is False


def test_independent_noise_raises_error_by_predicted_amount():
    ref = make_pan(6)
    clean = warping_error(ref, ref, mask="warm-start")
    noisy = warping_error(add_noise(ref, SIGMA), ref, mask="warm-start")
    # The floor only depends on the reference.
    assert noisy.floor_per_frame == clean.floor_per_frame
    increase = noisy.mean - noisy.floor_mean

    # out_t - warp(out_{t-1}) gains n_t - warp(n_{t-1}). With independent noise of variance
    # sigma^2, E|.|^2 per channel = sigma^2 (1 + f) where f = sum of squared bilinear weights
    # of the warp: 1 for an integer flow (the textbook 2 sigma^2), down to 1/4 at half-pixel
    # offsets in x and y. Predict f from the same flow and mask the metric uses.
    est = FlowEstimator("medium")
    factors = []
    for prev, cur in zip(ref[:-1], ref[1:]):
        fwd, bwd = est.forward_backward(prev, cur)
        mask = occlusion_mask(fwd, bwd) > 0
        ax, ay = np.modf(np.abs(bwd[..., 0]))[0], np.modf(np.abs(bwd[..., 1]))[0]
        f = (ax**2 + (1 - ax) ** 2) * (ay**2 + (1 - ay) ** 2)
        factors.append(f[mask].mean())
    predicted = SIGMA**2 * (1.0 + float(np.mean(factors)))
    # ~128k noisy samples: sampling error ~0.5%; clipping at [0, 1] is >= 4 sigma away.
    assert increase == pytest.approx(predicted, rel=0.05)
    # The coarse bound from the brief: between 1.25 and 2 sigma^2.
    assert 1.25 * SIGMA**2 * 0.95 < increase < 2.0 * SIGMA**2 * 1.05
    # Noise also shows in the raw frame difference.
    assert noisy.mean_abs_frame_diff > clean.mean_abs_frame_diff


def test_reference_is_resized_to_output_size():
    ref = make_pan(4)
    small = [cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in ref]
    result = warping_error(small, ref, mask="warm-start")
    assert result.reference_resized is True and result.size == (64, 64)
    # The reference is shrunk with the same area filter, so it equals the output exactly.
    assert result.per_frame == result.floor_per_frame
    assert result.floor_mean < 1e-4


def test_consumes_frames_in_lock_step_with_bounded_memory():
    n, size = 30, 128
    ref = make_pan(n, size=size)
    pulled = {"out": 0, "ref": 0}

    def stream(name, frames):
        for frame in frames:
            pulled[name] += 1
            assert abs(pulled["out"] - pulled["ref"]) <= 1, "iterables not consumed in lock-step"
            yield frame.copy()

    float_frame = size * size * 3 * 4
    tracemalloc.start()
    try:
        result = warping_error(stream("out", ref), stream("ref", ref))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.num_frames == n
    # Holding every converted frame would cost >= 2 * n = 60 float frames; streaming peaks
    # at ~12 (two frames of each video plus float64, flow and mask temporaries).
    assert peak < 20 * float_frame


def test_rejects_length_mismatch_and_too_short():
    ref = make_pan(3)
    with pytest.raises(ValueError, match="ended after 2 frames"):
        warping_error(ref[:2], ref)
    with pytest.raises(ValueError, match="ended after 2 frames"):
        warping_error(ref, ref[:2])
    with pytest.raises(ValueError, match="at least 2"):
        warping_error(ref[:1], ref[:1])


def test_to_dict_round_trips_through_json():
    ref = make_pan(3)
    result = warping_error(ref, ref)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["per_frame"] == list(result.per_frame)
    assert data["mean"] == result.mean
    assert data["size"] == [H, W]
    assert data["num_frames"] == 3
    with pytest.raises(AttributeError):
        result.mean = 0.0  # frozen


def test_plot_writes_png_of_expected_size(tmp_path):
    errors = [4e-3, 5e-3, 4.5e-3, 6e-3]
    floor = [1e-3, 1.2e-3, 1.1e-3, 1e-3]
    path = tmp_path / "curve.png"
    img = plot_error_curve(errors, floor, path)
    on_disk = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert on_disk is not None and on_disk.shape == (400, 800, 3)
    np.testing.assert_array_equal(on_disk, img)  # PNG is lossless
    # Both curve colours (BGR) are drawn.
    for colour in [(200, 90, 20), (40, 140, 240)]:
        assert np.all(img == colour, axis=2).sum() > 100

    other = plot_error_curve([1e-3], [5e-4], tmp_path / "one.png", width=500, height=300)
    assert other.shape == (300, 500, 3)
    assert cv2.imread(str(tmp_path / "one.png")).shape == (300, 500, 3)

    with pytest.raises(ValueError):
        plot_error_curve(errors, floor[:2], tmp_path / "bad.png")


class ConstantFlow:
    """A stand-in estimator: the same hand-built flow for every pair."""

    def __init__(self, dx: float):
        self.dx = dx

    def forward_backward(self, first, second):
        h, w = first.shape[:2]
        forward = np.zeros((h, w, 2), np.float32)
        forward[..., 0] = self.dx
        return forward, -forward


def test_lai_mask_scores_the_border_the_warm_start_mask_rejects():
    """A scene moving 1 px left per frame, hand-built flow. Lai et al.'s code warps frame t back
    onto t-1 with the forward flow (-1): column 0 samples outside the frame (border replicated,
    so it gets frame t's column 0 = frame t-1's column 1), and their mask keeps it. The
    warm-start mask warps t-1 onto t and rejects the last column's out-of-frame source."""
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 256, size=(8, 12, 3), dtype=np.uint8)
    frames = [scene[:, 0:10], scene[:, 1:11]]
    lai = warping_error(frames, frames, ConstantFlow(-1.0))
    prev = frames[0].astype(np.float64) / 255
    expected = float(np.sum((prev[:, 0] - prev[:, 1]) ** 2) / (3 * 8 * 10))
    assert lai.valid_fraction_per_frame == (1.0,)
    assert lai.mean == pytest.approx(expected, rel=1e-5) and lai.mean > 0
    warm = warping_error(frames, frames, ConstantFlow(-1.0), mask="warm-start")
    assert warm.valid_fraction_per_frame[0] == pytest.approx(0.9)
    assert warm.mean == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="unknown mask"):
        warping_error(frames, frames, ConstantFlow(-1.0), mask="ruder")
