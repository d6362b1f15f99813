"""Samples per second of CIFAR-10 training augmentation: our batched tensor pipeline vs torchvision's.

Every pipeline does the same work: random 32x32 crop after 4 pixels of zero padding, random horizontal
flip, conversion to floats in 0..1 and per-channel normalisation, in shuffled batches of 128. torchvision
runs it two ways, one image at a time through a DataLoader: the classic PIL pipeline
(``torchvision.transforms``) and ``torchvision.transforms.v2`` on uint8 tensors (no PIL).

    python -m bench.data_pipeline --data-dir ../shared/data --tiny
"""

from __future__ import annotations

import argparse
import time

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from torchvision.transforms import v2

from bench.common import add_data_dir, apply_data_dir, header
from shared import data
from shared.augment import BatchTransform

OURS = "shared BatchLoader + BatchTransform (one process)"


class ImageDataset(Dataset):
    """The classic torchvision way: one image at a time through a chain of transforms."""

    def __init__(self, images, labels: torch.Tensor, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def pil_pipeline(mean, std):
    """A (H, W, C) uint8 array to a PIL image, then RandomCrop, RandomHorizontalFlip, ToTensor, Normalize."""
    return transforms.Compose([Image.fromarray, transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                               transforms.ToTensor(), transforms.Normalize(mean, std)])


def v2_pipeline(mean, std):
    """The same steps with torchvision.transforms.v2 on uint8 tensors."""
    return v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


def samples_per_second(loader, minimum_samples: int) -> float:
    """Iterate over whole epochs until at least minimum_samples were produced; return the rate."""
    seen, started = 0, time.perf_counter()
    while seen < minimum_samples:
        for x, _ in loader:
            seen += len(x)
    return seen / (time.perf_counter() - started)


def measure(cifar, samples: int, workers: list[int], warm_up: int = 2000) -> dict[str, float]:
    """Return {pipeline name: samples per second} for every pipeline, on cifar's training images."""
    mean, std = data.DATASETS["cifar10"].channel_stats
    hwc = cifar.x_train.permute(0, 2, 3, 1).numpy()  # PIL wants (H, W, C)
    per_image = {"torchvision PIL pipeline": ImageDataset(hwc, cifar.y_train, pil_pipeline(mean, std)),
                 "torchvision v2 on uint8 tensors": ImageDataset(cifar.x_train, cifar.y_train,
                                                                  v2_pipeline(mean, std))}
    results = {}
    for name, dataset in per_image.items():
        for n in workers:
            loader = DataLoader(dataset, batch_size=128, shuffle=True, num_workers=n, persistent_workers=n > 0)
            samples_per_second(loader, warm_up)  # warm-up (and worker start-up) not counted
            results[f"{name}, DataLoader num_workers={n}"] = samples_per_second(loader, samples)
    ours = data.BatchLoader(cifar.x_train, cifar.y_train, 128, shuffle=True,
                            transform=BatchTransform(mean, std, crop=32, padding=4, flip=True, seed=0), seed=0)
    samples_per_second(ours, warm_up)
    results[OURS] = samples_per_second(ours, samples)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument("--samples", type=int, default=20000, help="at least this many samples per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                        help="DataLoader worker counts to try for the torchvision pipelines")
    args = parser.parse_args()
    apply_data_dir(args)

    cifar = data.load_cifar10()
    results = measure(cifar, args.samples, args.workers, warm_up=min(2000, args.samples))
    print(header())
    print(f"data    : CIFAR-10 train, {len(cifar.y_train)} images, >= {args.samples} samples per measurement")
    for name, rate in results.items():
        print(f"{name:60s} {rate:10,.0f} samples/s")
    best_torchvision = max(rate for name, rate in results.items() if name.startswith("torchvision"))
    print(f"RESULT  : {results[OURS] / best_torchvision:.1f}x the samples/s of the best torchvision setting")


if __name__ == "__main__":
    main()
