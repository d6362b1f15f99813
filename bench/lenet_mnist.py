"""LeNet-5 on full MNIST: test accuracy and wall time on this machine.

    python -m bench.lenet_mnist --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import time

from bench.common import LeNet5, add_data_dir, apply_data_dir, command, machine, train_one_cycle
from shared import data
from shared.augment import BatchTransform
from shared.config import seed_everything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    apply_data_dir(args)

    started = time.perf_counter()
    seed_everything(args.seed)
    mnist = data.load_mnist()
    mean, std = data.CHANNEL_STATS["mnist"]
    to_input = BatchTransform(mean, std)
    train = data.BatchLoader(mnist.x_train, mnist.y_train, args.batch_size, shuffle=True, transform=to_input,
                             seed=args.seed)
    test = data.BatchLoader(mnist.x_test, mnist.y_test, 1000, transform=to_input)
    history, test_accuracy = train_one_cycle(LeNet5(), train, test, args.epochs, args.lr)
    wall = time.perf_counter() - started

    print(f"command : {command()}")
    print(f"machine : {machine()}")
    print(f"data    : MNIST train {len(mnist.y_train)}, test {len(mnist.y_test)}")
    print(f"settings: epochs {args.epochs}, batch {args.batch_size}, Adam one-cycle max lr {args.lr}, seed {args.seed}")
    print("epochs  : " + ", ".join(f"{s:.1f}s" for s in history["seconds"]))
    print(f"RESULT  : test accuracy {test_accuracy * 100:.2f}%, wall time {wall:.1f} s (load + train + test)")


if __name__ == "__main__":
    main()
