"""The cartoon post-process: size, palette, outlines, blend, determinism, purity, bad settings."""

import dataclasses

import numpy as np
import pytest
from helpers import stripes_image, structured_image

from vidstyle.core.cartoon import cartoonize, edge_mask, fit_palette, quantize
from vidstyle.settings import CartoonSettings


def frame_with_a_square(h=48, w=64):
    frame = np.full((h, w, 3), 200, np.uint8)
    frame[12:36, 16:48] = 40  # a dark square on a light background: its border is an outline
    return frame


def n_colours(image):
    return len(np.unique(image.reshape(-1, 3), axis=0))


def test_output_has_the_frame_size_whatever_the_stylized_size():
    frame, stylized = structured_image(48, 64), stripes_image(24, 32)
    out = cartoonize(frame, stylized)
    assert out.shape == frame.shape and out.dtype == np.uint8


def test_palette_is_reduced_to_the_requested_colours():
    stylized = structured_image(48, 64, seed=2)
    flat = cartoonize(frame_with_a_square(), stylized, CartoonSettings(colors=5, blend=1.0, edge_strength=0.0))
    assert n_colours(flat) <= 5 < n_colours(stylized)
    palette = fit_palette(stylized, 5)
    assert palette.shape == (5, 3)
    # Quantizing with a given palette uses exactly those colours.
    fixed = np.array([[0, 0, 0], [255, 255, 255]], np.float32)
    assert set(map(tuple, quantize(stylized, fixed).reshape(-1, 3))) <= {(0, 0, 0), (255, 255, 255)}


@pytest.mark.parametrize("widths", [(27, 27, 26), (48, 24, 8), (8, 24, 48), (70, 6, 4)])
def test_palette_of_three_flat_colours_is_those_colours(widths):
    colours = np.array([[200, 30, 40], [20, 160, 60], [40, 50, 220]], np.uint8)
    picture = np.zeros((30, 80, 3), np.uint8)
    edges = np.cumsum([0, *widths])
    for colour, left, right in zip(colours, edges, edges[1:]):
        picture[:, left:right] = colour  # unequal areas: the rarest colour covers 5% of the picture
    as_set = {tuple(c) for c in colours.tolist()}
    palette = fit_palette(picture, 3)
    assert sorted(map(tuple, palette.round().astype(int).tolist())) == sorted(as_set)
    assert np.abs(palette - palette.round()).max() < 1e-3  # the means of flat regions, exactly
    # More entries than colours: every entry is still one of them (some repeated), none invented.
    assert set(map(tuple, fit_palette(picture, 5).round().astype(int).tolist())) == as_set
    assert np.array_equal(fit_palette(picture, 3), palette)  # deterministic


def test_outlines_of_the_frame_are_darkened():
    frame, stylized = frame_with_a_square(), np.full((48, 64, 3), 180, np.uint8)
    edges = edge_mask(frame)
    ring = np.zeros(edges.shape, bool)
    ring[10:38, 14:50] = True
    ring[14:34, 18:46] = False  # a band around the square's border (12:36, 16:48)
    # Outlines follow the border all round, and are nowhere else.
    assert not edges[~ring].any()
    assert edges[12:36, 14:19].any(axis=1).all() and edges[12:36, 45:50].any(axis=1).all()
    assert edges[10:15, 16:48].any(axis=0).all() and edges[33:38, 16:48].any(axis=0).all()
    wide = edge_mask(frame, width=3)
    assert wide.sum() > 2 * edges.sum() and (wide | ~edges).all()
    out = cartoonize(frame, stylized, CartoonSettings(blend=0.0, edge_strength=1.0))
    assert (out[edges] == 0).all() and (out[~edges] == 180).all()
    half = cartoonize(frame, stylized, CartoonSettings(blend=0.0, edge_strength=0.5))
    assert (half[edges] == 90).all()


def test_no_blend_no_edges_gives_the_stylized_frame_back():
    frame, stylized = structured_image(32, 40), stripes_image(32, 40)
    out = cartoonize(frame, stylized, CartoonSettings(blend=0.0, edge_strength=0.0))
    assert np.array_equal(out, stylized)


def test_deterministic_and_pure():
    frame, stylized = structured_image(40, 40, seed=1), stripes_image(40, 40)
    frame_copy, stylized_copy = frame.copy(), stylized.copy()
    a = cartoonize(frame, stylized)
    b = cartoonize(frame, stylized)
    assert np.array_equal(a, b)
    assert np.array_equal(frame, frame_copy) and np.array_equal(stylized, stylized_copy)
    # A palette given once (the video pipeline's way: no flicker) is the one used.
    palette = fit_palette(structured_image(40, 40, seed=9), 3)
    flat = cartoonize(frame, stylized, CartoonSettings(blend=1.0, edge_strength=0.0), palette=palette)
    assert set(map(tuple, flat.reshape(-1, 3))) <= set(map(tuple, palette.round().astype(np.uint8)))


@pytest.mark.parametrize("change, message", [
    ({"blend": 1.5}, "blend must be in"),
    ({"colors": 1}, "at least 2 colours"),
    ({"edge_low": 90.0, "edge_high": 50.0}, "low <= high"),
    ({"edge_width": -1}, "edge width"),
    ({"edge_strength": -0.1}, "edge strength"),
])
def test_bad_settings(change, message):
    with pytest.raises(ValueError, match=message):
        cartoonize(structured_image(16, 16), stripes_image(16, 16), dataclasses.replace(CartoonSettings(), **change))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        cartoonize(structured_image(16, 16).astype(np.float32), stripes_image(16, 16))
