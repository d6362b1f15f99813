"""Split a dataset in memory into parts: seeded, and keeping each class's share in every part."""

from __future__ import annotations

import math

import torch


def train_val_split(x: torch.Tensor, y: torch.Tensor, val_fraction: float = 0.1,
                    seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (x_train, y_train, x_val, y_val), a seeded split keeping each class's share in both parts."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}.")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels; they must match.")
    generator = torch.Generator().manual_seed(seed)
    val_parts = []
    for label in torch.unique(y):
        members = torch.nonzero(y == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        val_parts.append(members[: math.floor(len(members) * val_fraction + 0.5)])
    val_idx = torch.cat(val_parts).sort().values
    is_val = torch.zeros(len(y), dtype=torch.bool)
    is_val[val_idx] = True
    return x[~is_val], y[~is_val], x[is_val], y[is_val]
