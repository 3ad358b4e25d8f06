"""Reliability figures of the offline video run: memory over a long run, random kills, bad inputs.

    python scripts/reliability_check.py rss --frames 1200        # RSS and native threads, sampled
    python scripts/reliability_check.py kill --kills 20          # random SIGKILLs, each followed by a rerun
    python scripts/reliability_check.py bad-inputs               # the bad-input table

Clips are made from the pictures in ../shared/media (a pan across one) at tiny sizes, in a temporary
folder; runs use ``--weights random``. Everything printed is measured here; nothing is committed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT.parent.parent / "shared" / "media"
FAST = ["--weights", "random", "--iters", "2", "--warm-iters", "1", "--optimizer", "adam", "--device", "cpu",
        "--quiet"]


def media(name: str) -> Path:
    for folder in (MEDIA, Path("/work/shared/media")):
        if (folder / name).exists():
            return folder / name
    raise SystemExit(f"missing {name} in {MEDIA}")


def make_clip(path: Path, frames: int, width: int = 64, height: int = 48, audio: bool = True) -> Path:
    """A pan across content_tubingen.jpg, H.264 at 10 fps, with a sine as AAC audio."""
    picture = cv2.cvtColor(cv2.imread(str(media("content_tubingen.jpg"))), cv2.COLOR_BGR2RGB)
    scene = cv2.resize(picture, (width * 4, height))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"crf": "20"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=16000, layout="mono") if audio else None
        for i in range(frames):
            x = (i * 2) % (width * 3)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(scene[:, x:x + width]), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if sound is not None:
            t = np.arange(int(16000 * frames / 10)) / 16000
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for start in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(samples[:, start:start + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 16000, start
                for packet in sound.encode(chunk):
                    container.mux(packet)
            for packet in sound.encode(None):
                container.mux(packet)
    return path


def vidstyle(*args, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "vidstyle", *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def proc_status(pid: int) -> tuple[int, int] | None:
    """(RSS in KiB, threads) of a live process."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    if "VmRSS" not in fields:  # exiting (a zombie has no memory left)
        return None
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


def rss(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="vidstyle-rss-"))
    try:
        clip = make_clip(work / "clip.mp4", args.frames)
        out = work / "out.mp4"
        process = vidstyle(clip, media("style_starry_night.jpg"), "-o", out, *FAST, "--size", str(args.size),
                           "--segment-frames", str(args.segment_frames))
        state = work / ".out.mp4.vidstyle-work" / "state.json"
        samples = []
        started = time.time()
        while process.poll() is None:
            status = proc_status(process.pid)
            done = 0
            try:
                done = sum(s["count"] for s in json.loads(state.read_text())["segments"])
            except (OSError, ValueError, KeyError):
                pass
            if status is not None:
                samples.append((time.time() - started, done, *status))
            time.sleep(args.every)
        _, err = process.communicate()
        print(f"exit {process.returncode}; {err.strip().splitlines()[-1] if err.strip() else ''}")
        print("seconds  frames_done  rss_MiB  threads")
        for t, done, kib, threads in samples:
            print(f"{t:7.1f}  {done:11d}  {kib / 1024:7.1f}  {threads:7d}")
        after = [s for s in samples if s[1] >= args.segment_frames]
        if after:
            low, high = min(s[2] for s in after), max(s[2] for s in after)
            print(f"after the first segment: RSS {low / 1024:.1f}-{high / 1024:.1f} MiB "
                  f"({(high - low) / low * 100:.1f}% spread), threads {min(s[3] for s in after)}-"
                  f"{max(s[3] for s in after)}; frames {after[0][1]}-{after[-1][1]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def leftovers(folder: Path, out: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{out.name}"))


def kill(args: argparse.Namespace) -> None:
    """Random SIGKILLs across whole runs (startup, mid-segment, between segments, assembly), each
    followed by a rerun; the result is compared with an uninterrupted run's, frame by frame."""
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="vidstyle-kill-"))
    try:
        clip = make_clip(work / "clip.mp4", args.frames)
        style = media("style_the_scream.jpg")
        common = [clip, style, *FAST, "--size", str(args.size), "--segment-frames", str(args.segment_frames)]
        clean = work / "clean.mp4"
        started = time.time()
        done = vidstyle(*common, "-o", clean)
        done.communicate()
        full_seconds = time.time() - started
        reference = decoded(clean)
        print(f"uninterrupted run: {len(reference)} frames in {full_seconds:.1f} s")
        rows = []
        for trial in range(args.kills):
            out = work / f"out{trial}.mp4"
            phase_wanted = args.phases[trial % len(args.phases)]
            delay = rng.uniform(0.2, full_seconds * 1.05) if phase_wanted == "random" else rng.uniform(0.5, 6)
            process = vidstyle(*common, "-o", out)
            started = time.time()
            if phase_wanted in ("random", "startup"):
                time.sleep(delay)
            else:  # poll the state: kill right after a segment is recorded, or once all frames are in
                state_file = work / f".{out.name}.vidstyle-work" / "state.json"
                target = len(reference) if phase_wanted == "assembly" else rng.randrange(1, len(reference) // 8) * 8
                while process.poll() is None:
                    try:
                        if sum(s["count"] for s in json.loads(state_file.read_text())["segments"]) >= target:
                            break
                    except (OSError, ValueError, KeyError):
                        pass
                    time.sleep(0.01)
                delay = time.time() - started
            killed = process.poll() is None
            if killed:
                process.send_signal(signal.SIGKILL)
            process.communicate()
            state = work / f".{out.name}.vidstyle-work" / "state.json"
            try:
                kept = sum(s["count"] for s in json.loads(state.read_text())["segments"])
            except (OSError, ValueError, KeyError):
                kept = -1
            folder = work / f".{out.name}.vidstyle-work"
            phase = ("finished before the kill" if not killed else
                     "after clean-up (output complete)" if out.exists() and not folder.exists() else
                     "assembly (output in place)" if out.exists() else
                     "startup (no work folder yet)" if not folder.exists() else
                     "startup (nothing finished)" if kept <= 0 else
                     "assembly" if kept == len(reference) else f"mid-run ({kept} frames kept)")
            rerun = vidstyle(*common, "-o", out)
            _, err = rerun.communicate()
            frames = decoded(out) if out.exists() else []
            diffs = [int(np.abs(a.astype(int) - b).max()) for a, b in zip(frames, reference)]
            differing = sum(d > 0 for d in diffs)
            rows.append((trial, round(delay, 1), phase, rerun.returncode, len(frames) - len(reference), differing,
                         max(diffs, default=0), leftovers(work, out)))
            print(rows[-1], err.strip().splitlines()[-1:] if rerun.returncode else "", flush=True)
        print("trial  kill_at_s  phase  rerun_exit  frames_missing(-)/extra(+)  encoded_frames_differing  max_diff  "
              "leftovers")
        for row in rows:
            print(*row, sep="  ")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bad_inputs(args: argparse.Namespace) -> None:
    """Each bad input: exit code, the last stderr line, seconds until the refusal, leftovers."""
    work = Path(tempfile.mkdtemp(prefix="vidstyle-bad-"))
    try:
        good = make_clip(work / "good.mp4", 12)
        style = media("style_shipwreck.jpg")
        data = good.read_bytes()
        cases: list[tuple[str, list]] = []

        def file(name: str, content: bytes) -> Path:
            path = work / name
            path.write_bytes(content)
            return path

        cases.append(("empty file", [file("empty.mp4", b""), style]))
        for percent in (1, 10, 50, 90):
            cases.append((f"truncated {percent}%", [file(f"trunc{percent}.mp4", data[:len(data) * percent // 100]),
                                                     style]))
        flipped = bytearray(data)
        rng = random.Random(1)
        for _ in range(20):
            at = rng.randrange(len(data) // 4, len(data))
            flipped[at] ^= 0xFF
        cases.append(("bit-flipped", [file("flipped.mp4", bytes(flipped)), style]))
        audio_only = work / "audio.m4a"
        with av.open(str(good)) as source, av.open(str(audio_only), "w") as target:
            stream = target.add_stream_from_template(source.streams.audio[0])
            for packet in source.demux(source.streams.audio[0]):
                if packet.size:
                    packet.stream = stream
                    target.mux(packet)
        cases.append(("audio only", [audio_only, style]))
        cases.append(("zero frames (--start past the end)", [good, style, "--start", "100"]))
        one = work / "one.mp4"
        make_tiny(one, 2, 2)
        cases.append(("2x2 video", [one, style]))
        cases.append(("1x1 image", [image(work / "one.png", np.zeros((1, 1, 3), np.uint8)), style]))
        cases.append(("grayscale image", [image(work / "gray.png", np.full((40, 56), 128, np.uint8)), style]))
        cases.append(("16-bit image", [image(work / "deep.png", np.full((40, 56, 3), 40000, np.uint16)), style]))
        cases.append(("alpha image", [image(work / "alpha.png", np.full((40, 56, 4), 200, np.uint8)), style]))
        cmyk = work / "cmyk.jpg"
        if shutil.which("convert"):
            subprocess.run(["convert", str(media("content_tubingen.jpg")), "-resize", "56x40", "-colorspace",
                            "CMYK", str(cmyk)], check=False)
            cases.append(("CMYK JPEG", [cmyk, style]))
        gif = work / "anim.gif"
        with av.open(str(gif), "w") as container:
            stream = container.add_stream("gif", rate=10)
            stream.width, stream.height, stream.pix_fmt = 56, 40, "rgb8"
            for i in range(3):
                frame = av.VideoFrame.from_ndarray(np.full((40, 56, 3), 60 * i, np.uint8), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        cases.append(("GIF", [gif, style]))
        weird = work / "we ird ü -name;$(x).mp4"
        shutil.copy(good, weird)
        cases.append(("weird path", [weird, style, "--max-frames", "2"]))
        cases.append(("-o out.xyz", [good, style, "-o", work / "out.xyz"]))
        cases.append(("-o out (no extension)", [good, style, "-o", work / "out"]))
        cases.append(("-o out.png for a video", [good, style, "-o", work / "out.png"]))
        cases.append(("-o out.webm --codec libx264", [good, style, "-o", work / "o1.webm", "--codec", "libx264"]))
        cases.append(("-o out.webm (VP9 chosen)", [good, style, "-o", work / "o2.webm", "--max-frames", "2"]))
        cases.append(("--codec prores_ks -o out.mp4", [good, style, "-o", work / "p.mp4", "--codec", "prores_ks"]))
        cases.append(("--codec h264_nvenc", [good, style, "-o", work / "n.mp4", "--codec", "h264_nvenc"]))
        cases.append(("--codec aac", [good, style, "-o", work / "a.mp4", "--codec", "aac"]))
        cases.append(("--crf 100", [good, style, "-o", work / "c.mp4", "--crf", "100"]))
        cases.append(("--codec ffv1 --crf 20", [good, style, "-o", work / "f.mp4", "--codec", "ffv1", "--crf", "20"]))
        photo = image(work / "photo.jpg", np.full((40, 56, 3), 90, np.uint8))
        cases.append(("image -o out.xyz", ["image", photo, style, "-o", work / "out.xyz"]))
        cases.append(("image -o x.mp4", ["image", photo, style, "-o", work / "x.mp4"]))
        cases.append(("image -o its own input", ["image", photo, style, "-o", photo]))
        cases.append(("eval on a 2x2 video", ["eval", one, "--reference", one]))
        print("case | exit | seconds | last line | leftovers")
        for name, case in cases:
            before = set(work.iterdir())
            is_eval = case[0] == "eval"
            extra = [] if is_eval else [*FAST, "--size", "32"]
            if case[0] == "image":
                extra = [a for a in extra if a not in ("--warm-iters", "1")]
                extra = ["--weights", "random", "--iters", "2", "--device", "cpu", "--quiet", "--size", "32"]
            started = time.time()
            process = vidstyle(*case, *extra, cwd=work)
            _, err = process.communicate()
            seconds = time.time() - started
            lines = [line for line in err.strip().splitlines() if line.strip()]
            new = sorted(p.name for p in set(work.iterdir()) - before if p.name.startswith("."))
            print(f"{name} | {process.returncode} | {seconds:.1f} | {lines[-1] if lines else ''} | {new}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def image(path: Path, array: np.ndarray) -> Path:
    cv2.imwrite(str(path), array)
    return path


def make_tiny(path: Path, width: int, height: int) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("rss", help="RSS and native threads over a long run")
    p.add_argument("--frames", type=int, default=1200)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--segment-frames", type=int, default=30)
    p.add_argument("--every", type=float, default=3.0, help="seconds between samples")
    p.set_defaults(run=rss)
    p = commands.add_parser("kill", help="random SIGKILLs, each followed by a rerun")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--segment-frames", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--phases", default="random", type=lambda text: text.split(","),
                   help="comma-separated, used in turn: random, startup, between (just after a segment is "
                        "recorded), assembly (once every frame is in)")
    p.set_defaults(run=kill)
    p = commands.add_parser("bad-inputs", help="the bad-input table")
    p.set_defaults(run=bad_inputs)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
