"""``vidstyle.stylize_video(input, style, output, **options)``: the offline run in one call."""

import cv2
import numpy as np
import pytest
from clips import make_clip
from helpers import stripes_image

import vidstyle
from vidstyle.media.video_files import probe, read_frames
from vidstyle.settings import VideoSettings
from vidstyle.video.api import video_settings_from


@pytest.fixture
def style_file(tmp_path):
    path = tmp_path / "stripes.png"
    cv2.imwrite(str(path), cv2.cvtColor(stripes_image(32, 32), cv2.COLOR_RGB2BGR))
    return path


def test_one_call_stylizes_a_clip_like_the_cli(tmp_path, style_file, extractor):
    clip = make_clip(tmp_path / "in.mp4", audio=False)  # 12 frames, 48x32
    out = tmp_path / "out.mp4"
    frames = []
    report = vidstyle.stylize_video(clip, style_file, out, extractor=extractor, on_frame=frames.append,
                                    size=32, iters=3, warm_iters=2, optimizer="adam", device="cpu", max_frames=5)
    assert report.frames == 5 and len(frames) == 5 and report.processing_size == (32, 22)
    assert [f.cold for f in frames] == [True, False, False, False, False]
    assert report.cold_iterations == [3] and report.warm_iterations == [2, 2, 2, 2]
    info = probe(out)
    assert (info.width, info.height) == (32, 22) and len(list(read_frames(out))) == 5
    stylized = next(iter(read_frames(out))).image.astype(int)
    source = next(iter(read_frames(clip, size=(32, 22)))).image.astype(int)
    assert np.abs(stylized - source).mean() > 2  # stylized, not copied
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        vidstyle.stylize_video(clip, style_file, out, extractor=extractor, device="cpu")


def test_settings_are_the_defaults_plus_the_options():
    settings = video_settings_from("in.mp4", ["a.png", "b.png"], "out.mp4", dict(tol=0.05, warm_iters=7, alpha=2.0))
    default = VideoSettings()
    assert (settings.input, settings.output, settings.style.paths) == ("in.mp4", "out.mp4", ("a.png", "b.png"))
    assert settings.tol == settings.optim.tol == 0.05 and settings.warm_iters == 7 and settings.loss.alpha == 2.0
    assert settings.size == default.size and settings.optim.iters == default.optim.iters
    with pytest.raises(TypeError, match="unexpected option 'warm_iter'; did you mean warm_iters"):
        video_settings_from("in.mp4", "a.png", "out.mp4", dict(warm_iter=3))
    with pytest.raises(TypeError, match="sets 'input' itself"):
        video_settings_from("in.mp4", "a.png", "out.mp4", dict(input="x.mp4"))


def test_importing_vidstyle_stays_light_and_lists_the_one_call_functions():
    import subprocess
    import sys

    code = ("import sys, vidstyle; names = dir(vidstyle); "
            "print('stylize' in names, 'stylize_video' in names, sorted({'torch', 'cv2', 'av'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "[]"]
