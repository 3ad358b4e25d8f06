"""One image's optimisation: the pixels are the parameters.

The loss is passed in as a function, so this module knows nothing about VGG or styles.
"""

from __future__ import annotations

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
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if iters < 0:
        raise ValueError("iters must be >= 0")
    check_every = max(1, int(check_every))
    # Contiguous NCHW: L-BFGS flattens the gradient with view().
    x = init.detach().float().contiguous().clone().clamp_(0, 1).requires_grad_(True)
    if optimizer == "lbfgs":
        # One L-BFGS iteration per step(): its curvature history persists across calls, so
        # this is ordinary L-BFGS that we can stop, clamp and report between iterations.
        opt: torch.optim.Optimizer = torch.optim.LBFGS([x], lr=lr, max_iter=1, history_size=50)
    else:
        opt = torch.optim.Adam([x], lr=lr)

    last_terms: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        nonlocal last_terms
        opt.zero_grad(set_to_none=True)
        terms = loss_fn(x)
        total = terms["total"].sum()
        total.backward()
        last_terms = terms
        return total

    losses: list[float] = []
    previous_check: float | None = None
    stopped_early = False
    iteration = 0
    while iteration < iters:
        total = opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
        iteration += 1
        if iteration % check_every == 0 or iteration == iters:
            current = float(total.detach())
            losses.append(current)
            if callback is not None:
                callback(iteration, current)
            if tol > 0 and previous_check is not None:
                decrease = (previous_check - current) / max(abs(previous_check), 1e-30)
                if decrease < tol:
                    stopped_early = iteration < iters
                    break
            previous_check = current
    terms = {name: float(value.detach().sum()) for name, value in last_terms.items()}
    return OptimResult(x.detach(), iteration, losses, terms, stopped_early)
