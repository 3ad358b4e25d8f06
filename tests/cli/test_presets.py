"""--preset: each bundle expands to its documented values; explicit options win; unknown names listed."""

import dataclasses

import pytest

from vidstyle.cli import build_parser, main
from vidstyle.cli.options import cartoon_settings, loss_settings, model_settings, optim_settings, option_value
from vidstyle.settings import PRESETS, ImageSettings, describe_preset

# The documented contents of each preset (README table and --help). If PRESETS changes, this
# table and the README change with it.
DOCUMENTED = {
    "fast": {"size": 256, "iters": 150, "warm_iters": 30, "tol": 1e-3},
    "quality": {"size": 768, "iters": 600, "warm_iters": 150, "multiscale": 2, "tol": 0.0},
    "webcam": {"size": 256, "optimizer": "adam", "lr": 0.03, "iters": 3},
    "cartoon": {"size": 320, "tv": "l1", "beta": 20.0, "iters": 150, "warm_iters": 10, "tol": 1e-3,
                "keyframe_every": 4, "refine_iters": 5, "cartoon": True},
}
VIDEO_ONLY = {"warm_iters", "keyframe_every", "refine_iters"}


def image_args(*extra):
    return build_parser().parse_args(["image", "c.png", "s.png", "-o", "o.png", *extra])


def expanded(args) -> dict:
    """Every setting the image command would use, flattened by option name."""
    values = {"size": option_value(args, "size", None), "cartoon": cartoon_settings(args).enabled}
    for settings in (loss_settings(args), optim_settings(args), model_settings(args)):
        values.update(dataclasses.asdict(settings))
    return values


def test_presets_are_the_documented_ones():
    assert set(PRESETS) == set(DOCUMENTED)
    for name, values in DOCUMENTED.items():
        assert {k: v for k, v in PRESETS[name].items() if k != "doc"} == values


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_preset_expands_to_its_documented_values(name):
    got = expanded(image_args("--preset", name))
    baseline = expanded(image_args())
    for key, value in DOCUMENTED[name].items():
        if key in VIDEO_ONLY:
            assert option_value(image_args("--preset", name), key, None) == value
        else:
            assert got[key] == value, key
    # Nothing else moved.
    changed = {k for k in got if got[k] != baseline[k]}
    assert changed <= set(DOCUMENTED[name])


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_help_shows_each_preset_value(name):
    image = build_parser()._subparsers._group_actions[0].choices["image"]
    help_text = " ".join(image.format_help().split())
    text = describe_preset(name)
    assert " ".join(text.split()) in help_text
    for key, value in DOCUMENTED[name].items():
        assert f"{key}={value:g}" in text if isinstance(value, float) else f"{key}={value}" in text


def test_explicit_options_override_the_preset():
    got = expanded(image_args("--preset", "cartoon", "--size", "100", "--beta", "0.5", "--iters", "7", "--no-cartoon"))
    assert (got["size"], got["beta"], got["iters"], got["cartoon"]) == (100, 0.5, 7, False)
    assert (got["tv"], got["tol"]) == ("l1", 1e-3)  # the rest of the preset stays
    got = expanded(image_args("--preset", "webcam", "--optimizer", "lbfgs", "--lr", "0.5"))
    assert (got["optimizer"], got["lr"], got["iters"]) == ("lbfgs", 0.5, 3)


def test_image_settings_defaults_without_a_preset():
    got = expanded(image_args())
    defaults = ImageSettings()
    assert got["size"] is None and got["cartoon"] is False
    assert got["iters"] == defaults.optim.iters and got["beta"] == defaults.loss.beta


def test_unknown_preset_lists_the_names(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["image", "c.png", "s.png", "-o", "o.png", "--preset", "turbo"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1
    assert "invalid choice: 'turbo'" in err[0] and all(name in err[0] for name in DOCUMENTED)


def test_cartoon_preset_end_to_end(image_files, tmp_path):
    """--preset cartoon on an image: the post-process runs (few colours, dark outlines)."""
    import cv2
    import numpy as np

    content, style = image_files
    out, plain = tmp_path / "cartoon.png", tmp_path / "plain.png"
    common = [str(content), str(style), "--weights", "random", "--quiet", "--device", "cpu", "--iters", "2",
              "--size", "40"]
    assert main(["image", *common, "-o", str(out), "--preset", "cartoon", "--cartoon-colors", "4",
                 "--cartoon-blend", "1", "--cartoon-edges", "0"]) == 0
    assert main(["image", *common, "-o", str(plain), "--preset", "cartoon", "--no-cartoon"]) == 0
    colours = lambda p: len(np.unique(cv2.imread(str(p)).reshape(-1, 3), axis=0))  # noqa: E731
    assert colours(out) <= 4 < colours(plain)


def test_video_presets_fill_video_settings_and_explicit_options_win():
    from vidstyle.cli.options import video_settings

    def video(*extra):
        return video_settings(build_parser().parse_args(["video", "in.mp4", "s.png", "-o", "o.mp4", *extra]))

    cartoon = video("--preset", "cartoon")
    assert (cartoon.size, cartoon.warm_iters, cartoon.keyframe_every, cartoon.refine_iters) == (320, 10, 4, 5)
    assert cartoon.cartoon.enabled and cartoon.loss.tv == "l1" and cartoon.optim.iters == 150
    explicit = video("--preset", "cartoon", "--keyframe-every", "0", "--size", "200", "--no-cartoon", "--tol", "0")
    assert (explicit.keyframe_every, explicit.size, explicit.cartoon.enabled, explicit.tol) == (0, 200, False, 0.0)
    plain = video()
    assert (plain.size, plain.tol, plain.init_mode) == (512, 1e-3, "flow")


def test_cuda_graphs_and_compile_flags_reach_the_stylizer(image_files, tmp_path, monkeypatch):
    from vidstyle.core.stylizer import Stylizer

    seen = {}
    original = Stylizer.__init__

    def spy(self, *args, **kwargs):
        model = kwargs["model"]
        seen.update(compile=model.compile, cuda_graphs=model.cuda_graphs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Stylizer, "__init__", spy)
    content, style = image_files
    out = str(tmp_path / "o.png")
    common = ["image", str(content), str(style), "-o", out, "--weights", "random", "--iters", "1", "--quiet",
              "--optimizer", "adam", "--size", "24"]
    assert main([*common, "--cuda-graphs"]) == 0
    assert seen == {"compile": False, "cuda_graphs": True}  # on the CPU the eager loop runs
    assert main(common) == 0
    assert seen == {"compile": False, "cuda_graphs": False}
