"""Week 3's CIFAR-10 CNNs: test accuracy and wall time of the simple and the improved network.

Targets on 2 CPU cores with the full CIFAR-10: simple network at least 69% within 5 minutes, improved
network at least 75%. Full CIFAR-10 is not in the course's data pack: point --data-dir at a folder holding
cifar10.npz (python -m shared.download cifar10 --data-dir FOLDER).

    python -m bench.cifar_cnn --data-dir ~/datasets/dic
    python -m bench.cifar_cnn --data-dir ../shared/data --tiny       # a smoke run on 2,000 photos
"""

from __future__ import annotations

import argparse
import time

from bench.common import add_data_dir, apply_data_dir, cifar_cnn, command, machine, train_one_cycle
from shared import data
from shared.augment import BatchTransform
from shared.config import seed_everything

NETWORKS = {
    # name: (block widths, augment, epochs, max learning rate)
    "simple": ([32, 64], False, 10, 2e-3),
    "improved": ([64, 128, 256], True, 20, 2e-3),
}


def run(name: str, cifar, epochs: int | None, seed: int) -> tuple[float, float]:
    """Train one network on the training set; return (test accuracy, wall seconds)."""
    widths, augment, default_epochs, lr = NETWORKS[name]
    epochs = epochs or default_epochs
    mean, std = data.CHANNEL_STATS["cifar10"]
    train_transform = BatchTransform(mean, std, crop=32, padding=4, flip=True, seed=seed) if augment \
        else BatchTransform(mean, std)
    started = time.perf_counter()
    seed_everything(seed)
    model = cifar_cnn(widths)
    train = data.BatchLoader(cifar.x_train, cifar.y_train, 128, shuffle=True, transform=train_transform, seed=seed)
    test = data.BatchLoader(cifar.x_test, cifar.y_test, 1000, transform=BatchTransform(mean, std))
    _, test_accuracy = train_one_cycle(model, train, test, epochs, lr)
    print(f"{name:9s}: widths {widths}, augment {augment}, {epochs} epochs, Adam one-cycle max lr {lr}: "
          f"test accuracy {test_accuracy * 100:.2f}%, {time.perf_counter() - started:.0f} s")
    return test_accuracy, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--epochs", type=int, default=None, help="override every network's epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    apply_data_dir(args)
    print(f"command : {command()}")
    print(f"machine : {machine()}")
    cifar = data.load_cifar10()
    print(f"data    : CIFAR-10 train {len(cifar.y_train)}, test {len(cifar.y_test)}")
    results = {name: run(name, cifar, args.epochs, args.seed) for name in args.networks}
    print("RESULT  : " + "; ".join(f"{name} {acc * 100:.2f}% in {seconds:.0f} s"
                                    for name, (acc, seconds) in results.items()))


if __name__ == "__main__":
    main()
