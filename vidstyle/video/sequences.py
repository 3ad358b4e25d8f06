"""Batched mode: several frame sequences stylized side by side, frame t of each in one batch.

One small frame (256x256, a webcam, a low-resolution clip) cannot fill a large GPU: the
iteration is bound by kernel launches, not arithmetic. Stacking K independent problems into
one (K, 3, H, W) batch does K times the work per launch. Each sequence is its own frame chain
(the rule of :func:`vidstyle.video.chain.plan_frame`); only the optimisation is shared, through
:meth:`vidstyle.core.stylizer.Stylizer.stylize_each` (Adam only: each image gets exactly the
updates it would get alone, see :func:`vidstyle.core.optimize.optimize_each`). Not yet used by
a command.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch

from ..core.stylizer import Stylizer, StylizeResult
from .chain import ChainInput, ChainRule, plan_frame


def stylize_sequences(
    sequences: Sequence[Iterable[ChainInput]],
    stylizer: Stylizer,
    rule: ChainRule,
    previous: Sequence[torch.Tensor | None] | None = None,
) -> Iterator[list[tuple[int, ChainInput, StylizeResult, bool]]]:
    """Stylize K frame sequences of one frame size side by side; yields, per step t,
    ``[(k, item, result, cold)]`` for every sequence still running.

    Each sequence runs exactly as :func:`vidstyle.video.chain.stylize_frames` runs it (single
    scale cold starts), but frame t of every live sequence is optimised in one batch. A sequence
    that ends drops out of the batch; ``previous[k]`` warm-starts sequence k's first frame.
    Each sequence starts cold, so a seam may show where one segment meets the next.
    """
    if rule.masks is not None:
        raise ValueError("style masks are not supported by the batched sequences mode (use stylize_frames)")
    iterators = [iter(s) for s in sequences]
    last: list[torch.Tensor | None] = list(previous) if previous is not None else [None] * len(iterators)
    if len(last) != len(iterators):
        raise ValueError(f"{len(last)} previous frames for {len(iterators)} sequences")
    live = list(range(len(iterators)))
    while live:
        step: list[tuple[int, ChainInput]] = []
        for k in list(live):
            item = next(iterators[k], None)
            if item is None:
                live.remove(k)
            else:
                step.append((k, item))
        if not step:
            return
        plans = [plan_frame(item, last[k], rule, stylizer.device) for k, item in step]
        sizes = {tuple(plan.content.shape[-2:]) for plan in plans}
        if len(sizes) > 1:
            raise ValueError(f"sequences have frames of sizes {sorted(sizes)}: batched sequences need one size")
        results = stylizer.stylize_each(torch.cat([plan.content for plan in plans]), [plan.init for plan in plans],
                                        [plan.iters for plan in plans], temporal=[plan.temporal for plan in plans],
                                        tol=rule.tol)
        out = []
        for (k, item), result, plan in zip(step, results, plans):
            last[k] = result.image
            out.append((k, item, result, plan.cold))
        yield out
