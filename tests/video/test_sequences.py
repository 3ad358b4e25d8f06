"""Batched mode: K frame sequences side by side, each its own frame chain, frame t of each in one batch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import as_tensor, pan_frames, stripes_image, structured_image

from vidstyle.core.features import LAYER_INDEX, VGGFeatures, random_state_dict
from vidstyle.core.stylizer import Stylizer
from vidstyle.media.video_files import Frame
from vidstyle.settings import LossSettings, ModelSettings, OptimSettings
from vidstyle.video.catchup import revealed_region
from vidstyle.video.chain import ChainRule, DecodedFrame, stylize_frames
from vidstyle.video.flow import Motion
from vidstyle.video.sequences import stylize_sequences

TINY_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
TINY_LOSS = LossSettings(content_layer="relu3_1", style_layers=tuple((name, 1.0) for name in TINY_LAYERS),
                         temporal_weight=20.0)


def _sequence(seed: int, length: int) -> list[DecodedFrame]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(length):
        image = np.roll(structured_image(24, 32, seed=seed), 2 * i, axis=1)
        motion = None
        if i:
            motion = Motion(rng.uniform(-1.5, 1.5, (24, 32, 2)).astype(np.float32),
                            (rng.random((24, 32)) > 0.2).astype(np.float32))
        items.append(DecodedFrame(Frame(i, i, i / 10, image), motion))
    return items


def batched_equals_alone(sequences, stylizer, rule) -> dict[int, list]:
    """Run ``sequences`` batched and each alone (``stylize_frames``), assert the results are
    equal (iterations, early stops, terms, losses, images), and return the batched ones per
    sequence: ``[(index, result, cold)]``."""
    batched = {k: [] for k in range(len(sequences))}
    for step_results in stylize_sequences(sequences, stylizer, rule):
        for k, item, result, cold in step_results:
            batched[k].append((item.index, result, cold))
    for k, sequence in enumerate(sequences):
        alone = list(stylize_frames(sequence, stylizer, rule))
        assert [i for i, _, _ in batched[k]] == [item.index for item, _, _ in alone]
        for (_, got, got_cold), (_, want, want_cold) in zip(batched[k], alone):
            assert got_cold == want_cold and got.iterations == want.iterations
            assert got.stopped_early == want.stopped_early and got.terms == want.terms
            assert got.losses == want.losses and torch.equal(got.image, want.image)
    return batched


@pytest.mark.parametrize("init_mode, pooling", [("flow", "max"), ("prev", "avg")])
def test_batched_sequences_equal_sequences_one_by_one(init_mode, pooling, per_image_convolution):
    depth = max(LAYER_INDEX[name] for name in TINY_LAYERS) + 1
    net = VGGFeatures(TINY_LAYERS, random_state_dict(depth, seed=0), pooling=pooling)
    optim = OptimSettings(optimizer="adam", iters=6, check_every=2)
    stylizer = Stylizer(net, [as_tensor(stripes_image(32, 32))], loss=TINY_LOSS, optim=optim,
                        model=ModelSettings(device="cpu"))
    # tol 0.1: some warm frames stop early (prev: after 4 or 6 of 8), so one batch holds frozen and live images.
    rule = ChainRule(init_mode=init_mode, cold_iters=6, warm_iters=8, tol=0.1)
    sequences = [_sequence(seed, n) for seed, n in ((1, 3), (2, 2), (3, 4))]
    batched = batched_equals_alone(sequences, stylizer, rule)
    counts = {result.iterations for results in batched.values() for _, result, _ in results}
    assert len(counts) >= (3 if init_mode == "prev" else 2)


def _pan(seed: int, length: int, step: int, cut_at: int | None = None) -> list[DecodedFrame]:
    """A pan of ``step`` px per frame (0: a still scene) with its exact backward flow; the mask rejects
    the columns that came in from the right and a few scattered pixels (grain the flow cannot follow)."""
    rng = np.random.default_rng(seed)
    items = []
    for i, image in enumerate(pan_frames(length, width=32, height=24, step=step, seed=seed)):
        motion = None
        if i:
            flow = np.zeros((24, 32, 2), np.float32)
            flow[..., 0] = step  # pixel x of this frame was pixel x + step of the previous one
            mask = (rng.random((24, 32)) > 0.1).astype(np.float32)
            mask[:, 32 - step:] = 0.0
            motion = Motion(flow, mask)
        items.append(DecodedFrame(Frame(i, i, i / 10, image), motion, cut=i == cut_at))
    return items


def test_batched_sequences_get_the_chain_per_frame_rules(per_image_convolution):
    """Residual fill, the scale-free temporal weight, the revealed region's style term and the catch-up
    margin: each sequence of the batch gets them as stylize_frames gives them, one sequence at a time."""
    depth = max(LAYER_INDEX[name] for name in TINY_LAYERS) + 1
    net = VGGFeatures(TINY_LAYERS, random_state_dict(depth, seed=0))
    loss = dataclasses.replace(TINY_LOSS, temporal_weight=0.5, revealed_weight=1.0)
    stylizer = Stylizer(net, [as_tensor(stripes_image(32, 32))], loss=loss,
                        optim=OptimSettings(optimizer="adam", iters=20, check_every=2), model=ModelSettings(device="cpu"))
    rule = ChainRule(init_mode="flow", cold_iters=20, warm_iters=4, tol=0.0, fill="residual", catch_up_margin=0.0,
                     catch_up_limit=2.0, temporal_relative=True)
    # Step 1: two pans (a revealed strip 3 and 4 px wide) beside a still scene (none); step 2: the still
    # scene cuts (a cold frame, a new reference) beside a warm pan frame.
    sequences = [_pan(1, 3, 3), _pan(2, 4, 0, cut_at=2), _pan(3, 2, 4)]
    assert revealed_region(torch.from_numpy(sequences[0][1].motion.mask)[None, None],
                           sequences[0][1].motion.flow_back) is not None
    assert revealed_region(torch.from_numpy(sequences[1][1].motion.mask)[None, None],
                           sequences[1][1].motion.flow_back) is None
    batched = batched_equals_alone(sequences, stylizer, rule)
    results = [(result, cold) for results in batched.values() for _, result, cold in results]
    assert [cold for _, cold in results].count(True) == 4  # three first frames and the cut
    assert any(result.iterations > rule.warm_iters for result, cold in results if not cold)  # catch-up fired
    assert any("revealed" in result.terms for result, _ in results)
    assert any("revealed" not in result.terms and "temporal" in result.terms for result, _ in results)


def test_sequences_of_different_sizes_are_refused():
    depth = max(LAYER_INDEX[name] for name in TINY_LAYERS) + 1
    net = VGGFeatures(TINY_LAYERS, random_state_dict(depth, seed=0))
    stylizer = Stylizer(net, [as_tensor(stripes_image(32, 32))], loss=TINY_LOSS,
                        optim=OptimSettings(optimizer="adam"), model=ModelSettings(device="cpu"))
    small = DecodedFrame(Frame(0, 0, 0.0, structured_image(24, 32)))
    large = DecodedFrame(Frame(0, 0, 0.0, structured_image(32, 48)))
    with pytest.raises(ValueError, match="need one size"):
        next(stylize_sequences([[small], [large]], stylizer, ChainRule("flow", 2, 2, 0.0)))
