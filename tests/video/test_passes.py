"""Offline multi-pass (vidstyle.video.passes): visiting order, Ruder's blended start, steadier
output than one pass, and a killed run that resumes inside a later pass."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from clips import make_clip
from helpers import TINY_LAYERS, TINY_NET_ARGS, as_tensor, pan_frames, run_cli, stripes_image, tiny_loss

from vidstyle.core.features import VGGFeatures, random_state_dict
from vidstyle.core.layers import LAYER_INDEX
from vidstyle.core.stylizer import Stylizer
from vidstyle.media.video_files import read_frames
from vidstyle.settings import LossSettings, ModelSettings, OptimSettings, VideoSettings
from vidstyle.video.metrics import evaluate_video
from vidstyle.video.passes import PassesError, blended_start, check_passes, pass_order
from vidstyle.video.pipeline import run_video
from vidstyle.video.workdir import work_folder_for


def test_passes_alternate_direction_and_blend_the_neighbour_where_it_is_reliable():
    assert list(pass_order(4, 1)) == [0, 1, 2, 3]
    assert list(pass_order(4, 2)) == [3, 2, 1, 0]
    assert list(pass_order(4, 3)) == [0, 1, 2, 3]
    last = torch.full((1, 3, 1, 2), 0.2)
    warped = torch.full((1, 3, 1, 2), 1.0)
    mask = torch.tensor([[[[1.0, 0.0]]]])
    start = blended_start(last, warped, mask, 0.5)
    # Reliable pixel: 0.5 * 1.0 + 0.5 * 0.2 = 0.6; rejected pixel: the last pass as it was.
    torch.testing.assert_close(start[0, :, 0, 0], torch.full((3,), 0.6))
    torch.testing.assert_close(start[0, :, 0, 1], torch.full((3,), 0.2))
    with pytest.raises(PassesError, match="--temporal-weight"):
        check_passes(VideoSettings(passes=2, loss=LossSettings(temporal_weight=0.0)))  # videos default to one


# VGG19 up to relu4_1 for the multi-pass comparison: the ratio measured with it is the default
# layers' (7.3x vs 7.4x) at about half the time; up to relu3_1 it is only 4.6x (one pass is steadier).
MID_LAYERS = (*TINY_LAYERS, "relu4_1")


@pytest.fixture(scope="module")
def mid_extractor():
    return VGGFeatures(MID_LAYERS, random_state_dict(LAYER_INDEX[MID_LAYERS[-1]] + 1, seed=0))


def _stylize(extractor, source, out, passes):
    settings = VideoSettings(input=str(source), output=str(out), size=None, warm_iters=5, init_mode="independent",
                             optim=OptimSettings(iters=10, check_every=5),
                             loss=tiny_loss(LossSettings(temporal_weight=2e4), MID_LAYERS),
                             tol=0.0, model=ModelSettings(device="cpu"), passes=passes)
    report = run_video(settings, styles=[as_tensor(stripes_image(32, 32))], extractor=extractor)
    return evaluate_video(str(out), str(source)).mean, report


@pytest.mark.slow
def test_multi_pass_lowers_the_warping_error_of_one_pass(mid_extractor, tmp_path):
    # Ruder's setting: a first pass of independent frames (10 iterations each), then a backward and
    # a forward pass (5 each) with the temporal loss, on a 48x32 pan of 5 frames at 2 px/frame.
    source = make_clip(tmp_path / "pan.mp4", images=pan_frames(5, step=2), audio=False, crf="10")
    one, _ = _stylize(mid_extractor, source, tmp_path / "one.mp4", 1)
    three, report = _stylize(mid_extractor, source, tmp_path / "three.mp4", 3)
    # Stated factor: at least 5x lower (measured: about 28x; now 7.3x, 7.4x with the default layers).
    assert three <= one / 5, (three, one)
    assert report.cold_iterations == [20] * 5  # 10 in pass 1, 5 in each later pass
    assert not work_folder_for(tmp_path / "three.mp4").exists()


def test_a_killed_multi_pass_run_resumes_inside_its_pass_and_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), stripes_image(32, 32))
    source = make_clip(tmp_path / "pan.mp4", images=pan_frames(4), audio=False, crf="10")
    args = [source, style, "--weights", "random", "--iters", "3", "--warm-iters", "2", "--optimizer", "adam",
            "--quiet", "--device", "cpu", "--passes", "2", "--temporal-weight", "100",
            "--content-layer", "relu3_1", "--style-layers", ",".join(TINY_LAYERS)]  # the network is not tested here
    original, calls = Stylizer.stylize, {"n": 0}

    def stylize(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 6:  # pass 1 is 4 calls; Ctrl-C on the second frame of the backward pass
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(Stylizer, "stylize", stylize)
    out = tmp_path / "out.mp4"
    assert run_cli([*args, "-o", out]) == 130
    assert (work_folder_for(out) / "pass2_000003.npy").exists()
    calls["n"] = -100
    assert run_cli([*args, "-o", out]) == 0
    assert calls["n"] == -100 + 3  # only the backward pass's last three frames were stylized again
    monkeypatch.setattr(Stylizer, "stylize", original)
    whole = tmp_path / "whole.mp4"
    assert run_cli([*args, "-o", whole]) == 0
    resumed, uninterrupted = [f.image for f in read_frames(out)], [f.image for f in read_frames(whole)]
    assert len(resumed) == len(uninterrupted) == 4
    assert all(np.array_equal(a, b) for a, b in zip(resumed, uninterrupted))


def test_bad_long_term_and_passes_options_are_one_line(tmp_path, capsys):
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), stripes_image(32, 32))
    source = make_clip(tmp_path / "pan.mp4", images=pan_frames(2), audio=False, crf="10")
    base = [source, style, "--weights", "random", "--device", "cpu", "--quiet", "-o", tmp_path / "o.mp4"]
    assert run_cli([*base, "--long-term", "1,x"]) == 2
    assert "comma-separated list of frame offsets" in capsys.readouterr().err
    assert run_cli([*base, "--long-term", "1,2", "--init-mode", "prev"]) == 1
    err = capsys.readouterr().err
    assert "--long-term needs --init-mode flow" in err and "Traceback" not in err
    assert run_cli([*base, "--passes", "2", "--temporal-weight", "0"]) == 1
    assert "--passes needs a --temporal-weight" in capsys.readouterr().err
    assert run_cli([*base, "--long-term", "1,2", "--temporal-weight", "0"]) == 1
    assert "--long-term needs a --temporal-weight" in capsys.readouterr().err


def test_verbose_multi_pass_prints_each_pass_frame_and_no_per_frame_nonsense(tmp_path, capsys):
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), stripes_image(32, 32))
    source = make_clip(tmp_path / "pan.mp4", images=pan_frames(3), audio=False, crf="10")
    assert run_cli([source, style, "-o", tmp_path / "o.mp4", "--weights", "random", "--device", "cpu", "--iters", "2",
                    "--warm-iters", "1", "--optimizer", "adam", "--passes", "2", "-v", *TINY_NET_ARGS]) == 0
    err = capsys.readouterr().err
    assert all(f"pass {n}, frame {i}: " in err for n in (1, 2) for i in range(3))
    assert "loss nan" not in err  # the frames bar's per-frame lines (no loss, a whole run's seconds) are off


def test_a_later_pass_does_not_tie_frames_across_a_cut(extractor, tmp_path):
    from vidstyle.core.stylizer import Stylizer
    from vidstyle.media.video_files import Frame
    from vidstyle.video.chain import ChainRule
    from vidstyle.video.passes import PassStore, later_pass
    from vidstyle.video.workdir import WorkFolder

    frames = [Frame(i, i, i / 10, image) for i, image in enumerate(pan_frames(3))]
    store = PassStore(WorkFolder.open(tmp_path / "work", {}))
    for i in range(3):
        store.save(1, i, torch.full((1, 3, 32, 48), 0.1 * (i + 1)))
    seen = []
    stylizer = Stylizer(extractor, [as_tensor(stripes_image(32, 32))], loss=LossSettings(temporal_weight=1.0),
                        model=ModelSettings(device="cpu"))

    def record(content, init, iters, *, temporal, **kwargs):
        seen.append((init.clone(), temporal))
        return Stylizer.stylize(stylizer, content, init, 0, temporal=temporal, **kwargs)

    stylizer.stylize = record
    later_pass(2, frames, stylizer, ChainRule("flow", 5, 2, 0.0), store, 0.5, "ultrafast", {}, cuts={1})
    # Frame 1 starts a new shot. Backward: frame 2 (first, no neighbour), frame 1 (tied to 2), frame 0
    # (its neighbour 1 is across the cut).
    assert [t is None for _, t in seen] == [True, False, True]
    assert torch.equal(seen[2][0], torch.full((1, 3, 32, 48), 0.1))  # frame 0 starts from its last pass
    assert store.load(2, 0, torch.device("cpu")) is not None


def test_multi_pass_passes_the_cut_flags_on(extractor, tmp_path):
    """The run report lists a multi-pass run's shots: the frames it yields keep the decoder's cut flags."""
    from vidstyle.media.video_files import Frame
    from vidstyle.video.chain import ChainRule, DecodedFrame
    from vidstyle.video.passes import multi_pass
    from vidstyle.video.workdir import WorkFolder

    items = [DecodedFrame(Frame(i, i, i / 10, image), cut=i == 1) for i, image in enumerate(pan_frames(3))]
    stylizer = Stylizer(extractor, [as_tensor(stripes_image(32, 32))], loss=LossSettings(temporal_weight=1.0),
                        model=ModelSettings(device="cpu"))
    settings = VideoSettings(passes=2, flow_preset="ultrafast")
    done = list(multi_pass(items, stylizer, ChainRule("flow", 1, 1, 0.0), settings,
                           WorkFolder.open(tmp_path / "work", {})))
    assert [item.cut for item, _, _ in done] == [False, True, False]
    assert [cold for _, _, cold in done] == [True, True, False]


def test_multi_pass_reports_every_frame_of_every_pass_as_it_goes(extractor, tmp_path):
    """All passes run before the first frame is yielded: on_step is the run's progress (the CLI's
    pass bar), pass 1 forward, pass 2 backward, then on a rerun the finished frames as loaded."""
    from vidstyle.media.video_files import Frame
    from vidstyle.video.chain import ChainRule, DecodedFrame
    from vidstyle.video.passes import multi_pass
    from vidstyle.video.workdir import WorkFolder

    items = [DecodedFrame(Frame(i, i, i / 10, image)) for i, image in enumerate(pan_frames(3))]
    stylizer = Stylizer(extractor, [as_tensor(stripes_image(32, 32))], loss=LossSettings(temporal_weight=1.0),
                        model=ModelSettings(device="cpu"))
    settings = VideoSettings(passes=2, flow_preset="ultrafast")
    steps = []
    chain = multi_pass(items, stylizer, ChainRule("flow", 2, 1, 0.0), settings, WorkFolder.open(tmp_path / "w", {}),
                       on_step=lambda *step: steps.append(step))
    next(chain)
    assert [(number, position) for number, position, _ in steps] == [(1, 0), (1, 1), (1, 2), (2, 2), (2, 1), (2, 0)]
    assert [n for _, _, n in steps] == [2, 1, 1, 1, 1, 1]
