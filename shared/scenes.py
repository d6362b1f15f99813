"""Scenes made of real handwritten digits, for week 6: images with boxes, class labels and per-pixel masks.

Each scene is a dark square canvas with a few MNIST digits pasted at random positions and sizes, over some
clutter (torn-off pieces of other digits, which belong to no class). It comes with what detection and
segmentation learn from: a box and a class for every digit, and a mask giving every pixel its class
(0 for background, 1 + d for a stroke of digit d).

Training scenes use only MNIST training digits, validation scenes digits held out of the training split
(``shared.data.train_val_split``, seed 0), and test scenes only MNIST test digits, so a choice tuned on
validation scenes never sees a digit the test scenes are made of. The same arguments and seed give the same
scenes on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from shared import data

SPLITS = ("train", "val", "test")
BACKGROUND = 0  # the mask's value for pixels that belong to no digit; digit d is d + 1
NUM_CLASSES = 10  # digits 0-9 (the mask has NUM_CLASSES + 1 values, background included)
STROKE = 0.5  # a pixel brighter than this belongs to its digit's stroke: in the mask, and inside its box
VAL_FRACTION = 0.1  # of MNIST's training digits, held out for validation scenes


@dataclass
class Scenes:
    """A set of scenes: images, and per image its boxes and digit labels, plus one class mask per image."""

    images: torch.Tensor  # (N, 1, size, size) float32 in [0, 1]
    boxes: list[torch.Tensor]  # N tensors (k, 4) float32: x1, y1, x2, y2 in pixels (torchvision's "xyxy")
    labels: list[torch.Tensor]  # N tensors (k,) int64: the digit in each box, 0-9
    masks: torch.Tensor  # (N, size, size) int64: BACKGROUND, or 1 + the digit whose stroke covers the pixel
    split: str
    seed: int

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        counts = [len(b) for b in self.boxes]
        side = self.images.shape[-1]
        return (f"Scenes({len(self)} scenes of {side}x{side} made of MNIST {self.split} digits, seed {self.seed}: "
                f"{sum(counts)} digits, {min(counts, default=0)}-{max(counts, default=0)} per scene)")

    def target(self, index: int) -> dict[str, torch.Tensor]:
        """Return scene ``index``'s boxes and labels as torchvision's detection models and metrics take them."""
        return {"boxes": self.boxes[index], "labels": self.labels[index]}


def digit_pool(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the digits a split's scenes are made of: float images (N, 28, 28) in [0, 1], and their labels."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    mnist = data.load_mnist()
    if split == "test":
        x, y = mnist.x_test, mnist.y_test
    else:
        x_train, y_train, x_val, y_val = data.train_val_split(mnist.x_train, mnist.y_train, VAL_FRACTION, seed=0)
        x, y = (x_train, y_train) if split == "train" else (x_val, y_val)
    return x[:, 0].float() / 255, y


def make_scenes(n: int, split: str = "train", size: int = 64, digits: tuple[int, int] = (1, 4),
                digit_size: tuple[int, int] = (16, 32), clutter: int = 3, max_overlap: float = 0.2,
                seed: int = 0) -> Scenes:
    """Return ``n`` seeded scenes of ``size`` x ``size`` pixels, each with ``digits[0]``-``digits[1]`` digits.

    Each digit is scaled to a side drawn from ``digit_size`` and placed where its box overlaps no earlier
    box by more than ``max_overlap`` (intersection over union); a scene where no such place is found keeps
    the digits placed so far (at least one). ``clutter`` pieces of other digits (8x8 crops) go down first.
    """
    low, high = digits
    if n < 1:
        raise ValueError(f"n must be at least 1 scene, got {n}.")
    if not 1 <= low <= high:
        raise ValueError(f"digits must be (fewest, most) with 1 <= fewest <= most, got {digits}.")
    if not 8 <= digit_size[0] <= digit_size[1] <= size:
        raise ValueError(f"digit_size must be (smallest, largest) sides with 8 <= smallest <= largest <= size "
                         f"({size}), got {digit_size}: a digit must fit on the canvas.")
    pool, pool_labels = digit_pool(split)
    generator = torch.Generator().manual_seed(seed)

    def draw(upper: int) -> int:  # a whole number in [0, upper)
        return int(torch.randint(upper, (1,), generator=generator))

    images = torch.zeros(n, 1, size, size)
    masks = torch.zeros(n, size, size, dtype=torch.int64)
    all_boxes, all_labels = [], []
    for i in range(n):
        canvas, mask = images[i, 0], masks[i]
        for _ in range(clutter):
            piece = pool[draw(len(pool))][draw(20):, draw(20):][:8, :8]
            y, x = draw(size - 7), draw(size - 7)
            canvas[y:y + 8, x:x + 8] = torch.maximum(canvas[y:y + 8, x:x + 8], piece)
        boxes, labels = [], []
        for _ in range(low + draw(high - low + 1)):
            index = draw(len(pool))
            side = digit_size[0] + draw(digit_size[1] - digit_size[0] + 1)
            digit = F.interpolate(pool[index][None, None], size=(side, side), mode="bilinear", antialias=True,
                                  align_corners=False)[0, 0].clamp(0, 1)
            rows, cols = torch.nonzero(digit > STROKE, as_tuple=True)
            for _attempt in range(50):
                y, x = draw(size - side + 1), draw(size - side + 1)
                box = torch.tensor([[x + cols.min(), y + rows.min(), x + cols.max() + 1, y + rows.max() + 1]],
                                   dtype=torch.float32)
                if not boxes or box_iou(box, torch.cat(boxes)).max() <= max_overlap:
                    break
            else:
                continue  # no room left for this digit
            canvas[y:y + side, x:x + side] = torch.maximum(canvas[y:y + side, x:x + side], digit)
            region = mask[y:y + side, x:x + side]
            region[digit > STROKE] = 1 + int(pool_labels[index])  # a later digit's stroke covers an earlier one's
            boxes.append(box)
            labels.append(int(pool_labels[index]))
        all_boxes.append(torch.cat(boxes) if boxes else torch.zeros(0, 4))
        all_labels.append(torch.tensor(labels, dtype=torch.int64))
    return Scenes(images, all_boxes, all_labels, masks, split, seed)
