"""Image files in and out (OpenCV): (1, 3, H, W) float32 RGB tensors in [0, 1] on one side,
whatever OpenCV reads and writes on the other."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from ..core.tensors import to_tensor, to_uint8
from ..errors import VidstyleError

#: Still-image suffixes: never a video, even though FFmpeg could open such a file as a one-frame
#: "video" (``batch-video`` skips them).
STILL_IMAGE_EXTENSIONS = frozenset(
    ".png .jpg .jpeg .jpe .bmp .tif .tiff .webp .ppm .pgm .pnm .exr .avif .heic .heif".split()
)

#: Suffixes OpenCV reads and writes as 8-bit RGB images: an input with one is stylized as an image
#: (``vidstyle INPUT STYLE`` falls through to image mode); an output without one gets ``.png`` added
#: (``vidstyle batch``).
OPENCV_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

#: ``--init`` values that are not file paths.
INIT_KEYWORDS = ("content", "random")


class ImageError(VidstyleError):
    """An image file is missing, unreadable or not an image, or cannot be written."""


def read_image(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """An image file as an HxWx3 uint8 RGB array; ``ImageError`` naming ``what`` otherwise."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{what} file not found: {path}")
    if not path.is_file():
        raise ImageError(f"{what} path is not a file: {path}")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise ImageError(f"cannot read {what} file {path}: {error.strerror}") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageError(f"{what} file is not a readable image: {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_image(path: str | os.PathLike, what: str = "image", device: torch.device | str = "cpu") -> torch.Tensor:
    """An image file as a (1, 3, H, W) float32 tensor in [0, 1]."""
    return to_tensor(read_image(path, what), device)


def load_init(init: str) -> str | torch.Tensor:
    """An ``--init`` value as the optimiser takes it: ``"content"``/``"random"`` as they are,
    anything else read as an image file (``ImageError`` if it is not one)."""
    return init if init in INIT_KEYWORDS else load_image(init, "init")


def check_writable(path: str | os.PathLike, what: str = "output", *, try_file: bool = True) -> Path:
    """Raise ``ImageError`` unless ``path``'s folder exists and is writable (``try_file``: by
    creating a file there, for checks made before the work; a writer that reports its own
    failure passes False)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageError(f"{what} folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise ImageError(f"{what} folder is not writable: {folder}")
    try:  # os.access says yes to root everywhere (read-only mounts, /proc): try a real file
        if try_file:
            tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise ImageError(f"{what} folder is not writable: {folder} ({err.strerror})") from None
    if path.is_dir():
        raise ImageError(f"{what} path is a folder: {path}")
    return path


def save_image(tensor: torch.Tensor, path: str | os.PathLike) -> None:
    """Write a (1, 3, H, W) tensor in [0, 1] to ``path`` (format from the extension)."""
    path = check_writable(path, try_file=False)  # the write below names its own failure
    suffix = path.suffix.lower() or ".png"
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(to_uint8(tensor), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ImageError(f"cannot encode an image as {suffix!r}: {path}")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        encoded.tofile(tmp)
        os.replace(tmp, path)  # never leave a half-written image at the final path
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ImageError(f"cannot write {path} ({err.strerror})") from None
