"""Labelled picture grids drawn with OpenCV (``cv2.putText``; no matplotlib).

A grid is rows of tiles, each tile with a label strip above it, an optional title strip on top
and optional row labels on the left. :func:`label_grid` returns the picture and where every
tile and label went, so callers and tests can find them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..core.tensors import to_tensor
from ..media.image_files import save_image

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK = (20, 20, 20)
_MIN_SCALE = 0.25

Box = tuple[int, int, int, int]  # y0, x0, y1, x1 (end exclusive)


@dataclass(frozen=True)
class Cell:
    """One tile of a grid: its row and column, and the boxes of its picture and its label."""

    row: int
    col: int
    tile: Box
    label: Box
    text: str


@dataclass(frozen=True)
class Grid:
    """A drawn grid: HxWx3 uint8 RGB ``image``, its ``cells``, the title and row-label boxes."""

    image: np.ndarray
    cells: tuple[Cell, ...]
    title: Box | None
    row_labels: tuple[Box, ...]


def _text_height(scale: float) -> int:
    (_, height), baseline = cv2.getTextSize("Ag", _FONT, scale, 1)
    return height + baseline


def fit_text(text: str, width: int, scale: float) -> tuple[str, float]:
    """``text`` and a font scale (at most ``scale``) at which it fits ``width`` pixels.

    Below the smallest readable scale the text is cut and ends in ``..``.
    """
    text = text.encode("ascii", "replace").decode()  # Hershey fonts draw ASCII only
    (w, _), _ = cv2.getTextSize(text, _FONT, scale, 1)
    if w > width:
        scale = max(_MIN_SCALE, scale * width / w)
    while text and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width:
        text = text[:-3] + ".." if len(text) > 3 else text[:-1]
    return text, scale


def draw_text(canvas: np.ndarray, box: Box, text: str, scale: float, center: bool = True) -> None:
    """Draw ``text`` inside ``box`` of the RGB ``canvas``, shrunk (or cut) to fit its width."""
    y0, x0, y1, x1 = box
    text, scale = fit_text(text, max(1, x1 - x0 - 4), scale)
    if not text:
        return
    (w, h), baseline = cv2.getTextSize(text, _FONT, scale, 1)
    x = x0 + (x1 - x0 - w) // 2 if center else x0 + 2
    y = y0 + (y1 - y0 + h - baseline) // 2
    cv2.putText(canvas, text, (x, y), _FONT, scale, _INK, 1, cv2.LINE_AA)


def wrap_text(text: str, width: int, scale: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` pixels at ``scale``."""
    lines: list[str] = []
    for word in text.split():
        if lines and cv2.getTextSize(f"{lines[-1]} {word}", _FONT, scale, 1)[0][0] <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _fit_tile(tile: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    tile = np.asarray(tile)
    if tile.dtype != np.uint8:
        raise ValueError(f"grid tiles must be uint8 images, not {tile.dtype}")
    if tile.ndim == 2:
        tile = np.repeat(tile[..., None], 3, axis=2)
    if tile.shape[:2] != size:
        shrink = tile.shape[0] > size[0]
        tile = cv2.resize(tile, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return tile


def label_grid(
    tiles: Sequence[Sequence[np.ndarray | None]],
    labels: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    row_labels: Sequence[str] | None = None,
    tile_size: tuple[int, int] | None = None,
    pad: int = 4,
    background: int = 255,
) -> Grid:
    """Draw rows of HxWx3 uint8 RGB ``tiles`` (None leaves a blank cell) with a label each.

    Every tile is resized to ``tile_size`` (h, w), by default the first tile's size. The font
    scale follows the tile width; labels too long for their strip are shrunk, then cut.
    """
    rows = [list(row) for row in tiles]
    if not rows or not any(t is not None for row in rows for t in row):
        raise ValueError("a grid needs at least one tile")
    if len(labels) != len(rows) or any(len(l) != len(r) for l, r in zip(labels, rows)):
        raise ValueError("labels must have the shape of tiles")
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(f"{len(row_labels)} row labels for {len(rows)} rows")
    first = next(t for row in rows for t in row if t is not None)
    th, tw = tile_size or tuple(np.asarray(first).shape[:2])
    cols = max(len(row) for row in rows)
    scale = float(np.clip(tw / 320, 0.3, 0.5))
    strip = _text_height(scale) + 6
    row_w = 0
    if row_labels:
        row_w = max(cv2.getTextSize(text, _FONT, scale, 1)[0][0] for text in row_labels) + 8 + pad
    width = pad + row_w + cols * (tw + pad)
    title_scale = 0.45 if width >= 400 else 0.35
    title_lines = wrap_text(title, width - 2 * pad - 4, title_scale) if title else []
    line_h = _text_height(title_scale) + 4
    title_h = line_h * len(title_lines) + 4 if title else 0
    height = pad + (title_h + pad if title else 0) + len(rows) * (strip + th + pad)
    canvas = np.full((height, width, 3), background, dtype=np.uint8)

    y = pad
    title_box: Box | None = None
    if title:
        title_box = (y, pad, y + title_h, width - pad)
        for i, line in enumerate(title_lines):
            draw_text(canvas, (y + 2 + i * line_h, pad, y + 2 + (i + 1) * line_h, width - pad), line, title_scale)
        y += title_h + pad
    cells: list[Cell] = []
    row_boxes: list[Box] = []
    for r, row in enumerate(rows):
        if row_labels:
            box = (y + strip, pad, y + strip + th, pad + row_w - pad)
            draw_text(canvas, box, row_labels[r], scale, center=False)
            row_boxes.append(box)
        for c, tile in enumerate(row):
            if tile is None:
                continue
            x = pad + row_w + c * (tw + pad)
            label_box, tile_box = (y, x, y + strip, x + tw), (y + strip, x, y + strip + th, x + tw)
            canvas[tile_box[0]:tile_box[2], tile_box[1]:tile_box[3]] = _fit_tile(tile, (th, tw))
            draw_text(canvas, label_box, labels[r][c], scale)
            cells.append(Cell(r, c, tile_box, label_box, labels[r][c]))
        y += strip + th + pad
    return Grid(canvas, tuple(cells), title_box, tuple(row_boxes))


def save_grid(grid: Grid, path) -> None:
    """Write the grid's picture to ``path`` (format from the extension; never half-written)."""
    save_image(to_tensor(grid.image), path)
