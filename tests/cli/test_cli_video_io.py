"""``vidstyle video`` in-process: the plan, --json, --preview, frame numbers, frame folders and pipes."""

import io
import json
import sys

import av
import cv2
import numpy as np
import pytest
from clips import H, W, frame_image, make_clip
from helpers import run_cli

from vidstyle.media.frame_sources import write_frame_folder
from vidstyle.media.video_files import probe, read_frames

TINY = ["--weights", "random", "--device", "cpu", "--content-layer", "relu1_2", "--style-layers", "relu1_1",
        "--optimizer", "adam", "--iters", "0", "--warm-iters", "0"]
# Every frame cold from its content with no iteration: output frame = input frame, told apart by colour.
SAME = [*TINY, "--init-mode", "independent"]


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "clip.mp4")  # 48x32, 12 frames, 10 fps; frame i has blue 20 + 15 i


def blue(image: np.ndarray) -> float:
    return float(image[..., 2].mean())


def test_plan_then_json_report(clip, style_file, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert run_cli([clip, style_file, "-o", out, *TINY, "--frames", "5", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["output"] == str(out) and report["frames"] == 5 == probe(out).frame_count
    assert report["iterations"]["cold_frames"] == 1 and report["iterations"]["warm_frames"] == 4
    assert report["weights"].startswith("random") and report["device"].startswith("cpu")
    plan = captured.err.split("frames:")[0]  # the block comes before the bar
    for word in ("frames   5\n", "size     48x32", "iters    first frame 0, then up to 0", "device   cpu",
                 "weights  random"):
        assert word in plan


def test_quiet_prints_no_plan_nor_summary(clip, style_file, tmp_path, capsys):
    assert run_cli([clip, style_file, "-o", tmp_path / "q.mp4", *TINY, "--frames", "2", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert run_cli([clip, style_file, "-o", tmp_path / "v.mp4", *TINY, "--frames", "2", "-v"]) == 0
    assert "frame 1: warm, 0 iterations" in capsys.readouterr().err


def test_start_frame_and_frames_select_frames_by_number(clip, style_file, tmp_path, capsys):
    out = tmp_path / "part.mp4"
    assert run_cli([clip, style_file, "-o", out, *SAME, "--start-frame", "4", "--frames", "3", "-q"]) == 0
    frames = [f.image for f in read_frames(out)]
    assert len(frames) == 3
    for got, index in zip(frames, (4, 5, 6)):
        assert abs(blue(got) - blue(frame_image(index))) < 3  # 15 levels between neighbours
    assert run_cli([clip, style_file, "-o", tmp_path / "x.mp4", *TINY, "--start-frame", "2", "--start", "1"]) == 1
    assert "--start-frame and --start" in capsys.readouterr().err
    assert run_cli([clip, style_file, "-o", tmp_path / "y.mp4", *TINY, "--start-frame", "12"]) == 1
    assert "has only 12 frames" in capsys.readouterr().err


def test_preview_writes_the_first_frame_beside_the_output_and_stops(clip, style_file, tmp_path, capsys):
    out = tmp_path / "film.mp4"
    args = [clip, style_file, "-o", out, *TINY, "--iters", "3", "--start-frame", "2", "--preview", "--json"]
    assert run_cli(args) == 0
    captured = capsys.readouterr()
    preview = tmp_path / "film.preview.png"
    assert json.loads(captured.out)["preview"] == str(preview) and json.loads(captured.out)["iterations"] == 3
    assert str(preview) in captured.err and not out.exists()
    image = cv2.imread(str(preview))
    assert image.shape == (H, W, 3)
    assert not (tmp_path / ".film.mp4.vidstyle-work").exists()


def test_a_preview_into_a_frame_folder_writes_preview_png_there(clip, style_file, tmp_path):
    assert run_cli([clip, style_file, "-o", tmp_path / "frames" / "%05d.png", *TINY, "--preview", "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["preview.png"]
    assert cv2.imread(str(tmp_path / "frames" / "preview.png")).shape == (H, W, 3)


def test_frame_folders_in_and_out(style_file, tmp_path, capsys):
    images = [frame_image(i) for i in range(5)]
    assert write_frame_folder(images, str(tmp_path / "in" / "%04d.png")) == 5
    pattern = str(tmp_path / "out" / "f%05d.png")
    assert run_cli([tmp_path / "in" / "%04d.png", style_file, "-o", pattern, *SAME, "-q"]) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [f"f{i:05d}.png" for i in range(1, 6)]  # no temporary video left behind
    for i, image in enumerate(images):
        got = cv2.cvtColor(cv2.imread(pattern % (i + 1)), cv2.COLOR_BGR2RGB)
        assert np.abs(got.astype(int) - image).mean() < 2  # --crf 0 in yuv444p at this size: only RGB-YUV rounding
    assert run_cli([tmp_path / "in" / "%04d.png", style_file, "-o", pattern, *TINY, "-q"]) == 1
    assert "pass --overwrite" in capsys.readouterr().err
    assert run_cli([tmp_path / "none" / "%04d.png", style_file, "-o", tmp_path / "o.mp4", *TINY]) == 1
    assert "no such folder" in capsys.readouterr().err


def test_a_frame_folder_never_overwrites_its_input_frames(style_file, tmp_path, capsys):
    pattern = str(tmp_path / "in" / "%04d.png")
    write_frame_folder([frame_image(i) for i in range(3)], pattern)
    before = [(tmp_path / "in" / f"{i:04d}.png").read_bytes() for i in range(1, 4)]
    for output in (pattern, str(tmp_path / "in" / ".." / "in" / "%04d.png")):  # also spelled differently
        assert run_cli([pattern, style_file, "-o", output, *TINY, "--overwrite", "-q"]) == 1
        assert "would overwrite the input frame" in capsys.readouterr().err
    assert [(tmp_path / "in" / f"{i:04d}.png").read_bytes() for i in range(1, 4)] == before
    assert run_cli([pattern, style_file, "-o", str(tmp_path / "in" / "%d.png"), *TINY, "-q"]) == 0  # 1.png, ...


def test_stdin_to_stdout(clip, style_file, tmp_path, monkeypatch):
    stdout = io.TextIOWrapper(io.BytesIO())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(clip.read_bytes())))
    monkeypatch.setattr(sys, "stdout", stdout)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert run_cli(["-", style_file, "-o", "-", *TINY, "--frames", "4", "-q"]) == 0
    assert list(here.iterdir()) == []  # no work folder or temporary file left here
    piped = tmp_path / "piped"
    piped.write_bytes(stdout.buffer.getvalue())
    with av.open(str(piped)) as container:
        assert "matroska" in container.format.name
    info = probe(piped)
    assert len(list(read_frames(piped))) == 4 and info.has_audio and (info.width, info.height) == (W, H)


def test_garbage_on_stdin_is_named_stdin(style_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"not a video\n")))
    assert run_cli(["-", style_file, "-o", tmp_path / "o.mp4", *TINY]) == 1
    assert capsys.readouterr().err.strip() == "vidstyle: error: stdin: not a readable media file (InvalidDataError)"


def test_pipe_refusals(clip, style_file, tmp_path, capsys):
    assert run_cli([clip, style_file, "-o", "-", *TINY, "--json"]) == 1
    assert "--json and -o -" in capsys.readouterr().err
    assert run_cli([clip, style_file, "-o", "-", *TINY, "--preview"]) == 1
    assert "--preview" in capsys.readouterr().err


def test_a_frame_folder_with_a_gap_says_which_frames_are_not_read(style_file, tmp_path, capsys):
    pattern = str(tmp_path / "in" / "%04d.png")
    write_frame_folder([frame_image(i) for i in range(5)], pattern)
    (tmp_path / "in" / "0003.png").unlink()
    assert run_cli([pattern, style_file, "-o", tmp_path / "o.mp4", *TINY]) == 0
    assert "frame 3 is missing; the 2 file(s) after the gap (4-5) are not read" in capsys.readouterr().err
    assert len(list(read_frames(tmp_path / "o.mp4"))) == 2


def stylized_frame_folder(style_file, tmp_path, capsys):
    """4 input frames in ``in/`` stylized into ``out/``: (input pattern, output pattern), stderr read."""
    source = str(tmp_path / "in" / "%04d.png")
    write_frame_folder([frame_image(i) for i in range(4)], source)
    out = str(tmp_path / "out" / "%04d.png")
    assert run_cli([source, style_file, "-o", out, *TINY]) == 0
    capsys.readouterr()
    return source, out


def test_overwriting_a_longer_frame_folder_names_the_frames_left_over(style_file, tmp_path, capsys):
    source, out = stylized_frame_folder(style_file, tmp_path, capsys)
    assert run_cli([source, style_file, "-o", out, *TINY, "--max-frames", "1", "--overwrite"]) == 0
    assert f"{out}: 3 frame file(s) of an earlier run remain after frame 1 (2-4)" in capsys.readouterr().err
    assert run_cli([source, style_file, "-o", out, *TINY, "--max-frames", "2", "--overwrite"]) == 0
    assert f"{out}: 2 frame file(s) of an earlier run remain after frame 2 (3-4)" in capsys.readouterr().err


def test_eval_reads_frame_folders(style_file, tmp_path, capsys):
    """eval used to say "video file not found" for a frame folder that video itself writes."""
    source, out = stylized_frame_folder(style_file, tmp_path, capsys)
    assert run_cli(["eval", out, "--reference", source, "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["num_frames"] == 4
    assert run_cli(["eval", out, "--reference", str(tmp_path / "none" / "%04d.png")]) == 1
    assert "no such folder" in capsys.readouterr().err
