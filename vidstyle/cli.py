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
from typing import Any, NoReturn

from . import __version__
from .errors import VidstyleError
from .settings import (
    MAX_AUTO_SIZE,
    PRESETS,
    ImageSettings,
    LossSettings,
    ModelSettings,
    OptimSettings,
    StyleSettings,
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
    if isinstance(value, tuple):
        return ",".join(f"{k}:{v:g}" if isinstance(v, float) else str(k) for k, v in value) if value and isinstance(value[0], tuple) else ",".join(map(str, value))
    return "none" if value is None else str(value)


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
    value = _positive_int(text) if text != "0" else 0
    return value


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
    g.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="a bundle of settings (" + "; ".join(f"{k}: {v['doc']}" for k, v in sorted(PRESETS.items()))
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
    from .imageio import check_writable, load_image, resize_long_side, save_image
    from .stylizer import Stylizer

    settings = ImageSettings(
        content=args.content, output=args.output, size=_value(args, "size", None),
        style=style_settings(args), loss=loss_settings(args), optim=optim_settings(args), model=model_settings(args),
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

    stylizer = Stylizer.from_settings(styles, settings.loss, settings.optim, settings.style, settings.model,
                                      progress=not args.quiet)
    bar, callback = iteration_bar(settings.optim.iters, args.quiet, "stylize")
    with bar:
        result = stylizer.stylize(content, init, callback=callback)
    save_image(result.image, settings.output)
    if not args.quiet:
        h, w = result.image.shape[-2:]
        stop = " (stopped early)" if result.stopped_early else ""
        print(f"wrote {settings.output} ({w}x{h}, {result.iterations} iterations{stop}, "
              f"loss {result.losses[-1] if result.losses else float('nan'):.4g}, weights: {stylizer.weights_label})",
              file=sys.stderr)
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
    add_loss_options(image)
    add_optim_options(image)
    add_model_options(image)
    add_common_options(image)
    image.set_defaults(run=run_image)
    return parser


COMMANDS = ("image",)


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
    from .errors import VidstyleError

    try:
        with _warnings_as_lines(args.debug):
            return args.run(args)
    except KeyboardInterrupt:
        print("vidstyle: interrupted", file=sys.stderr)
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
