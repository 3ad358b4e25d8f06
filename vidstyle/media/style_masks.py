"""Style masks (``--style-mask``, spatial control after Gatys et al. 2017): files in, mask tensors out.

One mask per style image: white where that style paints, black where it does not, gray partly.
A mask is an image (the same for every frame) or, for videos, a video read frame by frame
alongside the input: frame i of the run takes frame i of each mask video (the last one held
if a mask video is shorter). The core takes masks as tensors (1, R, H, W) in [0, 1], one
channel per style, and resizes them to the working size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import torch

from .image_files import ImageError, read_image
from .video_files import Frame, is_video_file, read_frames


def mask_array(image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> HxW float32 mask in [0, 1] (the mean of the channels)."""
    return image.astype(np.float32).mean(axis=2) / 255.0


def stack_masks(masks: Sequence[np.ndarray]) -> torch.Tensor:
    """HxW float masks -> (1, R, H, W) float32, each resized to the first one's size."""
    height, width = masks[0].shape
    same = [m if m.shape == (height, width) else cv2.resize(m, (width, height), interpolation=cv2.INTER_AREA)
            for m in masks]
    return torch.from_numpy(np.stack(same)).unsqueeze(0).contiguous()


def load_mask_images(paths: Sequence[str]) -> torch.Tensor | None:
    """Mask image files as (1, R, H, W) float32 in [0, 1] (``ImageError`` naming a bad one); None for no paths."""
    if not paths:
        return None
    return stack_masks([mask_array(read_image(path, "style mask")) for path in paths])


class StyleMasks:
    """The style masks of a video run: :meth:`at` gives frame ``index``'s masks (1, R, H, W).

    Mask images are read once. Mask videos are read forward as frames are asked for, decoded
    with the run's ``start`` so that their frame i lines up with the input's frame i; asking
    for an earlier frame than the last reopens them (a Ray segment starts in the middle).
    """

    def __init__(self, paths: Sequence[str], start: float | None = None) -> None:
        if not paths:
            raise ValueError("no style masks given")
        self.paths, self.start = tuple(paths), start
        self.videos = tuple(is_video_file(path) for path in self.paths)
        self._still = {i: mask_array(read_image(p, "style mask")) for i, (p, v) in enumerate(zip(self.paths, self.videos))
                       if not v}
        self._readers: dict[int, Iterator[Frame]] = {}
        self._last: dict[int, Frame] = {}
        self._static: torch.Tensor | None = None

    @property
    def static(self) -> bool:
        """True when every mask is an image (the same masks for every frame)."""
        return not any(self.videos)

    def _video_mask(self, i: int, index: int) -> np.ndarray:
        last = self._last.get(i)
        if last is None or last.index > index:  # first use, or going back: (re)open from the start
            self._readers[i] = read_frames(self.paths[i], start=self.start)
            last = None
        while last is None or last.index < index:
            frame = next(self._readers[i], None)
            if frame is None:
                break  # shorter than the input: the last mask frame holds
            last = frame
        if last is None:
            raise ImageError(f"style mask video has no frames: {self.paths[i]}")
        self._last[i] = last
        return mask_array(last.image)

    def at(self, index: int) -> torch.Tensor:
        """The masks of the run's frame ``index``: (1, R, H, W) float32 in [0, 1] on the CPU."""
        if self.static:
            if self._static is None:
                self._static = stack_masks([self._still[i] for i in range(len(self.paths))])
            return self._static
        return stack_masks([self._still[i] if not video else self._video_mask(i, index)
                            for i, video in enumerate(self.videos)])

    def close(self) -> None:
        """Close any open mask video."""
        for reader in self._readers.values():
            close = getattr(reader, "close", None)
            if close is not None:
                close()
        self._readers.clear()
        self._last.clear()
