"""Shared fixtures: a tiny seeded random VGG, small structured images, files written on demand,
and the ``--device`` option that reruns the numeric tests on a GPU.

``pytest --device cuda`` runs the tests that take the ``device`` fixture on CUDA and enables
the ``gpu``-marked ones (skipped on the default CPU run: they need a CUDA device to mean
anything). Everything else stays on the CPU.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from helpers import TINY_LAYERS, as_tensor, stripes_image, structured_image

from vidstyle.core.features import VGGFeatures, random_state_dict
from vidstyle.core.layers import LAYER_INDEX
from vidstyle.settings import DEFAULT_STYLE_LAYERS, LossSettings

# One intra-op thread: tests share 2 cores with decoder/encoder threads (and, locally, with other
# test runs), and OpenMP's spinning threads slow down several-fold when oversubscribed.
torch.set_num_threads(1)

ALL_LAYERS = tuple(dict.fromkeys([LossSettings().content_layer, *(n for n, _ in DEFAULT_STYLE_LAYERS)]))


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="device for the numeric tests (cpu, cuda, cuda:N); cuda also runs the gpu-marked tests")


def pytest_collection_modifyitems(config, items):
    if torch.device(config.getoption("--device")).type == "cuda":
        return
    skip = pytest.mark.skip(reason="needs a CUDA device: run with --device cuda")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def device(pytestconfig) -> torch.device:
    """The device of the numeric tests (``--device``); a missing CUDA device is an error, not a skip."""
    device = torch.device(pytestconfig.getoption("--device"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("--device cuda was given, but CUDA is not available here")
    return device


@pytest.fixture(autouse=True)
def _isolated_torch_home(tmp_path_factory, monkeypatch):
    """No test ever reads or writes the real torch hub cache, or reaches the network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
    # An unreachable proxy makes any download fail at once, online or not.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)


@pytest.fixture
def per_image_convolution():
    """oneDNN off: the CPU's native convolution computes each image of a batch as it would alone."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "TF32 acceleration on top of oneDNN..." from the flags call
        with torch.backends.mkldnn.flags(enabled=False):
            yield


@pytest.fixture(scope="session")
def extractor() -> VGGFeatures:
    """Seeded random VGG19 features up to relu5_1 (every default loss layer)."""
    depth = max(LAYER_INDEX[n] for n in ALL_LAYERS) + 1
    return VGGFeatures(ALL_LAYERS, random_state_dict(depth, seed=0))


@pytest.fixture(scope="session")
def tiny_extractor() -> VGGFeatures:
    """Seeded random VGG19 features up to relu3_1 (the layers of ``helpers.tiny_loss``)."""
    return VGGFeatures(TINY_LAYERS, random_state_dict(LAYER_INDEX[TINY_LAYERS[-1]] + 1, seed=0))


@pytest.fixture
def content_tensor() -> torch.Tensor:
    return as_tensor(structured_image(32, 48))


@pytest.fixture
def style_tensor() -> torch.Tensor:
    return as_tensor(stripes_image(32, 32))


@pytest.fixture
def image_files(tmp_path):
    """A content PNG (40x56) and a style PNG (32x32) on disk."""
    import cv2

    content, style = tmp_path / "content.png", tmp_path / "style.png"
    cv2.imwrite(str(content), cv2.cvtColor(structured_image(40, 56), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(style), cv2.cvtColor(stripes_image(32, 32), cv2.COLOR_RGB2BGR))
    return content, style


@pytest.fixture
def style_file(tmp_path):
    """A 32x32 stripes style image written to ``tmp_path/style.png`` (shared by the video and CLI tests)."""
    import cv2

    path = tmp_path / "style.png"
    cv2.imwrite(str(path), stripes_image(32, 32))
    return path
