"""The video options of the frame chain's scene handling and of the encoder's quality (a group's
worth of ``vidstyle video`` options, kept beside :mod:`vidstyle.cli.options`, which adds them); the
shot-detection options are the webcam's too (:mod:`vidstyle.cli.webcam`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..settings import FILLS, LARGE_CRF, SMALL_CRF, SMALL_OUTPUT_SIDE, VideoSettings


def add_chain_options(g: argparse._ActionsContainer, add_option: Callable, positive_float: Callable) -> None:
    """Shot detection, the photometric check of the flow mask, the fill of rejected pixels and catch-up."""
    d = VideoSettings()
    add_option(g, "--photometric-tol", type=positive_float, default=d.photometric_tol, help="the flow mask also "
               "rejects pixels where the warped previous input differs by this much (RGB 0-1; small fast objects)")
    add_scene_options(g, add_option, positive_float, d, around="the two frames on either side",
                      starts="starts cold with the full --iters")
    add_option(g, "--fill", choices=FILLS, default=d.fill,
               help="what the regions the flow mask rejects (revealed, occluded) start from: the frame itself "
                    "(content), or the frame plus the stylization's change inpainted from the trusted "
                    "neighbourhood, mirrored into bands along the frame's borders (residual: starts closer to "
                    "the stylization)")
    add_option(g, "--catch-up-margin", type=positive_float, default=d.catch_up_margin,
               help="a warm frame whose style loss is still above (1 + this) x its shot's cold frame's gets "
                    "--warm-iters more, up to --catch-up-limit x --warm-iters in all (0: a fixed --warm-iters)")
    add_option(g, "--catch-up-limit", type=positive_float, default=d.catch_up_limit,
               help="the most a warm frame may spend, catch-up included, as a multiple of --warm-iters "
                    "(never above --iters): bounds the run's cost whatever the loss does")
    add_option(g, "--catch-up-gain", type=positive_float, default=d.catch_up_gain,
               help="a warm frame's budget grows by this x its rejected share x (--iters - --warm-iters)")


def add_scene_options(g: argparse._ActionsContainer, add_option: Callable, positive_float: Callable, d: Any, *,
                      around: str, starts: str, off: str = "") -> None:
    """``--scene-threshold`` and ``--no-scene-detect``, for videos and the webcam alike. ``d``: the command's
    settings (its defaults); ``around``: the frames a frame is compared with; ``starts``: what the first
    frame of a new shot does; ``off``: what ``--no-scene-detect`` also changes."""
    def scene_threshold(text: str) -> float:
        value = positive_float(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be > 0 (use --no-scene-detect to turn shot detection off)")
        return value

    add_option(g, "--scene-threshold", type=scene_threshold, default=d.scene_threshold,
               help="shot detection (PySceneDetect's adaptive detector): a frame is a hard cut when its content "
                    f"change is at least this many times the mean change of {around} (and at least "
                    f"{d.scene_min_content:g} on its 0-255 scale); the first frame of a new shot {starts}. "
                    "Lower finds more cuts")
    g.add_argument("--no-scene-detect", dest="scene_detect", action="store_false", default=None,
                   help=f"no shot detection: every frame after the first is warm-started, across cuts too{off} "
                        "[default: detection on]")


# x264's tunings (one of the first six, optionally joined by commas with fastdecode and zerolatency).
X264_TUNES = ("film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency")


def x264_tune(text: str) -> str:
    """An option type: an x264 ``--tune`` (``grain``, ``film,zerolatency``, ...) or ``none``."""
    if text in ("none", ""):
        return text
    unknown = [part for part in text.split(",") if part not in X264_TUNES]
    if unknown:
        raise argparse.ArgumentTypeError(f"{text!r}: x264 knows no tune {unknown[0]!r} "
                                         f"(tunes: {', '.join(X264_TUNES)}, or none)")
    return text


def add_encoder_quality_options(g: argparse._ActionsContainer, add_option: Callable) -> None:
    """``--crf``, ``--pix-fmt`` and ``--tune``, whose defaults depend on the output size."""
    d = VideoSettings()
    add_option(g, "--crf", type=int, default=d.crf,
               help=f"encoder quality (lower is better and larger); default: {SMALL_CRF} for outputs under "
                    f"{SMALL_OUTPUT_SIDE} px (short side), where x264 otherwise smooths the optimised texture "
                    f"away, else {LARGE_CRF}")
    add_option(g, "--pix-fmt", default=d.pix_fmt,
               help=f"encoded pixel format; auto: yuv444p (full colour resolution) under {SMALL_OUTPUT_SIDE} px "
                    "with libx264, else yuv420p (plays everywhere; some players cannot play 4:4:4 H.264)")
    add_option(g, "--tune", type=x264_tune, default=d.tune,
               help=f"x264 --tune, one of {', '.join(X264_TUNES[:6])} (with ,fastdecode or ,zerolatency if wanted) "
                    "('grain' keeps fine texture; 'none': x264's default)")
