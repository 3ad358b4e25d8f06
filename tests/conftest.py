"""Shared fixtures: a tiny seeded random VGG, small structured images, files written on demand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidstyle.core.features import LAYER_INDEX, VGGFeatures, random_state_dict
from vidstyle.settings import DEFAULT_STYLE_LAYERS, LossSettings

# One intra-op thread: tests share 2 cores with decoder/encoder threads (and, locally, with other
# test runs), and OpenMP's spinning threads slow down several-fold when oversubscribed.
torch.set_num_threads(1)

ALL_LAYERS = tuple(dict.fromkeys([LossSettings().content_layer, *(n for n, _ in DEFAULT_STYLE_LAYERS)]))


@pytest.fixture(autouse=True)
def _isolated_torch_home(tmp_path_factory, monkeypatch):
    """No test ever reads or writes the real torch hub cache, or reaches the network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
    # An unreachable proxy makes any download fail at once, online or not.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)


@pytest.fixture(scope="session")
def extractor() -> VGGFeatures:
    """Seeded random VGG19 features up to relu5_1 (every default loss layer)."""
    depth = max(LAYER_INDEX[n] for n in ALL_LAYERS) + 1
    return VGGFeatures(ALL_LAYERS, random_state_dict(depth, seed=0))


def structured_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An HxWx3 uint8 image with gradients, a shape and texture (so losses have something to see)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([xx / width, yy / height, 0.5 + 0.5 * np.sin((xx + yy) / 3.0 + seed)], axis=-1)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    image[top:top + height // 3, left:left + width // 3] = rng.random(3)
    image += rng.normal(0, 0.03, image.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def stripes_image(height: int, width: int, seed: int = 1) -> np.ndarray:
    """A colourful striped texture for a style."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([np.sin(xx / 2.0 + seed), np.sin((xx + 2 * yy) / 3.0), np.cos(yy / 2.5)], axis=-1)
    return ((image * 0.5 + 0.5) * 255).astype(np.uint8)


def as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).contiguous()


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
