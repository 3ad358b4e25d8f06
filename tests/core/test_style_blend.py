"""Several styles: blend weights on the Gram targets, --style-scale, and their bad values."""

import cv2
import numpy as np
import pytest
import torch
from helpers import as_tensor, stripes_image, structured_image

from vidstyle.cli import main
from vidstyle.core.stylizer import Stylizer
from vidstyle.settings import ModelSettings, StyleSettings

CPU = ModelSettings(device="cpu")
FAST = ["--weights", "random", "--iters", "3", "--quiet", "--device", "cpu"]


@pytest.fixture
def two_styles():
    return as_tensor(stripes_image(32, 32, seed=1)), as_tensor(structured_image(32, 40, seed=5))


def test_blend_one_zero_is_the_first_style_and_half_half_the_mean(extractor, two_styles):
    a, b = two_styles
    only_a = Stylizer(extractor, [a], model=CPU).style_grams(48)
    only_b = Stylizer(extractor, [b], model=CPU).style_grams(48)
    first = Stylizer(extractor, [a, b], model=CPU, style=StyleSettings(blend=(1.0, 0.0))).style_grams(48)
    half = Stylizer(extractor, [a, b], model=CPU, style=StyleSettings(blend=(0.5, 0.5))).style_grams(48)
    scaled = Stylizer(extractor, [a, b], model=CPU, style=StyleSettings(blend=(3.0, 3.0))).style_grams(48)
    equal = Stylizer(extractor, [a, b], model=CPU).style_grams(48)  # no weights: equal
    for name in only_a:
        assert torch.equal(first[name], only_a[name])
        mean = (only_a[name] + only_b[name]) / 2
        assert torch.allclose(half[name], mean, rtol=1e-6, atol=1e-7)
        assert torch.allclose(scaled[name], mean, rtol=1e-6, atol=1e-7)  # weights are normalised
        assert torch.allclose(equal[name], mean, rtol=1e-6, atol=1e-7)
        assert not torch.allclose(only_a[name], only_b[name])  # the styles do differ


def write(path, image):
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return str(path)


def run(tmp_path, name, *args):
    out = tmp_path / name
    assert main(["image", *args, "-o", str(out), *FAST]) == 0
    return cv2.imread(str(out)).astype(int)


def test_cli_blend_weights_reach_the_targets(image_files, tmp_path):
    content, style = image_files
    other = write(tmp_path / "other.png", structured_image(32, 40, seed=5))
    alone = run(tmp_path, "alone.png", str(content), str(style))
    first = run(tmp_path, "first.png", str(content), str(style), other, "--style-blend", "1,0")
    half = run(tmp_path, "half.png", str(content), str(style), other, "--style-blend", "0.5,0.5")
    second = run(tmp_path, "second.png", str(content), str(style), other, "--style-blend", "0,1")
    assert np.array_equal(first, alone)  # exactly the first style's targets
    assert np.abs(half - alone).mean() > 0.2 and np.abs(half - second).mean() > 0.2


def test_cli_style_scale_is_relative_to_the_content_size(image_files, tmp_path):
    content, style = image_files  # content 40x56: long side 56
    scaled = run(tmp_path, "scaled.png", str(content), str(style), "--style-scale", "0.5")
    sized = run(tmp_path, "sized.png", str(content), str(style), "--style-size", "28")
    default = run(tmp_path, "default.png", str(content), str(style))
    assert np.array_equal(scaled, sized)
    assert np.abs(scaled - default).mean() > 0.2


@pytest.mark.parametrize("weights, status, message", [
    (["--style-blend", "0,0"], 1, "--style-blend weights must sum to a positive number"),
    (["--style-blend", "1,1,1"], 1, "3 --style-blend weights given for 2 style images"),
    (["--style-blend=-1,2"], 1, "must be >= 0"),
    (["--style-blend", "a,b"], 2, "is not a comma-separated list of numbers"),
])
def test_bad_blend_weights(image_files, tmp_path, capsys, weights, status, message):
    content, style = image_files
    try:
        code = main(["image", str(content), str(style), str(style), "-o", str(tmp_path / "o.png"), *weights, *FAST])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == status and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o.png").exists()
