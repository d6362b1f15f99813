"""Run-time settings: tiny or full mode, where the data lives, which device to use, and seeding.

Everything is read from the environment each time it is asked for, so a notebook or a test can change
a variable and see the effect at once.

- ``DIC_TINY=1`` switches to tiny mode: small datasets and few epochs, for CI and quick checks.
- ``DIC_DATA_DIR`` names the data folder for the full datasets; without it, data lives in a per-user cache
  folder. Tiny mode needs no data folder: its small files come with the course, in ``tiny_data/``.
- ``DIC_DEVICE`` forces a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import platformdirs

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_tiny() -> bool:
    """Return True when ``DIC_TINY`` asks for tiny mode."""
    value = os.environ.get("DIC_TINY", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"DIC_TINY={value!r} is not understood: set it to 1 for tiny mode or 0 (or unset it) "
                     "for full mode.")


def by_mode(full: T, tiny: T) -> T:
    """Return ``tiny`` in tiny mode and ``full`` otherwise, e.g. ``epochs = by_mode(full=10, tiny=1)``."""
    return tiny if is_tiny() else full


def data_dir() -> Path:
    """Return the data folder: ``DIC_DATA_DIR`` if set, else a per-user cache folder."""
    configured = os.environ.get("DIC_DATA_DIR", "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(platformdirs.user_cache_dir("deep-into-cnns")) / "data"


def tiny_data_dir() -> Path:
    """Return the folder of the small files tiny mode reads: ``tiny_data/`` in the course's repository."""
    # shared/ sits at the top of the repository (the course is installed with `pip install -e .`).
    return Path(__file__).resolve().parents[1] / "tiny_data"


def get_device(prefer: str | None = None):
    """Return the torch device to train on: ``prefer`` or ``DIC_DEVICE`` if given, else cuda, then mps, then cpu."""
    import torch

    wanted = prefer or os.environ.get("DIC_DEVICE", "").strip() or None
    if wanted is not None:
        device = torch.device(wanted)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"Device {wanted!r} was asked for, but PyTorch sees no CUDA GPU here. "
                               "Unset DIC_DEVICE (or pass prefer=None) to fall back to the CPU.")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"Device {wanted!r} was asked for, but Apple's MPS backend is not available here. "
                               "Unset DIC_DEVICE (or pass prefer=None) to fall back to the CPU.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# CPU instructions that compute in bfloat16 directly. Without them PyTorch emulates bfloat16 in 32-bit
# arithmetic plus conversions, which made the speed run 13 times slower on an AVX2 CPU instead of twice as fast.
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """Return the processor's feature flags as Linux reports them (an empty set elsewhere)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):  # x86 calls them flags, ARM Features
            return set(line.split(":", 1)[1].split())
    return set()


def has_native_bfloat16(device=None) -> bool:
    """Return True when ``device`` (default: ``get_device()``) computes in bfloat16 natively, so autocast pays.

    CUDA: what PyTorch reports for the GPU. CPU: the AVX-512 BF16 or AMX flags (Linux only; elsewhere the
    answer is False, and float32 is never the slow choice). Apple's MPS: False.
    """
    import torch

    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(flag in cpu_flags() for flag in NATIVE_BFLOAT16_FLAGS)
    return False


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (CPU and GPU) so a run can be repeated.

    ``shared.data.BatchLoader`` and ``shared.augment.BatchTransform`` built without a seed draw theirs from
    PyTorch's generator, so their shuffling and augmentation repeat as well.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)
