"""Losses against values computed by hand, and autograd against finite differences."""

import pytest
import torch

from vidstyle.core.losses import (
    StyleTransferLoss,
    blend_grams,
    content_loss,
    gram_matrix,
    style_loss,
    temporal_loss,
    total_variation,
)

# One image, 2 channels, 2x2 pixels: F = [[1, 2, 3, 4], [0, 1, 0, 1]]
F2 = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])


def test_gram_plain_by_hand():
    # F F^T = [[1+4+9+16, 0+2+0+4], [6, 0+1+0+1]] = [[30, 6], [6, 2]]; / (H W = 4)
    expected = torch.tensor([[[7.5, 1.5], [1.5, 0.5]]])
    assert torch.allclose(gram_matrix(F2), expected)


def test_gram_centered_by_hand():
    # channel means 2.5 and 0.5: rows [-1.5,-0.5,0.5,1.5], [-0.5,0.5,-0.5,0.5]
    # sums of products: [[5, 1], [1, 1]] / 4
    expected = torch.tensor([[[1.25, 0.25], [0.25, 0.25]]])
    assert torch.allclose(gram_matrix(F2, centered=True), expected)


def test_gram_is_symmetric_positive_semidefinite():
    features = torch.randn(3, 5, 4, 6, generator=torch.Generator().manual_seed(0))
    for centered in (False, True):
        gram = gram_matrix(features, centered)
        assert gram.shape == (3, 5, 5)
        assert torch.allclose(gram, gram.transpose(1, 2), atol=1e-6)
        assert torch.linalg.eigvalsh(gram).min() > -1e-5


def test_content_loss_by_hand():
    target = torch.zeros_like(F2)
    # sum of squares = 1+4+9+16+0+1+0+1 = 32, / (C H W = 8) = 4
    assert content_loss(F2, target).tolist() == [4.0]
    assert content_loss(F2, F2).tolist() == [0.0]


def test_style_loss_by_hand():
    gram = torch.tensor([[[1.0, 2.0], [2.0, 3.0]]])
    target = torch.tensor([[[0.0, 2.0], [1.0, 1.0]]])
    # differences 1, 0, 1, 2 -> squares sum 6, / C^2 = 4 -> 1.5
    assert style_loss(gram, target).tolist() == [1.5]


def test_style_loss_is_per_image_with_broadcast_target():
    grams = torch.stack([torch.eye(2), 2 * torch.eye(2)])
    target = torch.eye(2)[None]
    assert style_loss(grams, target).tolist() == [0.0, 0.5]


IMAGE = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]]])  # 1 channel, 2x3


def test_tv_l2_by_hand():
    # dx: [1, 2], [0, 0] -> squares mean (1+4+0+0)/4 = 1.25; dy: [2, 1, -1] -> (4+1+1)/3 = 2
    assert total_variation(IMAGE, "l2").item() == pytest.approx(3.25)


def test_tv_l1_by_hand():
    # |dx| mean (1+2+0+0)/4 = 0.75; |dy| mean (2+1+1)/3 = 4/3
    assert total_variation(IMAGE, "l1").item() == pytest.approx(0.75 + 4 / 3)


def test_tv_pow_by_hand():
    # pixels with both differences: (0,0): dx=1, dy=2 -> 5; (0,1): dx=2, dy=1 -> 5
    value = total_variation(IMAGE, "pow", gamma=0.5, eps=0.0).item()
    assert value == pytest.approx(5 ** 0.5)
    value = total_variation(IMAGE, "pow", gamma=1.5, eps=0.0).item()
    assert value == pytest.approx(5 ** 1.5)


def test_tv_of_constant_image_is_zero():
    flat = torch.full((2, 3, 5, 7), 0.3)
    for kind in ("l2", "l1"):
        assert total_variation(flat, kind).tolist() == [0.0, 0.0]
    assert total_variation(flat, "pow", eps=0.0).tolist() == [0.0, 0.0]


def test_tv_unknown_kind():
    with pytest.raises(ValueError, match="l2, l1, pow"):
        total_variation(IMAGE, "l3")


def test_temporal_loss_by_hand():
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    prev = torch.zeros_like(x)
    mask = torch.tensor([[[[1.0, 0.0], [0.5, 0.0]]]])
    # (1*1 + 0*4 + 0.5*9 + 0*16) / 4 = 1.375
    assert temporal_loss(x, prev, mask).item() == pytest.approx(1.375)


def test_blend_grams():
    a, b = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    assert torch.equal(blend_grams([a, b], [1, 0]), a)
    assert torch.allclose(blend_grams([a, b], [0.5, 0.5]), 0.5 * a)
    assert torch.allclose(blend_grams([a, b], [3, 1]), 0.75 * a)
    with pytest.raises(ValueError):
        blend_grams([a, b], [0, 0])
    with pytest.raises(ValueError):
        blend_grams([a, b], [1, 2, 3])


def test_total_is_the_weighted_sum_of_terms():
    loss = StyleTransferLoss("a", {"a": 2.0, "b": 0.5}, alpha=10.0, beta=3.0, tv="l1", temporal_weight=7.0)
    g = torch.Generator().manual_seed(1)
    target = {"a": torch.rand(1, 2, 3, 3, generator=g), "b": torch.rand(1, 4, 2, 2, generator=g)}
    feats = {"a": torch.rand(1, 2, 3, 3, generator=g), "b": torch.rand(1, 4, 2, 2, generator=g)}
    image = torch.rand(1, 3, 4, 4, generator=g)
    loss.load_targets(loss.make_targets(target, loss.grams(target), (torch.zeros_like(image), torch.ones(1, 1, 4, 4))))
    terms = loss(feats, image)
    expected = (terms["content"] + 10 * (2 * terms["style/a"] + 0.5 * terms["style/b"])
                + 3 * terms["tv"] + 7 * terms["temporal"])
    assert torch.allclose(terms["total"], expected)
    assert terms["temporal"].item() == pytest.approx(image.pow(2).mean().item())
    assert "alpha=10" in repr(loss)


def test_total_loss_gradient_matches_finite_differences(extractor):
    """Autograd through VGG, Gram, style, content and all TV kinds vs finite differences (float64)."""
    net = extractor.double()
    try:
        g = torch.Generator().manual_seed(0)
        content = torch.rand(1, 3, 16, 16, generator=g, dtype=torch.float64)
        style = torch.rand(1, 3, 16, 16, generator=g, dtype=torch.float64)
        for tv, gram in (("l2", "plain"), ("pow", "centered"), ("l1", "plain")):
            loss = StyleTransferLoss("relu4_2", {"relu1_1": 1.0, "relu3_1": 0.5, "relu5_1": 1.0},
                                     alpha=10.0, beta=2.0, gram=gram, tv=tv, tv_gamma=0.75)
            grams = {k: v.double() for k, v in loss.grams(net(style)).items()}
            loss.load_targets(loss.make_targets(net(content), grams))
            x = torch.rand(1, 3, 16, 16, generator=g, dtype=torch.float64, requires_grad=True)

            def total(image):
                return loss(net(image), image)["total"].sum()

            # gradcheck compares every analytical partial derivative with central differences.
            assert torch.autograd.gradcheck(total, (x,), eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True)
    finally:
        extractor.float()


def test_targets_are_loaded_whole_exported_and_can_be_passed_instead():
    loss = StyleTransferLoss("a", {"a": 1.0}, alpha=1.0, beta=0.0, temporal_weight=1.0)
    g = torch.Generator().manual_seed(2)
    features = {"a": torch.rand(1, 2, 3, 3, generator=g)}
    image = torch.rand(1, 3, 4, 4, generator=g)
    held = loss.make_targets({"a": features["a"].clone()}, loss.grams(features), (image.clone(), None))
    assert torch.equal(held.temporal[1], torch.ones(1, 1, 4, 4))  # no mask: every pixel counts
    loss.load_targets(held)
    assert loss.export_targets() is held
    other = held.clone()
    assert other.layout() == held.layout() and all(a is not b for a, b in zip(other.tensors(), held.tensors()))
    with torch.no_grad():
        other.content["a"].add_(1.0)
    passed = loss(features, image, other)  # evaluated against `other`, the held targets untouched
    assert passed["content"].item() == pytest.approx(1.0)
    assert loss(features, image)["content"].item() == 0.0 and loss.export_targets() is held
    held.copy_(other)  # in place: the same tensors, new values
    assert loss(features, image)["content"].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="layout"):
        held.copy_(loss.make_targets(features, loss.grams(features)))  # no temporal target: another layout


def test_a_temporal_term_without_weight_keeps_no_target():
    loss = StyleTransferLoss("a", {"a": 1.0}, alpha=1.0, beta=0.0, temporal_weight=0.0)
    features = {"a": torch.rand(1, 2, 3, 3)}
    targets = loss.make_targets(features, loss.grams(features), (torch.rand(1, 3, 4, 4), None))
    assert targets.temporal is None
    loss.load_targets(targets)
    assert "temporal" not in loss(features, torch.rand(1, 3, 4, 4))


def test_tv_of_a_picture_depends_on_its_resolution_noise_does_not():
    """What --help and the README say about --beta: a smooth picture sampled twice as finely has
    half the neighbour differences, so mean l2 TV falls ~4x and l1 ~2x; pixel noise keeps its TV."""
    from vidstyle.core.losses import total_variation

    def ramp(n):  # a horizontal ramp 0..1 over n pixels: dx = 1 / (n - 1), dy = 0
        return torch.linspace(0, 1, n).expand(1, 3, n, n).contiguous()

    small, large = ramp(32), ramp(64)
    assert float(total_variation(small, "l2")) == pytest.approx(1 / 31**2, rel=1e-4)
    assert float(total_variation(small, "l2") / total_variation(large, "l2")) == pytest.approx((63 / 31) ** 2, rel=1e-4)
    assert float(total_variation(small, "l1") / total_variation(large, "l1")) == pytest.approx(63 / 31, rel=1e-4)
    g = torch.Generator().manual_seed(0)
    noise_small, noise_large = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 64, 64, generator=g)
    assert float(total_variation(noise_small, "l2") / total_variation(noise_large, "l2")) == pytest.approx(1.0, abs=0.05)
