"""One image's optimisation: the pixels are the parameters.

The loss is passed in as a function, so this module knows nothing about VGG or styles.

Host synchronisation (each one stalls the CPU until the GPU has caught up, so the GPU idles
while the next iteration is being queued):

- Adam: none inside the loop. The loss is read back only at checks (every ``check_every``
  iterations and at the last one), and the final loss terms in one read at the end.
- L-BFGS: torch's ``LBFGS.step`` syncs several times per iteration by design (``float(loss)``,
  the gradient-norm and curvature tests ``if ys > 1e-10`` etc.). That costs little on large
  frames (tens of ms per iteration) and is why small frames use Adam, :class:`GraphedAdam` or
  the batched mode (:mod:`vidstyle.batched`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

OPTIMIZERS = ("lbfgs", "adam")

LossFunction = Callable[[torch.Tensor], dict[str, torch.Tensor]]
ProgressCallback = Callable[[int, float], None]


@dataclass
class OptimResult:
    """What an optimisation produced and how it went.

    ``losses`` holds the total loss (summed over the batch) at every check, i.e. every
    ``check_every`` iterations and at the last one; ``iterations`` is how many were run.
    """

    image: torch.Tensor
    iterations: int
    losses: list[float] = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False


class _Checks:
    """The read-back schedule and early stopping shared by every loop here.

    ``due(i)``: iteration ``i`` (1-based, after its step) is a check. ``check(i, total)`` reads
    the loss (one host sync), records it, calls the callback and says whether to stop: the loss
    fell by less than ``tol`` (relative) since the previous check.
    """

    def __init__(self, iters: int, tol: float, check_every: int, callback: ProgressCallback | None) -> None:
        self.iters, self.tol, self.every, self.callback = iters, tol, max(1, int(check_every)), callback
        self.losses: list[float] = []
        self.previous: float | None = None
        self.stopped_early = False

    def due(self, iteration: int) -> bool:
        return iteration % self.every == 0 or iteration == self.iters

    def check(self, iteration: int, total: torch.Tensor | float) -> bool:
        current = float(total.detach()) if isinstance(total, torch.Tensor) else float(total)
        self.losses.append(current)
        if self.callback is not None:
            self.callback(iteration, current)
        if self.tol > 0 and self.previous is not None:
            decrease = (self.previous - current) / max(abs(self.previous), 1e-30)
            if decrease < self.tol:
                self.stopped_early = iteration < self.iters
                return True
        self.previous = current
        return False


def read_terms(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """Each term summed over the batch, as floats, in one device read."""
    if not terms:
        return {}
    values = torch.stack([value.detach().float().sum() for value in terms.values()]).tolist()
    return dict(zip(terms, values))


def make_adam(x: torch.Tensor, lr: float, *, capturable: bool = False) -> torch.optim.Adam:
    """Adam for the pixels: torch's fused single-kernel update where the device has one.

    Fused, the step counter lives on the pixels' device, so no step reads anything back
    (the unfused CPU path calls ``.item()`` on it every step). ``capturable`` (CUDA only)
    keeps the whole update on the device for CUDA graph capture. Adam is elementwise, so a
    batch of independent images gets the updates each image would get alone
    (see :mod:`vidstyle.batched`).
    """
    try:
        if x.device.type == "cuda":
            return torch.optim.Adam([x], lr=lr, fused=True, capturable=capturable)
        if x.device.type == "cpu":
            return torch.optim.Adam([x], lr=lr, fused=True)
    except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
        pass
    return torch.optim.Adam([x], lr=lr)


def _check_args(optimizer: str, iters: int) -> None:
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if iters < 0:
        raise ValueError("iters must be >= 0")


def optimize_pixels(
    loss_fn: LossFunction,
    init: torch.Tensor,
    iters: int,
    *,
    optimizer: str = "lbfgs",
    lr: float = 1.0,
    tol: float = 0.0,
    check_every: int = 10,
    callback: ProgressCallback | None = None,
) -> OptimResult:
    """Minimise ``loss_fn(x)["total"].sum()`` over the pixels ``x``, starting at ``init``.

    Pixels are clamped to [0, 1] after every step. The loss is read back from the device only
    every ``check_every`` iterations (each read waits for the device), and then early stopping
    applies: if the loss fell by less than ``tol`` (relative) since the previous check, stop.
    ``callback(iteration, loss)`` is called at every check.
    """
    _check_args(optimizer, iters)
    # Contiguous NCHW: L-BFGS flattens the gradient with view().
    x = init.detach().float().contiguous().clone().clamp_(0, 1).requires_grad_(True)
    if optimizer == "lbfgs":
        # One L-BFGS iteration per step(): its curvature history persists across calls, so
        # this is ordinary L-BFGS that we can stop, clamp and report between iterations.
        opt: torch.optim.Optimizer = torch.optim.LBFGS([x], lr=lr, max_iter=1, history_size=50)
    else:
        opt = make_adam(x, lr)

    last_terms: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        nonlocal last_terms
        opt.zero_grad(set_to_none=True)
        terms = loss_fn(x)
        total = terms["total"].sum()
        total.backward()
        last_terms = terms
        return total

    checks = _Checks(iters, tol, check_every, callback)
    iteration = 0
    while iteration < iters:
        total = opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
        iteration += 1
        if checks.due(iteration) and checks.check(iteration, total):
            break
    return OptimResult(x.detach(), iteration, checks.losses, read_terms(last_terms), checks.stopped_early)


_graph_warned = False


def _warn_graph_once(message: str) -> None:
    global _graph_warned
    if not _graph_warned:
        _graph_warned = True
        warnings.warn(message, RuntimeWarning, stacklevel=3)


class GraphedAdam:
    """Adam on fixed-shape pixels with the whole iteration captured as one CUDA graph.

    One iteration (loss, backward, Adam step, clamp) of a small frame is hundreds of short
    kernel launches; replaying a captured graph issues them in one call. Use one object per
    input shape and call :meth:`run` per frame: the pixels, the Adam state and the tensors the
    loss reads are static buffers, so ``loss_fn`` must read its targets from tensors that the
    caller updates *in place* between runs (see ``Stylizer``'s static targets).

    The first ``warmup`` iterations run eagerly (on a side stream, as CUDA graph capture
    needs: cuDNN picks its algorithms, the optimiser state is allocated); they count towards
    the frame's budget. Then the iteration is captured once and replayed. ``capture=False``
    (and any device other than CUDA) replays by calling the step eagerly, which is how the
    CPU tests check the bookkeeping. If capture fails, one warning is given and the object
    stays eager. Results equal :func:`optimize_pixels` with Adam (same update, same checks).
    """

    def __init__(self, loss_fn: LossFunction, shape: tuple[int, ...], device: torch.device, lr: float,
                 *, warmup: int = 3, capture: bool = True) -> None:
        self.loss_fn = loss_fn
        self.device = torch.device(device)
        self.x = torch.zeros(shape, device=self.device).requires_grad_(True)
        self.capture_enabled = capture and self.device.type == "cuda"
        self.opt = make_adam(self.x, lr, capturable=self.capture_enabled)
        self.warmup = max(1, warmup)
        self.eager_steps = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.total: torch.Tensor | None = None
        self.terms: dict[str, torch.Tensor] = {}
        self.captured = False

    def _iteration(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        terms = self.loss_fn(self.x)
        total = terms["total"].sum()
        total.backward()
        self.opt.step()
        with torch.no_grad():
            self.x.clamp_(0, 1)
        self.terms, self.total = terms, total

    def _eager_iteration(self) -> None:
        if self.device.type != "cuda":
            self._iteration()
            return
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            self._iteration()
        torch.cuda.current_stream(self.device).wait_stream(side)

    def _capture(self) -> None:
        torch.cuda.synchronize(self.device)
        self.opt.zero_grad(set_to_none=True)  # the backward in the graph allocates the grad
        graph = torch.cuda.CUDAGraph()
        try:
            # thread_local: the decode/encode threads may touch CUDA (pinned copies) meanwhile.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self._iteration()
        except Exception as error:  # noqa: BLE001 - any capture problem: stay eager
            self.capture_enabled = False
            _warn_graph_once(f"CUDA graph capture failed ({type(error).__name__}: {error}); "
                             "continuing without CUDA graphs")
            torch.cuda.synchronize(self.device)
            return
        self.graph, self.captured = graph, True

    def _reset(self, init: torch.Tensor) -> None:
        with torch.no_grad():
            self.x.copy_(init.detach().to(self.x.dtype).clamp(0, 1))
        for state in self.opt.state.values():  # a fresh Adam, in place (the graph holds these)
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    value.zero_()

    def run(self, init: torch.Tensor, iters: int, *, tol: float = 0.0, check_every: int = 10,
            callback: ProgressCallback | None = None) -> OptimResult:
        """Optimise from ``init`` (the same shape) for up to ``iters`` iterations."""
        _check_args("adam", iters)
        if tuple(init.shape) != tuple(self.x.shape):
            raise ValueError(f"init shape {tuple(init.shape)} != graph shape {tuple(self.x.shape)}")
        self._reset(init)
        checks = _Checks(iters, tol, check_every, callback)
        iteration = 0
        while iteration < iters:
            if self.graph is not None:
                self.graph.replay()
            else:
                if self.capture_enabled and self.eager_steps >= self.warmup:
                    self._capture()
                if self.graph is not None:
                    self.graph.replay()
                else:
                    self._eager_iteration()
                    self.eager_steps += 1
            iteration += 1
            if checks.due(iteration) and checks.check(iteration, self.total):
                break
        # A copy: the static pixels are overwritten by the next run.
        terms = read_terms(self.terms) if iteration else {}
        return OptimResult(self.x.detach().clone(), iteration, checks.losses, terms, checks.stopped_early)
