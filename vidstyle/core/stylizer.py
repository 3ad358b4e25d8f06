"""The Stylizer: one object per style (or blend of styles), called once per image or frame.

It holds the network, the loss and the style targets; the previous stylized frame, the
content and the budget come in as arguments, so the video loop can pass them frame to frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .features import VGGFeatures, check_image_size, load_vgg_features
from ..media.image_files import resize, resize_long_side, scaled_size
from .losses import StyleTransferLoss, blend_grams
from .optimize import GraphedAdam, OptimResult, ProgressCallback, optimize_pixels
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
from ..settings import LossSettings, ModelSettings, OptimSettings, StyleSettings

# A cold start at this many levels begins at 1/2^(levels-1) of the size.
_MIN_MULTISCALE_SIDE = 32


@dataclass
class StylizeResult(OptimResult):
    """An :class:`OptimResult` (image in [0, 1], iterations used, loss history, final terms)."""


def build_loss(settings: LossSettings) -> StyleTransferLoss:
    """The loss module for these settings (targets not yet set)."""
    return StyleTransferLoss(
        settings.content_layer,
        dict(settings.style_layers),
        settings.alpha,
        settings.beta,
        gram=settings.gram,
        tv=settings.tv,
        tv_gamma=settings.tv_gamma,
        temporal_weight=settings.temporal_weight,
    )


class Stylizer:
    """Optimisation-based style transfer (Gatys et al. 2015) for many calls with one style.

    ``styles`` are (1, 3, H, W) tensors in [0, 1]. Gram targets are computed once per
    working size and cached; content features are computed once per :meth:`stylize` call.
    Build one with :meth:`from_settings`, or inject an extractor (tests use a tiny random one).

    Speed (see the "fast path" section below): ``precision`` (autocast for the VGG forward;
    pixels, Grams and losses in fp32), channels_last on CUDA, ``compile`` (``torch.compile``
    of the per-iteration loss step, one graph per shape, eager fallback with one warning) and
    ``cuda_graphs`` (single-scale Adam on CUDA replays one captured iteration; off by default).
    """

    def __init__(
        self,
        extractor: VGGFeatures,
        styles: Sequence[torch.Tensor],
        *,
        loss: LossSettings = LossSettings(),
        optim: OptimSettings = OptimSettings(),
        style: StyleSettings = StyleSettings(),
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        compile: bool = False,
        cuda_graphs: bool = False,
    ) -> None:
        if not styles:
            raise ValueError("at least one style image is needed")
        if style.blend is not None and len(style.blend) != len(styles):
            raise ValueError(f"{len(style.blend)} blend weights given for {len(styles)} style images")
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        self.loss_settings, self.optim, self.style_settings = loss, optim, style
        self.loss = build_loss(loss).to(self.device)
        self.extractor = extractor.to(self.device)
        missing = set(self.loss.layers) - set(extractor.layers)
        if missing:
            raise ValueError(f"extractor lacks layers {sorted(missing)}")
        self.channels_last = self.device.type == "cuda"
        if self.channels_last:
            self.extractor = self.extractor.to(memory_format=torch.channels_last)
        self.styles = [s.to(self.device) for s in styles]
        self.blend = tuple(style.blend) if style.blend is not None else (1.0,) * len(styles)
        blend_grams([torch.zeros(1)] * len(styles), self.blend)  # validate the weights early
        self._gram_cache: dict[int, dict[str, torch.Tensor]] = {}
        self.compile = bool(compile)
        self._compiled_step = CompiledStep(self._step) if self.compile else None
        self.cuda_graphs = bool(cuda_graphs)
        self._graphs: dict[tuple, tuple[GraphedAdam, dict[str, object]]] = {}
        self.weights_label = "injected"  # from_settings says which weights it loaded

    @classmethod
    def from_settings(
        cls,
        styles: Sequence[torch.Tensor],
        loss: LossSettings,
        optim: OptimSettings,
        style: StyleSettings,
        model: ModelSettings,
        *,
        progress: bool = True,
    ) -> "Stylizer":
        """Resolve the device, load the weights (see ``--weights``) and build the Stylizer.

        ``self.weights_label`` says which weights were loaded.
        """
        device = resolve_device(model.device)
        layers = tuple(dict.fromkeys([loss.content_layer, *(name for name, _ in loss.style_layers)]))
        extractor, label = load_vgg_features(
            layers, model.weights, pooling=model.pooling, seed=optim.seed, device=device, progress=progress
        )
        stylizer = cls(extractor, styles, loss=loss, optim=optim, style=style, device=device, precision=model.precision,
                       compile=model.compile, cuda_graphs=model.cuda_graphs)
        stylizer.weights_label = label
        return stylizer

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

    def style_grams(self, content_long_side: int) -> dict[str, torch.Tensor]:
        """Blended Gram targets at the style size that goes with this content size (cached)."""
        side = self.style_long_side(content_long_side)
        if side not in self._gram_cache:
            per_style = []
            with torch.no_grad():
                for image in self.styles:
                    image = resize_long_side(image, side)
                    check_image_size(*image.shape[-2:], self.loss.layers, "style image at its working size")
                    per_style.append(self.loss.grams(self.features(image)))
            self._gram_cache[side] = {
                name: blend_grams([grams[name] for grams in per_style], self.blend) for name in per_style[0]
            }
        return self._gram_cache[side]

    def loss_terms(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named loss terms of ``image`` against the current targets (one value per image).

        The per-iteration step (features + losses): compiled when ``compile`` is on. Its
        backward runs under the caller's cuDNN flags: optimise inside :meth:`optimize` (or
        ``runtime.backend_context``) so that they match the precision.
        """
        if self._compiled_step is not None:
            return self._compiled_step(image)
        return self._step(image)

    def set_targets(
        self,
        content: torch.Tensor,
        temporal: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        """Content features of ``content``, style Grams at its size, and the temporal target."""
        check_image_size(*content.shape[-2:], self.loss.layers, "content image at its working size")
        with torch.no_grad():
            self.loss.set_content(self.features(content))
        self.loss.set_style_grams(self.style_grams(max(content.shape[-2:])))
        self.loss.set_temporal(*(temporal if temporal is not None else (None, None)))

    # -- optimisation --------------------------------------------------------------------

    def initial_image(self, content: torch.Tensor, init: str | torch.Tensor | None) -> torch.Tensor:
        """The starting pixels: the content, seeded uniform noise, or a given tensor resized."""
        init = self.optim.init if init is None else init
        if isinstance(init, torch.Tensor):
            return resize(init.to(self.device, torch.float32), tuple(content.shape[-2:]))
        if init == "content":
            return content.clone()
        if init == "random":
            generator = torch.Generator().manual_seed(self.optim.seed)
            return torch.rand(content.shape, generator=generator).to(self.device)
        raise ValueError(f"unknown init {init!r}: use 'content', 'random' or an image tensor")

    def stylize(
        self,
        content: torch.Tensor,
        init: str | torch.Tensor | None = None,
        iters: int | None = None,
        *,
        tol: float | None = None,
        temporal: tuple[torch.Tensor, torch.Tensor] | None = None,
        multiscale: int | None = None,
        callback: ProgressCallback | None = None,
    ) -> StylizeResult:
        """Stylize ``content`` (B, 3, H, W) in [0, 1]; B > 1 optimises independent images at once.

        ``init``: ``"content"``, ``"random"``, a tensor (e.g. the previous stylized frame), or
        None for the settings' init. ``iters``/``tol`` default to the settings. ``temporal``
        = (warped previous output, mask) adds the temporal term when its weight is set.
        ``multiscale`` levels (default: the settings') apply to cold starts only (string init).
        """
        content = content.to(self.device, torch.float32)
        iters = self.optim.iters if iters is None else iters
        tol = self.optim.tol if tol is None else tol
        levels = self.optim.multiscale if multiscale is None else multiscale
        start = self.initial_image(content, init)
        if levels > 1 and not isinstance(init, torch.Tensor) and temporal is None:
            return self._stylize_multiscale(content, start, iters, tol, levels, callback)
        self.set_targets(content, temporal)
        result = self.optimize(start, iters, tol=tol, callback=callback)
        return StylizeResult(**vars(result))

    def _stylize_multiscale(
        self,
        content: torch.Tensor,
        start: torch.Tensor,
        iters: int,
        tol: float,
        levels: int,
        callback: ProgressCallback | None,
    ) -> StylizeResult:
        """Coarse to fine: optimise at 1/2^k of the size, upsample, refine; iterations split evenly."""
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
            self.set_targets(level_content)
            offset = done
            result = self.optimize(
                resize(current, size),
                budget,
                tol=tol,
                callback=(lambda i, loss: callback(offset + i, loss)) if callback else None,
            )
            done += result.iterations
            losses += result.losses
            current = result.image
        assert result is not None
        return StylizeResult(current, done, losses, result.terms, result.stopped_early)

    # -- fast path -----------------------------------------------------------------------

    def _step(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """One evaluation of the loss: the VGG forward under autocast, Grams and losses in fp32.

        Free of global state (no cuDNN flag changes), so ``torch.compile`` traces it whole.
        """
        net_input = image.contiguous(memory_format=torch.channels_last) if self.channels_last else image
        scale = fp16_grad_scale(*image.shape[-2:]) if self.precision == "fp16" else 1.0
        if scale != 1.0:  # fp16: the network's backward runs on gradients scaled by `scale`
            net_input = scale_grad(net_input, 1.0 / scale)
        with autocast_context(self.precision, self.device):
            features = self.extractor(net_input)
        if scale != 1.0:
            features = {name: scale_grad(value.float(), scale) for name, value in features.items()}
        return self.loss(features, image)

    def optimize(
        self,
        start: torch.Tensor,
        iters: int,
        *,
        tol: float | None = None,
        callback: ProgressCallback | None = None,
    ) -> OptimResult:
        """Optimise from ``start`` against the current targets (:meth:`set_targets`).

        The whole loop, backward included, runs under the precision's cuDNN flags. With
        ``cuda_graphs`` on, Adam, CUDA and no ``compile``, each shape's iteration is captured
        once and replayed (:class:`~vidstyle.optimize.GraphedAdam`); otherwise
        :func:`~vidstyle.optimize.optimize_pixels`.
        """
        tol = self.optim.tol if tol is None else tol
        with backend_context(self.precision, self.device):
            if self._use_graphs():
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
            )

    # Tests set this to run the static-buffer bookkeeping on the CPU (replayed eagerly there).
    _graphs_off_cuda = False

    def _use_graphs(self) -> bool:
        return (self.cuda_graphs and self.optim.optimizer == "adam" and self._compiled_step is None
                and (self.device.type == "cuda" or self._graphs_off_cuda))

    def _graph_for(self, start: torch.Tensor) -> GraphedAdam:
        """The captured iteration for this shape (and temporal on/off), its targets refreshed.

        A graph reads its targets from fixed buffers: the current targets are copied into them
        (in place), and the loss module is pointed at them while the graph's step runs.
        """
        loss = self.loss
        temporal = loss.temporal_target is not None and bool(loss.temporal_weight)
        shapes = [loss.content_target, *loss.style_targets.values(), *(loss.temporal_target if temporal else ())]
        key = (tuple(start.shape), temporal, tuple(tuple(t.shape) for t in shapes))
        if key not in self._graphs:
            static: dict[str, object] = {
                "content": loss.content_target.clone(),
                "style": {name: gram.clone() for name, gram in loss.style_targets.items()},
                "temporal": tuple(t.clone() for t in loss.temporal_target) if temporal else None,
            }

            def step(x: torch.Tensor, static: dict = static) -> dict[str, torch.Tensor]:
                loss.content_target = static["content"]
                loss.style_targets = dict(static["style"])
                loss.temporal_target = static["temporal"]
                return self.loss_terms(x)

            graph = GraphedAdam(step, tuple(start.shape), self.device, self.optim.learning_rate())
            self._graphs[key] = (graph, static)
        graph, static = self._graphs[key]
        with torch.no_grad():
            static["content"].copy_(loss.content_target)
            for name, gram in static["style"].items():
                gram.copy_(loss.style_targets[name])
            if temporal:
                for buffer, value in zip(static["temporal"], loss.temporal_target):
                    buffer.copy_(value)
        return graph
