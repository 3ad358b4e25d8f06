"""What every command shares: option types and groups, settings builders, exit codes (the parser class: parser.py).

Options are parsed with a default of None (:func:`add_option`) so that a ``--preset`` can fill what the
user left out; :func:`option_value` and :func:`fill_settings` then build the settings dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from ..errors import VidstyleError
from ..settings import (
    COLOR_METHODS,
    INIT_MODES,
    PRESETS,
    ImageSettings,
    LossSettings,
    ModelSettings,
    OptimSettings,
    StyleSettings,
    VideoSettings,
)
from .chain_options import add_chain_options, add_encoder_quality_options

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CommandError(VidstyleError):
    """A bad combination of options found after parsing: one line, exit status 1."""


def _default_text(value: Any) -> str:
    """How a settings default reads in --help (layer weights as NAME:W,...)."""
    if value is None:
        return "none"
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return ",".join(f"{name}:{weight:g}" for name, weight in value)
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def add_option(group: argparse._ActionsContainer, *flags: str, default: Any, help: str, **kwargs: Any) -> None:
    """An option whose parsed default is None, so presets can fill what the user left out.

    The real default (from the settings dataclass) is shown in --help.
    """
    group.add_argument(*flags, default=None, help=f"{help} [default: {_default_text(default)}]", **kwargs)


def positive_float(text: str) -> float:
    """An option type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def scale_factor(text: str) -> float:
    """An option type: a finite number > 0 (a size ratio; 0 would be no image at all)."""
    value = positive_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def decay_value(text: str) -> float:
    """An option type: 0 (off) or a decay in (0, 1)."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 (off) or a number between 0 and 1")
    return value


def whole_number(text: str, least: int) -> int:
    """``text`` as a whole number of at least ``least``, or argparse's one-line error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= {least}")
    return value


def positive_int(text: str) -> int:
    """An option type: a whole number >= 1."""
    return whole_number(text, 1)


def size_int(text: str) -> int:
    """An option type: a ``--size``, a long side of at least 2 pixels (videos need both sides even, >= 2)."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text!r} is too small: the long side must be at least 2 pixels")
    return value


def nonnegative_int(text: str) -> int:
    """An option type: a whole number >= 0."""
    return whole_number(text, 0)


def layer_weights(text: str) -> tuple[tuple[str, float], ...]:
    """An option type: ``NAME:W,...`` style layers with weights."""
    from ..core.layers import parse_layer_weights

    try:
        return parse_layer_weights(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def content_layer_weights(text: str) -> tuple[tuple[str, float], ...]:
    """An option type: ``NAME:W,...`` content layers with weights."""
    from ..core.layers import parse_layer_weights

    try:
        return parse_layer_weights(text, "content")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def layer_name(text: str) -> str:
    """An option type: one VGG19 layer name."""
    from ..core.layers import check_layer_name

    try:
        return check_layer_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def float_list(text: str) -> tuple[float, ...]:
    """An option type: comma-separated numbers."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values:
        raise argparse.ArgumentTypeError("empty list")
    return values


def offset_list(text: str) -> tuple[int, ...]:
    """An option type: comma-separated positive frame offsets, e.g. ``1,2,4``."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of frame offsets") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give positive frame offsets, e.g. 1,2,4")
    return tuple(sorted(set(values)))


def unit_float(text: str) -> float:
    """An option type: a number in [0, 1]."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def layer_list(text: str) -> tuple[str, ...]:
    """An option type: comma-separated VGG19 layer names (duplicates dropped)."""
    names = tuple(dict.fromkeys(layer_name(part.strip()) for part in text.split(",") if part.strip()))
    if not names:
        raise argparse.ArgumentTypeError("no layers given")
    return names


def sweep_values(text: str) -> tuple[float, ...]:
    """An option type: comma-separated finite numbers >= 0 to sweep."""
    values = float_list(text)
    if any(not v >= 0 or v == float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: sweep values must be finite numbers >= 0")
    return values


# -- option groups shared by commands ----------------------------------------------------


def add_loss_options(parser: argparse.ArgumentParser) -> None:
    """The loss group: layers, alpha, beta, Gram and TV kinds."""
    d = LossSettings()
    g = parser.add_argument_group("loss (L = L_content + alpha * sum_l w_l L_style_l + beta * L_tv)")
    add_option(g, "--content-layer", type=layer_name, default=d.content_layer,
               help="layer for the content loss; deeper keeps less detail")
    add_option(g, "--content-layers", type=content_layer_weights, default="--content-layer with weight 1",
               help="several content layers with weights, NAME:W,... (e.g. relu4_2:1,relu3_2:0.5): the content term is "
                    "the weighted sum of each layer's term; instead of --content-layer")
    add_option(g, "--style-layers", type=layer_weights, default=d.style_layers,
               help="style layers with weights, NAME:W,... (weight 1 if omitted); deeper layers give larger, more abstract patterns")
    add_option(g, "--alpha", type=positive_float, default=d.alpha,
               help="style weight: higher means more style, less content")
    add_option(g, "--beta", type=positive_float, default=d.beta,
               help="total-variation weight: higher means smoother. TV is a mean over pixels, but a smooth picture's "
                    "mean TV still falls with size (l2 ~4x per doubling when enlarged beyond its detail): retune "
                    "it when --size changes much")
    add_option(g, "--gram", choices=("plain", "centered"), default=d.gram,
               help="Gram matrix F F^T/(HW); 'centered' subtracts each channel's mean first")
    add_option(g, "--style-loss", choices=("gram", "w2"), default=d.style_loss,
               help="style term per layer: 'gram' is ||G - A||^2/C^2 of the Gram matrices; 'w2' is the squared "
                    "2-Wasserstein distance between Gaussian fits (mean and covariance) of the features, divided by C "
                    "(as in crowsonkb's style-transfer-pytorch: truer colours and strokes; --gram is not used); "
                    "the terms differ in scale, so retune --alpha")
    g.add_argument("--normalize-gradients", action="store_true", default=None,
                   help="divide each content and style layer's gradient by its L1 norm in the backward pass, so each "
                        "layer pushes with exactly its weight whatever its scale (jcjohnson/neural-style's "
                        "-normalize_gradients); the reported loss values are unchanged [default: off]")
    add_option(g, "--tv", choices=("l2", "l1", "pow"), default=d.tv,
               help="total variation: squared (l2) or absolute (l1) neighbour differences, or (dx^2+dy^2)^gamma (pow)")
    add_option(g, "--tv-gamma", type=positive_float, default=d.tv_gamma, help="exponent gamma of --tv pow")


def add_optim_options(parser: argparse.ArgumentParser, iters_help: str = "iterations") -> None:
    """The optimisation group: optimiser, iterations, step size, early stop, init, seed."""
    d = OptimSettings()
    g = parser.add_argument_group("optimisation")
    add_option(g, "--optimizer", choices=("lbfgs", "adam"), default=d.optimizer, help="optimiser of the pixels")
    add_option(g, "--iters", type=nonnegative_int, default=d.iters, help=iters_help)
    add_option(g, "--lr", type=positive_float, default="1.0 for lbfgs, 0.02 for adam", help="step size")
    add_option(g, "--tol", type=positive_float, default=d.tol,
               help="stop early when the loss falls by less than this fraction over --check-every iterations (0: never)")
    add_option(g, "--check-every", type=positive_int, default=d.check_every,
               help="iterations between loss read-backs (progress and early stopping)")
    add_option(g, "--init", default=d.init,
               help="start from 'content' (fast), 'random' (seeded noise) or an image PATH")
    add_option(g, "--multiscale", type=positive_int, default=d.multiscale,
               help="coarse-to-fine levels for cold starts (each level doubles the size)")
    add_option(g, "--seed", type=int, default=d.seed,
               help="seed for noise init and random weights (same seed, same device: same image)")
    add_option(g, "--average", type=decay_value, default=d.average, metavar="DECAY",
               help="cold starts: return the exponential moving average of the iterates with this decay per "
                    "iteration (bias-corrected, as crowsonkb's style-transfer-pytorch; e.g. 0.99) instead of the "
                    "last iterate; 0: off")


def add_model_options(parser: argparse.ArgumentParser, *, speed: bool = True) -> None:
    """The network and device group: weights, pooling, device, precision, and (``speed``) the
    Stylizer's --compile and --cuda-graphs."""
    d = ModelSettings()
    g = parser.add_argument_group("network and device")
    add_option(g, "--weights", default=d.weights,
               help="'auto' (ImageNet VGG19 from the torch hub cache or a download; falls back to random with a warning), "
                    "'imagenet' (the same, but an error when unavailable), 'random' (seeded), or a PATH to a VGG19 state dict")
    add_option(g, "--pooling", choices=("max", "avg"), default=d.pooling,
               help="VGG pooling; avg gives smoother results")
    add_option(g, "--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps")
    add_option(g, "--precision", choices=("auto", "fp32", "tf32", "bf16", "fp16"), default=d.precision,
               help="network precision: auto is bf16 autocast on CUDA, fp32 elsewhere; Gram matrices and losses stay fp32")
    if not speed:
        return
    g.add_argument("--compile", action="store_true", default=None, help="torch.compile the loss step (once per frame size) [default: off]")
    g.add_argument("--cuda-graphs", action="store_true", default=None,
                   help="capture each frame size's Adam iteration as a CUDA graph and replay it (small frames; "
                        "CUDA and --optimizer adam only, not with --compile; falls back with a warning) [default: off]")


def add_style_options(parser: argparse.ArgumentParser) -> None:
    """The style group: style size, scale and blend weights."""
    d = StyleSettings()
    g = parser.add_argument_group("style")
    add_option(g, "--style-size", type=positive_int, default=d.size,
               help="long side of the style image in pixels (default: the content's working size times --style-scale)")
    add_option(g, "--style-scale", type=scale_factor, default=d.scale, help="style size relative to the content's")
    add_option(g, "--style-blend", type=float_list, default=d.blend,
               help="blend weights W1,W2,... for several style images")
    g.add_argument("--style-mask", action="append", metavar="MASK", default=None,
                   help="spatial control (Gatys et al. 2017): one mask per style image, in the same order (repeat the "
                        "option); white is where that style paints, black where it does not (gray: partly). An image, "
                        "or for videos also a video read frame by frame alongside the input; resized to the working "
                        "size. Pixels no mask covers get no style term. Not with --style-blend [default: none]")


def add_stylize_options(parser: argparse.ArgumentParser, iters_help: str = "iterations", *, colors: bool = True,
                        cartoon: bool = True, video: bool = False) -> None:
    """The groups every stylizing command shares: style (colour, cartoon), loss, optimisation, network.

    ``video``: ``--tol`` shows the video default (videos stop every frame early by default).
    """
    add_style_options(parser)
    if colors:
        add_color_options(parser)
    if cartoon:
        add_cartoon_options(parser)
    add_loss_options(parser)
    add_optim_options(parser, iters_help)
    if video:
        tol = parser._option_string_actions["--tol"]
        tol.help = tol.help.replace(f"[default: {OptimSettings().tol}]", f"[default: {VideoSettings().tol}]")
    add_model_options(parser)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """The general group: --preset, -q/-v, --debug."""
    g = parser.add_argument_group("general")
    from ..settings import describe_preset

    g.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="a bundle of settings that fills in the options you do not give (each preset's "
                        "values: at the end of this help)")
    # The long preset descriptions go last, so they do not push the essentials down.
    parser.epilog = "presets: " + "; ".join(f"{k}: {describe_preset(k)}" for k in sorted(PRESETS)) + "."
    add_verbosity_options(g)
    g.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def add_verbosity_options(group: argparse._ActionsContainer, verbose: bool = True,
                          quiet: str = "only warnings and errors: no plan, progress bars or summary") -> None:
    """-q/--quiet (``quiet``: what it silences) and -v/--verbose (unless not ``verbose``): see :func:`verbosity`."""
    group.add_argument("-q", "--quiet", action="store_true", help=quiet)
    if verbose:
        group.add_argument("-v", "--verbose", action="count", default=0,
                           help="more detail: a line per video frame (cold or warm, iterations, loss, seconds)")


def verbosity(args: argparse.Namespace) -> int:
    """-1 with -q (warnings and errors only), 0 by default (plan, bars, summary), 1+ with -v."""
    return -1 if getattr(args, "quiet", False) else getattr(args, "verbose", 0) or 0


def add_json_option(group: argparse._ActionsContainer) -> None:
    """--json: the run report on stdout (what ``vidstyle eval`` prints), messages stay on stderr."""
    group.add_argument("--json", action="store_true",
                       help="print the run report as JSON on stdout (frames, iterations, seconds, output path)")


def essentials_group(parser: argparse.ArgumentParser, flags: tuple[str, ...],
                     title: str = "the essentials") -> argparse._ArgumentGroup:
    """Move the positionals and ``flags`` (already added) into one group shown first in --help.

    Shared option groups add the options; this only changes where --help lists them.
    """
    group = parser.add_argument_group(title)
    parser._action_groups.remove(group)
    parser._action_groups.insert(0, group)
    wanted = [action for action in parser._actions if not action.option_strings]
    wanted += [parser._option_string_actions[flag] for flag in flags if flag in parser._option_string_actions]
    for action in wanted:
        for other in parser._action_groups:
            if action in other._group_actions:
                other._group_actions.remove(action)
        group._group_actions.append(action)
    return group


ESSENTIALS = ("--output", "--preset", "--size", "--alpha", "--device", "--iters", "--warm-iters", "--preview",
              "--json")


def add_color_options(parser: argparse.ArgumentParser) -> None:
    """The colour group: --preserve-colors and its method."""
    g = parser.add_argument_group("colour")
    g.add_argument("--preserve-colors", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the content's colours (Gatys et al. 2016) [default: off]")
    add_option(g, "--color-method", choices=COLOR_METHODS, default=StyleSettings().color_method,
               help="how --preserve-colors works: 'luminance' stylizes the luminance only and keeps the content's "
                    "YIQ chroma; 'histogram' moves the style's colours to the content's mean and covariance first")


def add_cartoon_options(parser: argparse.ArgumentParser) -> None:
    """The cartoon post-process group."""
    from ..settings import CartoonSettings

    d = CartoonSettings()
    g = parser.add_argument_group("cartoon post-process (on in --preset cartoon)")
    g.add_argument("--cartoon", action=argparse.BooleanOptionalAction, default=None,
                   help="flatten the result to a small palette with edge-preserving smoothing, darken the "
                        "content's outlines, blend with the stylized image [default: off]")
    add_option(g, "--cartoon-blend", type=unit_float, default=d.blend,
               help="weight of the flat picture against the stylized one (0..1)")
    add_option(g, "--cartoon-colors", type=positive_int, default=d.colors, help="palette size (at least 2)")
    add_option(g, "--cartoon-edges", type=unit_float, default=d.edge_strength,
               help="outline darkness (0: none, 1: black)")


def add_video_options(parser: argparse.ArgumentParser, *, frame_numbers: bool = False) -> None:
    """The video group: size, budgets, init mode, flow, encoder, range, segments, overwrite/resume
    (``frame_numbers``: also --start-frame)."""
    d = VideoSettings()
    g = parser.add_argument_group("video")
    add_option(g, "--size", type=size_int, default=d.size,
               help="long side of the processing size in pixels (never above the source's; both sides made even)")
    add_option(g, "--warm-iters", type=nonnegative_int, default=d.warm_iters,
               help="iteration budget of every frame after the first (the first uses --iters)")
    add_option(g, "--keyframe-every", type=nonnegative_int, metavar="K", default=d.keyframe_every,
               help="keyframe mode for cheap clips: the full --iters on every K-th frame, --refine-iters on the "
                    "flow-propagated frames between (0: off)")
    add_option(g, "--refine-iters", type=nonnegative_int, default=d.refine_iters,
               help="iterations of the frames between keyframes (with --keyframe-every)")
    add_option(g, "--init-mode", choices=INIT_MODES, default=d.init_mode,
               help="start each frame from: its content (independent), the previous stylized frame (prev), "
                    "or the previous stylized frame warped along the optical flow, occluded regions filled from the content (flow)")
    add_option(g, "--temporal-weight", type=positive_float, default=d.loss.temporal_weight,
               help="weight of the temporal loss mean(c * (x - warp(x_prev))^2) with occlusion mask c (Ruder et al. 2016), "
                    "relative to the content term for videos: the term is scaled by the mean square of the frame's "
                    "content features, so one weight means the same at every --alpha, size and network")
    add_option(g, "--revealed-weight", type=positive_float, default=d.loss.revealed_weight,
               help="style weight, relative to the whole frame's, of the content that entered the frame since the "
                    "last one (a pan's new edge), on its own: its masked Gram matrices against the style, while it "
                    "is behind the settled rest, so it catches up in a few frames instead of staying near the photo "
                    "(0: off)")
    add_option(g, "--flow-preset", choices=("ultrafast", "fast", "medium"), default=d.flow_preset,
               help="OpenCV DIS optical flow preset for --init-mode flow")
    add_chain_options(g, add_option, positive_float)
    add_option(g, "--long-term", type=offset_list, metavar="J", default=d.long_term,
               help="long-term consistency (Ruder et al. 2016): also tie each frame to the stylized frames these "
                    "offsets back, e.g. 1,2,4, each pixel to the closest one that saw it, so a region hidden for a "
                    "few frames comes back as it was (needs --init-mode flow and a --temporal-weight)")
    add_option(g, "--passes", type=positive_int, default=d.passes,
               help="offline multi-pass (Ruder et al. 2016): after the forward chain, N-1 more passes over the "
                    "whole clip, alternately backward and forward, each frame restarted from a blend of its last "
                    "pass and its neighbour's warp, with the temporal loss; keeps one result per frame on disk")
    add_option(g, "--pass-blend", type=unit_float, default=d.pass_blend,
               help="with --passes: share of the neighbour's warp in each later pass's start (Ruder's delta)")
    add_option(g, "--codec", default=d.codec, help="video encoder (libx264 falls back to mpeg4 if missing)")
    add_encoder_quality_options(g, add_option)
    add_option(g, "--output-size", choices=("processing", "source"), default=d.output_size,
               help="encode at the processing size, or upscale back to the source size")
    g.add_argument("--no-audio", dest="audio", action="store_false", default=None, help="drop the audio (default: copy it unchanged)")
    add_option(g, "--start", type=positive_float, default=d.start, help="start at this time in seconds")
    add_option(g, "--duration", type=positive_float, default=d.duration, help="stylize this many seconds")
    add_option(g, "--frames", "--max-frames", dest="max_frames", metavar="N", type=positive_int,
               default=d.max_frames,
               help="stylize at most this many frames (fewer if the clip ends first)")
    add_option(g, "--segment-frames", type=positive_int, default=d.segment_frames,
               help="frames per resumable segment in the work folder")
    if frame_numbers:
        g.add_argument("--start-frame", type=nonnegative_int, default=None, metavar="N",
                       help="start at frame N (counted from 0; not with --start); --duration and --frames then "
                            "count from there [default: 0]")
    g.add_argument("--overwrite", action="store_true", default=None, help="replace an existing OUTPUT")
    g.add_argument("--resume", action="store_true", default=None,
                   help="insist on resuming an interrupted run (a plain rerun with the same settings resumes too)")
    g.add_argument("--restart", action="store_true", default=None,
                   help="throw away the finished segments of an earlier run into OUTPUT and start over")


# -- building settings from parsed arguments -----------------------------------------------


def option_value(args: argparse.Namespace, name: str, default: Any) -> Any:
    """The explicit option if given, else the preset's value, else the dataclass default."""
    explicit = getattr(args, name, None)
    if explicit is not None:
        return explicit
    preset = PRESETS.get(getattr(args, "preset", None) or "", {})
    return preset.get(name, default)


def fill_settings(cls: type, args: argparse.Namespace, names: dict[str, str] | None = None, **fixed: Any) -> Any:
    """Build dataclass ``cls`` from args; ``names`` maps field -> argparse dest where they differ."""
    names = names or {}
    defaults = cls()
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in fixed:
            values[f.name] = fixed[f.name]
        else:
            values[f.name] = option_value(args, names.get(f.name, f.name), getattr(defaults, f.name))
    return cls(**values)


def loss_settings(args: argparse.Namespace) -> LossSettings:
    """LossSettings from parsed arguments (explicit option, else preset, else default)."""
    if getattr(args, "content_layer", None) is not None and getattr(args, "content_layers", None) is not None:
        raise CommandError("give --content-layer or --content-layers, not both")
    settings = fill_settings(LossSettings, args)
    return dataclasses.replace(settings, normalize_gradients=bool(settings.normalize_gradients))


def optim_settings(args: argparse.Namespace) -> OptimSettings:
    """OptimSettings from parsed arguments."""
    return fill_settings(OptimSettings, args)


def model_settings(args: argparse.Namespace) -> ModelSettings:
    """ModelSettings from parsed arguments."""
    settings = fill_settings(ModelSettings, args)
    return dataclasses.replace(settings, compile=bool(settings.compile), cuda_graphs=bool(settings.cuda_graphs))


def style_settings(args: argparse.Namespace) -> StyleSettings:
    """StyleSettings from parsed arguments (``args.style`` holds the paths); bad blends are refused."""
    settings = fill_settings(StyleSettings, args, {"size": "style_size", "scale": "style_scale", "blend": "style_blend"},
                     paths=tuple(args.style), masks=tuple(getattr(args, "style_mask", None) or ()))
    if settings.masks and len(settings.masks) != len(settings.paths):
        raise CommandError(f"{len(settings.masks)} --style-mask files given for {len(settings.paths)} style images "
                           "(one mask per style, in the same order)")
    if settings.masks and settings.blend is not None:
        raise CommandError("--style-mask and --style-blend exclude each other: each mask's region takes its own style")
    for path in settings.masks:  # checked here too so that Ray runs fail before any task starts
        if not os.path.isfile(path):
            raise CommandError(f"style mask file not found: {path}")
    if settings.blend is not None and len(settings.blend) != len(settings.paths):
        raise CommandError(f"{len(settings.blend)} --style-blend weights given for {len(settings.paths)} style images")
    if settings.blend is not None and sum(settings.blend) <= 0:
        raise CommandError("--style-blend weights must sum to a positive number")
    return settings


def cartoon_settings(args: argparse.Namespace):  # noqa: ANN201
    """CartoonSettings from parsed arguments, checked."""
    from ..core.cartoon import check_cartoon_settings
    from ..settings import CartoonSettings

    settings = fill_settings(CartoonSettings, args, {"enabled": "cartoon", "blend": "cartoon_blend",
                                             "colors": "cartoon_colors", "edge_strength": "cartoon_edges"})
    try:
        return check_cartoon_settings(dataclasses.replace(settings, enabled=bool(settings.enabled)))
    except ValueError as error:
        raise CommandError(str(error)) from None


def video_settings(args: argparse.Namespace) -> VideoSettings:
    """VideoSettings from parsed arguments (videos stop every frame early at the video --tol)."""
    optim = fill_settings(OptimSettings, args)
    optim = dataclasses.replace(optim, tol=option_value(args, "tol", VideoSettings().tol))
    loss = loss_settings(args)
    if option_value(args, "temporal_weight", None) is None:  # videos have their own default
        loss = dataclasses.replace(loss, temporal_weight=VideoSettings().loss.temporal_weight)
    settings = fill_settings(VideoSettings, args, input=args.input, output=args.output, style=style_settings(args),
                     loss=loss, optim=optim, model=model_settings(args),
                     cartoon=cartoon_settings(args))
    if settings.tune in ("none", ""):
        settings = dataclasses.replace(settings, tune=None)
    if not settings.scene_threshold > 0:
        raise CommandError("--scene-threshold must be > 0 (use --no-scene-detect to turn shot detection off)")
    return dataclasses.replace(settings, tol=optim.tol, overwrite=bool(settings.overwrite), resume=bool(settings.resume),
                               restart=bool(settings.restart), scene_detect=settings.scene_detect is not False)


def image_settings(args: argparse.Namespace, content: str, output: str) -> ImageSettings:
    """ImageSettings from parsed arguments (``vidstyle image``, and ``vidstyle INPUT STYLE`` with an image INPUT)."""
    return ImageSettings(
        content=content, output=output, size=option_value(args, "size", None), style=style_settings(args),
        loss=loss_settings(args), optim=optim_settings(args), model=model_settings(args),
        cartoon=cartoon_settings(args),
    )
