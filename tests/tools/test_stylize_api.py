"""``vidstyle.stylize(image, style, **options)``: one call, defaults for everything, the input's kind back."""

import cv2
import numpy as np
import pytest
import torch
from helpers import as_tensor, stripes_image, structured_image

import vidstyle
from vidstyle.core.keywords import settings_from_options
from vidstyle.core.stylize_image import stylize_image
from vidstyle.settings import ImageSettings, LossSettings, ModelSettings, OptimSettings

TINY = dict(size=32, iters=4, optimizer="adam", device="cpu")


def test_one_call_equals_the_settings_route_for_every_kind_of_input(extractor, tmp_path):
    photo, style = structured_image(24, 40), stripes_image(32, 32)
    want = stylize_image(as_tensor(photo), [as_tensor(style)],
                         ImageSettings(size=32, optim=OptimSettings(optimizer="adam", iters=4),
                                       model=ModelSettings(device="cpu")), extractor=extractor).image
    want_bytes = (want * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()

    from_array = vidstyle.stylize(photo, style, extractor=extractor, **TINY)
    assert from_array.dtype == np.uint8 and from_array.shape == (19, 32, 3)  # long side 32
    assert np.array_equal(from_array, want_bytes)

    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))  # PNG: lossless, so the same pixels
    assert np.array_equal(vidstyle.stylize(str(path), [style], extractor=extractor, **TINY), want_bytes)

    floats = as_tensor(photo)[0].double()  # (3, H, W) float64
    from_floats = vidstyle.stylize(floats, as_tensor(style), extractor=extractor, **TINY)
    assert from_floats.shape == (3, 19, 32) and from_floats.dtype == torch.float64
    assert torch.allclose(from_floats.float(), want[0], atol=1e-6)
    from_bytes = vidstyle.stylize(torch.from_numpy(photo).permute(2, 0, 1)[None], style, extractor=extractor, **TINY)
    assert from_bytes.shape == (1, 3, 19, 32) and from_bytes.dtype == torch.uint8
    assert torch.equal(from_bytes[0].permute(1, 2, 0), torch.from_numpy(want_bytes))


def test_options_reach_the_settings_and_unknown_ones_are_type_errors():
    settings = settings_from_options(ImageSettings, dict(size=64, alpha=3.0, device="cpu", cartoon=True,
                                                         cartoon_colors=4, style_scale=0.5, iters=7), caller="stylize")
    assert (settings.size, settings.loss.alpha, settings.model.device, settings.optim.iters) == (64, 3.0, "cpu", 7)
    assert settings.cartoon.enabled and settings.cartoon.colors == 4 and settings.style.scale == 0.5
    whole = settings_from_options(ImageSettings, dict(loss=LossSettings(beta=9.0)), caller="stylize")
    assert whole.loss.beta == 9.0 and whole.optim == OptimSettings()
    for options, message in [
        (dict(alph=1.0), "stylize() got an unexpected option 'alph'; did you mean alpha?"),
        (dict(blend=0.5), "'blend' is ambiguous: pass style_blend or cartoon_blend"),
        (dict(loss=3), "option 'loss' must be a LossSettings, not int"),
        (dict(content="x.png"), "stylize() sets 'content' itself"),
    ]:
        with pytest.raises(TypeError) as caught:
            vidstyle.stylize(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), **options)
        assert message in str(caught.value)


@pytest.mark.parametrize("image, message", [
    (np.zeros((8, 8, 3), np.float32), "image arrays must be HxWx3 uint8 RGB, not float32"),
    (torch.zeros(2, 3, 8, 8), "one image at a time, not a batch of 2"),
    (torch.full((3, 8, 8), 255.0), "image values must be in [0, 1]"),
])
def test_bad_images_are_refused_before_any_work(image, message):
    with pytest.raises(ValueError) as caught:
        vidstyle.stylize(image, stripes_image(8, 8), device="cpu", weights="random")
    assert message in str(caught.value)


def test_style_masks_reach_the_one_call_api(extractor, tmp_path):
    """Two styles with complementary masks differ from the same styles blended without masks."""
    photo, red, blue = structured_image(24, 32), np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    left = np.zeros((24, 32), np.uint8)
    left[:, :16] = 255
    paths = []
    for name, mask in (("left.png", left), ("right.png", 255 - left)):
        cv2.imwrite(str(tmp_path / name), mask)
        paths.append(str(tmp_path / name))
    options = dict(TINY, alpha=1e4, iters=8)
    blended = vidstyle.stylize(photo, [red, blue], extractor=extractor, **options)
    masked = vidstyle.stylize(photo, [red, blue], extractor=extractor, masks=tuple(paths), **options)
    assert not np.array_equal(blended, masked)
    with pytest.raises(TypeError, match="sets 'paths' itself"):
        vidstyle.stylize(photo, red, paths=("x.png",), **TINY)
