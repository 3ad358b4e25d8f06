"""Frame folders behind the video reader's interface, pipes, and frame numbers as times."""

import io
from fractions import Fraction

import numpy as np
import pytest
from clips import frame_image, make_clip

from vidstyle.media.frame_sources import (
    FOLDER_FRAME_RATE,
    check_frame_output,
    copy_out,
    frame_folder_fingerprint,
    frame_gap,
    frame_start_time,
    is_frame_pattern,
    is_pipe,
    spool,
    write_frame_folder,
)
from vidstyle.media.video_files import VideoError, probe, read_frames


def test_what_counts_as_a_pattern_or_a_pipe(tmp_path):
    assert is_frame_pattern("frames/%05d.png") and is_frame_pattern("f_%d.ppm") and is_frame_pattern("%4d.png")
    assert not is_frame_pattern("clip.mp4") and not is_frame_pattern("100%.png")
    assert not is_frame_pattern("%05d/x.png")  # the number must be in the file name
    assert not is_frame_pattern("%d_%d.png")
    assert is_pipe("-") and not is_pipe("-.mp4") and not is_pipe(None)
    (tmp_path / "take%2d.mp4").write_bytes(b"")  # a file with that very name is a file
    assert not is_frame_pattern(tmp_path / "take%2d.mp4") and is_frame_pattern(tmp_path / "take%3d.mp4")


def test_a_folder_reads_like_a_video_exactly(tmp_path):
    images = [frame_image(i) for i in range(4)]
    pattern = str(tmp_path / "frames" / "%03d.png")
    assert write_frame_folder(images, pattern) == 4
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["001.png", "002.png", "003.png", "004.png"]
    info = probe(pattern)
    assert (info.width, info.height, info.frame_count, info.has_audio) == (48, 32, 4, False)
    assert info.frame_rate == FOLDER_FRAME_RATE
    frames = list(read_frames(pattern))
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.time for f in frames] == pytest.approx([i / FOLDER_FRAME_RATE for i in range(4)])
    for got, want in zip(frames, images):
        assert np.array_equal(got.image, want)  # PNG is lossless
    later = list(read_frames(pattern, start=frame_start_time(pattern, 2)))
    assert len(later) == 2 and np.array_equal(later[0].image, images[2])


def test_folder_errors_are_one_line(tmp_path):
    with pytest.raises(VideoError, match="no such folder"):
        probe(str(tmp_path / "missing" / "%05d.png"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no numbered frames found"):
        probe(str(tmp_path / "empty" / "%05d.png"))
    with pytest.raises(VideoError, match="written as .png or .ppm"):
        check_frame_output(str(tmp_path / "out" / "%05d.gif"), overwrite=False)
    pattern = str(tmp_path / "out" / "%05d.png")
    assert check_frame_output(pattern, overwrite=False) == tmp_path / "out"
    write_frame_folder([frame_image(0)], pattern)
    with pytest.raises(VideoError, match="pass --overwrite"):
        check_frame_output(pattern, overwrite=False)
    check_frame_output(pattern, overwrite=True)


def test_fingerprint_changes_with_the_frames(tmp_path):
    pattern = str(tmp_path / "%02d.png")
    write_frame_folder([frame_image(i) for i in range(3)], pattern)
    first = frame_folder_fingerprint(pattern)
    assert frame_folder_fingerprint(pattern) == first
    write_frame_folder([frame_image(i) for i in range(4)], pattern)  # one more frame
    assert frame_folder_fingerprint(pattern) != first


def test_frame_start_time_follows_variable_timestamps(tmp_path):
    pts = [0, 1, 3, 4, 8, 9]  # time base 1/10: a gap of two frames, then of four
    clip = make_clip(tmp_path / "vfr.mp4", images=[frame_image(i) for i in range(6)], pts=pts, audio=False)
    base = probe(clip).time_base
    for index in range(6):
        start = frame_start_time(clip, index)
        frames = list(read_frames(clip, start=start))
        assert len(frames) == 6 - index
        assert Fraction(frames[0].pts) * base == Fraction(pts[index], 10)
    with pytest.raises(VideoError, match="has only 6 frames"):
        frame_start_time(clip, 6)


def test_spool_and_copy_out(tmp_path):
    data = bytes(range(256)) * 5000
    path = spool(io.BytesIO(data), tmp_path / "stdin")
    assert path.read_bytes() == data
    sink = io.BytesIO()
    copy_out(path, sink)
    assert sink.getvalue() == data
    with pytest.raises(VideoError, match="stdin is empty"):
        spool(io.BytesIO(b""), tmp_path / "empty")


def test_a_gap_in_the_numbers_is_named(tmp_path):
    """FFmpeg's image2 reader stops at the first missing number: the gap and what it hides are said."""
    pattern = str(tmp_path / "f%05d.png")
    assert write_frame_folder([frame_image(i) for i in range(5)], pattern) == 5  # f00001-f00005
    assert frame_gap(pattern) is None
    (tmp_path / "f00003.png").unlink()
    (tmp_path / "other00009.png").write_bytes(b"")  # another pattern's file does not count
    assert frame_gap(pattern) == f"{pattern}: frame 3 is missing; the 2 file(s) after the gap (4-5) are not read"
    assert len(list(read_frames(pattern))) == 2  # what FFmpeg reads, as said
    (tmp_path / "f00003.png").write_bytes(b"")  # an empty frame: FFmpeg stops there without a word too
    assert frame_gap(pattern) == f"{pattern}: f00003.png is empty (0 bytes); it and the 2 file(s) after it are not read"
