"""Read the course's data files into memory, checking that each is what it claims to be.

Images come back as ``uint8`` tensors shaped (N, C, H, W), labels as ``int64`` tensors. Keeping raw
bytes in memory is four times smaller than floats, and turning a whole batch into floats (with
augmentation, see ``shared.augment``) is far faster than going image by image through PIL.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from shared.datasets import DATASETS, CorruptDataError, verify_checksum


@dataclass
class ImageSet:
    """An image dataset in memory: uint8 images (N, C, H, W), int64 labels and the class names."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    x_valid: torch.Tensor | None = None
    y_valid: torch.Tensor | None = None

    def __repr__(self) -> str:
        parts = [f"train {tuple(self.x_train.shape)}"]
        if self.x_valid is not None:
            parts.append(f"valid {tuple(self.x_valid.shape)}")
        parts.append(f"test {tuple(self.x_test.shape)}")
        return f"ImageSet({self.name}: {', '.join(parts)}, {len(self.classes)} classes)"


def read_image_npz(path: Path, name: str = "dataset") -> ImageSet:
    """Return the ImageSet stored in a course ``.npz`` file, after checking its checksum and contents.

    When ``name`` is one of ``DATASETS``, the class names and the image shape must also be the ones its
    record gives: a file of another dataset under the right name is caught here, not in training.
    """
    path = Path(path)
    verify_checksum(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise CorruptDataError(f"{path} could not be read ({err}). Delete it and download it again.") from err
    missing = {"x_train", "y_train", "x_test", "y_test", "classes"} - set(arrays)
    if missing:
        raise CorruptDataError(f"{path} lacks the arrays {sorted(missing)}; it is not a course data file. "
                               "Delete it and download it again.")
    classes = [str(c) for c in arrays["classes"]]
    splits = {}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim not in (3, 4) or len(x) != len(y):
            raise CorruptDataError(f"{path}: x_{split} should be uint8 images with one label each, got dtype "
                                   f"{x.dtype}, shape {x.shape} and {len(y)} labels.")
        if len(y) and (y.min() < 0 or y.max() >= len(classes)):
            raise CorruptDataError(f"{path}: y_{split} holds labels outside 0..{len(classes) - 1}.")
        images = torch.from_numpy(x)
        # Grey sets are stored (N, H, W), colour sets (N, H, W, 3); PyTorch wants (N, C, H, W).
        images = images.unsqueeze(1) if x.ndim == 3 else images.permute(0, 3, 1, 2).contiguous()
        splits[split] = (images, torch.from_numpy(y.astype(np.int64)))
    info = DATASETS.get(name)
    if info is not None:
        if info.classes and tuple(classes) != info.classes:
            raise CorruptDataError(f"{path}: its classes {classes[:4]}... are not {info.title}'s "
                                   f"{list(info.classes[:4])}...; is it the right file?")
        shape = tuple(splits["train"][0].shape[1:])
        if info.image_shape is not None and shape != info.image_shape:
            raise CorruptDataError(f"{path}: images shaped {shape}, but {info.title}'s are {info.image_shape}.")
    return ImageSet(name, *splits["train"], *splits["test"], classes)


def read_birds(root: Path, image_size: int = 96) -> ImageSet:
    """Return the bird-species ImageSet stored in ``root``'s train/valid/test/<species>/ folders."""
    root = Path(root)
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir()) if (root / "train").is_dir() else []
    if not classes:
        raise CorruptDataError(f"{root} should hold train/<SPECIES>/ folders of JPEGs; found none. "
                               "Check the folder layout (train, valid, test, then one folder per species).")
    splits = {}
    for split in ("train", "valid", "test"):
        splits[split] = read_image_folder(root / split, classes, image_size)
    return ImageSet("birds", *splits["train"], *splits["test"], classes,
                    x_valid=splits["valid"][0], y_valid=splits["valid"][1])


def read_image_folder(folder: Path, classes: list[str], image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (uint8 images, labels) from ``folder/<class>/*.jpg``, resized to image_size squares."""
    from PIL import Image, UnidentifiedImageError

    if not folder.is_dir():
        raise CorruptDataError(f"{folder} is missing: the bird set needs train/, valid/ and test/ folders.")
    unknown = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in classes)
    if unknown:
        raise CorruptDataError(f"{folder} holds species that train/ does not: {unknown[:5]}. "
                               "Every species needs training images.")
    images, labels = [], []
    for label, species in enumerate(classes):
        files = sorted((folder / species).glob("*")) if (folder / species).is_dir() else []
        for file in files:
            if file.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                continue
            try:
                with Image.open(file) as im:
                    images.append(np.asarray(square_image(im.convert("RGB"), image_size), dtype=np.uint8))
            except (UnidentifiedImageError, OSError) as err:
                raise CorruptDataError(f"{file} is not a readable image ({err}). Delete or replace it.") from err
            labels.append(label)
    if not images:
        raise CorruptDataError(f"{folder} holds no JPEG or PNG images.")
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels, dtype=torch.int64)


def square_image(image, size: int):
    """Return the PIL picture centre-cropped to a square and resized (bicubic) to size x size; as is at that size.

    The one definition of how a photo becomes a training image: the bird loader uses it, and so does the
    inference service on every upload (inference_service.bundle.Preprocessing), so both see the same pixels.
    """
    from PIL import Image

    if image.size == (size, size):
        return image
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)


def read_table(path: Path):
    """Return the product table stored in a CSV file as a DataFrame, after checking its checksum and columns."""
    import pandas as pd

    path = Path(path)
    verify_checksum(path)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CorruptDataError(f"{path} could not be read as CSV ({err}). Delete it and download it again.") from err
    features = [c for c in frame.columns if c.startswith("feat_")]
    if "target" not in frame.columns or not features:
        raise CorruptDataError(f"{path} should have feat_* columns and a target column; it has "
                               f"{list(frame.columns)[:6]}... Is it the competition's train.csv?")
    unknown = sorted(set(frame["target"].astype(str)) - set(DATASETS["tabular"].classes))
    if unknown:
        raise CorruptDataError(f"{path}: target holds {unknown[:3]}, not the classes Class_1..Class_9.")
    return frame
