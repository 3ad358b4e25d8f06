"""One image's optimisation: the pixels are the parameters.

The loss is passed in as a function, so this module knows nothing about VGG or styles.

Host synchronisation (each one stalls the CPU until the GPU has caught up, so the GPU idles
while the next iteration is being queued):

- Adam: none inside the loop. The loss terms are read back only at checks (every
  ``check_every`` iterations and at the last one), one read per check.
- L-BFGS: torch's ``LBFGS.step`` syncs several times per iteration by design (``float(loss)``,
  the gradient-norm and curvature tests ``if ys > 1e-10`` etc.). That costs little on large
  frames (tens of ms per iteration) and is why small frames use Adam, :class:`GraphedAdam` or
  the batched mode (:func:`optimize_each`, :mod:`vidstyle.video.sequences`).

Two loops: :func:`_optimize` (eager; :func:`optimize_pixels` for one problem,
:func:`optimize_each` for independent images) and :class:`GraphedAdam` (one captured CUDA graph
per shape).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .box_lbfgs import BoxLBFGS

OPTIMIZERS = ("lbfgs", "adam")

LossFunction = Callable[[torch.Tensor], dict[str, torch.Tensor]]
ProgressCallback = Callable[[int, float], None]  # (iteration, loss)
BatchCallback = Callable[[int, int, float], None]  # (image index, iteration, loss)
SnapshotCallback = Callable[[int, torch.Tensor], None]  # (iteration, the image so far)


class OptimizationInterrupted(KeyboardInterrupt):
    """Ctrl-C (a ``KeyboardInterrupt``, from the terminal or a callback) stopped an optimisation.

    ``image`` is the image so far (what the optimisation would have returned at that point, in
    [0, 1]); ``iterations`` how many were done. Still a ``KeyboardInterrupt``, so code that does
    not care sees the interrupt it always saw.
    """

    def __init__(self, image: torch.Tensor, iterations: int) -> None:
        super().__init__(f"interrupted after {iterations} iterations")
        self.image, self.iterations = image, iterations


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
    """The read-back schedule and early stopping of one optimisation (one image, or a batch
    optimised as one).

    ``due(i)``: iteration ``i`` (1-based, after its step) is a check. ``check(i, loss)`` records
    the loss read at that check, calls the callback and says whether to stop: the budget is
    spent, or the loss fell by less than ``tol`` (relative) since the previous check.
    """

    def __init__(self, iters: int, tol: float, check_every: int, callback: ProgressCallback | None) -> None:
        self.iters, self.tol, self.every, self.callback = iters, tol, max(1, int(check_every)), callback
        self.losses: list[float] = []
        self.previous: float | None = None
        self.stopped_early = False

    def due(self, iteration: int) -> bool:
        return iteration % self.every == 0 or iteration == self.iters

    def check(self, iteration: int, loss: float) -> bool:
        self.losses.append(loss)
        if self.callback is not None:
            self.callback(iteration, loss)
        if self.tol > 0 and self.previous is not None:
            decrease = (self.previous - loss) / max(abs(self.previous), 1e-30)
            if decrease < self.tol:
                self.stopped_early = iteration < self.iters
                return True
        self.previous = loss
        return iteration >= self.iters


def read_terms(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """Each term summed over the batch, as floats, in one device read."""
    if not terms:
        return {}
    values = torch.stack([value.detach().float().sum() for value in terms.values()]).tolist()
    return dict(zip(terms, values))


def _read_per_image(terms: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    """Every term of every image, in one device read: ``{name: [value per image]}``."""
    names = list(terms)
    table = torch.stack([terms[name].detach().float().reshape(-1) for name in names]).tolist()
    return dict(zip(names, table))


def make_adam(x: torch.Tensor, lr: float, *, capturable: bool = False) -> torch.optim.Adam:
    """Adam for the pixels: torch's fused single-kernel update where the device has one.

    Fused, the step counter lives on the pixels' device, so no step reads anything back
    (the unfused CPU path calls ``.item()`` on it every step). ``capturable`` (CUDA only)
    keeps the whole update on the device for CUDA graph capture. Adam is elementwise, so a
    batch of independent images gets the updates each image would get alone
    (see :func:`optimize_each`).
    """
    try:
        if x.device.type == "cuda":
            return torch.optim.Adam([x], lr=lr, fused=True, capturable=capturable)
        if x.device.type == "cpu":
            return torch.optim.Adam([x], lr=lr, fused=True)
    except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
        pass
    return torch.optim.Adam([x], lr=lr)


def _check_args(optimizer: str, budgets: Sequence[int]) -> None:
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if any(b < 0 for b in budgets):
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
    average: float = 0.0,
    snapshot: SnapshotCallback | None = None,
    snapshot_every: int = 0,
) -> OptimResult:
    """Minimise ``loss_fn(x)["total"].sum()`` over the pixels ``x`` in [0, 1], starting at ``init``.

    L-BFGS is projected onto the box (:mod:`vidstyle.core.box_lbfgs`: every step stays in [0, 1],
    the loss never rises between iterations); Adam's pixels are clamped after each step. The
    loss is read back from the device only every ``check_every`` iterations (each read waits
    for the device; L-BFGS reads it every iteration anyway), and then early stopping applies:
    if the loss fell by less than ``tol`` (relative) since the previous check, stop.
    ``callback(iteration, loss)`` is called at every check. The result's ``terms`` and last
    ``losses`` entry are the loss of the image returned.

    ``average`` in (0, 1): return the bias-corrected exponential moving average of the iterates
    with this decay instead of the last iterate (crowsonkb's iterate averaging; 0: off).
    ``snapshot(iteration, image)`` is called every ``snapshot_every`` iterations with a copy of
    the image so far. Ctrl-C (``KeyboardInterrupt``) raises :class:`OptimizationInterrupted`
    carrying the image so far. The images of a batch are optimised as one problem here (one
    budget, one stop; with L-BFGS one step history); see :func:`optimize_each` for
    independent images.
    """
    _check_args(optimizer, [iters])
    [result] = _optimize(loss_fn, init, [iters], [list(range(init.shape[0]))], optimizer=optimizer, lr=lr, tol=tol,
                         check_every=check_every, callbacks=[callback], average=average, snapshot=snapshot,
                         snapshot_every=snapshot_every)
    return result


def optimize_each(
    loss_fn: LossFunction,
    init: torch.Tensor,
    budgets: Sequence[int],
    *,
    lr: float = 0.02,
    tol: float = 0.0,
    check_every: int = 10,
    callback: BatchCallback | None = None,
) -> list[OptimResult]:
    """Optimise the B images of ``init`` as B independent problems in one batch, with Adam.

    Image ``i`` runs at most ``budgets[i]`` iterations and stops early on its own loss; a
    stopped image is frozen while the others go on. Adam is elementwise and every loss term is
    per image, so result ``i`` is what :func:`optimize_pixels` gives image ``i`` alone (bit for
    bit where the convolution computes each image of a batch the way it computes it alone; fast
    kernels that pick their algorithm by batch size round differently). L-BFGS is not
    elementwise (one line search and step history would couple the images), so it is not offered.
    ``callback(image index, iteration, loss)`` is called at every check of every image. One
    device read per check iteration, for all images at once.
    """
    _check_args("adam", budgets)
    if len(budgets) != init.shape[0]:
        raise ValueError(f"{len(budgets)} budgets for a batch of {init.shape[0]}")

    def per_image(i: int) -> ProgressCallback | None:
        return None if callback is None else (lambda iteration, loss: callback(i, iteration, loss))

    return _optimize(loss_fn, init, list(budgets), [[i] for i in range(init.shape[0])], optimizer="adam", lr=lr,
                     tol=tol, check_every=check_every, callbacks=[per_image(i) for i in range(len(budgets))])


def _optimize(
    loss_fn: LossFunction,
    init: torch.Tensor,
    budgets: list[int],
    groups: list[list[int]],
    *,
    optimizer: str,
    lr: float,
    tol: float,
    check_every: int,
    callbacks: list[ProgressCallback | None],
    average: float = 0.0,
    snapshot: SnapshotCallback | None = None,
    snapshot_every: int = 0,
) -> list[OptimResult]:
    """The one optimisation loop: ``groups`` of images (indices into the batch), each with its
    budget, checks and early stop; a group that has stopped is frozen while the others go on.

    Every result's ``terms`` (and last ``losses`` entry) are those of the image it returns."""
    # Contiguous NCHW: L-BFGS flattens the gradient with view().
    x = init.detach().float().contiguous().clone().clamp_(0, 1).requires_grad_(True)
    terms: dict[str, torch.Tensor] = {}
    if optimizer == "lbfgs":
        # Projected L-BFGS (box_lbfgs): every step stays in [0, 1] and its curvature pair is the
        # step actually taken; its terms are those of the current pixels.
        def evaluate(pixels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            values = loss_fn(pixels)
            total = values["total"].sum()
            total.backward()
            return total, values

        lbfgs: BoxLBFGS | None = BoxLBFGS(x, evaluate, lr=lr, history_size=50)
        adam = None
    else:
        lbfgs, adam = None, make_adam(x, lr)
    ema = _IterateAverage(x, average) if average > 0 else None
    checks = [_Checks(b, tol, check_every, cb) for b, cb in zip(budgets, callbacks)]
    done = [b == 0 for b in budgets]
    results: list[OptimResult | None] = [OptimResult(x.detach()[g].clone(), 0) if d else None
                                         for g, d in zip(groups, done)]
    frozen: torch.Tensor | None = None  # the pixels of stopped groups, restored after each step
    active: torch.Tensor | None = None
    # Adam's loss is read before its step, so its terms belong to the previous pixels.
    terms_current = optimizer == "lbfgs" and ema is None

    def current() -> torch.Tensor:
        return (ema.value() if ema is not None else x).detach()

    iteration = 0
    try:
        while not all(done):
            if lbfgs is not None:
                moved = lbfgs.step() and not lbfgs.converged
                terms = lbfgs.terms
            else:
                adam.zero_grad(set_to_none=True)
                terms = loss_fn(x)
                terms["total"].sum().backward()
                adam.step()
                moved = True
                with torch.no_grad():
                    x.clamp_(0, 1)
                    if frozen is not None:
                        x.copy_(torch.where(active, x, frozen))
            iteration += 1
            if ema is not None:
                ema.update(x)
            if snapshot is not None and snapshot_every > 0 and iteration % snapshot_every == 0:
                snapshot(iteration, current().clone())
            # No step possible (the projected gradient vanished or no decrease was found): a check now.
            due = [g for g in range(len(groups)) if not done[g] and (checks[g].due(iteration) or not moved)]
            if not due:
                continue
            values = _read_per_image(terms)  # the one host sync of this check
            stopped = []
            for g in due:
                group_terms = {name: sum(column[i] for i in groups[g]) for name, column in values.items()}
                if checks[g].check(iteration, group_terms["total"]) or not moved:
                    checks[g].stopped_early = iteration < checks[g].iters
                    done[g] = True
                    stopped.append(g)
                    results[g] = OptimResult(current()[groups[g]].clone(), iteration, checks[g].losses,
                                             group_terms, checks[g].stopped_early)
            if stopped and not all(done):
                with torch.no_grad():
                    if frozen is None:
                        frozen = x.detach().clone()
                        active = torch.ones(x.shape[0], 1, 1, 1, dtype=torch.bool, device=x.device)
                    for g in stopped:
                        frozen[groups[g]] = x.detach()[groups[g]]
                        active[groups[g]] = False
    except KeyboardInterrupt as interrupt:
        raise OptimizationInterrupted(current().clone(), iteration) from interrupt
    if not terms_current or iteration == 0:
        _final_terms(loss_fn, torch.cat([r.image for r in results]) if len(groups) > 1 else results[0].image,
                     results, groups)
    return results  # type: ignore[return-value]


def _final_terms(loss_fn: LossFunction, images: torch.Tensor, results: list[OptimResult | None],
                 groups: list[list[int]]) -> None:
    """One more loss evaluation, of the returned images, so each result reports its own image's
    loss (Adam's checks read the loss before the step; an average is a different image)."""
    order = [i for g in groups for i in g]
    # With the gradient on, as in the loop: a compiled loss step would recompile for no_grad.
    values = _read_per_image(loss_fn(images.detach().clone().requires_grad_(True)))
    for g, result in enumerate(results):
        if result is None or not values:
            continue
        rows = [order.index(i) for i in groups[g]]
        result.terms = {name: sum(column[r] for r in rows) for name, column in values.items()}
        if result.losses:
            result.losses[-1] = result.terms["total"]


class _IterateAverage:
    """The exponential moving average of the iterates, bias-corrected (as crowsonkb's
    style-transfer-pytorch averages its Adam iterates): ``decay`` is the weight kept per step."""

    def __init__(self, x: torch.Tensor, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"average decay must be in (0, 1), got {decay}")
        self.decay, self.kept = decay, 1.0
        self.biased = torch.zeros_like(x.detach())

    def update(self, x: torch.Tensor) -> None:
        self.kept *= self.decay
        self.biased.mul_(self.decay).add_(x.detach(), alpha=1 - self.decay)

    def value(self) -> torch.Tensor:
        return self.biased / (1 - self.kept)


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
        self.terms = terms

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
        _check_args("adam", [iters])
        if tuple(init.shape) != tuple(self.x.shape):
            raise ValueError(f"init shape {tuple(init.shape)} != graph shape {tuple(self.x.shape)}")
        self._reset(init)
        checks = _Checks(iters, tol, check_every, callback)
        terms: dict[str, float] = {}
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
            if checks.due(iteration):
                terms = read_terms(self.terms)  # the one host sync of this check
                if checks.check(iteration, terms["total"]):
                    break
        # A copy: the static pixels are overwritten by the next run.
        result = OptimResult(self.x.detach().clone(), iteration, checks.losses, terms, checks.stopped_early)
        # The captured step reads the loss before its update: evaluate the returned pixels once
        # (eagerly, outside the graph) so the result reports their loss.
        _final_terms(self.loss_fn, result.image, [result], [list(range(result.image.shape[0]))])
        return result
