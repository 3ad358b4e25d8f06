"""The command line: argparse in, settings dataclasses out, progress bars and exit codes.

This is the only module that knows about argparse, tqdm and exit statuses; everything below it
takes settings dataclasses and reports progress through callbacks.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .errors import Interrupted, VidstyleError
from .settings import (
    MAX_AUTO_SIZE,
    PRESETS,
    ImageSettings,
    LossSettings,
    ModelSettings,
    OptimSettings,
    INIT_MODES,
    StyleSettings,
    VideoSettings,
    parse_layer_weights,
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CommandError(VidstyleError):
    """A bad combination of options found after parsing: one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line (and still exits 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_FORMATTER = argparse.HelpFormatter


def _default_text(value: Any) -> str:
    """How a settings default reads in --help (layer weights as NAME:W,...)."""
    if value is None:
        return "none"
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return ",".join(f"{name}:{weight:g}" for name, weight in value)
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _opt(group: argparse._ActionsContainer, *flags: str, default: Any, help: str, **kwargs: Any) -> None:
    """An option whose parsed default is None, so presets can fill what the user left out.

    The real default (from the settings dataclass) is shown in --help.
    """
    group.add_argument(*flags, default=None, help=f"{help} [default: {_default_text(default)}]", **kwargs)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _nonnegative_int(text: str) -> int:
    return 0 if text.strip() == "0" else _positive_int(text)


def _layer_weights(text: str) -> tuple[tuple[str, float], ...]:
    try:
        return parse_layer_weights(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _layer(text: str) -> str:
    from .features import check_layer_name

    try:
        return check_layer_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values:
        raise argparse.ArgumentTypeError("empty list")
    return values


# -- option groups shared by commands ----------------------------------------------------


def add_loss_options(parser: argparse.ArgumentParser) -> None:
    d = LossSettings()
    g = parser.add_argument_group("loss (L = L_content + alpha * sum_l w_l L_style_l + beta * L_tv)")
    _opt(g, "--content-layer", type=_layer, default=d.content_layer, help="layer for the content loss; deeper keeps less detail")
    _opt(g, "--style-layers", type=_layer_weights, default=d.style_layers,
         help="style layers with weights, NAME:W,... (weight 1 if omitted); deeper layers give larger, more abstract patterns")
    _opt(g, "--alpha", type=_positive_float, default=d.alpha, help="style weight: higher means more style, less content")
    _opt(g, "--beta", type=_positive_float, default=d.beta,
         help="total-variation weight: higher means smoother. TV is a mean over pixels, so one value works at any resolution")
    _opt(g, "--gram", choices=("plain", "centered"), default=d.gram,
         help="Gram matrix F F^T/(HW); 'centered' subtracts each channel's mean first")
    _opt(g, "--tv", choices=("l2", "l1", "pow"), default=d.tv,
         help="total variation: squared (l2) or absolute (l1) neighbour differences, or (dx^2+dy^2)^gamma (pow)")
    _opt(g, "--tv-gamma", type=_positive_float, default=d.tv_gamma, help="exponent gamma of --tv pow")


def add_optim_options(parser: argparse.ArgumentParser, iters_help: str = "iterations") -> None:
    d = OptimSettings()
    g = parser.add_argument_group("optimisation")
    _opt(g, "--optimizer", choices=("lbfgs", "adam"), default=d.optimizer, help="optimiser of the pixels")
    _opt(g, "--iters", type=_nonnegative_int, default=d.iters, help=iters_help)
    _opt(g, "--lr", type=_positive_float, default="1.0 for lbfgs, 0.02 for adam", help="step size")
    _opt(g, "--tol", type=_positive_float, default=d.tol,
         help="stop early when the loss falls by less than this fraction over --check-every iterations (0: never)")
    _opt(g, "--check-every", type=_positive_int, default=d.check_every,
         help="iterations between loss read-backs (progress and early stopping)")
    _opt(g, "--init", default=d.init, help="start from 'content' (fast), 'random' (seeded noise) or an image PATH")
    _opt(g, "--multiscale", type=_positive_int, default=d.multiscale,
         help="coarse-to-fine levels for cold starts (each level doubles the size)")
    _opt(g, "--seed", type=int, default=d.seed, help="seed for noise init and random weights (same seed, same device: same image)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    d = ModelSettings()
    g = parser.add_argument_group("network and device")
    _opt(g, "--weights", default=d.weights,
         help="'auto' (ImageNet VGG19 from the torch hub cache or a download; falls back to random with a warning), "
              "'imagenet' (the same, but an error when unavailable), 'random' (seeded), or a PATH to a VGG19 state dict")
    _opt(g, "--pooling", choices=("max", "avg"), default=d.pooling, help="VGG pooling; avg gives smoother results")
    _opt(g, "--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps")
    _opt(g, "--precision", choices=("auto", "fp32", "tf32", "bf16", "fp16"), default=d.precision,
         help="network precision: auto is bf16 autocast on CUDA, fp32 elsewhere; Gram matrices and losses stay fp32")
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the loss step (once per frame size)")


def add_style_options(parser: argparse.ArgumentParser) -> None:
    d = StyleSettings()
    g = parser.add_argument_group("style")
    _opt(g, "--style-size", type=_positive_int, default=d.size,
         help="long side of the style image in pixels (default: the content's working size times --style-scale)")
    _opt(g, "--style-scale", type=_positive_float, default=d.scale, help="style size relative to the content's")
    _opt(g, "--style-blend", type=_float_list, default=d.blend, help="blend weights W1,W2,... for several style images")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("general")
    from .settings import describe_preset

    g.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="a bundle of settings (" + "; ".join(f"{k}: {describe_preset(k)}" for k in sorted(PRESETS))
                   + "); explicit options override it")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.add_argument("--debug", action="store_true", help="show tracebacks for errors")


# -- building settings from parsed arguments -----------------------------------------------


def _value(args: argparse.Namespace, name: str, default: Any) -> Any:
    """The explicit option if given, else the preset's value, else the dataclass default."""
    explicit = getattr(args, name, None)
    if explicit is not None:
        return explicit
    preset = PRESETS.get(getattr(args, "preset", None) or "", {})
    return preset.get(name, default)


def _fill(cls: type, args: argparse.Namespace, names: dict[str, str] | None = None, **fixed: Any) -> Any:
    """Build dataclass ``cls`` from args; ``names`` maps field -> argparse dest where they differ."""
    names = names or {}
    defaults = cls()
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in fixed:
            values[f.name] = fixed[f.name]
        else:
            values[f.name] = _value(args, names.get(f.name, f.name), getattr(defaults, f.name))
    return cls(**values)


def loss_settings(args: argparse.Namespace) -> LossSettings:
    return _fill(LossSettings, args)


def optim_settings(args: argparse.Namespace) -> OptimSettings:
    return _fill(OptimSettings, args)


def model_settings(args: argparse.Namespace) -> ModelSettings:
    settings = _fill(ModelSettings, args)
    return dataclasses.replace(settings, compile=bool(settings.compile))


def style_settings(args: argparse.Namespace) -> StyleSettings:
    settings = _fill(StyleSettings, args, {"size": "style_size", "scale": "style_scale", "blend": "style_blend"},
                     paths=tuple(args.style))
    if settings.blend is not None and len(settings.blend) != len(settings.paths):
        raise CommandError(f"{len(settings.blend)} --style-blend weights given for {len(settings.paths)} style images")
    if settings.blend is not None and sum(settings.blend) <= 0:
        raise CommandError("--style-blend weights must sum to a positive number")
    return settings


# -- progress and error reporting ------------------------------------------------------------


@contextlib.contextmanager
def _warnings_as_lines(debug: bool) -> Iterator[None]:
    """Show warnings from the core as one 'vidstyle: warning: ...' line each."""

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        print(f"vidstyle: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        if not debug:
            warnings.showwarning = show
        yield


def iteration_bar(total: int, quiet: bool, desc: str):
    """A tqdm bar over optimisation iterations, and the callback that advances it."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="it", disable=quiet, dynamic_ncols=True, leave=False)

    def callback(iteration: int, loss: float) -> None:
        bar.update(iteration - bar.n)
        bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

    return bar, callback


# -- commands ------------------------------------------------------------------------------


def run_image(args: argparse.Namespace) -> int:
    """``vidstyle image CONTENT STYLE... -o OUT``."""
    from .colors import color_inputs, color_output
    from .imageio import check_writable, load_image, resize_long_side, save_image
    from .stylizer import Stylizer

    settings = ImageSettings(
        content=args.content, output=args.output, size=_value(args, "size", None),
        style=style_settings(args), loss=loss_settings(args), optim=optim_settings(args), model=model_settings(args),
        cartoon=cartoon_settings(args),
    )
    # Every input is checked before the network is built: a typo should fail in a second.
    content = load_image(settings.content, "content")
    styles = [load_image(path, "style") for path in settings.style.paths]
    check_writable(settings.output)
    init: Any = settings.optim.init
    if init not in ("content", "random"):
        init = load_image(init, "init")
    long_side = settings.size or min(max(content.shape[-2:]), MAX_AUTO_SIZE)
    content = resize_long_side(content, long_side)
    colors = _color_method(settings.style)
    net_content, styles, init = color_inputs(colors, content, styles, init)

    stylizer = Stylizer.from_settings(styles, settings.loss, settings.optim, settings.style, settings.model,
                                      progress=not args.quiet)
    bar, callback = iteration_bar(settings.optim.iters, args.quiet, "stylize")
    with bar:
        result = stylizer.stylize(net_content, init, callback=callback)
    image = color_output(colors, result.image, content)
    if settings.cartoon.enabled:
        from .cartoon import cartoonize
        from .imageio import to_tensor, to_uint8

        image = to_tensor(cartoonize(to_uint8(content), to_uint8(image), settings.cartoon))
    save_image(image, settings.output)
    if not args.quiet:
        h, w = result.image.shape[-2:]
        stop = " (stopped early)" if result.stopped_early else ""
        print(f"wrote {settings.output} ({w}x{h}, {result.iterations} iterations{stop}, "
              f"loss {result.losses[-1] if result.losses else float('nan'):.4g}, weights: {stylizer.weights_label})",
              file=sys.stderr)
    return EXIT_OK


def add_video_options(parser: argparse.ArgumentParser) -> None:
    d = VideoSettings()
    g = parser.add_argument_group("video")
    _opt(g, "--size", type=_positive_int, default=d.size,
         help="long side of the processing size in pixels (never above the source's; both sides made even)")
    _opt(g, "--warm-iters", type=_nonnegative_int, default=d.warm_iters,
         help="iteration budget of every frame after the first (the first uses --iters)")
    _opt(g, "--keyframe-every", type=_nonnegative_int, metavar="K", default=d.keyframe_every,
         help="keyframe mode for cheap clips: the full --iters on every K-th frame, --refine-iters on the "
              "flow-propagated frames between (0: off)")
    _opt(g, "--refine-iters", type=_nonnegative_int, default=d.refine_iters,
         help="iterations of the frames between keyframes (with --keyframe-every)")
    _opt(g, "--init-mode", choices=INIT_MODES, default=d.init_mode,
         help="start each frame from: its content (independent), the previous stylized frame (prev), "
              "or the previous stylized frame warped along the optical flow, occluded regions filled from the content (flow)")
    _opt(g, "--temporal-weight", type=_positive_float, default=LossSettings().temporal_weight,
         help="weight of the temporal loss mean(c * (x - warp(x_prev))^2) with occlusion mask c (Ruder et al. 2016)")
    _opt(g, "--flow-preset", choices=("ultrafast", "fast", "medium"), default=d.flow_preset,
         help="OpenCV DIS optical flow preset for --init-mode flow")
    _opt(g, "--codec", default=d.codec, help="video encoder (libx264 falls back to mpeg4 if missing)")
    _opt(g, "--crf", type=int, default=d.crf, help="encoder quality (lower is better and larger)")
    _opt(g, "--output-size", choices=("processing", "source"), default=d.output_size,
         help="encode at the processing size, or upscale back to the source size")
    g.add_argument("--no-audio", dest="audio", action="store_false", default=None, help="drop the audio (default: copy it unchanged)")
    _opt(g, "--start", type=_positive_float, default=d.start, help="start at this time in seconds")
    _opt(g, "--duration", type=_positive_float, default=d.duration, help="stylize this many seconds")
    _opt(g, "--max-frames", type=_positive_int, default=d.max_frames, help="stylize at most this many frames")
    _opt(g, "--segment-frames", type=_positive_int, default=d.segment_frames,
         help="frames per resumable segment in the work folder")
    g.add_argument("--overwrite", action="store_true", default=None, help="replace an existing OUTPUT")
    g.add_argument("--resume", action="store_true", default=None,
                   help="insist on resuming an interrupted run (a plain rerun with the same settings resumes too)")


def video_settings(args: argparse.Namespace) -> VideoSettings:
    optim = _fill(OptimSettings, args)
    optim = dataclasses.replace(optim, tol=_value(args, "tol", VideoSettings().tol))
    settings = _fill(VideoSettings, args, input=args.input, output=args.output, style=style_settings(args),
                     loss=loss_settings(args), optim=optim, model=model_settings(args),
                     cartoon=cartoon_settings(args))
    return dataclasses.replace(settings, tol=optim.tol, overwrite=bool(settings.overwrite), resume=bool(settings.resume))


def run_video(args: argparse.Namespace) -> int:
    """``vidstyle INPUT STYLE... [-o OUTPUT]``: stylize a video (an image INPUT falls through to image mode)."""
    from .imageio import IMAGE_EXTENSIONS, check_writable, load_image
    from .pipeline import default_output, run_video as run_pipeline, same_file
    from .stylizer import Stylizer
    from .video import probe

    if args.output is None:
        args.output = default_output(args.input, args.style[0])
    settings = video_settings(args)
    styles = [load_image(path, "style") for path in settings.style.paths]  # before any decoding
    if not Path(settings.input).exists():
        raise CommandError(f"input file not found: {settings.input}")
    if Path(settings.input).suffix.lower() in IMAGE_EXTENSIONS:
        if args.output.endswith(".mp4") and args.output == default_output(args.input, args.style[0]):
            args.output = str(Path(args.output).with_suffix(".png"))
        args.content = args.input
        return run_image(args)
    probe(settings.input)  # a readable video stream, before the network is built
    if same_file(settings.input, settings.output):
        raise CommandError(f"the output would overwrite the input {settings.input}; choose another -o")
    check_writable(settings.output)
    if Path(settings.output).exists() and not settings.overwrite:
        raise CommandError(f"{settings.output} exists; pass --overwrite to replace it")
    if getattr(args, "ray", None) is not None:  # --ray [ADDRESS]: vidstyle/distributed.py
        return run_video_on_ray(args, settings, styles)
    if getattr(args, "segments", None) is not None or getattr(args, "lead_in", None) is not None:
        raise CommandError("--segments and --lead-in need --ray")

    stylizer = Stylizer.from_settings(styles, settings.loss, settings.optim, settings.style, settings.model,
                                      progress=not args.quiet)
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
        report = run_pipeline(settings, stylizer, on_start=on_start, on_frame=on_frame)
    finally:
        for bar in bars:
            bar.close()
    if not args.quiet:
        cold, warm = report.cold_iterations, report.warm_iterations
        mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
        w, h = report.processing_size
        print(f"wrote {settings.output}: {report.frames} frames at {w}x{h}, {report.frames_per_second:.2f} frames/s, "
              f"iterations per frame cold {mean(cold):.0f} / warm {mean(warm):.1f}, "
              f"peak memory {report.peak_memory_bytes / 2**20:.0f} MiB, weights: {stylizer.weights_label}",
              file=sys.stderr)
    return EXIT_OK


# -- Ray: one video in frame ranges, or a folder of videos (vidstyle/distributed.py) --------------


def add_ray_options(parser: argparse.ArgumentParser, segments: bool = True) -> None:
    from .settings import DistributedSettings

    d = DistributedSettings()
    g = parser.add_argument_group("Ray cluster (pip install 'vidstyle[ray]')")
    g.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run as Ray tasks, one GPU each where the cluster has GPUs (else --ray-cpus CPUs); ADDRESS "
                        "of an existing cluster (e.g. auto, ray://head:10001); without it: $RAY_ADDRESS, a cluster "
                        "started on this machine, or a new local Ray. Inputs and the work folder beside the output "
                        "must be on storage every node can read [default: off]")
    if segments:
        _opt(g, "--segments", type=_positive_int, metavar="N", default="one per task slot of the cluster",
             help="frame ranges to split the video into, one task each")
        _opt(g, "--lead-in", type=_nonnegative_int, metavar="L", default=d.lead_in,
             help="frames before each range (after the first) stylized to warm the frame chain up, then discarded")
    _opt(g, "--ray-retries", type=_nonnegative_int, metavar="N", default=d.max_retries,
         help="retries of a failed task (crashed worker, lost node, error) before the run gives up")
    _opt(g, "--ray-cpus", type=_positive_int, metavar="N", default=d.cpus_per_task,
         help="CPU cores (and torch threads) per task on a cluster without GPUs")


def distributed_settings(args: argparse.Namespace) -> Any:
    from .settings import DistributedSettings

    d = DistributedSettings()
    return DistributedSettings(
        address=args.ray or None, segments=_value(args, "segments", d.segments),
        lead_in=_value(args, "lead_in", d.lead_in), max_retries=_value(args, "ray_retries", d.max_retries),
        cpus_per_task=_value(args, "ray_cpus", d.cpus_per_task),
    )


def run_video_on_ray(args: argparse.Namespace, settings: VideoSettings, styles: list) -> int:
    """``vidstyle INPUT STYLE --ray [ADDRESS]``: the video in frame ranges, one Ray task each."""
    from tqdm import tqdm

    from .distributed import require_ray, run_distributed

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


def run_batch_video(args: argparse.Namespace) -> int:
    """``vidstyle batch-video IN_DIR STYLE... -o OUT_DIR [--ray [ADDRESS]]``."""
    from collections import Counter

    from tqdm import tqdm

    from .distributed import require_ray, run_batch_video as batch
    from .imageio import load_image

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
            if event.kind in ("bad", "failed"):
                problems.append(event)

        batch(template, args.input_dir, args.output, dist, styles=styles, progress=not args.quiet, on_event=on_event)
    for event in problems:  # after the bar, so the lines stay whole
        what = "skipped" if event.kind == "bad" else "failed"
        warnings.warn(f"{what}: {event.name}: {event.message}", stacklevel=1)
    if not args.quiet:
        print(f"{args.output}: {counts['done']} stylized, {counts['skipped']} already done, {counts['failed']} failed, "
              f"{counts['bad']} not videos", file=sys.stderr)
    if counts["failed"]:
        raise CommandError(f"{counts['failed']} of {counts['done'] + counts['failed']} clips failed (see above); "
                           "rerun the same command to retry them")
    return EXIT_OK


def _add_batch_video_command(commands) -> None:  # noqa: ANN001
    p = commands.add_parser(
        "batch-video", help="stylize every video of a folder (as Ray tasks with --ray; finished outputs skipped)",
        description="Stylize every video of IN_DIR into OUT_DIR/STEM.mp4 with the same settings. With --ray each "
                    "clip is a Ray task (one GPU each where the cluster has GPUs); without, the clips run one after "
                    "another here. Existing outputs are skipped (rerun to continue), files that are not videos are "
                    "skipped with a warning, and a clip that fails does not stop the others.",
        formatter_class=_FORMATTER)
    p.add_argument("input_dir", metavar="IN_DIR", help="folder of videos (not recursive)")
    p.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-blend)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder (created if missing)")
    add_video_options(p)
    add_style_options(p)
    add_loss_options(p)
    add_optim_options(p, "iterations of each clip's first (cold) frame")
    p._option_string_actions["--tol"].help = p._option_string_actions["--tol"].help.replace(
        f"[default: {OptimSettings().tol}]", f"[default: {VideoSettings().tol}]")
    add_model_options(p)
    add_ray_options(p, segments=False)
    add_common_options(p)
    p.set_defaults(run=run_batch_video)


WEBCAM_KEYS = """keys in the window:
  q, Esc   quit                       s      save a snapshot (stylized and original PNG)
  space    pause / resume             n, p   next / previous style
  +, -     more / fewer iterations    v      side-by-side with the camera image"""


def add_webcam_options(parser: argparse.ArgumentParser) -> None:
    from .settings import INIT_MODES, WebcamSettings

    d = WebcamSettings()
    g = parser.add_argument_group("camera, window and recording")
    _opt(g, "--camera", default=d.camera,
         help="camera index, video file (played at its frame rate, like a camera) or stream URL (rtsp://, http://)")
    _opt(g, "--size", type=_positive_int, default=d.size,
         help="short side of the working image in pixels (never above the camera's; both sides made even)")
    _opt(g, "--display-size", type=_positive_int, default=d.display_size, help="short side of the image in the window")
    g.add_argument("--headless", action="store_true", default=None,
                   help="no window (servers, tests); stop with --max-frames, --seconds or Ctrl-C")
    _opt(g, "--max-frames", type=_positive_int, default=d.max_frames, help="stop after this many stylized frames")
    _opt(g, "--seconds", type=_positive_float, default=d.seconds, help="stop after this many seconds")
    _opt(g, "--record", metavar="OUT.mp4", default=d.record,
         help="write the shown frames (without the text overlay) to this video with PyAV")
    _opt(g, "--snapshot-dir", default=d.snapshot_dir, help="folder for the snapshots of the s key")
    o = parser.add_argument_group("per-frame optimisation")
    _opt(o, "--iters", type=_positive_int, default=d.optim.iters,
         help="optimiser iterations per frame (+ and - change it live)")
    _opt(o, "--optimizer", choices=("lbfgs", "adam"), default=d.optim.optimizer, help="optimiser of the pixels")
    _opt(o, "--lr", type=_positive_float, default=f"{d.optim.lr:g} for {d.optim.optimizer}, "
         f"{OptimSettings(optimizer='lbfgs').learning_rate():g} for lbfgs", help="step size")
    _opt(o, "--init-mode", choices=INIT_MODES, default=d.init_mode,
         help="start each frame from: its content (independent), the previous stylized frame (prev), "
              "or that frame warped along the optical flow, occlusions filled from the content (flow)")
    _opt(o, "--flow-preset", choices=("ultrafast", "fast", "medium"), default=d.flow_preset,
         help="OpenCV DIS optical flow preset for --init-mode flow")
    _opt(o, "--temporal-weight", type=_positive_float, default=d.loss.temporal_weight,
         help="weight of the temporal loss against the flow-warped previous frame (--init-mode flow)")
    _opt(o, "--seed", type=int, default=d.optim.seed, help="seed for random weights")
    s = parser.add_argument_group("style")
    _opt(s, "--style-size", type=_positive_int, default=d.style.size,
         help="long side of the style images in pixels (default: the working image's long side times --style-scale)")
    _opt(s, "--style-scale", type=_positive_float, default=d.style.scale, help="style size relative to the working image's")


def webcam_settings(args: argparse.Namespace) -> Any:
    from .settings import WebcamSettings

    d = WebcamSettings()
    optimizer = _value(args, "optimizer", d.optim.optimizer)
    lr = args.lr if args.lr is not None else (d.optim.lr if optimizer == d.optim.optimizer else None)
    optim = dataclasses.replace(d.optim, optimizer=optimizer, lr=lr, iters=_value(args, "iters", d.optim.iters),
                                seed=_value(args, "seed", d.optim.seed))
    settings = _fill(WebcamSettings, args, style=style_settings(args), loss=loss_settings(args), optim=optim,
                     model=model_settings(args))
    return dataclasses.replace(settings, headless=bool(settings.headless))


def run_webcam(args: argparse.Namespace) -> int:
    """``vidstyle webcam STYLE... [--camera 0|PATH|URL]``: live preview in a window (or headless)."""
    from tqdm import tqdm

    from .imageio import load_image
    from .webcam import run_session

    settings = webcam_settings(args)
    styles = [load_image(path, "style") for path in settings.style.paths]  # before the camera is opened
    bar = tqdm(total=settings.max_frames, desc="webcam", unit="frame", disable=args.quiet, dynamic_ncols=True,
               leave=False)

    def on_frame(report) -> None:  # noqa: ANN001
        bar.set_postfix(fps=f"{report.fps:.1f}", latency=f"{report.latency * 1000:.0f}ms", it=report.iterations,
                        dropped=report.dropped, refresh=False)
        bar.update(1)

    def on_event(message: str) -> None:
        if not args.quiet:
            bar.write(f"vidstyle: {message}", file=sys.stderr)

    with bar, warnings.catch_warnings():
        if not args.debug:  # warnings on their own line, not glued to the progress bar
            warnings.showwarning = lambda message, *rest, **kw: bar.write(f"vidstyle: warning: {message}",
                                                                          file=sys.stderr)
        result = run_session(settings, styles, on_frame=on_frame, on_event=on_event, progress=not args.quiet)
    recording = f"; recording finished: {result.record_path} ({result.recorded} frames)" if result.record_path else ""
    if result.source_lost:
        print(f"vidstyle: error: {result.message}; stopped cleanly{recording}", file=sys.stderr)
        return EXIT_ERROR
    if result.stop_reason == "interrupted":
        print(f"vidstyle: interrupted after {result.processed} frames{recording}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet or result.stop_reason == "ended":
        latency = f", latency {result.latency_mean * 1000:.0f} ms mean" if result.processed else ""
        print(f"vidstyle: {result.processed} frames in {result.elapsed:.1f} s ({result.fps:.2f} frames/s{latency}), "
              f"{result.captured} captured, {result.dropped} dropped; stopped: {result.message}{recording}",
              file=sys.stderr)
    return EXIT_OK


# -- colour, cartoon, reconstructions, sweeps and batches ------------------------------------


def _unit_float(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _layer_list(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(_layer(part.strip()) for part in text.split(",") if part.strip()))
    if not names:
        raise argparse.ArgumentTypeError("no layers given")
    return names


def _sweep_values(text: str) -> tuple[float, ...]:
    values = _float_list(text)
    if any(not v >= 0 or v == float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: sweep values must be finite numbers >= 0")
    return values


def add_color_options(parser: argparse.ArgumentParser) -> None:
    from .colors import COLOR_METHODS

    g = parser.add_argument_group("colour")
    g.add_argument("--preserve-colors", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the content's colours (Gatys et al. 2016) [default: off]")
    _opt(g, "--color-method", choices=COLOR_METHODS, default=StyleSettings().color_method,
         help="how --preserve-colors works: 'luminance' stylizes the luminance only and keeps the content's "
              "YIQ chroma; 'histogram' moves the style's colours to the content's mean and covariance first")


def add_cartoon_options(parser: argparse.ArgumentParser) -> None:
    from .settings import CartoonSettings

    d = CartoonSettings()
    g = parser.add_argument_group("cartoon post-process (on in --preset cartoon)")
    g.add_argument("--cartoon", action=argparse.BooleanOptionalAction, default=None,
                   help="flatten the result to a small palette with edge-preserving smoothing, darken the "
                        "content's outlines, blend with the stylized image [default: off]")
    _opt(g, "--cartoon-blend", type=_unit_float, default=d.blend,
         help="weight of the flat picture against the stylized one (0..1)")
    _opt(g, "--cartoon-colors", type=_positive_int, default=d.colors, help="palette size (at least 2)")
    _opt(g, "--cartoon-edges", type=_unit_float, default=d.edge_strength, help="outline darkness (0: none, 1: black)")


def cartoon_settings(args: argparse.Namespace):  # noqa: ANN201
    from .cartoon import check_cartoon_settings
    from .settings import CartoonSettings

    settings = _fill(CartoonSettings, args, {"enabled": "cartoon", "blend": "cartoon_blend",
                                             "colors": "cartoon_colors", "edge_strength": "cartoon_edges"})
    try:
        return check_cartoon_settings(dataclasses.replace(settings, enabled=bool(settings.enabled)))
    except ValueError as error:
        raise CommandError(str(error)) from None


def _color_method(settings: StyleSettings) -> str | None:
    return settings.color_method if settings.preserve_colors else None


class _RunsBar:
    """One iteration bar over several optimisation runs of ``iters`` each."""

    def __init__(self, runs: int, iters: int, quiet: bool, desc: str) -> None:
        self.bar, self._advance = iteration_bar(runs * iters, quiet, desc)
        self.iters, self.runs_started, self.offset = iters, 0, 0

    def start(self, label: str) -> None:
        self.offset = self.runs_started * self.iters
        self.runs_started += 1
        self.bar.set_description(label, refresh=False)

    def callback(self, iteration: int, loss: float) -> None:
        self._advance(self.offset + iteration, loss)


def run_reconstruct(args: argparse.Namespace) -> int:
    """``vidstyle reconstruct IMAGE -o GRID``."""
    from .features import load_vgg_features
    from .grids import save_grid
    from .imageio import check_writable, load_image, resize_long_side
    from .reconstruct import reconstruct_all, reconstruction_grid, reconstruction_plan
    from .runtime import resolve_device, resolve_precision
    from .settings import ReconstructSettings

    d = ReconstructSettings()
    optim = dataclasses.replace(d.optim, **{name: _value(args, name, getattr(d.optim, name))
                                            for name in ("optimizer", "iters", "lr", "tol", "check_every", "seed")})
    settings = ReconstructSettings(image=args.image, output=args.output, layers=_value(args, "layers", d.layers),
                                   size=_value(args, "size", d.size), optim=optim, model=model_settings(args))
    image = resize_long_side(load_image(settings.image, "image"), settings.size)
    check_writable(settings.output)
    device = resolve_device(settings.model.device)
    extractor, label = load_vgg_features(settings.layers, settings.model.weights, pooling=settings.model.pooling,
                                         seed=optim.seed, device=device, progress=not args.quiet)
    runs = _RunsBar(len(reconstruction_plan(settings.layers)), optim.iters, args.quiet, "reconstruct")
    with runs.bar:
        done = reconstruct_all(extractor, image, settings.layers, optim,
                               precision=resolve_precision(settings.model.precision, device),
                               on_start=runs.start, callback=runs.callback)
    title = f"reconstructions from noise, {optim.iters} {optim.optimizer} iterations each; weights: {label}"
    save_grid(reconstruction_grid(image, done, title), settings.output)
    if not args.quiet:
        print(f"wrote {settings.output} ({len(done)} reconstructions, weights: {label})", file=sys.stderr)
    return EXIT_OK


def run_sweep(args: argparse.Namespace) -> int:
    """``vidstyle sweep CONTENT STYLE... --alpha A1,A2,... [--beta B1,...] -o GRID``."""
    from pathlib import Path

    from .colors import color_inputs, color_output
    from .grids import save_grid
    from .imageio import check_writable, load_image, resize_long_side
    from .settings import DEFAULT_SWEEP, SWEEPABLE, SweepSettings
    from .stylizer import Stylizer
    from .sweep import check_axes, run_sweep as sweep, sweep_grid, sweep_picture

    axes = tuple((name, getattr(args, name)) for name in SWEEPABLE if getattr(args, name) is not None)
    unswept = argparse.Namespace(**{**vars(args), **{name: None for name in SWEEPABLE}})
    settings = SweepSettings(content=args.content, output=args.output, size=_value(args, "size", None),
                             axes=check_axes(axes or DEFAULT_SWEEP), style=style_settings(args),
                             loss=loss_settings(unswept), optim=optim_settings(args), model=model_settings(args))
    content = load_image(settings.content, "content")
    styles = [load_image(path, "style") for path in settings.style.paths]
    check_writable(settings.output)
    init: Any = settings.optim.init
    if init not in ("content", "random"):
        init = load_image(init, "init")
    content = resize_long_side(content, settings.size or min(max(content.shape[-2:]), MAX_AUTO_SIZE))
    method = _color_method(settings.style)
    net_content, net_styles, init = color_inputs(method, content, styles, init)

    grid = sweep_grid(settings.loss, settings.axes)
    first = Stylizer.from_settings(net_styles, grid[0][0], settings.optim, settings.style, settings.model,
                                   progress=not args.quiet)
    cells = sum(len(row) for row in grid)
    runs = _RunsBar(cells, settings.optim.iters, args.quiet, "sweep")
    with runs.bar:
        images = sweep(first.extractor, net_content, net_styles, grid, settings.optim, settings.style, init=init,
                       device=first.device, precision=first.precision,
                       on_cell=lambda r, c: runs.start(f"cell {r * len(grid[0]) + c + 1}/{cells}"),
                       callback=runs.callback)
    images = [[color_output(method, image, content) for image in row] for row in images]
    names = " + ".join(Path(p).name for p in settings.style.paths)
    title = (f"{Path(settings.content).name} x {names}: {settings.optim.iters} {settings.optim.optimizer} "
             f"iterations per cell; weights: {first.weights_label}")
    save_grid(sweep_picture(images, grid, settings.axes, title), settings.output)
    if not args.quiet:
        print(f"wrote {settings.output} ({cells} cells, weights: {first.weights_label})", file=sys.stderr)
    return EXIT_OK


def run_batch(args: argparse.Namespace) -> int:
    """``vidstyle batch IN_DIR --styles DIR -o OUT_DIR --seed S``."""
    from collections import Counter

    from tqdm import tqdm

    from .batch import check_folders, check_manifest, load_style_folder, stylize_folder
    from .settings import BatchSettings
    from .stylebank import StyleBank
    from .stylizer import Stylizer

    d = BatchSettings()
    settings = BatchSettings(
        input_dir=args.input_dir, styles_dir=args.styles, output_dir=args.output, size=_value(args, "size", None),
        batch_size=_value(args, "batch_size", d.batch_size),
        style=_fill(StyleSettings, args, {"size": "style_size", "scale": "style_scale"}),
        loss=loss_settings(args), optim=optim_settings(args), model=model_settings(args),
    )
    check_folders(settings)
    names, styles, problems = load_style_folder(settings.styles_dir)
    for problem in problems:
        warnings.warn(f"skipped: {problem}", stacklevel=1)
    if not styles:
        raise CommandError(f"no readable style images in {settings.styles_dir}")
    check_manifest(settings, names)
    stylizer = Stylizer.from_settings(styles[:1], settings.loss, settings.optim, settings.style, settings.model,
                                      progress=not args.quiet)
    counts: Counter[str] = Counter()
    bad: list[str] = []
    with tqdm(desc="images", unit="image", disable=args.quiet, dynamic_ncols=True) as bar:
        for event in stylize_folder(settings, StyleBank(stylizer, styles), names):
            counts[event.kind] += 1
            if event.kind == "plan":
                bar.reset(total=event.count)
            elif event.kind == "bad":
                bad.append(event.message)
            elif event.kind == "done":
                bar.update(1)
    for message in bad:  # after the bar, so the lines stay whole
        warnings.warn(f"skipped: {message}", stacklevel=1)
    if bad:
        warnings.warn(f"{len(bad)} unreadable file(s) in {settings.input_dir} skipped", stacklevel=1)
    if not args.quiet:
        print(f"{settings.output_dir}: {counts['done']} stylized, {counts['skipped']} already done, "
              f"{counts['bad']} unreadable skipped ({len(styles)} styles, weights: {stylizer.weights_label})",
              file=sys.stderr)
    return EXIT_OK


def _add_reconstruct_command(commands) -> None:  # noqa: ANN001
    from .settings import ReconstructSettings

    d = ReconstructSettings()
    p = commands.add_parser(
        "reconstruct", help="what each layer keeps: images rebuilt from noise (labelled grid)",
        description="Rebuild IMAGE from seeded noise from its content representation on each layer (first row) "
                    "and from its style representation on the layers up to each layer (second row: texture "
                    "synthesis), as in Gatys et al. (2015), Fig. 1. Writes a labelled grid.",
        formatter_class=_FORMATTER)
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", required=True, help="output grid image (PNG, JPEG, ...)")
    _opt(p, "--layers", type=_layer_list, default=d.layers, help="layers, comma-separated")
    _opt(p, "--size", type=_positive_int, default=d.size, help="long side of the working image in pixels")
    g = p.add_argument_group("optimisation")
    _opt(g, "--iters", type=_nonnegative_int, default=d.optim.iters, help="iterations per reconstruction")
    _opt(g, "--optimizer", choices=("lbfgs", "adam"), default=d.optim.optimizer, help="optimiser of the pixels")
    _opt(g, "--lr", type=_positive_float, default="1.0 for lbfgs, 0.02 for adam", help="step size")
    _opt(g, "--tol", type=_positive_float, default=d.optim.tol, help="early-stop tolerance (0: never)")
    _opt(g, "--check-every", type=_positive_int, default=d.optim.check_every, help="iterations between loss read-backs")
    _opt(g, "--seed", type=int, default=d.optim.seed, help="seed of the noise start and of random weights")
    add_model_options(p)
    g = p.add_argument_group("general")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    p.set_defaults(run=run_reconstruct)


def _add_sweep_command(commands) -> None:  # noqa: ANN001
    from .settings import DEFAULT_SWEEP

    p = commands.add_parser(
        "sweep", help="a labelled grid of results across values of alpha and/or beta",
        description="Stylize CONTENT once per value (or pair of values) of the swept loss weights, from the same "
                    "start and seed, and write a labelled grid: the first swept parameter varies along the "
                    "columns, the second down the rows. Without --alpha or --beta, alpha is swept over "
                    + ",".join(f"{v:g}" for v in DEFAULT_SWEEP[0][1]) + ".",
        formatter_class=_FORMATTER)
    p.add_argument("content", help="content image file")
    p.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-blend)")
    p.add_argument("-o", "--output", required=True, help="output grid image (PNG, JPEG, ...)")
    _opt(p, "--size", type=_positive_int, default=f"the content's size, at most {MAX_AUTO_SIZE}",
         help="long side of the working image in pixels")
    add_style_options(p)
    add_color_options(p)
    add_loss_options(p)
    for name in ("alpha", "beta"):
        action = p._option_string_actions[f"--{name}"]
        action.type, action.metavar = _sweep_values, "V1,V2,..."
        action.help = action.help.replace("[default:", "; comma-separated values to sweep [default:")
    add_optim_options(p, "iterations per cell")
    add_model_options(p)
    add_common_options(p)
    p.set_defaults(run=run_sweep)


def _add_batch_command(commands) -> None:  # noqa: ANN001
    from .settings import BatchSettings

    d = BatchSettings()
    p = commands.add_parser(
        "batch", help="stylize a folder of images, a random style each (augmentation; resumable)",
        description="Stylize every image of IN_DIR with a style chosen at random from --styles DIR. The choice "
                    "depends only on --seed and the file names, so reruns repeat it. Images of the same working "
                    "size are optimised together on the device. Rerunning skips finished files; unreadable "
                    "files are skipped with a warning and counted. OUT_DIR/vidstyle-batch.json records each "
                    "image's style.",
        formatter_class=_FORMATTER)
    p.add_argument("input_dir", metavar="IN_DIR", help="folder of content images (not recursive)")
    p.add_argument("--styles", required=True, metavar="DIR", help="folder of style images")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder (created if missing)")
    _opt(p, "--size", type=_positive_int, default=f"each image's size, at most {MAX_AUTO_SIZE}",
         help="long side of the working images in pixels")
    _opt(p, "--batch-size", type=_positive_int, default=d.batch_size,
         help="images of the same size optimised at once (with lbfgs they share its step history; "
              "adam or 1 make each image independent of its batch mates)")
    g = p.add_argument_group("style")
    _opt(g, "--style-size", type=_positive_int, default=d.style.size, help="long side of the style images in pixels")
    _opt(g, "--style-scale", type=_positive_float, default=d.style.scale, help="style size relative to the content's")
    add_loss_options(p)
    add_optim_options(p)
    add_model_options(p)
    add_common_options(p)
    p.set_defaults(run=run_batch)


def run_eval(args: argparse.Namespace) -> int:
    """``vidstyle eval OUTPUT --reference INPUT``: temporal warping error (Lai et al. 2018) as JSON."""
    import json

    from .metrics import evaluate_video, plot_error_curve

    for path in (args.output_video, args.reference):
        if not Path(path).is_file():
            raise CommandError(f"video file not found: {path}")
    for path in (args.json, args.plot):
        if path is not None:
            from .imageio import check_writable

            check_writable(path)
    result = evaluate_video(args.output_video, args.reference, args.flow_preset)
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


def build_parser() -> argparse.ArgumentParser:
    """The full parser: ``vidstyle COMMAND ...``; ``vidstyle INPUT STYLE`` means ``vidstyle video``."""
    parser = _Parser(
        prog="vidstyle",
        description="Neural style transfer (Gatys et al. 2015) for videos, images and webcams. "
                    "'vidstyle INPUT STYLE [options]' is short for 'vidstyle video INPUT STYLE [options]'.",
        formatter_class=_FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"vidstyle {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    image = commands.add_parser("image", help="stylize one image", description="Stylize one image.",
                                formatter_class=_FORMATTER)
    image.add_argument("content", help="content image file")
    image.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-blend)")
    image.add_argument("-o", "--output", required=True, help="output image file (PNG, JPEG, ...)")
    _opt(image, "--size", type=_positive_int, default=f"the content's size, at most {MAX_AUTO_SIZE}",
         help="long side of the working image in pixels")
    add_style_options(image)
    add_color_options(image)
    add_cartoon_options(image)
    add_loss_options(image)
    add_optim_options(image)
    add_model_options(image)
    add_common_options(image)
    image.set_defaults(run=run_image)

    video = commands.add_parser(
        "video", help="stylize a video (the default command: 'vidstyle INPUT STYLE')",
        description="Stylize a video: decode with PyAV, stylize each frame warm-started from the previous one, "
                    "encode with PyAV (audio copied). Finished segments are kept in a work folder beside the "
                    "output, so an interrupted run resumes when rerun with the same settings.",
        formatter_class=_FORMATTER)
    video.add_argument("input", help="input video (anything FFmpeg reads); an image falls through to image mode")
    video.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-blend)")
    video.add_argument("-o", "--output", default=None, help="output video [default: INPUT-STEM_STYLE-STEM.mp4 here]")
    add_video_options(video)
    add_cartoon_options(video)
    add_style_options(video)
    add_loss_options(video)
    add_optim_options(video, "iterations of the first (cold) frame")
    video._option_string_actions["--tol"].help = video._option_string_actions["--tol"].help.replace(
        f"[default: {OptimSettings().tol}]", f"[default: {VideoSettings().tol}]")
    add_model_options(video)
    add_ray_options(video)
    add_common_options(video)
    video.set_defaults(run=run_video)

    evaluate = commands.add_parser(
        "eval", help="measure how stable a stylized video is (warping error)",
        description="Warping error of Lai et al. 2018: for each frame t, optical flow and occlusion mask from the "
                    "INPUT frames t-1 and t, then the masked mean squared difference between output frame t and "
                    "output frame t-1 warped to t, averaged over frames (RGB in [0, 1]; lower is more stable). "
                    "Also reports the same number for the input itself (the floor) and the mean absolute "
                    "frame difference.", formatter_class=_FORMATTER)
    evaluate.add_argument("output_video", metavar="OUTPUT", help="the stylized video")
    evaluate.add_argument("--reference", required=True, metavar="INPUT", help="the video it was made from")
    evaluate.add_argument("--json", metavar="FILE", help="write the JSON here instead of to stdout")
    evaluate.add_argument("--plot", metavar="FILE", help="write a PNG plot of the per-frame error curve")
    evaluate.add_argument("--flow-preset", choices=("ultrafast", "fast", "medium"), default=VideoSettings().flow_preset,
                          help=f"OpenCV DIS optical flow preset [default: {VideoSettings().flow_preset}]")
    evaluate.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    evaluate.set_defaults(run=run_eval)

    webcam = commands.add_parser(
        "webcam", help="live preview of a camera (or a file or stream) in a window",
        description="Stylize a live camera feed at a low resolution, a few optimiser iterations per frame, each frame\n"
                    "warm-started from the previous stylized one. Capture runs in its own thread and keeps only the\n"
                    "newest frame, so lag never builds up; older frames are dropped and counted.",
        epilog=WEBCAM_KEYS, formatter_class=argparse.RawDescriptionHelpFormatter)
    webcam.add_argument("style", nargs="+", help="style image file(s); n and p switch between them")
    add_webcam_options(webcam)
    add_loss_options(webcam)
    add_model_options(webcam)
    g = webcam.add_argument_group("general")
    g.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    g.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    webcam.set_defaults(run=run_webcam)
    _add_reconstruct_command(commands)
    _add_sweep_command(commands)
    _add_batch_command(commands)
    _add_batch_video_command(commands)
    return parser


COMMANDS = ("image", "video", "eval", "webcam", "reconstruct", "sweep", "batch", "batch-video")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vidstyle`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        argv.insert(0, "video")  # 'vidstyle INPUT STYLE' is the main job
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        with _warnings_as_lines(args.debug):
            return args.run(args)
    except KeyboardInterrupt:
        print("vidstyle: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Interrupted as error:
        print(f"vidstyle: {error}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (VidstyleError, ValueError) as error:
        if args.debug:
            raise
        print(f"vidstyle: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except RuntimeError as error:
        if args.debug or "out of memory" not in str(error):
            raise
        print(f"vidstyle: error: out of memory ({str(error).splitlines()[0]}); try a smaller --size", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
