"""``vidstyle INPUT STYLE`` end to end on generated clips: frames, timing, audio, resume, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
import torch
from clips import FPS, audio_packets, frame_image, frame_times, make_clip
from helpers import TINY_NET_ARGS, as_tensor, pan_frames, stripes_image, structured_image, tiny_loss

from vidstyle.cli import main
from vidstyle.core.stylizer import Stylizer
from vidstyle.media.video_files import probe, read_frames
from vidstyle.settings import ModelSettings, OptimSettings, VideoSettings
from vidstyle.video.chain import FrameLook
from vidstyle.video.pipeline import run_video
from vidstyle.video.workdir import work_folder_for

CPU = ModelSettings(device="cpu")

DEFAULT_NET = ["--weights", "random", "--iters", "3", "--warm-iters", "2", "--optimizer", "adam", "--quiet",
               "--device", "cpu"]
# The pipeline is tested here, not the network: VGG19 up to relu3_1 (about 1/6 of the default
# layers' time per iteration, and nothing deep to draw at random per run); the end-to-end test
# keeps the default layers.
FAST = [*DEFAULT_NET, *TINY_NET_ARGS]


@pytest.fixture
def clip(tmp_path):
    """48x32, 12 frames, 10 fps, with an AAC track."""
    return make_clip(tmp_path / "clip.mp4")


@pytest.fixture
def fail_at(monkeypatch):
    """``fail_at(n, error)``: the n-th ``Stylizer.stylize`` call raises ``error`` (Ctrl-C by default);
    returns the call counter. ``fail_at.disarm()`` puts the real method back."""
    original = Stylizer.stylize

    def arm(n, error=KeyboardInterrupt):
        calls = {"n": 0}

        def stylize(self, *a, **k):
            calls["n"] += 1
            if calls["n"] == n:
                raise error
            return original(self, *a, **k)

        monkeypatch.setattr(Stylizer, "stylize", stylize)
        return calls

    arm.disarm = lambda: monkeypatch.setattr(Stylizer, "stylize", original)
    return arm


def run(args, capsys=None):
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    return code


def test_clip_end_to_end_keeps_frames_timing_and_audio(clip, style_file, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert run([clip, style_file, "-o", out, *DEFAULT_NET]) == 0
    info, source = probe(out), probe(clip)
    assert info.frame_count == source.frame_count == 12
    assert len(list(read_frames(out))) == 12
    assert (info.width, info.height) == (48, 32) and info.width % 2 == 0 and info.height % 2 == 0
    assert abs(info.frame_rate - FPS) < 0.5
    assert abs(info.duration - source.duration) <= 1 / FPS
    assert frame_times(out) == frame_times(clip)
    assert audio_packets(out) == audio_packets(clip)  # remuxed: identical bytes and times
    assert not work_folder_for(out).exists()  # removed on success


def test_default_output_name_and_refusals(clip, style_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run([clip, style_file, *FAST, "--max-frames", "2", "--no-audio"]) == 0
    default = tmp_path / "clip_style.mp4"
    assert default.exists() and not probe(default).has_audio
    assert probe(default).frame_count == 2
    capsys.readouterr()
    assert run([clip, style_file, *FAST]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert run([clip, style_file, *FAST, "--overwrite", "--max-frames", "3"]) == 0
    assert probe(default).frame_count == 3
    assert run([clip, style_file, "-o", clip, *FAST]) == 1
    assert "would overwrite the input" in capsys.readouterr().err


def test_variable_frame_rate_keeps_its_timestamps(style_file, tmp_path):
    pts = [0, 1, 3, 4, 8, 9, 15, 16]
    source = make_clip(tmp_path / "vfr.mp4", images=[frame_image(i) for i in range(len(pts))], pts=pts,
                       time_base=Fraction(1, 30), audio=False)
    out = tmp_path / "out.mp4"
    assert run([source, style_file, "-o", out, *FAST, "--segment-frames", "3"]) == 0
    assert frame_times(out) == frame_times(source) == [Fraction(p, 30) for p in pts]


def test_start_duration_and_output_size_source(tmp_path, style_file):
    big = make_clip(tmp_path / "big.mp4", images=[frame_image(i, 96, 64) for i in range(12)])
    out = tmp_path / "part.mp4"
    assert run([big, style_file, "-o", out, *FAST, "--size", "48", "--start", "0.3", "--duration", "0.5",
                "--output-size", "source"]) == 0
    info = probe(out)
    assert (info.width, info.height) == (96, 64)
    times = frame_times(out)
    assert len(times) == 5 and times[0] == 0  # frames at 0.3 .. 0.7 s, shifted to start at 0
    audio = audio_packets(out)
    assert audio and audio[0][0] < Fraction(1, 10) and audio[-1][0] < Fraction(6, 10)


@pytest.mark.slow
def test_warm_start_needs_far_fewer_iterations_than_cold(tmp_path, tiny_extractor):
    """VGG19 up to relu3_1 (``tiny_loss``; a quarter of the time of the default layers): measured
    cold 100 (the cap) and warm 15 iterations on average (0.15x; the default layers 80 and 17,
    0.21x); with warm frames started from their content instead, 70 (0.7x; default layers 0.85x)."""
    # A still scene: ``prev`` keeps the whole previous output (a moving one restarts where it moved).
    source = make_clip(tmp_path / "still.mp4", images=pan_frames(4, width=32, height=24, step=0), audio=False)
    style = as_tensor(stripes_image(32, 32))
    optim = OptimSettings(optimizer="adam", lr=0.02, iters=100, tol=0.01, check_every=5)
    used = {}
    for mode in ("independent", "prev"):
        settings = VideoSettings(input=str(source), output=str(tmp_path / f"{mode}.mp4"), size=None,
                                 warm_iters=100, init_mode=mode, optim=optim, loss=tiny_loss(VideoSettings().loss),
                                 tol=optim.tol, model=CPU)
        report = run_video(settings, styles=[style], extractor=tiny_extractor)
        used[mode] = report
    cold = used["independent"].cold_iterations
    warm = used["prev"].warm_iterations
    assert len(cold) == 4 and len(warm) == 3
    # Stated ratio: warm-started frames use at most half the iterations of cold-started ones.
    assert np.mean(warm) <= 0.5 * np.mean(cold), (cold, warm)


# ``python -m vidstyle`` whose stylizer stops for good at its STALL_AT-th frame (a run that would
# otherwise finish before the test could kill it, and without a race against the polling loop).
_STALLING_CLI = """
import os, runpy, time
from vidstyle.core.stylizer import Stylizer

original, calls = Stylizer.stylize, []

def stylize(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == int(os.environ["STALL_AT"]):
        time.sleep(600)  # until the test kills the process
    return original(self, *args, **kwargs)

Stylizer.stylize = stylize
runpy.run_module("vidstyle", run_name="__main__", alter_sys=True)
"""


def _stalling_cli_subprocess(args, stall_at):
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", STALL_AT=str(stall_at))
    return subprocess.Popen([sys.executable, "-c", _STALLING_CLI, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_killed_run_resumes_and_equals_an_uninterrupted_run(tmp_path, style_file):
    """SIGKILL once two segments are finished, rerun: every frame once, with the audio, and every
    frame equal (bit for bit, decoded) to an uninterrupted run's: the warm start after the resume
    point is the last stylized frame exactly, not an 8-bit picture of it.

    The killed process stalls in frame 5 (frame 4 sent to the open segment) until it is killed, so
    it is killed mid-segment whatever the machine's speed; the rerun and the uninterrupted run run
    in this process (the killed one's segments were written by another). VGG19 up to relu3_1: the
    network is not what is tested."""
    source = make_clip(tmp_path / "clip.mp4", images=pan_frames(10), audio=True)
    out, clean = tmp_path / "out.mp4", tmp_path / "clean.mp4"
    args = [source, style_file, "--weights", "random", "--iters", "2", "--warm-iters", "2", "--optimizer", "adam",
            "--device", "cpu", "--segment-frames", "2", "--quiet", "--content-layer", "relu3_1",
            "--style-layers", "relu1_1,relu2_1,relu3_1"]
    state = work_folder_for(out) / "state.json"
    process = _stalling_cli_subprocess([*args, "-o", out], stall_at=6)
    done = 0
    deadline = time.monotonic() + 300  # a guard against a hang, not a timing assertion
    while process.poll() is None and time.monotonic() < deadline:
        if state.exists():
            done = len(json.loads(state.read_text())["segments"])
            if done >= 2:
                break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    outputs = process.communicate()
    assert done >= 2, outputs
    kept = len(json.loads(state.read_text())["segments"])
    assert 2 <= kept < 5 and not out.exists()
    # Rerun with the same arguments: continues after the finished segments.
    assert run([*args, "-o", out]) == 0
    assert run([*args, "-o", clean]) == 0
    # Every frame exactly once, in order, with the audio.
    assert frame_times(out) == frame_times(source)
    assert audio_packets(out) == audio_packets(source)
    assert not work_folder_for(out).exists()
    resumed, whole = [f.image for f in read_frames(out)], [f.image for f in read_frames(clean)]
    assert len(resumed) == len(whole) == 10
    assert all(np.array_equal(a, b) for a, b in zip(resumed, whole))


def test_a_resumed_run_says_so_and_does_not_redo_finished_segments(tmp_path, style_file, fail_at, capsys):
    source = make_clip(tmp_path / "clip.mp4", images=pan_frames(6), audio=False)
    out = tmp_path / "out.mp4"
    args = [source, style_file, "-o", out, *[a for a in FAST if a != "--quiet"], "--segment-frames", "2"]
    calls = fail_at(5)
    assert run(args) == 130  # Ctrl-C while stylizing frame 4: frames 0-3 are kept
    assert "run the same command again to resume" in capsys.readouterr().err
    calls["n"] = -100
    assert run(args) == 0
    err = capsys.readouterr().err
    assert "resuming after 4 finished frames" in err and "frames/s" in err
    assert calls["n"] == -100 + 2  # only frames 4 and 5 were stylized
    assert len(frame_times(out)) == 6


def test_changed_settings_are_refused_on_resume(tmp_path, style_file, fail_at, capsys):
    source = make_clip(tmp_path / "clip.mp4", images=pan_frames(6), audio=False)
    out = tmp_path / "out.mp4"
    fail_at(3)
    args = [source, style_file, "-o", out, *FAST, "--segment-frames", "4"]
    assert run(args) == 130
    err = capsys.readouterr().err
    assert err.startswith("vidstyle: interrupted after 2 frames") and "run the same command again to resume" in err
    fail_at.disarm()
    assert run([*args, "--alpha", "5"]) == 1
    err = capsys.readouterr().err
    assert "other settings (changed: loss.alpha)" in err
    assert run([*args, "--resume"]) == 0
    assert "resuming" not in capsys.readouterr().err  # --quiet
    assert len(frame_times(out)) == 6


def test_resume_without_work_folder_is_an_error(clip, style_file, tmp_path, capsys):
    assert run([clip, style_file, "-o", tmp_path / "o.mp4", *FAST, "--resume"]) == 1
    assert "nothing to resume" in capsys.readouterr().err


def test_out_of_memory_names_the_size_and_keeps_segments(clip, style_file, tmp_path, fail_at, capsys):
    fail_at(4, torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    out = tmp_path / "o.mp4"
    assert run([clip, style_file, "-o", out, *FAST, "--segment-frames", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "out of GPU memory at 48x32; try --size" in err[0]
    state = json.loads((work_folder_for(out) / "state.json").read_text())
    assert sum(s["count"] for s in state["segments"]) == 3


def test_truncated_input_keeps_the_frames_before_the_damage(tmp_path, style_file, capsys):
    source = make_clip(tmp_path / "clip.mkv", images=pan_frames(12), audio=False)
    data = source.read_bytes()
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "o.mp4"
    assert run([broken, style_file, "-o", out, *FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "frame" in err[0] and "wrote the" in err[0], err
    kept = len(list(read_frames(out)))
    assert 1 <= kept < 12 and f"wrote the {kept} frames" in err[0]



def test_a_partial_output_is_reported_in_json_and_report_and_again_on_every_rerun(tmp_path, style_file, capsys):
    data = make_clip(tmp_path / "clip.mkv", images=pan_frames(12), audio=False).read_bytes()
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(data[: len(data) * 2 // 3])
    out, report = tmp_path / "o.mp4", tmp_path / "r.json"
    assert run([broken, style_file, "-o", out, *FAST, "--json", "--report", report]) == 1
    captured = capsys.readouterr()
    kept = len(list(read_frames(out)))
    printed, written = json.loads(captured.out), json.loads(report.read_text())
    for data in (printed, written):  # scripts see the delivered frames and why the run failed
        assert data["status"] == "partial" and data["frames"] == kept and "wrote the" in data["error"]
    # The partial output is not a finished one: a rerun fails the same way, without redoing the frames.
    stamp = os.stat(out).st_mtime_ns
    assert run([broken, style_file, "-o", out, *FAST, "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "partial" and "by an earlier run" in captured.err
    assert os.stat(out).st_mtime_ns == stamp


def _lossless_clip(path, images):
    """An FFV1 (lossless) clip: unlike H.264/yuv420p it can hold odd sizes."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = images[0].shape[1], images[0].shape[0], "yuv444p"
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def test_odd_dimensions_are_made_even(tmp_path, style_file):
    odd = _lossless_clip(tmp_path / "odd.mkv", [frame_image(i, 47, 33) for i in range(3)])
    out = tmp_path / "o.mp4"
    assert run([odd, style_file, "-o", out, *FAST]) == 0
    info = probe(out)
    assert (info.width, info.height) == (46, 32) and info.frame_count == 3


def test_large_frames_are_processed_at_size(tmp_path, style_file):
    big = make_clip(tmp_path / "big.mp4", images=[frame_image(i, 400, 300) for i in range(2)], audio=False)
    out = tmp_path / "o.mp4"
    assert run([big, style_file, "-o", out, *FAST, "--size", "40"]) == 0
    info = probe(out)
    assert (info.width, info.height) == (40, 30)


@pytest.mark.parametrize(
    "make_input, message",
    [
        (lambda t: t / "missing.mp4", "input file not found"),
        (lambda t: _audio_only(t), "no video stream"),
        (lambda t: _text_file(t), "clip.txt"),
    ],
)
def test_bad_inputs(tmp_path, style_file, capsys, make_input, message):
    assert run([make_input(tmp_path), style_file, "-o", tmp_path / "o.mp4", *FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_zero_frames(clip, style_file, tmp_path, capsys):
    assert run([clip, style_file, "-o", tmp_path / "o.mp4", *FAST, "--start", "50"]) == 1
    assert "no frames to stylize" in capsys.readouterr().err
    assert not work_folder_for(tmp_path / "o.mp4").exists()


def test_unreadable_style_is_reported_before_decoding(tmp_path, capsys, monkeypatch):
    import vidstyle.media.video_files

    monkeypatch.setattr(vidstyle.media.video_files, "probe", lambda *a: pytest.fail("decoded before checking the style"))
    (tmp_path / "style.png").write_text("not an image")
    assert run([tmp_path / "missing.mp4", tmp_path / "style.png", *FAST]) == 1
    assert "style file is not a readable image" in capsys.readouterr().err


def test_unwritable_output_folder(clip, style_file, tmp_path, capsys):
    assert run([clip, style_file, "-o", tmp_path / "no" / "o.mp4", *FAST]) == 1
    assert "output folder does not exist" in capsys.readouterr().err


def test_image_input_falls_through_to_image_mode(tmp_path, style_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cv2.imwrite(str(tmp_path / "photo.png"), structured_image(24, 32))
    assert run([tmp_path / "photo.png", style_file, *FAST]) == 0
    assert cv2.imread(str(tmp_path / "photo_style.png")).shape == (24, 32, 3)


def _audio_only(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        samples = np.zeros((1, 16000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


def _text_file(tmp_path):
    path = tmp_path / "clip.txt"
    path.write_text("hello")
    return path


def test_keyframe_mode_runs_the_full_budget_only_on_keyframes(tmp_path, extractor):
    source = make_clip(tmp_path / "pan.mp4", images=pan_frames(7, width=32, height=24), audio=False)
    optim = OptimSettings(optimizer="adam", iters=6, check_every=1)
    settings = VideoSettings(input=str(source), output=str(tmp_path / "k.mp4"), size=None, tol=0.0,
                             keyframe_every=3, refine_iters=2, optim=optim, model=CPU)
    used = []
    run_video(settings, styles=[as_tensor(stripes_image(32, 32))], extractor=extractor,
              on_frame=lambda report: used.append(report.iterations))
    assert used == [6, 2, 2, 6, 2, 2, 6]


def test_cartoon_look_is_encoded_but_never_fed_back(tmp_path, style_file, monkeypatch):
    source = make_clip(tmp_path / "pan.mp4", images=pan_frames(4), audio=False)
    plain, cartoon = tmp_path / "plain.mp4", tmp_path / "cartoon.mp4"
    assert run([source, style_file, "-o", plain, *FAST]) == 0
    fits, palettes = [], []
    fitted, call = FrameLook.fitted, FrameLook.__call__
    monkeypatch.setattr(FrameLook, "fitted", lambda self, *a: fits.append(1) or fitted(self, *a))
    monkeypatch.setattr(FrameLook, "__call__", lambda self, *a: palettes.append(self.palette) or call(self, *a))
    assert run([source, style_file, "-o", cartoon, *FAST, "--cartoon", "--cartoon-colors", "4"]) == 0
    # One palette fitted on the first frame, then used for every frame.
    assert len(fits) == 1 and len(palettes) == 4 and all(np.array_equal(p, palettes[0]) for p in palettes)
    assert palettes[0].shape == (4, 3)
    a = [f.image.astype(int) for f in read_frames(plain)]
    b = [f.image.astype(int) for f in read_frames(cartoon)]
    assert len(a) == len(b) == 4 and np.abs(a[2] - b[2]).mean() > 3


def test_cartoon_palette_is_kept_for_a_resumed_run(tmp_path, style_file, fail_at, monkeypatch):
    source = make_clip(tmp_path / "pan.mp4", images=pan_frames(6), audio=False)
    out = tmp_path / "cartoon.mp4"
    args = [source, style_file, "-o", out, *FAST, "--cartoon", "--segment-frames", "2"]
    fail_at(5)
    assert run(args) == 130
    palette = np.load(work_folder_for(out) / "palette.npy")
    fail_at.disarm()
    palettes = []
    call = FrameLook.__call__
    monkeypatch.setattr(FrameLook, "fitted", lambda self, *a: pytest.fail("the palette was fitted again"))
    monkeypatch.setattr(FrameLook, "__call__", lambda self, *a: palettes.append(self.palette) or call(self, *a))
    assert run(args) == 0
    assert len(palettes) == 2 and all(np.array_equal(p, palette) for p in palettes)  # frames 4 and 5


def test_preserve_colors_keeps_each_frames_chroma(tmp_path, style_file):
    from vidstyle.core.colors import rgb_to_yiq

    source = make_clip(tmp_path / "pan.mp4", images=pan_frames(4), audio=False, crf="10")
    plain, kept = tmp_path / "plain.mp4", tmp_path / "kept.mp4"
    assert run([source, style_file, "-o", plain, *FAST]) == 0
    assert run([source, style_file, "-o", kept, *FAST, "--preserve-colors"]) == 0

    def chroma_error(path):
        errors = []
        for out, ref in zip(read_frames(path), read_frames(source)):
            iq = [rgb_to_yiq(as_tensor(f.image))[:, 1:] for f in (out, ref)]
            errors.append((iq[0] - iq[1]).abs().mean().item())
        return max(errors)

    # Stated tolerance: mean |I, Q| difference per frame under 0.02 (H.264's 4:2:0 chroma
    # included); the plain run's chroma is several times further off.
    assert chroma_error(kept) < 0.02
    assert chroma_error(plain) > 2 * chroma_error(kept)


@pytest.mark.parametrize("init_mode", ["independent", "flow"])
def test_init_path_starts_the_cold_frames_from_that_picture(tmp_path, style_file, init_mode):
    """--init PATH on a video: with no iterations the first frame is the init picture; in
    independent mode every frame is. No work folder is left behind."""
    source = make_clip(tmp_path / "pan.mp4", images=pan_frames(4), audio=False, crf="10")
    init = structured_image(40, 60, seed=9)
    cv2.imwrite(str(tmp_path / "start.png"), cv2.cvtColor(init, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out.mp4"
    assert run([source, style_file, "-o", out, *FAST, "--iters", "0", "--warm-iters", "0", "--init-mode", init_mode,
                "--init", tmp_path / "start.png"]) == 0
    want = cv2.resize(init, (48, 32), interpolation=cv2.INTER_AREA).astype(int)
    frames = [f.image.astype(int) for f in read_frames(out)]
    contents = [f.image.astype(int) for f in read_frames(source)]
    starting = frames if init_mode == "independent" else frames[:1]
    # Measured: ~9 from the init picture (4:2:0 chroma of a noisy picture), ~47 from the content.
    assert all(np.abs(frame - want).mean() < 12 for frame in starting)
    assert all(np.abs(frame - content).mean() > 30 for frame, content in zip(starting, contents))
    assert not work_folder_for(out).exists()


def test_a_missing_init_picture_is_one_line_before_any_work(clip, style_file, tmp_path, capsys, monkeypatch):
    import vidstyle.video.pipeline

    monkeypatch.setattr(vidstyle.video.pipeline, "run_video", lambda *a, **k: pytest.fail("started the run"))
    assert run([clip, style_file, "-o", tmp_path / "o.mp4", *FAST, "--init", tmp_path / "missing.png"]) == 1
    assert capsys.readouterr().err.strip() == f"vidstyle: error: init file not found: {tmp_path / 'missing.png'}"
    assert not work_folder_for(tmp_path / "o.mp4").exists()
