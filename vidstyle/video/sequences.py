"""Batched mode: several frame sequences stylized side by side, frame t of each in one batch.

One small frame (256x256, a webcam, a low-resolution clip) cannot fill a large GPU: the
iteration is bound by kernel launches, not arithmetic. Stacking K independent problems into
one (K, 3, H, W) batch does K times the work per launch. Each sequence is its own frame chain:
its frames are prepared by the chain's own rule (:func:`vidstyle.video.chain.prepare_frame`:
cold or warm start, the fill of rejected regions, residual included, the temporal target and
its scale-free weight, the revealed region's own style term) and it carries its own
:class:`~vidstyle.video.chain.ChainState` (previous output, previous content, the style level
its warm frames catch up to). Only the first budget's optimisation is shared, through
:meth:`vidstyle.core.stylizer.Stylizer.stylize_each` (Adam only: each image gets exactly the
updates it would get alone, see :func:`vidstyle.core.optimize.optimize_each`); a warm frame
still behind its shot's cold frame then gets its catch-up iterations alone
(:func:`vidstyle.video.chain.finish_frame`), as the one-by-one chain gives them. Not supported
here: style masks, long-term memory, multi-scale cold starts. Not yet used by a command.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch

from ..core.stylizer import Stylizer, StylizeResult
from .chain import ChainInput, ChainRule, ChainState, finish_frame, prepare_frame


def stylize_sequences(
    sequences: Sequence[Iterable[ChainInput]],
    stylizer: Stylizer,
    rule: ChainRule,
    previous: Sequence[torch.Tensor | None] | None = None,
) -> Iterator[list[tuple[int, ChainInput, StylizeResult, bool]]]:
    """Stylize K frame sequences of one frame size side by side; yields, per step t,
    ``[(k, item, result, cold)]`` for every sequence still running.

    Each sequence runs exactly as :func:`vidstyle.video.chain.stylize_frames` runs it without
    memory (single scale cold starts), but frame t of every live sequence is optimised in one
    batch, and catch-up iterations run one frame at a time after it. A sequence that ends drops
    out of the batch; ``previous[k]`` warm-starts sequence k's first frame. Each sequence starts
    cold, so a seam may show where one segment meets the next.
    """
    if rule.masks is not None:
        raise ValueError("style masks are not supported by the batched sequences mode (use stylize_frames)")
    iterators = [iter(s) for s in sequences]
    firsts = list(previous) if previous is not None else [None] * len(iterators)
    if len(firsts) != len(iterators):
        raise ValueError(f"{len(firsts)} previous frames for {len(iterators)} sequences")
    states = [ChainState(first) for first in firsts]
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
        for k, item in step:
            states[k] = states[k].ready(item, rule, stylizer.device)
        plans = [prepare_frame(stylizer, item, states[k].previous, rule, previous_content=states[k].previous_content)
                 for k, item in step]
        sizes = {tuple(plan.content.shape[-2:]) for plan in plans}
        if len(sizes) > 1:
            raise ValueError(f"sequences have frames of sizes {sorted(sizes)}: batched sequences need one size")
        results = stylizer.stylize_each(torch.cat([plan.content for plan in plans]), [plan.init for plan in plans],
                                        [plan.iters for plan in plans], temporal=[plan.temporal for plan in plans],
                                        revealed=[plan.revealed for plan in plans], tol=rule.tol)
        out = []
        for (k, item), result, plan in zip(step, results, plans):
            result = finish_frame(stylizer, plan, result, rule, states[k].reference)
            states[k] = states[k].after(item, result, plan.cold, stylizer, rule)
            out.append((k, item, result, plan.cold))
        yield out
