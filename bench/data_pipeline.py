"""Samples per second of CIFAR-10 training augmentation: our batched tensor pipeline vs torchvision's PIL one.

Both do the same work: random 32x32 crop after 4 pixels of zero padding, random horizontal flip,
conversion to floats in 0..1 and per-channel normalisation, in shuffled batches of 128.

    python -m bench.data_pipeline --data-dir ../shared/data --tiny
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from bench.common import add_data_dir, apply_data_dir, command, machine
from shared import data
from shared.augment import BatchTransform


class PILDataset(Dataset):
    """The classic torchvision way: one PIL image at a time through a chain of transforms."""

    def __init__(self, images: np.ndarray, labels: torch.Tensor, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def samples_per_second(loader, minimum_samples: int) -> float:
    """Iterate over whole epochs until at least minimum_samples were produced; return the rate."""
    seen, started = 0, time.perf_counter()
    while seen < minimum_samples:
        for x, _ in loader:
            seen += len(x)
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument("--samples", type=int, default=20000, help="at least this many samples per measurement")
    args = parser.parse_args()
    apply_data_dir(args)

    cifar = data.load_cifar10()
    mean, std = data.CHANNEL_STATS["cifar10"]
    torchvision_transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])
    hwc = cifar.x_train.permute(0, 2, 3, 1).numpy()  # PIL wants (H, W, C)
    pil_dataset = PILDataset(hwc, cifar.y_train, torchvision_transform)
    results = {}
    for workers in (0, 2):
        loader = DataLoader(pil_dataset, batch_size=128, shuffle=True, num_workers=workers,
                            persistent_workers=workers > 0)
        samples_per_second(loader, 2000)  # warm-up (and worker start-up) not counted
        results[f"torchvision PIL pipeline, DataLoader num_workers={workers}"] = samples_per_second(loader, args.samples)
    ours = data.BatchLoader(cifar.x_train, cifar.y_train, 128, shuffle=True,
                            transform=BatchTransform(mean, std, crop=32, padding=4, flip=True, seed=0), seed=0)
    samples_per_second(ours, 2000)
    results["shared BatchLoader + BatchTransform (one process)"] = samples_per_second(ours, args.samples)

    print(f"command : {command()}")
    print(f"machine : {machine()}")
    print(f"data    : CIFAR-10 train, {len(cifar.y_train)} images, >= {args.samples} samples per measurement")
    for name, rate in results.items():
        print(f"{name:60s} {rate:10,.0f} samples/s")
    best_torchvision = max(rate for name, rate in results.items() if name.startswith("torchvision"))
    speedup = results["shared BatchLoader + BatchTransform (one process)"] / best_torchvision
    print(f"RESULT  : {speedup:.1f}x the samples/s of the best torchvision setting")


if __name__ == "__main__":
    main()
