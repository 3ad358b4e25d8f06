"""``vidstyle webcam``: newest-frame capture, keys, the loop, recording and every bad input.

All headless and on the CPU: the "camera" is a clip written by PyAV into tmp_path or a
generated source, and the slow or scripted parts are fakes (a stylizer that sleeps, a display
that returns keys).
"""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest
import torch
from helpers import stripes_image

from vidstyle.cli import main
from vidstyle.live import display as window
from vidstyle.live import loop as webcam
from vidstyle.live.camera import LatestFrameGrabber, SyntheticSource, working_size
from vidstyle.live.display import ESC, WebcamState, compose_view, handle_key
from vidstyle.live.loop import run_session
from vidstyle.media.video_files import processing_size, read_frames
from vidstyle.settings import ModelSettings, WebcamSettings

# A two-layer loss keeps the random network tiny, so each real frame costs milliseconds.
TINY = ["--weights", "random", "--device", "cpu", "--quiet", "--content-layer", "relu2_1",
        "--style-layers", "relu1_1,relu2_1", "--size", "32"]


def make_clip(path, frames: int, fps: int = 30, width: int = 64, height: int = 48) -> str:
    """A moving gradient clip written with PyAV only."""
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.stack([(xx * 4 + 5 * i) % 256, yy * 5, np.full_like(xx, 40 + 3 * i)], -1).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return str(path)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one thread is fastest, and it keeps timings steady on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def style_file(tmp_path):
    path = tmp_path / "stripes.png"
    cv2.imwrite(str(path), cv2.cvtColor(stripes_image(32, 32), cv2.COLOR_RGB2BGR))
    return str(path)


def run_cli(args) -> int:
    try:
        return main(args)
    except SystemExit as exit_:
        return exit_.code


def one_error_line(capfd) -> str:
    """stderr of the process (C-level writes by OpenCV and FFmpeg included) as exactly one line."""
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


class FakeStylizer:
    """Stands in for Stylizer: a fixed tint per style, an optional sleep, and a log of its calls."""

    def __init__(self, tint: float = 0.0, delay: float = 0.0) -> None:
        self.device = torch.device("cpu")
        self.tint, self.delay = tint, delay
        self.calls: list[tuple[str, int, bool]] = []

    def stylize(self, content, init=None, iters=None, *, tol=None, temporal=None, callback=None, masks=None, revealed=None):
        time.sleep(self.delay)
        self.calls.append(("content" if isinstance(init, str) else "warm", iters, temporal is not None))
        return SimpleNamespace(image=(content * 0.5 + self.tint).clamp(0, 1), iterations=iters)


class FakeDisplay:
    """Records what is shown; ``script`` = [(frames_before, key), ...]: each key is pressed, in
    order, once that many frames have been stylized (``on_frame`` counts them into ``frames``)."""

    def __init__(self, script) -> None:
        self.script = list(script)
        self.shown: list[tuple[np.ndarray, list[str]]] = []
        self.frames = 0
        self.closed_called = False

    def on_frame(self, report) -> None:
        self.frames = report.number

    def show(self, image, lines, panes=1):
        self.shown.append((image.copy(), list(lines)))

    def poll_key(self, delay_ms):
        time.sleep(delay_ms / 1000)
        if self.script and self.frames >= self.script[0][0]:
            return self.script.pop(0)[1]
        return None

    def closed(self):
        return False

    def close(self):
        self.closed_called = True


def headless(**changes) -> WebcamSettings:
    return dataclasses.replace(WebcamSettings(headless=True, model=ModelSettings(device="cpu")), **changes)


# -- pure parts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("width, height, long, expected", [
    (640, 480, 256, (256, 192)),   # --size is the long side, as for images and videos
    (480, 640, 256, (192, 256)),
    (1280, 720, 256, (256, 144)),
    (64, 48, 42, (42, 32)),        # 31.5 -> 32 (nearest even, half up)
    (320, 240, 512, (320, 240)),   # never above the camera's size
    (65, 49, 100, (64, 48)),       # odd camera sides are made even, downwards
])
def test_working_size_keeps_aspect_long_side_and_even_sides(width, height, long, expected):
    assert working_size(width, height, long) == expected
    assert working_size(width, height, long) == processing_size(width, height, long)  # the video run's rule


S = WebcamState(n_styles=3, style_index=0, iters=3)


@pytest.mark.parametrize("key, expected", [
    (ord("q"), dataclasses.replace(S, quit=True)),
    (ord("Q"), dataclasses.replace(S, quit=True)),
    (ESC, dataclasses.replace(S, quit=True)),
    (ord(" "), dataclasses.replace(S, paused=True)),
    (ord("n"), dataclasses.replace(S, style_index=1)),
    (ord("p"), dataclasses.replace(S, style_index=2)),  # wraps around to the last style
    (ord("+"), dataclasses.replace(S, iters=4)),
    (ord("="), dataclasses.replace(S, iters=4)),  # + without shift
    (ord("-"), dataclasses.replace(S, iters=2)),
    (ord("v"), dataclasses.replace(S, side_by_side=True)),
    (ord("x"), S),  # unknown keys change nothing
    (-1, S),  # waitKey's "no key"
    (None, S),
    (0x10FF51, S),  # a special key code above one byte
])
def test_each_key_changes_the_state_as_documented(key, expected):
    state, action = handle_key(S, key)
    assert state == expected and action is None


def test_snapshot_key_is_an_action_and_toggles_undo_themselves():
    assert handle_key(S, ord("s")) == (S, "snapshot")
    once, _ = handle_key(S, ord(" "))
    assert handle_key(once, ord(" "))[0] == S
    once, _ = handle_key(S, ord("v"))
    assert handle_key(once, ord("v"))[0] == S
    last = dataclasses.replace(S, style_index=2)
    assert handle_key(last, ord("n"))[0].style_index == 0  # next wraps around too
    one = dataclasses.replace(S, iters=1)
    assert handle_key(one, ord("-"))[0].iters == 1  # never below one iteration


def test_compose_views():
    stylized = np.full((4, 6, 3), 200, np.uint8)
    original = np.full((8, 12, 3), 10, np.uint8)
    assert compose_view(stylized, original, False) is stylized
    both = compose_view(stylized, original, True)
    assert both.shape == (4, 12, 3) and (both[:, :6] == 10).all() and (both[:, 6:] == 200).all()


def test_overlay_is_white_text_on_a_darkened_box_at_the_top_left():
    image = np.full((360, 480, 3), 200, np.uint8)
    window.draw_overlay(image, ["12.5 fps  3 it/frame  style: ink", "latency 80 ms  dropped 4"])
    box = image[:40, :150]
    assert (box == 80).mean() > 0.5 and (box >= 250).any()  # 200 darkened to 80, white glyphs on it
    assert (image[200:, 300:] == 200).all()  # the rest of the frame untouched


# -- capture thread --------------------------------------------------------------------------------


def test_grabber_hands_out_the_newest_frame_and_holds_at_most_one():
    source = SyntheticSource(40, 30, fps=500, frames=60)
    grabber = LatestFrameGrabber(source, (20, 14)).start()
    taken = []
    while not grabber.exhausted:
        time.sleep(0.02)  # a consumer much slower than the source
        assert grabber.pending <= 1
        captured_before = grabber.captured
        frame = grabber.newest(timeout=0.5)
        if frame is not None:
            assert frame.index >= captured_before - 1  # nothing newer had arrived before it was taken
            assert frame.image.shape == (14, 20, 3) and frame.original.shape == (30, 40, 3)
            taken.append(frame.index)
    grabber.stop()
    assert grabber.captured == 60
    assert grabber.taken == len(taken) and grabber.captured == grabber.taken + grabber.dropped
    assert grabber.dropped > 20 and taken == sorted(taken)


def test_slow_stylizer_drops_frames_instead_of_queueing_them():
    delay = 0.04
    source = SyntheticSource(64, 48, fps=400)  # ten frames arrive during each stylization
    reports = []
    slow = FakeStylizer(delay=delay)
    result = run_session(headless(max_frames=12, size=32), [], names=["slow"], stylizers=[slow], source=source,
                         on_frame=reports.append)
    assert result.processed == 12 == len(reports) == len(slow.calls)
    assert result.captured == result.processed + result.dropped
    assert result.dropped >= 3 * result.processed  # most frames were skipped, none waited in a queue
    latencies = [r.latency for r in reports]
    # Each shown frame was captured at most one camera interval before its stylization began,
    # so latency stays near the stylization time and does not grow from frame to frame.
    assert max(latencies) < 3 * delay + 0.1
    assert np.mean(latencies[-4:]) < np.mean(latencies[:4]) + 2 * delay
    gaps = np.diff([r.capture_index for r in reports])
    assert (gaps >= 1).all() and gaps.mean() > 3
    assert result.stop_reason == "max frames"


def test_a_slow_machine_is_told_once_what_would_help(monkeypatch):
    monkeypatch.setattr(webcam, "SLOW_FPS", 1e6)  # any real rate counts as slow
    with pytest.warns(UserWarning) as caught:
        run_session(headless(max_frames=8, size=32), [], names=["a"], stylizers=[FakeStylizer()],
                    source=SyntheticSource(64, 48, fps=200))
    messages = [str(w.message) for w in caught if "frames/s" in str(w.message)]
    assert len(messages) == 1
    assert "on cpu at 32x24 with 3 iterations per frame" in messages[0] and "smaller --size" in messages[0]


# -- the loop with a window (fake) and keys ---------------------------------------------------------


def test_keys_drive_the_loop_styles_iterations_view_snapshot_pause_quit(tmp_path):
    stylizers = [FakeStylizer(tint=0.0), FakeStylizer(tint=0.5)]
    script = [(1, ord("v")), (2, ord("s")), (3, ord("n")), (4, ord("+")), (5, ord(" ")),
              *[(5, -1)] * 10, (5, ord(" ")), (7, ord("q"))]
    display = FakeDisplay(script)
    settings = dataclasses.replace(WebcamSettings(snapshot_dir=str(tmp_path)), size=32)
    events = []
    result = run_session(settings, [], names=["ink", "fire"], stylizers=stylizers, display=display,
                         source=SyntheticSource(64, 48, fps=200), on_event=events.append,
                         on_frame=display.on_frame)

    assert result.stop_reason == "quit" and display.closed_called
    shown = [image for image, _ in display.shown]
    lines = [text for _, text in display.shown]
    assert shown[0].shape == (24, 32, 3)  # working size: long side 32
    assert any(image.shape == (24, 64, 3) for image in shown[1:])  # v: camera image beside the stylized one
    assert "3 it/frame" in lines[0][0] and "style: ink (1/2)" in lines[0][0] and "fps" in lines[0][0]
    assert any("style: fire (2/2)" in text[0] for text in lines)  # n switched the style...
    assert stylizers[1].calls[0][0] == "content"  # ...and restarted from the camera image
    assert {iters for _, iters, _ in stylizers[1].calls} >= {3, 4}  # + added an iteration per frame
    assert stylizers[0].calls[0] == ("content", 3, False) and stylizers[0].calls[1] == ("warm", 3, True)
    assert any("PAUSED" in text[1] for text in lines)  # space was redrawn with the PAUSED flag
    snaps = sorted(tmp_path.glob("vidstyle-*.png"))
    assert [p.name.endswith(s) for p, s in zip(snaps, ("original.png", "stylized.png"))] == [True, True]
    assert cv2.imread(str(snaps[1])).shape == (24, 32, 3)  # the stylized frame at the working size
    assert cv2.imread(str(snaps[0])).shape == (48, 64, 3)  # the camera frame as captured
    assert any("saved snapshot" in e for e in events)
    assert result.processed == 7 and result.captured == result.processed + result.dropped


def test_pause_stops_stylizing_and_drops_what_the_camera_sends(tmp_path):
    display = FakeDisplay([(2, ord(" ")), *[(2, -1)] * 8, (2, ord("q"))])
    stylizer = FakeStylizer()
    result = run_session(WebcamSettings(size=32, snapshot_dir=str(tmp_path)), [], names=["a"], stylizers=[stylizer],
                         display=display, source=SyntheticSource(64, 48, fps=300), on_frame=display.on_frame)
    assert result.stop_reason == "quit"
    assert result.processed == 2 == len(stylizer.calls)  # nothing stylized while paused (8 polls of 30 ms)
    assert result.dropped >= 20 and result.captured == result.processed + result.dropped


# -- end to end through the CLI ---------------------------------------------------------------------


def test_headless_file_camera_records_that_many_frames_at_the_working_size(tmp_path, style_file, capfd):
    clip = make_clip(tmp_path / "cam.mp4", frames=90)
    out = tmp_path / "rec.mp4"
    # --every-frame: played live, a busy machine may see only 2 of the clip's frames in time.
    code = run_cli(["webcam", style_file, "--camera", clip, "--headless", "--max-frames", "5", "--every-frame",
                    "--record", str(out), *TINY])
    assert code == 0, capfd.readouterr().err
    frames = list(read_frames(out))
    assert len(frames) == 5
    assert frames[0].image.shape == (24, 32, 3)  # 64x48 camera, long side 32
    assert all(b.time > a.time for a, b in zip(frames, frames[1:]))
    camera = next(iter(read_frames(clip, size=(32, 24)))).image.astype(int)
    assert np.abs(frames[0].image.astype(int) - camera).mean() > 2  # stylized, not the camera image


def test_stream_ending_mid_run_finishes_the_recording_and_says_so(tmp_path, style_file, capfd):
    clip = make_clip(tmp_path / "short.mp4", frames=6)
    out = tmp_path / "rec.mp4"
    code = run_cli(["webcam", style_file, "--camera", clip, "--headless", "--max-frames", "50",
                    "--record", str(out), *TINY])
    line = one_error_line(capfd)
    assert code == 0  # the end of a file is its normal end
    assert f"end of {clip} reached after 6 frames" in line and f"recording finished: {out}" in line
    recorded = int(line.split("(")[-1].split()[0])
    assert 1 <= recorded <= 6 and len(list(read_frames(out))) == recorded


def test_camera_lost_mid_run_exits_nonzero_with_a_finished_recording(tmp_path, style_file, capfd, monkeypatch):
    monkeypatch.setattr(webcam, "open_camera", lambda spec: SyntheticSource(64, 48, fps=100, frames=8))
    out = tmp_path / "rec.mp4"
    code = run_cli(["webcam", style_file, "--headless", "--record", str(out), *TINY])
    line = one_error_line(capfd)
    assert code == 1
    assert "stopped delivering frames after 8 frames (disconnected?)" in line or "connection lost" in line
    assert "stopped cleanly; recording finished" in line
    assert out.exists() and len(list(read_frames(out))) >= 1


def test_seconds_zero_is_refused_and_no_recording_is_claimed_without_frames(tmp_path, style_file, capfd,
                                                                            monkeypatch):
    code = run_cli(["webcam", style_file, "--headless", "--seconds", "0", *TINY])
    assert code == 1 and "--seconds 0 would stop before the first frame" in one_error_line(capfd)
    monkeypatch.setattr(webcam, "open_camera", lambda spec: SyntheticSource(64, 48, fps=100, frames=0))
    out = tmp_path / "rec.mp4"
    run_cli(["webcam", style_file, "--headless", "--record", str(out), *TINY])
    line = one_error_line(capfd)
    assert not out.exists() and "recording finished" not in line and "no recording written" in line


@pytest.mark.parametrize("camera, message", [
    ("99", "cannot open camera 99 (no such device, or it is in use); choose another with --camera"),
    ("{tmp}/missing.mp4", "camera source not found: {tmp}/missing.mp4"),
    ("{tmp}/notes.txt", "cannot open camera source {tmp}/notes.txt: not a video OpenCV can read"),
    ("{tmp}", "camera source is not a file"),
    ("http://127.0.0.1:9/live", "cannot open stream http://127.0.0.1:9/live (unreachable"),
])
def test_camera_that_cannot_be_opened_names_it_and_suggests_camera(tmp_path, style_file, capfd, camera, message):
    (tmp_path / "notes.txt").write_text("not a video")
    code = run_cli(["webcam", style_file, "--camera", camera.format(tmp=tmp_path), "--headless", *TINY])
    line = one_error_line(capfd)
    assert code == 1
    assert line.startswith("vidstyle: error: ") and message.format(tmp=tmp_path) in line and "--camera" in line


def test_no_display_says_so_and_suggests_headless(tmp_path, style_file, capfd, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = run_cli(["webcam", style_file, "--camera", str(tmp_path / "missing.mp4"), *TINY])
    line = one_error_line(capfd)
    assert code == 1
    assert "no display available" in line and "--headless" in line  # checked before the camera


def test_unreachable_display_is_detected_without_crashing(monkeypatch):
    # OpenCV's Qt backend aborts the process when DISPLAY points nowhere; the probe runs in a child.
    monkeypatch.setenv("DISPLAY", ":4711")
    problem = window.display_problem()
    assert problem is not None and "cannot open a window on display :4711" in problem
    with pytest.raises(window.DisplayError, match="use --headless"):
        window.check_display()


@pytest.mark.parametrize("style, message", [
    ("{tmp}/nothing.png", "style file not found: {tmp}/nothing.png"),
    ("{tmp}/text.png", "style file is not a readable image: {tmp}/text.png"),
])
def test_unreadable_style_fails_before_the_camera_is_opened(tmp_path, capfd, style, message, monkeypatch):
    (tmp_path / "text.png").write_text("hello")
    opened = []
    monkeypatch.setattr(webcam, "open_camera", lambda spec: opened.append(spec))
    code = run_cli(["webcam", style.format(tmp=tmp_path), "--camera", "99", "--headless", *TINY])
    line = one_error_line(capfd)
    assert code == 1 and message.format(tmp=tmp_path) in line and not opened


def test_recording_into_a_missing_folder_fails_before_the_camera(tmp_path, style_file, capfd):
    code = run_cli(["webcam", style_file, "--camera", "99", "--headless", "--record", str(tmp_path / "no" / "r.mp4"),
                    *TINY])
    assert code == 1 and "recording folder does not exist" in one_error_line(capfd)


def test_help_lists_the_keys_and_every_option_with_its_default():
    from vidstyle.cli import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["webcam"]
    text = sub.format_help()
    for key in ("q, Esc", "space", "s ", "n, p", "+, -", "v "):
        assert key in text
    for action in sub._actions:
        if action.option_strings and action.dest not in ("help", "quiet", "debug", "headless", "compile"):
            assert "[default: " in action.help, action.dest
    assert "[default: 256]" in sub._option_string_actions["--size"].help
    assert "[default: 3]" in sub._option_string_actions["--iters"].help
    assert "[default: adam]" in sub._option_string_actions["--optimizer"].help
    assert "[default: 0]" in sub._option_string_actions["--camera"].help


def test_the_capture_thread_computes_each_frames_motion_against_the_frame_taken_before():
    from vidstyle.video.flow import FlowEstimator, motion_between

    grabber = LatestFrameGrabber(SyntheticSource(64, 48, fps=1000, frames=5), (64, 48), flow_preset="fast",
                                 keep_all=True).start()
    taken = [grabber.newest(timeout=10) for _ in range(5)]
    grabber.stop()
    assert [frame.index for frame in taken] == [0, 1, 2, 3, 4] and grabber.dropped == 0
    assert taken[0].motion is None and taken[0].motion_from is None
    for before, frame in zip(taken, taken[1:]):
        assert frame.motion_from == before.index
        want = motion_between(FlowEstimator("fast"), before.image, frame.image)
        assert np.array_equal(frame.motion.flow_back, want.flow_back) and np.array_equal(frame.motion.mask, want.mask)


# -- one meaning of --size, presets, every frame of a file, the window's size, keys within a frame ----


def test_size_is_the_long_side_and_preset_webcam_is_the_webcam_defaults():
    from vidstyle.cli import build_parser
    from vidstyle.cli.webcam import webcam_settings

    parse = build_parser().parse_args
    plain = webcam_settings(parse(["webcam", "s.png"]))
    preset = webcam_settings(parse(["webcam", "s.png", "--preset", "webcam"]))
    assert preset == plain and plain.size == 256 and working_size(640, 480, plain.size) == (256, 192)
    assert (plain.optim.optimizer, plain.optim.lr, plain.optim.iters) == ("adam", 0.03, 3)
    explicit = webcam_settings(parse(["webcam", "s.png", "--preset", "webcam", "--size", "128", "--iters", "5"]))
    assert (explicit.size, explicit.optim.iters) == (128, 5)  # explicit options win over the preset


@pytest.mark.parametrize("preset", ["fast", "quality", "cartoon"])
def test_image_and_video_presets_are_refused_by_the_webcam_with_the_reason(style_file, capfd, preset):
    code = run_cli(["webcam", style_file, "--preset", preset, "--headless", "--camera", "99", *TINY])
    line = one_error_line(capfd)
    assert code == 1 and f"--preset {preset} is for the image and video commands" in line
    assert "the webcam takes --preset webcam" in line


def test_every_frame_of_a_file_camera_is_stylized_and_recorded_with_its_timing(tmp_path, style_file, capfd):
    clip = make_clip(tmp_path / "cam.mp4", frames=12, fps=10)
    out = tmp_path / "rec.mp4"
    code = run_cli(["webcam", style_file, "--camera", clip, "--headless", "--every-frame", "--record", str(out),
                    *TINY])
    err = capfd.readouterr().err
    assert code == 0, err
    assert "12 frames" in err and "0 dropped" in err
    recorded = list(read_frames(out))
    assert len(recorded) == 12  # as many frames as the file, however slow the stylizer
    times = [float(frame.time) for frame in recorded]
    assert times == pytest.approx([i / 10 for i in range(12)], abs=2e-3)  # the file's timing, not capture times


def test_every_frame_needs_a_file(style_file):
    settings = headless(every_frame=True, max_frames=3, size=32)
    with pytest.raises(webcam.WebcamError, match="--every-frame needs a video file as --camera; synthetic"):
        run_session(settings, [], names=["a"], stylizers=[FakeStylizer()], source=SyntheticSource(64, 48, fps=100))


def test_a_file_played_live_drops_frames_when_the_stylizer_is_slow():
    # The behaviour --every-frame changes: at the file's rate, a slow stylizer sees few of its frames.
    source = SyntheticSource(64, 48, fps=200, frames=30, live=False)
    result = run_session(headless(size=32), [], names=["a"], stylizers=[FakeStylizer(delay=0.03)], source=source)
    assert result.stop_reason == "ended" and result.dropped > 10 and result.processed < 20
    kept = run_session(headless(size=32, every_frame=True), [], names=["a"], stylizers=[FakeStylizer(delay=0.03)],
                       source=SyntheticSource(64, 48, fps=200, frames=30, live=False))
    assert kept.processed == kept.captured == 30 and kept.dropped == 0


@pytest.mark.parametrize("view, panes, display, screen, expected", [
    ((512, 192), 2, 960, None, (1920, 720)),          # side by side, no screen known: each half 960 wide
    ((512, 192), 2, 960, (1280, 800), (1178, 442)),  # ...on a 1280x800 screen: shrunk to 92% of its width
    ((256, 192), 1, 960, (1280, 800), (907, 680)),   # one 4:3 pane: 85% of the screen's height wins
    ((256, 192), 1, 960, (3840, 2160), (960, 720)),  # a large screen: the long side is --display-size
    ((192, 256), 1, 640, (1280, 800), (480, 640)),   # portrait
])
def test_window_size_follows_display_size_within_the_screen(view, panes, display, screen, expected):
    assert window.window_size(view, panes, display, screen) == expected
    if screen is not None:
        assert expected[0] <= screen[0] and expected[1] <= screen[1]


def test_screen_size_is_read_from_tk_or_xdpyinfo_output():
    assert window.parse_screen("window ok\nscreen 1280 800\n") == (1280, 800)
    assert window.parse_screen("screen #0:\n  dimensions:    1920x1080 pixels (508x285 millimeters)\n") == (1920, 1080)
    assert window.parse_screen("window ok\n") is None and window.parse_screen("screen 0 0") is None


def test_window_display_scales_each_pane_to_the_display_size_within_the_screen(monkeypatch):
    shown = []
    monkeypatch.setattr(window.cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(window.cv2, "imshow", lambda title, image: shown.append(image.shape))
    display = window.WindowDisplay(display_size=960, screen=(1280, 800))
    display.show(np.zeros((192, 512, 3), np.uint8), [], panes=2)
    display.show(np.zeros((192, 256, 3), np.uint8), [])
    assert shown == [(442, 1178, 3), (680, 907, 3)]


def test_recording_keeps_its_layout_at_full_size_when_the_view_is_toggled(tmp_path):
    out = tmp_path / "rec.mp4"
    display = FakeDisplay([(2, ord("v")), (4, ord("q"))])
    settings = dataclasses.replace(WebcamSettings(snapshot_dir=str(tmp_path), record=str(out)), size=32)
    result = run_session(settings, [], names=["a"], stylizers=[FakeStylizer()], display=display,
                         source=SyntheticSource(64, 48, fps=200), on_frame=display.on_frame)
    assert result.stop_reason == "quit" and result.recorded == 4
    assert {image.shape for image, _ in display.shown} == {(24, 32, 3), (24, 64, 3)}  # the window toggled
    recorded = [frame.image for frame in read_frames(out)]
    assert len(recorded) == 4 and all(image.shape == (24, 32, 3) for image in recorded)
    assert all(image[0].mean() > 10 and image[-1].mean() > 10 for image in recorded)  # no black bars

    both = tmp_path / "both.mp4"
    run_session(headless(max_frames=3, size=32, side_by_side=True, record=str(both)), [], names=["a"],
                stylizers=[FakeStylizer()], source=SyntheticSource(64, 48, fps=200))
    recorded = [frame.image for frame in read_frames(both)]
    assert len(recorded) == 3 and recorded[0].shape == (24, 64, 3)  # side by side, each half at the working size


class KeyQueueDisplay(FakeDisplay):
    """A window whose key queue holds ``keys``: each poll returns the next one (then no key)."""

    def __init__(self, keys) -> None:
        super().__init__([])
        self.keys, self.polls = list(keys), 0

    def poll_key(self, delay_ms):
        self.polls += 1
        return self.keys.pop(0) if self.keys else None


def test_q_stops_within_a_frame_before_its_budget_is_spent(tmp_path, extractor, monkeypatch):
    monkeypatch.setattr(webcam, "KEY_POLL_INTERVAL", 0.0)  # read the keys at every check
    # (no shot detection: it holds the first frame back a camera interval, while keys are polled)
    settings = WebcamSettings(snapshot_dir=str(tmp_path), size=32, model=ModelSettings(device="cpu"), scene_detect=False)
    settings = dataclasses.replace(settings, optim=dataclasses.replace(settings.optim, iters=200))
    [stylizer] = webcam.build_stylizers([torch.rand(1, 3, 32, 32)], settings, extractor=extractor)
    steps = []
    inner = stylizer.loss_terms
    monkeypatch.setattr(stylizer, "loss_terms", lambda image: steps.append(1) or inner(image))
    # Polls: before the first frame (no key), its first check (v: kept for after the frame), its second (q).
    display = KeyQueueDisplay([None, ord("v"), ord("q")])
    result = run_session(settings, [], names=["a"], stylizers=[stylizer], display=display,
                         source=SyntheticSource(64, 48, fps=30))
    assert result.stop_reason == "quit" and result.processed == 0  # the first frame was never finished
    assert len(steps) == 2 and display.polls == 3  # stopped at the second check (one iteration each), not at 200


def test_display_probe_reports_the_screen_from_tk_else_xdpyinfo(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":0")
    answers = {}
    runs = []

    def fake_run(command, **kwargs):
        kind = "xdpyinfo" if command[0] == "xdpyinfo" else "tk" if "tkinter" in command[-1] else "window"
        runs.append(kind)
        code, out = answers[kind]
        return SimpleNamespace(returncode=code, stdout=out, stderr="")

    monkeypatch.setattr(window.subprocess, "run", fake_run)
    answers.update(window=(0, ""), tk=(0, "screen 1280 800\n"), xdpyinfo=(0, "  dimensions:    1366x768 pixels\n"))
    assert window.probe_display() == window.DisplayProbe(None, (1280, 800)) and runs == ["window", "tk"]
    assert window.check_display() == (1280, 800)
    answers["tk"] = (-11, "")  # Tk crashed in its own child: xdpyinfo's size, and the window still counts
    assert window.probe_display() == window.DisplayProbe(None, (1366, 768)) and runs[-1] == "xdpyinfo"
    answers["xdpyinfo"] = (1, "")
    assert window.probe_display() == window.DisplayProbe(None, None)  # no size known: not an error
    answers["window"] = (1, "")
    runs.clear()
    assert window.probe_display().problem.startswith("cannot open a window on display :0") and runs == ["window"]


# -- the record file, the drop count and -q --------------------------------------------------------


@pytest.mark.parametrize("name, expected", [("r.xyz", ".xyz is not a video format"), ("old.mp4", "exists; pass --overwrite")])
def test_a_bad_or_existing_record_file_is_refused_before_the_camera_opens(tmp_path, style_file, capfd, name, expected):
    record = tmp_path / name
    if name == "old.mp4":
        record.write_bytes(b"kept")
    # Camera 99 does not exist: the record file is refused first, in one line naming it (no bar before it).
    loud = [arg for arg in TINY if arg != "--quiet"]
    code = run_cli(["webcam", style_file, "--headless", "--camera", "99", "--record", str(record), *loud])
    line = one_error_line(capfd)
    assert code == 1 and str(record) in line and expected in line
    assert not record.exists() or record.read_bytes() == b"kept"


def test_a_webm_recording_gets_vp9_and_overwrite_replaces_an_existing_file(tmp_path, style_file, capfd):
    clip = make_clip(tmp_path / "cam.mp4", frames=3, fps=10)
    record = tmp_path / "r.webm"
    record.write_bytes(b"old")
    code = run_cli(["webcam", style_file, "--camera", clip, "--headless", "--every-frame", "--record", str(record),
                    "--overwrite", *TINY])
    assert code == 0, capfd.readouterr().err
    with av.open(str(record)) as container:
        assert container.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")
    assert len(list(read_frames(record))) == 3


def test_a_look_ahead_frame_never_due_is_not_dropped(tmp_path, style_file, capfd):
    """--max-frames 5 with shot detection reads frames ahead of the 5th: they were never due, so the
    summary and the progress bar (the last frame's count) agree: nothing dropped."""
    clip = make_clip(tmp_path / "cam.mp4", frames=12, fps=10)
    reports = []
    settings = headless(camera=clip, every_frame=True, max_frames=5, size=32)
    result = run_session(settings, [], names=["a"], stylizers=[FakeStylizer()], on_frame=reports.append,
                         source=webcam.open_camera(clip))
    assert result.processed == 5 and result.dropped == reports[-1].dropped == 0 and result.captured == 5
    loud = [arg for arg in TINY if arg != "--quiet"]
    assert run_cli(["webcam", style_file, "--camera", clip, "--headless", "--every-frame", "--max-frames", "5",
                    *loud]) == 0
    assert "5 captured, 0 dropped" in capfd.readouterr().err


def test_dash_q_silences_the_webcam_but_not_its_errors(tmp_path, style_file, capfd):
    clip = make_clip(tmp_path / "cam.mp4", frames=3, fps=10)
    quiet = ["-q" if arg == "--quiet" else arg for arg in TINY]
    assert run_cli(["webcam", style_file, "--camera", clip, "--headless", "--every-frame", "--max-frames", "2",
                    *quiet]) == 0
    assert capfd.readouterr().err.strip() == ""
    assert run_cli(["webcam", style_file, "--headless", "--camera", "99", *quiet]) == 1
    assert "99" in one_error_line(capfd)
