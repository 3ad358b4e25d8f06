"""``vidstyle batch-video``: every video of a folder, one Ray task per clip (or one after another here).

Each clip runs the single-machine pipeline (:func:`vidstyle.video.pipeline.run_video`); finished
outputs are skipped, so a rerun continues (an output made with other settings is reported, not
redone without ``--overwrite``). A failed clip's partial output (a truncated input) is not
finished: a rerun runs it again, which reports the recorded failure again. Ray is imported only when asked for
(:mod:`vidstyle.scale.cluster`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core.factory import Weights, load_network, network_layers, resolve_weights
from ..core.features import VGGFeatures
from ..errors import Interrupted, VidstyleError
from ..media.image_files import load_image
from ..media.segments import container_comment
from ..media.video_files import is_video_file
from ..settings import DistributedSettings, VideoSettings
from ..video.pipeline import STAMP_PREFIX, run_video, settings_stamp
from ..video.workdir import recorded_partial
from .cluster import TaskFailure, connect, gather, one_line, require_ray, task_options, task_slots, worker_settings


class BatchVideoError(VidstyleError):
    """``batch-video`` cannot start: missing folders, clashing output names."""


@dataclass(frozen=True)
class ClipEvent:
    """``plan`` (``count`` clips to do), ``skipped`` (output exists), ``stale`` (an output made with
    other settings exists: kept, not redone), ``bad`` (not a video), ``done`` or ``failed``
    (``message`` says why)."""

    kind: str
    name: str = ""
    message: str = ""
    count: int = 0
    frames: int = 0
    seconds: float = 0.0


def plan_batch_video(input_dir: str | os.PathLike, output_dir: str | os.PathLike, *,
                     overwrite: bool = False,
                     stamp: Callable[[Path, Path], str] | None = None) -> tuple[list[tuple[Path, Path]], list[ClipEvent]]:
    """``(input, output)`` pairs to do, and events for files skipped (finished or not videos); an
    output a failed run left (see :func:`~vidstyle.video.workdir.recorded_partial`) is to do again.

    ``stamp(input, output)``: the :func:`~vidstyle.video.pipeline.settings_stamp` this run would
    write; an existing output whose own stamp differs was made with other settings and is
    reported ``stale`` (kept: only ``overwrite`` replaces it). An output without a stamp (made by
    another tool or an older version) counts as finished."""
    source, target = Path(input_dir), Path(output_dir)
    if source.is_file():
        raise BatchVideoError(f"{source} is a file; batch-video takes a folder of clips (for one clip, use 'vidstyle video')")
    if not source.is_dir():
        raise BatchVideoError(f"input folder not found: {source}")
    if not any(path.is_file() for path in source.iterdir()):
        raise BatchVideoError(f"the input folder {source} has no files")
    if target.exists() and not target.is_dir():
        raise BatchVideoError(f"{target} exists and is not a folder")
    if target.exists() and os.path.samefile(source, target):
        raise BatchVideoError("the output folder is the input folder; choose another -o")
    todo: list[tuple[Path, Path]] = []
    events: list[ClipEvent] = []
    outputs: dict[str, str] = {}
    for path in sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith(".")):
        if not is_video_file(path):
            events.append(ClipEvent("bad", path.name, "not a video"))
            continue
        output = target / f"{path.stem}.mp4"
        if output.name in outputs:
            raise BatchVideoError(f"{outputs[output.name]} and {path.name} would both be written to {output}")
        outputs[output.name] = path.name
        if output.exists() and not overwrite and not recorded_partial(output):
            recorded = container_comment(output) or ""
            if stamp is not None and recorded.startswith(STAMP_PREFIX) and recorded != stamp(path, output):
                events.append(ClipEvent("stale", path.name, "made with other settings; --overwrite redoes it"))
            else:
                events.append(ClipEvent("skipped", path.name))
        else:
            todo.append((path, output))
    return todo, events


@dataclass(frozen=True)
class ClipDone:
    """A finished clip: frames written and seconds taken."""

    frames: int
    seconds: float


def run_clip(settings: VideoSettings, *, weights: Weights | None = None, styles: Sequence[torch.Tensor] | None = None,
             extractor: VGGFeatures | None = None) -> ClipDone:
    """One clip through the single-machine pipeline (resumable through its own work folder)."""
    report = run_video(settings, styles=styles, extractor=extractor, weights=weights, progress=False)
    return ClipDone(report.frames, report.seconds)


def _clip_task(settings: VideoSettings, weights: Weights | None, styles: list[torch.Tensor],
               threads: int) -> ClipDone | TaskFailure:
    torch.set_num_threads(max(1, threads))
    try:
        return run_clip(settings, weights=weights, styles=styles)
    except VidstyleError as error:
        return TaskFailure(type(error).__name__, str(error))


def run_batch_video(
    template: VideoSettings,
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    dist: DistributedSettings | None,
    *,
    styles: Sequence[torch.Tensor] | None = None,
    progress: bool = True,
    on_event: Callable[[ClipEvent], None] | None = None,
) -> list[ClipEvent]:
    """Stylize every video of ``input_dir`` into ``output_dir/STEM.mp4`` with ``template``'s settings.

    With ``dist``, each clip is a Ray task (a GPU each where the cluster has them); without, the
    clips run one after another here. Existing outputs are skipped (unless ``template.overwrite``),
    files that are not videos are reported as ``bad``, and a clip that fails is reported as
    ``failed`` while the others go on. Returns every event (also passed to ``on_event``).
    """
    ray = require_ray() if dist is not None else None
    todo, events = plan_batch_video(
        input_dir, output_dir, overwrite=template.overwrite,
        stamp=lambda source, output: settings_stamp(dataclasses.replace(template, input=str(source), output=str(output))))
    emit = on_event or (lambda event: None)
    for event in events:
        emit(event)
    plan = ClipEvent("plan", count=len(todo))
    events.append(plan)
    emit(plan)
    if not todo:
        return events
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    if styles is None:
        styles = [load_image(path, "style") for path in template.style.paths]
    clips = {source.name: worker_settings(dataclasses.replace(template, input=str(source), output=str(output)))
             for source, output in todo}

    def record(name: str, outcome: Any) -> None:
        if isinstance(outcome, ClipDone):
            event = ClipEvent("done", name, frames=outcome.frames, seconds=outcome.seconds)
        elif isinstance(outcome, TaskFailure):
            event = ClipEvent("failed", name, outcome.message)
        else:
            event = ClipEvent("failed", name, one_line(outcome))
        events.append(event)
        emit(event)

    if dist is None:
        # One network for every clip (each clip's Stylizer is built on it).
        extractor = load_network(network_layers(template.loss), template.model, seed=template.optim.seed,
                                 progress=progress)
        for name, settings in clips.items():
            try:
                outcome: Any = run_clip(settings, styles=styles, extractor=extractor)
            except VidstyleError as error:
                outcome = TaskFailure(type(error).__name__, str(error))
            record(name, outcome)
        return events

    state, label = resolve_weights(template, progress=progress)
    started_ray = connect(ray, dist)
    try:
        _, gpu = task_slots(ray, dist, template.model.device)
        weights = None if template.model.weights == "random" else ray.put((state, label))
        task = ray.remote(_clip_task).options(**task_options(dist, gpu))
        refs = {task.remote(settings, weights, list(styles), dist.cpus_per_task): name
                for name, settings in clips.items()}
        try:
            gather(ray, refs, record)
        except KeyboardInterrupt:
            done = sum(e.kind == "done" for e in events)
            raise Interrupted(f"interrupted after {done} of {len(todo)} clips; finished outputs are kept: "
                              "run the same command again to continue") from None
        return events
    finally:
        if started_ray:
            ray.shutdown()
