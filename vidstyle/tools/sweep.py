"""Parameter sweeps: the same content, style, start and seed, one loss weight varied per grid axis.

The first swept parameter runs along the columns, the second (if any) down the rows. Each cell
gets its own Stylizer (the network is shared), so cells never influence each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch

from ..core.features import VGGFeatures
from .grids import Grid, label_grid
from ..media.image_files import to_uint8
from ..core.optimize import ProgressCallback
from ..settings import SWEEPABLE, LossSettings, OptimSettings, StyleSettings
from ..core.stylizer import Stylizer

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


def run_sweep(
    extractor: VGGFeatures,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    grid: Sequence[Sequence[LossSettings]],
    optim: OptimSettings,
    style: StyleSettings,
    *,
    init: str | torch.Tensor | None = None,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    on_cell: Callable[[int, int], None] | None = None,
    callback: ProgressCallback | None = None,
) -> list[list[torch.Tensor]]:
    """Stylize ``content`` once per cell of ``grid``; returns the images (1, 3, H, W) per cell.

    ``on_cell(row, col)`` is called before each cell (for progress display).
    """
    images: list[list[torch.Tensor]] = []
    for r, row in enumerate(grid):
        images.append([])
        for c, loss in enumerate(row):
            if on_cell is not None:
                on_cell(r, c)
            stylizer = Stylizer(extractor, styles, loss=loss, optim=optim, style=style, device=device, precision=precision)
            images[-1].append(stylizer.stylize(content, init, callback=callback).image)
    return images


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
