"""``vidstyle batch``: reproducible style choice, same-size batching, resuming, bad files skipped."""

import json
from collections import Counter

import cv2
import numpy as np
import pytest
from helpers import stripes_image, structured_image

import vidstyle.tools.style_bank
from vidstyle.cli import main
from vidstyle.tools.image_batch import MANIFEST, choose_style

FAST = ["--weights", "random", "--iters", "2", "--optimizer", "adam", "--device", "cpu"]


def write(path, image):
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


@pytest.fixture
def folders(tmp_path):
    """3 images (two 20x28, one 24x24), an empty file, a text file and a subfolder; 2 styles and a bad one."""
    images, styles = tmp_path / "in", tmp_path / "styles"
    images.mkdir()
    styles.mkdir()
    write(images / "a.png", structured_image(20, 28, seed=1))
    write(images / "b.jpg", structured_image(20, 28, seed=2))
    write(images / "c.png", structured_image(24, 24, seed=3))
    (images / "empty.png").write_bytes(b"")
    (images / "notes.txt").write_text("not an image")
    (images / "sub").mkdir()
    write(styles / "s1.png", stripes_image(24, 24, seed=1))
    write(styles / "s2.png", structured_image(24, 24, seed=7))
    (styles / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    return images, styles, tmp_path / "out"


@pytest.fixture
def calls(monkeypatch):
    """The batch shape and styles of every StyleBank.stylize call."""
    seen = []
    original = vidstyle.tools.style_bank.StyleBank.stylize

    def spy(self, content, indices, *args, **kwargs):
        seen.append((tuple(content.shape), list(indices)))
        return original(self, content, indices, *args, **kwargs)

    monkeypatch.setattr(vidstyle.tools.style_bank.StyleBank, "stylize", spy)
    return seen


def run(images, styles, out, *extra, quiet=True):
    quiet_flag = ["--quiet"] if quiet else []
    return main(["batch", str(images), "--styles", str(styles), "-o", str(out), *FAST, *quiet_flag, *extra])


def test_choose_style_is_fixed_by_seed_and_name_and_uniform():
    assert choose_style("x.png", 3, 5) == choose_style("x.png", 3, 5)
    picks = Counter(choose_style(f"img{i}.png", 0, 3) for i in range(600))
    assert set(picks) == {0, 1, 2} and min(picks.values()) > 150
    assert [choose_style(f"img{i}.png", 0, 3) for i in range(20)] != [choose_style(f"img{i}.png", 1, 3) for i in range(20)]


def test_batch_stylizes_batches_by_size_and_reports_bad_files(folders, calls, capsys):
    images, styles, out = folders
    assert run(images, styles, out, "--seed", "4") == 0
    err = capsys.readouterr().err.strip().splitlines()
    # One warning per bad file (style and input), and the count at the end.
    assert any("broken.jpg" in line for line in err)
    assert any("empty.png" in line for line in err) and any("notes.txt" in line for line in err)
    assert err[-1] == f"vidstyle: warning: 2 unreadable file(s) in {images} skipped"
    assert all(line.startswith("vidstyle: warning:") for line in err)
    # Same-size images were optimised together: one batch of the two 20x28, one of the 24x24.
    assert sorted(shape for shape, _ in calls) == [(1, 3, 24, 24), (2, 3, 20, 28)]
    assert cv2.imread(str(out / "a.png")).shape == (20, 28, 3) and cv2.imread(str(out / "c.png")).shape == (24, 24, 3)
    assert (out / "b.jpg").is_file() and not (out / "empty.png").exists()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["styles"] == ["s1.png", "s2.png"]
    assert manifest["images"] == {n: manifest["styles"][choose_style(n, 4, 2)] for n in ("a.png", "b.jpg", "c.png")}
    assert sorted(i for _, idx in calls for i in idx) == sorted(choose_style(n, 4, 2) for n in ("a.png", "b.jpg", "c.png"))


def test_batch_resumes_without_redoing_finished_files(folders, calls, capsys):
    images, styles, out = folders
    assert run(images, styles, out) == 0
    before = {name: (out / name).read_bytes() for name in ("a.png", "b.jpg", "c.png")}
    (out / "b.jpg").unlink()  # as if interrupted before b was written
    calls.clear()
    assert run(images, styles, out, quiet=False) == 0
    assert calls == [((1, 3, 20, 28), [choose_style("b.jpg", 0, 2)])]  # only b was stylized
    assert (out / "a.png").read_bytes() == before["a.png"] and (out / "c.png").read_bytes() == before["c.png"]
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert "1 stylized, 2 already done, 2 unreadable skipped" in summary
    calls.clear()
    assert run(images, styles, out) == 0 and calls == []  # all done: nothing to do


def test_batch_is_reproducible_whatever_the_batch_size(folders, calls, tmp_path):
    images, styles, out = folders
    other = tmp_path / "out2"
    assert run(images, styles, out, "--seed", "3") == 0
    assert run(images, styles, other, "--seed", "3", "--batch-size", "1") == 0
    assert len(calls) == 2 + 3
    for name in ("a.png", "c.png"):  # PNG: lossless, so the pixels compare
        a, b = cv2.imread(str(out / name)).astype(int), cv2.imread(str(other / name)).astype(int)
        assert np.abs(a - b).max() <= 1  # Adam: each image independent of its batch mates
    assert (out / MANIFEST).read_text() == (other / MANIFEST).read_text()


def test_batch_refuses_other_settings_in_the_same_folder(folders, capsys):
    images, styles, out = folders
    assert run(images, styles, out) == 0
    capsys.readouterr()
    assert run(images, styles, out, "--alpha", "5") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vidstyle: error:") and "made with other settings" in err[-1]


@pytest.mark.parametrize("change, message", [
    (lambda i, s, o: (i / "nope", s, o), "input folder not found"),
    (lambda i, s, o: (i, s / "nope", o), "styles folder not found"),
    (lambda i, s, o: (i, i / "sub", o), "the styles folder"),  # empty: "... has no files"
    (lambda i, s, o: (i / "sub", s, o), "has no files"),
    (lambda i, s, o: (i, s / "s1.png", o), "s1.png is a file; the styles must be a folder of images"),
    (lambda i, s, o: (i, s, i), "must not be the input folder"),
    (lambda i, s, o: (i, s, i / "a.png"), "output path is not a folder"),
])
def test_batch_bad_folders(folders, capsys, change, message):
    images, styles, out = change(*folders)
    assert run(images, styles, out) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vidstyle: error:") and message in err[-1], err


def test_init_path_starts_every_image_from_that_picture(folders, tmp_path):
    """--init PATH: with no iterations, each output is the init picture at the image's size."""
    images, styles, out = folders
    init = structured_image(30, 30, seed=9)
    write(tmp_path / "start.png", init)
    assert run(images, styles, out, "--iters", "0", "--init", str(tmp_path / "start.png")) == 0
    for name, (h, w) in (("a.png", (20, 28)), ("c.png", (24, 24))):
        got = cv2.cvtColor(cv2.imread(str(out / name)), cv2.COLOR_BGR2RGB).astype(int)
        want = cv2.resize(init, (w, h), interpolation=cv2.INTER_AREA).astype(int)
        assert got.shape == (h, w, 3)
        assert np.abs(got - want).mean() < 6  # the same picture (bilinear, antialiased vs area resize)
        content = cv2.cvtColor(cv2.imread(str(images / name)), cv2.COLOR_BGR2RGB).astype(int)
        assert np.abs(got - content).mean() > 20  # and not the content


def test_a_style_too_small_for_the_network_is_one_clear_line(folders, capsys):
    images, styles, out = folders
    assert run(images, styles, out, "--style-size", "12") == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "skipped" not in line]
    assert len(err) == 1 and "Traceback" not in err[0]
    assert "style image at its working size is 12x12 px, too small for layer relu5_1" in err[0]


def test_a_style_folder_of_unreadable_files_is_refused(folders, capsys):
    images, styles, out = folders
    for good in ("s1.png", "s2.png"):
        (styles / good).unlink()
    assert run(images, styles, out) == 1
    assert "no readable style images" in capsys.readouterr().err


def test_batch_applies_the_cartoon_look_of_its_preset(folders, tmp_path):
    """--preset cartoon's look (flat palette, outlines) was dropped by batch; --no-cartoon turns it off."""
    images, styles, _ = folders
    looks = {}
    for name, extra in (("look", []), ("plain", ["--no-cartoon"])):
        out = tmp_path / name
        assert run(images, styles, out, "--preset", "cartoon", "--size", "28", *extra) == 0
        looks[name] = cv2.imread(str(out / "a.png")).astype(int)
    assert np.abs(looks["look"] - looks["plain"]).mean() > 5
    colours = {name: len(np.unique(image.reshape(-1, 3), axis=0)) for name, image in looks.items()}
    assert colours["look"] < colours["plain"]
