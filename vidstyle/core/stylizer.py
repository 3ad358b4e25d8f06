"""The Stylizer: one object per style (or blend of styles), called once per image or frame.

It holds the network, the loss and the style targets; the previous stylized frame, the
content and the budget come in as arguments, so a frame chain can pass them frame to frame.
Build one with :func:`vidstyle.core.factory.build_stylizer`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..settings import LossSettings, ModelSettings, OptimSettings, StyleSettings
from .features import VGGFeatures, check_image_size
from .losses import LossTargets, StyleTransferLoss, blend_grams
from .optimize import (
    BatchCallback,
    GraphedAdam,
    OptimizationInterrupted,
    OptimResult,
    ProgressCallback,
    SnapshotCallback,
    optimize_each,
    optimize_pixels,
)
from .runtime import (
    CompiledStep,
    autocast_context,
    backend_context,
    fp16_grad_scale,
    precision_context,
    resolve_device,
    resolve_precision,
    scale_grad,
)
from .tensors import image_batch, resize, resize_long_side, scaled_size

# A cold start at this many levels begins at 1/2^(levels-1) of the size.
_MIN_MULTISCALE_SIDE = 32

Temporal = tuple[torch.Tensor, torch.Tensor]  # (warped previous output, mask)


@dataclass
class StylizeResult(OptimResult):
    """An :class:`OptimResult` (image in [0, 1], iterations used, loss history, final terms)."""


def build_loss(settings: LossSettings) -> StyleTransferLoss:
    """The loss module for these settings (targets not yet set)."""
    return StyleTransferLoss(
        dict(settings.content_weights()),
        dict(settings.style_layers),
        settings.alpha,
        settings.beta,
        gram=settings.gram,
        tv=settings.tv,
        tv_gamma=settings.tv_gamma,
        temporal_weight=settings.temporal_weight,
        style_loss=settings.style_loss,
        normalize_gradients=settings.normalize_gradients,
        revealed_weight=settings.revealed_weight,
    )


class Stylizer:
    """Optimisation-based style transfer (Gatys et al. 2015) for many calls with one style.

    ``styles`` are (1, 3, H, W) tensors in [0, 1]. Gram targets are computed once per
    working size and cached; content features are computed once per :meth:`stylize` call.
    ``model`` is taken whole: the device (resolved here), the precision (autocast for the VGG
    forward; pixels, Grams and losses in fp32, channels_last on CUDA), ``compile``
    (``torch.compile`` of the per-iteration loss step, one graph per shape, eager fallback with
    one warning) and ``cuda_graphs`` (single-scale Adam on CUDA replays one captured
    iteration). ``model.weights`` and ``model.pooling`` describe ``extractor``, which is given
    (see :func:`vidstyle.core.factory.build_stylizer`, which loads it).
    """

    def __init__(
        self,
        extractor: VGGFeatures,
        styles: Sequence[torch.Tensor],
        *,
        loss: LossSettings = LossSettings(),
        optim: OptimSettings = OptimSettings(),
        style: StyleSettings = StyleSettings(),
        model: ModelSettings = ModelSettings(),
    ) -> None:
        if not styles:
            raise ValueError("at least one style image is needed")
        if style.blend is not None and len(style.blend) != len(styles):
            raise ValueError(f"{len(style.blend)} blend weights given for {len(styles)} style images")
        if style.masks and len(style.masks) != len(styles):
            raise ValueError(f"{len(style.masks)} style masks given for {len(styles)} style images")
        if style.masks and style.blend is not None:
            raise ValueError("style masks and blend weights exclude each other: each mask's region takes its own style")
        self.device = resolve_device(model.device)
        self.precision = resolve_precision(model.precision, self.device)
        self.loss_settings, self.optim, self.style_settings, self.model = loss, optim, style, model
        self.loss = build_loss(loss).to(self.device)
        missing = set(self.loss.layers) - set(extractor.layers)
        if missing:
            raise ValueError(f"extractor lacks layers {sorted(missing)}")
        self.extractor = extractor.to(self.device)
        self.channels_last = self.device.type == "cuda"
        if self.channels_last:
            self.extractor = self.extractor.to(memory_format=torch.channels_last)
        self.weights_label = extractor.weights_label
        self.styles = [image_batch(s, "style image").to(self.device) for s in styles]
        self.blend = tuple(style.blend) if style.blend is not None else (1.0,) * len(styles)
        blend_grams([torch.zeros(1)] * len(styles), self.blend)  # validate the weights early
        self._gram_cache: dict[int, dict[str, torch.Tensor]] = {}
        self._target_cache: dict[tuple[int, bool], dict[str, tuple[torch.Tensor, ...]]] = {}
        self.compile = bool(model.compile)
        self._compiled_step = CompiledStep(self._step) if self.compile else None
        self.cuda_graphs = bool(model.cuda_graphs)
        self._graphs: dict[tuple, tuple[GraphedAdam, LossTargets]] = {}
        if self.cuda_graphs and (self.device.type != "cuda" or self.optim.optimizer != "adam" or self.compile):
            # Said once, here: the option asked for would otherwise do nothing without a word.
            warnings.warn(f"--cuda-graphs needs a CUDA device and --optimizer adam without --compile "
                          f"(here: {self.device.type}, {self.optim.optimizer}{', --compile' if self.compile else ''}); "
                          "running without graphs", stacklevel=2)

    # -- targets -------------------------------------------------------------------------

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Network features of ``image`` under the configured precision."""
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        with precision_context(self.precision, self.device):
            return self.extractor(image)

    def style_long_side(self, content_long_side: int) -> int:
        """The style image's working long side for content of this long side."""
        if self.style_settings.size is not None:
            return self.style_settings.size
        return max(16, round(content_long_side * self.style_settings.scale))

    def grams_of(self, style: torch.Tensor, content_long_side: int) -> dict[str, torch.Tensor]:
        """Gram matrices of one style image at the working size that goes with this content size."""
        image = resize_long_side(style.to(self.device), self.style_long_side(content_long_side))
        check_image_size(*image.shape[-2:], self.loss.layers, "style image at its working size")
        with torch.no_grad():
            return self.loss.grams(self.features(image))

    def style_grams(self, content_long_side: int) -> dict[str, torch.Tensor]:
        """Blended Gram targets at the style size that goes with this content size (cached)."""
        side = self.style_long_side(content_long_side)
        if side not in self._gram_cache:
            per_style = [self.grams_of(image, content_long_side) for image in self.styles]
            self._gram_cache[side] = {
                name: blend_grams([grams[name] for grams in per_style], self.blend) for name in per_style[0]
            }
        return self._gram_cache[side]

    def style_targets(self, content_long_side: int, regions: bool = False) -> dict[str, tuple[torch.Tensor, ...]]:
        """The loss's style targets at this content size (cached): from the blended statistics,
        or with ``regions`` one per style image, stacked after the batch dimension (style masks)."""
        key = (self.style_long_side(content_long_side), regions)
        if key not in self._target_cache:
            if regions:
                per_style = [self.grams_of(image, content_long_side) for image in self.styles]
                stats = {name: torch.stack([s[name] for s in per_style], dim=1) for name in per_style[0]}
            else:
                stats = self.style_grams(content_long_side)
            self._target_cache[key] = self.loss.style_targets(stats)
        return self._target_cache[key]

    def set_targets(
        self,
        content: torch.Tensor,
        temporal: Temporal | None = None,
        *,
        style_grams: Mapping[str, torch.Tensor] | None = None,
        masks: torch.Tensor | None = None,
        revealed: torch.Tensor | None = None,
    ) -> None:
        """The one way targets are set: content features of ``content`` (B, 3, H, W), style
        targets (the blended styles at ``content``'s size, or the statistics ``style_grams`` of
        shape (B or 1, ...), see ``StyleTransferLoss.style_stats``), the temporal target (warped
        previous output, mask) or none, the style ``masks`` (B or 1, R, H', W') in [0, 1],
        one channel per style image, resized to the content's size, or none, and the
        ``revealed`` region (B or 1, 1, H, W) of a warm-started frame, or none."""
        check_image_size(*content.shape[-2:], self.loss.layers, "content image at its working size")
        if masks is not None:
            if masks.shape[1] != len(self.styles):
                raise ValueError(f"{masks.shape[1]} style masks for {len(self.styles)} style images")
            if self.style_settings.blend is not None:
                raise ValueError("style masks and blend weights exclude each other")
            masks = resize(masks.to(self.device, torch.float32), tuple(content.shape[-2:]))
        side = max(content.shape[-2:])
        style = style_grams if style_grams is not None else self.style_targets(side, regions=masks is not None)
        with torch.no_grad():
            features = self.features(content)
        if revealed is not None:
            revealed = revealed.to(self.device, torch.float32)
        self.loss.load_targets(self.loss.make_targets(features, style, temporal, masks, revealed))

    def loss_terms(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named loss terms of ``image`` against the current targets (one value per image).

        The per-iteration step (features + losses): compiled when ``compile`` is on. Its
        backward runs under the caller's cuDNN flags: optimise inside :meth:`optimize` (or
        ``runtime.backend_context``) so that they match the precision.
        """
        if self._compiled_step is not None:
            return self._compiled_step(image)
        return self._step(image)

    # -- optimisation --------------------------------------------------------------------

    def initial_image(self, content: torch.Tensor, init: str | torch.Tensor | None) -> torch.Tensor:
        """The starting pixels: the content, seeded uniform noise, or a given image resized.

        A string other than ``"content"``/``"random"`` is refused: image files are loaded at the
        edge (:func:`vidstyle.media.image_files.load_init`) and come in as tensors.
        """
        init = self.optim.init if init is None else init
        if isinstance(init, torch.Tensor):
            start = resize(image_batch(init, "init").to(self.device, torch.float32), tuple(content.shape[-2:]))
            return start.expand_as(content).clone() if start.shape[0] != content.shape[0] else start
        if init == "content":
            return content.clone()
        if init == "random":
            generator = torch.Generator().manual_seed(self.optim.seed)
            return torch.rand(content.shape, generator=generator).to(self.device)
        raise ValueError(f"init {init!r} is not 'content', 'random' or an image tensor "
                         "(load an image file with vidstyle.media.image_files.load_init)")

    def stylize(
        self,
        content: torch.Tensor,
        init: str | torch.Tensor | None = None,
        iters: int | None = None,
        *,
        tol: float | None = None,
        temporal: Temporal | None = None,
        multiscale: int | None = None,
        callback: ProgressCallback | None = None,
        masks: torch.Tensor | None = None,
        snapshot: SnapshotCallback | None = None,
        snapshot_every: int = 0,
        revealed: torch.Tensor | None = None,
    ) -> StylizeResult:
        """Stylize ``content`` (B, 3, H, W) in [0, 1]; B > 1 optimises the images as one problem.
        (3, H, W) and uint8 are accepted, anything else refused: see :func:`~vidstyle.core.tensors.image_batch`.

        ``init``: ``"content"``, ``"random"``, a tensor (e.g. the previous stylized frame), or
        None for the settings' init. ``iters``/``tol`` default to the settings. ``temporal``
        = (warped previous output, mask) adds the temporal term when its weight is set.
        ``multiscale`` levels (default: the settings') and iterate averaging (``optim.average``)
        apply to cold starts only (string init). ``snapshot(iteration, image)`` is called every
        ``snapshot_every`` iterations with the image so far at ``content``'s size; Ctrl-C raises
        :class:`~vidstyle.core.optimize.OptimizationInterrupted` with the image so far.
        ``masks`` (B or 1, R, H', W') in [0, 1], one channel per style image (any size; resized
        to the content's): spatial control, region r takes style r (Gatys et al. 2017).
        ``revealed`` (B or 1, 1, H, W): the region of a warm start with no stylized past, which
        gets its own style term (``LossSettings.revealed_weight``).
        """
        content = image_batch(content, "content").to(self.device, torch.float32)
        iters = self.optim.iters if iters is None else iters
        tol = self.optim.tol if tol is None else tol
        levels = self.optim.multiscale if multiscale is None else multiscale
        start = self.initial_image(content, init)
        cold = not isinstance(init, torch.Tensor) and temporal is None
        average = self.optim.average if cold else 0.0
        if levels > 1 and cold:
            return self._stylize_multiscale(content, start, iters, tol, levels, callback, masks, snapshot,
                                            snapshot_every)
        self.set_targets(content, temporal, masks=masks, revealed=revealed)
        result = self.optimize(start, iters, tol=tol, callback=callback, average=average, snapshot=snapshot,
                               snapshot_every=snapshot_every)
        return StylizeResult(**vars(result))

    def stylize_each(
        self,
        contents: torch.Tensor,
        inits: Sequence[str | torch.Tensor | None],
        budgets: Sequence[int],
        *,
        temporal: Sequence[Temporal | None] | None = None,
        tol: float | None = None,
        callback: BatchCallback | None = None,
        revealed: Sequence[torch.Tensor | None] | None = None,
    ) -> list[StylizeResult]:
        """Stylize K independent images ``contents`` (K, 3, H, W) in one batch, with Adam.

        Image ``i`` starts from ``inits[i]`` (as :meth:`stylize`'s ``init``), runs at most
        ``budgets[i]`` iterations, stops early at ``tol`` on its own loss, gets the temporal
        term against ``temporal[i]`` = (warped previous output (1, 3, H, W), mask (1, 1, H, W))
        or none, and the revealed term on ``revealed[i]`` (1, 1, H, W) or none. Result ``i``
        equals ``stylize(contents[i:i+1], inits[i], budgets[i], tol=tol, temporal=temporal[i],
        revealed=revealed[i], multiscale=1)`` (see :func:`~vidstyle.core.optimize.optimize_each`
        on rounding). Single scale.
        """
        if self.optim.optimizer != "adam":
            raise ValueError(
                "batched mode needs --optimizer adam: L-BFGS shares one line search and one curvature "
                "history across the batch, so the images would not be independent"
            )
        contents = image_batch(contents, "contents").to(self.device, torch.float32)
        k = contents.shape[0]
        temporal = list(temporal) if temporal is not None else [None] * k
        revealed = list(revealed) if revealed is not None else [None] * k
        if not len(inits) == len(budgets) == len(temporal) == len(revealed) == k:
            raise ValueError(f"{len(inits)} inits, {len(budgets)} budgets, {len(temporal)} temporal targets and "
                             f"{len(revealed)} revealed regions for a batch of {k}")
        start = torch.cat([self.initial_image(contents[i:i + 1], inits[i]) for i in range(k)])
        stacked = None
        if any(t is not None for t in temporal):
            # A zero mask switches the term off for images without a temporal target: 0 loss, 0 gradient.
            size = contents.shape[-2:]
            stacked = (
                torch.cat([t[0].to(self.device, torch.float32) if t is not None else contents[i:i + 1]
                           for i, t in enumerate(temporal)]),
                torch.cat([t[1].to(self.device, torch.float32).expand(1, 1, *size) if t is not None
                           else torch.zeros(1, 1, *size, device=self.device) for t in temporal]),
            )
        regions = None
        if any(r is not None for r in revealed):
            # An empty region switches the revealed term off for an image: 0 loss, 0 gradient.
            size = contents.shape[-2:]
            regions = torch.cat([r.to(self.device, torch.float32).expand(1, 1, *size) if r is not None
                                 else torch.zeros(1, 1, *size, device=self.device) for r in revealed])
        self.set_targets(contents, stacked, revealed=regions)
        # Alone, an image has the revealed term where its region has a cell at some layer.
        cells = self.loss.export_targets().revealed or {}
        with backend_context(self.precision, self.device):
            results = optimize_each(self.loss_terms, start, budgets, lr=self.optim.learning_rate(),
                                    tol=self.optim.tol if tol is None else tol, check_every=self.optim.check_every,
                                    callback=callback)
        for i, (result, target) in enumerate(zip(results, temporal)):
            if target is None:
                result.terms.pop("temporal", None)
            if not any(float(layer[i].sum()) > 0 for layer in cells.values()):
                result.terms.pop("revealed", None)
        return [StylizeResult(**vars(result)) for result in results]

    def _stylize_multiscale(
        self,
        content: torch.Tensor,
        start: torch.Tensor,
        iters: int,
        tol: float,
        levels: int,
        callback: ProgressCallback | None,
        masks: torch.Tensor | None = None,
        snapshot: SnapshotCallback | None = None,
        snapshot_every: int = 0,
    ) -> StylizeResult:
        """Coarse to fine: optimise at 1/2^k of the size, upsample, refine; iterations split evenly.

        Snapshots and the image of an interrupt are upsampled to the content's size; their
        iteration counts run on across levels."""
        height, width = content.shape[-2:]
        long_side = max(height, width)
        sides = [max(_MIN_MULTISCALE_SIDE, long_side >> k) for k in reversed(range(levels))]
        sides = sorted(set(min(s, long_side) for s in sides))
        per_level = [iters // len(sides)] * len(sides)
        per_level[-1] += iters - sum(per_level)
        current = start
        done, losses = 0, []
        result: OptimResult | None = None
        for side, budget in zip(sides, per_level):
            size = scaled_size(height, width, side) if side < long_side else (height, width)
            level_content = resize(content, size)
            self.set_targets(level_content, masks=masks)
            offset = done
            try:
                result = self.optimize(
                    resize(current, size),
                    budget,
                    tol=tol,
                    callback=(lambda i, loss: callback(offset + i, loss)) if callback else None,
                    average=self.optim.average,
                    # Every iteration here, filtered below: the count runs on across levels.
                    snapshot=(lambda i, image: snapshot(offset + i, resize(image, (height, width)))
                              if (offset + i) % snapshot_every == 0 else None) if snapshot and snapshot_every else None,
                    snapshot_every=1,
                )
            except OptimizationInterrupted as stop:
                raise OptimizationInterrupted(resize(stop.image, (height, width)), offset + stop.iterations) from stop
            done += result.iterations
            losses += result.losses
            current = result.image
        assert result is not None
        return StylizeResult(current, done, losses, result.terms, result.stopped_early)

    # -- fast path -----------------------------------------------------------------------

    def _step(self, image: torch.Tensor, targets: LossTargets | None = None) -> dict[str, torch.Tensor]:
        """One evaluation of the loss: the VGG forward under autocast, Grams and losses in fp32.

        Free of global state (no cuDNN flag changes), so ``torch.compile`` traces it whole.
        ``targets``: evaluate against these instead of the loss's own (the CUDA-graph buffers).
        """
        net_input = image.contiguous(memory_format=torch.channels_last) if self.channels_last else image
        scale = fp16_grad_scale(*image.shape[-2:]) if self.precision == "fp16" else 1.0
        if scale != 1.0:  # fp16: the network's backward runs on gradients scaled by `scale`
            net_input = scale_grad(net_input, 1.0 / scale)
        with autocast_context(self.precision, self.device):
            features = self.extractor(net_input)
        if scale != 1.0:
            features = {name: scale_grad(value.float(), scale) for name, value in features.items()}
        return self.loss(features, image, targets)

    def optimize(
        self,
        start: torch.Tensor,
        iters: int,
        *,
        tol: float | None = None,
        callback: ProgressCallback | None = None,
        average: float = 0.0,
        snapshot: SnapshotCallback | None = None,
        snapshot_every: int = 0,
    ) -> OptimResult:
        """Optimise from ``start`` against the current targets (:meth:`set_targets`).

        The whole loop, backward included, runs under the precision's cuDNN flags. With
        ``cuda_graphs`` on, Adam, CUDA, no ``compile``, no averaging and no snapshots, each
        shape's iteration is captured once and replayed
        (:class:`~vidstyle.core.optimize.GraphedAdam`); otherwise
        :func:`~vidstyle.core.optimize.optimize_pixels` (``average``, ``snapshot`` as there).
        """
        tol = self.optim.tol if tol is None else tol
        with backend_context(self.precision, self.device):
            if self._use_graphs() and not average and snapshot is None:
                graph = self._graph_for(start)
                return graph.run(start, iters, tol=tol, check_every=self.optim.check_every, callback=callback)
            return optimize_pixels(
                self.loss_terms,
                start,
                iters,
                optimizer=self.optim.optimizer,
                lr=self.optim.learning_rate(),
                tol=tol,
                check_every=self.optim.check_every,
                callback=callback,
                average=average,
                snapshot=snapshot,
                snapshot_every=snapshot_every,
            )

    # Tests set this to run the static-buffer bookkeeping on the CPU (replayed eagerly there).
    _graphs_off_cuda = False

    def _use_graphs(self) -> bool:
        return (self.cuda_graphs and self.optim.optimizer == "adam" and self._compiled_step is None
                and (self.device.type == "cuda" or self._graphs_off_cuda))

    def _graph_for(self, start: torch.Tensor) -> GraphedAdam:
        """The captured iteration for this shape and target layout, its static targets refreshed.

        A graph reads fixed buffers: it evaluates the loss against its own copy of the targets
        (passed to the loss, never swapped into it), refreshed in place before each run.
        """
        targets = self.loss.export_targets()
        key = (tuple(start.shape), self.loss.uses_temporal(targets), targets.layout())
        if key not in self._graphs:
            static = targets.clone()
            graph = GraphedAdam(lambda x: self._step(x, static), tuple(start.shape), self.device,
                                self.optim.learning_rate())
            self._graphs[key] = (graph, static)
        graph, static = self._graphs[key]
        static.copy_(targets)
        return graph
