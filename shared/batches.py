"""Serve in-memory tensors in batches, transforming a whole batch at once."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

from shared.augment import seed_from_torch, to_float


class BatchLoader:
    """Iterate over in-memory tensors in (optionally shuffled) batches, transforming each whole batch at once.

    A drop-in for ``torch.utils.data.DataLoader`` on tensors: ``for x, y in loader``. The transform
    gets a uint8 batch (N, C, H, W) and returns floats; without one, pixels are scaled to 0..1.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, shuffle: bool = False,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None, seed: int | None = None,
                 drop_last: bool = False):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}; they must match.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.transform = transform
        self.generator = torch.Generator()
        # Unseeded, the order follows torch's global seed: seed_everything(0) repeats it.
        self.generator.manual_seed(seed if seed is not None else seed_from_torch())

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            x = self.x[idx]
            x = self.transform(x) if self.transform is not None else to_float(x)
            yield x, self.y[idx]
