"""Offline multi-pass (Ruder et al. 2016, sec. 3.4): ``--passes N``.

A single forward chain leaves its artefacts where each frame had least help: the first frames
of a shot and regions that appear later have no history, and nothing from the future ever
reaches the past. Multi-pass runs the chain forward once (pass 1, as a single pass would,
``--long-term`` included), then N-1 more passes over the whole clip, alternately backward and
forward. In a later pass each frame i, with n its neighbour processed just before it in this
pass (i+1 going backward, i-1 going forward), starts from

    x'_i = delta c ⊙ warp(x_n) + (1 - delta c) ⊙ x_i^(previous pass)

(:func:`blended_start`; ``c`` the consistency mask of the flow from i to n, ``delta`` =
``--pass-blend``) and is optimised for the warm budget with the temporal loss against
``warp(x_n)`` and ``c``: so each pass carries the stylization both ways along the clip.

Resumable like a single pass: every frame's result of every pass is kept in the work folder
(``pass{p}_{index}.npy``, exact float32) as soon as it is done; a rerun with the same settings
loads what is there and goes on from the first missing frame. A pass's files are dropped once
the next pass is complete. The frames themselves (RGB uint8 at the working size) stay in
memory for the later passes: width x height x 3 bytes per frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..core.stylizer import Stylizer, StylizeResult
from ..errors import VidstyleError
from ..media.video_files import Frame
from ..settings import VideoSettings
from .chain import ChainInput, ChainMemory, ChainRule, DecodedFrame, plan_frame, stylize_frame
from .flow import FlowEstimator, Motion, motion_between
from .threads import BackgroundIterator
from .workdir import WorkFolder


class PassesError(VidstyleError):
    """``--passes`` asked for with settings it cannot work with."""


def check_passes(settings: VideoSettings) -> None:
    """Refuse a multi-pass run that could not tie frames together."""
    if settings.passes > 1 and not settings.loss.temporal_weight:
        raise PassesError("--passes needs a --temporal-weight: the later passes tie each frame to its neighbour "
                          "with the temporal loss")


def pass_order(count: int, number: int) -> range:
    """Frame indices in the order pass ``number`` (1-based) visits them: odd passes forward,
    even passes backward."""
    return range(count) if number % 2 else range(count - 1, -1, -1)


def blended_start(last_pass: torch.Tensor, neighbour_warped: torch.Tensor, mask: torch.Tensor,
                  delta: float) -> torch.Tensor:
    """Ruder's multi-pass start ``delta c * warp(x_n) + (1 - delta c) * x_last``: where the
    neighbour's warp is reliable (``c`` = 1) a ``delta`` share of it, elsewhere the last pass."""
    weight = delta * mask
    return weight * neighbour_warped + (1.0 - weight) * last_pass


@dataclass(frozen=True)
class PassStore:
    """The per-frame results of each pass, kept in the run's work folder."""

    folder: WorkFolder

    @staticmethod
    def name(number: int, index: int) -> str:
        return f"pass{number}_{index:06d}"

    def load(self, number: int, index: int, device: torch.device) -> torch.Tensor | None:
        array = self.folder.load_array(self.name(number, index))
        return None if array is None else torch.from_numpy(array).to(device)

    def save(self, number: int, index: int, image: torch.Tensor) -> None:
        self.folder.save_array(self.name(number, index), image.detach().cpu().numpy().astype(np.float32))

    def complete(self, number: int, count: int) -> bool:
        return all(self.folder.has_array(self.name(number, i)) for i in range(count))

    def drop(self, number: int, count: int) -> None:
        for i in range(count):
            self.folder.remove_array(self.name(number, i))

    def frame_count(self) -> int | None:
        """Frames in the clip, once pass 1 has seen them all."""
        array = self.folder.load_array("pass_frames")
        return None if array is None else int(array[0])

    def set_frame_count(self, count: int) -> None:
        self.folder.save_array("pass_frames", np.array([count]))


def neighbour_motions(frames: Sequence[Frame], order: Sequence[int], flow_preset: str) -> Iterator[Motion | None]:
    """For each frame of ``order``, its :class:`Motion` against the frame visited before it
    (None for the first). A generator meant for a background thread: the estimator is made there."""
    estimator = FlowEstimator(flow_preset)
    for k, index in enumerate(order):
        yield None if k == 0 else motion_between(estimator, frames[order[k - 1]].image, frames[index].image)


# on_step(pass number, frame position, iterations run for it now): a multi-pass run's progress.
PassProgress = Callable[[int, int, int], None]


def first_pass(items: Iterable[ChainInput], stylizer: Stylizer, rule: ChainRule, store: PassStore,
               memory: ChainMemory | None, redo: bool,
               on_step: PassProgress | None = None) -> tuple[list[Frame], set[int], dict[int, int], dict[int, bool]]:
    """The forward chain over ``items`` (all frames of the clip), each result kept in ``store``;
    frames already there are loaded, not redone (``redo`` False: later passes are done, only the
    frames are needed). Returns the frames, the positions that start a new shot (if the decoder
    marks cuts), and the iterations and cold flags of the frames done here, by position in the
    clip (the key of every stored result). ``on_step(1, position, iterations)`` after each frame."""
    frames: list[Frame] = []
    cuts: set[int] = set()
    iterations: dict[int, int] = {}
    colds: dict[int, bool] = {}
    previous: torch.Tensor | None = None
    for position, item in enumerate(items):
        frames.append(item.frame)
        if getattr(item, "cut", False):
            cuts.add(position)
        if not redo:
            continue
        done = store.load(1, position, stylizer.device)
        if done is None:
            result, cold = stylize_frame(stylizer, item, previous, rule, memory)
            store.save(1, position, result.image)
            done, iterations[position], colds[position] = result.image, result.iterations, cold
        if on_step is not None:
            on_step(1, position, iterations.get(position, 0))
        previous = done
        if memory is not None:
            memory.remember(item, done)
    return frames, cuts, iterations, colds


def later_pass(number: int, frames: Sequence[Frame], stylizer: Stylizer, rule: ChainRule, store: PassStore,
               delta: float, flow_preset: str, iterations: dict[int, int], cuts: set[int] = frozenset(),
               on_step: PassProgress | None = None) -> None:
    """Pass ``number`` > 1 over ``frames`` (keyed by position): each frame from :func:`blended_start` with the temporal
    loss against its neighbour's warp, its result kept in ``store`` (frames already there are
    loaded); adds the iterations it runs to ``iterations``. A frame whose neighbour lies across a
    cut (``cuts``: positions that start a shot) starts from its last pass, without the temporal term.
    ``on_step(number, position, iterations)`` after each frame (0 iterations: loaded)."""
    order = pass_order(len(frames), number)
    flow_rule = dataclasses.replace(rule, init_mode="flow")  # later passes always follow the flow
    current: torch.Tensor | None = None
    with BackgroundIterator(neighbour_motions(frames, order, flow_preset), name="pass-flow") as motions:
        for k, (index, motion) in enumerate(zip(order, motions)):
            done, spent = store.load(number, index, stylizer.device), 0
            if done is None:
                last = store.load(number - 1, index, stylizer.device)
                if last is None:
                    raise PassesError(f"pass {number - 1}'s result of frame {index} is missing from the work folder")
                item = DecodedFrame(dataclasses.replace(frames[index], index=index), motion)
                across_cut = k > 0 and max(index, order[k - 1]) in cuts
                plan = plan_frame(item, None if across_cut else current, flow_rule, stylizer.device)
                init, temporal = last, None
                if not plan.cold and plan.temporal is not None:
                    temporal = plan.temporal
                    init = blended_start(last, temporal[0], temporal[1], delta)
                result = stylizer.stylize(plan.content, init, rule.warm_budget(index), tol=rule.tol, temporal=temporal,
                                          masks=plan.masks)
                store.save(number, index, result.image)
                done, spent = result.image, result.iterations
                iterations[index] = iterations.get(index, 0) + spent
            if on_step is not None:
                on_step(number, index, spent)
            current = done


def multi_pass(items: Iterable[ChainInput], stylizer: Stylizer, rule: ChainRule, settings: VideoSettings,
               folder: WorkFolder, memory: ChainMemory | None = None, skip: int = 0,
               on_step: PassProgress | None = None) -> Iterator[tuple[ChainInput, StylizeResult, bool]]:
    """``settings.passes`` passes over ``items`` (every frame of the clip, in order); yields
    ``(item, result, cold)`` of the last pass for the frames from ``skip`` on, in order, as
    :func:`~vidstyle.video.chain.stylize_frames` does. ``result.iterations`` sums the passes
    run here; ``result.losses`` is empty (the frame was optimised several times). All passes run
    before the first frame is yielded: ``on_step(pass, position, iterations)`` follows them."""
    store = PassStore(folder)
    passes = settings.passes
    count = store.frame_count()
    finished = max((p for p in range(1, passes + 1) if count is not None and store.complete(p, count)), default=0)
    frames, cuts, iterations, colds = first_pass(items, stylizer, rule, store, memory, redo=finished == 0,
                                                 on_step=on_step)
    store.set_frame_count(len(frames))
    finished = max(finished, 1)
    for number in range(finished + 1, passes + 1):
        later_pass(number, frames, stylizer, rule, store, settings.pass_blend, settings.flow_preset, iterations, cuts,
                   on_step)
        store.drop(number - 1, len(frames))  # only the last complete pass is needed from now on
    for position in range(skip, len(frames)):
        image = store.load(passes, position, stylizer.device)
        if image is None:
            raise PassesError(f"the last pass's result of frame {position} is missing from the work folder")
        result = StylizeResult(image, iterations.get(position, 0))
        # The cut flag goes on: the run report lists the shots (a multi-pass run listed none).
        yield DecodedFrame(frames[position], cut=position in cuts), result, colds.get(position, position == 0)
