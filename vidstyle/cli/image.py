"""``vidstyle image``, ``reconstruct``, ``sweep`` and ``batch``: still images, and the iteration bars."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from typing import Any

from ..settings import MAX_AUTO_SIZE, ImageSettings, StyleSettings
from .options import (
    CommandError,
    EXIT_OK,
    _FORMATTER,
    _fill,
    _layer_list,
    _nonnegative_int,
    _opt,
    _positive_float,
    _positive_int,
    _sweep_values,
    _value,
    add_common_options,
    add_loss_options,
    add_model_options,
    add_optim_options,
    add_stylize_options,
    cartoon_settings,
    loss_settings,
    model_settings,
    optim_settings,
    style_settings,
)


def iteration_bar(total: int, quiet: bool, desc: str):
    """A tqdm bar over optimisation iterations, and the callback that advances it."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="it", disable=quiet, dynamic_ncols=True, leave=False)

    def callback(iteration: int, loss: float) -> None:
        bar.update(iteration - bar.n)
        bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

    return bar, callback


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


def run_image(args: argparse.Namespace) -> int:
    """``vidstyle image CONTENT STYLE... -o OUT``."""
    from ..core.colors import color_inputs, color_output
    from ..media.image_files import check_writable, load_image, resize_long_side, save_image
    from ..core.stylizer import Stylizer

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
        from ..core.cartoon import cartoonize
        from ..media.image_files import to_tensor, to_uint8

        image = to_tensor(cartoonize(to_uint8(content), to_uint8(image), settings.cartoon))
    save_image(image, settings.output)
    if not args.quiet:
        h, w = result.image.shape[-2:]
        stop = " (stopped early)" if result.stopped_early else ""
        print(f"wrote {settings.output} ({w}x{h}, {result.iterations} iterations{stop}, "
              f"loss {result.losses[-1] if result.losses else float('nan'):.4g}, weights: {stylizer.weights_label})",
              file=sys.stderr)
    return EXIT_OK


def run_reconstruct(args: argparse.Namespace) -> int:
    """``vidstyle reconstruct IMAGE -o GRID``."""
    from ..core.features import load_vgg_features
    from ..tools.grids import save_grid
    from ..media.image_files import check_writable, load_image, resize_long_side
    from ..tools.reconstruct import reconstruct_all, reconstruction_grid, reconstruction_plan
    from ..core.runtime import resolve_device, resolve_precision
    from ..settings import ReconstructSettings

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

    from ..core.colors import color_inputs, color_output
    from ..tools.grids import save_grid
    from ..media.image_files import check_writable, load_image, resize_long_side
    from ..settings import DEFAULT_SWEEP, SWEEPABLE, SweepSettings
    from ..core.stylizer import Stylizer
    from ..tools.sweep import check_axes, run_sweep as sweep, sweep_grid, sweep_picture

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

    from ..tools.image_batch import check_folders, check_manifest, load_style_folder, stylize_folder
    from ..settings import BatchSettings
    from ..tools.style_bank import StyleBank
    from ..core.stylizer import Stylizer

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


def _add_image_command(commands) -> None:  # noqa: ANN001
    image = commands.add_parser("image", help="stylize one image", description="Stylize one image.",
                                formatter_class=_FORMATTER)
    image.add_argument("content", help="content image file")
    image.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-blend)")
    image.add_argument("-o", "--output", required=True, help="output image file (PNG, JPEG, ...)")
    _opt(image, "--size", type=_positive_int, default=f"the content's size, at most {MAX_AUTO_SIZE}",
         help="long side of the working image in pixels")
    add_stylize_options(image)
    add_common_options(image)
    image.set_defaults(run=run_image)


def _add_reconstruct_command(commands) -> None:  # noqa: ANN001
    from ..settings import ReconstructSettings

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
    from ..settings import DEFAULT_SWEEP

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
    add_stylize_options(p, "iterations per cell", cartoon=False)
    for name in ("alpha", "beta"):
        action = p._option_string_actions[f"--{name}"]
        action.type, action.metavar = _sweep_values, "V1,V2,..."
        action.help = action.help.replace("[default:", "; comma-separated values to sweep [default:")
    add_common_options(p)
    p.set_defaults(run=run_sweep)


def _add_batch_command(commands) -> None:  # noqa: ANN001
    from ..settings import BatchSettings

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
