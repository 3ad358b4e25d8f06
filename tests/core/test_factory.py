"""The one factory: a Stylizer from a settings object whole, on a loaded, resolved or shared network."""

from __future__ import annotations

import dataclasses

import torch
from helpers import as_tensor, stripes_image

from vidstyle.core.factory import build_stylizer, load_network, network_layers, resolve_weights
from vidstyle.settings import ImageSettings, LossSettings, ModelSettings, OptimSettings, StyleSettings, WebcamSettings

SMALL = LossSettings(content_layer="relu2_1", style_layers=(("relu1_1", 1.0), ("relu2_1", 0.5)), alpha=7.0)


def test_every_setting_of_the_settings_object_reaches_the_stylizer():
    settings = ImageSettings(
        loss=SMALL, optim=OptimSettings(optimizer="adam", iters=5, seed=3),
        style=StyleSettings(scale=0.5, blend=(1.0, 2.0)),
        model=ModelSettings(weights="random", device="cpu", precision="bf16", pooling="avg", compile=True,
                            cuda_graphs=True),
    )
    style = as_tensor(stripes_image(24, 24))
    stylizer = build_stylizer(settings, [style, style.flip(-1)], progress=False)
    assert (stylizer.compile, stylizer.cuda_graphs, stylizer.precision) == (True, True, "bf16")
    assert stylizer.optim == settings.optim and stylizer.style_settings == settings.style
    assert stylizer.loss.alpha == 7.0 and stylizer.loss.layers == ("relu2_1", "relu1_1")
    assert stylizer.extractor.pooling == "avg" and stylizer.extractor.layers == ("relu2_1", "relu1_1")
    assert stylizer.weights_label == "random (seed 3)" and stylizer.blend == (1.0, 2.0)


def test_resolved_weights_and_a_shared_network_give_the_same_features():
    settings = WebcamSettings(loss=SMALL, model=ModelSettings(weights="random", device="cpu"))
    style = as_tensor(stripes_image(24, 24))
    loaded = build_stylizer(settings, [style], progress=False)
    resolved = build_stylizer(settings, [style], weights=resolve_weights(settings, progress=False))
    shared = build_stylizer(dataclasses.replace(settings, loss=dataclasses.replace(SMALL, alpha=1.0)), [style],
                            extractor=loaded.extractor)
    assert shared.extractor is loaded.extractor and shared.loss.alpha == 1.0
    assert resolved.weights_label == loaded.weights_label == shared.weights_label
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    for name, value in loaded.features(image).items():
        assert torch.equal(value, resolved.features(image)[name])


def test_load_network_stops_at_the_deepest_layer_asked_for():
    net = load_network(network_layers(SMALL), ModelSettings(weights="random", device="cpu"), seed=0, progress=False)
    assert len(net.body) == 7 and net.weights_label == "random (seed 0)"  # conv1_1 .. relu2_1
