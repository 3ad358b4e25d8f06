"""``vidstyle webcam``: its options, its settings and the live run's progress line."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path
from typing import Any

from ..settings import PRESETS, OptimSettings, describe_preset
from .chain_options import add_scene_options
from .options import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandError,
    add_loss_options,
    add_model_options,
    add_option,
    add_verbosity_options,
    fill_settings,
    loss_settings,
    model_settings,
    option_value,
    positive_float,
    positive_int,
    size_int,
    style_settings,
)

#: The presets that make sense live: a few iterations per frame.
WEBCAM_PRESETS = ("webcam",)

WEBCAM_KEYS = """keys in the window:
  q, Esc   quit                       s      save a snapshot (stylized and original PNG)
  space    pause / resume             n, p   next / previous style
  +, -     more / fewer iterations    v      side-by-side with the camera image"""


def add_webcam_options(parser: argparse.ArgumentParser) -> None:
    from ..settings import INIT_MODES, WebcamSettings

    d = WebcamSettings()
    g = parser.add_argument_group("camera, window and recording")
    add_option(g, "--camera", default=d.camera,
               help="camera index, video file or stream URL (rtsp://, http://). A file plays in real time, like a "
                    "camera: frames that arrive while one is being stylized are dropped (see --every-frame)")
    g.add_argument("--every-frame", action="store_true", default=None,
                   help="with a video file as --camera: stylize every frame instead of playing it in real time "
                        "(nothing dropped; a --record gets the file's frame count and timing) [default: off]")
    add_option(g, "--size", type=size_int, default=d.size,
               help="long side of the working image in pixels, as in the image and video commands (never above "
                    "the camera's; both sides made even)")
    add_option(g, "--display-size", type=positive_int, default=d.display_size,
               help="long side of the stylized image in the window (shrunk to fit the screen where its size is known)")
    g.add_argument("--side-by-side", action="store_true", default=None,
                   help="start with the camera image beside the stylized one (the v key toggles it); a --record "
                        "keeps the layout it starts with [default: off]")
    g.add_argument("--headless", action="store_true", default=None,
                   help="no window (servers, tests); stop with --max-frames, --seconds or Ctrl-C")
    add_option(g, "--max-frames", type=positive_int, default=d.max_frames, help="stop after this many stylized frames")
    add_option(g, "--seconds", type=positive_float, default=d.seconds, help="stop after this many seconds")
    add_option(g, "--record", metavar="OUT.mp4", default=d.record,
               help="write the shown frames (without the text overlay) to this video with PyAV (H.264; VP9 in "
                    ".webm), checked before the camera opens")
    g.add_argument("--overwrite", action="store_true", default=None,
                   help="replace an existing --record file (without it, an existing file is refused, as in the video "
                        "command) [default: off]")
    add_option(g, "--snapshot-dir", default=d.snapshot_dir, help="folder for the snapshots of the s key")
    o = parser.add_argument_group("per-frame optimisation")
    add_option(o, "--iters", type=positive_int, default=d.optim.iters,
               help="optimiser iterations per frame (+ and - change it live)")
    add_option(o, "--optimizer", choices=("lbfgs", "adam"), default=d.optim.optimizer, help="optimiser of the pixels")
    add_option(o, "--lr", type=positive_float, default=f"{d.optim.lr:g} for {d.optim.optimizer}, "
               f"{OptimSettings(optimizer='lbfgs').learning_rate():g} for lbfgs", help="step size")
    add_option(o, "--init-mode", choices=INIT_MODES, default=d.init_mode,
               help="start each frame from: its content (independent), the previous stylized frame (prev), "
                    "or that frame warped along the optical flow, occlusions filled from the content (flow)")
    add_option(o, "--flow-preset", choices=("ultrafast", "fast", "medium"), default=d.flow_preset,
               help="OpenCV DIS optical flow preset for --init-mode flow")
    add_option(o, "--temporal-weight", type=positive_float, default=d.loss.temporal_weight,
               help="weight of the temporal loss against the previous stylized frame (warped along the flow with "
                    "--init-mode flow; as it is with prev)")
    add_scene_options(o, add_option, positive_float, d, around="the frames just before and after it",
                      starts="starts cold, from the camera image itself, instead of from the previous shot's "
                             "stylization; to see the frame after it, each frame is held back one camera frame "
                             "(e.g. 33 ms at 30 frames/s) before it is stylized",
                      off=", and no frame is held back")
    add_option(o, "--revealed-weight", type=positive_float, default=d.loss.revealed_weight,
               help="style weight, relative to the whole frame's, of the content that entered the frame since the "
                    "last one (a pan's new edge), on its own, while it is behind the rest (0: off)")
    add_option(o, "--check-every", type=positive_int, default=d.optim.check_every,
               help="iterations between loss reads, where the keys are read too (q acts within a frame); on a GPU "
                    "a larger value saves a device sync per iteration")
    add_option(o, "--seed", type=int, default=d.optim.seed, help="seed for random weights")
    s = parser.add_argument_group("style")
    add_option(s, "--style-size", type=positive_int, default=d.style.size,
               help="long side of the style images in pixels (default: the working image's long side times --style-scale)")
    add_option(s, "--style-scale", type=positive_float, default=d.style.scale,
               help="style size relative to the working image's")


def webcam_settings(args: argparse.Namespace) -> Any:
    from ..settings import WebcamSettings

    d = WebcamSettings()
    preset = getattr(args, "preset", None)
    if preset is not None and preset not in WEBCAM_PRESETS:
        iters = PRESETS[preset]["iters"]
        raise CommandError(f"--preset {preset} is for the image and video commands (it spends {iters} iterations on "
                           "a frame); the webcam takes --preset webcam, its own defaults")
    optimizer = option_value(args, "optimizer", d.optim.optimizer)
    lr = option_value(args, "lr", None)
    lr = lr if lr is not None else (d.optim.lr if optimizer == d.optim.optimizer else None)
    optim = dataclasses.replace(d.optim, optimizer=optimizer, lr=lr, iters=option_value(args, "iters", d.optim.iters),
                                seed=option_value(args, "seed", d.optim.seed),
                                check_every=option_value(args, "check_every", d.optim.check_every))
    settings = fill_settings(WebcamSettings, args, style=style_settings(args), loss=loss_settings(args), optim=optim,
                     model=model_settings(args))
    if settings.seconds == 0:
        raise CommandError("--seconds 0 would stop before the first frame; give a time above 0 (or leave it out)")
    return dataclasses.replace(settings, headless=bool(settings.headless), side_by_side=bool(settings.side_by_side),
                               every_frame=bool(settings.every_frame), overwrite=bool(settings.overwrite),
                               scene_detect=settings.scene_detect is not False)


def webcam_command(args: argparse.Namespace) -> int:
    """``vidstyle webcam STYLE... [--camera 0|PATH|URL]``: live preview in a window (or headless)."""
    from tqdm import tqdm

    from ..live.loop import check_record, run_session
    from ..media.image_files import load_image

    settings = webcam_settings(args)
    styles = [load_image(path, "style") for path in settings.style.paths]  # before the camera is opened
    # Before the progress bar, so a refusal is its one line.
    record_codec = check_record(settings) if settings.record is not None else None
    bar = tqdm(total=settings.max_frames, desc="webcam", unit="frame", disable=args.quiet, dynamic_ncols=True,
               leave=False)

    def on_frame(report) -> None:  # noqa: ANN001
        bar.set_postfix(fps=f"{report.fps:.1f}", latency=f"{report.latency * 1000:.0f}ms", it=report.iterations,
                        dropped=report.dropped, refresh=False)
        bar.update(1)

    def on_event(message: str) -> None:
        if not args.quiet:
            bar.write(f"vidstyle: {message}", file=sys.stderr)

    with bar, warnings.catch_warnings():
        if not args.debug:  # warnings on their own line, not glued to the progress bar
            warnings.showwarning = lambda message, *rest, **kw: bar.write(f"vidstyle: warning: {message}",
                                                                          file=sys.stderr)
        result = run_session(settings, styles, on_frame=on_frame, on_event=on_event, progress=not args.quiet,
                             record_codec=record_codec)
    recording = ""
    if result.record_path and Path(result.record_path).exists():
        recording = f"; recording finished: {result.record_path} ({result.recorded} frames)"
    elif result.record_path:
        recording = f"; no recording written ({result.record_path}): no frame was stylized"
    if result.source_lost:
        print(f"vidstyle: error: {result.message}; stopped cleanly{recording}", file=sys.stderr)
        return EXIT_ERROR
    if result.stop_reason == "interrupted":
        print(f"vidstyle: interrupted after {result.processed} frames{recording}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet or result.stop_reason == "ended":
        latency = f", latency {result.latency_mean * 1000:.0f} ms mean" if result.processed else ""
        print(f"vidstyle: {result.processed} frames in {result.elapsed:.1f} s ({result.fps:.2f} frames/s{latency}), "
              f"{result.captured} captured, {result.dropped} dropped{cuts_text(result.cuts)}; stopped: "
              f"{result.message}{recording}",
              file=sys.stderr)
    return EXIT_OK


def cuts_text(cuts: list[int], shown: int = 10) -> str:
    """``", 2 cuts (new shots at frames 12, 40)"`` (capture numbers), or "" without cuts."""
    if not cuts:
        return ""
    more = f", ... ({len(cuts) - shown} more)" if len(cuts) > shown else ""
    plural = "s" if len(cuts) > 1 else ""
    return f", {len(cuts)} cut{plural} (new shot{plural} at frame{plural} {', '.join(map(str, cuts[:shown]))}{more})"


def add_webcam_command(commands) -> None:  # noqa: ANN001
    webcam = commands.add_parser(
        "webcam", help="live preview of a camera (or a file or stream) in a window",
        description="Stylize a live camera feed at a low resolution, a few optimiser iterations per frame, each frame\n"
                    "warm-started from the previous stylized one. Capture runs in its own thread and keeps only the\n"
                    "newest frame, so lag never builds up; older frames are dropped and counted.",
        epilog=WEBCAM_KEYS, formatter_class=argparse.RawDescriptionHelpFormatter)
    webcam.add_argument("style", nargs="+", help="style image file(s); n and p switch between them")
    add_webcam_options(webcam)
    add_loss_options(webcam)
    add_model_options(webcam)
    g = webcam.add_argument_group("general")
    g.add_argument("--preset", choices=sorted(PRESETS), default=None, metavar="webcam",
                   help=f"webcam: {describe_preset('webcam')}, which are this command's defaults (the image and "
                        "video commands' other presets spend 150+ iterations on a frame and are refused here) "
                        "[default: none]")
    add_verbosity_options(g, verbose=False, quiet="no progress bar, messages or summary: only warnings and errors")
    g.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    webcam.set_defaults(run=webcam_command)
