"""The one function that builds a Stylizer, and the network it runs on.

Every command, the webcam, Ray tasks and ``RandomStylize`` build their Stylizers here, from
their settings object *whole* (anything with ``style``, ``loss``, ``optim`` and ``model``), so
no option can be dropped on the way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import torch

from ..settings import LossSettings, ModelSettings, OptimSettings, StyleSettings
from .features import VGGFeatures, load_vgg_features, resolve_state_dict
from .layers import network_depth
from .runtime import resolve_device
from .stylizer import Stylizer

Weights = tuple[dict[str, torch.Tensor], str]  # (features state dict, label saying what they are)


class StylizeSettings(Protocol):
    """What a Stylizer is built from: ImageSettings, VideoSettings, WebcamSettings, ... all have these."""

    style: StyleSettings
    loss: LossSettings
    optim: OptimSettings
    model: ModelSettings


def network_layers(loss: LossSettings) -> tuple[str, ...]:
    """Every layer the loss reads, content first."""
    return tuple(dict.fromkeys([*(name for name, _ in loss.content_weights()), *(name for name, _ in loss.style_layers)]))


def resolve_weights(settings: StylizeSettings, *, progress: bool = True) -> Weights:
    """The features state dict for ``--weights`` and its label, resolved once (e.g. on a Ray
    driver, so every worker uses the same weights even where ImageNet weights are missing)."""
    depth = network_depth(network_layers(settings.loss))
    return resolve_state_dict(settings.model.weights, depth, settings.optim.seed, progress=progress)


def load_network(layers: Iterable[str], model: ModelSettings, *, seed: int, weights: Weights | None = None,
                 progress: bool = True) -> VGGFeatures:
    """The frozen VGG19 for ``layers`` on ``model.device``, with ``model.weights`` (or the
    already resolved ``weights``); its ``weights_label`` says which weights it holds."""
    device = resolve_device(model.device)
    if weights is None:
        extractor, _ = load_vgg_features(layers, model.weights, pooling=model.pooling, seed=seed, device=device,
                                         progress=progress)
        return extractor
    state, label = weights
    extractor = VGGFeatures(layers, state, pooling=model.pooling)
    extractor.weights_label = label
    return extractor.to(device)


def build_stylizer(
    settings: StylizeSettings,
    styles: Sequence[torch.Tensor],
    *,
    extractor: VGGFeatures | None = None,
    weights: Weights | None = None,
    progress: bool = True,
) -> Stylizer:
    """A :class:`~vidstyle.core.stylizer.Stylizer` for ``styles`` with every setting of ``settings``.

    The network is ``extractor`` when given (shared between Stylizers, or a tiny one in tests),
    else loaded: from ``weights`` (an already resolved state dict) or ``settings.model.weights``.
    """
    if extractor is None:
        extractor = load_network(network_layers(settings.loss), settings.model, seed=settings.optim.seed,
                                 weights=weights, progress=progress)
    return Stylizer(extractor, styles, loss=settings.loss, optim=settings.optim, style=settings.style,
                    model=settings.model)
