"""What the course knows about each dataset, and where its files are: the registry, paths and checksums.

Everything about a dataset (its files, checksums, where it is downloaded from, its channel statistics and
class names) is in one record, ``DATASETS[name]``; every module reads it there. ``shared.data`` loads the
files; this module only finds and checks them.

Tiny mode (``DIC_TINY=1``) reads the small files in the repository's ``tiny_data/`` folder, full mode the
full ones in the data folder (``shared.config.data_dir()``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from shared import config

# The stand-in table that tiny_data/make_tabular_standin.py writes (byte for byte the same on every run).
STANDIN_SHA256 = "a99e9ac6ce13316682a3da04d29c4ce77a26bc27f4b6418c1bbc688fe02f38b1"


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
    tiny and pack files' names to their SHA-256 (a downloaded file carries its own in a ``.sha256`` file).
    ``tiny_note`` says what the tiny file is when it is not a sample of the real dataset.
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
    tiny_note: str = ""

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
        "tabular", "Otto Group product classification", "tabular_tiny_standin.csv", "tabular.csv", "csv",
        classes=tuple(f"Class_{i}" for i in range(1, 10)),
        kaggle_competition="otto-group-product-classification-challenge", kaggle_file="train.csv",
        # Otto's rows may not be redistributed (Kaggle's competition rules), so tiny mode reads a table we
        # generate with Otto's schema; everything that shows it says so.
        tiny_note="a generated stand-in with Otto's schema (tiny_data/make_tabular_standin.py), not Otto's data",
        sha256={"tabular_tiny_standin.csv": STANDIN_SHA256}),
)})

# Older names for parts of the records above, kept because notebooks use them. Read-only views.
KNOWN_SHA256: Mapping[str, str] = MappingProxyType(
    {file: digest for info in DATASETS.values() for file, digest in info.sha256.items()})
CHANNEL_STATS: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]] = MappingProxyType(
    {name: info.channel_stats for name, info in DATASETS.items() if info.mean is not None})


def dataset_path(name: str, tiny: bool | None = None) -> Path:
    """Return the path dataset ``name`` is read from in the current (or the given) mode.

    Full files live in the data folder. A tiny file is read from the data folder when it holds one (a
    checksum still guards it), else from the course's own copy in ``tiny_data/``.
    """
    info = _info(name)
    tiny = config.is_tiny() if tiny is None else tiny
    if not tiny:
        return config.data_dir() / info.full
    in_data_dir = config.data_dir() / info.tiny
    return in_data_dir if in_data_dir.exists() else config.tiny_data_dir() / info.tiny


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Known datasets: {', '.join(DATASETS)}.")
    return DATASETS[name]


def require_path(name: str, tiny: bool | None = None) -> Path:
    """Return the dataset's path, or raise a DataNotFoundError that says where it was looked for and how to get it."""
    path = dataset_path(name, tiny)
    if path.exists():
        return path
    info = _info(name)
    tiny = config.is_tiny() if tiny is None else tiny
    mode = "tiny" if tiny else "full"
    hint = (f"Download it with:\n    {info.get_it} --data-dir {path.parent}" if not tiny else
            f"Tiny files come with the course, in {config.tiny_data_dir()}: is this a complete clone of the "
            "repository? `git status` shows a deleted file; `git checkout -- tiny_data` restores them.")
    raise DataNotFoundError(
        f"{info.title} ({mode} mode) was not found.\n"
        f"Looked for: {path}" + (f" and {config.data_dir() / info.tiny}" if tiny else "") + "\n"
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
    """Return the SHA-256 the dataset records give for ``file_name``, or None if they give none."""
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


def dataset_status(tiny: bool | None = None):
    """Return a DataFrame saying, for each dataset, where it is expected and whether it is there."""
    import pandas as pd

    tiny = config.is_tiny() if tiny is None else tiny
    rows = []
    for name, info in DATASETS.items():
        path = dataset_path(name, tiny)
        rows.append({"dataset": info.title, "name": name, "found": path.exists(), "path": str(path),
                     "get it with": "" if path.exists() else info.get_it,
                     "note": info.tiny_note if tiny else ""})
    return pd.DataFrame(rows)
