"""The command line: argparse in, settings dataclasses out, progress bars and exit codes.

This package is the only place that knows about argparse, tqdm and exit statuses; everything below
it takes settings dataclasses and reports progress through callbacks. Parsing imports none of the
heavy modules (torch, OpenCV, PyAV, Ray): commands import them when they run, so ``--help`` and
usage errors answer at once (tests/cli/test_fast_help.py). One module per concern:

* :mod:`.options`: the parser class, option types, option groups shared by commands, settings
  builders (tests build settings from parsed arguments with them), exit codes;
* :mod:`.image`: ``image``, ``reconstruct``, ``sweep``, ``batch``;
* :mod:`.video`: ``video`` (the default command) and ``eval``;
* :mod:`.webcam`: ``webcam``;
* :mod:`.ray`: ``--ray`` and ``batch-video``;
* :mod:`.progress`: the video frame bar and its ETA (cold and warm frames apart);
* :mod:`.report`: the plan printed before a video run, and the ``--json`` reports;
* here: :func:`build_parser` and :func:`main` (the ``vidstyle`` console script).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence

from .. import __version__
from ..errors import Interrupted, VidstyleError, storage_error
from .image import add_batch_command, add_image_command, add_reconstruct_command, add_sweep_command
from .options import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from .parser import Parser
from .ray import add_batch_video_command
from .video import add_eval_command, add_video_command
from .webcam import add_webcam_command


@contextlib.contextmanager
def _warnings_as_lines(debug: bool) -> Iterator[None]:
    """Show warnings from the core as one 'vidstyle: warning: ...' line each."""

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        print(f"vidstyle: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        if not debug:
            warnings.showwarning = show
        yield


def build_parser() -> argparse.ArgumentParser:
    """The full parser: ``vidstyle COMMAND ...``; ``vidstyle INPUT STYLE`` means ``vidstyle video``."""
    parser = Parser(
        prog="vidstyle",
        description="Neural style transfer (Gatys et al. 2015) for videos, images and webcams.\n"
                    "'vidstyle INPUT STYLE [options]' is short for 'vidstyle video INPUT STYLE [options]'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the examples' lines
        epilog="examples:\n"
               "  vidstyle clip.mp4 style.png --preset fast      # -> clip_style.mp4\n"
               "  vidstyle clip.mp4 style.png --preview          # first frame only, in seconds\n"
               "  vidstyle image photo.jpg style.png -o out.png\n"
               "every option of a command: vidstyle COMMAND --help",
    )
    parser.add_argument("--version", action="version", version=f"vidstyle {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    add_image_command(commands)
    add_video_command(commands)
    add_eval_command(commands)
    add_webcam_command(commands)
    add_reconstruct_command(commands)
    add_sweep_command(commands)
    add_batch_command(commands)
    add_batch_video_command(commands)
    return parser


COMMANDS = ("image", "video", "eval", "webcam", "reconstruct", "sweep", "batch", "batch-video")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vidstyle`` command; returns the exit status.

    SIGTERM is handled like Ctrl-C (finished work kept, recordings closed) while a command runs.
    """
    debug = False
    try:
        with _sigterm_as_interrupt():
            argv = list(sys.argv[1:] if argv is None else argv)
            if argv and (argv[0] == "-" or not argv[0].startswith("-")) and argv[0] not in COMMANDS:
                check_not_a_mistyped_command(argv[0])
                argv.insert(0, "video")  # 'vidstyle INPUT STYLE' is the main job
            parser = build_parser()
            args = parser.parse_args(argv)
            args.command_line = argv  # for messages that spell out a command to run next
            debug = bool(getattr(args, "debug", False))
            if getattr(args, "run", None) is None:
                parser.print_help()
                return EXIT_USAGE
            with _warnings_as_lines(debug):
                return args.run(args)
    except KeyboardInterrupt:
        print("vidstyle: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Interrupted as error:
        print(f"vidstyle: {error}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (VidstyleError, ValueError) as error:
        if debug:
            raise
        print(f"vidstyle: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:  # the file system said no (read-only, full, permissions): one line
        if debug:
            raise
        problem = storage_error(error) or error
        where = f": {error.filename}" if getattr(error, "filename", None) else ""
        print(f"vidstyle: error: {problem.strerror or problem}{where}", file=sys.stderr)
        return EXIT_ERROR
    except RuntimeError as error:
        # CUDA says "out of memory"; the CPU allocator "can't allocate memory".
        if debug or not any(text in str(error) for text in ("out of memory", "can't allocate memory")):
            raise
        print(f"vidstyle: error: out of memory ({str(error).splitlines()[0]}); try a smaller --size", file=sys.stderr)
        return EXIT_ERROR


def check_not_a_mistyped_command(word: str) -> None:
    """Exit with a usage error if ``word`` (taken for the video input) is no file but close to a
    command's name: ``vidstyle imgae a.png b.png`` would otherwise be a video run of 'imgae'."""
    import difflib

    if os.path.exists(word) or any(c in word for c in "./\\%:"):
        return
    close = difflib.get_close_matches(word, COMMANDS, n=1)
    if close:
        print(f"vidstyle: error: unknown command {word!r} (did you mean {close[0]!r}?) and no such input file "
              "(see vidstyle --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread, so it stops a run like Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
