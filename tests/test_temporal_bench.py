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
    row = {"cut_catch_up_frames": None, "revealed_catch_up_frames": None, "style_loss": 0.5,
           "content_distance": 0.01, "motion_following": 0.8, "mean_iterations": 10.0, "seconds_per_frame": 1.0}
    rows = [{**row, "mode": "independent", "warping_error": 0.008, "input_floor": 0.002},
            {**row, "mode": "flow", "warping_error": 0.001, "input_floor": 0.002}]
    lines = bench.table(rows)
    assert lines[2].startswith("| independent | 0.008 | 4 | 1 |")
    assert lines[3].startswith("| flow | 0.001 | 0.5 | 0.125 |") and lines[3].endswith("| n/a |")
    assert math.isnan(bench.ratio(1.0, 0.0)) and bench.ratio(3.0, 2.0) == 1.5
