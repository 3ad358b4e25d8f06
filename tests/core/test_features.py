"""Layer naming, truncation, and every way of getting weights."""

import pytest
import torch

from vidstyle.core.features import (
    VGGFeatures,
    WeightsError,
    build_vgg19_features,
    check_image_size,
    load_vgg_features,
    random_state_dict,
    torch_hub_checkpoint_path,
)
from vidstyle.core.layers import LAYER_CHANNELS, LAYER_INDEX


def test_layer_names_map_to_torchvision_indices():
    import torchvision

    reference = torchvision.models.vgg19(weights=None).features
    assert len(LAYER_INDEX) == len(reference) == 37
    assert LAYER_INDEX["conv1_1"] == 0 and LAYER_INDEX["relu1_1"] == 1 and LAYER_INDEX["pool1"] == 4
    assert LAYER_INDEX["relu4_2"] == 22 and LAYER_INDEX["relu5_1"] == 29 and LAYER_INDEX["pool5"] == 36
    for name, index in LAYER_INDEX.items():
        kind = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}[name[:4]]
        assert isinstance(reference[index], kind), name
        if name.startswith("conv"):
            block = int(name[4])
            assert reference[index].out_channels == (64, 128, 256, 512, 512)[block - 1]
            assert LAYER_CHANNELS[name] == reference[index].out_channels


def test_extractor_is_truncated_frozen_and_returns_requested_layers():
    net = VGGFeatures(["relu2_1", "conv1_2"], random_state_dict(7, 0))
    assert len(net.body) == LAYER_INDEX["relu2_1"] + 1
    assert not any(p.requires_grad for p in net.parameters())
    assert not net.training
    net.train()
    assert not net.training
    out = net(torch.rand(2, 3, 16, 12))
    assert set(out) == {"relu2_1", "conv1_2"}
    assert out["conv1_2"].shape == (2, 64, 16, 12) and out["relu2_1"].shape == (2, 128, 8, 6)
    assert (out["conv1_2"] < 0).any()  # conv output is taken before (not overwritten by) the ReLU


def test_normalisation_happens_inside():
    state = random_state_dict(1, 0)
    net = VGGFeatures(["conv1_1"], state)
    image = torch.rand(1, 3, 8, 8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = torch.nn.functional.conv2d((image - mean) / std, state["0.weight"], state["0.bias"], padding=1)
    assert torch.allclose(net(image)["conv1_1"], expected, atol=1e-5)


def test_average_pooling():
    body = build_vgg19_features(5, pooling="avg")
    assert isinstance(body[4], torch.nn.AvgPool2d)
    with pytest.raises(ValueError):
        build_vgg19_features(5, pooling="min")


@pytest.mark.parametrize("layer, needed", [("relu1_1", 1), ("pool1", 2), ("conv2_1", 2), ("relu3_1", 4),
                                           ("relu5_1", 16), ("conv5_4", 16), ("pool5", 32)])
def test_check_image_size_counts_the_pools_up_to_the_layer_itself(layer, needed):
    # Hand count: a pool halves the size (rounding down), its own output included, and one pixel must be left.
    check_image_size(needed, needed + 5, [layer, "relu1_1"])
    if needed > 1:
        with pytest.raises(ValueError, match=f"too small for layer {layer} \\(at least {needed} px per side\\)"):
            check_image_size(needed + 5, needed - 1, ["relu1_1", layer])
    # ... and the network agrees: the smallest size the check accepts goes through, one less does not.
    body = build_vgg19_features(LAYER_INDEX[layer] + 1)
    with torch.no_grad():
        assert min(body(torch.zeros(1, 3, needed, needed)).shape[-2:]) == 1
        if needed > 1:
            with pytest.raises(RuntimeError):
                body(torch.zeros(1, 3, needed - 1, needed - 1))


def test_unknown_layer_lists_valid_names():
    with pytest.raises(ValueError, match="valid layers: conv1_1, relu1_1"):
        VGGFeatures(["relu6_1"])


def test_random_weights_are_seeded():
    a, b, c = random_state_dict(5, 1), random_state_dict(5, 1), random_state_dict(5, 2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["0.weight"], c["0.weight"])


def _full_state_dict(seed: int) -> dict:
    import torchvision

    torch.manual_seed(seed)
    return torchvision.models.vgg19(weights=None).state_dict()


def test_full_and_features_only_state_dicts_give_identical_features(tmp_path):
    full = _full_state_dict(3)
    features_only = {k[len("features."):]: v for k, v in full.items() if k.startswith("features.")}
    torch.save(full, tmp_path / "full.pth")
    torch.save(features_only, tmp_path / "features.pth")
    layers = ["relu1_1", "relu3_1", "relu4_2"]
    a, label = load_vgg_features(layers, str(tmp_path / "full.pth"))
    b, _ = load_vgg_features(layers, str(tmp_path / "features.pth"))
    assert label.endswith("full.pth")
    image = torch.rand(1, 3, 24, 24)
    fa, fb = a(image), b(image)
    for name in layers:
        assert torch.equal(fa[name], fb[name])
    assert torch.equal(a.body[0].weight, full["features.0.weight"])


def test_imagenet_weights_are_read_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = torch_hub_checkpoint_path()
    assert path == tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    path.parent.mkdir(parents=True)
    full = _full_state_dict(4)
    torch.save(full, path)
    for mode in ("imagenet", "auto"):
        net, label = load_vgg_features(["relu2_1"], mode, progress=False)
        assert label == "imagenet"
        assert torch.equal(net.body[2].weight, full["features.2.weight"])


def test_imagenet_offline_is_a_clear_error():
    # conftest points TORCH_HOME at an empty folder and the proxy at a closed port.
    with pytest.raises(WeightsError) as info:
        load_vgg_features(["relu1_1"], "imagenet", progress=False)
    message = str(info.value)
    assert "not available" in message and "vgg19-dcbb9e9d.pth" in message and "--weights PATH" in message
    assert str(torch_hub_checkpoint_path()) in message


def test_auto_offline_warns_once_and_falls_back_to_random():
    with pytest.warns(UserWarning, match="RANDOM weights.*weak") as record:
        net, label = load_vgg_features(["relu1_1"], "auto", seed=5, progress=False)
    assert len(record) == 1
    assert label.startswith("random")
    assert torch.equal(net.body[0].weight, random_state_dict(1, 5)["0.weight"])


def test_bad_weights_files(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_vgg_features(["relu1_1"], str(tmp_path / "missing.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_vgg_features(["relu1_1"], str(junk))
    torch.save({"0.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(WeightsError, match="not a VGG19"):
        load_vgg_features(["relu2_1"], str(tmp_path / "wrong.pth"))
