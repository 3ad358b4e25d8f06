"""Cut detectors compared: false cuts on real clips, splices found, and pans that start (the webcam's case).

Scores every frame with PySceneDetect's content score (mean HSV change against the frame before,
0-255), then applies each rule to the scores:

* ``adaptive-2``: the video's rule (:class:`vidstyle.video.shots.ShotDetector`, window 2): a frame's
  score over the mean of the two frames on either side; its verdict comes two frames later;
* ``adaptive-1``: the webcam's (window 1): one frame of look-ahead;
* ``causal-k``: the score over the mean of the k frames *before* it only (no look-ahead);
* ``content-T``: PySceneDetect's plain content detector, a fixed score threshold T.

All with a ratio threshold of 3, a least score of 15 and no two cuts within 8 frames, as the
defaults. Numbers, not a test: nothing is asserted.

    python scripts/bench_shots.py ../shared/media/video_*.mp4 ../shared/media/video_*.webm --sizes 256,128
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidstyle.media.video_files import processing_size, read_frames  # noqa: E402
from vidstyle.settings import VideoSettings  # noqa: E402

RULES = ("adaptive-2", "adaptive-1", "causal-2", "causal-4", "content-27", "content-50")


def content_scores(frames: list[np.ndarray]) -> list[float]:
    """PySceneDetect's content score of each frame against the one before (0 for the first)."""
    from scenedetect import ContentDetector, FrameTimecode, StatsManager

    detector, stats, scores = ContentDetector(threshold=255.0, min_scene_len=1), StatsManager(), []
    detector.stats_manager = stats
    for i, frame in enumerate(frames):
        timecode = FrameTimecode(i, fps=25.0)
        detector.process_frame(timecode, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        scores.append(float(stats.get_metrics(timecode, ["content_val"])[0] or 0.0) if i else 0.0)
    return scores


def cuts(scores: list[float], rule: str) -> list[int]:
    """The frames ``rule`` marks as cuts, given each frame's content score."""
    d = VideoSettings()
    kind, number = rule.split("-")
    k, s, found, last = int(number), np.asarray(scores), [], 1
    for t in range(1, len(s)):
        if kind == "content":
            hit = s[t] >= k
        else:
            if t - k < 1 or (kind == "adaptive" and t + k >= len(s)):
                continue
            around = np.r_[s[t - k:t], s[t + 1:t + k + 1]] if kind == "adaptive" else s[t - k:t]
            mean = around.mean()
            ratio = min(s[t] / mean, 255.0) if mean > 1e-5 else (255.0 if s[t] >= d.scene_min_content else 0.0)
            hit = ratio >= d.scene_threshold and s[t] >= d.scene_min_content
        if hit and t - last >= d.scene_min_frames:
            found.append(t)
            last = t
    return found


def read(path: str, long_side: int, frames: int | None = None) -> list[np.ndarray]:
    first = next(read_frames(path, max_frames=1)).image
    size = processing_size(first.shape[1], first.shape[0], long_side)
    return [frame.image for frame in read_frames(path, size=size, max_frames=frames)]


def still_then_pan(width: int, height: int, step: int) -> list[np.ndarray]:
    """A blurred textured scene, still for 12 frames, then panning ``step`` px per frame."""
    rng = np.random.default_rng(3)
    scene = cv2.resize(rng.integers(0, 256, (height // 8, (width + 30 * step) // 8, 3), dtype=np.uint8),
                       (width + 30 * step, height), interpolation=cv2.INTER_CUBIC)
    scene = cv2.GaussianBlur(scene, (0, 0), 1.5)
    return [np.ascontiguousarray(scene[:, :width])] * 12 + [np.ascontiguousarray(scene[:, i * step:i * step + width])
                                                             for i in range(30)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", help="video files without hard cuts")
    parser.add_argument("--sizes", default="256", help="long sides, comma-separated [default: 256]")
    parser.add_argument("--piece", type=int, default=40, help="frames of each clip in the splice [default: 40]")
    args = parser.parse_args()
    for long_side in (int(v) for v in args.sizes.split(",")):
        clips = {Path(path).name: read(path, long_side) for path in args.clips}
        width, height = next(iter(clips.values()))[0].shape[1::-1]
        pieces = [[cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames[:args.piece]]
                  for frames in clips.values()]
        splice = [frame for piece in pieces for frame in piece]
        truth = list(np.cumsum([len(piece) for piece in pieces])[:-1])
        scores = {name: content_scores(frames) for name, frames in clips.items()}
        splice_scores = content_scores(splice)
        pans = {step: content_scores(still_then_pan(width, height, step)) for step in (2, 4, 8, 16)}
        print(f"--- long side {long_side}; splice of {len(pieces)} clips, cuts at {truth}")
        for rule in RULES:
            false = {name[:16]: len(cuts(s, rule)) for name, s in scores.items()}
            found = cuts(splice_scores, rule)
            right = len(set(found) & set(truth))
            pan = {step: len(cuts(s, rule)) for step, s in pans.items()}
            print(f"{rule:11s} false cuts per clip {false}; splices found {right}/{len(truth)}, "
                  f"other cuts {len(found) - right}; cuts on a still-then-pan at 2/4/8/16 px/frame {pan}")


if __name__ == "__main__":
    main()
