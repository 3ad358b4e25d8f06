"""RandomStylize: seeded and reproducible, p respected, types kept, batches with a style per image."""

import pickle

import numpy as np
import pytest
import torch
from helpers import as_tensor, stripes_image, structured_image

import vidstyle
from vidstyle.settings import AugmentSettings, OptimSettings
from vidstyle.tools.augment import RandomStylize


@pytest.fixture
def styles():
    return [stripes_image(24, 24, seed=1), structured_image(24, 24, seed=4)]


def make(styles, extractor, **kwargs):
    kwargs.setdefault("iters", 3)
    return RandomStylize(styles, extractor=extractor, device="cpu", **kwargs)


def test_lazy_export_and_repr(styles):
    assert vidstyle.RandomStylize is RandomStylize
    assert repr(RandomStylize(styles, p=0.25, iters=5, seed=3)) == (
        "RandomStylize(styles=2, p=0.25, iters=5, size=None, alpha=100, seed=3)")


def test_same_seed_same_images(styles, extractor):
    images = [as_tensor(structured_image(24, 32, seed=s))[0] for s in range(4)]
    a = make(styles, extractor, p=0.7, seed=11)
    b = make(styles, extractor, p=0.7, seed=11)
    outs_a, outs_b = [a(x) for x in images], [b(x) for x in images]
    for x, ya, yb in zip(images, outs_a, outs_b):
        assert torch.equal(ya, yb)
        assert ya.shape == x.shape and ya.dtype == x.dtype
    changed = [not torch.equal(x, y) for x, y in zip(images, outs_a)]
    assert changed == [c is not None for c in make(styles, extractor, p=0.7, seed=11).draw(4)]
    assert any(changed)


def test_draws_depend_on_the_seed_and_follow_p(styles):
    draws = lambda seed, p=0.5: RandomStylize(styles, p=p, seed=seed).draw(200)  # noqa: E731
    assert draws(1) == draws(1) and draws(1) != draws(2)
    hits = [c for c in draws(3) if c is not None]
    assert 70 < len(hits) < 130  # p = 0.5 of 200
    assert {0, 1} == set(hits)  # both styles used
    assert all(c is None for c in draws(3, p=0.0)) and all(c is not None for c in draws(3, p=1.0))
    # The stream does not depend on p: the same style index wherever both apply.
    full, half = draws(4, 1.0), draws(4, 0.5)
    assert all(h is None or h == f for h, f in zip(half, full)) and half != full


def test_global_rng_when_no_seed(styles):
    t = RandomStylize(styles, p=0.5)
    torch.manual_seed(0)
    first = t.draw(20)
    torch.manual_seed(0)
    assert t.draw(20) == first


def test_p_zero_is_identity_and_p_one_always_changes(styles, extractor):
    image = as_tensor(structured_image(24, 24))[0]
    assert make(styles, extractor, p=0.0, seed=0)(image) is image
    out = make(styles, extractor, p=1.0, seed=0)(image)
    assert (out - image).abs().mean() > 1e-3


def test_uint8_arrays_keep_their_type(styles, extractor):
    t = make(styles, extractor, p=1.0, seed=5, size=24)
    array = structured_image(20, 28)
    out = t(array)
    assert isinstance(out, np.ndarray) and out.shape == array.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - array).mean() > 0.5
    batch = torch.from_numpy(np.stack([array, array])).permute(0, 3, 1, 2)
    out = t(batch)
    assert out.shape == batch.shape and out.dtype == torch.uint8


def test_a_batch_gets_one_drawn_style_per_image(styles, extractor):
    """With Adam, image i of a batch equals image i stylized alone with its drawn style."""
    settings = AugmentSettings(optim=OptimSettings(optimizer="adam", iters=4))
    make_t = lambda: RandomStylize(styles, p=1.0, seed=7, extractor=extractor, device="cpu", settings=settings)  # noqa: E731
    batch = torch.stack([as_tensor(structured_image(20, 28, seed=s))[0] for s in range(4)])
    out = make_t()(batch)
    choices = make_t().draw(4)
    assert len(set(choices)) == 2  # both styles drawn in this batch (seed 7)
    bank = make_t().bank()
    for i, style in enumerate(choices):
        alone = bank.stylize(batch[i:i + 1], [style]).image
        assert torch.allclose(out[i], alone[0], atol=1e-5)
    other = bank.stylize(batch[:1], [1 - choices[0]]).image
    assert (out[0] - other[0]).abs().mean() > 1e-3  # and the style did matter


def test_bad_inputs(styles):
    t = RandomStylize(styles, p=1.0, seed=0)
    with pytest.raises(TypeError, match="torch.Tensor or a numpy.ndarray"):
        t([[0, 1]])
    with pytest.raises(ValueError, match="RGB tensor"):
        t(torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        RandomStylize(styles, p=1.5)
    with pytest.raises(ValueError, match="at least one style"):
        RandomStylize([])


def test_picklable_before_and_after_use(styles, extractor):
    t = make(styles, extractor, p=1.0, seed=2)
    clone = pickle.loads(pickle.dumps(t))
    image = as_tensor(structured_image(24, 24))[0]
    assert torch.equal(clone(image), t(image))
    assert pickle.loads(pickle.dumps(t))._bank is None  # the network is rebuilt, not shipped


def test_every_model_setting_reaches_the_stylizer_with_an_injected_network(styles, extractor):
    """The transform builds its Stylizer with the factory: --compile, --cuda-graphs and the precision
    are kept even when the network is injected."""
    from vidstyle.settings import ModelSettings

    settings = AugmentSettings(model=ModelSettings(device="cpu", precision="bf16", compile=True, cuda_graphs=True))
    stylizer = RandomStylize(styles, extractor=extractor, settings=settings).bank().stylizer
    assert (stylizer.compile, stylizer.cuda_graphs, stylizer.precision) == (True, True, "bf16")
    assert stylizer.extractor is extractor
