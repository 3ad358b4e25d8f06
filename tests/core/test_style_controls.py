"""The style-loss controls: the w2 style loss, style masks, several content layers, normalised
gradients; against values computed by hand and autograd against finite differences."""

import math

import pytest
import torch
from helpers import as_tensor, stripes_image, structured_image

from vidstyle.core.features import VGGFeatures, random_state_dict
from vidstyle.core.layers import LAYER_INDEX
from vidstyle.core.losses import (
    StyleTransferLoss,
    content_loss,
    gaussian_of,
    gram_matrix,
    moment_matrix,
    normalize_gradient,
    psd_sqrt,
    style_loss,
    w2_style_loss,
    w2_target,
    wasserstein2_squared,
)
from vidstyle.core.stylizer import Stylizer, build_loss
from vidstyle.core.tensors import resize_long_side
from vidstyle.settings import LossSettings, ModelSettings, StyleSettings

# One image, 2 channels, 2x2 pixels: F = [[1, 2, 3, 4], [0, 1, 0, 1]] (as in test_losses.py)
F2 = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])
SHALLOW = ("relu1_1", "relu2_1", "relu3_1")
CPU = ModelSettings(device="cpu")


@pytest.fixture(scope="module")
def shallow():
    """A seeded random VGG to relu3_2 (every layer these tests read)."""
    layers = (*SHALLOW, "relu3_2")
    return VGGFeatures(layers, random_state_dict(max(LAYER_INDEX[n] for n in layers) + 1, seed=0))


# -- w2 ------------------------------------------------------------------------------------


def w2(mean, cov, target_mean, target_cov):
    return wasserstein2_squared(mean, cov, target_mean, target_cov, psd_sqrt(target_cov)).item()


def test_w2_of_diagonal_gaussians_by_hand():
    # |m1 - m2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2 = (1 + 4) + (2 - 1)^2 + (3 - 1)^2 = 10
    value = w2(torch.tensor([1.0, 2.0]), torch.diag(torch.tensor([4.0, 9.0])), torch.zeros(2), torch.eye(2))
    assert value == pytest.approx(10.0, rel=1e-6)
    assert w2(torch.zeros(2), torch.eye(2), torch.zeros(2), torch.eye(2)) == pytest.approx(0.0, abs=1e-6)


def test_w2_of_non_commuting_covariances_by_hand():
    # S = [[2, 1], [1, 2]], S_t = diag(1, 4): S_t^1/2 S S_t^1/2 = [[2, 2], [2, 8]] = M. For a 2x2
    # PSD M, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) = sqrt(10 + 2 sqrt(12)). Means 0 and (1, 1).
    cov, target = torch.tensor([[2.0, 1.0], [1.0, 2.0]]), torch.diag(torch.tensor([1.0, 4.0]))
    expected = 2 + (4 + 5) - 2 * math.sqrt(10 + 2 * math.sqrt(12))  # = 2.771...
    assert w2(torch.zeros(2), cov, torch.ones(2), target) == pytest.approx(expected, rel=1e-6)
    # W2 is symmetric in its two Gaussians
    assert w2(torch.ones(2), target, torch.zeros(2), cov) == pytest.approx(expected, rel=1e-5)


def test_psd_sqrt_squares_back_and_clips_rounding_negatives():
    a = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    cov = a @ a.transpose(1, 2)  # rank 3 of 5: zero eigenvalues, some negative after rounding
    root = psd_sqrt(cov)
    assert torch.allclose(root @ root, cov, atol=1e-5)
    assert torch.allclose(root, root.transpose(1, 2), atol=1e-6) and not root.isnan().any()


def test_moment_matrix_gives_mean_and_covariance_by_hand():
    mean, cov = gaussian_of(moment_matrix(F2), eps=0.0)
    # channel means 2.5 and 0.5; covariance = the centered Gram matrix [[1.25, 0.25], [0.25, 0.25]]
    assert torch.allclose(mean, torch.tensor([[2.5, 0.5]]))
    assert torch.allclose(cov, torch.tensor([[[1.25, 0.25], [0.25, 0.25]]]))
    assert torch.allclose(moment_matrix(F2)[:, -1, -1], torch.ones(1))


def test_w2_style_loss_is_zero_on_its_own_target_and_divides_by_channels():
    features = torch.rand(1, 4, 5, 5, generator=torch.Generator().manual_seed(1))
    moments = moment_matrix(features)
    assert w2_style_loss(moments, w2_target(moments)).item() == pytest.approx(0.0, abs=1e-5)
    shifted = moment_matrix(features + 1.0)  # every channel's mean + 1, covariance unchanged
    assert w2_style_loss(shifted, w2_target(moments)).item() == pytest.approx(1.0, rel=1e-4)  # |(1,1,1,1)|^2 / 4


def test_w2_style_loss_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(3)
    target = w2_target(moment_matrix(torch.rand(1, 3, 4, 4, generator=g, dtype=torch.float64)))
    features = torch.rand(1, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: w2_style_loss(moment_matrix(f), target), (features,))


def test_w2_blends_as_a_mixture_of_the_styles():
    # Blended moment matrices are the moments of the union of both styles' feature positions.
    g = torch.Generator().manual_seed(4)
    a, b = torch.rand(1, 3, 4, 4, generator=g), torch.rand(1, 3, 4, 4, generator=g)
    union = torch.cat([a, b], dim=3)
    assert torch.allclose(0.5 * moment_matrix(a) + 0.5 * moment_matrix(b), moment_matrix(union), atol=1e-6)


def test_stylizer_computes_w2_targets_once_per_size(shallow, content_tensor, style_tensor, monkeypatch):
    loss = LossSettings(content_layer="relu3_1", style_layers=tuple((n, 1.0) for n in SHALLOW), style_loss="w2")
    stylizer = Stylizer(shallow, [style_tensor], loss=loss, model=CPU)
    calls = []
    original = stylizer.loss.style_targets
    monkeypatch.setattr(stylizer.loss, "style_targets", lambda stats: calls.append(1) or original(stats))
    stylizer.set_targets(content_tensor)
    stylizer.set_targets(content_tensor * 0.5)
    assert len(calls) == 1
    mean, cov, root = stylizer.loss.export_targets().style["relu2_1"]
    assert mean.shape == (1, 128) and cov.shape == root.shape == (1, 128, 128)
    assert torch.allclose(root @ root, cov, atol=1e-4)
    result = stylizer.stylize(content_tensor, iters=3)
    assert math.isfinite(result.losses[-1]) and result.terms["style/relu3_1"] >= 0


# -- masks ---------------------------------------------------------------------------------


def test_masked_gram_by_hand():
    left = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])  # the left column: (1, 0) and (3, 0)
    assert torch.allclose(gram_matrix(F2, mask=left), torch.tensor([[[[5.0, 0.0], [0.0, 0.0]]]]))  # [[10,0],[0,0]] / 2
    soft = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]]])  # (1, 0) weight 1, (2, 1) weight 0.5
    expected = torch.tensor([[1 + 0.5 * 4, 0.5 * 2], [0.5 * 2, 0.5 * 1]]) / 1.5
    assert torch.allclose(gram_matrix(F2, mask=soft)[0, 0], expected)
    both = torch.cat([left, torch.ones(1, 1, 2, 2)], dim=1)  # two regions; the second is everything
    grams = gram_matrix(F2, mask=both)
    assert grams.shape == (1, 2, 2, 2) and torch.allclose(grams[:, 1], gram_matrix(F2))
    assert torch.allclose(gram_matrix(F2, centered=True, mask=torch.ones(1, 1, 2, 2))[:, 0],
                          gram_matrix(F2, centered=True))


def halves(height, width):
    left = torch.zeros(1, 1, height, width)
    left[..., : width // 2] = 1.0
    return torch.cat([left, 1 - left], dim=1)


@pytest.mark.parametrize("kind", ["gram", "w2"])
def test_a_regions_style_term_sees_only_its_region(shallow, kind):
    """Two styles, complementary masks: perturbing pixels of region B far from the border leaves
    region A's term unchanged and changes B's."""
    image = as_tensor(structured_image(64, 64))
    masks = halves(64, 64)
    g = torch.Generator().manual_seed(5)
    perturbed = image.clone()
    perturbed[..., 48:] = torch.rand(1, 3, 64, 16, generator=g)  # region B is columns 32..63
    style_a, style_b = as_tensor(stripes_image(32, 32)), as_tensor(stripes_image(32, 32, seed=4))
    loss = StyleTransferLoss("relu3_1", {n: 1.0 for n in SHALLOW}, 1.0, 0.0, style_loss=kind)
    targets = {n: torch.stack([loss.style_stats(shallow(style_a))[n], loss.style_stats(shallow(style_b))[n]], dim=1)
               for n in SHALLOW}
    targets = loss.style_targets(targets)
    for name in SHALLOW:
        per_region = []
        for x in (image, perturbed):
            features = shallow(x)[name]
            stats = loss.style_stats({name: features}, masks)[name]
            if kind == "w2":
                per_region.append(w2_style_loss(stats, targets[name]))
            else:
                per_region.append(style_loss(stats, targets[name][0]))
        before, after = per_region
        assert before.shape == (1, 2)
        assert after[0, 0].item() == pytest.approx(before[0, 0].item(), rel=1e-5), name  # region A unchanged
        assert abs(after[0, 1].item() - before[0, 1].item()) > 1e-3 * abs(before[0, 1].item()), name


def test_masked_stylizer_terms_are_the_area_weighted_sum_of_the_regions_terms(shallow):
    content = as_tensor(structured_image(32, 48))
    style_a, style_b = as_tensor(stripes_image(32, 32)), as_tensor(stripes_image(24, 40, seed=4))
    loss = LossSettings(content_layer="relu3_1", style_layers=tuple((n, 1.0) for n in SHALLOW), beta=0.0)
    stylizer = Stylizer(shallow, [style_a, style_b], loss=loss, model=CPU)
    stylizer.set_targets(content, masks=halves(32, 48))
    terms = stylizer.loss_terms(content)
    features = shallow(content)
    full = halves(32, 48)
    for name in SHALLOW:
        # each half weighs half: a region's term times its share of the frame
        expected = sum(0.5 * style_loss(gram_matrix(features[name], mask=full[:, r:r + 1])[:, 0],
                                        gram_matrix(shallow(resize_long_side(s, 48))[name]))  # styles at content size
                       for r, s in enumerate((style_a, style_b)))
        assert terms[f"style/{name}"].item() == pytest.approx(expected.item(), rel=1e-4)
    with pytest.raises(ValueError, match="3 style masks for 2 style images"):
        stylizer.set_targets(content, masks=torch.ones(1, 3, 8, 8))
    with pytest.raises(ValueError, match="exclude each other"):
        Stylizer(shallow, [style_a, style_b], loss=loss, model=CPU,
                 style=StyleSettings(masks=("a.png", "b.png"), blend=(1.0, 1.0)))


def test_an_all_white_mask_equals_no_mask_and_empty_regions_add_nothing(shallow):
    content = as_tensor(structured_image(32, 48))
    style = as_tensor(stripes_image(32, 32))
    loss = LossSettings(content_layer="relu3_1", style_layers=tuple((n, 1.0) for n in SHALLOW), beta=0.0)
    plain = Stylizer(shallow, [style], loss=loss, model=CPU)
    plain.set_targets(content)
    masked = Stylizer(shallow, [style, style], loss=loss, model=CPU)
    white, black = torch.ones(1, 1, 32, 48), torch.zeros(1, 1, 32, 48)
    masked.set_targets(content, masks=torch.cat([white, black], dim=1))
    unmasked_terms, masked_terms = plain.loss_terms(content), masked.loss_terms(content)
    for name in SHALLOW:
        assert masked_terms[f"style/{name}"].item() == pytest.approx(unmasked_terms[f"style/{name}"].item(), rel=1e-4)


# -- content layers ------------------------------------------------------------------------


def test_several_content_layers_give_the_weighted_sum_by_hand():
    loss = StyleTransferLoss({"a": 1.0, "b": 0.5}, {"a": 1.0}, alpha=0.0, beta=0.0)
    features = {"a": torch.ones(1, 1, 2, 2), "b": torch.full((1, 2, 1, 1), 3.0)}
    targets = {"a": torch.zeros(1, 1, 2, 2), "b": torch.ones(1, 2, 1, 1)}
    loss.load_targets(loss.make_targets(targets, loss.style_stats(features)))
    terms = loss(features, torch.zeros(1, 3, 4, 4))
    # a: mean((1 - 0)^2) = 1; b: mean((3 - 1)^2) = 4; total 1 * 1 + 0.5 * 4 = 3
    assert terms["content/a"].item() == 1.0 and terms["content/b"].item() == 4.0
    assert terms["content"].item() == 3.0 and terms["total"].item() == 3.0


def test_content_layers_setting_reaches_the_loss_and_the_network(shallow, content_tensor, style_tensor):
    settings = LossSettings(content_layers=(("relu3_2", 1.0), ("relu2_1", 0.5)), style_layers=(("relu1_1", 1.0),),
                            beta=0.0)
    assert build_loss(settings).content_weights == {"relu3_2": 1.0, "relu2_1": 0.5}
    assert build_loss(LossSettings()).content_weights == {"relu4_2": 1.0}
    stylizer = Stylizer(shallow, [style_tensor], loss=settings, model=CPU)
    stylizer.set_targets(content_tensor)
    image = content_tensor.flip(-1)
    terms = stylizer.loss_terms(image)
    f, c = shallow(image), shallow(content_tensor)
    expected = content_loss(f["relu3_2"], c["relu3_2"]) + 0.5 * content_loss(f["relu2_1"], c["relu2_1"])
    assert terms["content"].item() == pytest.approx(expected.item(), rel=1e-5)


# -- normalised gradients ------------------------------------------------------------------


def test_normalize_gradient_is_the_identity_forward_and_unit_l1_backward():
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(6), requires_grad=True)
    y = normalize_gradient(x, strength=2.5)
    assert torch.equal(y, x)
    weights = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(7))
    weights[1] *= 1000  # images of very different scale: each is normalised on its own
    (y * weights).sum().mul(7.0).backward()  # any positive factor on the way cancels
    expected = weights / weights.abs().flatten(1).sum(1).view(2, 1, 1, 1) * 2.5
    assert torch.allclose(x.grad, expected, rtol=1e-5, atol=1e-9)
    assert torch.allclose(x.grad.abs().flatten(1).sum(1), torch.full((2,), 2.5))


def test_normalized_gradients_keep_the_values_and_give_each_layer_its_weight(shallow, content_tensor, style_tensor):
    kwargs = dict(content_layer="relu3_1", style_layers=(("relu1_1", 1.0), ("relu2_1", 0.25)), alpha=3.0, beta=0.0)
    runs = {}
    for normalize in (False, True):
        stylizer = Stylizer(shallow, [style_tensor], loss=LossSettings(**kwargs, normalize_gradients=normalize),
                            model=CPU)
        stylizer.set_targets(content_tensor)
        features = {k: v.detach().requires_grad_() for k, v in shallow(content_tensor.flip(-1)).items()}
        terms = stylizer.loss(features, content_tensor)
        terms["total"].backward()
        runs[normalize] = ({k: v.item() for k, v in terms.items()},
                           {k: features[k].grad.abs().sum().item() for k in ("relu1_1", "relu2_1", "relu3_1")})
    assert runs[True][0] == pytest.approx(runs[False][0], rel=1e-6)  # forward values unchanged
    norms = runs[True][1]  # each layer is read by one term: its gradient's L1 norm is that term's weight
    assert norms["relu3_1"] == pytest.approx(1.0, rel=1e-4)
    assert norms["relu1_1"] == pytest.approx(3.0, rel=1e-4) and norms["relu2_1"] == pytest.approx(0.75, rel=1e-4)
    assert runs[False][1]["relu1_1"] != pytest.approx(3.0, rel=1e-2)  # without it the norms are the layers' own
