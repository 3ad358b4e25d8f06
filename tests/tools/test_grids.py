"""Labelled grids: layout arithmetic, tiles placed verbatim, labels actually drawn."""

import numpy as np
import pytest

from vidstyle.tools.grids import fit_text, label_grid, wrap_text


def tiles(rows, cols, h=20, w=30):
    rng = np.random.default_rng(0)
    return [[rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(cols)] for _ in range(rows)]


def ink(image, box):
    y0, x0, y1, x1 = box
    return int((image[y0:y1, x0:x1] < 200).any(axis=2).sum())


def test_layout_places_every_tile_verbatim_and_labels_each():
    pictures = tiles(2, 3)
    labels = [["a=1", "a=10", "a=100"], ["x", "y", "z"]]
    grid = label_grid(pictures, labels, pad=4)
    assert len(grid.cells) == 6
    strip = grid.cells[0].label[2] - grid.cells[0].label[0]
    assert grid.image.shape == (4 + 2 * (strip + 20 + 4), 4 + 3 * (30 + 4), 3)
    for cell in grid.cells:
        y0, x0, y1, x1 = cell.tile
        assert np.array_equal(grid.image[y0:y1, x0:x1], pictures[cell.row][cell.col])
        assert cell.text == labels[cell.row][cell.col]
        assert ink(grid.image, cell.label) > 5  # the text left dark pixels in its strip
        assert cell.label[2] == cell.tile[0] and cell.label[1] == cell.tile[1]  # strip right above


def test_blank_cells_title_and_row_labels():
    pictures = tiles(2, 2)
    pictures[1][0] = None
    grid = label_grid(pictures, [["a", "b"], ["", "d"]], title="a title", row_labels=["first", "second"])
    assert len(grid.cells) == 3
    assert grid.title is not None and ink(grid.image, grid.title) > 5
    assert len(grid.row_labels) == 2 and all(ink(grid.image, box) > 5 for box in grid.row_labels)
    # The blank cell is background only.
    x0 = grid.cells[0].tile[1]
    y0 = grid.cells[-1].tile[0]
    assert (grid.image[y0:y0 + 20, x0:x0 + 30] == 255).all()
    # Tiles start right of the row labels.
    assert min(c.tile[1] for c in grid.cells) > grid.row_labels[0][3]


def test_tiles_of_other_sizes_are_resized_and_bad_shapes_refused():
    pictures = [[np.zeros((20, 30, 3), np.uint8), np.full((40, 60, 3), 100, np.uint8)]]
    grid = label_grid(pictures, [["s", "b"]])
    y0, x0, y1, x1 = grid.cells[1].tile
    assert (y1 - y0, x1 - x0) == (20, 30) and (grid.image[y0:y1, x0:x1] == 100).all()
    with pytest.raises(ValueError, match="shape of tiles"):
        label_grid(pictures, [["only one"]])
    with pytest.raises(ValueError, match="at least one tile"):
        label_grid([[None]], [[""]])


def test_long_text_is_shrunk_then_cut_and_titles_wrap():
    text, scale = fit_text("a rather long label for a small tile", 40, 0.5)
    assert scale < 0.5 and text.endswith("..")
    short, same = fit_text("ok", 100, 0.5)
    assert (short, same) == ("ok", 0.5)
    lines = wrap_text("one two three four five six seven", 60, 0.4)
    assert len(lines) > 1 and " ".join(lines) == "one two three four five six seven"
