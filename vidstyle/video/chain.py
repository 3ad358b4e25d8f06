"""The frame chain: the one rule that turns a sequence of frames into stylized frames.

The offline run (:mod:`vidstyle.video.pipeline`), Ray segments (:mod:`vidstyle.scale.frame_ranges`),
the webcam (:mod:`vidstyle.live.loop`) and the batched mode (:mod:`vidstyle.video.sequences`) all
stylize through it. For each frame (:func:`plan_frame`):

1. what the network sees: the frame, or its luminance as gray with ``--preserve-colors luminance``;
2. cold or warm: the first frame and every frame in ``independent`` mode start cold, from the
   settings' init with the full budget; the others start from the previous stylized frame as
   it is (``prev``) or warped along the flow with the regions the mask rejects filled from the
   content (``flow``);
3. the temporal target: that warped previous output and its mask (used when the temporal
   weight is set), and the frame's style masks (``--style-mask``, :mod:`vidstyle.media.style_masks`);
4. the budget: ``cold_iters``, ``warm_iters``, or the keyframe schedule;

and at encode time the look (:class:`FrameLook`): the content's colours back, then the cartoon
post-process with a palette passed as a value. The previous stylized frame travels from frame
to frame as a value, never as hidden state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ..core.cartoon import cartoonize, fit_palette
from ..core.colors import color_inputs, network_content, preserve_method, recolor_frame
from ..core.optimize import ProgressCallback
from ..core.stylizer import Stylizer, StylizeResult, Temporal
from ..core.tensors import to_tensor
from ..media.image_files import load_init
from ..media.seeking import SeekChecks
from ..media.style_masks import StyleMasks
from ..media.video_files import Frame, read_frames
from ..settings import INIT_MODES, CartoonSettings, VideoSettings
from .flow import FlowEstimator, Motion, fill_masked, motion_between, warp


class ChainInput(Protocol):
    """A frame as the chain takes it: RGB uint8 at the working size, its number in the run
    (for the keyframe schedule) and its motion against the previous chain frame, if known."""

    @property
    def index(self) -> int: ...

    @property
    def image(self) -> np.ndarray: ...

    @property
    def motion(self) -> Motion | None: ...


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    """A decoded video frame at the processing size, with its motion if flow was asked for."""

    frame: Frame
    motion: Motion | None = None

    @property
    def index(self) -> int:
        return self.frame.index

    @property
    def image(self) -> np.ndarray:
        return self.frame.image


def decode_frames(
    path: str,
    size: tuple[int, int],
    *,
    start: float | None = None,
    duration: float | None = None,
    max_frames: int | None = None,
    skip: int = 0,
    flow_preset: str | None = None,
    index_offset: int = 0,
    seeks: SeekChecks | None = None,
) -> Iterator[DecodedFrame]:
    """Frames at ``size``, from index ``skip`` on, with their :class:`Motion` if ``flow_preset``.

    Skipped frames are decoded (not stylized) so the first yielded frame still gets its flow
    from the frame before it. ``index_offset`` is added to every frame number (a range decoded
    from a seek point, numbered as in the whole run). Meant to run in the decode thread: the
    flow estimator is made here, in that thread (OpenCV's DIS object is not thread-safe).
    ``seeks``: the run's seek verdicts (:func:`~vidstyle.media.video_files.read_frames`).
    """
    estimator = FlowEstimator(flow_preset) if flow_preset else None
    previous: Frame | None = None
    for frame in read_frames(path, size=size, start=start, duration=duration, max_frames=max_frames, seeks=seeks):
        if frame.index >= skip:
            motion = None
            if estimator is not None and previous is not None:
                motion = motion_between(estimator, previous.image, frame.image)
            if index_offset:
                frame = dataclasses.replace(frame, index=frame.index + index_offset)
            yield DecodedFrame(frame, motion)
        previous = frame


@dataclass(frozen=True, eq=False)
class ChainRule:
    """The chain's settings as values: how frames start and how many iterations they get.

    ``cold_init``: ``"content"``, ``"random"`` or an image tensor (a file already loaded).
    ``keyframe_every`` K > 0: warm frames whose number is a multiple of K get ``cold_iters``
    (keyframes), the others ``refine_iters``. ``colors``: the ``--preserve-colors`` method, or None.
    """

    init_mode: str
    cold_iters: int
    warm_iters: int
    tol: float
    cold_init: str | torch.Tensor = "content"
    keyframe_every: int = 0  # off
    refine_iters: int = 0
    colors: str | None = None  # off
    masks: StyleMasks | None = None  # --style-mask: each frame's masks by its number; None: off

    def __post_init__(self) -> None:
        if self.init_mode not in INIT_MODES:
            raise ValueError(f"unknown init mode {self.init_mode!r}; choose one of {', '.join(INIT_MODES)}")

    def warm_budget(self, index: int) -> int:
        """Iterations of warm-started frame ``index``."""
        if self.keyframe_every > 0:
            return self.cold_iters if index % self.keyframe_every == 0 else self.refine_iters
        return self.warm_iters

    def with_iters(self, iters: int) -> "ChainRule":
        """The same rule with ``iters`` for cold and warm frames alike (the webcam's + and - keys)."""
        return dataclasses.replace(self, cold_iters=iters, warm_iters=iters)


def video_flow_preset(settings: VideoSettings) -> str | None:
    """The DIS preset the decode thread computes motion with: only ``--init-mode flow`` uses it."""
    return settings.flow_preset if settings.init_mode == "flow" else None


def video_rule(settings: VideoSettings) -> ChainRule:
    """The chain rule of a video run (``--init PATH`` is read here)."""
    return ChainRule(
        init_mode=settings.init_mode, cold_iters=settings.optim.iters, warm_iters=settings.warm_iters,
        tol=settings.tol, cold_init=load_init(settings.optim.init), keyframe_every=settings.keyframe_every,
        refine_iters=settings.refine_iters, colors=preserve_method(settings.style),
        masks=StyleMasks(settings.style.masks, settings.start) if settings.style.masks else None,
    )


@dataclass(frozen=True, eq=False)
class FramePlan:
    """What the rule decided for one frame: the network's content, the start, the budget and the
    temporal target (None for a cold start)."""

    content: torch.Tensor
    init: str | torch.Tensor
    iters: int
    temporal: Temporal | None
    cold: bool
    masks: torch.Tensor | None = None  # the style masks of this frame (1, R, H, W), or None


def warm_start(previous: torch.Tensor, content: torch.Tensor, motion: Motion | None,
               init_mode: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(init, temporal target, mask)`` for a warm-started frame.

    ``flow``: the previous output warped along the flow, rejected regions filled from the
    content; otherwise (``prev``, or no motion for this frame) the previous output as it is,
    with the temporal term applying everywhere.
    """
    if init_mode == "flow" and motion is not None:
        warped = warp(previous, motion.flow_back)
        mask = torch.from_numpy(motion.mask)[None, None].to(previous.device)
        return fill_masked(warped, content, mask), warped, mask
    return previous, previous, torch.ones_like(previous[:, :1])


def plan_frame(item: ChainInput, previous: torch.Tensor | None, rule: ChainRule, device: torch.device) -> FramePlan:
    """The rule for one frame: cold or warm start, warp and fill, temporal target, budget."""
    content = network_content(rule.colors, to_tensor(item.image, device))
    masks = rule.masks.at(item.index) if rule.masks is not None else None
    if previous is None or rule.init_mode == "independent":
        init = rule.cold_init if isinstance(rule.cold_init, str) else network_content(rule.colors, rule.cold_init)
        return FramePlan(content, init, rule.cold_iters, None, True, masks)
    init, warped, mask = warm_start(previous, content, item.motion, rule.init_mode)
    return FramePlan(content, init, rule.warm_budget(item.index), (warped, mask), False, masks)


class ChainMemory(Protocol):
    """What a chain may remember beyond the previous frame (e.g.
    :class:`vidstyle.video.long_term.LongTermMemory`): it revises each plan and sees each result."""

    def revise(self, item: ChainInput, plan: FramePlan) -> FramePlan: ...

    def remember(self, item: ChainInput, image: torch.Tensor) -> None: ...


def stylize_frame(stylizer: Stylizer, item: ChainInput, previous: torch.Tensor | None,
                  rule: ChainRule, memory: ChainMemory | None = None,
                  callback: ProgressCallback | None = None) -> tuple[StylizeResult, bool]:
    """Stylize one frame of the chain: ``(result, cold)``; ``result.image`` is the next ``previous``.
    ``memory`` (long-term consistency) revises the plan; ``callback(iteration, loss)`` is called at
    every check of the optimisation (the webcam reads its keys there)."""
    plan = plan_frame(item, previous, rule, stylizer.device)
    if memory is not None:
        plan = memory.revise(item, plan)
    result = stylizer.stylize(plan.content, plan.init, plan.iters, tol=rule.tol, temporal=plan.temporal,
                              callback=callback, masks=plan.masks)
    return result, plan.cold


def stylize_frames(
    items: Iterable[ChainInput],
    stylizer: Stylizer,
    rule: ChainRule,
    previous: torch.Tensor | None = None,
    memory: ChainMemory | None = None,
) -> Iterator[tuple[ChainInput, StylizeResult, bool]]:
    """Stylize frames in order; yields ``(item, result, cold)``. ``previous`` (a stylized
    frame, e.g. a resumed run's last) warm-starts the first frame; ``memory`` (long-term
    consistency) revises each plan and keeps each result."""
    for item in items:
        result, cold = stylize_frame(stylizer, item, previous, rule, memory)
        previous = result.image
        if memory is not None:
            memory.remember(item, previous)
        yield item, result, cold


@dataclass(frozen=True, eq=False)
class FrameLook:
    """What turns ``(frame, stylized)`` into the picture that is shown or encoded: the content's
    colours back (``--preserve-colors luminance``), then the cartoon look. Never fed back into
    the chain.

    One ``palette`` for a whole clip (refitted per frame, colours would flicker): fit it once
    with :meth:`fitted` on the first stylized frame and keep the returned look (a resumed run or
    a Ray segment gets the clip's palette as a value).
    """

    colors: str | None
    cartoon: CartoonSettings
    palette: np.ndarray | None = None

    @property
    def needs_palette(self) -> bool:
        return self.cartoon.enabled and self.palette is None

    def fitted(self, frame: np.ndarray, stylized: np.ndarray) -> "FrameLook":
        """This look with the cartoon palette fitted on ``stylized`` (with its colours back)."""
        if not self.cartoon.enabled:
            return self
        palette = fit_palette(recolor_frame(self.colors, frame, stylized), self.cartoon.colors)
        return dataclasses.replace(self, palette=palette)

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The picture for HxWx3 uint8 ``frame`` and its stylization ``stylized``."""
        image = recolor_frame(self.colors, frame, stylized)
        if self.cartoon.enabled:
            if self.palette is None:
                raise ValueError("the cartoon look needs a palette: use FrameLook.fitted first")
            image = cartoonize(frame, image, self.cartoon, self.palette)
        return image


def video_look(settings: VideoSettings, palette: np.ndarray | None = None) -> FrameLook:
    """The look of a video run (``palette``: the clip's, if already fitted)."""
    return FrameLook(preserve_method(settings.style), settings.cartoon, palette)


def video_styles(settings: VideoSettings, styles: Sequence[torch.Tensor], size: tuple[int, int],
                 seeks: SeekChecks | None = None) -> list[torch.Tensor]:
    """The style images as the network sees them in this run: with ``--preserve-colors``, matched
    to the clip's first frame at the processing ``size`` = (w, h) (luminance statistics, or colour
    mean and covariance), once per run."""
    method = preserve_method(settings.style)
    if method is None:
        return list(styles)
    first = next(read_frames(settings.input, size=size, start=settings.start, max_frames=1, seeks=seeks), None)
    if first is None:
        return list(styles)
    return color_inputs(method, to_tensor(first.image), styles)[1]
