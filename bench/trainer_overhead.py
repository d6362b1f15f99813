"""Overhead of shared.train.fit against a minimal hand-written loop, and of tracking the run in TensorBoard.

Same model, data, batches and steps for all three; the tracked run logs every epoch through
``fit(on_epoch_end=TensorBoardLogger(...))``, then its settings and final weights on ``close``.

The model is a small CNN defined here for timing only; it is not a model from any lesson. What is
measured is the loop around it, so any model with a realistic cost per batch would do.

    python -m bench.trainer_overhead --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from bench.common import add_data_dir, apply_data_dir, header
from shared import data
from shared.augment import BatchTransform
from shared.metrics import accuracy
from shared.track import TensorBoardLogger
from shared.train import fit


def timing_cnn(num_classes: int = 10) -> nn.Module:
    """A small CNN for 1x28x28 images, for timing the training loop (not a lesson's model)."""
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, num_classes),
    )


def minimal_loop(model, loader, loss_fn, optimizer, epochs):
    """The loop from week 2, with the running loss every real loop keeps for printing."""
    for _ in range(epochs):
        model.train()
        total = 0.0
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"loss {total / len(loader):.4f}", end="\r")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument("--samples", type=int, default=12000, help="training images used per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    apply_data_dir(args)

    mnist = data.load_mnist()
    x, y = mnist.x_train[: args.samples], mnist.y_train[: args.samples]
    mean, std = data.DATASETS["mnist"].channel_stats
    loops = ["hand-written loop", "fit (progress bar + accuracy)", "fit + TensorBoardLogger"]
    # Wall time is what a mentee waits; the process's CPU time is steadier when other work shares the cores.
    wall = {name: [] for name in loops}
    cpu = {name: [] for name in loops}
    runs = Path(tempfile.mkdtemp(prefix="tracking-bench-"))
    for repeat in range(-1, args.repeats):  # repeat -1 warms up caches and thread pools, and is not counted
        # Alternate the loops so that drift in the machine's speed hits all alike.
        for name in loops:
            torch.manual_seed(max(repeat, 0))
            model = timing_cnn()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
            loader = data.BatchLoader(x, y, 128, shuffle=True, transform=BatchTransform(mean, std), seed=max(repeat, 0))
            started, started_cpu = time.perf_counter(), time.process_time()
            if name == "hand-written loop":
                minimal_loop(model, loader, nn.CrossEntropyLoss(), optimizer, args.epochs)
            else:
                logger = (TensorBoardLogger(runs / f"run{repeat + 1}", {"lr": 0.05, "batch": 128})
                          if "TensorBoard" in name else None)
                fit(model, loader, nn.CrossEntropyLoss(), optimizer, args.epochs, metrics={"acc": accuracy},
                    device="cpu", on_epoch_end=logger)
                if logger is not None:
                    logger.close(model)
            if repeat >= 0:
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - started_cpu)

    print()
    print(header())
    print(f"work    : timing_cnn (bench/trainer_overhead.py), {len(x)} MNIST images x {args.epochs} epochs, "
          f"batch 128, {args.repeats} repeats")
    for name in loops:
        print(f"{name:32s} wall median {statistics.median(wall[name]):6.2f} s (runs: "
              f"{', '.join(f'{v:.2f}' for v in wall[name])}); CPU median {statistics.median(cpu[name]):6.2f} s")
    for clock, times in (("wall", wall), ("CPU", cpu)):
        base, ours, tracked = (statistics.median(times[name]) for name in loops)
        print(f"RESULT  : {clock} time: fit overhead {100 * (ours - base) / base:+.1f}% against the hand-written "
              f"loop; tracking adds {100 * (tracked - ours) / ours:+.1f}% to fit")


if __name__ == "__main__":
    main()
