"""The frame chain's one rule (vidstyle.video.chain): cold or warm, warp and fill, temporal target,
budgets, colours; and the look applied at encode time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import as_tensor, pan_frames, structured_image

from vidstyle.core.colors import luminance_input
from vidstyle.media.video_files import Frame
from vidstyle.settings import CartoonSettings, OptimSettings, StyleSettings, VideoSettings
from vidstyle.video.chain import ChainRule, DecodedFrame, FrameLook, plan_frame, video_rule, warm_start
from vidstyle.video.flow import FlowEstimator, Motion, motion_between

CPU = torch.device("cpu")


def item(index: int, image: np.ndarray, motion: Motion | None = None) -> DecodedFrame:
    return DecodedFrame(Frame(index, index, index / 10, image), motion)


def test_first_frame_is_cold_and_later_ones_warm_with_their_budget():
    rule = ChainRule(init_mode="flow", cold_iters=9, warm_iters=3, tol=0.0)
    frames = pan_frames(2)
    cold = plan_frame(item(0, frames[0]), None, rule, CPU)
    assert (cold.cold, cold.iters, cold.init, cold.temporal) == (True, 9, "content", None)
    assert torch.equal(cold.content, as_tensor(frames[0]))
    previous = torch.rand(1, 3, 32, 48)
    warm = plan_frame(item(1, frames[1]), previous, rule, CPU)  # no motion known: the previous output as it is
    assert (warm.cold, warm.iters) == (False, 3)
    assert torch.equal(warm.init, previous) and torch.equal(warm.temporal[0], previous)
    assert torch.equal(warm.temporal[1], torch.ones(1, 1, 32, 48))
    independent = plan_frame(item(1, frames[1]), previous, ChainRule("independent", 9, 3, 0.0), CPU)
    assert independent.cold and independent.iters == 9


def test_keyframes_get_the_cold_budget_and_the_frames_between_the_refinement_one():
    rule = ChainRule(init_mode="prev", cold_iters=6, warm_iters=50, tol=0.0, keyframe_every=3, refine_iters=2)
    previous = torch.rand(1, 3, 32, 48)
    budgets = [plan_frame(item(i, pan_frames(1)[0]), None if i == 0 else previous, rule, CPU).iters
               for i in range(7)]
    assert budgets == [6, 2, 2, 6, 2, 2, 6]
    assert rule.with_iters(4).warm_budget(1) == 2 and rule.with_iters(4).cold_iters == 4


def test_flow_warm_start_warps_the_previous_output_and_fills_what_the_mask_rejects():
    frames = pan_frames(2, width=64, height=48, step=3)
    motion = motion_between(FlowEstimator("medium"), frames[0], frames[1])
    previous, content = as_tensor(frames[0]), as_tensor(frames[1])  # "stylized" = content: easy to check
    init, warped, mask = warm_start(previous, content, motion, "flow")
    assert init.shape == warped.shape == (1, 3, 48, 64) and mask.shape == (1, 1, 48, 64)
    np.testing.assert_array_equal(mask[0, 0].numpy(), motion.mask)
    keep = mask.expand_as(init) > 0
    assert torch.equal(init[keep], warped[keep]) and torch.equal(init[~keep], content[~keep])
    assert motion.mask[:, -3:].max() == 0  # the strip the pan reveals (right: the camera moves right) has no history
    # The warp carries the previous frame onto the current one: far closer than without warping.
    assert (init - content).abs().mean() < 0.2 * (previous - content).abs().mean()
    prev_init, _, prev_mask = warm_start(previous, content, None, "prev")  # no motion: the previous output as it is
    assert torch.equal(prev_init, previous) and bool(prev_mask.all())


def test_colours_and_init_pictures_go_through_the_rule(tmp_path):
    import cv2

    picture = structured_image(20, 30, seed=4)
    cv2.imwrite(str(tmp_path / "start.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    settings = VideoSettings(optim=OptimSettings(init=str(tmp_path / "start.png")),
                             style=StyleSettings(preserve_colors=True))
    rule = video_rule(settings)
    assert isinstance(rule.cold_init, torch.Tensor) and rule.colors == "luminance"
    frame = pan_frames(1)[0]
    plan = plan_frame(item(0, frame), None, rule, CPU)
    assert torch.allclose(plan.content, luminance_input(as_tensor(frame)))  # the network sees luminance
    assert torch.allclose(plan.init, luminance_input(as_tensor(picture)), atol=1e-6)
    with pytest.raises(ValueError, match="unknown init mode"):
        ChainRule(init_mode="sideways", cold_iters=1, warm_iters=1, tol=0.0)


def test_the_look_puts_colours_back_and_fits_one_cartoon_palette():
    frame, stylized = structured_image(32, 48, seed=1), structured_image(32, 48, seed=2)
    plain = FrameLook(None, CartoonSettings())
    assert plain(frame, stylized) is stylized and not plain.needs_palette
    cartoon = FrameLook(None, CartoonSettings(enabled=True, colors=3))
    assert cartoon.needs_palette
    with pytest.raises(ValueError, match="needs a palette"):
        cartoon(frame, stylized)
    fitted = cartoon.fitted(frame, stylized)
    assert fitted.palette.shape == (3, 3) and not fitted.needs_palette
    assert len(np.unique(fitted(frame, stylized).reshape(-1, 3), axis=0)) > 3  # blended with the stylized frame
    again = fitted.fitted(frame, structured_image(32, 48, seed=3))
    assert not np.array_equal(again.palette, fitted.palette)  # fitted() always fits; callers keep the first
    colours = FrameLook("luminance", CartoonSettings())
    out = colours(frame, stylized)
    assert out.shape == frame.shape and not np.array_equal(out, stylized)


def test_prev_restarts_the_pixels_whose_input_changed():
    """``prev`` no longer freezes: where the input changed, the start is the content again."""
    from vidstyle.video.chain import still_motion

    before = np.full((24, 32, 3), 100, np.uint8)
    after = before.copy()
    after[8:16, 10:20] = 200  # something moved in
    motion = still_motion(before, after)
    assert motion.flow_back.shape == (24, 32, 2) and not motion.flow_back.any()
    assert motion.mask[11:13, 13:17].max() == 0 and motion.mask[:4].min() == 1 and motion.mask[:, :6].min() == 1
    previous, content = torch.rand(1, 3, 24, 32), as_tensor(after)
    init, target, mask = warm_start(previous, content, motion, "prev", "content")
    assert torch.equal(target, previous)
    assert torch.equal(init[..., 12, 15], content[..., 12, 15]) and torch.equal(init[..., 0, 0], previous[..., 0, 0])
    assert bool(still_motion(before, before).mask.all())  # a still input keeps everything


def test_photometric_check_rejects_what_the_flow_does_not_carry():
    from vidstyle.video.chain import photometric_check

    previous = pan_frames(1, width=32, height=24)[0]
    current = previous.copy()
    current[4:10, 4:10] = [255, 0, 0]  # a small object the (zero) flow knows nothing about
    motion = Motion(np.zeros((24, 32, 2), np.float32), np.ones((24, 32), np.float32))
    checked = photometric_check(motion, previous, current, 0.1)
    assert checked.mask[5:9, 5:9].max() == 0 and checked.mask[15:, 15:].min() == 1
    assert checked.flow_back is motion.flow_back


def test_the_temporal_weight_is_relative_to_the_content_term(extractor):
    """Scaling the network's features by k scales the content term by k^2: so does the temporal
    term, so one relative weight balances them the same way."""
    from vidstyle.core.stylizer import Stylizer
    from vidstyle.video.chain import temporal_scale

    content = as_tensor(structured_image(32, 32))
    stylizer = Stylizer(extractor, [content])
    scale = temporal_scale(stylizer, content)
    features = stylizer.features(content)[stylizer.loss.content_layer]
    assert scale == pytest.approx(float(features.pow(2).mean()), rel=1e-6) and scale > 0
