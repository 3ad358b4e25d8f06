"""Long-term temporal consistency (Ruder et al. 2016, sec. 3.3): ``--long-term 1,2,4``.

The short-term temporal loss ties frame t to frame t-1 only, so a region hidden for a few
frames comes back with new strokes. The long-term loss ties it to the frames t-j for every
offset j in J as well:

    L_long = sum_{j in J} mean(c_long(t-j) * (x - warp(x_{t-j}, flow_{t -> t-j}))^2)

with "closest first" weights: a pixel is held to the closest earlier frame in which it was
visible, ``c_long(t-j) = max(c(t-j) - sum_{k in J, k < j} c(t-k), 0)``, where ``c(t-j)`` is the
consistency mask of the direct flow between t and t-j (:func:`closest_first_weights`).

Three parts, each testable alone:

* :func:`long_term_frames` wraps the decoder: the flows from each frame to the frames ``j``
  back (j > 1; offset 1 is the chain's own motion) are computed where it runs, the decode
  thread, with its own DIS estimator, and their masks also reject pixels whose warped input does
  not match (:func:`input_consistent`);
* :func:`combine_targets` folds the per-offset targets into one ``(target, mask)`` pair with
  the same gradient, so the loss, the batched mode and the CUDA graphs keep their one
  temporal term;
* :class:`LongTermMemory` keeps the last stylized frames (a value owned by the run, passed to
  :func:`vidstyle.video.chain.stylize_frames`) and revises each warm frame's plan: the
  combined temporal target, and the start taken from the closest earlier frame where the
  previous one cannot vouch for a pixel (a region coming back starts from its old look).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from ..errors import VidstyleError
from ..media.video_files import Frame
from ..settings import VideoSettings
from .chain import ChainInput, DecodedFrame, FramePlan
from .flow import FlowEstimator, Motion, fill_masked, motion_between, warp
from .workdir import WorkFolder


class LongTermError(VidstyleError):
    """``--long-term`` asked for with settings it cannot work with."""


def check_long_term(settings: VideoSettings) -> None:
    """Refuse offsets that are not positive, or a long-term loss without flow to warp along or
    without the temporal loss it weights."""
    if not settings.long_term:
        return
    if any(j < 1 for j in settings.long_term):
        raise LongTermError(f"--long-term offsets must be positive frame counts, got {settings.long_term}")
    if settings.init_mode != "flow":
        raise LongTermError("--long-term needs --init-mode flow (it warps earlier frames along the optical flow)")
    if not settings.loss.temporal_weight:
        raise LongTermError("--long-term needs a --temporal-weight: it ties each frame to earlier ones through "
                            "the temporal loss, which is off at 0")


def closest_first_weights(masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Ruder et al.'s long-term weights for masks ordered closest first (offsets ascending).

    ``c_long[j] = max(c[j] - sum_{k < j} c[k], 0)``: with binary masks each pixel keeps weight 1
    for the closest frame that saw it and 0 for the others.
    """
    weights, seen = [], None
    for mask in masks:
        mask = np.asarray(mask, dtype=np.float32)
        weights.append(mask.copy() if seen is None else np.maximum(mask - seen, 0.0))
        seen = mask.copy() if seen is None else seen + mask
    return weights


def combine_targets(targets: Sequence[torch.Tensor], weights: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``(target, mask)`` whose temporal loss has the gradient of the sum over offsets.

    ``sum_j w_j (x - t_j)^2 = W (x - m)^2 + const`` with ``W = sum_j w_j`` and
    ``m = sum_j w_j t_j / W``: the same gradient in ``x``, and the same value whenever at most
    one weight is non-zero per pixel (binary closest-first weights). Where ``W = 0`` the target
    is the first one (it carries no weight there). ``targets`` are (1, 3, H, W), ``weights``
    (1, 1, H, W).
    """
    if not targets or len(targets) != len(weights):
        raise ValueError(f"{len(targets)} targets for {len(weights)} weights")
    total = torch.stack(list(weights)).sum(0)
    weighted = torch.stack([w * t for w, t in zip(weights, targets)]).sum(0)
    target = torch.where(total > 0, weighted / total.clamp_min(1e-12), targets[0])
    return target, total


@dataclass(frozen=True, eq=False)
class LongTermFrame:
    """A decoded frame with its motion against the frames ``j`` back (``motions[j]``: its
    :class:`Motion` against frame ``index - j``; the chain's own ``motion`` is offset 1)."""

    decoded: DecodedFrame
    motions: Mapping[int, Motion] = field(default_factory=dict)

    @property
    def frame(self) -> Frame:
        return self.decoded.frame

    @property
    def index(self) -> int:
        return self.decoded.index

    @property
    def image(self) -> np.ndarray:
        return self.decoded.image

    @property
    def motion(self) -> Motion | None:
        return self.decoded.motion

    @property
    def cut(self) -> bool:
        """Whether a new shot starts here (if the decoder marks cuts)."""
        return bool(getattr(self.decoded, "cut", False))


def far_offsets(settings: VideoSettings) -> tuple[int, ...]:
    """The offsets beyond the previous frame, sorted (offset 1 is the chain's own temporal term)."""
    return tuple(sorted({j for j in settings.long_term if j > 1}))


# A far frame's warp must also reproduce the input: a pixel whose warped input differs from the
# current input by more than this (RGB in [0, 1], largest channel, 3x3 box blur against grain) is
# rejected. DIS errors near a moving occluder pass the flow consistency check over several frames,
# and a wrong far warp would hold the pixel to another object's look.
_INPUT_TOLERANCE = 0.08


def input_consistent(motion: Motion, earlier_rgb: np.ndarray, current_rgb: np.ndarray,
                     tolerance: float = _INPUT_TOLERANCE) -> Motion:
    """``motion`` with its mask also 0 where the earlier input, warped along it, does not match the
    current input (largest channel difference, 3x3 box blur, above ``tolerance``)."""
    earlier = torch.from_numpy(np.ascontiguousarray(earlier_rgb)).permute(2, 0, 1)[None].float() / 255
    warped = warp(earlier, motion.flow_back)[0].permute(1, 2, 0).numpy()
    change = cv2.blur(np.abs(warped - current_rgb.astype(np.float32) / 255).max(axis=2), (3, 3))
    return Motion(motion.flow_back, motion.mask * (change < tolerance).astype(np.float32))


def long_term_frames(frames: Iterable[DecodedFrame], offsets: Sequence[int], flow_preset: str,
                     skip: int = 0) -> Iterator[LongTermFrame]:
    """``frames`` with their motion against the frames ``offsets`` back (those decoded here);
    frames numbered below ``skip`` are only remembered (a resumed run decodes a few before its first).

    A generator meant to run in the decode thread, after :func:`~vidstyle.video.chain.decode_frames`:
    the estimator is made in that thread. A frame with fewer than ``j`` frames before it (in
    this stream) gets no motion for ``j``.
    """
    offsets = tuple(sorted(set(offsets)))
    estimator = FlowEstimator(flow_preset) if offsets else None
    history: deque[np.ndarray] = deque(maxlen=max(offsets, default=1))
    for item in frames:
        motions = {}
        for j in offsets:
            if len(history) >= j:
                motions[j] = input_consistent(motion_between(estimator, history[-j], item.image), history[-j],
                                              item.image)
        if item.index >= skip:
            yield LongTermFrame(item, motions)
        history.append(item.image)


def with_long_term(frames: Iterable[DecodedFrame], settings: VideoSettings,
                   skip: int = 0) -> Iterable[DecodedFrame] | Iterator[LongTermFrame]:
    """The decoder's frames as the run needs them: unchanged without ``--long-term``; with it,
    frames below ``skip`` (decoded from :func:`lead_in` frames earlier) are only remembered."""
    offsets = far_offsets(settings)
    return long_term_frames(frames, offsets, settings.flow_preset, skip) if offsets else frames


def lead_in(settings: VideoSettings, skip: int) -> int:
    """How many frames before ``skip`` a resumed run decodes for its long-term flows."""
    return min(skip, max(far_offsets(settings), default=0))


@dataclass(eq=False)
class LongTermMemory:
    """The last stylized frames of a chain and the rule that ties a new frame to them.

    Pass it to :func:`~vidstyle.video.chain.stylize_frames` as ``memory``: it sees every plan
    (:meth:`revise`) and every result (:meth:`remember`). A cold start (first frame, a cut)
    forgets the past: a new chain has no history.
    """

    offsets: tuple[int, ...]
    outputs: dict[int, torch.Tensor] = field(default_factory=dict)
    on_keep: Callable[[int, torch.Tensor], None] | None = None  # e.g. save it for a resumed run

    def remember(self, item: ChainInput, image: torch.Tensor) -> None:
        """Keep ``image``, the stylization of ``item``, for the frames ``offsets`` ahead."""
        self.keep(item.index, image)

    def keep(self, index: int, image: torch.Tensor) -> None:
        """Keep the stylized frame ``index`` (e.g. a resumed run's last frame)."""
        self.outputs[index] = image
        if self.on_keep is not None:
            self.on_keep(index, image)
        horizon = index - max(self.offsets, default=1)
        for old in [k for k in self.outputs if k <= horizon]:
            del self.outputs[old]

    def revise(self, item: ChainInput, plan: FramePlan) -> FramePlan:
        """``plan`` with the long-term temporal target and start, where earlier frames are known."""
        if plan.cold:
            self.outputs.clear()
            return plan
        motions: Mapping[int, Motion] = getattr(item, "motions", {})
        targets, masks = [], []
        if plan.temporal is not None:
            targets.append(plan.temporal[0])
            masks.append(plan.temporal[1][0, 0].cpu().numpy())
        for j in self.offsets:
            earlier = self.outputs.get(item.index - j)
            if j in motions and earlier is not None:
                targets.append(warp(earlier, motions[j].flow_back))
                masks.append(motions[j].mask)
        if len(targets) < 2:
            return plan
        device = targets[0].device
        weights = [torch.from_numpy(w)[None, None].to(device) for w in closest_first_weights(masks)]
        target, mask = combine_targets(targets, weights)
        init = plan.init
        if isinstance(init, torch.Tensor):
            # Pixels the previous frame saw keep the plan's start (the target is that warp there).
            init = fill_masked(target, init, mask.clamp(max=1.0))
        return dataclasses.replace(plan, init=init, temporal=(target, mask))


def long_term_memory(settings: VideoSettings) -> LongTermMemory | None:
    """The memory of a run with ``--long-term`` offsets beyond 1, else None."""
    offsets = far_offsets(settings)
    return LongTermMemory(offsets) if offsets else None


def kept_name(index: int) -> str:
    """The work-folder array that keeps stylized frame ``index`` for a resumed long-term run."""
    return f"long_term_{index:06d}"


def kept_memory(settings: VideoSettings, folder: WorkFolder, skip: int, device: torch.device) -> LongTermMemory | None:
    """The run's :class:`LongTermMemory` (None without ``--long-term``), keeping every stylized
    frame in ``folder`` (exactly, float32) and holding the kept frames before ``skip`` (a resumed
    run), so that it equals an uninterrupted one. Old frames go with :func:`forget_kept`."""
    memory = long_term_memory(settings)
    if memory is None:
        return None
    for index in range(skip - max(memory.offsets), skip):
        array = folder.load_array(kept_name(index)) if index >= 0 else None
        if array is not None:
            memory.keep(index, torch.from_numpy(array).to(device))
    memory.on_keep = lambda index, image: folder.save_array(kept_name(index), image.detach().cpu().numpy())
    return memory


def forget_kept(settings: VideoSettings, folder: WorkFolder, done: int) -> None:
    """Drop the kept frames a run resumed after ``done`` finished frames no longer needs."""
    first_needed = done - max(far_offsets(settings), default=0)
    for path in folder.path.glob("long_term_*.npy"):
        if int(path.stem.rsplit("_", 1)[1]) < first_needed:
            folder.remove_array(path.stem)
