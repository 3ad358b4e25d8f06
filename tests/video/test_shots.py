"""Shot detection (vidstyle.video.shots) and what the chain and the Ray plans do with cuts."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from clips import make_clip
from helpers import TINY_NET_ARGS, pan_frames, run_cli, stripes_image, tiny_loss

from vidstyle.scale.frame_ranges import plan_segments, snap_to_cuts
from vidstyle.settings import ModelSettings, OptimSettings, VideoSettings
from vidstyle.video.chain import ChainRule, decode_frames, detect_cuts, plan_frame
from vidstyle.video.pipeline import run_video
from vidstyle.video.shots import Shot, ShotDetector, find_cuts, mark_cuts, shots_from_cuts

THRESHOLD, MIN_FRAMES = VideoSettings().scene_threshold, VideoSettings().scene_min_frames


def two_shots(first: int = 12, second: int = 12) -> list[np.ndarray]:
    """Two pans of different scenes (the second in other colours), cut after ``first`` frames;
    slightly blurred, as camera footage is (mean content score ~10 between frames, ~40 at the cut)."""
    one = pan_frames(first, width=64, height=48, seed=3)
    two = [np.ascontiguousarray(f[:, :, ::-1]) for f in pan_frames(second, width=64, height=48, seed=7)]
    return [cv2.GaussianBlur(f, (0, 0), 1.5) for f in one + two]


@pytest.mark.parametrize("first, second", [(12, 12), (9, 6), (20, 10)])
def test_a_hard_cut_is_found_at_its_frame_and_nothing_else(first, second):
    assert find_cuts(two_shots(first, second), THRESHOLD, MIN_FRAMES) == [first]


@pytest.mark.parametrize("step", [1, 2, 4, 8])
def test_no_cut_on_a_pan(step):
    """Pans of 1 to 8 px per frame over a 64 px wide textured frame (8 px: 1/8 of the width)."""
    assert find_cuts(pan_frames(24, width=64, height=48, step=step), THRESHOLD, MIN_FRAMES) == []


@pytest.mark.parametrize("frames", [4, 8])
def test_no_cut_on_a_fade(frames):
    """A fade to 10% brightness and back over ``frames`` frames each way (at 4 frames, 22% of the
    brightness per frame), and a dissolve between two scenes over ``frames`` frames."""
    image = pan_frames(1, width=64, height=48)[0].astype(np.float32)
    other = pan_frames(1, width=64, height=48, seed=7)[0][:, :, ::-1].astype(np.float32)
    down = list(np.linspace(1, 0.1, frames + 1)[1:])
    levels = [1.0] * 6 + down + [0.1] * 3 + down[::-1][1:] + [1.0] * 7
    assert find_cuts([(image * level).astype(np.uint8) for level in levels], THRESHOLD, MIN_FRAMES) == []
    weights = [0.0] * 8 + list(np.linspace(0, 1, frames + 1)[1:]) + [1.0] * 8
    dissolve = [(image * (1 - w) + other * w).astype(np.uint8) for w in weights]
    assert find_cuts(dissolve, THRESHOLD, MIN_FRAMES) == []


def test_a_fade_all_the_way_to_black_cuts_at_the_first_black_frame():
    """Known behaviour: black has no hue or saturation, so the content score jumps there."""
    image = pan_frames(1, width=64, height=48)[0].astype(np.float32)
    levels = [1.0] * 6 + [1 - k / 8 for k in range(1, 9)] + [k / 8 for k in range(1, 9)] + [1.0] * 6
    assert find_cuts([(image * level).astype(np.uint8) for level in levels], THRESHOLD, MIN_FRAMES) == [13]


def test_mark_cuts_keeps_order_and_every_item_and_holds_back_only_the_window():
    frames = two_shots(10, 6)
    detector = ShotDetector(THRESHOLD, MIN_FRAMES, window=2)
    fed_when_yielded = []
    marked = []
    for position, (frame, cut) in enumerate(mark_cuts(frames, detector, lambda f: f)):
        assert frame is frames[position]
        fed_when_yielded.append(detector.fed)
        marked.append(cut)
    assert [i for i, cut in enumerate(marked) if cut] == [10]
    assert fed_when_yielded[:-2] == [i + 3 for i in range(len(frames) - 2)]  # two frames of look-ahead


def test_mark_cuts_delivers_the_held_frames_before_a_decode_error():
    def failing():
        yield from two_shots(4, 0)
        raise ValueError("damaged")

    got = []
    with pytest.raises(ValueError, match="damaged"):
        for frame, _ in mark_cuts(failing(), ShotDetector(THRESHOLD, MIN_FRAMES), lambda f: f):
            got.append(frame)
    assert len(got) == 4


def test_shots_from_cuts():
    assert shots_from_cuts([12, 30, 5, 99], 10, 40) == [Shot(10, 12), Shot(12, 30), Shot(30, 40)]
    assert shots_from_cuts([], 0, 7) == [Shot(0, 7)] and Shot(3, 9).frames == 6


def test_the_first_frame_after_a_cut_gets_the_full_cold_budget(tmp_path):
    clip = make_clip(tmp_path / "cut.mp4", images=two_shots(12, 12), audio=False)
    decoded = list(decode_frames(str(clip), (64, 48), scenes=ShotDetector(THRESHOLD, MIN_FRAMES)))
    assert [d.index for d in decoded if d.cut] == [12]
    rule = ChainRule(init_mode="flow", cold_iters=9, warm_iters=3, tol=0.0)
    previous = torch.rand(1, 3, 48, 64)
    plans = [plan_frame(d, previous, rule, torch.device("cpu")) for d in decoded[11:14]]
    assert [(p.cold, p.iters, p.init) for p in plans][1] == (True, 9, "content")
    assert [p.cold for p in plans] == [False, True, False] and plans[0].iters == plans[2].iters == 3
    # A resumed run (frames skipped) finds the same cut; given cuts are used as they are.
    assert [d.index for d in decode_frames(str(clip), (64, 48), skip=8, scenes=ShotDetector(THRESHOLD, MIN_FRAMES))
            if d.cut] == [12]
    assert [d.index for d in decode_frames(str(clip), (64, 48), cuts={5}) if d.cut] == [5]
    settings = VideoSettings(input=str(clip))
    assert detect_cuts(settings, (64, 48)) == [12]
    assert detect_cuts(VideoSettings(input=str(clip), scene_detect=False), (64, 48)) == []


def test_a_run_reports_its_shots_and_cold_starts_each(tmp_path, tiny_extractor):
    """VGG19 up to relu3_1 (``tiny_loss``): the shots and budgets are the chain's, not the network's."""
    clip = make_clip(tmp_path / "cut.mp4", images=two_shots(10, 10), audio=False)
    style = torch.from_numpy(stripes_image(32, 32)).permute(2, 0, 1)[None].float() / 255
    optim = OptimSettings(optimizer="adam", iters=4, lr=0.02)
    settings = VideoSettings(input=str(clip), output=str(tmp_path / "out.mp4"), size=None, warm_iters=2, tol=0.0,
                             optim=optim, loss=tiny_loss(VideoSettings().loss), model=ModelSettings(device="cpu"))
    report = run_video(settings, styles=[style], extractor=tiny_extractor, progress=False)
    assert report.cuts == [10] and report.shots() == [Shot(0, 10), Shot(10, 20)]
    assert report.cold_iterations == [4, 4] and report.warm_iterations == [2] * 18
    off = run_video(VideoSettings(**{**settings.__dict__, "output": str(tmp_path / "off.mp4"), "scene_detect": False}),
                    styles=[style], extractor=tiny_extractor, progress=False)
    assert off.cuts == [] and off.cold_iterations == [4]


def test_cli_prints_and_writes_the_shots(tmp_path):
    clip = make_clip(tmp_path / "cut.mp4", images=two_shots(10, 10), audio=False)
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), stripes_image(32, 32))
    report = tmp_path / "report.json"
    assert run_cli([clip, style, "-o", tmp_path / "o.mp4", "--weights", "random", "--iters", "2", "--warm-iters", "1",
                    "--optimizer", "adam", "--device", "cpu", "--size", "32", "--quiet", "--report", report,
                    "--scene-threshold", "3", *TINY_NET_ARGS]) == 0
    data = json.loads(report.read_text())
    assert data["cuts"] == [10] and data["shots"] == [[0, 10], [10, 20]] and data["frames"] == 20
    assert run_cli([clip, style, "-o", tmp_path / "p.mp4", "--scene-threshold", "0"]) != 0


def test_ray_segments_split_at_cuts_and_skip_their_lead_in():
    assert snap_to_cuts([0, 50, 100], [47, 90], reach=5) == [0, 47, 100]
    assert snap_to_cuts([0, 50, 100], [30], reach=5) == [0, 50, 100]  # too far: the balance wins
    plans = plan_segments(100, 2, 4, cuts=[47, 80])
    assert [(p.first, p.end, p.lead_in) for p in plans] == [(0, 47, 0), (47, 100, 0)]
    assert plans[1].cuts == (47, 80) and plans[0].cuts == ()
    plain = plan_segments(100, 2, 4)
    assert plain[1].lead_in == 4 and plain[1].cuts == ()
