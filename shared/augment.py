"""Batched image transforms: random crop with padding, horizontal flip and normalisation, on tensors.

torchvision's classic pipeline opens every image as a PIL picture, crops and flips it, converts it to a
tensor and normalises it, one sample at a time. Here the same steps run on a whole uint8 batch
(N, C, H, W) with a handful of tensor operations, which is several times faster on a CPU
(see bench/data_pipeline.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Return uint8 pixels 0..255 as floats 0..1."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Return (x - mean) / std per channel, for a float batch (N, C, H, W)."""
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ValueError(f"mean and std need one value per channel: the batch has {x.shape[1]} channels, "
                         f"got {len(mean)} means and {len(std)} stds.")
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean_t) / std_t


def random_crop(x: torch.Tensor, size: int, padding: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return a random size x size crop of each image, after zero-padding every side by ``padding``."""
    n, c, h, w = x.shape
    if padding:
        x = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    h, w = h + 2 * padding, w + 2 * padding
    if size > h or size > w:
        raise ValueError(f"Crop size {size} is larger than the padded image ({h}x{w}).")
    top = torch.randint(0, h - size + 1, (n,), generator=generator)
    left = torch.randint(0, w - size + 1, (n,), generator=generator)
    # One gather for the whole batch: row and column indices per image.
    rows = (top[:, None] + torch.arange(size))[:, None, :, None]
    cols = (left[:, None] + torch.arange(size))[:, None, None, :]
    batch = torch.arange(n)[:, None, None, None]
    channels = torch.arange(c)[None, :, None, None]
    return x[batch, channels, rows, cols]


def random_hflip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return the batch with each image mirrored left-right with probability ``p``."""
    flip = torch.rand(x.shape[0], generator=generator) < p
    return torch.where(flip[:, None, None, None], x.flip(3), x)


class BatchTransform:
    """Turn a uint8 batch into normalised floats, with optional random crop and flip for training.

    ``BatchTransform(mean, std, crop=32, padding=4, flip=True)`` does what torchvision's
    ``RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(), Normalize(mean, std)`` does.
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 crop: int | None = None, padding: int = 0, flip: bool = False, seed: int | None = None):
        if (mean is None) != (std is None):
            raise ValueError("Give both mean and std to normalise, or neither.")
        self.mean, self.std = mean, std
        self.crop, self.padding, self.flip = crop, padding, flip
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)
        else:
            self.generator.seed()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"Expected a batch shaped (N, C, H, W), got shape {tuple(x.shape)}.")
        # Crop and flip while still uint8: a quarter of the memory traffic of floats.
        if self.crop is not None:
            x = random_crop(x, self.crop, self.padding, self.generator)
        if self.flip:
            x = random_hflip(x, generator=self.generator)
        x = to_float(x)
        if self.mean is not None:
            x = normalize(x, self.mean, self.std)
        return x

    def __repr__(self) -> str:
        return (f"BatchTransform(mean={self.mean}, std={self.std}, crop={self.crop}, "
                f"padding={self.padding}, flip={self.flip})")
