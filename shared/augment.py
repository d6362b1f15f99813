"""Batched image transforms: random crop with padding, horizontal flip and normalisation, on tensors.

torchvision's classic pipeline opens every image as a PIL picture, crops and flips it, converts it to a
tensor and normalises it, one sample at a time. Here the same steps run on a whole uint8 batch
(N, C, H, W) with a handful of tensor operations, which is several times faster on a CPU
(see bench/data_pipeline.py). The results equal torchvision's, image by image: tests/test_augment.py
compares them with ``torchvision.transforms`` (PIL) and ``torchvision.transforms.v2`` (uint8 tensors).

Randomness: a ``BatchTransform`` draws its crops and flips from its own generator. Given a ``seed``,
it repeats exactly; without one, its generator is seeded from torch's global random generator, so
``shared.config.seed_everything(0)`` before building it repeats the augmentations too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch


def seed_from_torch() -> int:
    """Return a seed drawn from torch's global generator: fixed by ``torch.manual_seed`` like any other draw."""
    return int(torch.randint(0, 2**31, ()).item())


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Return uint8 pixels 0..255 as floats 0..1."""
    # Not torchvision's to_dtype(scale=True): it multiplies by 1/255, which differs from dividing by
    # 255 (what ToTensor does) in the last bit for half of the 256 byte values.
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Return (x - mean) / std per channel, for a float batch (N, C, H, W)."""
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ValueError(f"mean and std need one value per channel: the batch has {x.shape[1]} channels, "
                         f"got {len(mean)} means and {len(std)} stds.")
    # Imported here, not at the top: importing torchvision takes seconds, and the week 1 notebooks
    # that only load data never normalise.
    from torchvision.transforms.v2 import functional

    return functional.normalize(x, list(mean), list(std))


def crop_at(x: torch.Tensor, size: int, padding: int, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """Return the size x size window at (top[i], left[i]) of each image, after zero-padding every side."""
    n, c, h, w = x.shape
    if padding:
        x = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    # One gather for the whole batch: row and column indices per image.
    rows = (top[:, None] + torch.arange(size))[:, None, :, None]
    cols = (left[:, None] + torch.arange(size))[:, None, None, :]
    batch = torch.arange(n)[:, None, None, None]
    channels = torch.arange(c)[None, :, None, None]
    return x[batch, channels, rows, cols]


def crop_offsets(n: int, height: int, width: int, size: int, padding: int = 0,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (top, left): a random offset per image for a size x size crop of the padded image."""
    h, w = height + 2 * padding, width + 2 * padding
    if size > h or size > w:
        raise ValueError(f"Crop size {size} is larger than the padded image ({h}x{w}).")
    top = torch.randint(0, h - size + 1, (n,), generator=generator)
    left = torch.randint(0, w - size + 1, (n,), generator=generator)
    return top, left


def random_crop(x: torch.Tensor, size: int, padding: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return a random size x size crop of each image, after zero-padding every side by ``padding``."""
    n, _, h, w = x.shape
    return crop_at(x, size, padding, *crop_offsets(n, h, w, size, padding, generator))


def flip_where(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Return the batch with image i mirrored left-right where ``flip[i]`` is True."""
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def random_hflip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return the batch with each image mirrored left-right with probability ``p``."""
    return flip_where(x, torch.rand(x.shape[0], generator=generator) < p)


class Decisions(NamedTuple):
    """The random choices a BatchTransform made for one batch: crop offsets and flips (None if not used)."""

    top: torch.Tensor | None
    left: torch.Tensor | None
    flip: torch.Tensor | None


class BatchTransform:
    """Turn a uint8 batch into normalised floats, with optional random crop and flip for training.

    ``BatchTransform(mean, std, crop=32, padding=4, flip=True)`` does what torchvision's
    ``RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(), Normalize(mean, std)`` does.
    Each call draws its choices with ``decide`` and carries them out with ``apply``.
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 crop: int | None = None, padding: int = 0, flip: bool = False, seed: int | None = None):
        if (mean is None) != (std is None):
            raise ValueError("Give both mean and std to normalise, or neither.")
        self.mean, self.std = mean, std
        self.crop, self.padding, self.flip = crop, padding, flip
        self.generator = torch.Generator()
        self._seeded = False
        if seed is not None:
            self.generator.manual_seed(seed)
            self._seeded = True
        elif self.is_random:
            self._seed_from_torch()
        # A transform without crop or flip draws nothing: building one leaves torch's global generator
        # alone, so adding one to a notebook does not change the rest of its random numbers.

    @property
    def is_random(self) -> bool:
        """True when the transform crops or flips at random."""
        return self.crop is not None or bool(self.flip)

    def _seed_from_torch(self) -> None:
        self.generator.manual_seed(seed_from_torch())
        self._seeded = True

    def decide(self, n: int, height: int, width: int) -> Decisions:
        """Draw the random choices for a batch of n images of height x width: crop offsets, then flips."""
        if self.is_random and not self._seeded:  # crop or flip switched on after construction
            self._seed_from_torch()
        top = left = flip = None
        if self.crop is not None:
            top, left = crop_offsets(n, height, width, self.crop, self.padding, self.generator)
        if self.flip:
            flip = torch.rand(n, generator=self.generator) < 0.5
        return Decisions(top, left, flip)

    def apply(self, x: torch.Tensor, decisions: Decisions) -> torch.Tensor:
        """Carry out the given choices on a uint8 batch and return normalised floats."""
        # Crop and flip while still uint8: a quarter of the memory traffic of floats.
        if decisions.top is not None:
            x = crop_at(x, self.crop, self.padding, decisions.top, decisions.left)
        if decisions.flip is not None:
            x = flip_where(x, decisions.flip)
        x = to_float(x)
        if self.mean is not None:
            x = normalize(x, self.mean, self.std)
        return x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"Expected a batch shaped (N, C, H, W), got shape {tuple(x.shape)}.")
        return self.apply(x, self.decide(x.shape[0], x.shape[2], x.shape[3]))

    def __repr__(self) -> str:
        return (f"BatchTransform(mean={self.mean}, std={self.std}, crop={self.crop}, "
                f"padding={self.padding}, flip={self.flip})")
