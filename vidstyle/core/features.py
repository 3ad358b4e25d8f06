"""The frozen VGG19 feature extractor and its weights.

Layers are addressed by name (``conv{b}_{i}``, ``relu{b}_{i}``, ``pool{b}``) and map onto the
indices of torchvision's ``vgg19().features``. Inputs are RGB in [0, 1]; the ImageNet
normalisation happens inside the extractor so callers never see it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import VidstyleError
from .layers import LAYER_CHANNELS, LAYER_INDEX, LAYER_NAMES, check_layer_name, network_depth

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_WEIGHTS_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"


class WeightsError(VidstyleError):
    """The requested VGG19 weights cannot be had (missing file, bad file, offline)."""


def check_image_size(height: int, width: int, layers: Iterable[str], what: str = "image",
                     hint: str = "use a larger --size (or --style-size), or shallower layers") -> None:
    """Raise ``ValueError`` if an image is too small to reach the deepest of ``layers``.

    Every pooling layer up to it, itself included, halves the size (rounding down); at least one
    pixel must be left, so ``pool5`` needs 32 px per side, ``relu5_1`` 16 and ``relu1_1`` 1.
    """
    deepest = max((check_layer_name(name) for name in layers), key=LAYER_INDEX.__getitem__)
    pools = sum(1 for name in LAYER_NAMES[: LAYER_INDEX[deepest] + 1] if name.startswith("pool"))
    if min(height, width) < 2**pools:
        raise ValueError(
            f"the {what} is {width}x{height} px, too small for layer {deepest} (at least {2**pools} px per "
            f"side); {hint}"
        )


def build_vgg19_features(depth: int, pooling: str = "max") -> nn.Sequential:
    """VGG19's ``features`` up to and including index ``depth - 1``, weights uninitialised.

    ReLUs are not in-place (their inputs, the conv outputs, may be requested as features) and
    max pooling may be swapped for average pooling, which Gatys et al. found gives smoother
    results.
    """
    if pooling not in ("max", "avg"):
        raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
    layers: list[nn.Module] = []
    in_channels = 3
    for name in LAYER_NAMES[:depth]:
        if name.startswith("conv"):
            out_channels = LAYER_CHANNELS[name]
            layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
            in_channels = out_channels
        elif name.startswith("relu"):
            layers.append(nn.ReLU(inplace=False))
        elif pooling == "max":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.AvgPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def random_state_dict(depth: int, seed: int) -> dict[str, torch.Tensor]:
    """A seeded random features state dict (Kaiming-normal convs, fan_in mode; zero biases).

    Drawn on the CPU from its own generator so the same seed gives the same weights everywhere.
    """
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for index, module in enumerate(build_vgg19_features(depth)):
        if isinstance(module, nn.Conv2d):
            out_c, in_c, kh, kw = module.weight.shape
            # Kaiming-normal in fan_in mode keeps activations O(1) at every depth, so Gram
            # matrices (and the default alpha) stay meaningful; fan_out would shrink them.
            std = (2.0 / (in_c * kh * kw)) ** 0.5
            state[f"{index}.weight"] = torch.randn(module.weight.shape, generator=generator) * std
            state[f"{index}.bias"] = torch.zeros(out_c)
    return state


def torch_hub_checkpoint_path() -> Path:
    """Where torch's hub cache keeps (or would keep) the ImageNet VGG19 file.

    Read on each call, so ``TORCH_HOME`` changes (tests, users) take effect.
    """
    filename = IMAGENET_WEIGHTS_URL.rsplit("/", 1)[1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _features_only(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accept a full torchvision vgg19 state dict or a features-only one; return features keys."""
    if any(key.startswith("features.") for key in state):
        return {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    return dict(state)


def _reachable(url: str, timeout: float = 5.0) -> str | None:
    """None if ``url``'s server answers, else why not (one line). Quiet: nothing is printed."""
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return None
    except Exception as error:  # URLError, timeouts, proxies: all mean "cannot download now"
        reason = getattr(error, "reason", None) or error
        return f"{type(error).__name__}: {str(reason).splitlines()[0] if str(reason) else type(reason).__name__}"


def load_imagenet_state_dict(progress: bool = True) -> dict[str, torch.Tensor]:
    """ImageNet VGG19 weights: the torch hub cache file if it is there, else torchvision's download.

    The cache is read directly and the server is asked quietly before torchvision downloads
    (it prints ``Downloading: ...`` first, even when the machine is offline), so an offline
    run says one thing: the ``WeightsError`` with what failed and how to fix it.
    """
    cached = torch_hub_checkpoint_path()
    if cached.is_file():
        return load_state_dict_file(cached)
    offline = _reachable(IMAGENET_WEIGHTS_URL)
    if offline is not None:
        raise WeightsError(
            f"ImageNet VGG19 weights are not available (not in the torch hub cache, and the download server "
            f"cannot be reached: {offline}); "
            f"download {IMAGENET_WEIGHTS_URL} to {cached} or pass --weights PATH to a VGG19 state dict"
        )
    import contextlib
    import sys

    from torchvision.models import VGG19_Weights

    try:
        # torch announces the download on stdout, which carries --json reports and piped video.
        with contextlib.redirect_stdout(sys.stderr):
            return VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=progress)
    except Exception as error:  # urllib, OSError, unpickling: all mean "not available"
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WeightsError(
            f"ImageNet VGG19 weights are not available ({type(error).__name__}: {reason}); "
            f"download {IMAGENET_WEIGHTS_URL} to {torch_hub_checkpoint_path()} "
            f"or pass --weights PATH to a VGG19 state dict"
        ) from None


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A VGG19 state dict from a file (full torchvision model or ``features`` only)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsError(f"cannot read weights file {path}: {type(error).__name__}") from None
    if not isinstance(state, Mapping):
        raise WeightsError(f"weights file {path} does not hold a state dict")
    return state


def resolve_state_dict(
    weights: str, depth: int, seed: int, *, progress: bool = True
) -> tuple[dict[str, torch.Tensor], str]:
    """The features state dict for a ``--weights`` value, and a label naming where it came from.

    ``auto`` falls back to random weights with one warning when ImageNet weights are missing;
    ``imagenet`` raises ``WeightsError`` instead; anything else is a path to a state dict file.
    """
    if weights == "random":
        return random_state_dict(depth, seed), f"random (seed {seed})"
    if weights in ("auto", "imagenet"):
        try:
            return _features_only(load_imagenet_state_dict(progress)), "imagenet"
        except WeightsError as error:
            if weights == "imagenet":
                raise
            warnings.warn(
                f"{error}. Continuing with RANDOM weights (seed {seed}): results will be weak "
                "textures, not real stylization.",
                stacklevel=2,
            )
            return random_state_dict(depth, seed), f"random (seed {seed}; ImageNet unavailable)"
    return _features_only(load_state_dict_file(weights)), str(weights)


class VGGFeatures(nn.Module):
    """Frozen, truncated VGG19 ``features``: RGB in [0, 1] in, ``{layer name: tensor}`` out.

    Build with :func:`load_vgg_features`, or directly with a ``features`` state dict (tests pass
    a seeded random one). The network stops after the deepest layer any caller asked for.
    """

    def __init__(
        self,
        layers: Iterable[str],
        state_dict: Mapping[str, torch.Tensor] | None = None,
        pooling: str = "max",
    ) -> None:
        super().__init__()
        self.layers = tuple(dict.fromkeys(check_layer_name(name) for name in layers))
        if not self.layers:
            raise ValueError("at least one layer is needed")
        self.pooling = pooling
        depth = network_depth(self.layers)
        self.body = build_vgg19_features(depth, pooling)
        if state_dict is not None:
            self.load_features_state(state_dict)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self._index_to_name = {LAYER_INDEX[name]: name for name in self.layers}
        self.weights_label = "injected"  # which weights these are, for logs and reports
        self.requires_grad_(False)
        self.eval()

    def load_features_state(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load the convolution weights this truncated network keeps; ignore deeper ones."""
        state = _features_only(state_dict)
        wanted = self.body.state_dict().keys()
        missing = [key for key in wanted if key not in state]
        if missing:
            raise WeightsError(f"state dict is not a VGG19 one: missing {', '.join(missing[:4])}")
        try:
            self.body.load_state_dict({key: state[key] for key in wanted})
        except RuntimeError as error:
            raise WeightsError(f"state dict is not a VGG19 one: {str(error).splitlines()[-1].strip()}") from None

    def train(self, mode: bool = True) -> "VGGFeatures":
        # Always eval: there is no dropout/batch-norm here, but keep the contract explicit.
        return super().train(False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of ``image`` (B, 3, H, W) in [0, 1] at every requested layer."""
        x = (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)
        features: dict[str, torch.Tensor] = {}
        for index, module in enumerate(self.body):
            x = module(x)
            name = self._index_to_name.get(index)
            if name is not None:
                features[name] = x
        return features

    def extra_repr(self) -> str:
        return f"layers={list(self.layers)}, pooling={self.pooling!r}"


def load_vgg_features(
    layers: Iterable[str],
    weights: str = "auto",
    *,
    pooling: str = "max",
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[VGGFeatures, str]:
    """Build the extractor for ``layers`` with the given ``--weights`` value on ``device``.

    Returns the extractor and a label saying which weights it holds (for logs and reports;
    also kept as ``extractor.weights_label``).
    """
    layers = tuple(check_layer_name(name) for name in layers)
    depth = network_depth(layers)
    state, label = resolve_state_dict(weights, depth, seed, progress=progress)
    extractor = VGGFeatures(layers, state, pooling=pooling)
    extractor.weights_label = label
    return extractor.to(device), label
