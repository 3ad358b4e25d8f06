"""Shot detection on the webcam: a hard cut in the camera's frames starts the next stylized frame cold,
through the frame chain's own rule; no cut on a pan; the options."""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from clips import make_clip
from helpers import pan_frames, run_cli

from vidstyle.cli import build_parser
from vidstyle.cli.webcam import cuts_text, webcam_settings
from vidstyle.live.camera import LatestFrameGrabber
from vidstyle.live.loop import live_scenes, run_session
from vidstyle.settings import ModelSettings, VideoSettings, WebcamSettings


def two_shots(first: int, second: int) -> list[np.ndarray]:
    """Two pans of different scenes (the second in other colours), cut after ``first`` frames."""
    one = pan_frames(first, width=64, height=48, seed=3)
    two = [np.ascontiguousarray(f[:, :, ::-1]) for f in pan_frames(second, width=64, height=48, seed=7)]
    return [cv2.GaussianBlur(f, (0, 0), 1.5) for f in one + two]


class ListSource:
    """A file-like camera that delivers ``frames`` as fast as they are asked for."""

    def __init__(self, frames) -> None:
        self.frames, self.name, self.kind = list(frames), "frames", "file"
        self.height, self.width = self.frames[0].shape[:2]
        self.fps, self.pace_fps, self.retries = 25.0, None, 1

    def read(self):
        return self.frames.pop(0) if self.frames else None

    def close(self) -> None:
        pass


class PlanRecorder:
    """Stands in for Stylizer and records what the chain planned for each frame: a cold start
    (init ``"content"``, no temporal target) or a warm one (a tensor init)."""

    def __init__(self) -> None:
        self.device = torch.device("cpu")
        self.plans: list[str] = []

    def stylize(self, content, init=None, iters=None, *, tol=None, temporal=None, callback=None, masks=None,
                revealed=None):
        self.plans.append("cold" if isinstance(init, str) and temporal is None else "warm")
        return SimpleNamespace(image=(content * 0.5).clamp(0, 1), iterations=iters)


def settings(**changes) -> WebcamSettings:
    return dataclasses.replace(WebcamSettings(headless=True, every_frame=True, size=64,
                                              model=ModelSettings(device="cpu")), **changes)


def test_the_frame_after_a_cut_in_a_file_camera_starts_cold(tmp_path):
    # (pts in 1/100 s: a file camera plays at its rate, here about 50 frames/s)
    clip = str(make_clip(tmp_path / "cut.mp4", images=two_shots(12, 10), audio=False, time_base=Fraction(1, 100)))
    stylizer = PlanRecorder()
    result = run_session(settings(camera=clip), [], names=["a"], stylizers=[stylizer])
    assert result.processed == result.captured == 22 and result.dropped == 0  # the held-back last frame too
    assert result.cuts == [12]
    assert [i for i, plan in enumerate(stylizer.plans) if plan == "cold"] == [0, 12]
    off = PlanRecorder()
    run_session(settings(camera=clip, scene_detect=False), [], names=["a"], stylizers=[off])
    assert off.plans == ["cold"] + ["warm"] * 21


@pytest.mark.parametrize("frames", [
    pan_frames(24, width=64, height=48, step=2),  # a slow pan
    [pan_frames(1, width=64, height=48)[0]] * 8 + pan_frames(16, width=64, height=48, step=8),  # a pan that starts
], ids=["pan", "still-then-pan"])
def test_no_cut_on_a_pan(frames):
    stylizer = PlanRecorder()
    result = run_session(settings(), [], names=["a"], stylizers=[stylizer], source=ListSource(frames))
    assert result.processed == len(frames) and result.cuts == []
    assert stylizer.plans == ["cold"] + ["warm"] * (len(frames) - 1)


def test_a_cut_at_a_dropped_frame_makes_the_next_frame_taken_cold():
    """Live, frames the loop had no time for are dropped; the detector still sees them all."""
    grabber = LatestFrameGrabber(ListSource(two_shots(12, 4)), (64, 48), scenes=live_scenes(settings()))
    grabber.start()
    deadline = time.monotonic() + 10
    while not grabber.ended and time.monotonic() < deadline:  # nothing taken: every frame but the last is dropped
        time.sleep(0.01)
    last = grabber.newest(timeout=1)
    assert last is not None and last.index == 15 and last.cut  # the cut was at frame 12, a dropped one
    assert grabber.dropped == 15


def test_scene_options_parse_and_refuse_a_zero_threshold(capfd):
    parser = build_parser()
    args = parser.parse_args(["webcam", "s.png", "--scene-threshold", "4.5", "--no-scene-detect"])
    parsed = webcam_settings(args)
    assert parsed.scene_threshold == 4.5 and parsed.scene_detect is False
    default = webcam_settings(parser.parse_args(["webcam", "s.png"]))
    assert default.scene_detect is True and default.scene_threshold == VideoSettings().scene_threshold
    assert live_scenes(default).window == 1 and live_scenes(parsed) is None
    assert run_cli(["webcam", "s.png", "--headless", "--scene-threshold", "0"]) == 2
    err = capfd.readouterr().err
    assert "--scene-threshold: '0' must be > 0 (use --no-scene-detect" in err and "Traceback" not in err


def test_the_summary_names_the_cuts():
    assert cuts_text([]) == ""
    assert cuts_text([12]) == ", 1 cut (new shot at frame 12)"
    assert cuts_text(list(range(0, 120, 10)), shown=3) == ", 12 cuts (new shots at frames 0, 10, 20, ... (9 more))"
