"""Parameter sweeps: the same content, style, start and seed, one loss weight varied per grid axis.

The first swept parameter runs along the columns, the second (if any) down the rows. Each cell
gets its own Stylizer from the factory (the network is shared, every other setting honoured), so
cells never influence each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..core.factory import load_network, network_layers
from ..core.features import VGGFeatures
from ..core.optimize import ProgressCallback
from ..core.stylize_image import stylize_image
from ..core.tensors import to_uint8
from ..settings import SWEEPABLE, ImageSettings, LossSettings, SweepSettings
from .grids import Grid, label_grid

Axis = tuple[str, tuple[float, ...]]


def check_axes(axes: Sequence[Axis]) -> list[Axis]:
    """At most two axes over distinct, sweepable parameters with at least one value each."""
    axes = [(name, tuple(values)) for name, values in axes]
    if not axes:
        raise ValueError("nothing to sweep: give a list of values for " + " and/or ".join(SWEEPABLE))
    if len(axes) > 2:
        raise ValueError(f"a sweep grid has at most two axes, not {len(axes)}")
    for name, values in axes:
        if name not in SWEEPABLE:
            raise ValueError(f"cannot sweep {name!r}; sweepable: {', '.join(SWEEPABLE)}")
        if not values:
            raise ValueError(f"no values given for {name}")
    if len({name for name, _ in axes}) != len(axes):
        raise ValueError("the same parameter is swept twice")
    return axes


def sweep_grid(base: LossSettings, axes: Sequence[Axis]) -> list[list[LossSettings]]:
    """Loss settings per cell, rows x columns: columns vary the first axis, rows the second."""
    axes = check_axes(axes)
    (col_name, col_values), *rest = axes
    rows: list[tuple[tuple[str, float], ...]] = [()] if not rest else [((rest[0][0], v),) for v in rest[0][1]]
    return [
        [dataclasses.replace(base, **dict(row), **{col_name: value}) for value in col_values]
        for row in rows
    ]


def cell_label(loss: LossSettings, axes: Sequence[Axis]) -> str:
    """``"alpha=100 beta=1"``: the swept values of one cell."""
    return " ".join(f"{name}={getattr(loss, name):g}" for name, _ in axes)


@dataclass
class SweepResult:
    """The images (1, 3, H, W) per cell, rows x columns, the loss settings of each cell, and
    the weights the network held."""

    images: list[list[torch.Tensor]]
    grid: list[list[LossSettings]]
    weights_label: str


def run_sweep(
    settings: SweepSettings,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    *,
    init: str | torch.Tensor | None = None,
    extractor: VGGFeatures | None = None,
    progress: bool = True,
    on_cell: Callable[[int, int], None] | None = None,
    callback: ProgressCallback | None = None,
    masks: torch.Tensor | None = None,
) -> SweepResult:
    """Stylize ``content`` once per cell of the sweep, from the same start and seed, each cell as
    ``vidstyle image`` would (:func:`~vidstyle.core.stylize_image.stylize_image`: working size,
    colours, cartoon look) on one shared network. ``init`` overrides ``settings.optim.init`` (an image file comes
    in as a tensor). ``on_cell(row, col)`` is called before each cell (for progress display).
    ``masks``: the style masks (1, R, H, W) of ``--style-mask``, or None.
    """
    grid = sweep_grid(settings.loss, settings.axes)
    if extractor is None:  # the swept weights change no layer: one network serves every cell
        extractor = load_network(network_layers(settings.loss), settings.model, seed=settings.optim.seed,
                                 progress=progress)
    images: list[list[torch.Tensor]] = []
    for r, row in enumerate(grid):
        images.append([])
        for c, loss in enumerate(row):
            if on_cell is not None:
                on_cell(r, c)
            cell = ImageSettings(size=settings.size, style=settings.style, loss=loss, optim=settings.optim,
                                 model=settings.model, cartoon=settings.cartoon)
            done = stylize_image(content, styles, cell, init=init, extractor=extractor, callback=callback,
                                 masks=masks)
            images[-1].append(done.image)
    return SweepResult(images, grid, extractor.weights_label)


def sweep_picture(
    images: Sequence[Sequence[torch.Tensor]],
    grid: Sequence[Sequence[LossSettings]],
    axes: Sequence[Axis],
    title: str | None = None,
) -> Grid:
    """The labelled grid of a sweep's images: each tile labelled with its column's value
    (``alpha=100``), each row with its row's value (``beta=10``) when there are two axes."""
    tiles = [[to_uint8(image) for image in row] for row in images]
    labels = [[cell_label(loss, axes[:1]) for loss in row] for row in grid]
    row_labels = [cell_label(row[0], axes[1:]) for row in grid] if len(axes) > 1 else None
    return label_grid(tiles, labels, title=title, row_labels=row_labels)
