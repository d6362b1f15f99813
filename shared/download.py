"""Download the full datasets and convert them into the course's cache format.

Run it from a terminal (with internet):

    python -m shared.download mnist fashion_mnist cifar10      # or: all
    python -m shared.download cifar10 --data-dir /somewhere/big

MNIST, Fashion-MNIST and CIFAR-10 come through torchvision, which checks the MD5 of every file it
fetches. We then write one ``.npz`` per dataset (uint8 images, int64 labels, class names) plus a
``.sha256`` file beside it, so a later load can tell a complete file from a damaged one.
The bird species and the Otto product table live on Kaggle and need the ``kaggle`` command and an API
token (https://www.kaggle.com/docs/api).

Pretrained weights (the bird contest's transfer learning) come through ``download_weights``: a file
fetched once by URL, its SHA-256 checked before it is kept, and an error that says what to do when the
download fails; nothing falls back to other weights behind your back.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from shared import config
from shared.data import DATASETS, CorruptDataError, read_image_npz, sha256_of, verify_checksum

# Older names, read from the dataset records in shared.data.
TORCHVISION_CLASSES = {name: info.torchvision_class for name, info in DATASETS.items() if info.torchvision_class}
KAGGLE_BIRDS = DATASETS["birds"].kaggle_dataset
KAGGLE_OTTO = DATASETS["tabular"].kaggle_competition


def convert_torchvision(name: str, raw_dir: Path, download: bool = True) -> dict[str, np.ndarray]:
    """Return the arrays of a torchvision dataset (downloading it into raw_dir if needed) in the course layout."""
    import torchvision

    info = DATASETS[name]
    dataset_class = getattr(torchvision.datasets, info.torchvision_class)
    arrays: dict[str, np.ndarray] = {}
    for split, train in (("train", True), ("test", False)):
        dataset = dataset_class(str(raw_dir), train=train, download=download)
        images = dataset.data.numpy() if hasattr(dataset.data, "numpy") else np.asarray(dataset.data)
        targets = dataset.targets.numpy() if hasattr(dataset.targets, "numpy") else np.asarray(dataset.targets)
        arrays[f"x_{split}"] = np.ascontiguousarray(images, dtype=np.uint8)
        arrays[f"y_{split}"] = targets.astype(np.int64)
        classes = list(dataset.classes)
    # torchvision names MNIST's classes "0 - zero"; the course (and the data pack) uses "0".."9".
    classes = [c.split(" - ")[0] for c in classes]
    if tuple(classes) != info.classes:
        raise CorruptDataError(f"torchvision's {info.torchvision_class} classes {classes} are not the course's "
                               f"{list(info.classes)}: the labels would mean other things.")
    arrays["classes"] = np.array(info.classes)
    return arrays


def write_npz(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write arrays to ``path`` and its ``.sha256`` file, so an interrupted write is never taken as complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.stem + ".partial.npz")
    np.savez_compressed(temporary, **arrays)
    digest = sha256_of(temporary)
    os.replace(temporary, path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


def download(name: str, data_dir: Path | None = None, force: bool = False) -> Path:
    """Download dataset ``name`` in full into ``data_dir`` (default: the course data folder); return its path."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Choose from: {', '.join(DATASETS)} (or all).")
    data_dir = Path(data_dir) if data_dir is not None else config.data_dir()
    target = data_dir / DATASETS[name].full
    if target.exists() and not force:
        try:
            verify_checksum(target)
            print(f"{name}: already at {target}")
            return target
        except CorruptDataError as err:
            print(f"{name}: {err}\nDownloading it again.")
    info = DATASETS[name]
    if info.torchvision_class:
        arrays = convert_torchvision(name, data_dir / "raw", download=True)
        write_npz(arrays, target)
        read_image_npz(target, name)  # read it back: a file we cannot load is an error now, not later
    elif info.kaggle_dataset:
        _kaggle(["datasets", "download", info.kaggle_dataset, "-p", str(target), "--unzip"])
        for split in ("train", "valid", "test"):
            if not (target / split).is_dir():
                raise CorruptDataError(f"The Kaggle download has no {split}/ folder in {target}. Expected "
                                       "train/, valid/ and test/ with one folder per class.")
    elif info.kaggle_competition:
        _kaggle(["competitions", "download", "-c", info.kaggle_competition, "-f", info.kaggle_file,
                 "-p", str(data_dir)])
        _unpack_competition_file(data_dir, info.kaggle_file, target)
    else:
        raise ValueError(f"{info.title}: its record names no source to download it from.")
    print(f"{name}: ready at {target}")
    return target


def _unpack_competition_file(data_dir: Path, file_name: str, target: Path) -> None:
    """Move a competition's file (zipped or not, as Kaggle sends it) to the course's file name."""
    import zipfile

    zipped = data_dir / f"{file_name}.zip"
    if zipped.exists():
        with zipfile.ZipFile(zipped) as archive:
            archive.extract(file_name, data_dir)
        zipped.unlink()
    os.replace(data_dir / file_name, target)


def _kaggle(arguments: list[str]) -> None:
    if shutil.which("kaggle") is None:
        raise RuntimeError(
            "This dataset is on Kaggle. Install its command line tool and put your API token in place:\n"
            "    pip install kaggle   # then save kaggle.json as described at https://www.kaggle.com/docs/api\n"
            "and run this command again. (For the Otto table, also accept the competition's rules on its page.)"
        )
    subprocess.run(["kaggle", *arguments], check=True)


class WeightsDownloadError(RuntimeError):
    """Pretrained weights could not be downloaded, or the file that came is not the one expected."""


def weights_dir() -> Path:
    """Return the folder pretrained weights go to by default: PyTorch's own cache (``torch.hub.get_dir()``).

    torchvision saves its pretrained weights there under the same file names, so a file it already
    downloaded is found and not fetched again.
    """
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def hash_prefix_from_name(url_or_name: str) -> str:
    """Return the SHA-256 prefix a PyTorch weight file carries in its name (``resnet18-f37072fd.pth``)."""
    name = url_or_name.rstrip("/").rsplit("/", 1)[-1]
    found = re.search(r"-([a-f0-9]{8,})\.", name)  # torch.hub's convention, at least 8 hex digits
    if found is None:
        raise ValueError(f"{name!r} carries no hash in its name (like resnet18-f37072fd.pth): give the "
                         "file's sha256 (or hash_prefix) to download_weights.")
    return found.group(1)


def download_weights(url: str, file_name: str | None = None, *, sha256: str | None = None,
                     hash_prefix: str | None = None, dest_dir: str | Path | None = None,
                     progress: bool = True, hint: str = "") -> Path:
    """Return the path of the weights file at ``url``, downloading it once and checking its SHA-256.

    ``sha256`` is the file's full digest; ``hash_prefix`` its first hex digits (PyTorch puts 8 of them in
    its file names; without either, they are read from the name). ``file_name`` defaults to the URL's
    last part, ``dest_dir`` to ``weights_dir()``. A file already there is checked and used as it is; a
    damaged one is downloaded again. The download goes to a temporary file that is kept only when its
    hash is right (``torch.hub.download_url_to_file`` does this), so a failure leaves nothing behind.
    Any failure raises ``WeightsDownloadError``; ``hint`` is added to its message (what to do offline).
    """
    import torch

    expected = (sha256 or hash_prefix or hash_prefix_from_name(file_name or url)).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8,64}", expected):
        raise ValueError(f"The expected hash {expected!r} should be 8 to 64 hex digits of a SHA-256.")
    file_name = file_name or url.rstrip("/").rsplit("/", 1)[-1]
    dest_dir = Path(dest_dir) if dest_dir is not None else weights_dir()
    target = dest_dir / file_name
    advice = f"\n{hint}" if hint else ""
    if target.exists():
        actual = sha256_of(target)
        if actual.startswith(expected):
            return target
        print(f"{target} is damaged or another file (SHA-256 {actual[:12]}..., expected {expected[:12]}...): "
              "downloading it again.")
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(target), hash_prefix=expected, progress=progress)
    except RuntimeError as err:
        if "invalid hash value" not in str(err):
            raise
        raise WeightsDownloadError(
            f"The file downloaded from {url} is not the one expected: its SHA-256 does not start with "
            f"{expected[:12]}... ({err}). It was not kept. The server may have sent an error page or a changed "
            f"file; try again later, and never load weights that fail this check.{advice}") from err
    except OSError as err:  # urllib's URLError and HTTPError are OSErrors; so are a full disk and a bad path
        raise WeightsDownloadError(
            f"Could not download {url} to {target} ({type(err).__name__}: {err}). Check your internet "
            f"connection (and any proxy); nothing was saved.{advice}") from err
    return target


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m shared.download", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", help=f"datasets to fetch: {', '.join(DATASETS)} or all")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder to save to (default: DIC_DATA_DIR, else the per-user cache folder)")
    parser.add_argument("--force", action="store_true", help="download again even if the file is there")
    parser.add_argument("--if-kaggle", action="store_true",
                        help="skip, with a note saying what is needed, the Kaggle datasets when the kaggle "
                             "command is not installed (`make data` uses it)")
    args = parser.parse_args(argv)
    names = list(DATASETS) if args.names == ["all"] else args.names
    on_kaggle = [name for name in names if name in DATASETS and not DATASETS[name].torchvision_class]
    if args.if_kaggle and on_kaggle and shutil.which("kaggle") is None:
        print(f"Skipped {', '.join(on_kaggle)}: {' and '.join(DATASETS[n].title for n in on_kaggle)} are on "
              "Kaggle and need a (free) Kaggle account:\n"
              "    pip install kaggle   # then save your API token as described at https://www.kaggle.com/docs/api\n"
              "    # for the Otto table, also accept the competition's rules on its Kaggle page\n"
              f"    python -m shared.download {' '.join(on_kaggle)}\n"
              "Until then the hackathons run in tiny mode (DIC_TINY=1) on the files in tiny_data/.")
        names = [name for name in names if name not in on_kaggle]
    failed = []
    for name in names:
        try:
            download(name, args.data_dir, force=args.force)
        except Exception as err:  # report every dataset, then fail
            print(f"{name}: FAILED: {err}", file=sys.stderr)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
