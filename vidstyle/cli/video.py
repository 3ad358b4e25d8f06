"""``vidstyle video`` (also ``vidstyle INPUT STYLE``) and ``vidstyle eval``."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import warnings
from pathlib import Path

from ..settings import PRESETS, VideoSettings
from .image import stylize_image_file
from .options import (
    EXIT_OK,
    FORMATTER,
    CommandError,
    add_common_options,
    add_stylize_options,
    add_video_options,
    image_settings,
    positive_float,
    video_settings,
)
from .ray import add_ray_options, video_on_ray

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # image_files' (it imports torch)
MIN_FLOW_SIDE = 16  # OpenCV's DIS optical flow refuses frames under 12 pixels on both sides


def video_command(args: argparse.Namespace) -> int:
    """``vidstyle INPUT STYLE... [-o OUTPUT]``: stylize a video (an image INPUT falls through to image mode)."""
    from ..media.containers import OutputError, check_quality, plan_output

    # The output, encoder and encoder settings first, before torch is even imported: a bad -o or
    # --codec is refused in well under a second, before anything is decoded.
    output = args.output if args.output is not None else f"{Path(args.input).stem}_{Path(args.style[0]).stem}.mp4"
    settings = video_settings(argparse.Namespace(**{**vars(args), "output": output}))
    if settings.resume and settings.restart:
        raise CommandError("--resume and --restart contradict each other; pass one")
    preset = PRESETS.get(getattr(args, "preset", None) or "", {})
    explicit = {name: getattr(args, name, None) is not None or name in preset for name in ("codec", "crf")}
    plan = None
    if Path(settings.input).suffix.lower() not in IMAGE_SUFFIXES:
        try:
            check_quality(settings.codec, settings.crf, explicit["crf"])
            # Container, encoder and audio, tried on a tiny file (in a temporary folder).
            plan = plan_output(settings.output, settings.codec, crf=settings.crf, explicit_codec=explicit["codec"],
                               audio_source=settings.input if settings.audio else None)
        except OutputError as error:
            raise CommandError(str(error)) from None

    from ..media.image_files import OPENCV_IMAGE_EXTENSIONS, check_writable, load_image, load_init
    from ..media.video_files import probe, processing_size
    from ..video.pipeline import default_output, run_video, same_file
    from ..video.workdir import LockedError, ResumeError, recorded_complete

    styles = [load_image(path, "style") for path in settings.style.paths]  # before any decoding
    if not Path(settings.input).exists():
        raise CommandError(f"input file not found: {settings.input}")
    if Path(settings.input).suffix.lower() in OPENCV_IMAGE_EXTENSIONS:
        if output == default_output(args.input, args.style[0]):  # the video name: make it an image one
            output = str(Path(output).with_suffix(".png"))
        return stylize_image_file(image_settings(args, settings.input, output), args.quiet)
    load_init(settings.optim.init)  # a bad --init fails before anything is decoded
    info = probe(settings.input)  # a readable video stream, before the network is built
    if max(processing_size(info.width, info.height, settings.size)) < MIN_FLOW_SIDE:
        raise CommandError(f"{settings.input}: {info.width}x{info.height} at --size {settings.size} is too small to "
                           f"stylize (at least {MIN_FLOW_SIDE} pixels on one side)")
    if same_file(settings.input, settings.output):
        raise CommandError(f"the output would overwrite the input {settings.input}; choose another -o")
    check_writable(settings.output)
    for note in plan.notes:
        warnings.warn(note, stacklevel=1)
    settings = dataclasses.replace(settings, codec=plan.codec)
    if Path(settings.output).exists() and not settings.overwrite and not recorded_complete(settings.output):
        raise CommandError(f"{settings.output} exists; pass --overwrite to replace it")
    if getattr(args, "ray", None) is not None:  # --ray [ADDRESS]: vidstyle/scale/distributed.py
        return video_on_ray(args, settings, styles)
    if getattr(args, "segments", None) is not None or getattr(args, "lead_in", None) is not None:
        raise CommandError("--segments and --lead-in need --ray")

    from tqdm import tqdm

    bars = []

    def on_start(total: int | None, done: int) -> None:
        if done and not args.quiet:
            print(f"resuming after {done} finished frames", file=sys.stderr)
        bars.append(tqdm(total=total, initial=done, desc="frames", unit="frame", disable=args.quiet,
                         dynamic_ncols=True))

    def on_frame(frame) -> None:  # noqa: ANN001
        bars[0].set_postfix(iters=frame.iterations, loss=f"{frame.loss:.4g}", refresh=False)
        bars[0].update(1)

    try:
        report = run_video(settings, styles=styles, progress=not args.quiet, on_start=on_start, on_frame=on_frame)
    except ResumeError as error:  # always name the way out
        again = shlex.join(["vidstyle", *(getattr(args, "command_line", None) or sys.argv[1:]), "--restart"])
        raise CommandError(f"{error}; to start over: {again}") from None
    except LockedError as error:
        raise CommandError(str(error)) from None
    finally:
        for bar in bars:
            bar.close()
    if report.finished_earlier and not args.quiet:
        print(f"{settings.output} was already finished by an earlier run; removed its work folder", file=sys.stderr)
        return EXIT_OK
    if not args.quiet:
        cold, warm = report.cold_iterations, report.warm_iterations
        mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
        w, h = report.processing_size
        print(f"wrote {settings.output}: {report.frames} frames at {w}x{h}, {report.frames_per_second:.2f} frames/s, "
              f"iterations per frame cold {mean(cold):.0f} / warm {mean(warm):.1f}, "
              f"peak memory {report.peak_memory_bytes / 2**20:.0f} MiB, weights: {report.weights_label}",
              file=sys.stderr)
    return EXIT_OK


def eval_command(args: argparse.Namespace) -> int:
    """``vidstyle eval OUTPUT --reference INPUT``: temporal warping error (Lai et al. 2018) as JSON."""
    import json

    from ..media.video_files import probe
    from ..video.metrics import evaluate_video, plot_error_curve

    for path in (args.output_video, args.reference):
        if not Path(path).is_file():
            raise CommandError(f"video file not found: {path}")
        info = probe(path)
        if max(info.width, info.height) < MIN_FLOW_SIDE:  # OpenCV's DIS flow needs 12 px on a side
            raise CommandError(f"{path}: {info.width}x{info.height} is too small to measure (optical flow needs "
                               f"at least {MIN_FLOW_SIDE} pixels on one side)")
    for path in (args.json, args.plot):
        if path is not None:
            from ..media.image_files import check_writable

            check_writable(path)
    result = evaluate_video(args.output_video, args.reference, args.flow_preset, reference_start=args.start)
    text = json.dumps(result.to_dict(), indent=2)
    if args.json is not None:
        Path(args.json).write_text(text + "\n")
    else:
        print(text)
    if args.plot is not None:
        plot_error_curve(result.per_frame, result.floor_per_frame, args.plot)
    print(f"warping error {result.mean:.4g} (input floor {result.floor_mean:.4g}), "
          f"mean |frame difference| {result.mean_abs_frame_diff:.4g}, {result.num_frames} frames", file=sys.stderr)
    return EXIT_OK


def add_video_command(commands) -> None:  # noqa: ANN001
    video = commands.add_parser(
        "video", help="stylize a video (the default command: 'vidstyle INPUT STYLE')",
        description="Stylize a video: decode with PyAV, stylize each frame warm-started from the previous one, "
                    "encode with PyAV (audio copied). Finished segments are kept in a work folder beside the "
                    "output, so an interrupted run resumes when rerun with the same settings.",
        formatter_class=FORMATTER)
    video.add_argument("input", help="input video (anything FFmpeg reads); an image falls through to image mode")
    video.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-blend)")
    video.add_argument("-o", "--output", default=None, help="output video [default: INPUT-STEM_STYLE-STEM.mp4 here]")
    add_video_options(video)
    add_stylize_options(video, "iterations of the first (cold) frame", video=True)
    add_ray_options(video)
    add_common_options(video)
    video.set_defaults(run=video_command)


def add_eval_command(commands) -> None:  # noqa: ANN001
    evaluate = commands.add_parser(
        "eval", help="measure how stable a stylized video is (warping error)",
        description="Warping error of Lai et al. 2018: for each frame t, optical flow and occlusion mask from the "
                    "INPUT frames t-1 and t, then the masked mean squared difference between output frame t and "
                    "output frame t-1 warped to t, averaged over frames (RGB in [0, 1]; lower is more stable). "
                    "Also reports the same number for the input itself (the floor) and the mean absolute "
                    "frame difference.", formatter_class=FORMATTER)
    evaluate.add_argument("output_video", metavar="OUTPUT", help="the stylized video")
    evaluate.add_argument("--reference", required=True, metavar="INPUT", help="the video it was made from")
    evaluate.add_argument("--json", metavar="FILE", help="write the JSON here instead of to stdout")
    evaluate.add_argument("--plot", metavar="FILE", help="write a PNG plot of the per-frame error curve")
    evaluate.add_argument("--start", type=positive_float, default=None, metavar="SECONDS",
                          help="the output was made from INPUT starting here (its --start); the same number of "
                               "frames as OUTPUT is compared [default: the beginning]")
    evaluate.add_argument("--flow-preset", choices=("ultrafast", "fast", "medium"), default=VideoSettings().flow_preset,
                          help=f"OpenCV DIS optical flow preset [default: {VideoSettings().flow_preset}]")
    evaluate.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    evaluate.set_defaults(run=eval_command)
