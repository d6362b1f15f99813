"""Load the course datasets into memory: one function per dataset, in tiny or full mode.

Images come back as ``uint8`` tensors shaped (N, C, H, W) in an ``ImageSet``, labels as ``int64``
tensors, the product table as a pandas DataFrame. Tiny mode (``DIC_TINY=1``) reads the small files in the
repository's ``tiny_data/`` folder, full mode the full ones in the data folder (``shared.config.data_dir()``);
``python -m shared.download NAME`` fetches a full dataset.

The work is shared out, one job per module, and this module gathers their names so that notebooks need
only ``from shared import data``:

- ``shared.datasets``: what the course knows about each dataset (``DATASETS``), where its files are and
  their checksums;
- ``shared.readers``: reading one file or folder into memory (``read_image_npz``, ``read_birds``, ...);
- ``shared.splits``: ``train_val_split``;
- ``shared.batches``: ``BatchLoader``.
"""

from __future__ import annotations

from shared import config
from shared.batches import BatchLoader
from shared.datasets import (
    CHANNEL_STATS,
    DATASETS,
    KNOWN_SHA256,
    CorruptDataError,
    DataNotFoundError,
    DatasetInfo,
    dataset_path,
    dataset_status,
    known_sha256,
    require_path,
    sha256_of,
    verify_checksum,
)
from shared.readers import ImageSet, read_birds, read_image_folder, read_image_npz, read_table
from shared.splits import train_val_split

__all__ = [
    "CHANNEL_STATS", "DATASETS", "KNOWN_SHA256", "BatchLoader", "CorruptDataError", "DataNotFoundError",
    "DatasetInfo", "ImageSet", "dataset_path", "dataset_status", "known_sha256", "load_birds", "load_cifar10",
    "load_fashion_mnist", "load_mnist", "load_tabular", "read_birds", "read_image_folder", "read_image_npz",
    "read_table", "require_path", "sha256_of", "train_val_split", "verify_checksum",
]


def load_mnist(tiny: bool | None = None) -> ImageSet:
    """Return MNIST handwritten digits (1x28x28, 10 classes)."""
    return read_image_npz(require_path("mnist", tiny), "mnist")


def load_fashion_mnist(tiny: bool | None = None) -> ImageSet:
    """Return Fashion-MNIST clothing images (1x28x28, 10 classes)."""
    return read_image_npz(require_path("fashion_mnist", tiny), "fashion_mnist")


def load_cifar10(tiny: bool | None = None) -> ImageSet:
    """Return CIFAR-10 colour images (3x32x32, 10 classes)."""
    return read_image_npz(require_path("cifar10", tiny), "cifar10")


def load_birds(tiny: bool | None = None, image_size: int = 96) -> ImageSet:
    """Return the bird-species photos (3 x image_size x image_size) from train/valid/test/<species>/ folders."""
    return read_birds(require_path("birds", tiny), image_size)


def load_tabular(tiny: bool | None = None):
    """Return the product table as a pandas DataFrame (id, feat_1..feat_93, target): Otto's, or in tiny mode a stand-in.

    In tiny mode the table is generated (Otto's rows may not be shared), so the frame says so in
    ``frame.attrs["note"]`` and the loader prints it: a figure measured on it says nothing about Otto.
    """
    tiny = config.is_tiny() if tiny is None else tiny
    frame = read_table(require_path("tabular", tiny))
    note = DATASETS["tabular"].tiny_note if tiny else ""
    if note:
        frame.attrs["note"] = note
        print(f"Tiny mode: this table is {note}.")
    return frame
