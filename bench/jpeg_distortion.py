"""How far one JPEG round trip moves the pixels of small colour photos: the data pack's CIFAR-10 photos
against natural photos that were never compressed at 32x32.

The pack's CIFAR-10 photos are JPEG files at quality 75 (4:2:0 colour), and its original pixels are not
in the pack, so how far that first compression moved them cannot be measured directly. This benchmark
measures two things that can be, in mean absolute change of a pixel (grey levels, 0-255):

- the CIFAR-10 photos compressed *once more* at each quality (what ``bench.cifar_speedrun --jpeg-quality``
  trains on);
- a stand-in for original pixels: the pack's bird photos (96x96) shrunk to 32x32 by averaging 3x3 blocks,
  which smooths away most of their own compression, then compressed for the first time at each quality,
  and compressed at quality 75 first and then once more, as the CIFAR photos are.

Comparing the second-time columns of the two sets calibrates the birds against CIFAR-10, so the birds'
first-time column at quality 75 estimates what the pack's compression did to CIFAR-10's pixels.

    python -m bench.jpeg_distortion --data-dir /tmp/cifar_dev --birds-dir ../shared/data/birds_tiny
    python -m bench.jpeg_distortion --data-dir ../shared/data --tiny   # a smoke run
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.cifar_speedrun import mean_change, recompress
from bench.common import add_data_dir, apply_data_dir, header
from shared import data


def bird_photos_at_32(folder: Path) -> torch.Tensor:
    """Return the bird photos of ``folder`` (all splits) shrunk from 96x96 to 32x32 by averaging 3x3 blocks."""
    birds = data.read_birds(folder, 96)
    photos = torch.cat([birds.x_train, birds.x_valid, birds.x_test]).float()
    return F.avg_pool2d(photos, 3).round().clamp(0, 255).to(torch.uint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir(parser)
    parser.add_argument("--qualities", type=int, nargs="+", default=[75, 50, 25])
    parser.add_argument("--birds-dir", type=Path, default=None,
                        help="the data pack's birds_tiny folder (default: birds_tiny in --data-dir)")
    args = parser.parse_args(argv)
    apply_data_dir(args)
    print(header())
    cifar = data.load_cifar10().x_test
    birds = bird_photos_at_32(args.birds_dir or data.dataset_path("birds", tiny=True))
    birds_at_75 = recompress(birds, 75)
    print(f"data    : {data.dataset_path('cifar10')} (its {len(cifar)} test-split photos); "
          f"{len(birds)} bird photos of the pack at 32x32")
    print(f"{'quality':>7} {'CIFAR once more':>16} {'birds first time':>17} {'birds once more after 75':>25}")
    for quality in args.qualities:
        print(f"{quality:7d} {mean_change(cifar, recompress(cifar, quality)):16.2f} "
              f"{mean_change(birds, recompress(birds, quality)):17.2f} "
              f"{mean_change(birds_at_75, recompress(birds_at_75, quality)):25.2f}", flush=True)


if __name__ == "__main__":
    main()
