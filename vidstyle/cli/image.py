"""``vidstyle image``, ``reconstruct``, ``sweep`` and ``batch``: still images, and the iteration bars.

Each command parses, loads its files (so a typo fails before the network is built), calls the
library (:mod:`vidstyle.core.stylize_image`, :mod:`vidstyle.tools`), saves and draws progress.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings

from ..settings import MAX_AUTO_SIZE, ImageSettings, StyleSettings
from .options import (
    ESSENTIALS,
    EXIT_OK,
    CommandError,
    add_cartoon_options,
    add_common_options,
    add_json_option,
    add_loss_options,
    add_model_options,
    add_optim_options,
    add_option,
    add_stylize_options,
    add_verbosity_options,
    cartoon_settings,
    essentials_group,
    fill_settings,
    image_settings,
    layer_list,
    loss_settings,
    model_settings,
    nonnegative_int,
    optim_settings,
    option_value,
    positive_float,
    positive_int,
    scale_factor,
    size_int,
    style_settings,
    sweep_values,
)
from .parser import FORMATTER
from .report import print_json


def iteration_bar(total: int, quiet: bool, desc: str):  # noqa: ANN201
    """A tqdm bar over optimisation iterations, and the callback that advances it."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="it", disable=quiet, dynamic_ncols=True, leave=False)

    def callback(iteration: int, loss: float) -> None:
        bar.update(iteration - bar.n)
        bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

    return bar, callback


class RunsBar:
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


def check_image_output(path: str, *inputs: str) -> None:
    """Refuse, before any work, an image output OpenCV cannot write (no or a video extension)
    or one that would overwrite an input."""
    import os
    from pathlib import Path

    import cv2

    suffix = Path(path).suffix.lower()
    if not suffix:
        raise CommandError(f"{path}: the output needs an image extension (.png, .jpg, .bmp, .tif, .webp)")
    if not cv2.haveImageWriter(f"x{suffix}"):
        hint = "; for a video use 'vidstyle video'" if suffix in (".mp4", ".mkv", ".webm", ".mov", ".avi") else ""
        raise CommandError(f"{path}: cannot write {suffix} images; use .png, .jpg, .bmp, .tif or .webp{hint}")
    for source in inputs:
        try:
            same = os.path.samefile(source, path)
        except OSError:
            same = Path(source).resolve() == Path(path).resolve()
        if same:
            raise CommandError(f"the output would overwrite the input {source}; choose another -o")


def snapshot_path(output: str, iteration: int) -> str:
    """Where ``--save-every`` writes the image after ``iteration``: ``out.0050.png`` beside ``out.png``."""
    from pathlib import Path

    path = Path(output)
    return str(path.with_name(f"{path.stem}.{iteration:04d}{path.suffix or '.png'}"))


def stylize_image_file(settings: ImageSettings, quiet: bool, *, as_json: bool = False) -> int:
    """Load, stylize (:func:`~vidstyle.core.stylize_image.stylize_image`), save, report (``as_json``:
    the report as JSON on stdout too).

    ``settings.save_every``: the image so far is written every N iterations
    (:func:`snapshot_path`). Ctrl-C writes the image so far to the output and exits 130.
    """
    import time

    from ..core.optimize import OptimizationInterrupted
    from ..core.stylize_image import stylize_image
    from ..errors import Interrupted
    from ..media.image_files import check_writable, load_image, load_init, save_image
    from ..media.style_masks import load_mask_images

    # Every input is checked before the network is built: a typo should fail in a second.
    check_image_output(settings.output, settings.content, *settings.style.paths,
                       *([settings.optim.init] if settings.optim.init not in ("content", "random") else []))
    content = load_image(settings.content, "content")
    source_side = max(content.shape[-2:])
    if settings.size is not None and settings.size > 2 * source_side:  # memory grows with the square
        warnings.warn(f"--size {settings.size} enlarges the {content.shape[-1]}x{content.shape[-2]} content "
                      f"{settings.size / source_side:.1f}x (memory and time grow with the square of the size)",
                      stacklevel=1)
    styles = [load_image(path, "style") for path in settings.style.paths]
    masks = load_mask_images(settings.style.masks)
    check_writable(settings.output)
    init = load_init(settings.optim.init)
    bar, callback = iteration_bar(settings.optim.iters, quiet, "stylize")
    started = time.perf_counter()
    with bar:
        try:
            done = stylize_image(content, styles, settings, init=init, progress=not quiet, callback=callback,
                                 masks=masks,
                                 snapshot=lambda i, image: save_image(image, snapshot_path(settings.output, i)))
        except OptimizationInterrupted as stop:
            save_image(stop.image, settings.output)
            raise Interrupted(f"interrupted after {stop.iterations} of {settings.optim.iters} iterations; "
                              f"the image so far is in {settings.output}") from None
    save_image(done.image, settings.output)
    if as_json:
        h, w = done.result.image.shape[-2:]
        losses = done.result.losses
        print_json({"command": "image", "output": str(settings.output), "frames": 1, "size": [w, h],
                    "iterations": done.result.iterations, "stopped_early": done.result.stopped_early,
                    "loss": losses[-1] if losses else None, "seconds": round(time.perf_counter() - started, 3),
                    "weights": done.weights_label})
    if not quiet:
        result = done.result
        h, w = result.image.shape[-2:]
        stop = " (stopped early)" if result.stopped_early else ""
        print(f"wrote {settings.output} ({w}x{h}, {result.iterations} iterations{stop}, "
              f"loss {result.losses[-1] if result.losses else float('nan'):.4g}, weights: {done.weights_label})",
              file=sys.stderr)
    return EXIT_OK


def image_command(args: argparse.Namespace) -> int:
    """``vidstyle image CONTENT STYLE... -o OUT``."""
    settings = image_settings(args, args.content, args.output)
    save_every = option_value(args, "save_every", 0)
    return stylize_image_file(dataclasses.replace(settings, save_every=save_every), args.quiet, as_json=args.json)


def reconstruct_command(args: argparse.Namespace) -> int:
    """``vidstyle reconstruct IMAGE -o GRID``."""
    from ..media.image_files import check_writable, load_image
    from ..settings import ReconstructSettings
    from ..tools.grids import save_grid
    from ..tools.reconstruct import reconstruction_grid, reconstruction_plan, run_reconstructions

    d = ReconstructSettings()
    optim = dataclasses.replace(d.optim, **{name: option_value(args, name, getattr(d.optim, name))
                                            for name in ("optimizer", "iters", "lr", "tol", "check_every", "seed")})
    settings = ReconstructSettings(image=args.image, output=args.output, layers=option_value(args, "layers", d.layers),
                                   size=option_value(args, "size", d.size), optim=optim, model=model_settings(args))
    check_image_output(settings.output, settings.image)
    image = load_image(settings.image, "image")
    check_writable(settings.output)
    runs = RunsBar(len(reconstruction_plan(settings.layers)), optim.iters, args.quiet, "reconstruct")
    with runs.bar:
        run = run_reconstructions(settings, image, progress=not args.quiet, on_start=runs.start,
                                  callback=runs.callback)
    title = f"reconstructions from noise, {optim.iters} {optim.optimizer} iterations each; weights: {run.weights_label}"
    save_grid(reconstruction_grid(run.image, run.done, title), settings.output)
    if not args.quiet:
        print(f"wrote {settings.output} ({len(run.done)} reconstructions, weights: {run.weights_label})",
              file=sys.stderr)
    return EXIT_OK


def sweep_command(args: argparse.Namespace) -> int:
    """``vidstyle sweep CONTENT STYLE... --alpha A1,A2,... [--beta B1,...] -o GRID``."""
    from pathlib import Path

    from ..media.image_files import check_writable, load_image, load_init
    from ..media.style_masks import load_mask_images
    from ..settings import DEFAULT_SWEEP, SWEEPABLE, SweepSettings
    from ..tools.grids import save_grid
    from ..tools.sweep import check_axes, run_sweep, sweep_grid, sweep_picture

    axes = tuple((name, getattr(args, name)) for name in SWEEPABLE if getattr(args, name) is not None)
    unswept = argparse.Namespace(**{**vars(args), **{name: None for name in SWEEPABLE}})
    settings = SweepSettings(content=args.content, output=args.output, size=option_value(args, "size", None),
                             axes=check_axes(axes or DEFAULT_SWEEP), style=style_settings(args),
                             loss=loss_settings(unswept), optim=optim_settings(args), model=model_settings(args),
                             cartoon=cartoon_settings(args))
    check_image_output(settings.output, settings.content, *settings.style.paths,
                       *([settings.optim.init] if settings.optim.init not in ("content", "random") else []))
    content = load_image(settings.content, "content")
    styles = [load_image(path, "style") for path in settings.style.paths]
    masks = load_mask_images(settings.style.masks)
    check_writable(settings.output)
    init = load_init(settings.optim.init)
    grid = sweep_grid(settings.loss, settings.axes)
    cells, columns = sum(len(row) for row in grid), len(grid[0])
    runs = RunsBar(cells, settings.optim.iters, args.quiet, "sweep")
    with runs.bar:
        sweep = run_sweep(settings, content, styles, init=init, progress=not args.quiet, masks=masks,
                          on_cell=lambda r, c: runs.start(f"cell {r * columns + c + 1}/{cells}"),
                          callback=runs.callback)
    names = " + ".join(Path(p).name for p in settings.style.paths)
    title = (f"{Path(settings.content).name} x {names}: {settings.optim.iters} {settings.optim.optimizer} "
             f"iterations per cell; weights: {sweep.weights_label}")
    save_grid(sweep_picture(sweep.images, sweep.grid, settings.axes, title), settings.output)
    if not args.quiet:
        print(f"wrote {settings.output} ({cells} cells, weights: {sweep.weights_label})", file=sys.stderr)
    return EXIT_OK


def batch_command(args: argparse.Namespace) -> int:
    """``vidstyle batch IN_DIR --styles DIR -o OUT_DIR --seed S``."""
    import time
    from collections import Counter

    from tqdm import tqdm

    from ..media.image_files import load_init
    from ..settings import BatchSettings
    from ..tools.image_batch import check_folders, check_manifest, folder_bank, load_style_folder, stylize_folder

    d = BatchSettings()
    settings = BatchSettings(
        input_dir=args.input_dir, styles_dir=args.styles, output_dir=args.output,
        size=option_value(args, "size", None), batch_size=option_value(args, "batch_size", d.batch_size),
        style=fill_settings(StyleSettings, args, {"size": "style_size", "scale": "style_scale"}),
        loss=loss_settings(args), optim=optim_settings(args), model=model_settings(args),
        cartoon=cartoon_settings(args),
    )
    check_folders(settings)
    names, styles, problems = load_style_folder(settings.styles_dir)
    for problem in problems:
        warnings.warn(f"skipped: {problem}", stacklevel=1)
    if not styles:
        raise CommandError(f"no readable style images in {settings.styles_dir}")
    check_manifest(settings, names)
    load_init(settings.optim.init)  # a bad --init fails before the network is built
    bank = folder_bank(settings, styles, progress=not args.quiet)
    counts: Counter[str] = Counter()
    bad: list[str] = []
    started = time.perf_counter()
    with tqdm(desc="images", unit="image", disable=args.quiet, dynamic_ncols=True) as bar:
        for event in stylize_folder(settings, bank, names):
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
              f"{counts['bad']} unreadable skipped ({len(styles)} styles, weights: {bank.stylizer.weights_label})",
              file=sys.stderr)
    if args.json:
        print_json({"command": "batch", "output": str(settings.output_dir), "frames": counts["done"],
                    "stylized": counts["done"], "skipped": counts["skipped"], "unreadable": counts["bad"],
                    "iterations_per_image": settings.optim.iters, "styles": len(styles),
                    "seconds": round(time.perf_counter() - started, 3), "weights": bank.stylizer.weights_label})
    return EXIT_OK


def add_image_command(commands) -> None:  # noqa: ANN001
    image = commands.add_parser("image", help="stylize one image",
                                usage="vidstyle image CONTENT STYLE [STYLE ...] -o OUTPUT [options]",
                                description="Stylize one image.",
                                formatter_class=FORMATTER)
    image.add_argument("content", help="content image file")
    image.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-blend)")
    image.add_argument("-o", "--output", required=True, help="output image file (PNG, JPEG, ...)")
    add_option(image, "--size", type=size_int, default=f"the content's size, at most {MAX_AUTO_SIZE}",
               help="long side of the working image in pixels")
    add_option(image, "--save-every", type=nonnegative_int, default=ImageSettings().save_every, metavar="N",
               help="write the image so far every N iterations beside the output, as OUT.NNNN.EXT (e.g. "
                    "out.0050.png); 0: never. Ctrl-C always writes the image so far to the output")
    add_stylize_options(image)
    add_common_options(image)
    add_json_option(image)
    essentials_group(image, ESSENTIALS)
    image.set_defaults(run=image_command)


def add_reconstruct_command(commands) -> None:  # noqa: ANN001
    from ..settings import ReconstructSettings

    d = ReconstructSettings()
    p = commands.add_parser(
        "reconstruct", help="what each layer keeps: images rebuilt from noise (labelled grid)",
        usage="vidstyle reconstruct IMAGE -o OUTPUT [options]",
        description="Rebuild IMAGE from seeded noise from its content representation on each layer (first row) "
                    "and from its style representation on the layers up to each layer (second row: texture "
                    "synthesis), as in Gatys et al. (2015), Fig. 1. Writes a labelled grid.",
        formatter_class=FORMATTER)
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", required=True, help="output grid image (PNG, JPEG, ...)")
    add_option(p, "--layers", type=layer_list, default=d.layers, help="layers, comma-separated")
    add_option(p, "--size", type=size_int, default=d.size, help="long side of the working image in pixels")
    g = p.add_argument_group("optimisation")
    add_option(g, "--iters", type=nonnegative_int, default=d.optim.iters, help="iterations per reconstruction")
    add_option(g, "--optimizer", choices=("lbfgs", "adam"), default=d.optim.optimizer, help="optimiser of the pixels")
    add_option(g, "--lr", type=positive_float, default="1.0 for lbfgs, 0.02 for adam", help="step size")
    add_option(g, "--tol", type=positive_float, default=d.optim.tol, help="early-stop tolerance (0: never)")
    add_option(g, "--check-every", type=positive_int, default=d.optim.check_every,
               help="iterations between loss read-backs")
    add_option(g, "--seed", type=int, default=d.optim.seed, help="seed of the noise start and of random weights")
    add_model_options(p, speed=False)  # a small diagnostic picture: its own loop, no Stylizer
    g = p.add_argument_group("general")
    add_verbosity_options(g)
    g.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    essentials_group(p, ("--output", "--layers", "--size", "--iters", "--device"))
    p.set_defaults(run=reconstruct_command)


def add_sweep_command(commands) -> None:  # noqa: ANN001
    from ..settings import DEFAULT_SWEEP

    p = commands.add_parser(
        "sweep", help="a labelled grid of results across values of alpha and/or beta",
        usage="vidstyle sweep CONTENT STYLE [STYLE ...] -o OUTPUT [--alpha V1,V2,...] [--beta V1,V2,...] [options]",
        description="Stylize CONTENT once per value (or pair of values) of the swept loss weights, from the same "
                    "start and seed, and write a labelled grid: the first swept parameter varies along the "
                    "columns, the second down the rows. Without --alpha or --beta, alpha is swept over "
                    + ",".join(f"{v:g}" for v in DEFAULT_SWEEP[0][1]) + ".",
        formatter_class=FORMATTER)
    p.add_argument("content", help="content image file")
    p.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-blend)")
    p.add_argument("-o", "--output", required=True, help="output grid image (PNG, JPEG, ...)")
    add_option(p, "--size", type=size_int, default=f"the content's size, at most {MAX_AUTO_SIZE}",
               help="long side of the working image in pixels")
    add_stylize_options(p, "iterations per cell")
    swept = ",".join(f"{v:g}" for v in DEFAULT_SWEEP[0][1])
    for name in ("alpha", "beta"):
        action = p._option_string_actions[f"--{name}"]
        action.type, action.metavar = sweep_values, "V1,V2,..."
        fixed = action.help[action.help.index("[default:") + len("[default:"):].rstrip("]").strip()
        default = (f"{swept} when --beta is not given, else {fixed}" if name == "alpha" else f"{fixed}, not swept")
        action.help = action.help[:action.help.index("[default:")].rstrip() + f"; comma-separated values to sweep [default: {default}]"
    add_common_options(p)
    essentials_group(p, ("--output", "--alpha", "--beta", "--preset", "--size", "--device", "--iters"))
    p.set_defaults(run=sweep_command)


def add_batch_command(commands) -> None:  # noqa: ANN001
    from ..settings import BatchSettings

    d = BatchSettings()
    p = commands.add_parser(
        "batch", help="stylize a folder of images, a random style each (augmentation; resumable)",
        usage="vidstyle batch IN_DIR --styles DIR -o OUT_DIR [options]",
        description="Stylize every image of IN_DIR with a style chosen at random from --styles DIR. The choice "
                    "depends only on --seed and the file names, so reruns repeat it. Images of the same working "
                    "size are optimised together on the device. Rerunning skips finished files; unreadable "
                    "files are skipped with a warning and counted. OUT_DIR/vidstyle-batch.json records each "
                    "image's style.",
        formatter_class=FORMATTER)
    p.add_argument("input_dir", metavar="IN_DIR", help="folder of content images (not recursive)")
    p.add_argument("--styles", required=True, metavar="DIR", help="folder of style images")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder (created if missing)")
    add_option(p, "--size", type=size_int, default=f"each image's size, at most {MAX_AUTO_SIZE}",
               help="long side of the working images in pixels")
    add_option(p, "--batch-size", type=positive_int, default=d.batch_size,
               help="images of the same size optimised at once (with lbfgs they share its step history; "
                    "adam or 1 make each image independent of its batch mates)")
    g = p.add_argument_group("style")
    add_option(g, "--style-size", type=positive_int, default=d.style.size,
               help="long side of the style images in pixels")
    add_option(g, "--style-scale", type=scale_factor, default=d.style.scale,
               help="style size relative to the content's")
    add_cartoon_options(p)
    add_loss_options(p)
    add_optim_options(p)
    add_model_options(p)
    add_common_options(p)
    add_json_option(p)
    essentials_group(p, ("--styles", *ESSENTIALS))
    p.set_defaults(run=batch_command)
