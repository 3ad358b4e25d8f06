"""L-BFGS on the pixel box [0, 1]: projected steps, curvature pairs from the steps actually taken.

torch's ``LBFGS`` knows nothing of bounds; clamping after its step changes the step behind its
back, so the curvature pair it stores describes a step that never happened (on a 64x64 style
problem the clamp cut a median 41% of the step, the loss rose in 12 of 50 iterations, and a small
box-constrained least-squares problem froze for good). This is the projected quasi-Newton scheme
of L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995), in its simple form:

- the **active set**: pixels at a bound whose gradient pushes them outwards are held fixed;
- the direction is the two-loop L-BFGS product on the *free* pixels (the projected gradient),
  falling back to steepest descent when that is not a descent direction;
- the step is **projected** onto the box, ``x+ = clamp(x + t d, 0, 1)``, with safeguarded
  quadratic backtracking until the Armijo condition holds along that projected path (so the
  loss never rises);
- the curvature pair is ``s = x+ - x`` (the projected step) and ``y = g+ - g``, stored only when
  ``s.y > 0`` (so the inverse-Hessian estimate stays positive definite).

One :meth:`BoxLBFGS.step` is one iteration: usually one loss evaluation (step length 1
accepted), more while backtracking. The loss and terms it reports are those of the point it
moved to, so the caller always knows the loss of the current pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Evaluate = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]

_ARMIJO = 1e-4  # sufficient decrease constant c1
_MAX_BACKTRACKS = 10
_CURVATURE_EPS = 1e-10
_RELATIVE_FLOOR = 2 * torch.finfo(torch.float32).eps


class BoxLBFGS:
    """Projected L-BFGS for ``x`` in [0, 1] (see the module docstring).

    ``x`` is the leaf tensor of pixels (updated in place); ``evaluate(x)`` must compute the loss
    at ``x``, call ``backward`` (filling ``x.grad``) and return ``(total, terms)``. ``lr`` scales
    the first trial step of every iteration (1 is the natural L-BFGS step);
    ``history_size`` curvature pairs are kept.
    """

    def __init__(self, x: torch.Tensor, evaluate: Evaluate, *, lr: float = 1.0, history_size: int = 50) -> None:
        self.x, self.evaluate, self.lr, self.history_size = x, evaluate, float(lr), int(history_size)
        self.s: list[torch.Tensor] = []
        self.y: list[torch.Tensor] = []
        self.rho: list[torch.Tensor] = []
        self.loss: torch.Tensor | None = None  # at the current x
        self.terms: dict[str, torch.Tensor] = {}
        self.grad: torch.Tensor | None = None  # flat, at the current x
        self.evaluations = 0
        self.converged = False  # nothing left to gain: no decrease found, or one below rounding

    def _eval(self) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        self.x.grad = None
        total, terms = self.evaluate(self.x)
        self.evaluations += 1
        return total.detach(), terms, self.x.grad.detach().reshape(-1).clone()

    def _direction(self, pg: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
        """``-H pg`` by the two-loop recursion, restricted to the free pixels."""
        q = pg.clone()
        alphas = []
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(self.rho)):
            a = rho * s.dot(q)
            q.sub_(y * a)
            alphas.append(a)
        if self.s:
            q.mul_(self.s[-1].dot(self.y[-1]) / self.y[-1].dot(self.y[-1]))
        for s, y, rho, a in zip(self.s, self.y, self.rho, reversed(alphas)):
            b = rho * y.dot(q)
            q.add_(s * (a - b))
        return -q * free

    def step(self) -> bool:
        """One iteration; False when no step was possible. :attr:`converged` says there is
        nothing left to gain (no decrease found, or the last one was below fp32 rounding)."""
        if self.loss is None:
            self.loss, self.terms, self.grad = self._eval()
        x = self.x.detach().reshape(-1)
        g = self.grad
        # Active set: at a bound with the gradient pointing out of the box.
        free = ~(((x <= 0) & (g > 0)) | ((x >= 1) & (g < 0)))
        pg = g * free
        if not bool(pg.abs().max() > 0):
            self.converged = True
            return False
        d = self._direction(pg, free)
        if not bool(g.dot(d) < 0):  # not a descent direction: forget the history, go downhill
            self.s, self.y, self.rho = [], [], []
            d = -pg
        # Without history the direction has the gradient's scale, which says nothing about the
        # step length: start at 1 / |g|_1 as torch's L-BFGS does.
        t0 = self.lr * (min(1.0, 1.0 / float(pg.abs().sum())) if not self.s else 1.0)
        if self._search(d, t0):
            return True
        if self.s:  # the quasi-Newton direction found no decrease: forget the history, go downhill
            self.s, self.y, self.rho = [], [], []
            if self._search(-pg, self.lr * min(1.0, 1.0 / float(pg.abs().sum()))):
                return True
        self.converged = True
        return False

    def _search(self, d: torch.Tensor, t: float) -> bool:
        """Backtrack along the projected path ``clamp(x + t d)`` until the loss decreases enough;
        on success move there and store the curvature pair, else leave ``x`` where it was."""
        x = self.x.detach().reshape(-1)
        g = self.grad
        x0 = x.clone()
        for _ in range(_MAX_BACKTRACKS + 1):
            with torch.no_grad():
                x.copy_((x0 + t * d).clamp_(0, 1))
            step = x - x0
            loss, terms, grad = self._eval()
            # Armijo along the projected path, with the step actually taken; never a rise.
            if bool(torch.isfinite(loss)) and bool(loss <= self.loss + _ARMIJO * g.dot(step).clamp(max=0)):
                y = grad - g
                sy = step.dot(y)
                if bool(sy > _CURVATURE_EPS):
                    self.s.append(step)
                    self.y.append(y)
                    self.rho.append(1.0 / sy)
                    if len(self.s) > self.history_size:
                        self.s.pop(0), self.y.pop(0), self.rho.pop(0)
                # A decrease below the loss's own rounding (fp32): converged, stop asking for more.
                if bool(self.loss - loss <= _RELATIVE_FLOOR * self.loss.abs()):
                    self.converged = True
                self.loss, self.terms, self.grad = loss, terms, grad
                return True
            t = self._shorter(t, float(g.dot(d)), float(loss) - float(self.loss))
        with torch.no_grad():
            x.copy_(x0)
        return False

    @staticmethod
    def _shorter(t: float, slope: float, rise: float) -> float:
        """The next trial step: the minimiser of the quadratic through the loss at 0 (slope
        ``slope``) and at ``t`` (``rise`` above it), kept within [0.1 t, 0.5 t] (safeguarded
        backtracking, Nocedal & Wright 3.5); halving when the values say nothing (not finite)."""
        if not (slope < 0 and rise == rise and abs(rise) != float("inf")):
            return 0.5 * t
        curvature = rise - slope * t
        if curvature <= 0:
            return 0.5 * t
        return min(max(-slope * t * t / (2 * curvature), 0.1 * t), 0.5 * t)
