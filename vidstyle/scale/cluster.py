"""Ray, lazily: connecting, task slots and options, and gathering task results one by one.

Shared by :mod:`vidstyle.scale.distributed` (one video in frame ranges) and :mod:`vidstyle.scale.clip_folder`
(a folder of videos). Ray is imported only by :func:`require_ray`; everything else is handed the
module.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import VidstyleError
from ..media.image_files import INIT_KEYWORDS
from ..settings import DistributedSettings, VideoSettings

RAY_EXTRA_HINT = "pip install 'vidstyle[ray]'"


class RayMissing(VidstyleError):
    """``--ray`` was asked for, but Ray is not installed."""


# -- Ray, lazily ---------------------------------------------------------------------------------


def require_ray() -> Any:
    """The ``ray`` module, or :class:`RayMissing` with the install command."""
    try:
        import ray
    except ImportError:
        raise RayMissing(f"--ray needs Ray, which is not installed here: {RAY_EXTRA_HINT}") from None
    return ray


def worker_settings(settings: VideoSettings) -> VideoSettings:
    """``settings`` with every file path absolute (input, output, style images, ``--init``): tasks
    run in a working directory of their own, on other machines too."""

    def absolute(path: str) -> str:
        return os.path.abspath(path) if path else path

    init = settings.optim.init if settings.optim.init in INIT_KEYWORDS else absolute(settings.optim.init)
    return dataclasses.replace(
        settings, input=absolute(settings.input), output=absolute(settings.output),
        optim=dataclasses.replace(settings.optim, init=init),
        style=dataclasses.replace(settings.style, paths=tuple(absolute(p) for p in settings.style.paths),
                                  masks=tuple(absolute(p) for p in settings.style.masks)),
    )


def connect(ray: Any, dist: DistributedSettings) -> bool:
    """Connect to the cluster at ``dist.address`` (or start a local Ray); True if this call did.

    An already initialised Ray (a test, a notebook, a Ray job) is used as it is.
    """
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "address": dist.address,
        # Failures come back through the task results, as one line each: keep Ray's own logs
        # (retry notices with tracebacks, worker output) off the user's terminal.
        "logging_level": "ERROR",
        "log_to_driver": False,
        "runtime_env": {"env_vars": {"OMP_NUM_THREADS": str(dist.cpus_per_task)}},
    }
    if dist.address is None and not os.environ.get("RAY_ADDRESS"):
        kwargs["include_dashboard"] = False  # only valid when this call may start a new instance
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at {dist.address}" if dist.address else "Ray"
        text = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
        raise VidstyleError(f"cannot connect to {where}: {(text.strip().splitlines() or [repr(error)])[0]}") from None
    return True


def task_slots(ray: Any, dist: DistributedSettings, device: str = "auto") -> tuple[int, bool]:
    """How many tasks the cluster runs at once, and whether they get a GPU each (not when
    ``device`` says the CPU)."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus and device not in ("cpu", "mps"):
        return gpus, True
    return max(1, int(resources.get("CPU", 1)) // dist.cpus_per_task), False


def task_options(dist: DistributedSettings, gpu: bool) -> dict[str, Any]:
    """Ray options of one task: its CPUs, a GPU where the cluster has them, retries."""
    options: dict[str, Any] = {"num_cpus": dist.cpus_per_task, "max_retries": dist.max_retries,
                               "retry_exceptions": True}
    if gpu:
        options["num_gpus"] = 1
    return options


# -- the Ray task --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskFailure:
    """An expected failure (bad input) returned instead of raised, so Ray does not retry it."""

    kind: str
    message: str


def one_line(error: BaseException) -> str:
    """A task's exception (or the error inside Ray's wrapper) as ``Type: first line``."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        error = cause
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def gather(ray: Any, refs: dict, on_result: Callable[[Any, Any], None]) -> None:
    """Wait for every task; ``on_result(key, outcome)`` per task, where ``outcome`` is its value
    or the exception it ended with. Stops (and cancels the rest) if ``on_result`` raises."""
    pending = dict(refs)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            key = pending.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except ray.exceptions.RayError as error:
                outcome = error
            on_result(key, outcome)
    except BaseException:
        cancel(ray, pending)
        raise


def cancel(ray: Any, refs: Sequence) -> None:
    """Cancel tasks and wait (up to 30 s each) until they have stopped."""
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:  # noqa: BLE001 - already finished, or the cluster is gone
            pass
    for ref in refs:
        try:
            ray.get(ref, timeout=30)  # wait for it to stop; its error is expected
        except Exception:  # noqa: BLE001
            pass
