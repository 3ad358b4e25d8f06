"""``vidstyle image`` end to end, and one clear line for every bad input."""

import cv2
import pytest

from vidstyle.cli import build_parser, main

FAST = ["--weights", "random", "--iters", "4", "--quiet", "--device", "cpu"]


def test_image_end_to_end_writes_png_of_the_right_size(image_files, tmp_path, capsys):
    content, style = image_files
    out = tmp_path / "out.png"
    assert main(["image", str(content), str(style), "-o", str(out), *FAST]) == 0
    image = cv2.imread(str(out))
    assert image.shape == (40, 56, 3)
    original = cv2.imread(str(content))
    assert (image.astype(int) - original).__abs__().mean() > 1  # something changed
    out2 = tmp_path / "small.png"
    assert main(["image", str(content), str(style), "-o", str(out2), *FAST, "--size", "28", "--optimizer", "adam"]) == 0
    assert cv2.imread(str(out2)).shape == (20, 28, 3)
    assert "enlarges" not in capsys.readouterr().err
    big = tmp_path / "big.png"  # 56 px content at --size 128: warned before the work, still done
    assert main(["image", str(content), str(style), "-o", str(big), *FAST, "--size", "128", "--optimizer", "adam"]) == 0
    assert "--size 128 enlarges the 56x40 content 2.3x" in capsys.readouterr().err
    assert cv2.imread(str(big)).shape[1] == 128


def test_auto_weights_offline_warns_once_and_still_runs(image_files, tmp_path, capsys):
    content, style = image_files
    out = tmp_path / "out.png"
    assert main(["image", str(content), str(style), "-o", str(out), "--iters", "1", "--quiet", "--size", "24"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("vidstyle: warning:")]
    assert len(warnings) == 1 and "RANDOM weights" in warnings[0] and "--weights PATH" in warnings[0]
    assert out.exists()


@pytest.mark.parametrize(
    "change, status, message",
    [
        (lambda c, s, o, t: [str(t / "missing.png"), str(s), "-o", str(o)], 1, "content file not found"),
        (lambda c, s, o, t: [str(c), str(t / "none.jpg"), "-o", str(o)], 1, "style file not found"),
        (lambda c, s, o, t: [str(c), str(t / "text.png"), "-o", str(o)], 1, "style file is not a readable image"),
        (lambda c, s, o, t: [str(t / "empty.png"), str(s), "-o", str(o)], 1, "content file is not a readable image"),
        (lambda c, s, o, t: [str(c), str(t), "-o", str(o)], 1, "style path is not a file"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(t / "nofolder" / "o.png")], 1, "output folder does not exist"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(o), "--content-layer", "relu9_9"], 2, "unknown layer 'relu9_9'; valid layers: conv1_1"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(o), "--style-layers", "relu1_1:x"], 2, "is not a number"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(o), "--style-layers", "relu1_1:-2"], 2, "must be >= 0"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(o), "--alpha", "-1"], 2, "must be a finite number >= 0"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(o), "--beta", "lots"], 2, "is not a number"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(o), "--device", "tpu"], 1, "unknown device 'tpu'"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(o), "--device", "cuda"], 1, "CUDA is not available"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(o), "--weights", str(t / "w.pth")], 1, "weights file not found"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(o), "--weights", "imagenet"], 1, "ImageNet VGG19 weights are not available"),
        (lambda c, s, o, t: [str(c), str(s), "-o", str(o), "--init", str(t / "no.png")], 1, "init file not found"),
        (lambda c, s, o, t: [str(c), str(s), str(s), "-o", str(o), "--style-blend", "1,2,3"], 1, "3 --style-blend weights given for 2 style"),
    ],
)
def test_bad_inputs_give_one_line_and_nonzero_exit(image_files, tmp_path, capsys, change, status, message):
    content, style = image_files
    (tmp_path / "text.png").write_text("hello")
    (tmp_path / "empty.png").write_bytes(b"")
    args = change(content, style, tmp_path / "out.png", tmp_path)
    with_fast = ["image", *args, "--quiet", "--iters", "1"]
    try:
        code = main(with_fast)
    except SystemExit as exit_:  # argparse usage errors
        code = exit_.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == status
    assert len(err) == 1 and message in err[0], err
    assert "Traceback" not in "\n".join(err)
    assert not (tmp_path / "out.png").exists()


def test_help_documents_every_option_with_its_default():
    parser = build_parser()
    image = parser._subparsers._group_actions[0].choices["image"]
    text = image.format_help()
    for action in image._actions:
        if action.option_strings and action.dest not in ("help",):
            assert action.help, action.dest
            if action.default is None and not action.dest in ("quiet", "debug", "compile", "preset", "output"):
                assert "[default:" in action.help, action.dest
    assert "relu4_2" in text and "lbfgs" in text


def test_images_too_small_for_the_deepest_layer_are_one_clear_line(image_files, tmp_path, capsys):
    content, style = image_files
    out = tmp_path / "o.png"
    assert main(["image", str(content), str(style), "-o", str(out), *FAST, "--size", "12"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "too small for layer relu5_1 (at least 16 px per side)" in err[0], err
    # Shallower layers need less: relu2_1 and relu1_1 only need 2 px.
    assert main(["image", str(content), str(style), "-o", str(out), *FAST, "--size", "12",
                 "--content-layer", "relu2_1", "--style-layers", "relu1_1,relu2_1"]) == 0
    assert main(["image", str(content), str(style), "-o", str(out), *FAST, "--style-size", "8"]) == 1
    assert "style image at its working size is 8x8 px" in capsys.readouterr().err


def test_a_pool_layer_counts_its_own_halving(image_files, tmp_path, capsys):
    # 56x40 at --size 32 is 32x23: pool5 halves five times (23 -> 0), so it needs 32 px per side.
    content, style = image_files
    out = tmp_path / "o.png"
    assert main(["image", str(content), str(style), "-o", str(out), *FAST, "--iters", "1", "--size", "32",
                 "--style-layers", "pool5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "32x23 px, too small for layer pool5 (at least 32 px per side)" in err[0], err
    assert "larger --size" in err[0] and not out.exists()


@pytest.mark.parametrize("command", ["image", "video", "reconstruct", "sweep", "batch", "webcam"])
def test_a_size_below_two_pixels_is_refused_when_parsed(command, capsys):
    from helpers import run_cli

    positional = {"image": ["c.png", "s.png"], "video": ["c.mp4", "s.png"], "reconstruct": ["c.png"],
                  "sweep": ["c.png", "s.png"], "batch": ["in", "--styles", "st"], "webcam": ["s.png"]}[command]
    output = [] if command == "webcam" else ["-o", "o.png"]
    assert run_cli([command, *positional, *output, "--size", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "argument --size: '1' is too small: the long side must be at least 2 pixels" in err[0]


def test_counts_and_scales_name_the_bound_they_break(capsys):
    """--iters 0 is allowed (the output is the start image), so -1 must say ">= 0", not ">= 1"."""
    from helpers import run_cli

    assert run_cli(["image", "c.png", "s.png", "-o", "o.png", "--iters", "-1"]) == 2
    err = capsys.readouterr().err
    assert "argument --iters: '-1' must be >= 0" in err
    assert run_cli(["image", "c.png", "s.png", "-o", "o.png", "--style-scale", "0"]) == 2
    assert "argument --style-scale: '0' must be above 0" in capsys.readouterr().err


def test_running_out_of_host_memory_is_one_line(image_files, tmp_path, capsys, monkeypatch):
    from vidstyle.core.stylizer import Stylizer

    def no_memory(self, *args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 123456789 bytes.")

    monkeypatch.setattr(Stylizer, "stylize", no_memory)
    content, style = image_files
    assert main(["image", str(content), str(style), "-o", str(tmp_path / "o.png"), *FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "out of memory" in err[0] and "try a smaller --size" in err[0]
