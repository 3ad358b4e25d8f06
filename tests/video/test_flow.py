"""vidstyle.video.flow: DIS flow on a synthetic pan, warping, occlusion masks, motion, filling."""

import cv2
import numpy as np
import pytest
import torch

from vidstyle.video.flow import FlowEstimator, fill_masked, lai_occlusion_mask, motion_between, occlusion_mask, warp

H = W = 96
DX, DY = 3, -2  # content moves 3 px right and 2 px up per frame


def make_pan(num_frames: int, dx: int = DX, dy: int = DY, seed: int = 0) -> list[np.ndarray]:
    """Crops of one smooth random RGB texture; frame k's content sits at +k*(dx, dy).

    So frame[k][y, x] == frame[k-1][y - dy, x - dx]: the flow current -> previous is
    (-dx, -dy) everywhere, and the strip whose source lies outside frame k-1 (x < dx and,
    for dy < 0, y > H-1+dy) is newly exposed. Values stay in [0.2, 0.8] so that added noise
    is (almost) never clipped.
    """
    rng = np.random.default_rng(seed)
    pad = 8 + num_frames * max(abs(dx), abs(dy))
    big = rng.normal(size=(H + 2 * pad, W + 2 * pad, 3)).astype(np.float32)
    big = cv2.GaussianBlur(big, (0, 0), 2.0)
    big = 0.2 + 0.6 * (big - big.min()) / (big.max() - big.min())
    frames = []
    for k in range(num_frames):
        y0, x0 = pad - k * dy, pad - k * dx
        frames.append((big[y0 : y0 + H, x0 : x0 + W] * 255).round().astype(np.uint8))
    return frames


def to_tensor(frame: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)[None].to(dtype) / 255.0


def exposed_strip(dx: int = DX, dy: int = DY) -> np.ndarray:
    """Boolean HxW: pixels of frame k whose source lies outside frame k-1."""
    ys, xs = np.mgrid[0:H, 0:W]
    src_x, src_y = xs - dx, ys - dy
    return (src_x < 0) | (src_x > W - 1) | (src_y < 0) | (src_y > H - 1)


# --- DIS flow on the synthetic pan -----------------------------------------------------------


@pytest.mark.parametrize("preset", ["ultrafast", "fast", "medium"])
def test_dis_recovers_pan_both_directions(preset):
    prev, cur = make_pan(2)
    fwd, bwd = FlowEstimator(preset).forward_backward(prev, cur)
    assert fwd.shape == bwd.shape == (H, W, 2) and fwd.dtype == np.float32
    inner = (slice(10, -10), slice(10, -10))
    err_fwd = np.hypot(fwd[..., 0] - DX, fwd[..., 1] - DY)[inner]
    err_bwd = np.hypot(bwd[..., 0] + DX, bwd[..., 1] + DY)[inner]
    # Medium measures ~0.02 px, fast/ultrafast ~0.15 px on this texture.
    assert np.median(err_fwd) < 0.25
    assert np.median(err_bwd) < 0.25


def test_dis_medium_is_subpixel_accurate():
    prev, cur = make_pan(2)
    bwd = FlowEstimator("medium")(cur, prev)
    err = np.hypot(bwd[..., 0] + DX, bwd[..., 1] + DY)[10:-10, 10:-10]
    assert np.median(err) < 0.1
    assert np.percentile(err, 95) < 0.25


def test_estimator_rejects_bad_input():
    with pytest.raises(ValueError, match="preset"):
        FlowEstimator("slow")
    est = FlowEstimator("ultrafast")
    a = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="sizes differ"):
        est(a, np.zeros((32, 40, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        est(a.astype(np.float32), a.astype(np.float32))


def test_warp_with_backward_flow_reproduces_current_frame():
    prev, cur = make_pan(2)
    fwd, bwd = FlowEstimator("medium").forward_backward(prev, cur)
    mask = occlusion_mask(fwd, bwd)
    warped = warp(to_tensor(prev), bwd)
    abs_err = (warped - to_tensor(cur)).abs().mean(dim=1)[0].numpy()
    # Measured ~4e-4 (about 0.1 grey level); 2e-3 is half a grey level on a uint8 scale.
    assert abs_err[mask > 0].mean() < 2e-3
    # The zero-flow baseline is far worse, so the check above is not vacuous.
    assert (to_tensor(prev) - to_tensor(cur)).abs().mean() > 20 * 2e-3


def test_mask_flags_exposed_strip_and_keeps_interior():
    prev, cur = make_pan(2)
    mask = occlusion_mask(*FlowEstimator("medium").forward_backward(prev, cur))
    assert mask.shape == (H, W) and mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    strip = exposed_strip()
    assert (mask[strip] == 0).mean() >= 0.8
    assert mask[10:-10, 10:-10].mean() >= 0.95  # measured 1.0
    assert mask[~strip].mean() >= 0.9  # measured ~0.98


# --- warp ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_warp_zero_flow_is_exact_identity(dtype):
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 17, 23, generator=g, dtype=dtype)
    assert torch.equal(warp(img, np.zeros((17, 23, 2), np.float32)), img)
    assert torch.equal(warp(img, torch.zeros(2, 2, 17, 23)), img)


def test_warp_integer_flow_matches_roll_in_interior():
    g = torch.Generator().manual_seed(1)
    img = torch.rand(1, 3, 20, 24, generator=g)
    flow = np.zeros((20, 24, 2), np.float32)
    flow[..., 0], flow[..., 1] = -2.0, 1.0  # out[y, x] = img[y + 1, x - 2]
    expected = torch.roll(img, shifts=(-1, 2), dims=(2, 3))
    got = warp(img, flow)
    # Not bit-exact: grid_sample's normalised-coordinate round trip is off by ~1 ulp.
    torch.testing.assert_close(got[..., 1:-1, 2:-2], expected[..., 1:-1, 2:-2], atol=1e-5, rtol=0)
    # Out-of-frame samples take the border value (padding_mode="border").
    # Column 0 samples x = -2, clamped to 0; rows sample y + 1, clamped to the last row.
    border = torch.cat([img[..., 1:, 0], img[..., -1:, 0]], dim=-1)
    torch.testing.assert_close(got[..., :, 0], border, atol=1e-5, rtol=0)


def test_warp_subpixel_is_bilinear():
    img = torch.arange(12, dtype=torch.float64).reshape(1, 1, 3, 4)  # value = 4 y + x
    flow = torch.zeros(1, 2, 3, 4, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = 0.25, 0.5
    out = warp(img, flow)
    # A linear ramp is reproduced exactly by bilinear sampling away from the clamped edge.
    expected = img + 4 * 0.5 + 0.25
    torch.testing.assert_close(out[..., :-1, :-1], expected[..., :-1, :-1])


def test_warp_broadcasts_flow_and_follows_dtype_and_device():
    g = torch.Generator().manual_seed(2)
    img = torch.rand(2, 3, 8, 9, generator=g, dtype=torch.float64)
    flow = np.full((8, 9, 2), 0.5, np.float32)
    out = warp(img, flow)
    assert out.dtype == torch.float64 and out.device == img.device and out.shape == img.shape
    torch.testing.assert_close(out[0], warp(img[:1], flow)[0])
    torch.testing.assert_close(out[1], warp(img[1:], flow)[0])
    # Reduced precision comes back in the caller's dtype (sampled in float32 inside).
    low = warp(img.to(torch.bfloat16), flow)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.double(), out, atol=1e-2, rtol=0)
    with pytest.raises(ValueError, match="size"):
        warp(img, np.zeros((8, 10, 2), np.float32))


def test_warp_gradcheck_float64():
    g = torch.Generator().manual_seed(3)
    img = torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    # Fractional flows keep sample points away from the kinks of bilinear interpolation.
    flow = (torch.rand(1, 2, 5, 6, generator=g, dtype=torch.float64) * 0.6 + 0.2)
    assert torch.autograd.gradcheck(lambda x: warp(x, flow), (img,))
    flow.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: warp(img.detach(), f), (flow,))
    out = warp(img, flow.detach())
    out.sum().backward()
    assert torch.isfinite(img.grad).all()


# --- occlusion_mask on hand-made flows -------------------------------------------------------


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_mask_consistent_constant_flow_only_rejects_out_of_frame(sign):
    """Sources more than half a pixel outside the frame are rejected; within half a pixel kept."""
    h, w = 12, 10
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[..., 0], fwd[..., 1] = 1.5 * sign, -0.6 * sign
    bwd = -fwd
    expected = np.ones((h, w), np.float32)
    if sign > 0:
        expected[:, :1] = 0  # x - 1.5 < -0.5 (column 1 maps to -0.5: kept)
        expected[-1, :] = 0  # y + 0.6 > h - 1 + 0.5
    else:
        expected[:, -1:] = 0  # x + 1.5 > w - 1 + 0.5
        expected[0, :] = 0  # y - 0.6 < -0.5
    np.testing.assert_array_equal(occlusion_mask(fwd, bwd), expected)
    strict = occlusion_mask(fwd, bwd, out_of_frame_tolerance=0.0)
    assert strict.sum() < expected.sum()


def test_tiny_outward_flow_keeps_the_border_column():
    """A 0.01 px outward flow used to reject a whole border column."""
    h, w = 6, 8
    bwd = np.zeros((h, w, 2), np.float32)
    bwd[..., 0] = 0.01  # every source 0.01 px to the right: the last column's is outside
    np.testing.assert_array_equal(occlusion_mask(-bwd, bwd), np.ones((h, w), np.float32))
    assert occlusion_mask(-bwd, bwd, out_of_frame_tolerance=0.0)[:, -1].sum() == 0


# --- Lai et al.'s evaluation mask on hand-made flows --------------------------------------


def test_lai_mask_keeps_consistent_flow_even_out_of_frame():
    h, w = 6, 7
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[..., 0], fwd[..., 1] = 2.5, -1.0
    np.testing.assert_array_equal(lai_occlusion_mask(fwd, -fwd), np.ones((h, w), np.float32))


def test_lai_mask_flags_inconsistent_block():
    h, w = 16, 16
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[..., 0] = 2.0  # first-frame pixel x goes to x + 2
    bwd = np.full((h, w, 2), 0.0, np.float32)
    bwd[..., 0] = -2.0
    bwd[5:9, 6:10, 0] = 4.0  # this block of the second frame claims to come from elsewhere
    # b~(x) = bwd(x + 2): |4 + 2|^2 = 36 > 0.01 (16 + 4) + 0.5 where x + 2 hits the block.
    expected = np.ones((h, w), np.float32)
    expected[5:9, 4:8] = 0
    np.testing.assert_array_equal(lai_occlusion_mask(fwd, bwd), expected)


def test_lai_mask_motion_boundary_uses_forward_differences():
    h, w, c = 10, 12, 6
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[:, c:, 1] = 0.6  # right half moves down 0.6 px
    expected = np.ones((h, w), np.float32)
    expected[:, c - 1] = 0  # f[c-1] - f[c] = -0.6: 0.36 > 0.01 * 0 + 0.002; column c's difference is 0
    np.testing.assert_array_equal(lai_occlusion_mask(fwd, -fwd), expected)
    with pytest.raises(ValueError):
        lai_occlusion_mask(np.zeros((4, 4, 2), np.float32), np.zeros((4, 5, 2), np.float32))


def test_mask_flags_inconsistent_block():
    h, w = 16, 16
    bwd = np.zeros((h, w, 2), np.float32)
    bwd[..., 0] = -2.0  # current pixel x came from x - 2
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[..., 0] = 2.0
    fwd[5:9, 6:10, 0] = -4.0  # this block of the previous frame claims to go elsewhere
    # w~(x) = fwd(x - 2): inconsistent exactly where x - 2 hits the block, and the smooth
    # backward flow has no motion boundary; columns 0-1 are out of frame.
    expected = np.ones((h, w), np.float32)
    expected[5:9, 8:12] = 0
    expected[:, :2] = 0
    np.testing.assert_array_equal(occlusion_mask(fwd, bwd), expected)


def test_mask_flags_motion_boundary():
    h, w, c = 10, 12, 6
    v = np.where(np.arange(w) < c, 0.0, 0.6).astype(np.float32)  # right half moves down
    bwd = np.zeros((h, w, 2), np.float32)
    bwd[..., 1] = v[None, :]
    fwd = -bwd  # consistent: sources stay in their own column
    expected = np.ones((h, w), np.float32)
    expected[:, c - 1 : c + 1] = 0  # central difference 0.3 px/px on both sides of the step
    expected[-1, c:] = 0  # y + 0.6 > h - 1
    np.testing.assert_array_equal(occlusion_mask(fwd, bwd), expected)


def test_mask_rejects_mismatched_flows():
    with pytest.raises(ValueError):
        occlusion_mask(np.zeros((4, 4, 2), np.float32), np.zeros((4, 5, 2), np.float32))


# --- fill_masked and motion --------------------------------------------------------


def test_fill_masked_is_exact_for_binary_masks():
    g = torch.Generator().manual_seed(4)
    warped = torch.rand(1, 3, 4, 5, generator=g)
    fill = torch.rand(1, 3, 4, 5, generator=g)
    mask = np.zeros((4, 5), np.float32)
    mask[:, :2] = 1
    out = fill_masked(warped, fill, mask)
    assert torch.equal(out[..., :2], warped[..., :2])
    assert torch.equal(out[..., 2:], fill[..., 2:])
    out_t = fill_masked(warped, fill, torch.from_numpy(mask)[None, None])
    assert torch.equal(out_t, out)
    half = fill_masked(warped, fill, torch.full((1, 1, 4, 5), 0.5))
    torch.testing.assert_close(half, (warped + fill) / 2)


def test_motion_between_is_the_backward_flow_and_its_mask():
    prev, cur = make_pan(2)
    estimator = FlowEstimator("medium")
    motion = motion_between(estimator, prev, cur)
    forward, backward = FlowEstimator("medium").forward_backward(prev, cur)  # DIS is deterministic
    np.testing.assert_array_equal(motion.flow_back, backward)
    np.testing.assert_array_equal(motion.mask, occlusion_mask(forward, backward))
    assert motion.mask[exposed_strip()].max() == 0 and motion.mask.mean() > 0.8
