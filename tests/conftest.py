"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

from shared import config

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
# The demo assignment's notebooks are the grading proofs' material, not lessons for nbval to run.
collect_ignore = ["fixtures"]


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    """The course's tiny files, in the repository's tiny_data/ folder."""
    path = config.tiny_data_dir()
    if not (path / "mnist_tiny.npz").exists():
        pytest.fail(f"The tiny files are not in {path}: is this a complete clone? `git checkout -- tiny_data`.")
    return path


@pytest.fixture
def tiny_env(monkeypatch, tmp_path, tiny_dir):
    """Tiny mode, reading the repository's tiny files (the data folder is an empty one)."""
    folder = tmp_path / "empty_data"
    folder.mkdir()
    monkeypatch.setenv("DIC_DATA_DIR", str(folder))
    monkeypatch.setenv("DIC_TINY", "1")
    return tiny_dir


@pytest.fixture(scope="session")
def full_data_dir() -> Path:
    """A folder holding full MNIST and Fashion-MNIST: DIC_DATA_DIR, else the data pack beside the repository.

    Only a developer's machine (and the project's own CI) has one; elsewhere the tests that need it skip.
    """
    candidates = [Path(os.environ["DIC_DATA_DIR"])] if os.environ.get("DIC_DATA_DIR", "").strip() else []
    candidates.append(REPO.parent / "shared" / "data")
    for path in candidates:
        if (path / "mnist.npz").exists() and (path / "fashion_mnist.npz").exists():
            return path.resolve()
    pytest.skip(f"no full MNIST here (looked in {', '.join(map(str, candidates))}); "
                "`python -m shared.download mnist fashion_mnist` fetches it")


@pytest.fixture
def full_env(monkeypatch, full_data_dir):
    """Full mode, reading the full datasets."""
    monkeypatch.setenv("DIC_DATA_DIR", str(full_data_dir))
    monkeypatch.setenv("DIC_TINY", "0")
    return full_data_dir


@pytest.fixture
def empty_data_dir(monkeypatch, tmp_path):
    """Point the course at an empty data folder."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("DIC_DATA_DIR", str(folder))
    return folder
