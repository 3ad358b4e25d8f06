"""Frozen settings dataclasses: the only place defaults live.

The CLI builds these from its arguments (reading its defaults from here) and hands them down;
nothing below the CLI sees argparse.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

DEFAULT_STYLE_LAYERS: tuple[tuple[str, float], ...] = (
    ("relu1_1", 1.0),
    ("relu2_1", 1.0),
    ("relu3_1", 1.0),
    ("relu4_1", 1.0),
    ("relu5_1", 1.0),
)


@dataclass(frozen=True)
class LossSettings:
    """What the optimisation minimises.

    ``L = L_content + alpha * sum_l w_l L_style_l + beta * L_tv + temporal_weight * L_temporal``.
    """

    content_layer: str = "relu4_2"
    style_layers: tuple[tuple[str, float], ...] = DEFAULT_STYLE_LAYERS
    alpha: float = 100.0
    beta: float = 1.0
    gram: str = "plain"  # "plain" or "centered"
    tv: str = "l2"  # "l2", "l1" or "pow"
    tv_gamma: float = 1.25
    temporal_weight: float = 0.0


@dataclass(frozen=True)
class OptimSettings:
    """How one image is optimised."""

    optimizer: str = "lbfgs"  # "lbfgs" or "adam"
    iters: int = 300
    lr: float | None = None  # None: 1.0 for L-BFGS, 0.02 for Adam
    tol: float = 0.0  # stop when the relative loss decrease over a window falls below; 0: never
    check_every: int = 10  # iterations between reads of the loss (each read syncs the device)
    init: str = "content"  # "content", "random" or a path to an image
    multiscale: int = 1  # coarse-to-fine levels for cold starts (1: single scale)
    seed: int = 0

    def learning_rate(self) -> float:
        """The step size, with the optimiser's own default when none was given."""
        if self.lr is not None:
            return self.lr
        return 1.0 if self.optimizer == "lbfgs" else 0.02


@dataclass(frozen=True)
class ModelSettings:
    """The network and where it runs."""

    weights: str = "auto"  # "auto", "imagenet", "random" or a path to a state dict
    pooling: str = "max"  # "max" or "avg"
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N" or "mps"
    precision: str = "auto"  # "auto", "fp32", "tf32", "bf16" or "fp16"
    compile: bool = False


@dataclass(frozen=True)
class StyleSettings:
    """Which style images, at what size, blended how."""

    paths: tuple[str, ...] = ()
    blend: tuple[float, ...] | None = None  # one weight per style; None: equal weights
    size: int | None = None  # long side of the style image; None: same as the content's
    scale: float = 1.0  # style size relative to the content's long side, when size is None


@dataclass(frozen=True)
class ImageSettings:
    """``vidstyle image``: one content image to one output image."""

    content: str = ""
    output: str = ""
    size: int | None = None  # long side; None: the content's own size, capped at MAX_AUTO_SIZE
    style: StyleSettings = field(default_factory=StyleSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    model: ModelSettings = field(default_factory=ModelSettings)


MAX_AUTO_SIZE = 512


def settings_hash(settings: object, exclude: tuple[str, ...] = ()) -> str:
    """A short stable hash of a settings dataclass (nested ones included), minus ``exclude`` keys.

    Used to refuse resuming work that was made with different settings.
    """
    data = dataclasses.asdict(settings)  # type: ignore[call-overload]
    for key in exclude:
        data.pop(key, None)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_layer_weights(text: str) -> tuple[tuple[str, float], ...]:
    """``"relu1_1:1,relu2_1:0.5,relu3_1"`` -> ``(("relu1_1", 1.0), ("relu2_1", 0.5), ("relu3_1", 1.0))``.

    Raises ``ValueError`` on unknown layers, non-numeric or negative weights.
    """
    from .features import check_layer_name

    result: list[tuple[str, float]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, weight_text = item.partition(":")
        check_layer_name(name.strip())
        try:
            weight = float(weight_text) if weight_text else 1.0
        except ValueError:
            raise ValueError(f"layer weight {weight_text!r} for {name} is not a number") from None
        if weight < 0 or weight != weight:
            raise ValueError(f"layer weight for {name} must be >= 0, not {weight_text}")
        result.append((name.strip(), weight))
    if not result:
        raise ValueError("no style layers given")
    return tuple(result)


# Parameter bundles for --preset. Keys are CLI option names (dashes as underscores); an explicit
# option always wins over its preset value. "doc" is what --help shows.
PRESETS: dict[str, dict] = {
    "fast": {
        "doc": "size 256, 150 cold / 30 warm iterations, early stop at tol 1e-3",
        "size": 256, "iters": 150, "warm_iters": 30, "tol": 1e-3,
    },
    "quality": {
        "doc": "size 768, 2-level multiscale cold start, 600 cold / 150 warm iterations",
        "size": 768, "iters": 600, "warm_iters": 150, "multiscale": 2, "tol": 0.0,
    },
    "webcam": {
        "doc": "size 256, Adam, 3 iterations per frame",
        "size": 256, "optimizer": "adam", "lr": 0.03, "iters": 3,
    },
    "cartoon": {
        "doc": "size 320, strong l1 total variation for flat regions, few warm iterations, cartoon post-process",
        "size": 320, "tv": "l1", "beta": 20.0, "iters": 150, "warm_iters": 10, "tol": 1e-3,
    },
}
