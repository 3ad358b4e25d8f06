"""What the network's representations keep: images reconstructed from them (Gatys et al. 2015, Fig. 1).

From the same seeded noise, optimise the pixels so that

- their features at one layer match the image's (content reconstruction: lower layers give the
  image back almost exactly, deeper ones keep the arrangement but lose the exact pixels), or
- their Gram matrices on all layers up to one layer match the image's (style reconstruction,
  i.e. texture synthesis: deeper sets of layers give larger, more coherent structures while the
  global arrangement is lost).

Only the losses' pure functions are used; no content term in style reconstructions and no
style term in content ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..core.factory import load_network
from ..core.features import VGGFeatures, check_image_size
from ..core.layers import LAYER_INDEX, network_depth
from ..core.losses import content_loss, gram_matrix, style_loss
from ..core.optimize import OptimResult, ProgressCallback, optimize_pixels
from ..core.runtime import backend_context, precision_context, resolve_precision
from ..core.tensors import resize_long_side, to_uint8
from ..settings import OptimSettings, ReconstructSettings
from .grids import Grid, label_grid


@dataclass(frozen=True)
class Reconstruction:
    """One reconstructed image (1, 3, H, W) in [0, 1], what it was made from, and how it went."""

    kind: str  # "content" or "style"
    layers: tuple[str, ...]
    result: OptimResult

    @property
    def short_label(self) -> str:
        """``relu3_1`` (content) or ``up to relu3_1`` (style): the tile label in a grid."""
        if self.kind == "content" or len(self.layers) == 1:
            return self.layers[-1]
        return f"up to {self.layers[-1]}"

    @property
    def label(self) -> str:
        return f"{self.kind} {self.short_label}"


def truncated(extractor: VGGFeatures, layers: Sequence[str]) -> VGGFeatures:
    """A copy of ``extractor`` (same weights) that stops at the deepest of ``layers``."""
    depth = network_depth(layers)
    if depth > len(extractor.body):
        raise ValueError(f"the extractor stops before {max(layers, key=LAYER_INDEX.__getitem__)}")
    state = {k: v for k, v in extractor.body.state_dict().items() if int(k.split(".")[0]) < depth}
    small = VGGFeatures(layers, state, pooling=extractor.pooling)
    return small.to(extractor.mean.device)


def _loss_function(
    extractor: VGGFeatures, kind: str, target: dict[str, torch.Tensor], precision: str
) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    device = extractor.mean.device

    def loss(image: torch.Tensor) -> dict[str, torch.Tensor]:
        with precision_context(precision, device):
            features = extractor(image)
        if kind == "content":
            terms = {f"content/{n}": content_loss(features[n], t) for n, t in target.items()}
        else:
            # Equal weights w_l = 1/L over the layers, as in Gatys et al.
            terms = {f"style/{n}": style_loss(gram_matrix(features[n]), t) / len(target) for n, t in target.items()}
        terms["total"] = sum(terms.values())
        return terms

    return loss


def reconstruct(
    extractor: VGGFeatures,
    image: torch.Tensor,
    kind: str,
    layers: Sequence[str],
    start: torch.Tensor,
    optim: OptimSettings,
    *,
    precision: str = "fp32",
    callback: ProgressCallback | None = None,
) -> Reconstruction:
    """Reconstruct ``image`` (1, 3, H, W) from its ``kind`` representation on ``layers``."""
    if kind not in ("content", "style"):
        raise ValueError(f"kind must be 'content' or 'style', not {kind!r}")
    net = truncated(extractor, layers)
    device = net.mean.device
    with torch.no_grad(), precision_context(precision, device):
        features = net(image.to(device))
    if kind == "content":
        target = {name: features[name].float() for name in layers}
    else:
        target = {name: gram_matrix(features[name]) for name in layers}
    with backend_context(precision, device):  # cuDNN flags for the backward passes too
        result = optimize_pixels(
            _loss_function(net, kind, target, precision),
            start.to(device),
            optim.iters,
            optimizer=optim.optimizer,
            lr=optim.learning_rate(),
            tol=optim.tol,
            check_every=optim.check_every,
            callback=callback,
        )
    return Reconstruction(kind, tuple(layers), result)


def reconstruction_plan(layers: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(kind, layers) of every reconstruction: content on each layer, style on each prefix.

    Layers are sorted by depth, so "the layers up to relu3_1" means those given up to it.
    """
    ordered = sorted(dict.fromkeys(layers), key=LAYER_INDEX.__getitem__)
    content = [("content", (name,)) for name in ordered]
    style = [("style", tuple(ordered[: i + 1])) for i in range(len(ordered))]
    return content + style


def reconstruct_all(
    extractor: VGGFeatures,
    image: torch.Tensor,
    layers: Sequence[str],
    optim: OptimSettings,
    *,
    precision: str = "fp32",
    on_start: Callable[[str], None] | None = None,
    callback: ProgressCallback | None = None,
) -> list[Reconstruction]:
    """Every reconstruction of :func:`reconstruction_plan`, all from the same seeded noise.

    ``on_start(label)`` is called before each one (for progress display).
    """
    generator = torch.Generator().manual_seed(optim.seed)
    start = torch.rand(image.shape, generator=generator)
    done = []
    for kind, group in reconstruction_plan(layers):
        if on_start is not None:
            on_start(Reconstruction(kind, group, OptimResult(start, 0)).label)
        done.append(reconstruct(extractor, image, kind, group, start, optim, precision=precision, callback=callback))
    return done


@dataclass(frozen=True)
class ReconstructionRun:
    """Every reconstruction of one image (at its working size), and the weights the network held."""

    image: torch.Tensor
    done: list[Reconstruction]
    weights_label: str


def run_reconstructions(
    settings: ReconstructSettings,
    image: torch.Tensor,
    *,
    extractor: VGGFeatures | None = None,
    progress: bool = True,
    on_start: Callable[[str], None] | None = None,
    callback: ProgressCallback | None = None,
) -> ReconstructionRun:
    """``vidstyle reconstruct``'s work: ``image`` at ``settings.size``, the network for
    ``settings.layers`` (or ``extractor``), then :func:`reconstruct_all`."""
    image = resize_long_side(image, settings.size)
    check_image_size(*image.shape[-2:], settings.layers, "image at its working size",
                     "use a larger --size or shallower --layers")  # before the network is built
    if extractor is None:
        extractor = load_network(settings.layers, settings.model, seed=settings.optim.seed, progress=progress)
    precision = resolve_precision(settings.model.precision, extractor.mean.device)
    done = reconstruct_all(extractor, image, settings.layers, settings.optim, precision=precision,
                           on_start=on_start, callback=callback)
    return ReconstructionRun(image, done, extractor.weights_label)


def reconstruction_grid(image: torch.Tensor, done: Sequence[Reconstruction], title: str | None = None) -> Grid:
    """Two rows: the input, then the content reconstructions; a blank cell, then the style ones."""
    rows: dict[str, list[Reconstruction]] = {"content": [], "style": []}
    for reconstruction in done:
        rows[reconstruction.kind].append(reconstruction)
    tiles = [[to_uint8(image)] + [to_uint8(r.result.image) for r in rows["content"]],
             [None] + [to_uint8(r.result.image) for r in rows["style"]]]
    labels = [["input"] + [r.short_label for r in rows["content"]], [""] + [r.short_label for r in rows["style"]]]
    return label_grid(tiles, labels, title=title, row_labels=["content", "style"])
