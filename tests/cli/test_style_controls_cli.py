"""The style-loss controls from the command line: --style-mask, --style-loss, --content-layers,
--normalize-gradients; one clear line for every bad combination."""

import cv2
import numpy as np
import pytest
from helpers import run_cli, stripes_image, structured_image

from vidstyle.cli import build_parser
from vidstyle.cli.options import image_settings

FAST = ["--weights", "random", "--quiet", "--device", "cpu", "--style-layers", "relu1_1,relu2_1",
        "--content-layer", "relu2_1"]


@pytest.fixture
def two_styles(tmp_path):
    """A content image (40x56), a red and a blue style, and masks for the left and right halves."""
    paths = {name: tmp_path / f"{name}.png" for name in ("content", "red", "blue", "left", "right")}
    red, blue = stripes_image(32, 32), stripes_image(32, 32)
    red[..., 1:] = 0
    blue[..., :2] = 0
    left = np.zeros((40, 56, 3), np.uint8)
    left[:, :28] = 255
    for name, image in (("content", structured_image(40, 56)), ("red", red), ("blue", blue), ("left", left),
                        ("right", 255 - left)):
        cv2.imwrite(str(paths[name]), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return paths


def red_minus_blue(path):
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(float)
    difference = image[..., 0] - image[..., 2]
    return difference[:, :28].mean(), difference[:, 28:].mean()


@pytest.mark.parametrize("loss", ["gram", "w2"])
def test_two_masks_paint_two_regions(two_styles, tmp_path, loss):
    p = two_styles
    out = tmp_path / "out.png"
    assert run_cli(["image", p["content"], p["red"], p["blue"], "-o", out, "--style-mask", p["left"],
                    "--style-mask", p["right"], "--iters", "10", "--style-loss", loss, *FAST]) == 0
    left, right = red_minus_blue(out)
    content_left, content_right = red_minus_blue(p["content"])
    assert left > 50 > content_left and right < -50 < content_right  # red style left, blue style right


def test_w2_content_layers_and_normalized_gradients_run_end_to_end(two_styles, tmp_path):
    p = two_styles
    out = tmp_path / "out.png"
    args = ["image", str(p["content"]), str(p["red"]), "-o", str(out), "--style-loss", "w2", "--content-layers",
            "relu2_1:1,relu1_1:0.5", "--normalize-gradients", "--iters", "3", "--weights", "random", "--quiet"]
    settings = image_settings(build_parser().parse_args(args), str(p["content"]), str(out)).loss
    assert settings.style_loss == "w2" and settings.normalize_gradients
    assert settings.content_weights() == (("relu2_1", 1.0), ("relu1_1", 0.5))
    assert run_cli(args) == 0 and cv2.imread(str(out)).shape == (40, 56, 3)


@pytest.mark.parametrize(
    "extra, status, message",
    [
        (["--style-mask", "{left}"], 1, "1 --style-mask files given for 2 style images"),
        (["--style-mask", "{left}", "--style-mask", "{tmp}/none.png"], 1, "style mask file not found"),
        (["--style-mask", "{left}", "--style-mask", "{right}", "--style-blend", "1,1"], 1, "exclude each other"),
        (["--content-layer", "relu2_1", "--content-layers", "relu1_1"], 1, "not both"),
        (["--content-layers", "relu1_1:x"], 2, "is not a number"),
        (["--content-layers", ","], 2, "no content layers given"),
        (["--style-loss", "w3"], 2, "invalid choice: 'w3'"),
    ],
)
def test_bad_style_controls_fail_with_one_line(two_styles, tmp_path, capsys, extra, status, message):
    p = two_styles
    extra = [e.format(left=p["left"], right=p["right"], tmp=tmp_path) for e in extra]
    args = ["image", p["content"], p["red"], p["blue"], "-o", tmp_path / "o.png", "--iters", "1",
            "--weights", "random", "--quiet", *extra]
    assert run_cli(args) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
