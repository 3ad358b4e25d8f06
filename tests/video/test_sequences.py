"""Batched mode: K frame sequences side by side, each its own frame chain, frame t of each in one batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import as_tensor, stripes_image, structured_image

from vidstyle.core.features import LAYER_INDEX, VGGFeatures, random_state_dict
from vidstyle.core.stylizer import Stylizer
from vidstyle.media.video_files import Frame
from vidstyle.settings import LossSettings, ModelSettings, OptimSettings
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
    batched = {k: [] for k in range(3)}
    for step_results in stylize_sequences(sequences, stylizer, rule):
        for k, item, result, cold in step_results:
            batched[k].append((item.index, result, cold))
    for k, sequence in enumerate(sequences):
        alone = list(stylize_frames(sequence, stylizer, rule))
        assert [i for i, _, _ in batched[k]] == [item.index for item, _, _ in alone]
        for (_, got, got_cold), (_, want, want_cold) in zip(batched[k], alone):
            assert got_cold == want_cold and got.iterations == want.iterations
            assert got.stopped_early == want.stopped_early and got.terms == want.terms
            assert torch.equal(got.image, want.image)
    counts = {result.iterations for results in batched.values() for _, result, _ in results}
    assert len(counts) >= (3 if init_mode == "prev" else 2)


def test_sequences_of_different_sizes_are_refused():
    depth = max(LAYER_INDEX[name] for name in TINY_LAYERS) + 1
    net = VGGFeatures(TINY_LAYERS, random_state_dict(depth, seed=0))
    stylizer = Stylizer(net, [as_tensor(stripes_image(32, 32))], loss=TINY_LOSS,
                        optim=OptimSettings(optimizer="adam"), model=ModelSettings(device="cpu"))
    small = DecodedFrame(Frame(0, 0, 0.0, structured_image(24, 32)))
    large = DecodedFrame(Frame(0, 0, 0.0, structured_image(32, 48)))
    with pytest.raises(ValueError, match="need one size"):
        next(stylize_sequences([[small], [large]], stylizer, ChainRule("flow", 2, 2, 0.0)))
