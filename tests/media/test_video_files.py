"""vidstyle.media.video_files and vidstyle.media.segments, on tiny clips written by PyAV into tmp_path."""

import os
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
from clips import AUDIO_RATE, FPS, H, N, W, audio_packets, frame_image, frame_times, make_clip, marked_image  # noqa: F401

from vidstyle.errors import VidstyleError
from vidstyle.media import video_files as video
from vidstyle.media.segments import assemble, write_segment
from vidstyle.media.video_files import (
    VideoError,
    VideoWriter,
    is_video_file,
    probe,
    processing_size,
    read_frames,
)


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "clip.mp4")


# --------------------------------------------------------------------------------- probe


def test_probe_reports_size_rate_count_and_audio(clip):
    info = probe(clip)
    assert (info.width, info.height, info.rotation) == (W, H, 0)
    assert info.frame_rate == FPS
    assert info.frame_count == N
    assert info.duration == pytest.approx(N / FPS)
    assert info.codec == "h264"
    assert info.has_audio and info.audio_codec == "aac"
    assert Fraction(1, FPS) % info.time_base == 0  # the muxer may refine it, exactly


def test_probe_without_audio(tmp_path):
    info = probe(make_clip(tmp_path / "silent.mkv", audio=False))
    assert not info.has_audio and info.audio_codec is None
    assert (info.width, info.height) == (W, H)


def test_probe_errors_are_one_line_video_errors(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 20)
    audio_only = tmp_path / "sound.m4a"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    cases = {tmp_path / "missing.mp4": "no such file", text: "not a readable media file",
             audio_only: "no video stream", tmp_path: "folder"}
    for path, words in cases.items():
        with pytest.raises(VideoError, match=words) as caught:
            probe(path)
        assert "\n" not in str(caught.value)
        assert isinstance(caught.value, VidstyleError)  # the CLI prints it as one line
        with pytest.raises(VideoError, match=words):
            next(read_frames(path))


def test_is_video_file(tmp_path, clip):
    import cv2

    png, jpg = tmp_path / "still.png", tmp_path / "still.jpg"
    cv2.imwrite(str(png), frame_image(0))
    cv2.imwrite(str(jpg), frame_image(0))
    renamed = tmp_path / "still_png_renamed.bin"  # an image behind a neutral extension
    renamed.write_bytes(png.read_bytes())
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert is_video_file(clip)
    assert not any(map(is_video_file, [png, jpg, renamed, text, tmp_path / "missing.mp4", tmp_path]))


# ---------------------------------------------------------------------------- read_frames


def test_read_frames_yields_timed_rgb_frames_close_to_the_source(clip):
    frames = list(read_frames(clip))
    tb = probe(clip).time_base
    assert [f.index for f in frames] == list(range(N))
    assert [Fraction(f.pts) * tb for f in frames] == [Fraction(i, FPS) for i in range(N)]
    assert [f.time for f in frames] == pytest.approx([i / FPS for i in range(N)])
    for i, f in enumerate(frames):
        assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8
        assert f.image.flags.c_contiguous
        error = np.abs(f.image.astype(int) - frame_image(i)).mean()
        assert error < 4, (i, error)


def test_read_frames_resizes_to_the_requested_size(clip):
    frames = list(read_frames(clip, size=(24, 16)))
    assert len(frames) == N
    assert all(f.image.shape == (16, 24, 3) for f in frames)
    # Still the same picture: compare with the source shrunk by 2x2 block means.
    small = frame_image(5).reshape(16, 2, 24, 2, 3).mean(axis=(1, 3))
    assert np.abs(frames[5].image - small).mean() < 6


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"start": 0.35}, range(4, N)),  # starts at the first frame at or after 0.35 s
        ({"start": 0.3, "duration": 0.4}, range(3, 7)),  # [0.3, 0.7)
        ({"duration": 0.25}, range(0, 3)),
        ({"max_frames": 5}, range(0, 5)),
        ({"start": 0.5, "max_frames": 2}, range(5, 7)),
        ({"start": 5.0}, range(0)),
        ({"max_frames": 0}, range(0)),
    ],
)
def test_read_frames_selects_by_start_duration_and_max_frames(tmp_path, kwargs, expected):
    # A keyframe only every 4 frames, so seeking lands before `start` and must skip frames.
    clip = make_clip(tmp_path / "gop.mp4", audio=False, gop=4)
    with av.open(str(clip)) as c:
        assert sum(p.is_keyframe for p in c.demux(video=0) if p.size) == 3
    frames = list(read_frames(clip, **kwargs))
    assert [round(f.time * FPS) for f in frames] == list(expected)
    assert [f.index for f in frames] == list(range(len(expected)))
    for f in frames:  # the right pictures, not only the right labels
        assert np.abs(f.image.astype(int) - frame_image(round(f.time * FPS))).mean() < 4


@pytest.mark.parametrize(("ccw", "turns"), [(90, 1), (-90, -1), (180, 2)])
def test_rotation_metadata_gives_upright_frames(tmp_path, ccw, turns):
    # PyAV's set_display_rotation takes FFmpeg's counter-clockwise angle, as np.rot90 does.
    clip = make_clip(tmp_path / "rotated.mp4", images=[marked_image()] * 3, rotation=ccw,
                     audio=False)
    upright = np.rot90(marked_image(), turns)
    info = probe(clip)
    assert (info.height, info.width) == upright.shape[:2]
    assert info.rotation == (-ccw) % 360  # reported clockwise, like the old `rotate` tag
    frames = list(read_frames(clip))
    assert np.abs(frames[0].image.astype(int) - upright).mean() < 4
    # `size` is the displayed size, so it applies after the rotation.
    size = (upright.shape[1] // 2, upright.shape[0] // 2)
    small = next(read_frames(clip, size=size)).image
    assert small.shape == (size[1], size[0], 3)
    expected = upright.reshape(size[1], 2, size[0], 2, 3).mean(axis=(1, 3))
    assert np.abs(small - expected).mean() < 8


def test_truncated_file_raises_after_yielding_the_good_frames(tmp_path):
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(N)]  # similar sizes
    for name, options in [("cut.mkv", None), ("cut.mp4", {"movflags": "faststart"})]:
        clip = make_clip(tmp_path / name, images=noise, audio=False, options=options)
        whole = [f.image for f in read_frames(clip)]
        data = clip.read_bytes()
        clip.write_bytes(data[: len(data) // 2])
        got = []
        with pytest.raises(VideoError, match=r"frame \d+") as caught:
            for frame in read_frames(clip):
                got.append(frame)
        assert 0 < len(got) < N, name
        assert caught.value.frame_index == len(got)
        assert f"frame {len(got)}" in str(caught.value)
        for frame, expected in zip(got, whole):  # what was yielded is valid, and stays so
            assert np.array_equal(frame.image, expected)
    # Cut before the index (plain MP4 keeps it at the end): unreadable from the start.
    clip = make_clip(tmp_path / "cut_index.mp4", audio=False)
    clip.write_bytes(clip.read_bytes()[:-200])
    with pytest.raises(VideoError):
        probe(clip)


def test_complete_files_are_not_reported_truncated(tmp_path, clip):
    for path in [clip, make_clip(tmp_path / "whole.mkv")]:
        assert len(list(read_frames(path))) == N


# ------------------------------------------------------------------------------ processing_size


@pytest.mark.parametrize(
    ("width", "height", "long_side", "expected"),
    [
        (1280, 720, 512, (512, 288)),
        (720, 1280, 512, (288, 512)),
        (640, 480, 1000, (640, 480)),  # never upscales
        (640, 480, None, (640, 480)),
        (33, 17, 64, (32, 16)),  # even, and not above the odd source size
        (1000, 3, 100, (100, 2)),  # at least 2
        (1281, 721, 640, (640, 360)),
        (101, 101, 51, (52, 52)),  # 51 is halfway: rounds up to 52
        (1920, 1080, 300, (300, 168)),  # 168.75 -> 168, the nearest even
    ],
)
def test_processing_size(width, height, long_side, expected):
    assert processing_size(width, height, long_side) == expected


def test_processing_size_rejects_nonsense():
    with pytest.raises(ValueError):
        processing_size(0, 10, 10)
    with pytest.raises(ValueError):
        processing_size(10, 10, 1)


# -------------------------------------------------------------------------------- VideoWriter


def test_variable_frame_rate_survives_read_write_read(tmp_path):
    tb = Fraction(1, 90000)
    pts = [0, 9000, 15000, 33000, 34500, 52000, 60001, 70000]
    source = make_clip(tmp_path / "vfr.mp4", images=[frame_image(i) for i in range(len(pts))],
                       pts=pts, time_base=tb)
    info = probe(source)
    assert [f.pts for f in read_frames(source)] == pts  # the fixture is really VFR
    out = tmp_path / "out.mp4"
    with VideoWriter(out, info.width, info.height, time_base=info.time_base,
                     rate=info.frame_rate, audio_source=source) as writer:
        for frame in read_frames(source):
            writer.write(frame.image, frame.pts)
    assert frame_times(out) == [Fraction(p) * tb for p in pts]
    assert audio_packets(out) == audio_packets(source)


def test_writer_copies_audio_in_range_and_shifts_to_the_origin(tmp_path, clip):
    info = probe(clip)
    out = tmp_path / "cut.mkv"
    with VideoWriter(out, W, H, time_base=info.time_base, rate=info.frame_rate, audio_source=clip,
                     audio_start=0.4, audio_end=0.8, origin=0.4) as writer:
        for frame in read_frames(clip, start=0.4, duration=0.4):
            writer.write(frame.image, frame.pts)
    assert [round(f.time * FPS) for f in read_frames(out)] == [0, 1, 2, 3]
    source = [(t, data) for t, data in audio_packets(clip) if Fraction(2, 5) <= t < Fraction(4, 5)]
    copied = audio_packets(out)
    assert [data for _, data in copied] == [data for _, data in source]
    # Matroska stores milliseconds; the shift by the origin is exact otherwise.
    assert [float(t) for t, _ in copied] == pytest.approx([float(t) - 0.4 for t, _ in source],
                                                         abs=1e-3)


def test_writer_rejects_bad_input(tmp_path):
    kwargs = dict(time_base=Fraction(1, FPS), rate=Fraction(FPS))
    for width, height in [(47, 32), (48, 31), (0, 32)]:
        with pytest.raises(ValueError, match="even"):
            VideoWriter(tmp_path / "odd.mp4", width, height, **kwargs)
    out = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match="48x3"):
        with VideoWriter(out, W, H, **kwargs) as writer:
            writer.write(np.zeros((H, W), np.uint8), 0)
    with pytest.raises(ValueError, match="increase"):
        with VideoWriter(out, W, H, **kwargs) as writer:
            writer.write(frame_image(0), 1)
            writer.write(frame_image(1), 1)
    # A failed write leaves neither the output nor a temporary file behind.
    assert os.listdir(tmp_path) == []


def test_writer_output_appears_only_when_complete(tmp_path):
    out = tmp_path / "out.mp4"
    with VideoWriter(out, W, H, time_base=Fraction(1, FPS), rate=Fraction(FPS)) as writer:
        for i in range(60):  # enough to get past the encoder's lookahead: packets are muxed
            writer.write(frame_image(i % N), i)
        assert not out.exists()
        (temporary,) = os.listdir(tmp_path)  # written under another name, next to the output
        assert os.path.getsize(tmp_path / temporary) > 0
    assert os.listdir(tmp_path) == ["out.mp4"]
    assert probe(out).frame_count == 60


def test_writer_falls_back_to_mpeg4_without_libx264(tmp_path, monkeypatch):
    real = video._encoder_available
    monkeypatch.setattr(video, "_encoder_available", lambda name: name != "libx264" and real(name))
    out = tmp_path / "fallback.mp4"
    with pytest.warns(UserWarning, match="mpeg4"):
        writer = VideoWriter(out, W, H, time_base=Fraction(1, FPS), rate=Fraction(FPS))
    with writer:
        for i in range(4):
            writer.write(frame_image(i), i)
    assert probe(out).codec == "mpeg4"
    frames = list(read_frames(out))
    assert len(frames) == 4
    assert np.abs(frames[3].image.astype(int) - frame_image(3)).mean() < 8


# ---------------------------------------------------------------------------------- segments


def write_three_segments(tmp_path, source):
    info = probe(source)
    frames = list(read_frames(source))
    paths = []
    for number, chunk in enumerate([frames[:4], frames[4:9], frames[9:]]):
        path = tmp_path / f"segment{number}.mp4"
        written = write_segment(path, [(f.image, f.pts) for f in chunk], info.width, info.height,
                                info.time_base, info.frame_rate)
        assert written == len(chunk)
        paths.append(path)
    return paths


@pytest.mark.parametrize("extension", [".mp4", ".mov"])
def test_assemble_joins_segments_without_reencoding(tmp_path, monkeypatch, extension):
    tb = Fraction(1, 90000)
    pts = [0, 9000, 15000, 33000, 34500, 52000, 60001, 70000, 79000, 88000, 90000, 99999]
    source = make_clip(tmp_path / "source.mp4", pts=pts, time_base=tb)
    segments = write_three_segments(tmp_path, source)
    with av.open(str(segments[1])) as c:  # dts == pts: no B-frames in segments
        assert all(p.dts == p.pts for p in c.demux(video=0) if p.size)
    segment_bytes = []
    for path in segments:
        with av.open(str(path)) as c:
            segment_bytes += [bytes(p) for p in c.demux(video=0) if p.size]

    out = tmp_path / f"out{extension}"
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        assert not os.path.exists(dst)  # the final name appears only now
        assert os.path.dirname(src) == os.path.dirname(os.path.abspath(dst)) and src != dst
        replaced.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    assert assemble(segments, out, audio_source=source) == N
    assert [os.fspath(p) for p in replaced] == [os.fspath(out)]
    assert sorted(os.listdir(tmp_path)) == sorted([source.name, out.name, *(p.name for p in segments)])

    assert frame_times(out) == [Fraction(p) * tb for p in pts]
    assert audio_packets(out) == audio_packets(source)
    with av.open(str(out)) as c:  # the very same compressed video packets
        assert [bytes(p) for p in c.demux(video=0) if p.size] == segment_bytes
    frames = list(read_frames(out))
    assert np.abs(frames[-1].image.astype(int) - frame_image(N - 1)).mean() < 6


def test_assemble_into_matroska_and_with_an_audio_range(tmp_path, clip):
    segments = write_three_segments(tmp_path, clip)
    out = tmp_path / "out.mkv"
    assert assemble(segments, out, audio_source=clip, audio_start=0.2, audio_end=1.0) == N
    assert frame_times(out) == [Fraction(i, FPS) for i in range(N)]
    wanted = [data for t, data in audio_packets(clip) if Fraction(1, 5) <= t < 1]
    assert [data for _, data in audio_packets(out)] == wanted
    assert float(probe(out).frame_rate) == pytest.approx(FPS, rel=0.01)


def test_assemble_rejects_overlapping_or_mismatched_segments(tmp_path, clip):
    segments = write_three_segments(tmp_path, clip)
    out = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match="overlaps"):
        assemble([segments[1], segments[0]], out)
    other = tmp_path / "other.mp4"
    write_segment(other, [(frame_image(0, 24, 16), 100)], 24, 16, Fraction(1, FPS), Fraction(FPS))
    with pytest.raises(VideoError, match="other settings"):
        assemble([segments[0], other], out)
    with pytest.raises(VideoError, match="no such file"):
        assemble([segments[0], tmp_path / "gone.mp4"], out)
    assert not out.exists()
    assert not [name for name in os.listdir(tmp_path) if "partial" in name]


def test_write_segment_is_atomic(tmp_path):
    def frames():
        yield frame_image(0), 0
        raise RuntimeError("stylisation crashed")

    path = tmp_path / "segment.mp4"
    with pytest.raises(RuntimeError):
        write_segment(path, frames(), W, H, Fraction(1, FPS), Fraction(FPS))
    assert os.listdir(tmp_path) == []


def test_no_warnings_on_the_happy_path(tmp_path, clip):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        segments = write_three_segments(tmp_path, clip)
        assemble(segments, tmp_path / "out.mp4", audio_source=clip)
