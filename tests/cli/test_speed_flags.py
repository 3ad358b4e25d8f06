"""Every stylizing command builds its Stylizers with the factory, so --compile and --cuda-graphs
reach every one of them (they used to be dropped by ``sweep``); ``reconstruct`` does not offer them."""

from __future__ import annotations

import cv2
import pytest
import torch
from clips import make_clip
from helpers import run_cli, stripes_image, structured_image

from vidstyle.core.stylizer import Stylizer

TINY = ["--weights", "random", "--device", "cpu", "--quiet", "--iters", "1", "--optimizer", "adam",
        "--content-layer", "relu2_1", "--style-layers", "relu1_1,relu2_1"]


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    cv2.imwrite(str(content), structured_image(24, 32))
    cv2.imwrite(str(style), stripes_image(24, 24))
    cv2.imwrite(str(folder / "a.png"), structured_image(24, 32))
    styles = tmp_path / "styles"
    styles.mkdir()
    cv2.imwrite(str(styles / "s.png"), stripes_image(24, 24))
    clips = tmp_path / "clips"
    clips.mkdir()
    clip = make_clip(clips / "clip.mp4", audio=False)
    return {"content": content, "style": style, "images": folder, "styles": styles, "clip": clip, "clips": clips,
            "out": tmp_path}


COMMANDS = {
    "image": lambda f: ["image", f["content"], f["style"], "-o", f["out"] / "o.png", "--size", "32"],
    "video": lambda f: [f["clip"], f["style"], "-o", f["out"] / "o.mp4", "--max-frames", "2", "--warm-iters", "1"],
    "sweep": lambda f: ["sweep", f["content"], f["style"], "-o", f["out"] / "g.png", "--alpha", "1,10", "--size", "32"],
    "batch": lambda f: ["batch", f["images"], "--styles", f["styles"], "-o", f["out"] / "batch"],
    "batch-video": lambda f: ["batch-video", f["clips"], f["style"], "-o", f["out"] / "videos", "--max-frames", "2"],
    "webcam": lambda f: ["webcam", f["style"], "--camera", f["clip"], "--headless", "--max-frames", "2",
                         "--size", "24"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_compile_and_cuda_graphs_reach_every_stylizer(command, inputs, monkeypatch):
    built = []
    original = Stylizer.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append((self.compile, self.cuda_graphs))

    monkeypatch.setattr(Stylizer, "__init__", spy)
    monkeypatch.setattr(torch, "compile", lambda fn, **options: fn)  # "compiled" = eager: no minute-long compile
    assert run_cli([*COMMANDS[command](inputs), *TINY, "--compile", "--cuda-graphs"]) == 0
    assert built and all(flags == (True, True) for flags in built), built
    if command == "sweep":
        assert len(built) == 2  # one Stylizer per cell, every one with the flags


def test_reconstruct_does_not_offer_the_stylizer_speed_options(inputs, capsys):
    assert run_cli(["reconstruct", inputs["content"], "-o", inputs["out"] / "r.png", "--compile"]) == 2
    assert "unrecognized arguments: --compile" in capsys.readouterr().err
