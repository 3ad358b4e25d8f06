"""Style masks in the frame chain: a mask image for every frame, a mask video frame by frame,
and a whole video run with two styles painting two regions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from clips import make_clip
from helpers import pan_frames, run_cli, stripes_image

from vidstyle.media.style_masks import StyleMasks
from vidstyle.media.video_files import Frame, read_frames
from vidstyle.settings import StyleSettings, VideoSettings
from vidstyle.video.chain import ChainRule, DecodedFrame, plan_frame, stylize_frames, video_rule

CPU = torch.device("cpu")
W, H = 48, 32


def block_frames(count: int) -> list[np.ndarray]:
    """Frame i is white in columns [4 i, 4 i + 16), black elsewhere: a mask that moves right."""
    frames = []
    for i in range(count):
        image = np.zeros((H, W, 3), np.uint8)
        image[:, 4 * i:4 * i + 16] = 255
        frames.append(image)
    return frames


@pytest.fixture
def mask_files(tmp_path):
    left = np.zeros((H, W, 3), np.uint8)
    left[:, : W // 2] = 255
    paths = {"left": tmp_path / "left.png", "right": tmp_path / "right.png", "video": tmp_path / "moving.mp4"}
    cv2.imwrite(str(paths["left"]), left)
    cv2.imwrite(str(paths["right"]), 255 - left)
    make_clip(paths["video"], images=block_frames(6), audio=False, crf="0")
    return paths


def test_mask_images_are_the_same_for_every_frame(mask_files):
    masks = StyleMasks([str(mask_files["left"]), str(mask_files["right"])])
    assert masks.static
    first, later = masks.at(0), masks.at(7)
    assert first.shape == (1, 2, H, W) and first is later
    assert first[0, 0, :, :24].min() == 1 and first[0, 0, :, 24:].max() == 0
    assert torch.equal(first[0, 1], 1 - first[0, 0])


def test_a_mask_video_is_read_frame_by_frame_and_holds_its_last_frame(mask_files):
    masks = StyleMasks([str(mask_files["left"]), str(mask_files["video"])])
    assert not masks.static

    def white_columns(index):
        mask = masks.at(index)[0, 1]
        return (mask.mean(0) > 0.5).nonzero().flatten().tolist()

    assert white_columns(0) == list(range(0, 16))
    assert white_columns(3) == list(range(12, 28))
    assert white_columns(1) == list(range(4, 20))  # back to an earlier frame: reopened
    assert white_columns(9) == list(range(20, 36))  # past the mask video's end: its last frame
    masks.close()


def test_the_chain_hands_each_frame_its_masks(mask_files):
    rule = ChainRule(init_mode="prev", cold_iters=2, warm_iters=1, tol=0.0,
                     masks=StyleMasks([str(mask_files["left"]), str(mask_files["video"])]))
    frames = pan_frames(3)
    plans = [plan_frame(DecodedFrame(Frame(i, i, i / 10, frames[i])), None if i == 0 else torch.rand(1, 3, H, W),
                        rule, CPU) for i in range(3)]
    assert all(torch.equal(plan.masks, rule.masks.at(i)) for i, plan in enumerate(plans))
    assert not torch.equal(plans[0].masks, plans[2].masks)  # the video mask moved

    class Recorder:  # a Stylizer stand-in: records what the chain passes
        device = CPU
        seen = []

        def stylize(self, content, init, iters, *, tol, temporal, callback=None, masks=None, revealed=None):
            from vidstyle.core.stylizer import StylizeResult

            self.seen.append(masks)
            return StylizeResult(content, iters, [0.0], {}, False)

    recorder = Recorder()
    list(stylize_frames([DecodedFrame(Frame(i, i, i / 10, frames[i])) for i in range(3)], recorder, rule))
    assert all(torch.equal(seen, rule.masks.at(i)) for i, seen in enumerate(recorder.seen))
    video = VideoSettings(style=StyleSettings(paths=("a.png", "b.png"),
                                              masks=(str(mask_files["left"]), str(mask_files["right"]))))
    assert video_rule(video).masks.static and video_rule(VideoSettings()).masks is None


def test_a_video_run_paints_two_regions_with_two_styles(mask_files, tmp_path, monkeypatch):
    closed = _count_closes(monkeypatch)
    styles = _two_styles(tmp_path)
    clip, out = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    make_clip(clip, images=pan_frames(4, width=W, height=H), audio=False)
    assert run_cli([clip, *styles, "-o", out, "--style-mask", mask_files["left"], "--style-mask", mask_files["right"],
                    "--weights", "random", "--iters", "10", "--warm-iters", "3", "--style-layers", "relu1_1,relu2_1",
                    "--content-layer", "relu2_1", "--quiet", "--device", "cpu", "--style-loss", "w2"]) == 0
    frames = [frame.image for frame in read_frames(out)]
    assert len(frames) == 4 and len(closed) == 1  # the run closes its masks' readers
    assert all(_red_left_blue_right(image) for image in frames)


def test_a_resumed_run_notices_an_edited_mask_file(tmp_path):
    """The run's identity holds mask files by content, so editing one never resumes old frames."""
    import dataclasses

    from vidstyle.settings import VideoSettings
    from vidstyle.video.pipeline import run_identity

    clip, style, mask = tmp_path / "in.mp4", tmp_path / "style.png", tmp_path / "mask.png"
    clip.write_bytes(b"clip"), style.write_bytes(b"style"), mask.write_bytes(b"white")
    settings = VideoSettings(input=str(clip), output=str(tmp_path / "out.mp4"))
    settings = dataclasses.replace(settings, style=dataclasses.replace(settings.style, paths=(str(style),),
                                                                       masks=(str(mask),)))
    before = run_identity(settings, "random")
    assert run_identity(settings, "random") == before
    mask.write_bytes(b"black")
    assert run_identity(settings, "random") != before


def _two_styles(tmp_path):
    """A red and a blue striped style file."""
    red, blue = stripes_image(32, 32), stripes_image(32, 32)
    red[..., 1:] = 0
    blue[..., :2] = 0
    styles = [tmp_path / "red.png", tmp_path / "blue.png"]
    for path, image in zip(styles, (red, blue)):
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return styles


def _red_left_blue_right(image) -> bool:
    """Red in the left mask's columns, blue in the right one's."""
    difference = image[..., 0].astype(float) - image[..., 2].astype(float)
    return difference[:, :20].mean() > 30 and difference[:, 28:].mean() < -30


def _count_closes(monkeypatch) -> list:
    closed = []
    original_close = StyleMasks.close
    monkeypatch.setattr(StyleMasks, "close", lambda self: (closed.append(self), original_close(self)))
    return closed


def test_the_preview_paints_with_the_masks_and_closes_them(mask_files, tmp_path, monkeypatch):
    """``--preview`` stylizes the first frame as the run would: with the style masks (it once
    ignored them), and it closes their readers."""
    closed = _count_closes(monkeypatch)
    styles = _two_styles(tmp_path)
    clip, out = tmp_path / "clip.mp4", tmp_path / "out.mp4"
    make_clip(clip, images=pan_frames(2, width=W, height=H), audio=False)
    assert run_cli([clip, *styles, "-o", out, "--style-mask", mask_files["left"], "--style-mask", mask_files["right"],
                    "--weights", "random", "--iters", "10", "--style-layers", "relu1_1,relu2_1",
                    "--content-layer", "relu2_1", "--quiet", "--device", "cpu", "--style-loss", "w2", "--preview"]) == 0
    preview = cv2.cvtColor(cv2.imread(str(tmp_path / "out.preview.png")), cv2.COLOR_BGR2RGB)
    assert preview.shape[:2] == (H, W) and _red_left_blue_right(preview)
    assert len(closed) == 1


def test_a_ray_segment_paints_with_the_masks_and_closes_them(mask_files, tmp_path, monkeypatch):
    """A Ray task's :func:`run_segment` closes the masks' readers when its range is done."""
    from helpers import tiny_loss

    from vidstyle.scale.frame_ranges import run_segment
    from vidstyle.settings import LossSettings, ModelSettings, OptimSettings

    closed = _count_closes(monkeypatch)
    styles = _two_styles(tmp_path)
    clip = tmp_path / "clip.mp4"
    make_clip(clip, images=pan_frames(3, width=W, height=H), audio=False)
    settings = VideoSettings(input=str(clip), output=str(tmp_path / "out.mp4"), warm_iters=3,
                             style=StyleSettings(paths=tuple(map(str, styles)),
                                                 masks=(str(mask_files["left"]), str(mask_files["right"]))),
                             optim=OptimSettings(iters=10), loss=tiny_loss(LossSettings(style_loss="w2"),
                                                                           ("relu1_1", "relu2_1")),
                             model=ModelSettings(weights="random", device="cpu"))
    run_segment(settings, 1, 3, 1, tmp_path / "segment.mp4")
    frames = [frame.image for frame in read_frames(tmp_path / "segment.mp4")]
    assert len(frames) == 2 and all(_red_left_blue_right(image) for image in frames)
    assert len(closed) == 1
