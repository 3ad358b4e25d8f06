"""The encoder side: pictures rounded as the chain's tensors are, segments closed and reported."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch
from helpers import pan_frames

from vidstyle.core.tensors import to_uint8, to_uint8_array
from vidstyle.media.video_files import VideoInfo, read_frames
from vidstyle.settings import CartoonSettings
from vidstyle.video.chain import FrameLook
from vidstyle.video.encode import SegmentEncoder, StylizedFrame


def test_pictures_are_rounded_half_to_even_and_clipped():
    values = torch.rand(1, 3, 17, 23, generator=torch.Generator().manual_seed(0)) * 1.2 - 0.1
    values[0, 0, 0, :6] = torch.tensor([0.5, 1.5, 254.5, 255.5, -3.0, 255.0]) / 255  # ties and edges
    want = values.clamp(0, 1).mul(255).round().byte()[0].permute(1, 2, 0).numpy()  # torch's own rounding
    assert np.array_equal(to_uint8_array(values.numpy()), want) and np.array_equal(to_uint8(values), want)
    assert to_uint8(values)[0, :6, 0].tolist() == [0, 2, 254, 255, 0, 255]


def test_segments_are_closed_every_n_frames_and_the_last_one_at_the_end(tmp_path):
    frames = pan_frames(5)
    info = VideoInfo(48, 32, 0, Fraction(10), Fraction(1, 10), 0.5, 5, "h264", False, None)
    done, paths = [], iter(tmp_path / f"s{k}.mp4" for k in range(9))
    encoder = SegmentEncoder(look=FrameLook(None, CartoonSettings()), out_size=(48, 32), info=info, codec="libx264",
                             crf=18, segment_frames=2, next_path=lambda: next(paths), on_segment=done.append)
    items = [StylizedFrame(i, i, (i + 1) / 10, frame.transpose(2, 0, 1)[None].astype(np.float32) / 255, frame)
             for i, frame in enumerate(frames)]
    encoder(iter(items))
    assert [(d.first, d.count) for d in done] == [(0, 2), (2, 2), (4, 1)]
    assert all(np.array_equal(d.last_stylized, items[d.first + d.count - 1].stylized) for d in done)
    assert done[-1].end_time == 0.5
    assert [len(list(read_frames(d.path))) for d in done] == [2, 2, 1]


def _pixel_format(path) -> str:
    import av

    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.pix_fmt


def test_the_output_has_the_pixel_format_chosen(tmp_path, style_file):
    """Small outputs are 4:4:4 by default (4:2:0 halves the colour texture the optimisation
    made); an explicit --pix-fmt is what is written (bad values: tests/video/test_reliability.py)."""
    from clips import make_clip
    from helpers import TINY_NET_ARGS, run_cli

    clip = tmp_path / "clip.mp4"
    make_clip(clip, images=pan_frames(2), audio=False)
    common = [clip, style_file, "--weights", "random", "--iters", "1", "--warm-iters", "1", "--quiet", *TINY_NET_ARGS]
    assert run_cli([*common, "-o", tmp_path / "auto.mp4"]) == 0
    assert _pixel_format(tmp_path / "auto.mp4") == "yuv444p"
    assert run_cli([*common, "-o", tmp_path / "420.mp4", "--pix-fmt", "yuv420p"]) == 0
    assert _pixel_format(tmp_path / "420.mp4") == "yuv420p"


def test_small_outputs_are_encoded_so_that_fine_texture_survives(tmp_path):
    """The default encoder choice at small sizes (crf 0, yuv444p) gives back a noise texture
    almost exactly (only the RGB->YUV rounding), where the large-size default (crf 18, 4:2:0)
    smears it; mean absolute error in 8-bit steps (measured: 0.40 against 45.7)."""
    from vidstyle.media.video_files import VideoWriter
    from vidstyle.settings import VideoSettings, encoder_choice

    settings = VideoSettings()
    assert encoder_choice(settings, 128, 96) == (0, "yuv444p") and encoder_choice(settings, 1280, 720) == (18, "yuv420p")
    assert encoder_choice(VideoSettings(crf=9, pix_fmt="yuv420p"), 128, 96) == (9, "yuv420p")
    assert encoder_choice(VideoSettings(codec="libx265"), 128, 96) == (0, "yuv420p")  # 4:4:4 only for x264
    noise = [(np.random.default_rng(i).random((32, 48, 3)) * 255).astype(np.uint8) for i in range(3)]

    def round_trip(crf, pix_fmt):
        path = tmp_path / f"{crf}_{pix_fmt}.mp4"
        with VideoWriter(path, 48, 32, time_base=Fraction(1, 10), rate=Fraction(10), crf=crf, pix_fmt=pix_fmt,
                         tune=settings.tune, b_frames=False) as writer:
            for i, image in enumerate(noise):
                writer.write(image, i)
        decoded = [f.image for f in read_frames(path)]
        return float(np.mean([np.abs(a.astype(float) - b) for a, b in zip(decoded, noise)]))

    small, large = round_trip(*encoder_choice(settings, 48, 32)), round_trip(18, "yuv420p")
    print("mean absolute error, small / large default:", small, large)
    assert small < 1.5 and large > 15, (small, large)
