"""Benchmark of the optimisation step and of the video pipeline, against the hardware limit.

Prints one JSON line per measurement, then a short table (lines starting with "# "):

- ``env``: device, torch, threads.
- ``step``: per frame size x precision x compile x batch (x CUDA graphs): ms per iteration (median
  of ``--repeats`` timed runs of ``--iters`` iterations each, after warm-up; CUDA events on a GPU),
  ms per frame-iteration, the work per iteration in TFLOP and the effective TFLOP/s, peak GPU
  memory, host reads (syncs) per iteration, and the pixel-gradient error against fp32.
  Work: each iteration is one VGG19 forward to relu5_1 and a backward to the pixels (no weight
  gradients), counted as 4 x the convolution multiply-accumulates, computed from the layer
  shapes (2 FLOP per MAC forward + 2 backward to the input); pooling, Grams and losses are not
  counted. That is ~0.095 TFLOP at 256x256 and ~3.0 at 1920x1080, as in issue 5.
- ``memory``: bytes autograd saves for the backward (measured with saved-tensor hooks at the
  size, or at a smaller size and scaled by the pixel count where ``--memory-scale`` says so) and
  an estimate of the peak at default settings (weights, saved activations, L-BFGS history, the
  largest gradient buffers); on a GPU the step records have the measured peak.
- ``iterations``: iterations used per frame, cold (first frame) vs warm (the others), from the
  video run below (default settings: L-BFGS, flow warm start, early stop).
- ``video``: end-to-end ``run_video`` on a generated clip (written with PyAV) with the default
  settings: frames/s, and the fraction of the wall time the GPU was busy (CUDA events around
  every stylize call, summed, over the wall time; with ``--profile``, also the union of the
  kernel times from torch.profiler). On the CPU the fraction is the time spent in stylize.

    python scripts/bench.py --tiny                                    # CPU smoke test, seconds
    python scripts/bench.py --device cpu --sizes 64,128
    python scripts/bench.py --device cuda                             # 256..1080p, fp32/tf32/bf16
    python scripts/bench.py --device cuda --sizes 720p,1080p --precisions bf16 --compile both
    python scripts/bench.py --device cuda --sizes 256 --batches 1,16 --graphs --skip-video

Random VGG weights by default (``--weights``): they cost what ImageNet weights cost per
iteration, but early stopping (cold/warm iteration counts) depends on the weights.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402

from vidstyle.core.features import VGGFeatures  # noqa: E402
from vidstyle.core.layers import LAYER_CHANNELS, LAYER_INDEX, LAYER_NAMES  # noqa: E402
from vidstyle.core.runtime import backend_context, resolve_device, resolve_precision, synchronize  # noqa: E402
from vidstyle.core.stylizer import Stylizer  # noqa: E402
from vidstyle.settings import DEFAULT_STYLE_LAYERS, LossSettings, ModelSettings, OptimSettings, VideoSettings  # noqa: E402

DEFAULT_LAYERS = tuple(dict.fromkeys([LossSettings().content_layer, *(n for n, _ in DEFAULT_STYLE_LAYERS)]))
NAMED_SIZES = {"720p": (720, 1280), "1080p": (1080, 1920), "4k": (2160, 3840)}


# -- work and memory model ------------------------------------------------------------------------


def conv_macs(height: int, width: int, last_layer: str = "relu5_1") -> int:
    """Multiply-accumulates of VGG19's 3x3 convolutions up to ``last_layer``, for one image."""
    macs, channels, h, w = 0, 3, height, width
    for name in LAYER_NAMES[: LAYER_INDEX[last_layer] + 1]:
        if name.startswith("conv"):
            out = LAYER_CHANNELS[name]
            macs += h * w * channels * out * 9
            channels = out
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
    return macs


def iteration_flop(height: int, width: int, batch: int = 1, last_layer: str = "relu5_1") -> float:
    """FLOP of one iteration by issue 5's formula: 4 x the conv MACs (forward + backward to the pixels)."""
    return 4.0 * conv_macs(height, width, last_layer) * batch


def lbfgs_history_bytes(height: int, width: int, history: int = 50) -> int:
    """torch's L-BFGS keeps ``history`` pairs (s, y) of pixel-sized fp32 vectors, plus a few more."""
    return (2 * history + 4) * 3 * height * width * 4


class SavedBytes:
    """Bytes autograd saves for the backward during a forward (unique storages), via saved-tensor hooks."""

    def __init__(self) -> None:
        self.storages: dict[int, int] = {}

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        self.storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    @property
    def total(self) -> int:
        return sum(self.storages.values())


def saved_activation_bytes(stylizer: Stylizer, image: torch.Tensor) -> int:
    """What one forward of the loss step keeps alive for its backward (weights excluded)."""
    weights = {p.untyped_storage().data_ptr() for p in stylizer.extractor.parameters()}
    weights |= {b.untyped_storage().data_ptr() for b in stylizer.extractor.buffers()}
    saved = SavedBytes()
    x = image.clone().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
        stylizer._step(x)
    return sum(n for ptr, n in saved.storages.items() if ptr not in weights)


def estimated_peak_bytes(height: int, width: int, saved: int, weights: int, optimizer: str = "lbfgs") -> int:
    """A model of the peak: weights + saved activations + optimiser state + ~3 of the largest
    gradient buffers alive during the backward (64 channels at full size, fp32) + the pixels."""
    largest = 64 * height * width * 4
    state = lbfgs_history_bytes(height, width) if optimizer == "lbfgs" else 3 * 3 * height * width * 4
    return weights + saved + state + 3 * largest + 4 * 3 * height * width * 4


# -- helpers --------------------------------------------------------------------------------------


class CountHostReads(TorchFunctionMode):
    """Counts reads of tensor values back to the host (each waits for the device)."""

    READS = {"item", "__float__", "__bool__", "__int__", "__index__", "tolist", "cpu", "numpy"}

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        if getattr(func, "__name__", "") in self.READS:
            self.count += 1
        return func(*args, **(kwargs or {}))


def parse_size(text: str) -> tuple[int, int]:
    """``256`` (square), ``720p``, ``1080p`` or ``WxH`` -> (height, width)."""
    text = text.strip().lower()
    if text in NAMED_SIZES:
        return NAMED_SIZES[text]
    if "x" in text:
        w, h = text.split("x")
        return int(h), int(w)
    return int(text), int(text)


def size_label(h: int, w: int) -> str:
    return f"{w}x{h}"


def structured(height: int, width: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """Smooth structure plus texture in [0, 1] (never zeros: zeros can run faster than real data)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    base = torch.stack([xx, yy, 0.5 + 0.5 * torch.sin(20 * (xx + yy))])
    images = base.expand(batch, 3, height, width) + 0.1 * torch.randn(batch, 3, height, width, generator=g)
    return images.clamp(0, 1).contiguous()


def make_extractor(weights: str, device: torch.device) -> tuple[VGGFeatures, str]:
    from vidstyle.core.features import load_vgg_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_vgg_features(DEFAULT_LAYERS, weights, device=device, progress=False)


class Timer:
    """Wall time of a region: CUDA events on a GPU (synchronised at the end), perf_counter elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __enter__(self) -> "Timer":
        if self.device.type == "cuda":
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.end.record()
            self.end.synchronize()
            self.ms = self.start.elapsed_time(self.end)
        else:
            self.ms = (time.perf_counter() - self.t0) * 1000


def emit(record: dict, out: list[dict], stream=None) -> None:  # noqa: ANN001
    out.append(record)
    print(json.dumps(record), flush=True)
    if stream is not None:
        stream.write(json.dumps(record) + "\n")
        stream.flush()


# -- the step -------------------------------------------------------------------------------------


def bench_step(args: argparse.Namespace, device: torch.device, extractor: VGGFeatures, size: tuple[int, int],
               precision: str, compile_: bool, batch: int, graphs: bool, reference_grads: dict) -> dict:
    h, w = size
    optim = OptimSettings(optimizer=args.optimizer, iters=args.iters, check_every=args.iters, tol=0.0)
    style = structured(256 if device.type == "cuda" else 64, 256 if device.type == "cuda" else 64, seed=7)
    record: dict = {
        "kind": "step", "size": size_label(h, w), "precision": precision, "resolved_precision": None,
        "compile": compile_, "batch": batch, "cuda_graphs": graphs, "optimizer": args.optimizer,
        "iters": args.iters, "repeats": args.repeats,
    }
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stylizer = Stylizer(extractor, [style], optim=optim,
                                model=ModelSettings(device=str(device), precision=precision, compile=compile_,
                                                    cuda_graphs=graphs))
            record["resolved_precision"] = stylizer.precision
            content = structured(h, w, batch, seed=1).to(device)
            stylizer.set_targets(content)
            start = content
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            for _ in range(max(1, args.warmup)):  # warm-up: compile, cuDNN autotuning, graph capture
                stylizer.optimize(start, args.iters)
            synchronize(device)
            record["warmup_s"] = round(time.perf_counter() - t0, 3)
            times = []
            for _ in range(args.repeats):
                with Timer(device) as timer:
                    stylizer.optimize(start, args.iters)
                times.append(timer.ms / args.iters)
            record["peak_memory_bytes"] = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
            with CountHostReads() as counter:
                stylizer.optimize(start, args.iters)
            record["host_reads_per_iter"] = round(counter.count / args.iters, 3)
            # Pixel-gradient error against fp32 at this size (catches fp16 underflow, bf16 noise).
            x = start[:1].clone().requires_grad_(True)
            with backend_context(stylizer.precision, device):
                stylizer.set_targets(content[:1])
                stylizer.loss_terms(x)["total"].sum().backward()
            key = (h, w)
            if key not in reference_grads:  # eager fp32: the reference for every mode at this size
                reference = Stylizer(extractor, [style], optim=optim,
                                     model=ModelSettings(device=str(device), precision="fp32"))
                reference.set_targets(content[:1])
                y = start[:1].clone().requires_grad_(True)
                with backend_context("fp32", device):
                    reference.loss_terms(y)["total"].sum().backward()
                reference_grads[key] = y.grad.detach()
            ref = reference_grads[key]
            record["grad_rel_err_vs_fp32"] = float((x.grad - ref).norm() / ref.norm())
            if graphs and device.type == "cuda":
                eager = Stylizer(extractor, [style], optim=optim,
                                 model=ModelSettings(device=str(device), precision=precision))
                eager.set_targets(content)
                stylizer.set_targets(content)
                a = eager.optimize(start, args.iters).image
                b = stylizer.optimize(start, args.iters).image
                record["graph_vs_eager_max_abs_diff"] = float((a - b).abs().max())
                record["graphs_captured"] = any(g.captured for g, _ in stylizer._graphs.values())
            record["warnings"] = sorted({str(c.message)[:200] for c in caught})
        ms = statistics.median(times)
        flop = iteration_flop(h, w, batch)
        record.update({
            "ms_per_iter": round(ms, 4),
            "ms_per_iter_spread": [round(min(times), 4), round(max(times), 4)],
            "ms_per_frame_iter": round(ms / batch, 4),
            "tflop_per_iter": round(flop / 1e12, 5),
            "tflops": round(flop / (ms / 1000) / 1e12, 3),
        })
        from vidstyle.core.runtime import compile_failure

        record["compile_active"] = compile_ and compile_failure() is None
    except Exception as error:  # noqa: BLE001 - OOM or a broken mode: record it and go on
        record["error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return record


def bench_memory(args: argparse.Namespace, device: torch.device, extractor: VGGFeatures,
                 size: tuple[int, int], precision: str) -> dict:
    """Saved-for-backward bytes at ``size``: measured at size / memory_scale and at half that per
    side, fitted as ``fixed + per_pixel * pixels`` (the fixed part: Gram matrices, the weights'
    autocast copies) and extrapolated; exact at ``size`` when memory_scale is 1."""
    h, w = size
    scale = max(1, args.memory_scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stylizer = Stylizer(extractor, [structured(64, 64)], model=ModelSettings(device=str(device), precision=precision))
    points = []
    for mh, mw in ((max(32, h // scale), max(32, w // scale)), (max(16, h // (2 * scale)), max(16, w // (2 * scale)))):
        content = structured(mh, mw).to(device)
        stylizer.set_targets(content)
        points.append((mh * mw, saved_activation_bytes(stylizer, content), (mh, mw)))
    (p1, b1, at), (p2, b2, _) = points
    per_pixel = (b1 - b2) / (p1 - p2) if p1 != p2 else b1 / p1
    fixed = max(0.0, b1 - per_pixel * p1)
    saved = int(fixed + per_pixel * h * w)
    weights = sum(p.numel() * p.element_size() for p in extractor.parameters())
    peak = estimated_peak_bytes(h, w, saved, weights)
    return {
        "kind": "memory", "size": size_label(h, w), "precision": stylizer.precision,
        "measured_at": size_label(*at), "saved_activation_bytes": saved,
        "saved_bytes_per_pixel": round(per_pixel, 1), "saved_fixed_bytes": int(fixed), "weights_bytes": weights,
        "lbfgs_history_bytes": lbfgs_history_bytes(h, w), "estimated_peak_bytes": peak,
        "estimated_peak_gib": round(peak / 2**30, 2), "fits_8_gib": peak < 8 * 2**30,
    }


# -- the video ------------------------------------------------------------------------------------


def write_clip(path: Path, width: int, height: int, frames: int, fps: int = 24) -> None:
    """A panning, textured clip (H.264 via vidstyle's writer; mpeg4 where libx264 is missing)."""
    from vidstyle.media.video_files import VideoWriter

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with VideoWriter(path, width, height, time_base=Fraction(1, fps), rate=Fraction(fps), crf=18) as writer:
        for i in range(frames):
            x = xx + 3.0 * i
            image = np.stack([
                0.5 + 0.5 * np.sin(x / 23.0), 0.5 + 0.5 * np.sin(yy / 17.0 + x / 41.0),
                0.5 + 0.5 * np.cos((x - yy) / 29.0),
            ], axis=-1)
            block = (((x // 80) + (yy // 80)) % 2)[..., None] * 0.3
            writer.write(((image * 0.7 + block) * 255).clip(0, 255).astype(np.uint8), i)


class BusyMeter:
    """While open, wraps ``Stylizer.stylize`` (every Stylizer, e.g. the one a video run builds):
    device time inside it (CUDA events) or wall time on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.pairs: list = []
        self.cpu_seconds = 0.0
        self.original = Stylizer.stylize

    def __enter__(self) -> "BusyMeter":
        original = self.original

        def stylize(stylizer, *a, **k):  # noqa: ANN001, ANN002, ANN003
            if self.device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                result = original(stylizer, *a, **k)
                end.record()
                self.pairs.append((start, end))
                return result
            t0 = time.perf_counter()
            result = original(stylizer, *a, **k)
            self.cpu_seconds += time.perf_counter() - t0
            return result

        Stylizer.stylize = stylize
        return self

    def __exit__(self, *exc: object) -> None:
        Stylizer.stylize = self.original

    def busy_seconds(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return sum(s.elapsed_time(e) for s, e in self.pairs) / 1000
        return self.cpu_seconds


def kernel_busy_seconds(prof) -> float:  # noqa: ANN001
    """Union of the GPU kernel intervals in a torch.profiler trace, in seconds."""
    intervals = []
    for event in prof.events():
        if getattr(event, "device_type", None) == torch.autograd.DeviceType.CUDA and event.time_range.elapsed_us() > 0:
            intervals.append((event.time_range.start, event.time_range.end))
    intervals.sort()
    total, current = 0, None
    for start, end in intervals:
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    if current is not None:
        total += current[1] - current[0]
    return total / 1e6


def bench_video(args: argparse.Namespace, device: torch.device, workdir: Path, out: list[dict], stream) -> None:  # noqa: ANN001
    from vidstyle.video.pipeline import run_video

    cw, ch = (int(v) for v in args.clip_size.lower().split("x"))
    clip = workdir / "bench_clip.mp4"
    write_clip(clip, cw, ch, args.clip_frames)
    base = VideoSettings()
    optim = dataclasses.replace(OptimSettings(), tol=base.tol)
    if args.video_iters is not None:
        optim = dataclasses.replace(optim, iters=args.video_iters)
    settings = dataclasses.replace(
        base, input=str(clip), output=str(workdir / "bench_out.mp4"), overwrite=True, audio=False,
        optim=optim, warm_iters=args.video_warm_iters if args.video_warm_iters is not None else base.warm_iters,
        size=args.video_size if args.video_size != 0 else None,
        model=ModelSettings(weights=args.weights, device=str(device), precision=args.video_precision,
                            compile=args.compile in ("on", "both")),
    )
    style = structured(256, 256, seed=7)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        profile = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) \
            if args.profile and device.type == "cuda" else contextlib.nullcontext()
        wall0 = time.perf_counter()
        with BusyMeter(device) as meter, profile as prof:
            report = run_video(settings, styles=[style], progress=False)
        wall = time.perf_counter() - wall0
    busy = meter.busy_seconds()
    cold, warm = report.cold_iterations, report.warm_iterations
    emit({
        "kind": "iterations", "clip": f"{cw}x{ch}", "processing_size": "x".join(map(str, report.processing_size)),
        "optimizer": settings.optim.optimizer, "iters": settings.optim.iters, "warm_iters": settings.warm_iters,
        "tol": settings.optim.tol, "init_mode": settings.init_mode, "weights": report.weights_label,
        "cold": cold, "warm": warm,
        "cold_mean": statistics.fmean(cold) if cold else None, "warm_mean": statistics.fmean(warm) if warm else None,
    }, out, stream)
    record = {
        "kind": "video", "device": str(device), "clip": f"{cw}x{ch}", "frames": report.frames,
        "processing_size": "x".join(map(str, report.processing_size)),
        "precision": resolve_precision(settings.model.precision, device),
        "compile": settings.model.compile, "seconds": round(report.seconds, 3), "wall_seconds": round(wall, 3),
        "frames_per_second": round(report.frames_per_second, 4),
        "busy_seconds": round(busy, 3),
        "busy_fraction": round(min(1.0, busy / report.seconds), 4) if report.seconds > 0 else None,
        "busy_measure": "CUDA events around each stylize call / run wall time" if device.type == "cuda"
        else "wall time inside stylize / run wall time (CPU)",
        "peak_memory_bytes": report.peak_memory_bytes,
        "warnings": sorted({str(c.message)[:200] for c in caught}),
    }
    if args.profile and device.type == "cuda":
        record["kernel_busy_fraction"] = round(kernel_busy_seconds(prof) / report.seconds, 4)
    emit(record, out, stream)


# -- main -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true",
                   help="CPU smoke test: 32x32, fp32+bf16, batches 1 and 2, 2 iterations, a 4-frame clip")
    p.add_argument("--device", default="auto")
    p.add_argument("--sizes", default=None, help="comma list of 256, 720p, 1080p or WxH [GPU: 256,512,720p,1080p; CPU: 64,128]")
    p.add_argument("--precisions", default=None, help="comma list of fp32,tf32,bf16,fp16,auto [GPU: fp32,tf32,bf16; CPU: fp32,bf16]")
    p.add_argument("--compile", choices=("off", "on", "both"), default="off", help="torch.compile the step")
    p.add_argument("--batches", default="1", help="comma list of batch sizes (frames per iteration)")
    p.add_argument("--graphs", action="store_true", help="also time CUDA graphs (Adam, eager; CUDA only)")
    p.add_argument("--optimizer", choices=("adam", "lbfgs"), default="adam", help="optimiser for the step timing")
    p.add_argument("--iters", type=int, default=20, help="iterations per timed run")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per configuration (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    p.add_argument("--weights", default="random")
    p.add_argument("--memory-scale", type=int, default=None, help="measure saved activations at size/N per side [CPU: 4]")
    p.add_argument("--skip-step", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-video", action="store_true")
    p.add_argument("--clip-size", default="1280x720", help="generated clip WxH")
    p.add_argument("--clip-frames", type=int, default=24)
    p.add_argument("--video-size", type=int, default=VideoSettings().size, help="processing long side (0: the clip's)")
    p.add_argument("--video-precision", default="auto")
    p.add_argument("--video-iters", type=int, default=None, help="cold iterations [default settings]")
    p.add_argument("--video-warm-iters", type=int, default=None, help="warm iterations [default settings]")
    p.add_argument("--profile", action="store_true", help="kernel-time busy fraction via torch.profiler (CUDA)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--workdir", default=None, help="where the generated clip goes [a temporary folder]")
    p.add_argument("--out", default=None, help="also append the JSON lines to this file")
    return p


def apply_tiny(args: argparse.Namespace) -> None:
    args.device = "cpu"
    args.sizes = args.sizes or "32"
    args.precisions = args.precisions or "fp32,bf16"
    args.batches = "1,2" if args.batches == "1" else args.batches
    args.iters, args.repeats, args.warmup = 2, 2, 1
    args.memory_scale = args.memory_scale or 1
    args.clip_size, args.clip_frames, args.video_size = "48x32", 4, 0
    args.video_iters = 4 if args.video_iters is None else args.video_iters
    args.video_warm_iters = 2 if args.video_warm_iters is None else args.video_warm_iters
    args.threads = args.threads or 1


def table(records: list[dict]) -> list[str]:
    lines = [f"{'size':>10} {'prec':>5} {'cmp':>3} {'B':>3} {'gr':>2} {'ms/it':>9} {'ms/frame-it':>11} "
             f"{'TFLOP/s':>8} {'peak GiB':>8} {'syncs/it':>8} {'grad err':>8}"]
    for r in records:
        if r["kind"] != "step":
            continue
        if "error" in r:
            lines.append(f"{r['size']:>10} {r['precision']:>5} {'y' if r['compile'] else 'n':>3} {r['batch']:>3} "
                         f"{'y' if r['cuda_graphs'] else 'n':>2}  ERROR {r['error'][:60]}")
            continue
        peak = f"{r['peak_memory_bytes'] / 2**30:.2f}" if r.get("peak_memory_bytes") else "-"
        err = f"{r['grad_rel_err_vs_fp32']:.1e}" if r.get("grad_rel_err_vs_fp32") is not None else "-"
        lines.append(f"{r['size']:>10} {r['resolved_precision']:>5} {'y' if r['compile'] else 'n':>3} {r['batch']:>3} "
                     f"{'y' if r['cuda_graphs'] else 'n':>2} {r['ms_per_iter']:>9.3f} {r['ms_per_frame_iter']:>11.3f} "
                     f"{r['tflops']:>8.2f} {peak:>8} {r['host_reads_per_iter']:>8.2f} {err:>8}")
    for r in records:
        if r["kind"] == "memory":
            lines.append(f"memory {r['size']} {r['precision']}: saved activations {r['saved_activation_bytes'] / 2**30:.2f} GiB, "
                         f"estimated peak (L-BFGS) {r['estimated_peak_gib']} GiB")
        if r["kind"] == "iterations":
            lines.append(f"iterations per frame: cold {r['cold_mean']}, warm {r['warm_mean']} "
                         f"({r['optimizer']}, iters {r['iters']}, warm {r['warm_iters']}, tol {r['tol']})")
        if r["kind"] == "video":
            extra = f", kernels {r['kernel_busy_fraction']:.1%}" if "kernel_busy_fraction" in r else ""
            lines.append(f"video {r['clip']} at {r['processing_size']} ({r['precision']}): {r['frames_per_second']:.3f} "
                         f"frames/s, busy {r['busy_fraction']:.1%}{extra}")
    return ["# " + line for line in lines]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.tiny:
        apply_tiny(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    sizes = [parse_size(s) for s in (args.sizes or ("256,512,720p,1080p" if gpu else "64,128")).split(",")]
    precisions = [p.strip() for p in (args.precisions or ("fp32,tf32,bf16" if gpu else "fp32,bf16")).split(",")]
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    batches = [int(b) for b in args.batches.split(",")]
    if args.memory_scale is None:
        args.memory_scale = 1 if gpu else 4
    records: list[dict] = []
    stream = open(args.out, "a") if args.out else None
    env = {
        "kind": "env", "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if gpu else platform.processor() or platform.machine(),
        "torch": torch.__version__, "cuda": torch.version.cuda, "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "flop_formula": "4 x VGG19 conv MACs to relu5_1 (forward + backward to the pixels), from the layer shapes",
    }
    emit(env, records, stream)
    extractor, label = make_extractor(args.weights, device)
    records[0]["weights"] = label
    if not args.skip_step:
        references: dict = {}
        for (h, w) in sizes:
            for precision in precisions:
                for compile_ in compiles:
                    for batch in batches:
                        for graphs in ([False, True] if args.graphs and gpu and args.optimizer == "adam" and not compile_
                                       else [False]):
                            emit(bench_step(args, device, extractor, (h, w), precision, compile_, batch, graphs,
                                            references), records, stream)
    if not args.skip_memory:
        for (h, w) in sizes + ([NAMED_SIZES["1080p"]] if not args.tiny else []):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # fp16 on the CPU
                resolved = list(dict.fromkeys(resolve_precision(p, device) for p in precisions))
            for precision in resolved:
                emit(bench_memory(args, device, extractor, (h, w), precision), records, stream)
    if not args.skip_video:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(args.workdir) if args.workdir else Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            bench_video(args, device, workdir, records, stream)
    for line in table(records):
        print(line)
    if stream is not None:
        stream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
