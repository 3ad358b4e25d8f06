"""Small inputs the tests make themselves: structured images, stripes, pans, tensors, CLI runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from vidstyle.settings import LossSettings

# A shallow network for tests about the chain or the pipeline, not the network: VGG19 up to relu3_1
# costs about 1/6 of the default layers' (up to relu5_1) per iteration at 24x32 and builds at once.
TINY_LAYERS = ("relu1_1", "relu2_1", "relu3_1")


# The CLI options that select the same shallow network (with ``--weights random``).
TINY_NET_ARGS = ("--content-layer", TINY_LAYERS[-1], "--style-layers", ",".join(TINY_LAYERS))


def tiny_loss(loss: LossSettings = LossSettings(), layers: tuple[str, ...] = TINY_LAYERS) -> LossSettings:
    """``loss`` with ``layers`` (default :data:`TINY_LAYERS`, the ``tiny_extractor`` fixture's) as its
    style layers and the deepest of them as its content layer."""
    return dataclasses.replace(loss, content_layer=layers[-1], content_layers=None,
                               style_layers=tuple((name, 1.0) for name in layers))


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


def pan_frames(count: int, width: int = 48, height: int = 32, step: int = 1, seed: int = 3) -> list[np.ndarray]:
    """A textured scene panning ``step`` px per frame (a slowly moving camera)."""
    scene = structured_image(height, width + step * count, seed=seed)
    return [np.ascontiguousarray(scene[:, i * step:i * step + width]) for i in range(count)]


def as_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float32 in [0, 1] on the CPU."""
    return torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).contiguous()


def run_cli(args) -> int:
    """``vidstyle ARGS`` in this process; the exit status (argparse's SystemExit included)."""
    from vidstyle.cli import main

    try:
        return main([str(a) for a in args])
    except SystemExit as exit_:
        return exit_.code
