"""The pixel optimiser: the box [0, 1] without breaking L-BFGS, the loss of the returned image,
iterate averaging, snapshots and Ctrl-C."""

from __future__ import annotations

import pytest
import torch
from helpers import as_tensor, stripes_image, structured_image

from vidstyle.core.features import VGGFeatures, random_state_dict
from vidstyle.core.layers import LAYER_INDEX
from vidstyle.core.optimize import OptimizationInterrupted, optimize_pixels
from vidstyle.core.stylizer import Stylizer
from vidstyle.settings import LossSettings, OptimSettings


def box_quadratic(side: int = 8, seed: int = 0):
    """``0.5 |A x - b|^2`` over x in [0, 1]^n with a known optimum where the box binds.

    Built from the KKT conditions: pick x* with a third of its entries at 0, a third at 1, and
    multipliers ``lam`` (> 0 at 0, < 0 at 1, 0 inside); ``b = A x* - A^-T lam`` makes
    ``grad f(x*) = A^T (A x* - b) = lam``, so x* is the (unique, A invertible) minimiser.
    """
    g = torch.Generator().manual_seed(seed)
    n = 3 * side * side
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    a = q * torch.logspace(0, 1.5, n, dtype=torch.float64)  # condition number ~32
    x_star = torch.rand(n, generator=g, dtype=torch.float64)
    kind = torch.arange(n) % 3
    x_star[kind == 0], x_star[kind == 1] = 0.0, 1.0
    lam = torch.rand(n, generator=g, dtype=torch.float64) + 0.1
    lam[kind == 1] *= -1
    lam[kind == 2] = 0
    b = a @ x_star - torch.linalg.solve(a.T, lam)
    f_star = 0.5 * float((torch.linalg.solve(a.T, lam) ** 2).sum())
    a32, b32 = a.float(), b.float()

    def loss_fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
        r = x.reshape(x.shape[0], -1) @ a32.T - b32
        return {"total": 0.5 * (r**2).sum(1)}

    return loss_fn, f_star, x_star.float().reshape(1, 3, side, side)


def test_default_optimizer_reaches_a_box_constrained_optimum():
    loss_fn, f_star, x_star = box_quadratic()
    start = torch.full_like(x_star, 0.5)
    assert float(loss_fn(start)["total"]) > 20 * f_star  # a real distance to cover
    result = optimize_pixels(loss_fn, start, 200, optimizer=OptimSettings().optimizer)
    assert float(result.terms["total"]) <= 1.01 * f_star
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert (result.image - x_star).abs().max() < 0.05


@pytest.fixture(scope="module")
def small_problem():
    """A 64x64 style problem on a tiny seeded random VGG (to relu2_1)."""
    layers = ("relu1_1", "relu2_1")
    net = VGGFeatures(layers, random_state_dict(max(LAYER_INDEX[n] for n in layers) + 1, seed=0))
    loss = LossSettings(content_layer="relu2_1", style_layers=tuple((n, 1.0) for n in layers))
    stylizer = Stylizer(net, [as_tensor(stripes_image(64, 64))], loss=loss, model=_cpu())
    content = as_tensor(structured_image(64, 64))
    stylizer.set_targets(content)
    return stylizer, content


def _cpu():
    from vidstyle.settings import ModelSettings

    return ModelSettings(device="cpu", precision="fp32")


def test_lbfgs_loss_never_rises_and_beats_adam_on_a_style_problem(small_problem):
    stylizer, content = small_problem
    losses: list[float] = []
    lbfgs = optimize_pixels(stylizer.loss_terms, content, 20, optimizer="lbfgs", check_every=1,
                            callback=lambda i, loss: losses.append(loss))
    adam = optimize_pixels(stylizer.loss_terms, content, 20, optimizer="adam", lr=0.02)
    assert len(losses) == 20
    assert all(later <= 1.01 * earlier for earlier, later in zip(losses, losses[1:]))
    assert losses[-1] < 0.5 * losses[0]
    assert lbfgs.terms["total"] <= adam.terms["total"]
    assert lbfgs.image.min() >= 0 and lbfgs.image.max() <= 1


@pytest.mark.parametrize("optimizer, average", [("lbfgs", 0.0), ("adam", 0.0), ("lbfgs", 0.9)])
def test_reported_loss_is_the_loss_of_the_returned_image(small_problem, optimizer, average):
    stylizer, content = small_problem
    result = optimize_pixels(stylizer.loss_terms, content, 7, optimizer=optimizer,
                             lr=1.0 if optimizer == "lbfgs" else 0.02, check_every=3, average=average)
    recomputed = {name: float(value.sum()) for name, value in stylizer.loss_terms(result.image).items()}
    assert result.losses[-1] == pytest.approx(recomputed["total"], rel=1e-5)
    for name, value in recomputed.items():
        assert result.terms[name] == pytest.approx(value, rel=1e-5, abs=1e-8)


def test_stylizer_result_terms_match_its_image(small_problem):
    stylizer, content = small_problem
    result = stylizer.stylize(content, "content", 5)
    recomputed = float(stylizer.loss_terms(result.image)["total"].sum())
    assert result.terms["total"] == pytest.approx(recomputed, rel=1e-5)


def test_iterate_average_is_the_bias_corrected_ema():
    """Adam on a linear loss moves every pixel by exactly lr per step, so the iterates and
    their exponential moving average are known: x_k = 0.5 - k lr, average = sum d^(n-k) x_k (1-d) / (1-d^n)."""
    lr, n, decay = 0.01, 6, 0.8

    def loss_fn(x):
        return {"total": x.flatten(1).sum(1)}

    start = torch.full((1, 3, 4, 4), 0.5)
    plain = optimize_pixels(loss_fn, start, n, optimizer="adam", lr=lr)
    averaged = optimize_pixels(loss_fn, start, n, optimizer="adam", lr=lr, average=decay)
    iterates = [0.5 - k * lr for k in range(1, n + 1)]
    expected = sum(decay ** (n - k) * (1 - decay) * x for k, x in enumerate(iterates, 1)) / (1 - decay**n)
    assert plain.image.mean().item() == pytest.approx(iterates[-1], abs=1e-5)
    assert torch.allclose(averaged.image, torch.full_like(start, expected), atol=1e-5)
    assert averaged.terms["total"] == pytest.approx(float(averaged.image.sum()), rel=1e-5)
    with pytest.raises(ValueError, match="decay"):
        optimize_pixels(loss_fn, start, 2, optimizer="adam", average=1.0)


def test_snapshots_every_n_iterations(small_problem):
    stylizer, content = small_problem
    seen: list[tuple[int, torch.Tensor]] = []
    result = optimize_pixels(stylizer.loss_terms, content, 7, snapshot=lambda i, image: seen.append((i, image)),
                             snapshot_every=3)
    assert [i for i, _ in seen] == [3, 6]
    assert all(image.shape == content.shape for _, image in seen)
    assert not torch.equal(seen[0][1], seen[1][1])
    last = []
    again = optimize_pixels(stylizer.loss_terms, content, 6, snapshot=lambda i, image: last.append(image),
                            snapshot_every=6)
    assert torch.equal(last[-1], again.image) and result.iterations == 7


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_keyboard_interrupt_carries_the_image_so_far(small_problem, optimizer):
    stylizer, content = small_problem

    def stop_at_4(iteration, loss):
        if iteration == 4:
            raise KeyboardInterrupt

    with pytest.raises(OptimizationInterrupted) as caught:
        optimize_pixels(stylizer.loss_terms, content, 50, optimizer=optimizer, check_every=2, callback=stop_at_4)
    assert caught.value.iterations == 4
    assert caught.value.image.shape == content.shape
    assert not torch.equal(caught.value.image, content)  # it moved
    assert isinstance(caught.value, KeyboardInterrupt)  # callers that only know Ctrl-C still see it
