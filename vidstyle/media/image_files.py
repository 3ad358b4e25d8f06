"""Image files in and out (OpenCV), and resizing of image tensors.

Tensors are (1, 3, H, W) float32 RGB in [0, 1]; files are whatever OpenCV reads and writes.
"""

from __future__ import annotations

from ..errors import VidstyleError

import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


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


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """HxWx3 uint8 RGB -> (1, 3, H, W) float32 in [0, 1] on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return tensor.permute(2, 0, 1).unsqueeze(0).float().div_(255.0).contiguous()


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> HxWx3 uint8 RGB on the host."""
    if tensor.dim() == 4:
        tensor = tensor[0]
    array = tensor.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0)
    return np.ascontiguousarray(array.cpu().numpy())


def load_image(path: str | os.PathLike, what: str = "image", device: torch.device | str = "cpu") -> torch.Tensor:
    """An image file as a (1, 3, H, W) float32 tensor in [0, 1]."""
    return to_tensor(read_image(path, what), device)


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """Raise ``ImageError`` unless ``path``'s folder exists and is writable."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageError(f"{what} folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise ImageError(f"{what} folder is not writable: {folder}")
    if path.is_dir():
        raise ImageError(f"{what} path is a folder: {path}")
    return path


def save_image(tensor: torch.Tensor, path: str | os.PathLike) -> None:
    """Write a (1, 3, H, W) tensor in [0, 1] to ``path`` (format from the extension)."""
    path = check_writable(path)
    suffix = path.suffix.lower() or ".png"
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(to_uint8(tensor), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ImageError(f"cannot encode an image as {suffix!r}: {path}")
    tmp = path.with_name(f".{path.name}.tmp")
    encoded.tofile(tmp)
    os.replace(tmp, path)  # never leave a half-written image at the final path


def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) with the longer side ``long_side`` and the aspect ratio kept (at least 1 px)."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (B, C, H, W) to ``size`` = (h, w), antialiased when shrinking."""
    if tuple(tensor.shape[-2:]) == tuple(size):
        return tensor
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)


def resize_long_side(tensor: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize (B, C, H, W) so that its longer side is ``long_side``."""
    return resize(tensor, scaled_size(tensor.shape[-2], tensor.shape[-1], long_side))
