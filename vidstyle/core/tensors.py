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


#: Float values this far outside [0, 1] are clamped (resampling overshoot); farther is an error.
RANGE_SLACK = 1 / 512  # half an 8-bit step


def image_batch(image: torch.Tensor, what: str = "image") -> torch.Tensor:
    """``image`` checked and made a (N, 3, H, W) float batch in [0, 1]: what a Stylizer takes.

    Accepted: (3, H, W) (a batch of one) or (N, 3, H, W); uint8 (divided by 255) or a floating
    dtype with values in [0, 1] (values within ``RANGE_SLACK`` outside are clamped). Refused
    with a ``ValueError`` that says what was given: other shapes (HxWx3 arrays included), other
    dtypes, NaN, and floats outside [0, 1] (0..255 values, ImageNet-normalised tensors).
    """
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, not {type(image).__name__}")
    shape = tuple(image.shape)
    if image.ndim == 3 and shape[0] == 3:
        image = image.unsqueeze(0)
    elif not (image.ndim == 4 and shape[1] == 3):
        hint = "; permute(2, 0, 1) an HxWx3 image first" if shape[-1:] == (3,) else ""
        raise ValueError(f"{what} must be RGB of shape (3, H, W) or (N, 3, H, W), not {shape}{hint}")
    if image.dtype == torch.uint8:
        return image.float().div_(255.0)
    if not image.dtype.is_floating_point:
        raise ValueError(f"{what} must be uint8 (0..255) or float in [0, 1], not {image.dtype}")
    low, high = (float(v) for v in torch.aminmax(image.detach()))  # one device read
    if low != low or high != high:
        raise ValueError(f"{what} contains NaN")
    if low < -RANGE_SLACK or high > 1 + RANGE_SLACK:
        hint = (" (0..255? divide by 255 or pass uint8)" if high > 2 else
                " (ImageNet-normalised? give plain RGB; the network normalises inside)" if low < 0 else "")
        raise ValueError(f"{what} values must be in [0, 1], not [{low:.3g}, {high:.3g}]{hint}")
    if low < 0 or high > 1:
        image = image.clamp(0, 1)
    return image


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
