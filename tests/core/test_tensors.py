"""What the Stylizer accepts as an image tensor: shapes, uint8, value ranges (image_batch)."""

import pytest
import torch

from vidstyle.core.stylizer import Stylizer
from vidstyle.core.tensors import RANGE_SLACK, image_batch
from vidstyle.settings import ModelSettings, OptimSettings


def test_uint8_is_divided_by_255_and_three_dims_become_a_batch_of_one():
    image = torch.tensor([0, 51, 255], dtype=torch.uint8).reshape(3, 1, 1).expand(3, 2, 2)
    batch = image_batch(image)
    assert batch.shape == (1, 3, 2, 2) and batch.dtype == torch.float32
    assert batch[0, :, 0, 0].tolist() == pytest.approx([0.0, 0.2, 1.0])
    floats = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    assert image_batch(floats) is floats  # valid floats pass untouched


def test_overshoot_within_half_an_8bit_step_is_clamped():
    image = torch.tensor([-RANGE_SLACK / 2, 0.5, 1 + RANGE_SLACK / 2]).reshape(1, 3, 1, 1)
    assert image_batch(image).flatten().tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("image, message", [
    (torch.zeros(4, 5, 3), "not (4, 5, 3); permute(2, 0, 1)"),
    (torch.zeros(1, 4, 8, 8), "(3, H, W) or (N, 3, H, W), not (1, 4, 8, 8)"),
    (torch.zeros(8, 8), "not (8, 8)"),
    (torch.zeros(1, 1, 3, 8, 8), "not (1, 1, 3, 8, 8)"),
    (torch.zeros(3, 8, 8, dtype=torch.int64), "uint8 (0..255) or float in [0, 1], not torch.int64"),
    (torch.full((3, 8, 8), 200.0), "in [0, 1], not [200, 200] (0..255? divide by 255"),
    (torch.full((3, 8, 8), -1.5), "(ImageNet-normalised?"),
    (torch.full((3, 8, 8), 1.01), "not [1.01, 1.01]"),
    (torch.tensor([0.0, float("nan"), 0.5]).reshape(3, 1, 1), "contains NaN"),
])
def test_wrong_images_are_refused_with_what_was_given(image, message):
    with pytest.raises(ValueError) as caught:
        image_batch(image, "content")
    assert str(caught.value).startswith("content ") and message in str(caught.value)


def test_not_a_tensor_is_a_type_error():
    with pytest.raises(TypeError, match="content must be a torch.Tensor, not ndarray"):
        import numpy as np

        image_batch(np.zeros((3, 4, 4)), "content")


def test_stylizer_takes_uint8_like_the_float_image_and_refuses_a_bad_one(extractor, content_tensor, style_tensor):
    stylizer = Stylizer(extractor, [(style_tensor[0] * 255).round().byte()],  # a uint8 style too
                        optim=OptimSettings(optimizer="adam", iters=3), model=ModelSettings(device="cpu"))
    as_bytes = (content_tensor * 255).round().byte()
    from_bytes = stylizer.stylize(as_bytes[0])  # (3, H, W) uint8: it used to come back all white
    from_floats = stylizer.stylize(as_bytes.float() / 255)
    assert from_bytes.image.shape == content_tensor.shape
    assert torch.equal(from_bytes.image, from_floats.image)
    assert 0.05 < from_bytes.image.mean() < 0.95
    with pytest.raises(ValueError, match="content values must be in"):
        stylizer.stylize(content_tensor * 255)
    with pytest.raises(ValueError, match="init must be RGB"):
        stylizer.stylize(content_tensor, init=content_tensor[0].permute(1, 2, 0))
