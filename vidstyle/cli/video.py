"""``vidstyle video`` (also ``vidstyle INPUT STYLE``) and ``vidstyle eval``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shlex
import sys
import tempfile
import warnings
from pathlib import Path

from ..settings import EVAL_MASKS, PRESETS, VideoSettings
from .image import iteration_bar, stylize_image_file
from .options import (
    ESSENTIALS,
    EXIT_OK,
    CommandError,
    add_common_options,
    add_json_option,
    add_stylize_options,
    add_verbosity_options,
    add_video_options,
    essentials_group,
    image_settings,
    option_value,
    positive_float,
    verbosity,
    video_settings,
)
from .parser import FORMATTER
from .progress import FrameBar, PassBar
from .ray import add_ray_options, video_on_ray
from .report import print_json, print_lines, refuse_overwriting, video_plan, video_report_dict


def check_video_options(args: argparse.Namespace) -> None:
    """Option combinations ``vidstyle video`` refuses, before anything is read."""
    from ..media.frame_sources import is_pipe

    if getattr(args, "start_frame", None) is not None and args.start is not None:
        raise CommandError("--start-frame and --start both say where to begin; give one")
    if is_pipe(args.output) and args.json:
        raise CommandError("--json and -o - both write to stdout; give a file as -o")
    if is_pipe(args.output) and args.preview:
        raise CommandError("--preview writes a picture beside the output: give -o a file, not -")
    if args.preview and getattr(args, "report", None) is not None:
        raise CommandError("--report describes a run's video and --preview makes none: use --json for the preview")
    if getattr(args, "ray", None) is not None and (is_pipe(args.input) or is_pipe(args.output)):
        raise CommandError("--ray needs files on shared storage, not pipes")
    # An option that only shapes another one would otherwise be accepted and do nothing.
    # (A preset may set the option it needs: option_value reads both.)
    for option, dest, needs, active in (
            ("--refine-iters", "refine_iters", "--keyframe-every", option_value(args, "keyframe_every", 0)),
            ("--pass-blend", "pass_blend", "--passes 2 or more", option_value(args, "passes", 1) > 1),
            ("--ray-cpus", "ray_cpus", "--ray", getattr(args, "ray", None) is not None)):
        if getattr(args, dest, None) is not None and not active:
            raise CommandError(f"{option} has no effect without {needs}")


# What an image INPUT (stylized whole, by image mode) cannot use: said instead of ignored silently.
VIDEO_ONLY = {"max_frames": "--max-frames", "start": "--start", "duration": "--duration", "start_frame": "--start-frame",
              "warm_iters": "--warm-iters", "temporal_weight": "--temporal-weight", "init_mode": "--init-mode",
              "codec": "--codec", "crf": "--crf", "pix_fmt": "--pix-fmt", "passes": "--passes",
              "long_term": "--long-term", "keyframe_every": "--keyframe-every", "preview": "--preview",
              "report": "--report"}


def ignored_for_an_image(args: argparse.Namespace) -> list[str]:
    """The video-only options given (:data:`VIDEO_ONLY`) that an image INPUT cannot use."""
    return [flag for dest, flag in VIDEO_ONLY.items() if getattr(args, dest, None) not in (None, False)]


def check_output(args: argparse.Namespace, settings: VideoSettings):  # noqa: ANN201
    """The encoder settings against the codec, then the container, encoder and audio tried on a tiny
    file in a temporary folder: a bad -o, --codec or --crf is refused before anything is decoded.
    Returns the :class:`~vidstyle.media.containers.OutputPlan`."""
    from ..media.containers import OutputError, check_quality, plan_output

    preset = PRESETS.get(getattr(args, "preset", None) or "", {})
    explicit = {name: getattr(args, name, None) is not None or name in preset for name in ("codec", "crf")}
    try:
        check_quality(settings.codec, settings.crf, explicit["crf"])
        return plan_output(settings.output, settings.codec, crf=settings.crf, explicit_codec=explicit["codec"],
                           audio_source=settings.input if settings.audio else None,
                           pix_fmt=None if settings.pix_fmt == "auto" else settings.pix_fmt, tune=settings.tune)
    except OutputError as error:
        raise CommandError(str(error)) from None


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # image_files' (it imports torch)
MIN_FLOW_SIDE = 16  # OpenCV's DIS optical flow refuses frames under 12 pixels on both sides


def video_command(args: argparse.Namespace) -> int:
    """``vidstyle INPUT STYLE... [-o OUTPUT]``: stylize a video (an image INPUT falls through to image mode).

    INPUT and OUTPUT may be ``-`` (stdin/stdout) or a frame folder pattern (``frames/%05d.png``).
    """
    check_video_options(args)
    with contextlib.ExitStack() as cleanup:
        return _video_command(args, cleanup)


def _video_command(args: argparse.Namespace, cleanup: contextlib.ExitStack) -> int:
    from ..media.containers import OutputError, check_frame_size
    from ..media.frame_sources import PIPE_CONTAINER, frame_gap, frame_start_time, is_frame_pattern, is_pipe, spool
    from ..media.image_files import OPENCV_IMAGE_EXTENSIONS, check_writable, load_image, load_init
    from ..media.video_files import VideoError, probe, processing_size
    from ..video.encode import output_size
    from ..video.long_term import check_long_term
    from ..video.pipeline import RunFailed, default_output, same_file
    from ..video.workdir import recorded_complete, recorded_partial

    def temporary_folder() -> Path:
        return Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="vidstyle-")))

    source = args.input
    if is_pipe(source):  # a pipe cannot be sought or resumed from: copy it to a file first
        source = str(spool(sys.stdin.buffer, temporary_folder() / "stdin"))
    named = args.input  # what the default output is named after: stdin, a frame folder, the video
    if is_pipe(args.input):
        named = "stdin"
    elif is_frame_pattern(args.input):
        named = Path(args.input).parent.name or "frames"
    output = args.output if args.output is not None else default_output(named, args.style[0])
    if getattr(args, "start_frame", None):
        args = argparse.Namespace(**{**vars(args), "start": frame_start_time(source, args.start_frame)})
    # What the pipeline writes: the output, or a video to turn into frames or to copy to stdout.
    written = output
    if is_pipe(output):
        written = str(temporary_folder() / f"stdout{PIPE_CONTAINER}")
    elif is_frame_pattern(output) and not args.preview:
        from ..media.frame_sources import check_frame_output, overwritten_input_frame

        if is_frame_pattern(source) and (hit := overwritten_input_frame(source, output)) is not None:
            raise CommandError(f"the output {output} would overwrite the input frame {hit}; choose another -o")
        folder = check_frame_output(output, bool(args.overwrite))
        written = str(folder / f".vidstyle-frames{PIPE_CONTAINER}")  # fixed name: a rerun resumes it
    overrides = {"input": source, "output": written}
    if is_frame_pattern(output) and args.crf is None:
        overrides["crf"] = 0  # frames pass through the encoder: keep them as close to lossless as it goes
    settings = video_settings(argparse.Namespace(**{**vars(args), **overrides}))
    if settings.resume and settings.restart:
        raise CommandError("--resume and --restart contradict each other; pass one")
    plan = None
    # (a preview into a frame folder writes one PNG there: no video container to check)
    if ((is_frame_pattern(source) or Path(source).suffix.lower() not in IMAGE_SUFFIXES)
            and not (args.preview and is_frame_pattern(output))):
        plan = check_output(args, settings)
    styles = [load_image(path, "style") for path in settings.style.paths]  # before any decoding
    if not is_frame_pattern(source) and not Path(source).exists():
        raise CommandError(f"input file not found: {source}")
    if is_frame_pattern(source) and (gap := frame_gap(source)) is not None:
        warnings.warn(gap, stacklevel=1)  # FFmpeg's image2 reader stops there without a word
    if not is_frame_pattern(source) and Path(source).suffix.lower() in OPENCV_IMAGE_EXTENSIONS:
        ignored = ignored_for_an_image(args)
        if ignored:
            warnings.warn(f"{args.input} is an image, stylized whole: {', '.join(ignored)} "
                          f"{'applies' if len(ignored) == 1 else 'apply'} to videos only and "
                          f"{'is' if len(ignored) == 1 else 'are'} ignored", stacklevel=1)
        if output == default_output(args.input, args.style[0]):  # the video name: make it an image one
            output = str(Path(output).with_suffix(".png"))
        return stylize_image_file(image_settings(args, source, output), args.quiet, as_json=args.json)
    load_init(settings.optim.init)  # a bad --init fails before anything is decoded
    try:
        info = probe(source)  # a readable video stream, before the network is built
    except VideoError as error:
        if not is_pipe(args.input):
            raise
        raise CommandError(str(error).replace(source, "stdin")) from None  # not the spooled copy's name
    if max(processing_size(info.width, info.height, settings.size)) < MIN_FLOW_SIDE:
        raise CommandError(f"{args.input}: {info.width}x{info.height} at --size {settings.size} is too small to "
                           f"stylize (at least {MIN_FLOW_SIDE} pixels on one side)")
    if args.preview:
        return preview_command(args, settings, styles, output)
    if not is_frame_pattern(source) and same_file(source, settings.output):
        raise CommandError(f"the output would overwrite the input {source}; choose another -o")
    check_writable(settings.output)
    if args.report is not None:
        init = [] if settings.optim.init in ("content", "random") else [settings.optim.init]
        refuse_overwriting(args.report, "--report", source, settings.output, *settings.style.paths,
                           *settings.style.masks, *init)
        check_writable(args.report)
    for note in plan.notes:
        warnings.warn(note, stacklevel=1)
    settings = dataclasses.replace(settings, codec=plan.codec)
    try:  # here, not in check_output: the size needs the probed input (and Ray runs skip run_video)
        check_frame_size(plan.codec, *output_size(settings, info))
    except OutputError as error:
        raise CommandError(str(error)) from None
    if (Path(settings.output).exists() and not settings.overwrite and not recorded_complete(settings.output)
            and not recorded_partial(settings.output)):  # a failed run's partial output: the rerun reports it
        raise CommandError(f"{settings.output} exists; pass --overwrite to replace it")
    check_long_term(settings)  # also before a Ray run, which does not go through run_video
    if getattr(args, "ray", None) is not None and settings.passes > 1:
        raise CommandError("--passes goes over the whole clip several times: it does not combine with --ray")
    if getattr(args, "ray", None) is not None:  # --ray [ADDRESS]: vidstyle/scale/distributed.py
        return video_on_ray(args, settings, styles)
    if getattr(args, "segments", None) is not None or getattr(args, "lead_in", None) is not None:
        raise CommandError("--segments and --lead-in need --ray")
    failed: RunFailed | None = None
    try:
        report, device = run_with_progress(args, settings, styles, info, output)
    except RunFailed as error:  # a partial output was still delivered: report it, marked failed, then fail
        if error.report is None:
            raise
        failed, report, device = error, error.report, describe_device(settings)
    if report.finished_earlier and verbosity(args) >= 0:
        print(f"{output} was already finished by an earlier run; removed its work folder", file=sys.stderr)
    if is_frame_pattern(output):
        from ..media.frame_sources import numbers_after, write_frame_folder
        from ..media.video_files import read_frames

        count = write_frame_folder((frame.image for frame in read_frames(written)), output)
        Path(written).unlink()
        if stale := numbers_after(output, count):  # --overwrite of a longer earlier run
            warnings.warn(f"{output}: {len(stale)} frame file(s) of an earlier run remain after frame {count} "
                          f"({stale[0]}-{stale[-1]}); remove them, or the sequence mixes two runs", stacklevel=1)
    elif is_pipe(output):
        from ..media.frame_sources import copy_out

        copy_out(written, sys.stdout.buffer)
    if verbosity(args) >= 0 and failed is None:
        cold, warm = report.cold_iterations, report.warm_iterations
        mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
        w, h = report.processing_size
        print(f"wrote {'stdout' if is_pipe(output) else output}: {report.frames} frames at {w}x{h}, "
              f"{report.frames_per_second:.2f} frames/s, iterations per frame cold {mean(cold):.0f} / warm "
              f"{mean(warm):.1f}, peak memory {report.peak_memory_bytes / 2**20:.0f} MiB, "
              f"weights: {report.weights_label}", file=sys.stderr)
        if settings.scene_detect:
            print(f"shots: {len(report.shots())}" + (f", cuts at frames {', '.join(map(str, report.cuts))}"
                                                    if report.cuts else " (no cuts found)"), file=sys.stderr)
    outcome = {"status": "ok"} if failed is None else {"status": "partial", "error": str(failed)}
    if args.report is not None:
        write_report(report, args.report, outcome)
    if args.json:
        print_json({**video_report_dict(report, output=output, device=device), "cuts": list(report.cuts),
                    "shot_ranges": [[shot.first, shot.end] for shot in report.shots()], **outcome})
    if failed is not None:
        raise failed
    return EXIT_OK


def describe_device(settings: VideoSettings) -> str:
    """``cpu, fp32``: the device and precision the run will use (resolved as the Stylizer will)."""
    import warnings

    from ..core.runtime import resolve_device, resolve_precision

    device = resolve_device(settings.model.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Stylizer warns about the precision itself
        return f"{device}, {resolve_precision(settings.model.precision, device)}"


def run_with_progress(args: argparse.Namespace, settings: VideoSettings, styles: list, info,  # noqa: ANN001
                      output: str):  # noqa: ANN201
    """Resolve the weights once, print the plan, run with the frame bar; ``(report, device text)``."""
    from ..core.factory import resolve_weights
    from ..media.video_files import processing_size
    from ..video.pipeline import frame_estimate, run_video

    level = verbosity(args)
    device = describe_device(settings)
    weights = resolve_weights(settings, progress=level >= 0)  # its one warning, if any, comes first
    if level >= 0:
        print_lines(video_plan(settings, frames=frame_estimate(info, settings),
                               size=processing_size(info.width, info.height, settings.size),
                               source=(info.width, info.height), device=device, weights=weights[1],
                               input_name=args.input, output=output))
    warm_budget = float(settings.warm_iters)
    if settings.keyframe_every:
        k = settings.keyframe_every
        warm_budget = (settings.optim.iters + (k - 1) * settings.refine_iters) / k
    # With --passes the frames are encoded only after every pass: the pass bar shows the work, the
    # frames bar (quiet) would sit at 0 and then jump, with a whole run's seconds on its first frame.
    passes = PassBar(settings.passes, quiet=level < 0, verbose=level > 0) if settings.passes > 1 else None
    bar = FrameBar(cold_budget=settings.optim.iters, warm_budget=warm_budget,
                   independent=settings.init_mode == "independent", quiet=level < 0 or passes is not None,
                   verbose=level > 0 and passes is None,
                   min_cut_gap=settings.scene_min_frames if settings.scene_detect else 0)

    def on_start(total: int | None, done: int) -> None:
        if done and level >= 0:
            print(f"resuming after {done} finished frames", file=sys.stderr)
        bar.start(total, done)
        if passes is not None:
            passes.start(total)

    def on_frame(frame) -> None:  # noqa: ANN001
        bar.frame(frame.index, frame.iterations, frame.loss, frame.cold, frame.seconds)

    from ..video.workdir import LockedError, ResumeError

    try:
        report = run_video(settings, styles=styles, weights=weights, progress=level >= 0, on_start=on_start,
                           on_frame=on_frame, on_pass_step=passes.step if passes is not None else None)
    except ResumeError as error:  # always name the way out
        # Without --resume: "--resume --restart" is refused as a contradiction.
        given = [word for word in (getattr(args, "command_line", None) or sys.argv[1:]) if word != "--resume"]
        again = shlex.join(["vidstyle", *given, "--restart"])
        raise CommandError(f"{error}; to start over: {again}") from None
    except LockedError as error:
        raise CommandError(str(error)) from None
    finally:
        bar.close()
        if passes is not None:
            passes.close()
    return report, device


def preview_command(args: argparse.Namespace, settings: VideoSettings, styles: list, output: str) -> int:
    """``--preview``: the first frame, stylized as the run would (full cold budget), as a PNG beside the output."""
    from ..core.factory import resolve_weights
    from ..media.frame_sources import is_frame_pattern
    from ..media.image_files import check_writable, save_image
    from ..video.preview import preview_first_frame, preview_path

    level = verbosity(args)
    path = preview_path(output)
    if is_frame_pattern(output):
        path.parent.mkdir(parents=True, exist_ok=True)  # the frames' folder, made now as the run would
    check_writable(path)
    weights = resolve_weights(settings, progress=level >= 0)
    bar, callback = iteration_bar(settings.optim.iters, level < 0, "preview (first frame)")
    with bar:
        preview = preview_first_frame(settings, styles, weights=weights, progress=level >= 0, callback=callback)
    import torch

    save_image(torch.from_numpy(preview.image).permute(2, 0, 1)[None].float().div(255), path)
    if level >= 0:
        h, w = preview.image.shape[:2]
        print(f"wrote the preview {path} (first frame, {w}x{h}, {preview.iterations} iterations, "
              f"weights: {preview.weights_label}); the video itself was not made: run again without --preview",
              file=sys.stderr)
    if args.json:
        print_json({"command": "video", "preview": str(path), "frames": 1, "iterations": preview.iterations,
                    "loss": preview.loss, "weights": preview.weights_label})
    return EXIT_OK


def write_report(report, path: str, outcome: dict | None = None) -> None:  # noqa: ANN001
    """The run report as JSON: counts, iterations per frame, cuts and shots (``--report``), with
    ``outcome`` (``status``: ``ok``, or ``partial`` and the ``error`` of a run that failed part-way)."""
    import dataclasses
    import json

    data = dataclasses.asdict(report)
    data["shots"] = [[shot.first, shot.end] for shot in report.shots()]
    data["frames_per_second"] = report.frames_per_second
    data.update(outcome or {})
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


def eval_command(args: argparse.Namespace) -> int:
    """``vidstyle eval OUTPUT --reference INPUT``: temporal warping error (Lai et al. 2018) as JSON."""
    import json

    from ..media.frame_sources import is_frame_pattern
    from ..media.video_files import probe
    from ..video.metrics import evaluate_video, plot_error_curve

    if args.plot is not None and Path(args.plot).suffix.lower() != ".png":
        raise CommandError(f"--plot {args.plot}: the plot is a PNG; name it .png")
    shapes = []
    for path in (args.output_video, args.reference):
        if Path(path).is_dir():
            raise CommandError(f"{path} is a folder; eval compares two videos (files, or frame folders as "
                               "folder/%05d.png)")
        if not Path(path).is_file() and not is_frame_pattern(path):
            raise CommandError(f"video file not found: {path}")
        info = probe(path)
        shapes.append((info.width, info.height))  # as displayed (after rotation)
        if max(info.width, info.height) < MIN_FLOW_SIDE:  # OpenCV's DIS flow needs 12 px on a side
            raise CommandError(f"{path}: {info.width}x{info.height} is too small to measure (optical flow needs "
                               f"at least {MIN_FLOW_SIDE} pixels on one side)")
    (width, height), (ref_width, ref_height) = shapes
    if abs(width * ref_height - ref_width * height) > 0.02 * ref_width * height:  # aspect ratios 2% apart
        warnings.warn(f"the output is {width}x{height} and the reference {ref_width}x{ref_height}: not the same "
                      "shape; is it the output's input? (the reference is resized to the output's size)", stacklevel=1)
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None:
            from ..media.image_files import check_writable

            refuse_overwriting(path, option, args.output_video, args.reference)
            check_writable(path)
    if args.json is not None and args.plot is not None:
        refuse_overwriting(args.plot, "--plot", args.json)
    result = evaluate_video(args.output_video, args.reference, args.flow_preset, reference_start=args.start,
                            mask=args.mask)
    text = json.dumps(result.to_dict(), indent=2)
    if args.json is not None:
        Path(args.json).write_text(text + "\n")
    else:
        print(text)
    if args.plot is not None:
        plot_error_curve(result.per_frame, result.floor_per_frame, args.plot)
    if not args.quiet:
        print(f"warping error {result.mean:.4g} (input floor {result.floor_mean:.4g}), "
              f"mean |frame difference| {result.mean_abs_frame_diff:.4g}, {result.num_frames} frames", file=sys.stderr)
    return EXIT_OK


def add_video_command(commands) -> None:  # noqa: ANN001
    video = commands.add_parser(
        "video", help="stylize a video (the default command: 'vidstyle INPUT STYLE')",
        usage="vidstyle [video] INPUT STYLE [STYLE ...] [-o OUTPUT] [options]",
        description="Stylize a video: decode with PyAV, stylize each frame warm-started from the previous one, "
                    "encode with PyAV (audio copied). Finished segments are kept in a work folder beside the "
                    "output, so an interrupted run resumes when rerun with the same settings.",
        formatter_class=FORMATTER)
    video.add_argument("input", help="input video (anything FFmpeg reads), a frame folder pattern such as "
                                     "frames/%%05d.png (read at 25 frames/s), or - for stdin; an image falls "
                                     "through to image mode")
    video.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-blend)")
    video.add_argument("-o", "--output", default=None,
                       help="output video; a frame folder pattern such as out/%%05d.png (PNG or PPM, numbered "
                            "from 1); or - for stdout (Matroska) [default: INPUT-STEM_STYLE-STEM.mp4 here]")
    video.add_argument("--preview", action="store_true",
                       help="stylize only the first frame (the full --iters budget, as the run would) and write "
                            "it as OUTPUT-STEM.preview.png beside the output, then stop: tune --alpha in seconds")
    add_video_options(video, frame_numbers=True)
    video.add_argument("--report", metavar="FILE", default=None,
                       help="write the run report as JSON: frames, iterations per frame (cold and warm), "
                            "cuts and shots ([first, end) frame ranges), seconds, peak memory, status (ok, or "
                            "partial with the error when a run fails part-way but still writes the frames before)")
    add_stylize_options(video, "iterations of the first (cold) frame", video=True)
    add_ray_options(video)
    add_common_options(video)
    add_json_option(video)
    essentials_group(video, ESSENTIALS)
    video.set_defaults(run=video_command)


def add_eval_command(commands) -> None:  # noqa: ANN001
    evaluate = commands.add_parser(
        "eval", help="measure how stable a stylized video is (warping error)",
        description="Warping error of Lai et al. 2018: for each frame t, optical flow and occlusion mask from the "
                    "INPUT frames t-1 and t, then the masked mean squared difference between output frames t-1 and t "
                    "after warping one onto the other, averaged over frames (RGB in [0, 1]; lower is more stable). "
                    "Also reports the same number for the input itself (the floor) and the mean absolute "
                    "frame difference.", formatter_class=FORMATTER)
    evaluate.add_argument("output_video", metavar="OUTPUT",
                          help="the stylized video (a file, or a frame folder as folder/%%05d.png)")
    evaluate.add_argument("--reference", required=True, metavar="INPUT",
                          help="the video it was made from (a file or a frame folder)")
    evaluate.add_argument("--json", metavar="FILE", help="write the JSON here instead of to stdout")
    evaluate.add_argument("--plot", metavar="FILE", help="write a PNG plot of the per-frame error curve")
    evaluate.add_argument("--start", type=positive_float, default=None, metavar="SECONDS",
                          help="the output was made from INPUT starting here (its --start); the same number of "
                               "frames as OUTPUT is compared [default: the beginning]")
    evaluate.add_argument("--flow-preset", choices=("ultrafast", "fast", "medium"), default=VideoSettings().flow_preset,
                          help=f"OpenCV DIS optical flow preset [default: {VideoSettings().flow_preset}]")
    evaluate.add_argument("--mask", choices=EVAL_MASKS, default=EVAL_MASKS[0],
                          help="occlusion mask: 'lai' is Lai et al.'s released evaluation code exactly (forward-"
                               "backward consistency and motion boundaries on frame t-1, frame t warped back onto "
                               "it), so numbers compare with published ones; 'warm-start' is the mask the frame "
                               f"chain uses (also rejects sources over half a pixel outside the frame) [default: "
                               f"{EVAL_MASKS[0]}]")
    add_verbosity_options(evaluate, verbose=False, quiet="only the result (the JSON): no summary line on stderr")
    evaluate.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    evaluate.set_defaults(run=eval_command)
