"""Image tensors: uint8 arrays to and from (1, 3, H, W) float32 in [0, 1], and resizing.

Every function takes its device explicitly; nothing here reads or writes files.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """HxWx3 uint8 RGB -> (1, 3, H, W) float32 in [0, 1] on ``device``.

    On CUDA the bytes go through pinned memory with a non-blocking copy, so a frame's upload
    overlaps with work already queued on the device.
    """
    host = torch.from_numpy(np.ascontiguousarray(image))
    device = torch.device(device)
    if device.type == "cuda":
        tensor = host.pin_memory().to(device, non_blocking=True)
    else:
        tensor = host.to(device)
    return tensor.permute(2, 0, 1).unsqueeze(0).float().div_(255.0).contiguous()


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> HxWx3 uint8 RGB on the host."""
    return to_uint8_array(tensor.detach().float().cpu().numpy())


def to_uint8_array(array: np.ndarray) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) float in [0, 1] on the host -> HxWx3 uint8 RGB: clipped, scaled by
    255, rounded half to even. NumPy rather than torch: the encoder thread calls it, and a torch op
    there starts a second OpenMP team that slowed the optimisation by ~15% (measured on 2 cores)."""
    if array.ndim == 4:
        array = array[0]
    scaled = np.clip(array.astype(np.float32, copy=False), 0, 1) * np.float32(255)
    return np.ascontiguousarray(np.rint(scaled).astype(np.uint8).transpose(1, 2, 0))


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


def working_long_side(size: int | None, height: int, width: int) -> int:
    """The long side an image is stylized at: ``size`` if given, else its own, at most
    ``MAX_AUTO_SIZE`` (``vidstyle image``, ``sweep`` and ``batch`` alike)."""
    from ..settings import MAX_AUTO_SIZE

    return size or min(max(height, width), MAX_AUTO_SIZE)
