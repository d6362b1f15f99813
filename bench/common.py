"""What every benchmark needs: its command line, the machine it ran on, and the LeNet-5 model."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import torch
from torch import nn

from shared.metrics import accuracy
from shared.train import History, evaluate, fit


def add_data_dir(parser) -> None:
    """Add the --data-dir and --tiny options every benchmark takes."""
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding the datasets (default: DIC_DATA_DIR, else the per-user cache)")
    parser.add_argument("--tiny", action="store_true", help="use the small *_tiny files (a quick smoke run)")


def apply_data_dir(args) -> None:
    """Make the shared loaders read from --data-dir and in the mode asked for."""
    if args.data_dir is not None:
        os.environ["DIC_DATA_DIR"] = str(args.data_dir.resolve())
    os.environ["DIC_TINY"] = "1" if args.tiny else "0"


def machine() -> str:
    """Return one line describing the processor, core count and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}")


def command() -> str:
    """Return the command that reproduces this run (benchmarks run as modules from the repository root)."""
    module = "bench." + Path(sys.argv[0]).stem
    return " ".join(["python -m", module, *sys.argv[1:]])


class LeNet5(nn.Module):
    """LeNet-5 as used in the course: max pooling and ReLU instead of the 1998 subsampling and tanh."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def cifar_cnn(widths: list[int], num_classes: int = 10) -> nn.Sequential:
    """Return week 3's CIFAR-10 CNN: conv3x3-ReLU-maxpool blocks of the given widths, then one linear layer."""
    layers, channels = [], 3
    for width in widths:
        layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels = width
    side = 32 // 2 ** len(widths)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * side * side, num_classes))


def train_one_cycle(model: nn.Module, train, test, epochs: int, lr: float) -> tuple[History, float]:
    """Train with Adam and a one-cycle schedule stepped every batch; return (history, test accuracy)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # One-cycle: warm up, then anneal to almost zero; it reaches a good minimum in few epochs.
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=len(train))
    history = fit(model, train, nn.CrossEntropyLoss(), optimizer, epochs, metrics={"acc": accuracy},
                  scheduler=scheduler, scheduler_interval="batch", device="cpu", progress=False)
    return history, evaluate(model, test, nn.CrossEntropyLoss(), {"acc": accuracy})["acc"]
