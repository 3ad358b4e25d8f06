"""``--ray`` and ``batch-video`` on a local Ray with 2 CPUs: segments, seams, retries, resume, no Ray.

One Ray instance serves the whole module (starting Ray and its workers is most of the cost).
The clip is tiny (32x24, 12 frames, a slow pan, with AAC audio) and the network random, with a
few Adam iterations per frame, so every run takes seconds.
"""

import os
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import audio_packets, frame_times, make_clip
from helpers import TINY_NET_ARGS, pan_frames, stripes_image, tiny_loss

from vidstyle.cli import main
from vidstyle.errors import Interrupted
from vidstyle.media.seeking import SeekChecks, SeekWarning
from vidstyle.media.segments import container_comment
from vidstyle.media.video_files import probe, read_frames
from vidstyle.scale.cluster import RayMissing
from vidstyle.scale.distributed import FAIL_ENV, run_distributed
from vidstyle.scale.frame_ranges import (
    checked_plans,
    frame_and_sync_table,
    frame_table,
    plan_segments,
    record_path,
    run_segment,
    snap_to_sync,
)
from vidstyle.settings import DistributedSettings, ModelSettings, OptimSettings, StyleSettings, VideoSettings
from vidstyle.video.metrics import warping_error
from vidstyle.video.pipeline import STAMP_PREFIX, run_video
from vidstyle.video.workdir import work_folder_for

W, H, N = 32, 24, 12
# VGG19 up to relu3_1 (TINY_NET_ARGS, tiny_loss): segments, seams and retries are tested here, not the
# network, and every task and run builds its own network.
FAST = ["--weights", "random", "--iters", "3", "--warm-iters", "2", "--optimizer", "adam", "--quiet",
        "--device", "cpu", *TINY_NET_ARGS]
# Measured on this clip with these settings: the worst seam is 2.2x the mean warping error between
# consecutive frames inside a segment (1.8x without lead-in, 2.6x with 4 frames: see "Seams" in
# vidstyle/scale/distributed.py for why a seam remains at all). Re-measured with VGG19 up to relu3_1:
# 2.0x (the default layers: 1.8x).
SEAM_FACTOR = 3.0
# Every frame stylized with 0 iterations from its own content, encoded losslessly: the output shows
# the input pixels each segment decoded.
IDENTITY = ["--weights", "random", "--iters", "0", "--warm-iters", "0", "--init-mode", "independent", "--crf", "0",
            "--quiet", "--device", "cpu", *TINY_NET_ARGS]


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")  # the test extra installs it; the no-Ray test below runs anyway
    # address="local": always a fresh instance of our own, never a cluster found on the machine.
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray_inputs")
    clip = make_clip(folder / "clip.mp4", images=pan_frames(N, W, H))
    style = folder / "style.png"
    cv2.imwrite(str(style), stripes_image(32, 32))
    return clip, style


def settings_for(clip, style, output, **changes):
    base = VideoSettings(input=str(clip), output=str(output), warm_iters=2, style=StyleSettings(paths=(str(style),)),
                         optim=OptimSettings(optimizer="adam", iters=3, tol=1e-3), loss=tiny_loss(VideoSettings().loss),
                         model=ModelSettings(weights="random", device="cpu"))
    return VideoSettings(**{**base.__dict__, **changes})


@pytest.fixture(scope="module")
def seek_clips(tmp_path_factory):
    """24 frames each: sync samples every 4 frames (seeks work), and x264 periodic intra refresh in
    yuv444p (seeks miss the frames before the decoder has recovered: they fail their check)."""
    folder = tmp_path_factory.mktemp("seek_inputs")
    good = make_clip(folder / "gop.mp4", images=pan_frames(24, W, H), gop=4)
    bad = make_clip(folder / "refresh.mp4", images=pan_frames(24, W, H), x264_params="keyint=4:intra-refresh=1",
                    pix_fmt="yuv444p")
    return good, bad


def run_cli(args):
    try:
        return main([str(a) for a in args])
    except SystemExit as exit_:
        return exit_.code


def images(path):
    return [frame.image for frame in read_frames(path)]


# -- planning (no Ray) ---------------------------------------------------------------------------


def test_plan_balances_work_and_seeks_between_frames():
    # Segments after the first also stylize lead_in frames, so they get that many fewer.
    assert [(p.first, p.end, p.lead_in) for p in plan_segments(24, 2, 4)] == [(0, 14, 0), (14, 24, 4)]
    pts = [0, 2, 4, 6, 8, 10, 12]
    plans = plan_segments(7, 3, 2, pts, Fraction(1, 20))
    assert [(p.first, p.end, p.lead_in) for p in plans] == [(0, 4, 0), (4, 5, 2), (5, 7, 2)]
    assert plans[0].seek is None  # segment 0 decodes exactly as the single-machine run
    assert plans[1].seek == pytest.approx(3.5 / 20)  # half a tick before frame 2 (pts 4), after frame 1 (pts 2)
    assert plans[2].pts == (6, 8, 10, 12)  # lead-in frames 3, 4 and kept frames 5, 6
    short = plan_segments(4, 2, 4, [0, 1, 2, 3], Fraction(1, 10))  # too short to balance: equal lengths
    assert [(p.first, p.end, p.lead_in, p.seek) for p in short] == [(0, 2, 0, None), (2, 4, 2, None)]
    assert len(plan_segments(3, 8, 4)) == 3  # never more segments than frames


def test_a_segment_numbers_its_frames_as_the_whole_run_does(files, tmp_path):
    # Keyframe mode gives every 3rd frame of the run the full budget: a segment that starts
    # decoding at frame 1 must put them at frames 3 and 6, not at its own 3rd frame.
    clip, style = files
    settings = settings_for(clip, style, tmp_path / "x.mp4", keyframe_every=3, refine_iters=1)
    plan = plan_segments(N, 3, 2, frame_table(settings), probe(clip).time_base)[1]
    assert (plan.first, plan.end, plan.lead_in) == (5, 9, 2) and plan.seek is not None
    numbers = []
    result = run_segment(settings, plan.first, plan.end, plan.lead_in, tmp_path / "segment.mp4", seek=plan.seek,
                         expected_pts=plan.pts, on_frame=lambda number, kept: numbers.append((number, kept)))
    assert numbers == [(3, False), (4, False), (5, True), (6, True), (7, True), (8, True)]
    assert result.cold_iterations == 3 and result.warm_iterations == 1 + 1 + 3 + 1 + 1  # keyframe 6: 3 iterations
    assert frame_times(tmp_path / "segment.mp4") == frame_times(clip)[5:9]
    assert record_path(tmp_path / "segment.mp4").exists()


def test_frame_table_matches_decoded_frames(files, tmp_path):
    clip, style = files
    for changes in ({}, {"start": 0.3, "duration": 0.55}, {"start": 0.25, "max_frames": 5}):
        settings = settings_for(clip, style, tmp_path / "x.mp4", **changes)
        decoded = [f.pts for f in read_frames(clip, start=settings.start, duration=settings.duration,
                                              max_frames=settings.max_frames)]
        assert frame_table(settings) == decoded, changes


def test_the_plan_keeps_seeks_that_verify_and_drops_those_that_fail(seek_clips, files, tmp_path):
    good, bad = seek_clips
    style = files[1]
    for clip in (good, bad):
        settings = settings_for(clip, style, tmp_path / "x.mp4")
        plans = plan_segments(24, 3, 2, frame_table(settings), probe(clip).time_base)
        assert all(plan.seek is not None for plan in plans[1:])
        checks = SeekChecks()
        if clip == good:
            assert checked_plans(settings, plans, probe(clip).time_base, checks) == plans
            assert checks.verdict(clip).trusted and len(checks.verdict(clip).verified) == 2
        else:
            with pytest.warns(SeekWarning, match="not trusted"):
                checked = checked_plans(settings, plans, probe(clip).time_base, checks)
            assert [plan.seek for plan in checked] == [None, None, None]  # from the start: no seek verified
            assert [(p.first, p.end, p.lead_in, p.pts) for p in checked] == [
                (p.first, p.end, p.lead_in, p.pts) for p in plans]  # the exact frame table is kept


def test_seams_move_onto_nearby_sync_samples_whose_seeks_land_exactly(seek_clips, files, tmp_path):
    good = seek_clips[0]
    settings = settings_for(good, files[1], tmp_path / "x.mp4")
    pts, sync = frame_and_sync_table(settings)
    assert sync == [0, 4, 8, 12, 16, 20]  # an IDR frame every 4
    time_base = probe(good).time_base
    plans = plan_segments(24, 3, 2, pts, time_base)
    assert [p.first - p.lead_in for p in plans] == [0, 7, 15]
    snapped = snap_to_sync(plans, sync, 2, pts, time_base, tolerance=1)
    assert [(p.first, p.end, p.lead_in) for p in snapped] == [(0, 10, 0), (10, 18, 2), (18, 24, 2)]
    assert snap_to_sync(plans, sync, 2, pts, time_base, tolerance=0) == plans  # none close enough
    checks = SeekChecks()
    assert checked_plans(settings, snapped, time_base, checks) == snapped
    # Each seek landed on the very frame its range starts with.
    assert sorted(checks.verdict(good).verified) == [(pts[8],) * 2, (pts[16],) * 2]


# -- Ray -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", [pytest.param("seeks work", marks=pytest.mark.slow), "seeks fail"])
def test_three_segments_decode_the_single_machine_runs_input_at_every_seam(local_ray, seek_clips, files, tmp_path,
                                                                           capsys, which):
    clip = seek_clips[0] if which == "seeks work" else seek_clips[1]
    single, spread = tmp_path / "single.mp4", tmp_path / "spread.mp4"
    assert run_cli([clip, files[1], "-o", single, *IDENTITY]) == 0
    assert run_cli([clip, files[1], "-o", spread, *IDENTITY, "--ray", "--segments", "3", "--lead-in", "2"]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "seeking" in line]
    assert len(warned) == (0 if which == "seeks work" else 1), warned
    ours, theirs = read_frames(spread), read_frames(single)
    pairs = list(zip(ours, theirs, strict=True))  # the same frame count
    assert len(pairs) == 24
    assert all(a.pts == b.pts and np.array_equal(a.image, b.image) for a, b in pairs)  # seams included




@pytest.mark.slow
def test_three_segments_match_the_single_machine_run(local_ray, files, tmp_path, capsys):
    clip, style = files
    single, spread = tmp_path / "single.mp4", tmp_path / "spread.mp4"
    # The encoder and temporal settings under which the factor below was set: with the newer video
    # defaults (crf 0 yuv444p at this size, temporal loss on) frames inside a segment lose less to
    # encoding and get steadier, seams do not, and the seam error measured 4.1x the inside mean.
    no_temporal = ["--temporal-weight", "0", "--crf", "18", "--pix-fmt", "yuv420p"]
    assert run_cli([clip, style, "-o", single, *FAST, *no_temporal]) == 0
    assert run_cli([clip, style, "-o", spread, *FAST, *no_temporal, "--ray", "--segments", "3", "--lead-in", "2"]) == 0
    assert probe(spread).frame_count == N
    assert frame_times(spread) == frame_times(single) == frame_times(clip)  # every frame, in order
    assert audio_packets(spread) == audio_packets(clip)  # the audio remuxed untouched
    assert not work_folder_for(spread).exists()

    # Seams (the first frames of segments 1 and 2): the warping error across them stays within
    # SEAM_FACTOR of the mean error between consecutive frames inside the segments.
    reference = images(clip)
    errors = warping_error(images(spread), reference).per_frame  # errors[t - 1]: frames t-1 -> t
    seams = {plan.first for plan in plan_segments(N, 3, 2)[1:]}
    assert seams == {5, 9}
    inside = [e for t, e in enumerate(errors, 1) if t not in seams]
    worst = max(errors[t - 1] for t in seams)
    single_errors = warping_error(images(single), reference).per_frame
    assert worst <= SEAM_FACTOR * np.mean(inside), (
        f"seam errors {[errors[t - 1] for t in seams]} vs inside mean {np.mean(inside):.5f} "
        f"(single machine at the same frames: {[single_errors[t - 1] for t in seams]})")


def test_segment_0_is_the_single_machine_run_exactly_and_the_cartoon_palette_is_shared(local_ray, files, tmp_path):
    # Lossless encoding, so decoded frames compare exactly: segment 0 is the single-machine chain
    # bit for bit, keyframes and the cartoon palette (fitted on frame 0 by a task of its own) included.
    clip, style = files
    single, spread = tmp_path / "single.mp4", tmp_path / "spread.mp4"
    extra = [*FAST, "--crf", "0", "--cartoon", "--keyframe-every", "3", "--refine-iters", "1"]
    assert run_cli([clip, style, "-o", single, *extra]) == 0
    assert run_cli([clip, style, "-o", spread, *extra, "--ray", "--segments", "3", "--lead-in", "2"]) == 0
    first_of_segment_1 = plan_segments(N, 3, 2)[1].first
    ours, theirs = images(spread), images(single)
    assert len(ours) == len(theirs) == N
    assert all(np.array_equal(a, b) for a, b in zip(ours[:first_of_segment_1], theirs[:first_of_segment_1]))
    assert frame_times(spread) == frame_times(single)


def test_a_failing_task_is_retried_and_a_cut_window_matches(local_ray, files, tmp_path, monkeypatch):
    clip, style = files
    window = {"start": 0.1, "max_frames": 9}
    single = settings_for(clip, style, tmp_path / "single.mp4", **window)
    run_video(single)
    monkeypatch.setenv(FAIL_ENV, "1:1")  # segment 1 fails on its first attempt
    spread = settings_for(clip, style, tmp_path / "spread.mp4", **window)
    report = run_distributed(spread, DistributedSettings(segments=3, lead_in=2, max_retries=1), progress=False)
    assert report.attempts == {0: 1, 1: 2, 2: 1}
    assert report.frames == 9 and sorted(report.ran) == [0, 1, 2]
    assert frame_times(spread.output) == frame_times(single.output)
    assert audio_packets(spread.output) == audio_packets(single.output)


def test_a_task_that_always_fails_ends_the_run_with_a_clear_message(local_ray, files, tmp_path, monkeypatch, capsys):
    clip, style = files
    out = tmp_path / "out.mp4"
    monkeypatch.setenv(FAIL_ENV, "2:always")
    code = run_cli([clip, style, "-o", out, *FAST, "--ray", "--segments", "3", "--ray-retries", "1"])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    lines = [line for line in err.splitlines() if line.startswith("vidstyle:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("vidstyle: error: segment 2 (frames 9-11) failed after 2 attempt(s): InjectedFailure")
    assert "rerun the same command to resume" in lines[0]


def test_a_rerun_after_an_interrupted_run_reuses_finished_segments(local_ray, files, tmp_path):
    clip, style = files
    settings = settings_for(clip, style, tmp_path / "out.mp4")
    dist = DistributedSettings(segments=3, lead_in=2)

    def die(result):  # the driver goes away as soon as the first segment is in
        raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="run the same command again to resume"):
        run_distributed(settings, dist, progress=False, on_segment=die)
    folder = work_folder_for(settings.output)
    finished = sorted(int(p.stem.split("_")[1]) for p in folder.glob("segment_*.json"))
    if len(finished) == 3:  # every task beat the driver's exit (a race on a busy machine): undo the last
        for path in folder.glob(f"segment_{finished.pop():05d}*"):
            path.unlink()
    assert 1 <= len(finished) < 3
    stamps = {k: os.stat(record_path(folder / f"segment_{k:05d}.mp4")).st_mtime_ns for k in finished}

    seen = []
    # No --segments now: the rerun keeps the interrupted run's 3 ranges (the cluster alone would give 2).
    report = run_distributed(settings, DistributedSettings(lead_in=2), progress=False,
                             on_segment=lambda r: seen.append((r.index, os.stat(record_path(r.path)).st_mtime_ns)))
    assert report.segments == 3 and report.reused == finished
    assert sorted(report.ran) == sorted(set(range(3)) - set(finished))
    assert all(stamps.get(k) is None for k, _ in seen)  # finished segments were not redone
    assert report.frames == N and frame_times(settings.output) == frame_times(clip)


def test_batch_video_runs_every_clip_as_a_task_and_skips_finished_ones(local_ray, files, tmp_path, capsys):
    clip, style = files
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    make_clip(source / "a.mp4", images=pan_frames(6, W, H), audio=False)
    make_clip(source / "b.mov", images=pan_frames(5, W, H, seed=5))
    (source / "notes.txt").write_text("not a video")
    assert run_cli(["batch-video", source, style, "-o", target, *FAST, "--ray"]) == 0
    assert probe(target / "a.mp4").frame_count == 6 and probe(target / "b.mp4").frame_count == 5
    assert audio_packets(target / "b.mp4") == audio_packets(source / "b.mov")
    assert "skipped: notes.txt: not a video" in capsys.readouterr().err
    stamp = os.stat(target / "a.mp4").st_mtime_ns
    assert run_cli(["batch-video", source, style, "-o", target, *FAST, "--ray"]) == 0
    assert os.stat(target / "a.mp4").st_mtime_ns == stamp


# -- without Ray ---------------------------------------------------------------------------------


def test_without_ray_installed_the_message_names_the_extra(files, tmp_path, monkeypatch, capsys):
    clip, style = files
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    assert run_cli([clip, style, "-o", tmp_path / "out.mp4", *FAST, "--ray"]) == 1
    assert capsys.readouterr().err.strip() == (
        "vidstyle: error: --ray needs Ray, which is not installed here: pip install 'vidstyle[ray]'")
    assert run_cli(["batch-video", tmp_path, style, "-o", tmp_path / "o", *FAST, "--ray", "auto"]) == 1
    assert "pip install 'vidstyle[ray]'" in capsys.readouterr().err
    assert run_cli([clip, style, "-o", tmp_path / "out.mp4", *FAST, "--segments", "2"]) == 1
    assert capsys.readouterr().err.strip() == "vidstyle: error: --segments and --lead-in need --ray"
    with pytest.raises(RayMissing, match="pip install"):
        run_distributed(settings_for(clip, style, tmp_path / "x.mp4"), DistributedSettings())


def test_batch_video_reports_a_failed_clip_on_every_rerun(files, tmp_path, capsys):
    """A truncated clip's partial output is not a finished clip: reruns report it failed again."""
    clip, style = files
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    data = make_clip(tmp_path / "d.mkv", images=pan_frames(12, W, H), audio=False).read_bytes()
    (source / "d.mkv").write_bytes(data[: len(data) * 2 // 3])
    (source / "good.mp4").write_bytes(Path(clip).read_bytes())
    for done_before in (0, 1):  # the good clip is done by the first run: the rerun counts only what it ran
        assert run_cli(["batch-video", source, style, "-o", target, *FAST]) == 1
        err = capsys.readouterr().err
        tried = 2 - done_before
        assert "failed: d.mkv:" in err
        assert f"1 of the {tried} clips stylized in this run failed (see above; {done_before} already done" in err
    assert 1 <= probe(target / "d.mp4").frame_count < 12  # the frames before the damage are delivered


def test_batch_video_keeps_and_reports_an_output_made_with_other_settings(files, tmp_path, capsys):
    """A finished output carries its settings' stamp; a rerun with other settings neither counts it
    as done nor replaces it (exit 1, named), and --overwrite redoes it. The same settings skip it."""
    clip, style = files
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "a.mp4").write_bytes(Path(clip).read_bytes())
    assert run_cli(["batch-video", source, style, "-o", target, *FAST]) == 0
    first = (target / "a.mp4").read_bytes()
    assert container_comment(target / "a.mp4").startswith(STAMP_PREFIX)
    loud = [a for a in FAST if a != "--quiet"]  # the summary line
    capsys.readouterr()
    assert run_cli(["batch-video", source, style, "-o", target, *loud]) == 0  # same settings: done
    assert "0 stylized, 1 already done, 0 failed" in capsys.readouterr().err
    assert (target / "a.mp4").read_bytes() == first
    assert run_cli(["batch-video", source, style, "-o", target, *loud, "--alpha", "7"]) == 1
    err = capsys.readouterr().err
    assert "skipped: a.mp4: made with other settings; --overwrite redoes it" in err
    assert "0 already done, 1 made with other settings (kept)" in err
    assert "pass --overwrite to redo them" in err
    assert (target / "a.mp4").read_bytes() == first
    assert run_cli(["batch-video", source, style, "-o", target, *FAST, "--alpha", "7", "--overwrite"]) == 0
    assert (target / "a.mp4").read_bytes() != first
    assert run_cli(["batch-video", source, style, "-o", target, *FAST, "--alpha", "7"]) == 0  # now it is done
    assert run_cli(["batch-video", source, style, "-o", target, *FAST, "--alpha", "7", "--max-frames", "2"]) == 1


def test_tasks_get_every_path_absolute(tmp_path, monkeypatch):
    """Tasks run in a working directory of their own: input, output, styles and --init travel absolute."""
    from vidstyle.scale.cluster import worker_settings

    monkeypatch.chdir(tmp_path)
    settings = VideoSettings(input="in.mp4", output="out/o.mp4", style=StyleSettings(paths=("s.png", "/abs/t.png")),
                             optim=OptimSettings(init="start.png"))
    moved = worker_settings(settings)
    assert (moved.input, moved.output) == (str(tmp_path / "in.mp4"), str(tmp_path / "out" / "o.mp4"))
    assert moved.style.paths == (str(tmp_path / "s.png"), "/abs/t.png")
    assert moved.optim.init == str(tmp_path / "start.png")
    assert worker_settings(VideoSettings(optim=OptimSettings(init="random"))).optim.init == "random"
    assert worker_settings(VideoSettings()).input == ""  # a template without an input stays one


def test_batch_video_refuses_a_file_or_an_empty_folder_as_input(tmp_path):
    from vidstyle.scale.clip_folder import BatchVideoError, plan_batch_video

    (tmp_path / "empty").mkdir()
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    with pytest.raises(BatchVideoError, match="clip.mp4 is a file; batch-video takes a folder of clips"):
        plan_batch_video(clip, tmp_path / "out")
    with pytest.raises(BatchVideoError, match="has no files"):
        plan_batch_video(tmp_path / "empty", tmp_path / "out")
