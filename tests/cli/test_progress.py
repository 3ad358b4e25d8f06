"""The video ETA as a pure function: cold and warm frames are counted apart."""

import pytest

from vidstyle.cli.progress import FrameBar, FrameTimes, cut_rate, eta_seconds, format_seconds, frames_left


def test_frame_times_accumulate_by_kind():
    times = FrameTimes().add(150, 30.0, cold=True).add(20, 4.0, cold=False).add(30, 6.0, cold=False)
    assert (times.cold_frames, times.cold_iters, times.cold_seconds) == (1, 150, 30.0)
    assert (times.warm_frames, times.warm_iters, times.warm_seconds) == (2, 50, 10.0)


def test_after_the_cold_first_frame_warm_frames_cost_their_budget_at_the_cold_rate():
    # 150 iterations in 30 s: 0.2 s per iteration; 47 warm frames of at most 30 iterations: 47 * 30 * 0.2.
    times = FrameTimes().add(150, 30.0, cold=True)
    assert eta_seconds(times, cold_left=0, warm_left=47, cold_budget=150, warm_budget=30) == pytest.approx(282.0)
    # tqdm's rate projection would say 47 * 30 s = 1410 s: five times too long.


def test_warm_frames_seen_cost_what_they_took():
    times = FrameTimes().add(150, 30.0, cold=True).add(10, 2.5, cold=False).add(20, 3.5, cold=False)
    # Mean warm frame: 3 s; early stopping is in the measurement, not the budget.
    assert eta_seconds(times, cold_left=0, warm_left=10, cold_budget=150, warm_budget=30) == pytest.approx(30.0)
    # Independent mode: every frame left is cold, at the cold frames' mean.
    assert eta_seconds(times, cold_left=4, warm_left=0, cold_budget=150, warm_budget=30) == pytest.approx(120.0)


def test_a_cold_frame_not_seen_yet_costs_its_budget_at_the_warm_rate():
    times = FrameTimes().add(20, 4.0, cold=False)  # a resumed run starts warm: 0.2 s per iteration
    assert eta_seconds(times, cold_left=1, warm_left=2, cold_budget=100, warm_budget=30) == pytest.approx(28.0)


def test_nothing_to_say_before_any_frame_or_without_iterations():
    assert eta_seconds(FrameTimes(), cold_left=1, warm_left=9, cold_budget=150, warm_budget=30) is None
    zero = FrameTimes().add(0, 1.0, cold=True)  # --iters 0: no iteration to time a warm budget by
    assert eta_seconds(zero, cold_left=0, warm_left=3, cold_budget=0, warm_budget=5) is None
    assert eta_seconds(zero, cold_left=2, warm_left=0, cold_budget=0, warm_budget=5) == pytest.approx(2.0)
    assert eta_seconds(zero, cold_left=0, warm_left=0, cold_budget=0, warm_budget=5) == 0.0


def test_frames_left_splits_cold_and_warm():
    assert frames_left(48, 0, first_done=False, independent=False) == (1, 47)
    assert frames_left(48, 1, first_done=True, independent=False) == (0, 47)
    assert frames_left(48, 30, first_done=True, independent=False) == (0, 18)
    assert frames_left(48, 10, first_done=True, independent=True) == (38, 0)
    assert frames_left(5, 9, first_done=True, independent=False) == (0, 0)  # the estimate was short
    assert frames_left(None, 3, first_done=True, independent=False) is None


def test_frames_after_cuts_are_counted_cold_at_the_rate_seen():
    assert cut_rate(0, 10) == 0.0 and cut_rate(3, 0) == 0.0
    assert cut_rate(1, 10) == 0.1 and cut_rate(1, 10, min_gap=8) == 0.1
    assert cut_rate(1, 2, min_gap=8) == 0.125  # no two cuts within 8 frames: at most 1 in 8
    assert cut_rate(1, 2) == 0.5
    # 41 frames left after the first frame, 1 in 10 expected to start a shot.
    assert frames_left(50, 9, first_done=True, independent=False, cut_rate=0.1) == pytest.approx((4.1, 36.9))
    assert frames_left(48, 0, first_done=False, independent=False, cut_rate=0.25) == pytest.approx((12.75, 35.25))
    assert frames_left(48, 10, first_done=True, independent=True, cut_rate=0.5) == (38, 0)


def test_the_bar_learns_cuts_from_the_frames_it_is_told_of():
    bar = FrameBar(cold_budget=100, warm_budget=10, independent=False, quiet=True, min_cut_gap=8)
    bar.start(21, 0)
    bar.frame(0, 100, 1.0, True, 10.0)  # the chain's first frame: cold, but no cut
    for index in range(1, 10):
        bar.frame(index, 10, 1.0, False, 1.0)
    assert bar.cuts == 0 and bar.eta() == pytest.approx(11 * 1.0)
    bar.frame(10, 100, 1.0, True, 10.0)  # a new shot: 1 cut in the 10 frames after the first
    # 10 frames left: 1 cold (10 s, the cold frames' mean) and 9 warm (1 s each); without cuts 10 s.
    assert bar.cuts == 1 and bar.eta() == pytest.approx(1 * 10.0 + 9 * 1.0)
    bar.close()
    resumed = FrameBar(cold_budget=100, warm_budget=10, independent=False, quiet=True)
    resumed.start(12, 2)
    resumed.frame(2, 100, 1.0, True, 10.0)  # a resumed run's first frame is warm unless it starts a shot
    assert resumed.cuts == 1 and resumed.after_first == 1
    resumed.close()


def test_format_seconds():
    assert format_seconds(0) == "0:00"
    assert format_seconds(75.4) == "1:15"
    assert format_seconds(3725) == "1:02:05"
