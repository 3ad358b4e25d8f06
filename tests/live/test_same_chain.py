"""One frame chain: the webcam and the video run stylize the same frames into the same pictures.

The clip is lossless (FFV1), so PyAV decodes exactly the frames the webcam's source hands out;
both paths then go through :mod:`vidstyle.video.chain` with the same settings: the same cold
start, the same motion (computed by the decode thread and by the capture thread), the same warm
starts, temporal targets and budgets, so every stylized frame is equal bit for bit.
"""

from __future__ import annotations

import av
import pytest
import torch
from helpers import as_tensor, pan_frames, stripes_image

from vidstyle.core.stylizer import Stylizer
from vidstyle.live.camera import LatestFrameGrabber
from vidstyle.live.loop import build_stylizers, run_loop
from vidstyle.settings import LossSettings, ModelSettings, OptimSettings, VideoSettings, WebcamSettings
from vidstyle.video.pipeline import run_video

FRAMES = pan_frames(5, width=48, height=32, step=2)
OPTIM = OptimSettings(optimizer="adam", iters=3, lr=0.03)
LOSS = LossSettings(temporal_weight=50.0)
CPU = ModelSettings(device="cpu")


class ListSource:
    """A "camera" that hands out the given frames, then ends like a file."""

    name, kind, fps, pace_fps, retries = "list", "file", 10.0, None, 1

    def __init__(self, frames):
        self.frames = list(frames)
        self.height, self.width = self.frames[0].shape[:2]

    def read(self):
        return self.frames.pop(0) if self.frames else None

    def close(self):
        pass


def lossless_clip(path) -> str:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "bgr0"
        for i, image in enumerate(FRAMES):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return str(path)


@pytest.fixture
def recorded(monkeypatch):
    """Every stylized frame, in order, whichever path stylizes it."""
    images = []
    original = Stylizer.stylize

    def record(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        images.append((result.image.clone(), result.iterations, set(result.terms)))
        return result

    monkeypatch.setattr(Stylizer, "stylize", record)
    return images


@pytest.mark.parametrize("init_mode", ["flow", "prev"])
def test_webcam_and_video_give_the_same_frames(tmp_path, extractor, recorded, init_mode):
    style = as_tensor(stripes_image(32, 32))
    video = VideoSettings(input=lossless_clip(tmp_path / "clip.mkv"), output=str(tmp_path / "out.mp4"), size=None,
                          warm_iters=OPTIM.iters, tol=0.0, init_mode=init_mode, flow_preset="fast", audio=False,
                          catch_up_margin=0.0,  # live budgets are the user's (+ and - keys): no catch-up
                          optim=OPTIM, loss=LOSS, model=CPU)
    run_video(video, styles=[style], extractor=extractor)
    from_video = list(recorded)
    recorded.clear()

    live = WebcamSettings(size=32, init_mode=init_mode, flow_preset="fast", headless=True, max_frames=len(FRAMES),
                          optim=OPTIM, loss=LOSS, model=CPU)
    grabber = LatestFrameGrabber(ListSource(FRAMES), (48, 32), keep_all=True,
                                 flow_preset="fast" if init_mode == "flow" else None,
                                 photometric_tol=live.photometric_tol).start()
    result = run_loop(build_stylizers([style], live, extractor=extractor), ["stripes"], grabber, live)
    grabber.stop()
    from_webcam = list(recorded)

    assert result.processed == len(FRAMES) and result.dropped == 0
    assert len(from_video) == len(from_webcam) == len(FRAMES)
    for (a, iters_a, terms_a), (b, iters_b, terms_b) in zip(from_video, from_webcam):
        assert iters_a == iters_b == OPTIM.iters and terms_a == terms_b
        assert torch.equal(a, b)
    # Both were one chain: a cold first frame, then warm frames held to the previous one.
    assert ["temporal" in terms for _, _, terms in from_webcam] == [False] + [True] * (len(FRAMES) - 1)
