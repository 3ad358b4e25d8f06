"""ImageNet weights from the torch hub cache, or one message offline: never torch's download chatter."""

import pytest
import torch

from vidstyle.core.features import (
    WeightsError,
    load_vgg_features,
    random_state_dict,
    resolve_state_dict,
    torch_hub_checkpoint_path,
)


def test_cached_weights_load_without_any_output(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = torch_hub_checkpoint_path()
    path.parent.mkdir(parents=True)
    state = {f"features.{k}": v for k, v in random_state_dict(9, seed=3).items()}  # a full-model state dict
    torch.save(state, path)
    net, label = load_vgg_features(["relu2_1"], "auto", progress=True)
    assert label == "imagenet"
    assert torch.equal(net.body[2].weight, state["features.2.weight"])
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_offline_says_one_thing_and_torch_prints_nothing(capfd):
    # conftest: an empty TORCH_HOME and a closed proxy, so the server cannot be reached.
    with pytest.warns(UserWarning) as record:
        _, label = resolve_state_dict("auto", 2, seed=0, progress=True)
    assert label.startswith("random") and len(record) == 1
    message = str(record[0].message)
    assert "cannot be reached" in message and str(torch_hub_checkpoint_path()) in message
    with pytest.raises(WeightsError, match="not available"):
        resolve_state_dict("imagenet", 2, seed=0, progress=True)
    out, err = capfd.readouterr()
    assert "Downloading" not in out + err and err == "" and out == ""
