"""``scripts/wander_bench.py``: the palindrome and its visit measures, by hand."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wander():
    sys.path.insert(0, str(ROOT / "scripts"))  # it imports its sibling temporal_bench
    try:
        spec = importlib.util.spec_from_file_location("wander_bench", ROOT / "scripts" / "wander_bench.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return module


def test_palindrome_shows_the_turn_once(wander):
    assert wander.palindrome(["a", "b", "c"]) == ["a", "b", "c", "b", "a"]
    assert wander.visit_pairs(5) == [(0, 4, 4), (1, 3, 2)]  # c (position 2) is seen once
    with pytest.raises(ValueError):
        wander.visit_pairs(4)


def test_visit_differences_by_hand(wander):
    grey = lambda v: np.full((1, 2, 3), v, np.float64)  # noqa: E731
    # Positions 0..6 of a 4-frame palindrome: input frames 0 1 2 3 2 1 0.
    outputs = [grey(0.0), grey(0.5), grey(0.2), grey(0.9), grey(0.2), grey(0.6), grey(0.3)]
    # Frame 0: gap 6, (0.3)^2 = 0.09; frame 1: gap 4, (0.1)^2 = 0.01; frame 2: gap 2, 0.
    result = wander.visit_differences(outputs, gaps=((2, 4), (5, 6), (7, 9)))
    assert result["2-4"] == pytest.approx((0.0 + 0.01) / 2)
    assert result["5-6"] == pytest.approx(0.09)
    assert math.isnan(result["7-9"])
    # uint8 frames are read as /255
    u8 = [np.full((1, 1, 3), v, np.uint8) for v in (0, 51, 0)]
    assert wander.visit_differences(u8, gaps=((2, 2),))["2-2"] == pytest.approx(0.0)
    assert wander.visit_differences([u8[1], u8[0], u8[0]], gaps=((2, 2),))["2-2"] == pytest.approx(0.04)


def test_warm_over_cold_by_hand(wander):
    assert wander.warm_over_cold([2.0, 3.0, 1.0, 4.0]) == pytest.approx({"mean": 4 / 3, "max": 2.0, "last": 2.0})
