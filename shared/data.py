"""Load the course datasets into memory, check them, split them and serve them in batches.

Images come back as ``uint8`` tensors shaped (N, C, H, W), labels as ``int64`` tensors. Keeping raw
bytes in memory is four times smaller than floats, and turning a whole batch into floats (with
augmentation, see ``shared.augment``) is far faster than going image by image through PIL.

Where files are looked for: ``shared.config.data_dir()``. Tiny mode (``DIC_TINY=1``) reads the small
``*_tiny`` files, full mode the full ones. ``python -m shared.download NAME`` fetches a full dataset.

Everything the course knows about a dataset (its files, checksums, where it is downloaded from, its
channel statistics and class names) is in one record, ``DATASETS[name]``; every module reads it there.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from shared import config
from shared.augment import seed_from_torch, to_float


class DataNotFoundError(FileNotFoundError):
    """A dataset is not where the course looks for it."""


class CorruptDataError(ValueError):
    """A data file exists but is damaged, truncated or not in the expected format."""


@dataclass(frozen=True)
class DatasetInfo:
    """Everything the course knows about one dataset: its files, where it comes from, its statistics.

    ``format`` says how the files are laid out: ``"npz"`` (uint8 image arrays, see ``read_image_npz``),
    ``"image_folder"`` (``train/``, ``valid/``, ``test/``, one folder of JPEGs per class) or ``"csv"``.
    ``mean`` and ``std`` are per channel, for pixels scaled to 0..1. ``classes`` lists the class names
    in label order; it is empty when the files name the classes (the bird species). ``sha256`` maps the
    data pack's file names to their SHA-256 (a downloaded file carries its own in a ``.sha256`` file).
    """

    name: str
    title: str
    tiny: str
    full: str
    format: str
    classes: tuple[str, ...] = ()
    image_shape: tuple[int, int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    stats_source: str = ""
    torchvision_class: str | None = None
    kaggle_dataset: str | None = None
    kaggle_competition: str | None = None
    kaggle_file: str | None = None
    sha256: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format not in ("npz", "image_folder", "csv"):
            raise ValueError(f"{self.name}: unknown format {self.format!r}")
        if (self.mean is None) != (self.std is None) or (self.mean is not None and len(self.mean) != len(self.std)):
            raise ValueError(f"{self.name}: give one mean and one std per channel, or neither")
        if self.mean is not None and self.image_shape is not None and len(self.mean) != self.image_shape[0]:
            raise ValueError(f"{self.name}: {len(self.mean)} channel means for {self.image_shape[0]} channels")
        object.__setattr__(self, "sha256", MappingProxyType(dict(self.sha256)))  # read-only, like the rest

    @property
    def get_it(self) -> str:
        """The command that downloads the full dataset."""
        return f"python -m shared.download {self.name}"

    @property
    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Return (mean, std) per channel, ready for ``BatchTransform(*info.channel_stats)``."""
        if self.mean is None:
            raise ValueError(f"{self.title} has no channel statistics: it is not an image dataset.")
        return self.mean, self.std


_DIGITS = tuple(str(i) for i in range(10))
_IMAGENET = "ImageNet's (Deng et al., 2009), the usual choice for photos"

DATASETS: Mapping[str, DatasetInfo] = MappingProxyType({info.name: info for info in (
    DatasetInfo(
        "mnist", "MNIST", "mnist_tiny.npz", "mnist.npz", "npz", classes=_DIGITS, image_shape=(1, 28, 28),
        mean=(0.1307,), std=(0.3081,), stats_source="published; the data pack's training pixels agree",
        torchvision_class="MNIST",
        sha256={"mnist.npz": "293d473a8120abb0a3d8a8e48be850d685b3d9108fbe3ad2859f9ee607705609",
                "mnist_tiny.npz": "02ef5593dc2b77e98123a56477195939ed01ab8ad3a95c1d4619169722109b09"}),
    DatasetInfo(
        "fashion_mnist", "Fashion-MNIST", "fashion_mnist_tiny.npz", "fashion_mnist.npz", "npz",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
        image_shape=(1, 28, 28), mean=(0.2860,), std=(0.3530,),
        stats_source="published; the data pack's training pixels agree", torchvision_class="FashionMNIST",
        sha256={"fashion_mnist.npz": "f2d55a155d2638f1d663269ea9656692f18d78df72ae93a5dbee3b2b71831f14",
                "fashion_mnist_tiny.npz": "300b66244a4207588d5d26c7d8558f2226bc00eb0acafe498a857dddc36004c0"}),
    DatasetInfo(
        "cifar10", "CIFAR-10", "cifar10_tiny.npz", "cifar10.npz", "npz",
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        image_shape=(3, 32, 32), mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        stats_source="published for the original pixels; the data pack's JPEG copy has slightly lower stds",
        torchvision_class="CIFAR10",
        sha256={"cifar10_tiny.npz": "ac77eefbe05c38ef198b382087bf69408813ea2c1fb5322bcd67bf42a8ed3ab9"}),
    DatasetInfo(
        "birds", "BIRDS 525 SPECIES", "birds_tiny", "birds", "image_folder",
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), stats_source=_IMAGENET,
        kaggle_dataset="gpiosenka/100-bird-species"),
    DatasetInfo(
        "tabular", "Otto Group product classification", "tabular_tiny.csv", "tabular.csv", "csv",
        classes=tuple(f"Class_{i}" for i in range(1, 10)),
        kaggle_competition="otto-group-product-classification-challenge", kaggle_file="train.csv",
        sha256={"tabular_tiny.csv": "2e2dced28f7d69ba4ee09ee998282218ce7a0cf7d6dc94be473ba0181639a54c"}),
)})

# Older names for parts of the records above, kept because notebooks use them. Read-only views.
KNOWN_SHA256: Mapping[str, str] = MappingProxyType(
    {file: digest for info in DATASETS.values() for file, digest in info.sha256.items()})
CHANNEL_STATS: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]] = MappingProxyType(
    {name: info.channel_stats for name, info in DATASETS.items() if info.mean is not None})


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


# ---------------------------------------------------------------------------------------------
# Finding and checking files


def dataset_path(name: str, tiny: bool | None = None) -> Path:
    """Return the path where dataset ``name`` is expected in the current (or the given) mode."""
    info = _info(name)
    tiny = config.is_tiny() if tiny is None else tiny
    return config.data_dir() / (info.tiny if tiny else info.full)


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Known datasets: {', '.join(DATASETS)}.")
    return DATASETS[name]


def _require(name: str, tiny: bool | None) -> Path:
    """Return the dataset's path, or raise a DataNotFoundError that says how to get it."""
    path = dataset_path(name, tiny)
    if path.exists():
        return path
    info = _info(name)
    tiny = config.is_tiny() if tiny is None else tiny
    mode = "tiny" if tiny else "full"
    hint = (f"Download it with:\n    {info.get_it} --data-dir {path.parent}" if not tiny else
            "Tiny files come with the course's data pack: point DIC_DATA_DIR at the folder that holds them "
            "(in the repository that is ../shared/data), or unset DIC_TINY to use the full data.")
    raise DataNotFoundError(
        f"{info.title} ({mode} mode) was not found.\n"
        f"Looked for: {path}\n"
        f"(data folder: {config.data_dir()}, from "
        f"{'DIC_DATA_DIR' if _data_dir_from_env() else 'the per-user cache, since DIC_DATA_DIR is not set'})\n"
        f"{hint}"
    )


def _data_dir_from_env() -> bool:
    return bool(os.environ.get("DIC_DATA_DIR", "").strip())


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file (hashlib reads it in chunks, so large files are fine)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def known_sha256(file_name: str) -> str | None:
    """Return the SHA-256 the data pack records for ``file_name``, or None if it records none."""
    return KNOWN_SHA256.get(file_name)


_verified: set[tuple[str, int, int]] = set()


def verify_checksum(path: Path) -> None:
    """Raise CorruptDataError if ``path`` does not match its recorded SHA-256 (if one is recorded)."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".sha256")
    expected = sidecar.read_text().split()[0].strip().lower() if sidecar.exists() else known_sha256(path.name)
    if expected is None:
        return
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise CorruptDataError(
            f"{path} is damaged or incomplete: its SHA-256 is {actual[:12]}..., expected {expected[:12]}... "
            f"({stat.st_size:,} bytes on disk). Delete it and download it again."
        )
    _verified.add(key)


# ---------------------------------------------------------------------------------------------
# Loaders


def load_mnist(tiny: bool | None = None) -> ImageSet:
    """Return MNIST handwritten digits (1x28x28, 10 classes)."""
    return _load_npz_images("mnist", tiny)


def load_fashion_mnist(tiny: bool | None = None) -> ImageSet:
    """Return Fashion-MNIST clothing images (1x28x28, 10 classes)."""
    return _load_npz_images("fashion_mnist", tiny)


def load_cifar10(tiny: bool | None = None) -> ImageSet:
    """Return CIFAR-10 colour images (3x32x32, 10 classes)."""
    return _load_npz_images("cifar10", tiny)


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


def _load_npz_images(name: str, tiny: bool | None) -> ImageSet:
    return read_image_npz(_require(name, tiny), name)


def load_birds(tiny: bool | None = None, image_size: int = 96) -> ImageSet:
    """Return the bird-species photos (3 x image_size x image_size) from train/valid/test/<species>/ folders."""
    return read_birds(_require("birds", tiny), image_size)


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
                    im = im.convert("RGB")
                    if im.size != (image_size, image_size):
                        im = _center_square(im).resize((image_size, image_size), Image.Resampling.BICUBIC)
                    images.append(np.asarray(im, dtype=np.uint8))
            except (UnidentifiedImageError, OSError) as err:
                raise CorruptDataError(f"{file} is not a readable image ({err}). Delete or replace it.") from err
            labels.append(label)
    if not images:
        raise CorruptDataError(f"{folder} holds no JPEG or PNG images.")
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels, dtype=torch.int64)


def _center_square(im):
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    return im.crop((left, top, left + side, top + side))


def load_tabular(tiny: bool | None = None):
    """Return the Otto Group product table as a pandas DataFrame (id, feat_1..feat_93, target)."""
    import pandas as pd

    path = _require("tabular", tiny)
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


def dataset_status(tiny: bool | None = None):
    """Return a DataFrame saying, for each dataset, where it is expected and whether it is there."""
    import pandas as pd

    rows = []
    for name, info in DATASETS.items():
        path = dataset_path(name, tiny)
        rows.append({"dataset": info.title, "name": name, "found": path.exists(), "path": str(path),
                     "get it with": "" if path.exists() else info.get_it})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Splitting and batching


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
