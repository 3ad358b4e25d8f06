"""The revealed region's own style term (StyleTransferLoss with ``revealed_weight``): by hand,
against finite differences, with style masks, and its absence where it must not act."""

import pytest
import torch

from vidstyle.core.losses import StyleTransferLoss, gram_matrix

# One image, 2 channels, 2x2 pixels: F = [[1, 2, 3, 4], [0, 1, 0, 1]] (pixels in row-major order).
F2 = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])
TARGET = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])
IMAGE = torch.zeros(1, 3, 2, 2)


def loss_with(revealed_weight: float, style_loss: str = "gram") -> StyleTransferLoss:
    return StyleTransferLoss("c", {"s": 1.0}, alpha=10.0, beta=0.0, revealed_weight=revealed_weight,
                             style_loss=style_loss)


def test_the_revealed_term_by_hand():
    # Revealed: the right column, pixels (0, 1) and (1, 1): features (2, 1) and (4, 1).
    # G_r = ((2,1)(2,1)^T + (4,1)(4,1)^T) / 2 = [[10, 3], [3, 1]]; minus target [[8, 3], [3, 0]];
    # squared mean over the 4 entries: (64 + 9 + 9 + 0) / 4 = 20.5. The settled rest, the left
    # column (1, 0) and (3, 0): G = [[5, 0], [0, 0]]; minus target [[3, 0], [0, -1]]: 10 / 4 = 2.5.
    # The term is how far the region is above the rest: 20.5 - 2.5 = 18.
    revealed = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    loss = loss_with(0.5)
    features = {"c": F2, "s": F2}
    loss.load_targets(loss.make_targets(features, {"s": TARGET}, revealed=revealed))
    terms = loss(features, IMAGE)
    assert terms["revealed"].item() == pytest.approx(18.0)
    # The whole frame's term is unchanged, and the total gains alpha * w_r * 18 = 90.
    plain = loss_with(0.0)
    plain.load_targets(plain.make_targets(features, {"s": TARGET}))
    base = plain(features, IMAGE)
    assert terms["style/s"].item() == pytest.approx(base["style/s"].item())
    assert terms["total"].item() == pytest.approx(base["total"].item() + 90.0)
    # A region already as stylized as the rest (here: further from the target is the rest) adds nothing.
    loss.load_targets(loss.make_targets(features, {"s": TARGET}, revealed=1 - revealed))
    assert loss(features, IMAGE)["revealed"].item() == 0.0


def test_no_term_without_a_weight_or_a_region():
    features = {"c": F2, "s": F2}
    empty = torch.zeros(1, 1, 2, 2)
    for loss, revealed in ((loss_with(0.0), torch.ones(1, 1, 2, 2)), (loss_with(1.0), empty), (loss_with(1.0), None)):
        targets = loss.make_targets(features, {"s": TARGET}, revealed=revealed)
        assert targets.revealed is None
        loss.load_targets(targets)
        assert "revealed" not in loss(features, IMAGE)


def test_a_full_region_doubles_the_style_term():
    """A frame that is all new (no settled rest): the revealed term is the whole frame's style term again."""
    features = {"c": F2, "s": F2}
    loss = loss_with(1.0)
    loss.load_targets(loss.make_targets(features, {"s": TARGET}, revealed=torch.ones(1, 1, 2, 2)))
    terms = loss(features, IMAGE)
    assert terms["revealed"].item() == pytest.approx(terms["style/s"].item())


@pytest.mark.parametrize("kind", ["gram", "w2"])
def test_the_revealed_term_against_finite_differences(kind):
    generator = torch.Generator().manual_seed(0)
    features = torch.rand(1, 3, 4, 5, generator=generator, dtype=torch.float64)
    style = torch.rand(1, 3, 6, 6, generator=generator, dtype=torch.float64)
    revealed = torch.zeros(1, 1, 4, 5, dtype=torch.float64)
    revealed[..., 3:] = 1.0  # the two right-hand columns
    loss = loss_with(1.0, kind)
    stats = loss.style_stats({"s": style})
    loss.load_targets(loss.make_targets({"c": features, "s": features}, stats, revealed=revealed))

    def region_term(x):
        return loss.revealed_style_term(x, loss.export_targets().style["s"], loss.export_targets().revealed["s"], None)

    x = features.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: region_term(f).sum(), (x,), eps=1e-6, atol=1e-6, rtol=1e-4)
    # The loss's term is the region's above the settled rest's, the rest held fixed: its gradient is
    # the region term's (where the region is behind), and only the revealed pixels' features move it.
    terms = loss({"c": x, "s": x}, IMAGE.double())
    assert terms["revealed"].item() > 0
    (grad,) = torch.autograd.grad(terms["revealed"].sum(), x)
    (expected,) = torch.autograd.grad(region_term(x).sum(), x)
    assert torch.allclose(grad, expected)
    assert grad[..., :3].abs().max() == 0 and grad[..., 3:].abs().max() > 0


def test_with_style_masks_each_style_region_counts_by_its_share_of_the_revealed_region():
    # Two styles, the left column styled by A, the right by B; revealed: pixels (0, 0), (0, 1), (1, 1).
    a, b = torch.tensor([[[9.0, 0.0], [0.0, 0.0]]]), torch.tensor([[[5.0, 1.0], [1.0, 0.0]]])
    masks = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]])
    revealed = torch.tensor([[[[1.0, 1.0], [0.0, 1.0]]]])
    loss = loss_with(1.0)
    features = {"c": F2, "s": F2}
    targets = torch.stack([a, b], dim=1)  # (1, R=2, C, C)
    loss.load_targets(loss.make_targets(features, {"s": targets}, masks=masks, revealed=revealed))
    got = loss(features, IMAGE)["revealed"].item()
    # Region A within the revealed: pixel (0, 0) alone (feature (1, 0)); region B: pixels (0, 1) and (1, 1).
    ga = gram_matrix(F2, mask=revealed * masks[:, :1])[0, 0]
    gb = gram_matrix(F2, mask=revealed * masks[:, 1:])[0, 0]
    assert torch.allclose(ga, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    region_term = (1 / 3) * (ga - a[0]).pow(2).mean() + (2 / 3) * (gb - b[0]).pow(2).mean()
    # The settled rest, pixel (1, 0) alone (feature (3, 0)), lies in region A only, and matches A.
    rest = gram_matrix(F2, mask=(1 - revealed) * masks[:, :1])[0, 0]
    assert torch.allclose(rest, torch.tensor([[9.0, 0.0], [0.0, 0.0]]))
    assert (rest - a[0]).abs().max() == 0
    assert got == pytest.approx(region_term.item()) and got > 0


def test_in_a_batch_each_image_gets_its_term_as_alone():
    """Batched sequences stack each frame's region (an empty one where a frame has none): an image whose
    region has no cell at a layer where another image's has leaves that layer out, as it does alone."""
    generator = torch.Generator().manual_seed(0)
    fine = torch.rand(3, 2, 4, 4, generator=generator)  # a layer at full size
    coarse = torch.rand(3, 2, 2, 2, generator=generator)  # and one at half size (2x2 cells)
    style = {"s1": torch.rand(1, 2, 2, generator=generator), "s2": torch.rand(1, 2, 2, generator=generator)}
    regions = torch.zeros(3, 1, 4, 4)
    regions[0, ..., 2:] = 1.0  # two columns: cells at both layers
    regions[1, ..., 0, 3] = 1.0  # one pixel: a quarter of a coarse cell, so no cell there
    # image 2: no region at all
    loss = StyleTransferLoss("c", {"s1": 1.0, "s2": 0.5}, alpha=10.0, beta=0.0, revealed_weight=1.0)

    def terms_of(index, region):
        features = {"c": fine[index], "s1": fine[index].clone().requires_grad_(True),
                    "s2": coarse[index].clone().requires_grad_(True)}
        loss.load_targets(loss.make_targets(features, style, revealed=region))
        terms = loss(features, IMAGE.expand(features["c"].shape[0], -1, -1, -1))
        grads = torch.autograd.grad(terms["total"].sum(), (features["s1"], features["s2"]))
        return terms, grads

    batched, batched_grads = terms_of(slice(0, 3), regions)
    assert set(loss.export_targets().revealed) == {"s1", "s2"}
    for i in range(3):
        alone, alone_grads = terms_of(slice(i, i + 1), regions[i:i + 1] if i < 2 else None)
        assert ("revealed" in alone) == (i < 2)
        want = alone["revealed"][0].item() if i < 2 else 0.0
        assert batched["revealed"][i].item() == pytest.approx(want, rel=1e-6, abs=1e-9)
        assert batched["total"][i].item() == pytest.approx(alone["total"][0].item(), rel=1e-6)
        for got, expected in zip(batched_grads, alone_grads):
            assert torch.allclose(got[i], expected[0], rtol=1e-5, atol=1e-7)
    assert batched["revealed"][1] > 0  # the one-pixel region is behind the rest


def test_the_video_option():
    from vidstyle.cli import build_parser
    from vidstyle.cli.options import video_settings
    from vidstyle.settings import LossSettings

    def parsed(*extra):
        return video_settings(build_parser().parse_args(["video", "in.mp4", "s.png", *extra]))

    assert parsed().loss.revealed_weight == LossSettings().revealed_weight > 0
    assert parsed("--revealed-weight", "0").loss.revealed_weight == 0.0
    with pytest.raises(SystemExit):
        parsed("--revealed-weight", "-1")


def test_the_webcam_option():
    from vidstyle.cli import build_parser
    from vidstyle.cli.webcam import webcam_settings

    args = build_parser().parse_args(["webcam", "s.png", "--revealed-weight", "0.25"])
    assert webcam_settings(args).loss.revealed_weight == 0.25


def test_the_api_option_keeps_the_video_defaults():
    from vidstyle.core.keywords import settings_from_options
    from vidstyle.settings import VideoSettings

    settings = settings_from_options(VideoSettings, {"revealed_weight": 0.2}, caller="stylize_video")
    assert settings.loss.revealed_weight == 0.2
    assert settings.loss.temporal_weight == VideoSettings().loss.temporal_weight  # the rest stays the video's
