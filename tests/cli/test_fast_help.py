"""--help and parse errors never import the heavy modules (torch, torchvision, cv2, av, ray)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "cv2", "av", "ray", "scenedetect")

CHECK = """
import sys
from vidstyle.cli import build_parser, main
for argv in ARGVS:
    try:
        main(argv)
    except SystemExit:
        pass
build_parser()
loaded = [name for name in HEAVY if name in sys.modules]
assert not loaded, loaded
print("clean")
"""


def test_help_and_usage_errors_import_no_heavy_module():
    argvs = [["--help"], ["video", "--help"], ["image", "--help"], ["batch", "--help"], ["webcam", "--help"],
             ["sweep", "--help"], ["reconstruct", "--help"], ["batch-video", "--help"], ["eval", "--help"],
             ["video", "in.mp4", "style.png", "--sise", "3"], ["image", "a.png"], ["video", "--alpha", "x"],
             # layer options are checked while parsing (torch-free vidstyle.core.layers)
             ["video", "in.mp4", "style.png", "--style-layers", "relu1_1:1,relu9_9"],
             ["image", "a.png", "s.png", "--content-layer", "relu4_2", "--style-layers", "relu2_1:x"],
             ["video", "in.mp4", "style.png", "--content-layers", "relu4_2:1,relu3_1:0.5", "--sise", "3"]]
    code = f"ARGVS = {argvs!r}\nHEAVY = {HEAVY!r}\n{CHECK}"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("clean")


def test_usage_errors_point_to_the_command_and_catch_mistyped_commands(tmp_path, capsys, monkeypatch):
    """An unknown option names the command's own help; a word close to a command's name that is no
    file is reported as a mistyped command, not run as a video input."""
    from helpers import run_cli

    monkeypatch.chdir(tmp_path)
    cases = [(["webcam", "s.png", "--sise", "3"], "vidstyle webcam: error: unrecognized arguments: --sise 3 "
                                                 "(see vidstyle webcam --help)"),
             (["in.mp4", "s.png", "--bogus"], "vidstyle video: error: unrecognized arguments: --bogus "
                                             "(see vidstyle video --help)"),
             (["imgae", "a.png", "b.png"], "unknown command 'imgae' (did you mean 'image'?)")]
    for argv, message in cases:
        assert run_cli(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    (tmp_path / "imgae").write_bytes(b"")  # a real file of that name is an input, as before
    assert run_cli(["imgae", "b.png"]) == 1
    assert "unknown command" not in capsys.readouterr().err
