"""Ray: ``vidstyle INPUT STYLE --ray`` (one video in frame ranges) and ``vidstyle batch-video``.

The work itself is in :mod:`vidstyle.scale.distributed` and :mod:`vidstyle.scale.clip_folder`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from ..settings import VideoSettings
from .options import (
    ESSENTIALS,
    EXIT_OK,
    CommandError,
    add_common_options,
    add_option,
    add_stylize_options,
    add_video_options,
    essentials_group,
    nonnegative_int,
    option_value,
    positive_int,
    video_settings,
)
from .parser import FORMATTER


def add_ray_options(parser: argparse.ArgumentParser, segments: bool = True) -> None:
    from ..settings import DistributedSettings

    d = DistributedSettings()
    g = parser.add_argument_group("Ray cluster (pip install 'vidstyle[ray]')")
    g.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run as Ray tasks, one GPU each where the cluster has GPUs (else --ray-cpus CPUs); ADDRESS "
                        "of an existing cluster (e.g. auto, ray://head:10001); without it: $RAY_ADDRESS, a cluster "
                        "started on this machine, or a new local Ray. Inputs and the work folder beside the output "
                        "must be on storage every node can read [default: off]")
    if segments:
        add_option(g, "--segments", type=positive_int, metavar="N", default="one per task slot of the cluster",
                   help="frame ranges to split the video into, one task each")
        add_option(g, "--lead-in", type=nonnegative_int, metavar="L", default=d.lead_in,
                   help="frames before each range (after the first) stylized to warm the frame chain up, then discarded")
    add_option(g, "--ray-retries", type=nonnegative_int, metavar="N", default=d.max_retries,
               help="retries of a failed task (crashed worker, lost node, error) before the run gives up")
    add_option(g, "--ray-cpus", type=positive_int, metavar="N", default=d.cpus_per_task,
               help="CPU cores (and torch threads) per task on a cluster without GPUs")


def distributed_settings(args: argparse.Namespace) -> Any:
    from ..settings import DistributedSettings

    d = DistributedSettings()
    return DistributedSettings(
        address=args.ray or None, segments=option_value(args, "segments", d.segments),
        lead_in=option_value(args, "lead_in", d.lead_in), max_retries=option_value(args, "ray_retries", d.max_retries),
        cpus_per_task=option_value(args, "ray_cpus", d.cpus_per_task),
    )


def video_on_ray(args: argparse.Namespace, settings: VideoSettings, styles: list) -> int:
    """``vidstyle INPUT STYLE --ray [ADDRESS]``: the video in frame ranges, one Ray task each."""
    from tqdm import tqdm

    from ..scale.cluster import require_ray
    from ..scale.distributed import run_distributed

    require_ray()  # before any weights are loaded
    dist = distributed_settings(args)
    bars = []

    def on_start(start) -> None:  # noqa: ANN001
        if start.reused_segments and not args.quiet:
            print(f"resuming: {start.reused_segments} of {start.segments} segments ({start.reused_frames} frames) "
                  f"already finished in {start.work_folder}", file=sys.stderr)
        slots = f"{start.slots} {'GPU' if start.gpu else 'CPU'} slot{'s' if start.slots != 1 else ''}"
        bars.append(tqdm(total=start.frames, initial=start.reused_frames, desc=f"frames ({start.segments} segments, "
                         f"{slots})", unit="frame", disable=args.quiet, dynamic_ncols=True))

    def on_segment(result) -> None:  # noqa: ANN001
        bars[0].update(result.frames)

    try:
        report = run_distributed(settings, dist, styles=styles, progress=not args.quiet, on_start=on_start,
                                 on_segment=on_segment)
    finally:
        for bar in bars:
            bar.close()
    if not args.quiet:
        w, h = report.processing_size
        print(f"wrote {settings.output}: {report.frames} frames at {w}x{h} in {report.segments} segments "
              f"({len(report.ran)} run now, {len(report.reused)} reused; {report.stylized_frames} frames stylized "
              f"with lead-in) in {report.seconds:.1f} s, weights: {report.weights_label}", file=sys.stderr)
    return EXIT_OK


def batch_video_command(args: argparse.Namespace) -> int:
    """``vidstyle batch-video IN_DIR STYLE... -o OUT_DIR [--ray [ADDRESS]]``."""
    from collections import Counter

    from tqdm import tqdm

    from ..media.image_files import load_image
    from ..scale.clip_folder import run_batch_video
    from ..scale.cluster import require_ray

    if args.ray is not None:
        require_ray()
    template = video_settings(argparse.Namespace(**{**vars(args), "input": "", "output": ""}))
    styles = [load_image(path, "style") for path in template.style.paths]
    dist = distributed_settings(args) if args.ray is not None else None
    counts: Counter[str] = Counter()
    problems = []
    with tqdm(desc="clips", unit="clip", disable=args.quiet, dynamic_ncols=True) as bar:

        def on_event(event) -> None:  # noqa: ANN001
            counts[event.kind] += 1
            if event.kind == "plan":
                bar.reset(total=event.count)
            elif event.kind in ("done", "failed"):
                bar.update(1)
            if event.kind in ("bad", "failed", "stale"):
                problems.append(event)

        run_batch_video(template, args.input_dir, args.output, dist, styles=styles, progress=not args.quiet, on_event=on_event)
    for event in problems:  # after the bar, so the lines stay whole
        what = "failed" if event.kind == "failed" else "skipped"
        warnings.warn(f"{what}: {event.name}: {event.message}", stacklevel=1)
    if not args.quiet:
        stale = f", {counts['stale']} made with other settings (kept)" if counts["stale"] else ""
        print(f"{args.output}: {counts['done']} stylized, {counts['skipped']} already done{stale}, "
              f"{counts['failed']} failed, {counts['bad']} not videos", file=sys.stderr)
    if counts["failed"]:
        tried = counts["done"] + counts["failed"]  # this run's: the ones already done were not retried
        raise CommandError(f"{counts['failed']} of the {tried} clips stylized in this run failed (see above; "
                           f"{counts['skipped']} already done before it); "
                           "rerunning the same command retries the ones that failed before writing anything "
                           "and reports the damaged inputs again (add --restart to redo those)")
    if counts["stale"]:
        raise CommandError(f"{counts['stale']} existing outputs were made with other settings and were kept "
                           "(see above); pass --overwrite to redo them with these settings")
    return EXIT_OK


def add_batch_video_command(commands) -> None:  # noqa: ANN001
    p = commands.add_parser(
        "batch-video", help="stylize every video of a folder (as Ray tasks with --ray; finished outputs skipped)",
        usage="vidstyle batch-video IN_DIR STYLE [STYLE ...] -o OUT_DIR [--ray [ADDRESS]] [options]",
        description="Stylize every video of IN_DIR into OUT_DIR/STEM.mp4 with the same settings. With --ray each "
                    "clip is a Ray task (one GPU each where the cluster has GPUs); without, the clips run one after "
                    "another here. Existing outputs are skipped (rerun to continue; one made with other settings is kept, "
                    "reported and the exit code is 1: --overwrite redoes it), files that are not videos are "
                    "skipped with a warning, and a clip that fails does not stop the others.",
        formatter_class=FORMATTER)
    p.add_argument("input_dir", metavar="IN_DIR", help="folder of videos (not recursive)")
    p.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-blend)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder (created if missing)")
    add_video_options(p)
    add_stylize_options(p, "iterations of each clip's first (cold) frame", colors=False, cartoon=False, video=True)
    add_ray_options(p, segments=False)
    add_common_options(p)
    essentials_group(p, ("--output", "--ray", *ESSENTIALS))
    p.set_defaults(run=batch_video_command)
