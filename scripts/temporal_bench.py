"""Temporal benchmark: run the chain's modes on clips and print, per mode, how steady, how stylized
and how alive the output is, how fast it catches up after a cut and where a pan reveals new
pixels, and what it cost. JSON lines on stdout, Markdown tables on stderr.

    python scripts/temporal_bench.py samples/clip.mp4 --frames 12 --size 96
    python scripts/temporal_bench.py samples/clip.mp4 ../shared/media/video_car_traffic.mp4 --modes flow,long-term
    python scripts/temporal_bench.py samples/clip.mp4 --no-cut --no-pan     # the first table only

Each mode runs through the real pipeline (``run_video``) with the same style, network, size and
budgets (``--iters`` cold, ``--warm-iters`` warm); everything else is ``VideoSettings()``'s default
(residual fill, catch-up margin 0.1 up to 1.5x the warm budget, scene detection, early stop at
tol 1e-3) unless the mode says otherwise:

* ``independent``: every frame cold (``init_mode independent``), temporal weight 0;
* ``prev``: warm start from the previous output, restarting the pixels whose input changed;
  temporal weight 0;
* ``flow``: warm start along the optical flow, temporal weight 0 (no temporal loss);
* ``flow+temporal``: ``flow`` plus the temporal loss at ``--temporal-weight`` (default the
  videos' default, relative to the content term as ``VideoSettings.temporal_relative`` says);
* ``no-revealed-term``: ``flow+temporal`` without the revealed region's own style term
  (``revealed_weight`` 0; every other mode has the default);
* ``long-term``: ``flow+temporal`` plus ``--long-term 1,2,4``;
* ``multi-pass``: ``flow+temporal`` plus ``--passes 3``;
* ``defaults``: ``VideoSettings()`` as it is (today: ``flow`` with the temporal loss on).

The decoded output is measured against the input at the processing size (first table):

* warping error (Lai et al. 2018, ``vidstyle eval``), its ratio to the input's own floor and to
  independent frames (lower is steadier);
* stylization strength: the mean style loss per frame (sum over the style layers of w_l L_style_l
  of the decoded output frame against the style, without alpha; lower is more stylized) and the
  mean squared difference from the content frame (higher is further from the photo): steadiness
  bought by stylizing less shows here;
* motion following: the correlation of output frame differences with input frame differences,
  mean over frame pairs (1: the output changes where the input does; near 0: frozen or flicker);
* mean iterations and seconds per frame (all passes counted).

Catching up (second table; ``--no-cut`` / ``--no-pan`` leave a part out). A frame has caught up
when it is no more than 10% behind its reference (one-sided: more stylized than the reference
counts as caught up) and stays so for every later frame measured; the count is frames after the
event (0: at once); ">k": not within the k+1 frames measured (for strips: the worst strip).

* After a cut: a spliced clip (written losslessly in the temporary folder) of the clip's first
  ``c = max(frames // 2, scene_min_frames)`` frames (the detector allows no cut closer to the
  start) followed by ``frames - frames // 2`` frames of another shot: the next clip given (its
  first frames, scaled to cover the size and centre-cropped), or with one clip the clip's own
  first frames turned 180 degrees with their colour channels rotated (RGB -> BRG), a true hard
  cut in layout and hue. Per frame after the cut, the style loss over that of an ``independent``
  run of the same frames (cold starts, computed once per clip). Also whether the chain found
  the cut (the run report's ``cuts``).
* Revealed regions: a pan made from the clip's first frame (scaled to cover the size plus the
  travel, then a window of the processing size moving ``--pan-step`` px per frame to the right,
  so each frame shows a new strip at its right edge). Per column band of the step's width, (a)
  the mean squared distance from the content divided by the same for a cold stylization of the
  same frame (the ``independent`` run of the pan, once per clip), and (b) the style loss of the
  band's masked Gram matrices (``--band-layers``) against the style's, over the cold frame's;
  each relative to the frame's settled bands (revealed 6+ frames earlier, or in the first frame).
  Catch-up frames from (a) (behind: settled / strip), for every strip seen for 4+ frames;
  (a) and (b) of the strips 3 frames after they appear (mean over strips; 1: as stylized as the
  settled part; (a) < 1 and (b) > 1: less).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from vidstyle.core.factory import load_network, network_layers
from vidstyle.core.features import VGGFeatures
from vidstyle.core.losses import gram_matrix, style_loss
from vidstyle.core.runtime import resolve_device
from vidstyle.core.stylizer import Stylizer
from vidstyle.core.tensors import to_tensor
from vidstyle.media.image_files import load_image
from vidstyle.media.video_files import probe, processing_size, read_frames
from vidstyle.settings import (
    VIDEO_TEMPORAL_WEIGHT,
    LossSettings,
    ModelSettings,
    OptimSettings,
    StyleSettings,
    VideoSettings,
)
from vidstyle.video.metrics import evaluate_video
from vidstyle.video.pipeline import run_video

# What each mode sets on top of VideoSettings() ("temporal" absent: the bench's --temporal-weight;
# None: VideoSettings() untouched).
MODES: dict[str, dict | None] = {
    "independent": {"init_mode": "independent", "temporal": 0.0},
    "prev": {"init_mode": "prev", "temporal": 0.0},
    "flow": {"init_mode": "flow", "temporal": 0.0},
    "flow+temporal": {"init_mode": "flow"},
    "no-revealed-term": {"init_mode": "flow", "revealed_weight": 0.0},
    "long-term": {"init_mode": "flow", "long_term": (1, 2, 4)},
    "multi-pass": {"init_mode": "flow", "passes": 3},
    "defaults": None,
}
TOLERANCE = 0.1  # caught up: at most 10% behind the reference
SETTLE_AFTER = 6  # bands revealed this many frames earlier count as settled


def mode_settings(mode: str, clip: str, output: str, args: argparse.Namespace, frames: int | None) -> VideoSettings:
    """The settings of ``mode`` (see the module docstring) with the bench's size, budgets and network."""
    base = VideoSettings(input=clip, output=output, size=args.size, max_frames=frames, warm_iters=args.warm_iters,
                         optim=OptimSettings(iters=args.iters),
                         model=ModelSettings(weights=args.weights, device=args.device),
                         style=StyleSettings(paths=(args.style,)), overwrite=True)
    spec = MODES[mode]
    if spec is None:
        return base
    spec = dict(spec)
    weight = spec.pop("temporal", args.temporal_weight)
    revealed = spec.pop("revealed_weight", LossSettings().revealed_weight)
    return dataclasses.replace(base, loss=LossSettings(temporal_weight=weight, revealed_weight=revealed), **spec)


# -- pure measures (tests/test_temporal_bench.py checks them by hand) ------------------------------


def content_distance(outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray]) -> float:
    """Mean over frames of the mean squared difference between output and input, RGB in [0, 1]."""
    return float(np.mean([np.mean((unit_frame(o) - unit_frame(i)) ** 2) for o, i in zip(outputs, inputs, strict=True)]))


def motion_following(outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray]) -> float:
    """Mean over frame pairs of the Pearson correlation between the output's frame difference
    and the input's (all pixels and channels); pairs where either does not change are skipped
    (NaN if all are)."""
    if len(outputs) != len(inputs):
        raise ValueError(f"{len(outputs)} output frames for {len(inputs)} input frames")
    values = []
    for t in range(1, len(outputs)):
        d_out = (unit_frame(outputs[t]) - unit_frame(outputs[t - 1])).ravel()
        d_in = (unit_frame(inputs[t]) - unit_frame(inputs[t - 1])).ravel()
        if d_out.std() > 0 and d_in.std() > 0:
            values.append(float(np.corrcoef(d_out, d_in)[0, 1]))
    return float(np.mean(values)) if values else math.nan


def ratio(value: float, reference: float) -> float:
    """``value / reference`` (NaN when the reference is 0 or missing)."""
    return value / reference if reference else math.nan


def unit_frame(frame: np.ndarray) -> np.ndarray:
    """A frame as float64 in [0, 1] (uint8 divided by 255, floats as they are)."""
    return np.asarray(frame, dtype=np.float64) / (255.0 if frame.dtype == np.uint8 else 1.0)


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled (aspect kept) to cover ``width`` x ``height``, then centre-cropped to it."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (size[1] - height) // 2, (size[0] - width) // 2
    return np.ascontiguousarray(scaled[top:top + height, left:left + width])


def other_shot(image: np.ndarray) -> np.ndarray:
    """The one-clip cut's second shot: ``image`` turned 180 degrees, channels RGB -> BRG."""
    return np.ascontiguousarray(image[::-1, ::-1][..., [2, 0, 1]])


def pan_windows(scene: np.ndarray, width: int, step: int, count: int) -> list[np.ndarray]:
    """``count`` windows ``width`` px wide of ``scene``, moving ``step`` px right per frame."""
    if width + step * (count - 1) > scene.shape[1]:
        raise ValueError(f"a scene {scene.shape[1]} px wide is too narrow for {count} windows of {width} + {step} px")
    return [np.ascontiguousarray(scene[:, i * step:i * step + width]) for i in range(count)]


def bands(width: int, step: int) -> list[tuple[int, int]]:
    """Column bands ``[start, end)`` of ``step`` px from the right edge; band i is the strip a
    pan of ``step`` px per frame revealed i frames ago (a leftover narrower band is left out)."""
    return [(width - (i + 1) * step, width - i * step) for i in range(width // step)]


def band_distance(output: np.ndarray, content: np.ndarray, step: int) -> np.ndarray:
    """Per band (:func:`bands`): the mean squared difference between output and content."""
    per_column = ((unit_frame(output) - unit_frame(content)) ** 2).mean(axis=(0, 2))
    return np.array([per_column[a:b].mean() for a, b in bands(per_column.shape[0], step)])


def relative_to_settled(values: np.ndarray, frame: int, settle_after: int = SETTLE_AFTER) -> np.ndarray:
    """Per band of pan frame ``frame``: its value over the mean of the settled bands' (band i is
    ``i`` frames old, :func:`bands`; settled: ``i >= settle_after``, or shown in frame 0: ``i >= frame``).
    NaN everywhere when no band is settled."""
    settled = values[min(settle_after, frame):]
    if settled.size == 0 or not np.mean(settled):
        return np.full(values.shape, math.nan)
    return values / np.mean(settled)


def strip_series(per_frame: Sequence[np.ndarray], revealed_at: int) -> list[float]:
    """The values of the strip revealed at frame ``revealed_at``, from then on (band k at frame revealed_at + k)."""
    series = []
    for k in range(len(per_frame) - revealed_at):
        values = per_frame[revealed_at + k]
        if k >= len(values):
            break
        series.append(float(values[k]))
    return series


def frames_to_catch_up(behind: Sequence[float], tol: float = TOLERANCE) -> int | None:
    """The first k from which every ``behind`` value (measure / reference; 1: level, above: behind)
    is at most ``1 + tol``; None when the last one is not (or there is none, or it is NaN)."""
    k = len(behind)
    while k > 0 and behind[k - 1] <= 1 + tol:
        k -= 1
    return k if k < len(behind) else None


def catch_up_summary(results: Sequence[tuple[int | None, int]]) -> str:
    """The worst of ``(frames to catch up or None, frames measured)``: ``"3"``; ``">4"`` when one
    never caught up (then the worst is at least the frames it was measured for); ``"n/a"``: none."""
    if not results:
        return "n/a"
    worst = max(frames if k is None else k for k, frames in results)
    return f">{worst - 1}" if any(k is None for k, _ in results) else str(worst)


def band_masks(height: int, width: int, step: int) -> torch.Tensor:
    """(1, R, height, width) 0/1 masks, one per band of :func:`bands`."""
    edges = bands(width, step)
    masks = torch.zeros(1, len(edges), height, width)
    for r, (a, b) in enumerate(edges):
        masks[0, r, :, a:b] = 1.0
    return masks


def band_style_losses(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                      weights: Mapping[str, float], masks: torch.Tensor, centered: bool = False) -> np.ndarray:
    """Per band: sum over ``weights``' layers of w_l ||G_l(band) - A_l||^2 / C^2, with G_l the
    masked Gram matrix of the band (``gram_matrix(features, mask=...)``) and A_l the style's."""
    total = None
    for name, weight in weights.items():
        grams = gram_matrix(features[name], centered, masks)  # (1, R, C, C)
        term = weight * style_loss(grams, targets[name])[0]  # (R,)
        total = term if total is None else total + term
    return total.detach().cpu().double().numpy()


# -- measures through the network ------------------------------------------------------------------


def style_losses(stylizer: Stylizer, outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray]) -> list[float]:
    """Per frame: sum over style layers of w_l L_style_l of the output against the style (no alpha)."""
    values = []
    for output, content in zip(outputs, inputs, strict=True):
        stylizer.set_targets(to_tensor(content, stylizer.device))
        with torch.no_grad():
            terms = stylizer.loss_terms(to_tensor(output, stylizer.device))
        values.append(sum(float(terms[f"style/{name}"].sum()) * w for name, w in stylizer.loss.style_weights.items()))
    return values


def band_style_frames(stylizer: Stylizer, outputs: Sequence[np.ndarray], step: int,
                      layers: Sequence[str]) -> list[np.ndarray]:
    """:func:`band_style_losses` of each output frame on ``layers`` (with the style's weights)."""
    height, width = outputs[0].shape[:2]
    targets = {name: target[0] for name, target in stylizer.style_targets(max(height, width)).items()}
    weights = {name: stylizer.loss.style_weights[name] for name in layers}
    masks = band_masks(height, width, step).to(stylizer.device)
    with torch.no_grad():
        return [band_style_losses(stylizer.features(to_tensor(o, stylizer.device)), targets, weights, masks,
                                  stylizer.loss.gram_kind == "centered") for o in outputs]


def pan_catch_up(outputs: Sequence[np.ndarray], cold: Sequence[np.ndarray], inputs: Sequence[np.ndarray],
                 stylizer: Stylizer, step: int, layers: Sequence[str]) -> dict:
    """The revealed strips' catch-up on the pan (module docstring): frames, and (a), (b) at 3 frames."""
    distance = [relative_to_settled(band_distance(o, i, step) / band_distance(c, i, step), t)
                for t, (o, c, i) in enumerate(zip(outputs, cold, inputs, strict=True))]
    gram = [relative_to_settled(o / c, t) for t, (o, c) in
            enumerate(zip(band_style_frames(stylizer, outputs, step, layers),
                          band_style_frames(stylizer, cold, step, layers)))]
    strips = range(1, len(outputs) - 3)  # strips seen for 4+ frames
    results, series = [], []
    for t in strips:
        series.append(strip_series(distance, t))
        behind = [1 / v if v else math.inf for v in series[-1]]
        results.append((frames_to_catch_up(behind), len(behind)))
    at3 = [(strip_series(distance, t)[3], strip_series(gram, t)[3]) for t in strips if len(strip_series(gram, t)) > 3]
    return {"revealed_catch_up_frames": catch_up_summary(results), "revealed_per_strip": results,
            "revealed_distance_series": series,
            "revealed_distance_at_3": float(np.mean([a for a, _ in at3])) if at3 else math.nan,
            "revealed_gram_at_3": float(np.mean([b for _, b in at3])) if at3 else math.nan}


# -- clips written for the catch-up measures -------------------------------------------------------


def write_clip(path: Path, images: Sequence[np.ndarray], fps: int = 10) -> str:
    """Write ``images`` losslessly (H.264 crf 0, 4:4:4) with PyAV; the path as text."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "0"})
        stream.width, stream.height, stream.pix_fmt = images[0].shape[1], images[0].shape[0], "yuv444p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, fps)
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return str(path)


def cut_clips(clip: str, other: str | None, size: tuple[int, int], frames: int, folder: Path) -> dict:
    """The spliced clip (module docstring) and its second shot alone: paths, cut frame, what the shot is."""
    cut = max(frames // 2, VideoSettings().scene_min_frames)
    after = frames - frames // 2
    first = [f.image for f in read_frames(clip, size=size, max_frames=cut)]
    if other is not None:
        second = [cover(f.image, *size) for f in read_frames(other, max_frames=after)]
        what = f"first frames of {Path(other).name}"
    else:
        second = [other_shot(f.image) for f in read_frames(clip, size=size, max_frames=after)]
        what = "this clip turned 180 degrees, RGB -> BRG"
    stem = Path(clip).stem
    return {"spliced": write_clip(folder / f"{stem}_cut.mp4", first + second),
            "second": write_clip(folder / f"{stem}_shot2.mp4", second), "cut": len(first), "what": what}


def pan_clip(clip: str, size: tuple[int, int], frames: int, step: int, folder: Path) -> str:
    """The pan over the clip's first frame (module docstring), written as a clip."""
    width, height = size
    first = next(iter(read_frames(clip, max_frames=1))).image
    scene = cover(first, width + step * (frames - 1), height)
    return write_clip(folder / f"{Path(clip).stem}_pan.mp4", pan_windows(scene, width, step, frames))


# -- runs ------------------------------------------------------------------------------------------


def run(settings: VideoSettings, extractor: VGGFeatures, styles: list[torch.Tensor]) -> tuple:
    """``run_video`` of ``settings``; (report, decoded output frames, decoded input frames at that size)."""
    report = run_video(settings, styles=styles, extractor=extractor, progress=False)
    outputs = [f.image for f in read_frames(settings.output)]
    size = (outputs[0].shape[1], outputs[0].shape[0])
    inputs = [f.image for f in read_frames(settings.input, size=size, max_frames=len(outputs))]
    return report, outputs, inputs


def run_mode(clip: str, mode: str, args: argparse.Namespace, extractor: VGGFeatures, styles: list[torch.Tensor],
             folder: Path, extra: dict) -> dict:
    """Run one mode on ``clip`` (and on the cut and pan clips in ``extra``) and measure its output."""
    clock = time.perf_counter()
    out = folder / f"{Path(clip).stem}_{mode}.mp4"
    settings = mode_settings(mode, clip, str(out), args, args.frames)
    report, outputs, inputs = run(settings, extractor, styles)
    error = evaluate_video(str(out), clip)
    stylizer = Stylizer(extractor, styles, loss=settings.loss, model=settings.model)
    iterations = report.cold_iterations + report.warm_iterations
    row = {
        "clip": Path(clip).name, "mode": mode, "frames": len(outputs),
        "size": [outputs[0].shape[1], outputs[0].shape[0]],
        "warping_error": error.mean, "input_floor": error.floor_mean,
        "style_loss": float(np.mean(style_losses(stylizer, outputs, inputs))),
        "content_distance": content_distance(outputs, inputs),
        "motion_following": motion_following(outputs, inputs),
        "mean_iterations": sum(iterations) / len(iterations), "seconds_per_frame": report.seconds / len(iterations),
        "temporal_weight": settings.loss.temporal_weight, "cuts": report.cuts,
        "weights": report.weights_label, "device": str(resolve_device(settings.model.device)),
    }
    costs = {"clip": time.perf_counter() - clock}
    if "cut" in extra:
        clock = time.perf_counter()
        cut = extra["cut"]
        settings = mode_settings(mode, cut["spliced"], str(folder / f"{Path(clip).stem}_{mode}_cut.mp4"), args, None)
        report, outputs, inputs = run(settings, extractor, styles)
        c = cut["cut"]
        behind = [a / b for a, b in zip(style_losses(stylizer, outputs[c:], inputs[c:]), cut["cold"], strict=True)]
        k = frames_to_catch_up(behind)
        row.update({"cut_frame": c, "cut_found": c in report.cuts, "cut_cuts": report.cuts,
                    "cut_style_over_cold": behind, "cut_catch_up_frames": catch_up_summary([(k, len(behind))])})
        costs["cut"] = time.perf_counter() - clock
    if "pan" in extra:
        clock = time.perf_counter()
        pan = extra["pan"]
        settings = mode_settings(mode, pan["path"], str(folder / f"{Path(clip).stem}_{mode}_pan.mp4"), args, None)
        report, outputs, inputs = run(settings, extractor, styles)
        row.update(pan_catch_up(outputs, pan["cold"], inputs, stylizer, args.pan_step, args.band_layers))
        row["pan_cuts"] = report.cuts
        costs["pan"] = time.perf_counter() - clock
    row["seconds"] = costs
    return row


def references(clip: str, other: str | None, args: argparse.Namespace, extractor: VGGFeatures,
               styles: list[torch.Tensor], folder: Path) -> dict:
    """The cut and pan clips of ``clip`` and their cold (``independent``) references, with their cost."""
    info = probe(clip)
    size = processing_size(info.width, info.height, args.size)
    extra: dict = {"seconds": {}}
    if args.cut:
        clock = time.perf_counter()
        cut = cut_clips(clip, other, size, args.frames, folder)
        settings = mode_settings("independent", cut["second"], str(folder / f"{Path(clip).stem}_cold_cut.mp4"),
                                 args, None)
        _, outputs, inputs = run(settings, extractor, styles)
        stylizer = Stylizer(extractor, styles, loss=settings.loss, model=settings.model)
        extra["cut"] = {**cut, "cold": style_losses(stylizer, outputs, inputs)}
        extra["seconds"]["cut"] = time.perf_counter() - clock
    if args.pan:
        clock = time.perf_counter()
        path = pan_clip(clip, size, args.frames, args.pan_step, folder)
        settings = mode_settings("independent", path, str(folder / f"{Path(clip).stem}_cold_pan.mp4"), args, None)
        _, outputs, _ = run(settings, extractor, styles)
        extra["pan"] = {"path": path, "cold": outputs}
        extra["seconds"]["pan"] = time.perf_counter() - clock
    return extra


# -- tables ----------------------------------------------------------------------------------------


def table(rows: list[dict]) -> list[str]:
    """The Markdown table of one clip's rows (ratios against its ``independent`` row, if run)."""
    independent = next((r["warping_error"] for r in rows if r["mode"] == "independent"), None)
    lines = ["| mode | warping error | x floor | x independent | style loss | distance from content | "
             "motion following | iterations / frame | seconds / frame |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['warping_error']:.3g} | {ratio(r['warping_error'], r['input_floor']):.3g} | "
            f"{ratio(r['warping_error'], independent):.3g} | {r['style_loss']:.3g} | {r['content_distance']:.3g} | "
            f"{r['motion_following']:.2f} | {r['mean_iterations']:.1f} | {r['seconds_per_frame']:.2f} |")
    return lines


def catch_up_table(rows: list[dict]) -> list[str]:
    """The Markdown table of one clip's catch-up measures (``-``: not measured)."""
    lines = ["| mode | cut found | frames to catch up after the cut | style loss / cold at the cut | "
             "frames to catch up in revealed strips | strip distance / settled at 3 frames | "
             "strip Gram loss / settled at 3 frames | seconds: clip / cut / pan |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        found = ("yes" if r["cut_found"] else "no") if "cut_found" in r else "-"
        at_cut = f"{r['cut_style_over_cold'][0]:.3g}" if "cut_style_over_cold" in r else "-"
        at3 = [f"{r[key]:.3g}" if key in r else "-" for key in ("revealed_distance_at_3", "revealed_gram_at_3")]
        seconds = " / ".join(f"{r['seconds'][k]:.0f}" if k in r["seconds"] else "-" for k in ("clip", "cut", "pan"))
        lines.append(f"| {r['mode']} | {found} | {r.get('cut_catch_up_frames', '-')} | {at_cut} | "
                     f"{r.get('revealed_catch_up_frames', '-')} | {at3[0]} | {at3[1]} | {seconds} |")
    return lines


def machine() -> str:
    """The machine in words: CPU, cores, torch threads, and the GPU if there is one."""
    text = f"{platform.machine()} CPU, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def header(clip: str, rows: list[dict], extra: dict, args: argparse.Namespace) -> str:
    """The line above a clip's tables: clip, size, machine, weights, settings and what was measured how."""
    first, video = rows[0], VideoSettings()
    text = (f"\n{first['clip']}: {first['frames']} frames at {first['size'][0]}x{first['size'][1]}, input floor "
            f"{first['input_floor']:.3g}; weights {first['weights']}; device "
            f"{first['device']} on {machine()}; style {Path(args.style).name}; L-BFGS {args.iters} cold / "
            f"{args.warm_iters} warm iterations, tol {video.tol:g}; temporal weight {args.temporal_weight:g} "
            f"({'relative to the content term' if video.temporal_relative else 'absolute'}) in flow+temporal, "
            f"long-term and multi-pass, {video.loss.temporal_weight:g} in defaults; fill "
            f"{video.fill}, catch-up margin {video.catch_up_margin:g} up to {video.catch_up_limit:g}x warm; scene "
            f"detection {'on' if video.scene_detect else 'off'} (threshold {video.scene_threshold:g})")
    if "cut" in extra:
        cut = extra["cut"]
        text += (f"; cut at frame {cut['cut']} of {cut['cut'] + len(cut['cold'])} (second shot: {cut['what']}; "
                 f"cold reference {extra['seconds']['cut']:.0f} s)")
    if "pan" in extra:
        text += (f"; pan {args.pan_step} px/frame over the first frame, bands on {','.join(args.band_layers)} "
                 f"(cold reference {extra['seconds']['pan']:.0f} s)")
    return text


def add_run_arguments(parser: argparse.ArgumentParser, *, modes: str, frames: int, frames_help: str,
                      warm_iters: int, temporal_weight: float) -> None:
    """The options every temporal benchmark shares: clips, style, modes, size, budgets, network."""
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--style", default="samples/style.png")
    parser.add_argument("--modes", default=modes, help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--frames", type=int, default=frames, help=frames_help)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--iters", type=int, default=60, help="cold iterations (every frame in independent mode)")
    parser.add_argument("--warm-iters", type=int, default=warm_iters)
    parser.add_argument("--temporal-weight", type=float, default=temporal_weight,
                        help="the temporal loss's weight in the modes that have one (relative, as videos' default)")
    parser.add_argument("--weights", default="random")
    parser.add_argument("--device", default="cpu")


def parsed_modes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """``--modes`` as a list, unknown names refused."""
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown modes {', '.join(unknown)}; choose from {', '.join(MODES)}")
    return modes


def bench_network(args: argparse.Namespace) -> tuple[VGGFeatures, list[torch.Tensor]]:
    """The network (``--weights``, seeded as the CLI seeds it) and the style image of a benchmark run."""
    model = ModelSettings(weights=args.weights, device=args.device)
    extractor = load_network(network_layers(LossSettings()), model, seed=OptimSettings().seed)
    return extractor, [load_image(args.style, "style")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, modes=",".join(MODES), frames=12, frames_help="frames of each clip, of the pan and "
                      "around the cut", warm_iters=20, temporal_weight=VIDEO_TEMPORAL_WEIGHT)
    parser.add_argument("--no-cut", dest="cut", action="store_false", help="do not measure catching up after a cut")
    parser.add_argument("--no-pan", dest="pan", action="store_false", help="do not measure revealed regions")
    parser.add_argument("--pan-step", type=int, default=6, help="px per frame of the synthetic pan")
    parser.add_argument("--band-layers", default="relu1_1,relu2_1,relu3_1",
                        help="style layers of the band Gram measure (deep layers are coarser than a band)")
    args = parser.parse_args(argv)
    modes = parsed_modes(parser, args)
    args.band_layers = [name for name in args.band_layers.split(",") if name]
    if set(args.band_layers) - set(dict(LossSettings().style_layers)):
        parser.error(f"--band-layers must be style layers: {', '.join(dict(LossSettings().style_layers))}")
    if args.frames < 5:
        parser.error("--frames must be at least 5 (the pan's strips are followed for 4 frames)")

    extractor, styles = bench_network(args)
    tables = []
    with tempfile.TemporaryDirectory() as folder:
        for index, clip in enumerate(args.clips):
            other = args.clips[(index + 1) % len(args.clips)] if len(args.clips) > 1 else None
            extra = references(clip, other, args, extractor, styles, Path(folder))
            rows = []
            for mode in modes:
                row = run_mode(clip, mode, args, extractor, styles, Path(folder), extra)
                rows.append(row)
                print(json.dumps(row), flush=True)
            lines = [header(clip, rows, extra, args), "", *table(rows)]
            if args.cut or args.pan:
                lines += ["", *catch_up_table(rows)]
            tables += lines
            print("\n".join(lines), file=sys.stderr, flush=True)
    print("\n".join(tables), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
