"""An MLP on full MNIST: test accuracy and wall time on this machine (the week 2 target: at least 98.0%).

    python -m bench.mlp_mnist --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import time

from torch import nn

from bench.common import add_data_dir, apply_data_dir, command, machine, train_one_cycle
from shared import data
from shared.augment import BatchTransform
from shared.config import seed_everything


def make_mlp(width: int, dropout: float) -> nn.Module:
    """Return the week 2 MLP: two hidden ReLU layers with dropout."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(width, width // 2), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width // 2, 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    apply_data_dir(args)

    started = time.perf_counter()
    seed_everything(args.seed)
    mnist = data.load_mnist()
    to_input = BatchTransform(*data.CHANNEL_STATS["mnist"])
    train = data.BatchLoader(mnist.x_train, mnist.y_train, 128, shuffle=True, transform=to_input, seed=args.seed)
    test = data.BatchLoader(mnist.x_test, mnist.y_test, 1000, transform=to_input)
    history, test_accuracy = train_one_cycle(make_mlp(args.width, args.dropout), train, test, args.epochs, args.lr)
    wall = time.perf_counter() - started

    print(f"command : {command()}")
    print(f"machine : {machine()}")
    print(f"data    : MNIST train {len(mnist.y_train)}, test {len(mnist.y_test)}")
    print(f"settings: MLP 784-{args.width}-{args.width // 2}-10, dropout {args.dropout}, {args.epochs} epochs, "
          f"batch 128, Adam one-cycle max lr {args.lr}, seed {args.seed}")
    print(f"epochs  : {sum(history['seconds']):.1f} s in all")
    print(f"RESULT  : test accuracy {test_accuracy * 100:.2f}%, wall time {wall:.1f} s (load + train + test)")


if __name__ == "__main__":
    main()
