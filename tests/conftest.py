"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pack_dir() -> Path:
    """The course's data pack: DIC_DATA_DIR if set, else ../shared/data beside the repository."""
    path = Path(os.environ.get("DIC_DATA_DIR") or REPO.parent / "shared" / "data").resolve()
    if not (path / "mnist_tiny.npz").exists():
        pytest.fail(f"The data pack is not at {path}. Set DIC_DATA_DIR to the folder holding mnist_tiny.npz.")
    return path


@pytest.fixture
def pack_env(monkeypatch, pack_dir):
    """Point the course at the data pack, in tiny mode."""
    monkeypatch.setenv("DIC_DATA_DIR", str(pack_dir))
    monkeypatch.setenv("DIC_TINY", "1")
    return pack_dir


@pytest.fixture
def empty_data_dir(monkeypatch, tmp_path):
    """Point the course at an empty data folder."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("DIC_DATA_DIR", str(folder))
    return folder
