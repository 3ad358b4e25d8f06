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
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
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
from .catchup import (
    catch_up_budget,
    catch_up_ceiling,
    fill_rejected,
    needs_more,
    rejected_fraction,
    revealed_region,
    style_level,
)
from .flow import FlowEstimator, Motion, motion_between, warp
from .shots import ShotDetector, mark_cuts


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
    """A decoded video frame at the processing size, with its motion if flow was asked for and
    ``cut`` True if shot detection found a hard cut just before it (it starts a new shot)."""

    frame: Frame
    motion: Motion | None = None
    cut: bool = False
    before: np.ndarray | None = None  # the frame decoded before it (a resumed run's first frame needs it)

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
    scenes: ShotDetector | None = None,
    static_motion: bool = False,
    cuts: Collection[int] | None = None,
    photometric_tol: float = 0.0,
    seeks: SeekChecks | None = None,
) -> Iterator[DecodedFrame]:
    """Frames at ``size``, from index ``skip`` on, with their :class:`Motion` if ``flow_preset``.

    Skipped frames are decoded (not stylized) so the first yielded frame still gets its flow
    from the frame before it. ``index_offset`` is added to every frame number (a range decoded
    from a seek point, numbered as in the whole run). ``scenes`` (a fresh detector) marks the
    frames that start a new shot; it sees the skipped frames too, so a resumed run finds the
    cuts an uninterrupted one finds; or ``cuts``, the frame numbers (with the offset) already
    known to start a shot (a Ray segment gets the driver's). ``static_motion`` (``--init-mode
    prev``): each frame's motion is zero flow with the mask of :func:`still_motion`.
    ``photometric_tol`` > 0: the flow mask also rejects pixels the warp does not carry (see
    :func:`photometric_check`). ``seeks``: the run's seek verdicts
    (:func:`~vidstyle.media.video_files.read_frames`). Meant to run in the decode thread: the
    flow estimator is made here, in that thread (OpenCV's DIS object is not thread-safe).
    """
    estimator = FlowEstimator(flow_preset) if flow_preset else None
    previous: Frame | None = None
    frames: Iterable[tuple[Frame, bool]] = (
        (frame, False)
        for frame in read_frames(path, size=size, start=start, duration=duration, max_frames=max_frames, seeks=seeks))
    if scenes is not None:
        frames = mark_cuts((frame for frame, _ in frames), scenes, lambda frame: frame.image)
    for frame, cut in frames:
        if cuts is not None:
            cut = frame.index + index_offset in cuts
        if frame.index >= skip:
            motion = None
            if previous is not None and estimator is not None:
                motion = motion_between(estimator, previous.image, frame.image)
                if photometric_tol > 0:
                    motion = photometric_check(motion, previous.image, frame.image, photometric_tol)
            elif previous is not None and static_motion:
                motion = still_motion(previous.image, frame.image)
            if index_offset:
                frame = dataclasses.replace(frame, index=frame.index + index_offset)
            yield DecodedFrame(frame, motion, cut, previous.image if previous is not None else None)
        previous = frame


def video_decoder(settings: VideoSettings, size: tuple[int, int], *, cuts: Collection[int] | None = None,
                  **kwargs) -> Iterator[DecodedFrame]:
    """:func:`decode_frames` of ``settings.input`` with the run's flow, motion and shot settings
    (``kwargs``: where to decode, as :func:`decode_frames` takes them). ``cuts``: the run's cuts
    if already known (else they are detected here, unless ``--no-scene-detect``)."""
    scenes = video_scenes(settings) if cuts is None else None
    return decode_frames(settings.input, size, flow_preset=video_flow_preset(settings),
                         static_motion=settings.init_mode == "prev", scenes=scenes, cuts=cuts,
                         photometric_tol=settings.photometric_tol, **kwargs)


def detect_cuts(settings: VideoSettings, size: tuple[int, int]) -> list[int]:
    """The frames of the run (numbered from its first) that start a new shot, by decoding it
    once at ``size`` (the Ray driver plans its segments with them); [] with ``--no-scene-detect``."""
    if not settings.scene_detect:
        return []
    frames = read_frames(settings.input, size=size, start=settings.start, duration=settings.duration,
                         max_frames=settings.max_frames)
    return [frame.index for frame, cut in mark_cuts(frames, video_scenes(settings), lambda frame: frame.image) if cut]


def video_scenes(settings: VideoSettings) -> ShotDetector | None:
    """A fresh shot detector for a video run, or None with ``--no-scene-detect``."""
    if not settings.scene_detect:
        return None
    return ShotDetector(settings.scene_threshold, settings.scene_min_frames, settings.scene_min_content)


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
    fill: str = "content"  # what rejected regions start from (vidstyle/video/catchup.py FILLS)
    catch_up_gain: float = 0.0  # extra iterations for the rejected share of a frame (0: a fixed warm budget)
    catch_up_margin: float | None = None  # go on while the style loss is above (1 + margin) x the cold frame's
    catch_up_limit: float = 1.5  # a warm frame spends at most this x warm_iters, catch-up included
    temporal_relative: bool = False  # the temporal weight is relative to the content term (see temporal_scale)

    def __post_init__(self) -> None:
        if self.init_mode not in INIT_MODES:
            raise ValueError(f"unknown init mode {self.init_mode!r}; choose one of {', '.join(INIT_MODES)}")

    def warm_budget(self, index: int, rejected: float = 0.0) -> int:
        """Iterations of warm-started frame ``index`` of which a share ``rejected`` is new."""
        if self.keyframe_every > 0:
            return self.cold_iters if index % self.keyframe_every == 0 else self.refine_iters
        if self.catch_up_gain > 0:
            return catch_up_budget(self.warm_iters, self.cold_iters, rejected, self.catch_up_gain)
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
        masks=StyleMasks(settings.style.masks, settings.start) if settings.style.masks else None, fill=settings.fill,
        catch_up_gain=settings.catch_up_gain,
        catch_up_margin=settings.catch_up_margin if settings.catch_up_margin > 0 else None,
        catch_up_limit=settings.catch_up_limit,
        temporal_relative=settings.temporal_relative,
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
    rejected: float = 0.0  # the share of the frame the mask rejected (warm frames)
    revealed: torch.Tensor | None = None  # the region that entered the frame (1, 1, H, W): see prepare_frame


def close_masks(rule: ChainRule) -> None:
    """Close the mask videos a rule from :func:`video_rule` reads (``--style-mask VIDEO``), if any."""
    if rule.masks is not None:
        rule.masks.close()


# --init-mode prev: a pixel keeps the previous output where its input changed by less than this
# (RGB in [0, 1], largest channel, after a 3x3 box blur that keeps film grain below it).
_STILL_TOLERANCE = 0.06


def still_motion(previous_rgb: np.ndarray, current_rgb: np.ndarray, tolerance: float = _STILL_TOLERANCE) -> Motion:
    """``--init-mode prev``'s motion: zero flow, reliable where the input did not change.

    Without a mask, ``prev`` kept every pixel of the previous output, so the picture froze
    (moving hands never moved) and a cut left the previous shot on screen; now the pixels
    whose input changed start from the content again, as rejected pixels do in ``flow``.
    """
    change = np.abs(current_rgb.astype(np.float32) - previous_rgb.astype(np.float32)).max(axis=2) / 255.0
    change = cv2.blur(change, (3, 3))
    height, width = change.shape
    return Motion(np.zeros((height, width, 2), np.float32), (change < tolerance).astype(np.float32))


def photometric_check(motion: Motion, previous_rgb: np.ndarray, current_rgb: np.ndarray, tolerance: float) -> Motion:
    """``motion`` with its mask also 0 where the previous *input* frame, warped along the flow,
    differs from this one by ``tolerance`` or more (RGB in [0, 1], largest channel, 3x3 blur).

    The forward-backward check trusts a flow that is wrong but consistent both ways: DIS smooths
    a small fast object (the ball of ``samples/clip.mp4``) into the background's motion, so the
    stylized ball was carried along with the background. Measured on that clip (128x96), the
    flow mask alone rejected 0-2% of the ball's pixels at frames 8-13, with this check at 0.1
    99%; the share of rejected pixels grew from 3.6% to 5.6% there, from 5.0% to 5.1% on
    ``video_his_girl_friday.mp4`` and not at all on ``video_car_traffic.mp4``.
    """
    previous = torch.from_numpy(np.ascontiguousarray(previous_rgb)).permute(2, 0, 1)[None].float() / 255.0
    warped = warp(previous, motion.flow_back)[0].permute(1, 2, 0).numpy()
    error = cv2.blur(np.abs(warped - current_rgb.astype(np.float32) / 255.0).max(axis=2), (3, 3))
    return Motion(motion.flow_back, (motion.mask * (error < tolerance)).astype(motion.mask.dtype))


def warm_start(previous: torch.Tensor, content: torch.Tensor, motion: Motion | None,
               init_mode: str, fill: str = "content",
               previous_content: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(init, temporal target, mask)`` for a warm-started frame.

    ``flow``: the previous output warped along the flow, rejected regions filled from the
    content; ``prev`` with its :func:`still_motion`: the previous output where the input did not
    change, the content where it did; otherwise (no motion for this frame) the previous output
    as it is, with the temporal term applying everywhere. ``fill`` and ``previous_content``
    (the previous frame as the network saw it): see :func:`~vidstyle.video.catchup.fill_rejected`.
    """
    if init_mode == "prev" and motion is not None:  # zero flow: no resampling blur
        mask = torch.from_numpy(motion.mask)[None, None].to(previous.device)
        return fill_rejected(previous, content, mask, previous_content, fill), previous, mask
    if init_mode == "flow" and motion is not None:
        warped = warp(previous, motion.flow_back)
        mask = torch.from_numpy(motion.mask)[None, None].to(previous.device)
        warped_content = warp(previous_content, motion.flow_back) if previous_content is not None else None
        entered = motion.entered if fill == "residual" else None
        return fill_rejected(warped, content, mask, warped_content, fill, entered), warped, mask
    return previous, previous, torch.ones_like(previous[:, :1])


def plan_frame(item: ChainInput, previous: torch.Tensor | None, rule: ChainRule, device: torch.device,
               previous_content: torch.Tensor | None = None) -> FramePlan:
    """The rule for one frame: cold or warm start, warp and fill, temporal target, budget.

    Cold: the first frame, every frame in ``independent`` mode, and the first frame of a new
    shot (``item.cut``, set by shot detection: decoded video frames and camera frames; inputs
    without that attribute never cut)."""
    content = network_content(rule.colors, to_tensor(item.image, device))
    masks = rule.masks.at(item.index) if rule.masks is not None else None
    if previous is None or rule.init_mode == "independent" or getattr(item, "cut", False):
        init = rule.cold_init if isinstance(rule.cold_init, str) else network_content(rule.colors, rule.cold_init)
        return FramePlan(content, init, rule.cold_iters, None, True, masks)
    init, warped, mask = warm_start(previous, content, item.motion, rule.init_mode, rule.fill, previous_content)
    rejected = rejected_fraction(mask)
    return FramePlan(content, init, rule.warm_budget(item.index, rejected), (warped, mask), False, masks,
                     rejected=rejected)


class ChainMemory(Protocol):
    """What a chain may remember beyond the previous frame (e.g.
    :class:`vidstyle.video.long_term.LongTermMemory`): it revises each plan and sees each result."""

    def revise(self, item: ChainInput, plan: FramePlan) -> FramePlan: ...

    def remember(self, item: ChainInput, image: torch.Tensor) -> None: ...


def prepare_frame(stylizer: Stylizer, item: ChainInput, previous: torch.Tensor | None, rule: ChainRule,
                  memory: ChainMemory | None = None, previous_content: torch.Tensor | None = None) -> FramePlan:
    """The plan of one frame as it is optimised, the one preparation of :func:`stylize_frame`
    and the batched mode: :func:`plan_frame`, revised by ``memory`` (long-term consistency),
    with its revealed region and, with ``rule.temporal_relative``, its temporal mask times
    :func:`temporal_scale`."""
    plan = plan_frame(item, previous, rule, stylizer.device, previous_content)
    if memory is not None:
        plan = memory.revise(item, plan)
    # Content that entered the frame (and no earlier frame stylized, after long-term memory's
    # revision) gets a style term of its own.
    motion = getattr(item, "motion", None)
    revealed = None
    if plan.temporal is not None and motion is not None:
        revealed = revealed_region(plan.temporal[1], motion.flow_back, entered=motion.entered)
    # (a duck-typed stylizer without a loss module, e.g. a test's fake, has no temporal term to scale)
    if rule.temporal_relative and plan.temporal is not None and getattr(getattr(stylizer, "loss", None),
                                                                        "temporal_weight", 0.0):
        warped, mask = plan.temporal
        plan = dataclasses.replace(plan, temporal=(warped, mask * temporal_scale(stylizer, plan.content)))
    return dataclasses.replace(plan, revealed=revealed)


def stylize_frame(stylizer: Stylizer, item: ChainInput, previous: torch.Tensor | None,
                  rule: ChainRule, memory: ChainMemory | None = None,
                  callback: ProgressCallback | None = None, *, reference: float | None = None,
                  previous_content: torch.Tensor | None = None) -> tuple[StylizeResult, bool]:
    """Stylize one frame of the chain: ``(result, cold)``; ``result.image`` is the next ``previous``.
    ``memory`` (long-term consistency) revises the plan; ``callback(iteration, loss)`` is called at
    every check of the optimisation (the webcam reads its keys there).

    ``reference``: the style level of the shot's cold frame (:func:`frame_style_level`); with
    ``rule.catch_up_margin`` a warm frame above ``(1 + margin)`` x it gets more iterations (see
    :func:`finish_frame`). ``previous_content``: the previous frame as the network saw it (for
    ``rule.fill == "residual"``).
    """
    plan = prepare_frame(stylizer, item, previous, rule, memory, previous_content)
    result = stylizer.stylize(plan.content, plan.init, plan.iters, tol=rule.tol, temporal=plan.temporal,
                              callback=callback, masks=plan.masks, revealed=plan.revealed)
    return finish_frame(stylizer, plan, result, rule, reference), plan.cold


def finish_frame(stylizer: Stylizer, plan: FramePlan, result: StylizeResult, rule: ChainRule,
                 reference: float | None) -> StylizeResult:
    """A frame's result after its first budget, with its catch-up (:func:`catch_up`) where the
    rule has a margin and the frame is warm."""
    if not plan.cold and rule.catch_up_margin is not None:
        return catch_up(stylizer, plan, result, rule, reference)
    return result


@dataclass(frozen=True, eq=False)
class ChainState:
    """What one chain carries from frame to frame, as a value: the previous stylized frame, the
    previous frame as the network saw it (``rule.fill == "residual"``) and ``reference``, the
    style level of the shot's cold frame that warm frames catch up to."""

    previous: torch.Tensor | None = None
    previous_content: torch.Tensor | None = None
    reference: float | None = None

    def ready(self, item: ChainInput, rule: ChainRule, device: torch.device) -> "ChainState":
        """This state for ``item``: a resumed chain's first frame (a previous output but no previous
        content yet) takes its previous content from the frame decoded before it, if known."""
        if self.previous_content is not None or self.previous is None or rule.fill != "residual":
            return self
        before = getattr(item, "before", None)
        if before is None:  # a long-term frame wraps the decoded one
            before = getattr(getattr(item, "decoded", None), "before", None)
        if before is None:
            return self
        return dataclasses.replace(self, previous_content=chain_content(rule, before, device))

    def after(self, item: ChainInput, result: StylizeResult, cold: bool, stylizer: Stylizer,
              rule: ChainRule) -> "ChainState":
        """The state after ``item`` was stylized to ``result``: a cold frame sets the reference."""
        reference = self.reference
        if cold and rule.catch_up_margin is not None:
            reference = frame_style_level(stylizer, result)
        previous_content = self.previous_content
        if rule.fill == "residual":
            previous_content = chain_content(rule, item.image, stylizer.device)
        return ChainState(result.image, previous_content, reference)


def temporal_scale(stylizer: Stylizer, content: torch.Tensor) -> float:
    """The mean square of ``content``'s features on the content layer: the scale of the content
    term ``||F(x) - F(content)||^2 / (C H W)``. Multiplying the temporal term by it makes the
    temporal weight relative to the content term: a weight w means that a mean squared pixel
    change of 1 costs w times as much as a content error as large as the features themselves,
    whatever the network's weights (random or ImageNet features differ in scale by orders of
    magnitude), ``--alpha`` or the resolution (both terms are means)."""
    with torch.no_grad():
        features = stylizer.features(content)[stylizer.loss.content_layer].float()
    return float(features.pow(2).mean())


def frame_style_level(stylizer: Stylizer, result: StylizeResult) -> float:
    """A result's weighted style loss (its last check's terms)."""
    loss = stylizer.loss
    return style_level(result.terms, loss.alpha, loss.style_weights)


def catch_up(stylizer: Stylizer, plan: FramePlan, result: StylizeResult, rule: ChainRule,
             reference: float | None) -> StylizeResult:
    """More iterations, ``rule.warm_iters`` at a time, while the frame's style level is above
    ``(1 + rule.catch_up_margin)`` x ``reference``, up to :func:`catch_up_ceiling` in all."""
    spent, chunk = result.iterations, max(1, rule.warm_iters)
    ceiling = catch_up_ceiling(rule.warm_iters, rule.cold_iters, rule.catch_up_limit)
    while spent < ceiling and needs_more(frame_style_level(stylizer, result), reference,
                                         rule.catch_up_margin or 0.0):
        more = stylizer.stylize(plan.content, result.image, min(chunk, ceiling - spent), tol=0.0,
                                temporal=plan.temporal, masks=plan.masks, revealed=plan.revealed)
        spent += more.iterations
        result = dataclasses.replace(more, iterations=spent, losses=result.losses + more.losses)
    return result


def chain_content(rule: ChainRule, image: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 ``image`` as the network sees it under ``rule`` (its luminance with
    ``--preserve-colors luminance``): the ``previous_content`` of the frame after it."""
    return network_content(rule.colors, to_tensor(image, device))


def stylize_frames(
    items: Iterable[ChainInput],
    stylizer: Stylizer,
    rule: ChainRule,
    previous: torch.Tensor | None = None,
    memory: ChainMemory | None = None,
    reference: float | None = None,
) -> Iterator[tuple[ChainInput, StylizeResult, bool]]:
    """Stylize frames in order; yields ``(item, result, cold)``. ``previous`` (a stylized
    frame, e.g. a resumed run's last) warm-starts the first frame; ``memory`` (long-term
    consistency) revises each plan and keeps each result; ``reference`` is the style level warm
    frames catch up to (set by every cold frame; see :func:`stylize_frame`)."""
    state = ChainState(previous, None, reference)
    for item in items:
        state = state.ready(item, rule, stylizer.device)
        result, cold = stylize_frame(stylizer, item, state.previous, rule, memory, reference=state.reference,
                                     previous_content=state.previous_content)
        if memory is not None:
            memory.remember(item, result.image)
        state = state.after(item, result, cold, stylizer, rule)
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
