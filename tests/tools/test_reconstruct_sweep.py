"""``vidstyle reconstruct`` and ``vidstyle sweep``: the right tiles, sizes and labels; bad values."""

import cv2
import numpy as np
import pytest
import torch
from helpers import as_tensor, structured_image

import vidstyle.tools.grids
from vidstyle.cli import main
from vidstyle.settings import LossSettings, OptimSettings
from vidstyle.tools.reconstruct import reconstruct, reconstruction_plan, truncated
from vidstyle.tools.sweep import check_axes, sweep_grid

FAST = ["--weights", "random", "--quiet", "--device", "cpu"]


@pytest.fixture
def captured(monkeypatch):
    """The Grid objects the commands save (the PNG is still written)."""
    grids = []
    original = vidstyle.tools.grids.save_grid

    def save(grid, path):
        grids.append(grid)
        original(grid, path)

    monkeypatch.setattr(vidstyle.tools.grids, "save_grid", save)
    return grids


def ink(image, box):
    y0, x0, y1, x1 = box
    return int((image[y0:y1, x0:x1] < 200).any(axis=2).sum())


def read_rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_reconstruction_plan_orders_by_depth_and_uses_prefixes():
    plan = reconstruction_plan(["relu3_1", "relu1_1", "relu2_1", "relu1_1"])
    assert plan == [
        ("content", ("relu1_1",)), ("content", ("relu2_1",)), ("content", ("relu3_1",)),
        ("style", ("relu1_1",)), ("style", ("relu1_1", "relu2_1")), ("style", ("relu1_1", "relu2_1", "relu3_1")),
    ]


def test_content_reconstruction_from_a_shallow_layer_gives_the_image_back(extractor):
    image = as_tensor(structured_image(24, 24))
    noise = torch.rand(image.shape, generator=torch.Generator().manual_seed(0))
    done = reconstruct(extractor, image, "content", ["relu1_1"], noise, OptimSettings(iters=40))
    before = float((noise - image).pow(2).mean())
    after = float((done.result.image - image).pow(2).mean())
    assert after < 0.1 * before, (before, after)
    assert set(done.result.terms) == {"content/relu1_1", "total"}


def test_style_reconstruction_has_only_style_terms_and_a_shorter_network(extractor):
    image = as_tensor(structured_image(24, 24))
    small = truncated(extractor, ["relu1_1", "relu2_1"])
    assert len(small.body) < len(extractor.body)
    assert torch.equal(small.body[0].weight, extractor.body[0].weight)
    done = reconstruct(extractor, image, "style", ["relu1_1", "relu2_1"], torch.rand(image.shape),
                       OptimSettings(iters=3, optimizer="adam"))
    assert set(done.result.terms) == {"style/relu1_1", "style/relu2_1", "total"}
    assert done.label == "style up to relu2_1"


def test_reconstruct_cli_grid(image_files, tmp_path, captured):
    content, _ = image_files  # 40x56
    out = tmp_path / "rec.png"
    assert main(["reconstruct", str(content), "-o", str(out), "--layers", "relu1_1,relu3_1", "--size", "28",
                 "--iters", "2", *FAST]) == 0
    (grid,) = captured
    assert len(grid.cells) == 1 + 2 * 2  # the input, then 2 content and 2 style reconstructions
    assert all((c.tile[2] - c.tile[0], c.tile[3] - c.tile[1]) == (20, 28) for c in grid.cells)
    assert [c.text for c in grid.cells] == ["input", "relu1_1", "relu3_1", "relu1_1", "up to relu3_1"]
    assert [(c.row, c.col) for c in grid.cells] == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2)]
    assert all(ink(grid.image, c.label) > 5 for c in grid.cells)
    assert all(ink(grid.image, box) > 5 for box in grid.row_labels) and ink(grid.image, grid.title) > 5
    on_disk = read_rgb(out)
    assert np.array_equal(on_disk, grid.image)
    y0, x0, y1, x1 = grid.cells[0].tile
    expected = cv2.resize(read_rgb(content), (28, 20), interpolation=cv2.INTER_AREA)
    assert np.abs(on_disk[y0:y1, x0:x1].astype(int) - expected).mean() < 8  # the input tile is the input


def test_sweep_cli_two_axes(image_files, tmp_path, captured):
    content, style = image_files
    out = tmp_path / "sweep.png"
    assert main(["sweep", str(content), str(style), "-o", str(out), "--alpha", "1,1e4", "--beta", "0,5",
                 "--size", "28", "--iters", "3", "--optimizer", "adam", "--lr", "0.05", *FAST]) == 0
    (grid,) = captured
    assert len(grid.cells) == 4
    assert [c.text for c in grid.cells] == ["alpha=1", "alpha=10000", "alpha=1", "alpha=10000"]
    assert len(grid.row_labels) == 2 and all(ink(grid.image, b) > 5 for b in grid.row_labels)
    assert all(ink(grid.image, c.label) > 5 for c in grid.cells)
    assert all((c.tile[2] - c.tile[0], c.tile[3] - c.tile[1]) == (20, 28) for c in grid.cells)
    tile = {(c.row, c.col): grid.image[c.tile[0]:c.tile[2], c.tile[1]:c.tile[3]].astype(int) for c in grid.cells}
    assert np.abs(tile[0, 0] - tile[0, 1]).mean() > 0.5  # alpha changes the result
    assert np.array_equal(read_rgb(out), grid.image)


def test_sweep_cli_default_axis_is_alpha(image_files, tmp_path, captured):
    content, style = image_files
    assert main(["sweep", str(content), str(style), "-o", str(tmp_path / "s.png"), "--size", "24",
                 "--iters", "1", "--optimizer", "adam", *FAST]) == 0
    (grid,) = captured
    assert [c.text for c in grid.cells] == ["alpha=10", "alpha=100", "alpha=1000", "alpha=10000"]
    assert not grid.row_labels


def test_sweep_applies_the_cartoon_look_of_its_preset(image_files, tmp_path, captured):
    """--preset cartoon's look (flat palette, outlines) was dropped: its tiles equaled --no-cartoon's."""
    content, style = image_files
    for extra in (["--preset", "cartoon"], ["--preset", "cartoon", "--no-cartoon"]):
        assert main(["sweep", str(content), str(style), "-o", str(tmp_path / "s.png"), "--size", "24", "--alpha",
                     "1", "--iters", "1", "--optimizer", "adam", *FAST, *extra]) == 0
    def tile(grid):
        y0, x0, y1, x1 = grid.cells[0].tile
        return grid.image[y0:y1, x0:x1].astype(int)

    with_look, without = (tile(grid) for grid in captured)
    assert np.abs(with_look - without).mean() > 5  # the same optimisation, finished differently
    # a flat palette: the look leaves fewer distinct colours than the optimised image has
    assert len(np.unique(with_look.reshape(-1, 3), axis=0)) < len(np.unique(without.reshape(-1, 3), axis=0))


def test_sweep_help_states_what_is_swept_by_default(capsys):
    """--help used to say alpha's default was 100 although the sweep runs 10,100,1000,10000."""
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "[default: 10,100,1000,10000 when --beta is not given, else 100.0]" in text
    assert "comma-separated values to sweep [default: 1.0, not swept]" in text


def test_sweep_grid_axes():
    grid = sweep_grid(LossSettings(beta=3.0), [("alpha", (1.0, 2.0, 3.0)), ("beta", (0.0, 9.0))])
    assert [[(c.alpha, c.beta) for c in row] for row in grid] == [
        [(1.0, 0.0), (2.0, 0.0), (3.0, 0.0)], [(1.0, 9.0), (2.0, 9.0), (3.0, 9.0)]]
    assert [[c.beta for c in row] for row in sweep_grid(LossSettings(beta=3.0), [("alpha", (1.0,))])] == [[3.0]]
    with pytest.raises(ValueError, match="cannot sweep 'gamma'"):
        check_axes([("gamma", (1.0,))])
    with pytest.raises(ValueError, match="swept twice"):
        check_axes([("alpha", (1.0,)), ("alpha", (2.0,))])


@pytest.mark.parametrize("args, message", [
    (["--alpha", "1e1,lots"], "is not a comma-separated list of numbers"),
    (["--beta", "1,,x"], "is not a comma-separated list of numbers"),
    (["--alpha=-1,2"], "sweep values must be finite numbers >= 0"),
    (["--alpha", "1,inf"], "sweep values must be finite numbers >= 0"),
])
def test_sweep_bad_values_one_line(image_files, tmp_path, capsys, args, message):
    content, style = image_files
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", str(content), str(style), "-o", str(tmp_path / "s.png"), *args, *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and message in err[0], err


def test_reconstruct_bad_layer_and_missing_image(image_files, tmp_path, capsys):
    content, _ = image_files
    with pytest.raises(SystemExit) as exit_:
        main(["reconstruct", str(content), "-o", str(tmp_path / "r.png"), "--layers", "relu1_1,relu9_1", *FAST])
    assert exit_.value.code == 2 and "unknown layer 'relu9_1'" in capsys.readouterr().err
    assert main(["reconstruct", str(tmp_path / "no.png"), "-o", str(tmp_path / "r.png"), *FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "image file not found" in err[0]


@pytest.mark.parametrize("command", ["reconstruct", "sweep"])
@pytest.mark.parametrize("output, message", [
    ("content", "the output would overwrite the input"),
    ("g.xyz", "cannot write .xyz images; use .png"),
])
def test_grid_outputs_are_checked_before_any_work(image_files, tmp_path, capsys, monkeypatch, command, output,
                                                  message):
    content, style = image_files
    before = content.read_bytes()

    def refuse(*args, **kwargs):
        raise AssertionError("an image was loaded before the refusal")

    monkeypatch.setattr("vidstyle.media.image_files.load_image", refuse)
    out = content if output == "content" else tmp_path / output
    inputs = [content] if command == "reconstruct" else [content, style, "--alpha", "1"]
    assert main([command, *map(str, inputs), "-o", str(out), "--size", "24", "--iters", "1", *FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert content.read_bytes() == before and not (tmp_path / "g.xyz").exists()


def test_reconstruct_refuses_a_layer_too_deep_for_the_size_in_one_line(image_files, tmp_path, capsys, monkeypatch):
    import vidstyle.tools.reconstruct

    content, _ = image_files  # 56x40: at --size 20 it is 20x14, below relu5_1's 16 px

    def refuse(*args, **kwargs):
        raise AssertionError("the network was built before the refusal")

    monkeypatch.setattr(vidstyle.tools.reconstruct, "load_network", refuse)
    assert main(["reconstruct", str(content), "-o", str(tmp_path / "r.png"), "--layers", "relu5_1", "--size", "20",
                 "--iters", "1", *FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "20x14 px, too small for layer relu5_1 (at least 16 px per side)" in err[0], err
    assert "--size" in err[0] and "--layers" in err[0]


@pytest.mark.parametrize("command", ["reconstruct", "sweep", "batch", "image"])
def test_help_of_the_new_commands_and_options_shows_defaults(command):
    from vidstyle.cli import build_parser

    parser = build_parser()._subparsers._group_actions[0].choices[command]
    for action in parser._actions:
        # Options that take a value show its default; on/off flags (nargs 0) are off unless given.
        if action.option_strings and action.nargs != 0 and action.dest not in ("preset", "output", "styles"):
            assert action.help and "[default:" in action.help, (command, action.dest)
