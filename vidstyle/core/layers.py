"""VGG19's layers by name, without torch: the table (``conv{b}_{i}``, ``relu{b}_{i}``,
``pool{b}`` in the order of torchvision's ``vgg19().features``), their widths, and the parsing
and checking of layer options.

Kept apart from :mod:`vidstyle.core.features` so that the command line can check
``--style-layers`` and ``--content-layer`` while it parses, without loading torch.
"""

from __future__ import annotations

from collections.abc import Iterable

# Convolutions per block in VGG19 (torchvision's configuration "E").
_VGG19_BLOCKS = (2, 2, 4, 4, 4)
_VGG19_WIDTHS = (64, 128, 256, 512, 512)

def _layer_table() -> tuple[tuple[str, ...], tuple[int, ...]]:
    names: list[str] = []
    channels: list[int] = []
    for block, (convs, width) in enumerate(zip(_VGG19_BLOCKS, _VGG19_WIDTHS), start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
            channels += [width, width]
        names.append(f"pool{block}")
        channels.append(width)
    return tuple(names), tuple(channels)


LAYER_NAMES, _LAYER_CHANNELS = _layer_table()
LAYER_INDEX = {name: index for index, name in enumerate(LAYER_NAMES)}
LAYER_CHANNELS = dict(zip(LAYER_NAMES, _LAYER_CHANNELS))


def check_layer_name(name: str) -> str:
    """Return ``name`` if it names a VGG19 layer, else raise ``ValueError`` listing valid names."""
    if name not in LAYER_INDEX:
        raise ValueError(f"unknown layer {name!r}; valid layers: {', '.join(LAYER_NAMES)}")
    return name


def network_depth(layers: Iterable[str]) -> int:
    """How many modules of ``vgg19().features`` it takes to reach the deepest of ``layers``."""
    return max(LAYER_INDEX[check_layer_name(name)] for name in layers) + 1


def parse_layer_weights(text: str, what: str = "style") -> tuple[tuple[str, float], ...]:
    """``"relu1_1:1,relu2_1:0.5,relu3_1"`` -> ``(("relu1_1", 1.0), ("relu2_1", 0.5), ("relu3_1", 1.0))``.

    Raises ``ValueError`` on unknown layers, non-numeric or negative weights, or no layers
    (``what`` names them: style or content).
    """
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
        raise ValueError(f"no {what} layers given")
    return tuple(result)
