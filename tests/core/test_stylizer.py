"""Optimisation: the loss goes down, early stopping, seeds, multiscale, targets cached."""

import pytest
import torch

from vidstyle.core.optimize import optimize_pixels
from vidstyle.core.stylizer import Stylizer
from vidstyle.settings import ModelSettings, OptimSettings, StyleSettings


def make(extractor, style_image, device="cpu", **settings) -> Stylizer:
    return Stylizer(extractor, [style_image], model=ModelSettings(device=str(device)), **settings)


@pytest.mark.parametrize("optimizer, iters, factor", [("lbfgs", 30, 5.0), ("adam", 30, 2.0)])
def test_optimisation_lowers_the_loss(extractor, content_tensor, style_tensor, optimizer, iters, factor, device):
    stylizer = make(extractor, style_tensor, device, optim=OptimSettings(optimizer=optimizer, check_every=1))
    content_tensor = content_tensor.to(device)
    stylizer.set_targets(content_tensor)
    start = stylizer.loss_terms(content_tensor)["total"].item()
    result = stylizer.stylize(content_tensor, "content", iters)
    assert result.iterations == iters and len(result.losses) == iters
    stylizer.set_targets(content_tensor)
    end = stylizer.loss_terms(result.image)["total"].item()
    # Stated factor: the total loss falls at least 5x (L-BFGS) / 2x (Adam) in 30 iterations.
    assert end * factor < start, (start, end)
    assert result.image.shape == content_tensor.shape
    assert 0 <= result.image.min() and result.image.max() <= 1


def test_tol_stops_early_and_reports_the_count():
    target = torch.full((1, 3, 4, 4), 0.5)

    def loss_fn(x):
        return {"total": (x - target).pow(2).flatten(1).sum(1)}

    # Adam with lr 0.05 reaches the target, then the loss stops falling: stop at a check.
    result = optimize_pixels(loss_fn, torch.zeros(1, 3, 4, 4), 1000, optimizer="adam", lr=0.05,
                             tol=1e-3, check_every=5)
    assert result.stopped_early
    assert result.iterations < 1000 and result.iterations % 5 == 0
    assert len(result.losses) == result.iterations // 5
    full = optimize_pixels(loss_fn, torch.zeros(1, 3, 4, 4), 40, optimizer="adam", lr=0.05, tol=0.0)
    assert full.iterations == 40 and not full.stopped_early


def test_callback_is_called_at_checks():
    calls = []
    optimize_pixels(lambda x: {"total": x.sum(dim=(1, 2, 3))}, torch.rand(1, 3, 2, 2), 7,
                    optimizer="adam", check_every=3, callback=lambda i, loss: calls.append(i))
    assert calls == [3, 6, 7]


def test_random_init_is_seeded(extractor, content_tensor, style_tensor, device):
    def run(seed):
        stylizer = make(extractor, style_tensor, device, optim=OptimSettings(optimizer="adam", init="random", seed=seed))
        return stylizer.stylize(content_tensor, iters=3).image

    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_init_tensor_is_resized(extractor, content_tensor, style_tensor):
    stylizer = make(extractor, style_tensor, optim=OptimSettings(optimizer="adam"))
    init = torch.rand(1, 3, 16, 24)
    start = stylizer.initial_image(content_tensor, init)
    assert start.shape == content_tensor.shape
    assert abs(start.mean().item() - init.mean().item()) < 0.02  # the same picture, upsampled
    result = stylizer.stylize(content_tensor, init, iters=0)
    assert result.iterations == 0 and result.image.shape == content_tensor.shape


def test_multiscale_cold_start(extractor, style_tensor, device):
    content = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    stylizer = make(extractor, style_tensor, device, optim=OptimSettings(optimizer="adam", multiscale=2, check_every=1))
    result = stylizer.stylize(content, "content", 10)
    assert result.image.shape == content.shape
    assert result.iterations == 10 and len(result.losses) == 10
    assert set(stylizer._gram_cache) == {48, 96}  # style targets at both scales


def test_style_grams_are_computed_once_per_size(extractor, content_tensor, style_tensor, monkeypatch):
    stylizer = make(extractor, style_tensor, style=StyleSettings(scale=0.5))
    calls = []
    original = stylizer.loss.grams
    monkeypatch.setattr(stylizer.loss, "grams", lambda f: calls.append(1) or original(f))
    stylizer.set_targets(content_tensor)
    stylizer.set_targets(content_tensor * 0.5)
    assert len(calls) == 1
    assert stylizer.style_long_side(48) == 24


def test_batched_images_are_independent(extractor, content_tensor, style_tensor):
    """With Adam (elementwise), a batch of two equals the two run one by one.

    oneDNN picks convolution kernels by batch size, and their different rounding is amplified
    by Adam's normalised steps; with it off the convolutions are per image and exact.
    """
    stylizer = make(extractor, style_tensor, optim=OptimSettings(optimizer="adam"))
    other = content_tensor.flip(-1)
    with torch.backends.mkldnn.flags(enabled=False):
        batch = stylizer.stylize(torch.cat([content_tensor, other]), "content", 5).image
        one = stylizer.stylize(content_tensor, "content", 5).image
        two = stylizer.stylize(other, "content", 5).image
    assert torch.equal(batch[:1], one) and torch.equal(batch[1:], two)


def test_blend_weights_must_match_styles(extractor, style_tensor):
    with pytest.raises(ValueError, match="2 blend weights given for 1 style"):
        make(extractor, style_tensor, style=StyleSettings(blend=(1.0, 1.0)))


def test_initial_image_refuses_a_path_and_expands_one_image_to_a_batch(extractor, content_tensor, style_tensor):
    stylizer = make(extractor, style_tensor, optim=OptimSettings(optimizer="adam", init="start.png"))
    with pytest.raises(ValueError, match="load_init"):
        stylizer.initial_image(content_tensor, None)  # image files are read at the edge, not here
    batch = torch.cat([content_tensor, content_tensor.flip(-1)])
    start = stylizer.initial_image(batch, torch.rand(1, 3, 16, 24))
    assert start.shape == batch.shape and torch.equal(start[0], start[1])


def test_a_style_too_small_for_the_deepest_layer_is_one_clear_error(extractor, content_tensor, style_tensor):
    """Every path to the style targets checks the size (the blend here; StyleBank goes through grams_of too)."""
    stylizer = make(extractor, style_tensor, style=StyleSettings(size=12))
    with pytest.raises(ValueError, match="style image at its working size.*too small for layer relu5_1"):
        stylizer.set_targets(content_tensor)
    with pytest.raises(ValueError, match="too small for layer relu5_1"):
        stylizer.grams_of(style_tensor, 48)
