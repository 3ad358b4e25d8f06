"""vidstyle: optimization-based neural style transfer (Gatys et al. 2015) for images and videos.

Importing the package loads no model, touches no GPU and reads no file.
"""

__version__ = "0.1.0"

# Public names loaded on first access, so that ``import vidstyle`` stays free of torch and cv2.
_LAZY = {
    "RandomStylize": "vidstyle.tools.augment",
    "stylize": "vidstyle.tools.api",
    "stylize_video": "vidstyle.video.api",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidstyle' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
