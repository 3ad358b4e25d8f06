"""``scripts/temporal_bench.py``: its pure measures give hand-checkable values, its table its ratios."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("temporal_bench", ROOT / "scripts" / "temporal_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_distance_from_content_by_hand(bench):
    black, grey = np.zeros((1, 2, 3), np.uint8), np.full((1, 2, 3), 51, np.uint8)  # 51/255 = 0.2
    assert bench.content_distance([black, grey], [grey, grey]) == pytest.approx((0.04 + 0.0) / 2)
    assert bench.content_distance([np.full((1, 1, 3), 0.5)], [np.zeros((1, 1, 3))]) == pytest.approx(0.25)


def test_motion_following_by_hand(bench):
    inputs = [np.zeros((1, 2, 3)), np.array([[[0.1] * 3, [0.3] * 3]]), np.array([[[0.2] * 3, [0.2] * 3]])]
    scaled = [0.5 + 2 * f for f in inputs]  # changes where and as the input does: correlation 1
    assert bench.motion_following(scaled, inputs) == pytest.approx(1.0)
    assert bench.motion_following([1 - f for f in inputs], inputs) == pytest.approx(-1.0)
    frozen = [np.full((1, 2, 3), 0.4)] * 3  # never changes: no pair can be scored
    assert math.isnan(bench.motion_following(frozen, inputs))
    # Pair 1: output difference (0.1, 0.3) -> r = 1; pair 2: output frozen, skipped.
    half = [inputs[0], inputs[1], inputs[1]]
    assert bench.motion_following(half, inputs) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        bench.motion_following(inputs[:2], inputs)


def test_table_ratios_by_hand(bench):
    row = {"style_loss": 0.5, "content_distance": 0.01, "motion_following": 0.8, "mean_iterations": 10.0,
           "seconds_per_frame": 1.0}
    rows = [{**row, "mode": "independent", "warping_error": 0.008, "input_floor": 0.002},
            {**row, "mode": "flow", "warping_error": 0.001, "input_floor": 0.002}]
    lines = bench.table(rows)
    assert lines[2].startswith("| independent | 0.008 | 4 | 1 |")
    assert lines[3].startswith("| flow | 0.001 | 0.5 | 0.125 |")
    assert math.isnan(bench.ratio(1.0, 0.0)) and bench.ratio(3.0, 2.0) == 1.5


def test_catch_up_table_shows_what_was_measured(bench):
    full = {"mode": "flow", "cut_found": False, "cut_catch_up_frames": ">4", "cut_style_over_cold": [1.5, 1.2],
            "revealed_catch_up_frames": "2", "revealed_distance_at_3": 0.95, "revealed_gram_at_3": 1.25,
            "seconds": {"clip": 10.0, "cut": 12.4, "pan": 9.6}}
    lines = bench.catch_up_table([full, {"mode": "prev", "seconds": {"clip": 3.0}}])
    assert lines[2] == "| flow | no | >4 | 1.5 | 2 | 0.95 | 1.25 | 10 / 12 / 10 |"
    assert lines[3] == "| prev | - | - | - | - | - | - | 3 / - / - |"


def test_modes_set_what_they_say(bench):
    from vidstyle.settings import VIDEO_TEMPORAL_WEIGHT, VideoSettings

    args = bench.argparse.Namespace(size=64, iters=40, warm_iters=10, weights="random", device="cpu",
                                    style="s.png", temporal_weight=500.0)
    made = {mode: bench.mode_settings(mode, "in.mp4", "out.mp4", args, 10) for mode in bench.MODES}
    assert made["flow"].init_mode == "flow" and made["flow"].loss.temporal_weight == 0
    assert made["prev"].loss.temporal_weight == 0 and made["independent"].init_mode == "independent"
    assert made["flow+temporal"].loss.temporal_weight == 500.0 and made["flow+temporal"].temporal_relative
    assert made["long-term"].long_term == (1, 2, 4) and made["long-term"].loss.temporal_weight == 500.0
    assert made["multi-pass"].passes == 3 and made["multi-pass"].loss.temporal_weight == 500.0
    defaults = made["defaults"]
    assert defaults.loss.temporal_weight == VIDEO_TEMPORAL_WEIGHT
    assert (defaults.size, defaults.max_frames, defaults.warm_iters, defaults.optim.iters) == (64, 10, 10, 40)
    bench_fields = {"input", "output", "size", "max_frames", "warm_iters", "optim", "model", "style", "overwrite"}
    untouched = {f.name for f in bench.dataclasses.fields(VideoSettings)} - bench_fields
    assert all(getattr(defaults, name) == getattr(VideoSettings(), name) for name in untouched)
    # Only the mode's own fields differ from the defaults (besides the loss's weight).
    assert {name for name in untouched if getattr(made["flow"], name) != getattr(defaults, name)} == {"loss"}


def test_cover_crop_shot_and_pan_windows_by_hand(bench):
    image = np.arange(2 * 4 * 3, dtype=np.uint8).reshape(2, 4, 3)
    assert np.array_equal(bench.cover(image, 2, 2), image[:, 1:3])  # same scale: the centre columns
    assert bench.cover(image, 8, 2).shape == (2, 8, 3) and bench.cover(image, 4, 4).shape == (4, 4, 3)
    turned = bench.other_shot(image)
    assert np.array_equal(turned[0, 0], image[1, 3][[2, 0, 1]]) and np.array_equal(turned[1, 2], image[0, 1][[2, 0, 1]])
    scene = np.arange(10)[None, :, None].repeat(3, axis=2)
    windows = bench.pan_windows(scene, 4, 3, 3)
    assert [w[0, :, 0].tolist() for w in windows] == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    with pytest.raises(ValueError, match="too narrow"):
        bench.pan_windows(scene, 4, 3, 4)


def test_bands_and_band_distance_by_hand(bench):
    assert bench.bands(10, 3) == [(7, 10), (4, 7), (1, 4)]  # newest first; column 0 left out
    content = np.zeros((2, 6, 3))
    output = content.copy()
    output[:, 4:] = 0.5  # the newest band (2 px): 0.25
    output[0, 0] = 1.0  # half a row of the oldest band: 1 in 1 of its 4 pixels
    assert np.allclose(bench.band_distance(output, content, 2), [0.25, 0.0, 0.25])


def test_strips_relative_to_settled_by_hand(bench):
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 9.0])
    # Frame 10: bands 6+ frames old are settled, mean (7 + 9) / 2 = 8.
    assert np.allclose(bench.relative_to_settled(values, 10), values / 8)
    # Frame 2: bands 2+ are the first frame's columns, settled: mean of 3..9 = 34 / 6.
    assert np.allclose(bench.relative_to_settled(values, 2), values * 6 / 34)
    assert np.isnan(bench.relative_to_settled(values[:2], 10)).all()  # nothing settled
    per_frame = [np.array([0.0, 0.0]), np.array([10.0, 0.0]), np.array([20.0, 11.0]), np.array([30.0, 21.0])]
    assert bench.strip_series(per_frame, 1) == [10.0, 11.0]  # band 0 at frame 1, band 1 at frame 2, then no band 2
    assert bench.strip_series(per_frame, 3) == [30.0]


def test_frames_to_catch_up_and_summary_by_hand(bench):
    assert bench.frames_to_catch_up([1.5, 1.05, 1.2, 1.0]) == 3  # must stay within 10% once there
    assert bench.frames_to_catch_up([1.0, 0.5, 1.1]) == 0  # more stylized than the reference counts
    assert bench.frames_to_catch_up([1.0, 1.3]) is None and bench.frames_to_catch_up([]) is None
    assert bench.frames_to_catch_up([1.0, float("nan")]) is None
    assert bench.catch_up_summary([(2, 5), (0, 4)]) == "2"
    assert bench.catch_up_summary([(None, 4), (1, 5)]) == ">3"  # one never within its 4 frames
    assert bench.catch_up_summary([(None, 3), (5, 6)]) == ">4"
    assert bench.catch_up_summary([]) == "n/a"


def test_band_style_losses_by_hand(bench):
    torch = pytest.importorskip("torch")
    masks = bench.band_masks(2, 4, 2)  # bands (2, 4) and (0, 2)
    assert masks.shape == (1, 2, 2, 4) and masks[0, 0, :, 2:].min() == 1 and masks[0, 0, :, :2].max() == 0
    a = torch.tensor([[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 0.0]]]])  # one channel, 2x4
    b = torch.tensor([[[[3.0, 1.0]]]])  # one channel, 1x2: the bands' masks become [0, 1] and [1, 0]
    targets = {"a": torch.tensor([[[2.0]]]), "b": torch.tensor([[[4.0]]])}
    losses = bench.band_style_losses({"a": a, "b": b}, targets, {"a": 1.0, "b": 0.5}, masks)
    # Band (2, 4): a's Gram (4 + 4 + 4 + 0) / 4 = 3, (3 - 2)^2 = 1; b's 1, (1 - 4)^2 = 9 -> 1 + 0.5 * 9.
    # Band (0, 2): a's 1, (1 - 2)^2 = 1; b's 9, (9 - 4)^2 = 25 -> 1 + 0.5 * 25.
    assert np.allclose(losses, [5.5, 13.5])
