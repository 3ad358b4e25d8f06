"""Refusals before any work, resume bit for bit, restartable assembly, one line per failure."""

import errno
import json
import os
import signal
from pathlib import Path

import av
import numpy as np
import pytest
from clips import frame_times, make_clip
from helpers import TINY_NET_ARGS, pan_frames, run_cli

from vidstyle.core.stylizer import Stylizer
from vidstyle.media.video_files import probe, read_frames
from vidstyle.video import pipeline, workdir
from vidstyle.video.encode import StylizedFrame
from vidstyle.video.workdir import WorkFolder, recorded_partial, work_folder_for

# VGG19 up to relu3_1 (TINY_NET_ARGS): these tests are about files and resumes, not the network.
IMAGE = ["--weights", "random", "--iters", "3", "--optimizer", "adam", "--quiet", "--device", "cpu", *TINY_NET_ARGS]
FAST = [*IMAGE, "--warm-iters", "2"]


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "clip.mp4", images=pan_frames(6), audio=True)


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the network is built (a refusal must come before any work)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the network was built before the refusal")

    monkeypatch.setattr(pipeline, "build_stylizer", refuse)


@pytest.fixture
def fail_at(monkeypatch):
    """``fail_at(n, error)``: the n-th ``Stylizer.stylize`` call raises ``error`` (Ctrl-C by default)."""
    original = Stylizer.stylize

    def arm(n, error=KeyboardInterrupt):
        calls = {"n": 0}

        def stylize(self, *a, **k):
            calls["n"] += 1
            if calls["n"] == n:
                raise error() if isinstance(error, type) else error
            return original(self, *a, **k)

        monkeypatch.setattr(Stylizer, "stylize", stylize)
        return calls

    arm.disarm = lambda: monkeypatch.setattr(Stylizer, "stylize", original)
    return arm


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if not line.startswith("vidstyle: warning:")]
    assert len(errors) == 1, err
    return errors[0]


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- priority 1: bad outputs refused before any work ------------------------------------------


@pytest.mark.parametrize("name, extra, message", [
    ("out.xyz", [], "not a video format"),
    ("out", [], "needs a video extension"),
    ("out.png", [], "is an image format"),
    ("out.webm", ["--codec", "libx264"], "cannot write libx264 video into .webm"),
    ("out.mp4", ["--codec", "prores_ks"], "cannot write prores_ks video into .mp4"),
    ("out.mp4", ["--codec", "aac"], "is an audio encoder"),
    ("out.mp4", ["--crf", "100"], "out of range for libx264 (0-51)"),
    ("out.mp4", ["--codec", "ffv1", "--crf", "20"], "--crf has no meaning for ffv1"),
    ("out.mp4", ["--codec", "nosuchcodec"], "no such video encoder"),
    ("out.avi", [], "segments cannot be joined into .avi"),  # H.264 remuxed from MP4 needs Annex B there
    # VP8 (Ogg's default) remuxed into Ogg comes back with its frames at the wrong times
    ("out.ogv", [], "3 test frames at 0.000, 0.040, 0.080 s come back at"),
    # H.264 remuxed into MPEG-PS came back without a readable video stream (the run said it succeeded)
    ("out.mpg", [], "segments cannot be joined into .mpg"),
    # x265 corrupts its heap and aborts the process on frames this narrow (48 px)
    ("out.mp4", ["--codec", "libx265"], "frames 48x32 are too narrow for it (it crashes under 64 px wide)"),
    ("out.mp4", ["--pix-fmt", "foo"], "--pix-fmt foo: the libx264 encoder cannot write it"),
])
def test_bad_outputs_are_refused_before_any_work(clip, style_file, tmp_path, capsys, no_work, name, extra, message):
    assert run_cli([clip, style_file, "-o", tmp_path / name, *FAST, *extra]) == 1
    assert message in one_line(capsys)
    assert leftovers(tmp_path) == [] and not (tmp_path / name).exists()


def test_webm_gets_a_fitting_codec_and_says_the_audio_is_dropped(clip, style_file, tmp_path, capsys):
    out = tmp_path / "out.webm"
    assert run_cli([clip, style_file, "-o", out, *FAST]) == 0
    err = capsys.readouterr().err
    assert "encoding with libvpx-vp9" in err and "will be dropped" in err
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "vp9" and not container.streams.audio
    assert len(frame_times(out)) == 6 and leftovers(tmp_path) == []


def test_the_small_size_default_crf_fits_an_encoder_whose_range_starts_higher(clip, style_file, tmp_path):
    """The small-size default (crf 0, chosen for x264) is below VP8's range (4-63): it is moved
    into the range instead of failing when the first segment is opened."""
    out = tmp_path / "out.webm"
    assert run_cli([clip, style_file, "-o", out, *FAST, "--codec", "libvpx", "--max-frames", "2"]) == 0
    assert probe(out).codec == "vp8" and len(frame_times(out)) == 2


def test_an_unknown_tune_is_refused_when_parsed(clip, style_file, tmp_path, capfd):
    assert run_cli([clip, style_file, "-o", tmp_path / "o.mp4", *FAST, "--tune", "bogus"]) == 2
    err = capfd.readouterr().err
    assert "x264 knows no tune 'bogus'" in err and "x264 [error]" not in err
    assert run_cli([clip, style_file, "-o", tmp_path / "o.mp4", *FAST, "--tune", "film,zerolatency",
                    "--max-frames", "1"]) == 0


def test_x265_keeps_its_info_lines_to_itself(style_file, tmp_path, capfd):
    """x265 prints some 20 "[info]" lines per encoder opened (once per segment and per test file).
    64 px wide: narrower frames are refused for x265 (next to the other bad outputs above)."""
    clip = make_clip(tmp_path / "wide.mp4", images=pan_frames(2, width=64))
    out = tmp_path / "out.mp4"
    assert run_cli([clip, style_file, "-o", out, *FAST, "--codec", "libx265", "-q"]) == 0
    assert probe(out).codec == "hevc" and "x265 [info]" not in capfd.readouterr().err


def test_mpeg_ts_outputs_work(clip, style_file, tmp_path):
    """MPEG-TS is too short to probe in the container check's test file: it is taken, and works."""
    out = tmp_path / "out.ts"
    assert run_cli([clip, style_file, "-o", out, *FAST, "--max-frames", "3"]) == 0
    assert probe(out).codec == "h264" and len(frame_times(out)) == 3


def test_mpeg4_follows_crf_through_its_fixed_quantiser(clip, style_file, tmp_path):
    """mpeg4 has no CRF: --crf maps to a fixed quantiser (crf / 6), which must change the file
    (qscale with global_quality alone left every --crf byte-identical)."""
    sizes = []
    for crf in (6, 42):
        out = tmp_path / f"q{crf}.mp4"
        assert run_cli([clip, style_file, "-o", out, *FAST, "--codec", "mpeg4", "--crf", crf, "--max-frames", "3"]) == 0
        sizes.append(out.stat().st_size)
    assert sizes[1] < 0.9 * sizes[0]


def test_mkv_keeps_h264_and_the_audio(clip, style_file, tmp_path):
    out = tmp_path / "out.mkv"
    assert run_cli([clip, style_file, "-o", out, *FAST, "--max-frames", "2"]) == 0
    info = probe(out)
    assert info.codec == "h264" and info.has_audio


def test_prores_goes_into_mov_with_mov_segments(clip, style_file, tmp_path):
    out = tmp_path / "out.mov"
    assert run_cli([clip, style_file, "-o", out, *FAST, "--codec", "prores_ks", "--max-frames", "2"]) == 0
    assert probe(out).codec == "prores"


@pytest.mark.parametrize("name, message", [
    ("out.xyz", "cannot write .xyz images"),
    ("x.mp4", "use 'vidstyle video'"),
    ("noext", "needs an image extension"),
])
def test_image_outputs_are_refused_in_one_line(image_files, tmp_path, capsys, name, message):
    content, style = image_files
    assert run_cli(["image", content, style, "-o", tmp_path / name, *IMAGE]) == 1
    assert message in one_line(capsys)
    assert not (tmp_path / name).exists()


def test_image_mode_never_overwrites_its_input(image_files, capsys):
    content, style = image_files
    before = content.read_bytes()
    assert run_cli(["image", content, style, "-o", content, *IMAGE]) == 1
    assert "would overwrite the input" in one_line(capsys)
    assert content.read_bytes() == before


# -- issue 13: a bad first try never blocks its fix ----------------------------------------------


def test_a_work_folder_without_finished_frames_never_blocks(clip, style_file, tmp_path, fail_at, capsys):
    out = tmp_path / "out.mp4"
    fail_at(1)  # Ctrl-C on the very first frame: an empty work folder stays
    assert run_cli([clip, style_file, "-o", out, *FAST, "--segment-frames", "2"]) == 130
    assert work_folder_for(out).exists()
    fail_at.disarm()
    assert run_cli([clip, style_file, "-o", out, *FAST, "--alpha", "7", "--max-frames", "2"]) == 0


def test_a_refused_resume_names_the_command_that_starts_over(clip, style_file, tmp_path, fail_at, capsys):
    out = tmp_path / "out.mp4"
    args = [clip, style_file, "-o", out, *FAST, "--segment-frames", "2"]
    fail_at(4)
    assert run_cli(args) == 130
    fail_at.disarm()
    capsys.readouterr()
    assert run_cli([*args, "--alpha", "7"]) == 1
    line = one_line(capsys)
    assert "changed: loss.alpha" in line and line.endswith("--alpha 7 --restart")
    assert run_cli([*args, "--alpha", "7", "--restart"]) == 0
    assert len(frame_times(out)) == 6


def test_resume_without_a_work_folder_suggests_a_command_that_runs(clip, style_file, tmp_path, capsys):
    import shlex

    out = tmp_path / "out.mp4"
    assert run_cli([clip, style_file, "-o", out, *FAST, "--max-frames", "2", "--resume"]) == 1
    line = one_line(capsys)
    assert "nothing to resume" in line and line.endswith("--restart"), line
    again = shlex.split(line.split("to start over: ", 1)[1])
    assert again[0] == "vidstyle" and "--resume" not in again  # --resume --restart is refused
    assert run_cli(again[1:]) == 0
    assert len(frame_times(out)) == 2


def test_a_content_layer_too_deep_for_the_frames_is_one_line(clip, style_file, tmp_path, capsys):
    # 48x32 at --size 32 is 32x22 (both even): pool5 needs 32 px per side.
    out = tmp_path / "out.mp4"
    args = [clip, style_file, "-o", out, "--weights", "random", "--iters", "1", "--warm-iters", "1", "--quiet",
            "--device", "cpu", "--size", "32", "--max-frames", "1", "--content-layer", "pool5",
            "--style-layers", "relu1_1"]
    assert run_cli(args) == 1
    line = one_line(capsys)
    assert "too small for layer pool5 (at least 32 px per side)" in line and "--size" in line, line


# -- priority 2: resume bit for bit ------------------------------------------------------------


def _record_stylized(monkeypatch) -> dict:
    seen = {}
    original = StylizedFrame.of

    def of(frame, stylized, info):
        item = original(frame, stylized, info)
        seen[item.index] = item.stylized.copy()
        return item

    monkeypatch.setattr(StylizedFrame, "of", of)
    return seen


def test_ctrl_c_then_resume_equals_an_uninterrupted_run(tmp_path, style_file, fail_at, monkeypatch):
    """Stylized frames identical; encoded frames identical except from the resume point to the next
    segment boundary (those start a new segment, so they are coded from a fresh keyframe)."""
    source = make_clip(tmp_path / "clip.mp4", images=pan_frames(12), audio=False)
    args = [source, style_file, *FAST, "--segment-frames", "4"]
    whole_values = _record_stylized(monkeypatch)
    assert run_cli([*args, "-o", tmp_path / "whole.mp4"]) == 0
    out = tmp_path / "out.mp4"
    resumed_values = _record_stylized(monkeypatch)
    fail_at(7)  # Ctrl-C at frame 6: segment [4, 6) is closed short
    assert run_cli([*args, "-o", out]) == 130
    fail_at.disarm()
    resumed_values.update(_record_stylized(monkeypatch))
    assert run_cli([*args, "-o", out]) == 0
    assert all(np.array_equal(whole_values[i], resumed_values[i]) for i in range(12))
    whole, resumed = [f.image for f in read_frames(tmp_path / "whole.mp4")], [f.image for f in read_frames(out)]
    assert len(resumed) == 12
    same = [np.array_equal(a, b) for a, b in zip(whole, resumed)]
    assert same[:6] == [True] * 6 and same[8:] == [True] * 4  # only frames 6 and 7 are coded apart


def test_a_killed_segment_is_redone_exactly(clip, style_file, tmp_path, fail_at):
    """A crash mid-segment (like SIGKILL: the open segment is lost) and a rerun: every frame equal."""
    out, whole = tmp_path / "out.mp4", tmp_path / "whole.mp4"
    args = [clip, style_file, *FAST, "--segment-frames", "4", "--no-audio"]
    assert run_cli([*args, "-o", whole]) == 0
    fail_at(6, RuntimeError("crash"))
    with pytest.raises(RuntimeError, match="crash"):
        run_cli([*args, "-o", out])
    fail_at.disarm()
    assert run_cli([*args, "-o", out]) == 0
    assert all(np.array_equal(a.image, b.image) for a, b in zip(read_frames(out), read_frames(whole)))


# -- priority 3: restartable assembly ----------------------------------------------------------


def test_a_kill_after_the_move_is_recognised_and_cleaned_up(clip, style_file, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.mp4"
    args = [clip, style_file, "-o", out, *FAST]

    def killed(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(WorkFolder, "remove", killed)  # the output is in place, the folder not yet gone
    assert run_cli(args) == 130
    monkeypatch.undo()
    assert out.exists() and work_folder_for(out).exists()
    stale = tmp_path / ".out.mp4.0123abcd.partial.mp4"  # what a kill during an earlier assembly left
    stale.write_bytes(b"x" * 48)
    assert run_cli([*args, "--segment-frames", "2"]) == 0
    assert not work_folder_for(out).exists() and not stale.exists()
    assert len(frame_times(out)) == 6


def test_a_kill_before_the_move_reassembles(clip, style_file, tmp_path, monkeypatch):
    out = tmp_path / "out.mp4"
    args = [clip, style_file, "-o", out, *FAST]
    original = WorkFolder.mark_complete

    def mark_then_die(self, temporary):
        original(self, temporary)
        raise KeyboardInterrupt

    monkeypatch.setattr(WorkFolder, "mark_complete", mark_then_die)
    assert run_cli(args) == 130
    monkeypatch.undo()
    assert not out.exists() and work_folder_for(out).exists()
    assert run_cli(args) == 0
    assert len(frame_times(out)) == 6 and leftovers(tmp_path) == []


# -- priority 4: one line instead of tracebacks ------------------------------------------------


def test_disk_full_names_the_folder_and_keeps_finished_segments(clip, style_file, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.mp4"
    real_save, calls = np.save, {"n": 0}

    def save(file, array, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(file, array, *a, **k)

    monkeypatch.setattr(workdir.np, "save", save)
    assert run_cli([clip, style_file, "-o", out, *FAST, "--segment-frames", "2"]) == 1
    line = one_line(capsys)
    assert "no space left" in line and str(tmp_path) in line and "run the same command again" in line
    state = json.loads((work_folder_for(out) / "state.json").read_text())
    assert [s["count"] for s in state["segments"]] == [2]
    assert not [p for p in work_folder_for(out).iterdir() if p.name.endswith(".tmp")]


def test_sigterm_stops_a_run_like_ctrl_c(clip, style_file, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.mp4"
    original, calls = Stylizer.stylize, {"n": 0}

    def stylize(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            os.kill(os.getpid(), signal.SIGTERM)  # its handler raises here, in the main thread
        return original(self, *a, **k)

    monkeypatch.setattr(Stylizer, "stylize", stylize)
    before = signal.getsignal(signal.SIGTERM)  # SIG_DFL, or whatever an earlier test (Ray) installed
    assert run_cli([clip, style_file, "-o", out, *FAST, "--segment-frames", "2"]) == 130
    assert "interrupted after" in capsys.readouterr().err
    assert work_folder_for(out).exists()
    assert signal.getsignal(signal.SIGTERM) is before  # put back after the command


def test_a_second_run_into_the_same_output_names_the_first(clip, style_file, tmp_path, capsys, no_work):
    out = tmp_path / "out.mp4"
    holder = WorkFolder.open(work_folder_for(out), {"other": 1})
    try:
        assert run_cli([clip, style_file, "-o", out, *FAST]) == 1
        assert f"(process {os.getpid()})" in one_line(capsys)
    finally:
        holder.unlock()


def test_a_report_or_eval_json_never_replaces_the_runs_own_files(clip, style_file, tmp_path, capsys, no_work):
    """--report and eval --json/--plot naming the input, the output or a style image are refused up
    front (they used to replace it with JSON, exit 0)."""
    style = tmp_path / "style.png"
    style.write_bytes(Path(style_file).read_bytes())
    source = tmp_path / "in.mp4"
    source.write_bytes(Path(clip).read_bytes())
    out = tmp_path / "o.mp4"
    for victim in (style, source, out):
        before = victim.read_bytes() if victim.exists() else None
        assert run_cli([source, style, "-o", out, *FAST, "--report", victim]) == 1
        assert one_line(capsys) == f"vidstyle: error: --report {victim} would overwrite {victim}; choose another file"
        assert (victim.read_bytes() if victim.exists() else None) == before
    out.write_bytes(source.read_bytes())  # an "output" to evaluate
    for victim in (out, source):
        assert run_cli(["eval", out, "--reference", source, "--json", victim]) == 1
        assert one_line(capsys) == f"vidstyle: error: --json {victim} would overwrite {victim}; choose another file"
        assert victim.read_bytes() == source.read_bytes()
    assert run_cli(["eval", out, "--reference", source, "--json", tmp_path / "e.png", "--plot", tmp_path / "e.png"]) == 1
    assert "--plot" in one_line(capsys) and not (tmp_path / "e.png").exists()


def test_eval_on_a_tiny_video_is_one_line(tmp_path, capsys):
    tiny = make_clip(tmp_path / "tiny.mp4", images=[np.full((2, 2, 3), 9 * i, np.uint8) for i in range(3)],
                     audio=False)
    assert run_cli(["eval", tiny, "--reference", tiny]) == 1
    assert "too small" in one_line(capsys)


def test_an_image_onto_a_folder_that_refuses_files_fails_before_the_work(image_files, tmp_path, capsys, monkeypatch):
    """os.access says yes to root on a read-only mount: the check now tries a real file, so the
    refusal comes before the stylization (it came after it, naming an internal temporary file)."""
    import tempfile

    content, style = image_files

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert run_cli(["image", content, style, "-o", tmp_path / "o.png", "--weights", "random", "--iters", "2"]) == 1
    assert one_line(capsys) == f"vidstyle: error: output folder is not writable: {tmp_path} (Read-only file system)"


def test_batch_onto_a_read_only_folder_is_one_line(image_files, tmp_path, capsys, monkeypatch):
    content, style = image_files
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "s.png").write_bytes(style.read_bytes())
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "c.png").write_bytes(content.read_bytes())

    def read_only(self, *args, **kwargs):  # chmod does not stop root: the file system says no instead
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    code = run_cli(["batch", inputs, "--styles", styles, "-o", tmp_path / "out", *IMAGE])
    assert code == 1 and one_line(capsys) == f"vidstyle: error: Read-only file system: {tmp_path / 'out'}"


# -- priorities 5 and 6: damaged inputs, resume checks -----------------------------------------


def test_resume_honours_max_frames(clip, style_file, tmp_path, fail_at):
    out = tmp_path / "out.mp4"
    args = [clip, style_file, "-o", out, *FAST, "--segment-frames", "2"]
    fail_at(6)  # four frames finished
    assert run_cli(args) == 130
    fail_at.disarm()
    assert run_cli([*args, "--max-frames", "3"]) == 0
    assert len(frame_times(out)) == 3
    assert probe(out).has_audio


def test_a_damaged_segment_is_found_on_resume_and_redone(clip, style_file, tmp_path, fail_at, capsys):
    out = tmp_path / "out.mp4"
    args = [clip, style_file, "-o", out, *FAST, "--segment-frames", "2"]
    fail_at(6)
    assert run_cli(args) == 130
    fail_at.disarm()
    segment = work_folder_for(out) / "segment_00001.mp4"
    segment.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2])
    capsys.readouterr()
    assert run_cli(args) == 0
    assert "a damaged segment" in capsys.readouterr().err
    assert len(frame_times(out)) == 6


def _webm_going_back_at(path, back_at: int, count: int = 10):
    """A VP9 WebM whose frame ``back_at`` is stamped with the time of frame ``back_at - 3``: the
    muxer refuses such timestamps, so the Matroska SimpleBlock timecode is edited in place."""
    from fractions import Fraction

    from clips import frame_image

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(frame_image(i), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    data = bytearray(path.read_bytes())
    edited, at = False, 0
    while (at := data.find(b"\xa3", at + 1)) > 0:  # SimpleBlock: id, size vint, track 0x81, int16 timecode (ms)
        width = 1 if data[at + 1] & 0x80 else 2 if data[at + 1] & 0x40 else 0
        if width and data[at + 1 + width] == 0x81:
            spot = at + 2 + width
            if int.from_bytes(data[spot:spot + 2], "big", signed=True) == 100 * back_at:
                data[spot:spot + 2] = (100 * (back_at - 3)).to_bytes(2, "big", signed=True)
                edited = True
                break
    assert edited
    path.write_bytes(bytes(data))
    return path


def test_timestamps_going_back_deliver_the_frames_before_and_name_the_frame(tmp_path, style_file, capsys):
    source = _webm_going_back_at(tmp_path / "back.webm", 6)
    out = tmp_path / "out.mp4"
    assert run_cli([source, style_file, "-o", out, *FAST]) == 1
    line = one_line(capsys)
    assert "frame 6 goes back in time" in line and "wrote the 6 frames before it" in line
    assert len(frame_times(out)) == 6 and recorded_partial(out)  # not a finished output: reruns fail too


def test_concealed_damage_is_counted_and_fails_the_run(tmp_path, style_file, capsys):
    source = make_clip(tmp_path / "clip.mp4", images=pan_frames(12), audio=False)
    with av.open(str(source)) as container:
        packets = sorted((p.pts, p.pos, p.size) for p in container.demux(video=0) if p.size)
    _, pos, size = packets[6]  # a P-frame: the decoder conceals the damage and flags the frame
    data = bytearray(source.read_bytes())
    for at in range(pos + size // 2, pos + size):
        data[at] ^= 0x55
    source.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    assert run_cli([source, style_file, "-o", out, *FAST]) == 1
    line = one_line(capsys)
    assert "1 frame(s) had damaged data" in line and "(frames 6)" in line and "wrote all 12 frames" in line
    assert len(frame_times(out)) == 12


def test_webcam_refuses_to_record_over_its_camera_file(clip, style_file, capsys):
    before = clip.read_bytes()
    assert run_cli(["webcam", style_file, "--camera", clip, "--record", clip, "--headless", "--weights", "random",
                    "--device", "cpu", "--quiet"]) == 1
    assert "would overwrite the camera file" in one_line(capsys)
    assert clip.read_bytes() == before


def test_decoding_a_long_clip_keeps_native_threads_flat(tmp_path):
    """Each frame.reformat() made a scaler with its own threads, freed only by the garbage collector:
    over a long run the thread count climbed by two per frame and memory with it."""
    import gc

    def threads() -> int:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("Threads:")).split()[1])

    source = make_clip(tmp_path / "clip.mp4", images=pan_frames(24), audio=False)
    counts = []
    gc.disable()  # what the collector frees late must not pile up in the first place
    try:
        for frame in read_frames(source, size=(24, 16)):
            counts.append(threads())
    finally:
        gc.enable()
    assert len(counts) == 24 and max(counts[1:]) == counts[1]


def test_the_cli_knows_the_image_suffixes_without_importing_torch():
    from vidstyle.cli.video import IMAGE_SUFFIXES
    from vidstyle.media.image_files import OPENCV_IMAGE_EXTENSIONS

    assert tuple(IMAGE_SUFFIXES) == tuple(OPENCV_IMAGE_EXTENSIONS)


def test_a_decode_error_cuts_the_audio_where_the_delivered_video_ends(tmp_path, style_file, monkeypatch, capsys):
    """Frames after a decode error are not delivered, so the audio stops there too (it ran on
    for the whole source under a frozen last frame)."""
    from vidstyle.media.video_files import VideoError

    source = make_clip(tmp_path / "clip.mp4", images=pan_frames(12))  # 12 frames at 10 fps, with audio
    real_checked = pipeline.checked

    def failing_at_frame_5(frames, path, damaged):
        for item in real_checked(frames, path, damaged):
            if item.frame.index == 5:
                raise VideoError(f"{path}: decoding failed at frame 5", frame_index=5)
            yield item

    monkeypatch.setattr(pipeline, "checked", failing_at_frame_5)
    out = tmp_path / "out.mp4"
    assert run_cli([source, style_file, "-o", out, *FAST]) == 1
    assert "wrote the 5 frames" in one_line(capsys)
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        last = max(p.pts + p.duration for p in container.demux(audio) if p.pts is not None)
        audio_end = float(last * audio.time_base)
    video_end = frame_times(out)[-1] + 0.1
    assert video_end == pytest.approx(0.5) and audio_end <= video_end + 0.05, (audio_end, video_end)


def test_options_that_only_shape_another_are_refused_alone(clip, style_file, tmp_path, capsys):
    for extra, message in ((["--refine-iters", "3"], "--refine-iters has no effect without --keyframe-every"),
                           (["--pass-blend", "0.3"], "--pass-blend has no effect without --passes 2 or more"),
                           (["--pass-blend", "0.3", "--passes", "1"], "--pass-blend has no effect"),
                           (["--ray-cpus", "2"], "--ray-cpus has no effect without --ray")):
        assert run_cli([clip, style_file, "-o", tmp_path / "o.mp4", *FAST, *extra]) == 1
        assert message in one_line(capsys)
    assert leftovers(tmp_path) == []


def test_an_image_input_names_the_video_options_it_ignores(tmp_path, style_file, capsys):
    import cv2

    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), pan_frames(1)[0])
    assert run_cli([image, style_file, "-o", tmp_path / "out.png", *IMAGE, "--max-frames", "3", "--start", "1",
                    "--report", tmp_path / "r.json"]) == 0
    assert ("photo.png is an image, stylized whole: --max-frames, --start, --report apply to videos only and are "
            "ignored") in capsys.readouterr().err
    assert (tmp_path / "out.png").exists() and not (tmp_path / "r.json").exists()


def test_a_preview_refuses_report(clip, style_file, tmp_path, capsys, no_work):
    assert run_cli([clip, style_file, "-o", tmp_path / "o.mp4", *FAST, "--preview", "--report", tmp_path / "r.json"]) == 1
    assert "--report describes a run's video and --preview makes none" in one_line(capsys)
