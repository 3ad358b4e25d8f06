"""Batched mode: several independent images or frame sequences optimised in one batch.

One small frame (256x256, a webcam, a low-resolution clip) cannot fill a large GPU: the
iteration is bound by kernel launches, not arithmetic. Stacking K independent problems into
one (K, 3, H, W) batch does K times the work per launch. Every loss term is per image, so
the gradient of the summed loss with respect to image ``i`` is image ``i``'s own gradient.

Adam only. Adam is elementwise, so each image gets exactly the updates it would get alone,
and each image keeps its own budget and its own early stopping here (an image that has
stopped is frozen while the others go on). L-BFGS is not elementwise: one line search and
one curvature history for the whole batch would couple the images, so it is refused.

"Exactly" means bit for bit where the convolution computes each image of a batch the way it
computes it alone (checked on the CPU with oneDNN off: identical pixels, iterations and early
stops). Fast kernels (oneDNN, cuDNN) pick their algorithm by batch size and round differently,
and Adam amplifies rounding: its first steps are nearly sign(gradient) * lr, so a pixel whose
gradient is near 0 (or a max-pooling near-tie that routes a gradient elsewhere) can step the
other way. Then batched and one-by-one results are equally good, not identical.

:func:`stylize_batch` is one step for K images; :func:`stylize_sequences` runs K sequences
(e.g. K segments of one video, each warm-started within itself) frame t of each together,
mirroring :func:`vidstyle.pipeline.stylize_sequence` per sequence. Cold starts are single
scale here (``optim.multiscale`` is not applied).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from ..core.optimize import _Checks, make_adam
from ..core.runtime import backend_context
from ..settings import INIT_MODES, VideoSettings
from ..core.stylizer import Stylizer, StylizeResult

BatchCallback = Callable[[int, int, float], None]  # (image index, iteration, loss)


def _check_adam(stylizer: Stylizer) -> None:
    if stylizer.optim.optimizer != "adam":
        raise ValueError(
            "batched mode needs --optimizer adam: L-BFGS shares one line search and one curvature "
            "history across the batch, so the images would not be independent"
        )


def stylize_batch(
    stylizer: Stylizer,
    contents: torch.Tensor,
    inits: Sequence[str | torch.Tensor | None],
    budgets: Sequence[int],
    *,
    temporal: Sequence[tuple[torch.Tensor, torch.Tensor] | None] | None = None,
    tol: float | None = None,
    callback: BatchCallback | None = None,
) -> list[StylizeResult]:
    """Stylize K independent images ``contents`` (K, 3, H, W) at once with Adam.

    Image ``i`` starts from ``inits[i]`` (as :meth:`Stylizer.stylize`'s ``init``), runs at most
    ``budgets[i]`` iterations, stops early at ``tol`` on its own loss, and gets the temporal
    term against ``temporal[i]`` = (warped previous output (1, 3, H, W), mask (1, 1, H, W)) or
    none. Result ``i`` equals ``stylizer.stylize(contents[i:i+1], inits[i], budgets[i],
    tol=tol, temporal=temporal[i], multiscale=1)`` (see the module note on rounding).

    Host reads: one per check (every ``check_every`` iterations, and when an image's budget
    ends), reading all the images' loss terms at once.
    """
    _check_adam(stylizer)
    device = stylizer.device
    contents = contents.to(device, torch.float32)
    k = contents.shape[0]
    if len(inits) != k or len(budgets) != k:
        raise ValueError(f"{len(inits)} inits and {len(budgets)} budgets for a batch of {k}")
    if any(b < 0 for b in budgets):
        raise ValueError("budgets must be >= 0")
    temporal = list(temporal) if temporal is not None else [None] * k
    if len(temporal) != k:
        raise ValueError(f"{len(temporal)} temporal targets for a batch of {k}")
    tol = stylizer.optim.tol if tol is None else tol

    start = torch.cat([stylizer.initial_image(contents[i:i + 1], inits[i]) for i in range(k)])
    stylizer.set_targets(contents)
    if any(t is not None for t in temporal):
        # A zero mask switches the term off for images without a temporal target: 0 loss, 0 gradient.
        warped = torch.cat([t[0].to(device, torch.float32) if t is not None else contents[i:i + 1]
                            for i, t in enumerate(temporal)])
        masks = torch.cat([t[1].to(device, torch.float32).expand(1, 1, *contents.shape[-2:]) if t is not None
                           else torch.zeros(1, 1, *contents.shape[-2:], device=device)
                           for i, t in enumerate(temporal)])
        stylizer.loss.set_temporal(warped, masks)

    x = start.detach().float().contiguous().clone().clamp_(0, 1).requires_grad_(True)
    opt = make_adam(x, stylizer.optim.learning_rate())
    checks = [_Checks(b, tol, stylizer.optim.check_every, None) for b in budgets]
    done = [b == 0 for b in budgets]
    iterations = [0] * k
    final_terms: list[dict[str, float]] = [{} for _ in range(k)]
    images: list[torch.Tensor | None] = [x.detach()[i:i + 1].clone() if done[i] else None for i in range(k)]
    active = torch.tensor([not d for d in done], device=device).view(k, 1, 1, 1)
    frozen = x.detach().clone()
    iteration = 0
    with backend_context(stylizer.precision, device):
        while not all(done):
            opt.zero_grad(set_to_none=True)
            terms = stylizer.loss_terms(x)
            terms["total"].sum().backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
                if any(done):
                    x.copy_(torch.where(active, x, frozen))
            iteration += 1
            due = [i for i in range(k) if not done[i] and checks[i].due(iteration)]
            if not due:
                continue
            names = list(terms)
            table = torch.stack([terms[name].detach().float() for name in names]).tolist()  # one read
            stopped = []
            for i in due:
                loss = table[names.index("total")][i]
                if callback is not None:
                    callback(i, iteration, loss)
                if checks[i].check(iteration, loss) or iteration == budgets[i]:
                    stopped.append(i)
                    done[i] = True
                    iterations[i] = iteration
                    final_terms[i] = {name: table[j][i] for j, name in enumerate(names)
                                      if name != "temporal" or temporal[i] is not None}
                    images[i] = x.detach()[i:i + 1].clone()
            if stopped:
                with torch.no_grad():
                    frozen.copy_(x.detach())
                    active[stopped] = False
    stylizer.loss.set_temporal(None)
    return [
        StylizeResult(images[i], iterations[i], checks[i].losses, final_terms[i], checks[i].stopped_early)
        for i in range(k)
    ]


def stylize_sequences(
    sequences: Sequence[Iterable],
    stylizer: Stylizer,
    settings: VideoSettings,
    previous: Sequence[torch.Tensor | None] | None = None,
) -> Iterator[list[tuple[int, object, StylizeResult, bool]]]:
    """Stylize K frame sequences side by side; yields, per step t, ``[(k, item, result, cold)]``.

    ``sequences`` are iterables of :class:`~vidstyle.pipeline.DecodedFrame` of one frame size
    (e.g. K segments of one video, from K decoders). Each sequence is its own warm-started
    chain, exactly as :func:`vidstyle.pipeline.stylize_sequence` runs it (cold start with
    ``optim.iters``, then ``warm_iters`` from the previous output as it is or warped along the
    flow, temporal term, early stop at ``settings.tol``), but frame t of every live sequence is
    optimised in one batch (:func:`stylize_batch`). A sequence that ends drops out of the batch;
    ``previous[k]`` warm-starts sequence k's first frame (resume). Needs Adam. Each segment
    starts cold, so a seam may show where one segment meets the next.
    """
    from .pipeline import device_tensor, warm_budget, warm_start  # the pipeline imports nothing from here

    _check_adam(stylizer)
    if settings.init_mode not in INIT_MODES:
        raise ValueError(f"unknown init mode {settings.init_mode!r}; choose one of {', '.join(INIT_MODES)}")
    iterators = [iter(s) for s in sequences]
    last: list[torch.Tensor | None] = list(previous) if previous is not None else [None] * len(iterators)
    if len(last) != len(iterators):
        raise ValueError(f"{len(last)} previous frames for {len(iterators)} sequences")
    live = list(range(len(iterators)))
    while live:
        step: list[tuple[int, object]] = []
        for k in list(live):
            item = next(iterators[k], None)
            if item is None:
                live.remove(k)
            else:
                step.append((k, item))
        if not step:
            return
        contents, inits, budgets, temporal, colds = [], [], [], [], []
        for k, item in step:
            content = device_tensor(item.frame.image, stylizer.device)
            if contents and content.shape != contents[0].shape:
                raise ValueError(f"sequence {k} has frames of {tuple(content.shape[-2:])}, "
                                 f"others {tuple(contents[0].shape[-2:])}: batched sequences need one size")
            cold = last[k] is None or settings.init_mode == "independent"
            if cold:
                inits.append(None)
                budgets.append(settings.optim.iters)
                temporal.append(None)
            else:
                init, warped, mask = warm_start(last[k], content, item, settings.init_mode)
                inits.append(init)
                budgets.append(warm_budget(item.frame.index, settings))
                temporal.append((warped, mask))
            contents.append(content)
            colds.append(cold)
        results = stylize_batch(stylizer, torch.cat(contents), inits, budgets, temporal=temporal, tol=settings.tol)
        out = []
        for (k, item), result, cold in zip(step, results, colds):
            last[k] = result.image
            out.append((k, item, result, cold))
        yield out
