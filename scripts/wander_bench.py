"""Does the look wander? A shot played forward then backward, so every input frame comes twice.

    python scripts/wander_bench.py ../shared/media/video_his_girl_friday.mp4 --frames 100 --size 96

The clip's first ``--frames`` frames at the processing size, then the same frames back to the
first (``0 .. n-1, n-2 .. 0``: 2n - 1 frames, written losslessly), run through the real pipeline
(``run_video``) in each mode of ``scripts/temporal_bench.py`` asked for. A chain whose look
depends only on the input stylizes a frame the same way on both visits; one that drifts does
not, and the more so the longer the chain ran between the visits. Per mode:

* **visits**: the mean squared difference between the two outputs of the same input frame
  (frame i at positions i and 2n - 2 - i, ``gap`` = 2n - 2 - 2i frames apart), mean over the
  frames in each gap range (``--gaps``), and that over the output's mean squared distance from
  the content (how much of the whole stylization differs between visits);
* **style loss of the warm frames over the cold first frame's** (sum over the style layers of
  w_l L_style_l of the decoded output against the style, lower is more stylized): their mean,
  their largest, and the last frame's (the first input frame again, after 2n - 2 frames of chain);
* warping error (``vidstyle eval``) and the mean squared distance from the content, so that a
  steady look bought by stylizing less shows.

JSON lines on stdout, a Markdown table on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from temporal_bench import (  # noqa: E402  (a sibling script, not a package)
    add_run_arguments,
    bench_network,
    content_distance,
    machine,
    mode_settings,
    parsed_modes,
    run,
    style_losses,
    unit_frame,
    write_clip,
)

from vidstyle.core.stylizer import Stylizer  # noqa: E402
from vidstyle.media.video_files import probe, processing_size, read_frames  # noqa: E402
from vidstyle.settings import VideoSettings  # noqa: E402
from vidstyle.video.metrics import evaluate_video  # noqa: E402

GAPS = ((2, 20), (21, 60), (61, 120), (121, 250))  # the ranges the issue quoted its drift in


def palindrome(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``frames`` forward then back to the first: ``0 .. n-1, n-2 .. 0`` (the turn shown once)."""
    return list(frames) + list(frames[-2::-1])


def visit_pairs(count: int) -> list[tuple[int, int, int]]:
    """For a palindrome of ``count`` (odd) frames: ``(first position, second position, gap)`` of
    every input frame shown twice, i.e. positions i and count - 1 - i, gap count - 1 - 2i."""
    if count % 2 == 0:
        raise ValueError(f"a palindrome of distinct frames has an odd length, not {count}")
    return [(i, count - 1 - i, count - 1 - 2 * i) for i in range(count // 2)]


def visit_differences(outputs: Sequence[np.ndarray], gaps: Sequence[tuple[int, int]] = GAPS) -> dict[str, float]:
    """Per gap range ``(lo, hi)`` (inclusive): the mean over the input frames seen twice that far
    apart of the mean squared difference between their two outputs (NaN: no such pair)."""
    pairs = visit_pairs(len(outputs))
    result = {}
    for lo, hi in gaps:
        values = [float(((unit_frame(outputs[a]) - unit_frame(outputs[b])) ** 2).mean()) for a, b, gap in pairs
                  if lo <= gap <= hi]
        result[f"{lo}-{hi}"] = float(np.mean(values)) if values else float("nan")
    return result


def warm_over_cold(style: Sequence[float]) -> dict[str, float]:
    """The warm frames' style losses over the first (cold) frame's: mean, largest and the last frame's."""
    ratios = np.asarray(style[1:], dtype=np.float64) / style[0]
    return {"mean": float(ratios.mean()), "max": float(ratios.max()), "last": float(ratios[-1])}


def table(rows: list[dict], gaps: Sequence[tuple[int, int]]) -> list[str]:
    """The Markdown table of one clip's rows."""
    names = [f"{lo}-{hi}" for lo, hi in gaps]
    lines = ["| mode | " + " | ".join(f"visits {n} apart (/ distance)" for n in names)
             + " | warm style loss / cold: mean, max, last | warping error | distance from content | iterations / frame |",
             "| --- | " + " | ".join("---" for _ in names) + " | --- | --- | --- | --- |"]
    for r in rows:
        visits = " | ".join(f"{r['visits'][n]:.2g} ({r['visits'][n] / r['content_distance']:.1%})"
                            if r['visits'][n] == r['visits'][n] else "-" for n in names)
        s = r["style_over_cold"]
        lines.append(f"| {r['mode']} | {visits} | {s['mean']:.2f}, {s['max']:.2f}, {s['last']:.2f} | "
                     f"{r['warping_error']:.3g} | {r['content_distance']:.3g} | {r['mean_iterations']:.1f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, modes="flow,defaults", frames=100, frames_help="frames played forward (then back)",
                      warm_iters=15, temporal_weight=VideoSettings().loss.temporal_weight)
    args = parser.parse_args(argv)
    modes = parsed_modes(parser, args)
    if args.frames < 2:
        parser.error("--frames must be at least 2")

    extractor, styles = bench_network(args)
    tables = []
    with tempfile.TemporaryDirectory() as folder:
        for clip in args.clips:
            info = probe(clip)
            size = processing_size(info.width, info.height, args.size)
            frames = [f.image for f in read_frames(clip, size=size, max_frames=args.frames)]
            path = write_clip(Path(folder) / f"{Path(clip).stem}_palindrome.mp4", palindrome(frames))
            rows = []
            for mode in modes:
                out = Path(folder) / f"{Path(clip).stem}_{mode}_palindrome.mp4"
                settings = mode_settings(mode, path, str(out), args, None)
                report, outputs, inputs = run(settings, extractor, styles)
                stylizer = Stylizer(extractor, styles, loss=settings.loss, model=settings.model)
                iterations = report.cold_iterations + report.warm_iterations
                row = {"clip": Path(clip).name, "mode": mode, "frames": len(outputs), "forward": len(frames),
                       "size": list(size), "visits": visit_differences(outputs),
                       "style_over_cold": warm_over_cold(style := style_losses(stylizer, outputs, inputs)),
                       "style_series": [value / style[0] for value in style],
                       "warping_error": evaluate_video(str(out), path).mean,
                       "content_distance": content_distance(outputs, inputs),
                       "mean_iterations": sum(iterations) / len(iterations), "cuts": report.cuts,
                       "weights": report.weights_label, "machine": machine()}
                rows.append(row)
                print(json.dumps(row), flush=True)
            first = rows[0]
            lines = [f"\n{first['clip']}: {len(frames)} frames forward then back ({first['frames']} frames) at "
                     f"{size[0]}x{size[1]}; weights {first['weights']}; {first['machine']}; style "
                     f"{Path(args.style).name}; L-BFGS {args.iters} cold / {args.warm_iters} warm; cuts found "
                     f"{first['cuts'] or 'none'}", "", *table(rows, GAPS)]
            tables += lines
            print("\n".join(lines), file=sys.stderr, flush=True)
    print("\n".join(tables), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
