"""The tabular contest's starter kit (``contest.tabular``) as one command: CV log loss per model, and a submission.

Cross-validates the kit's four models and its two ensembles (a weighted average and a stack) on a training
table, prints each entry's CV log loss, fold spread and cost, and with ``--predict`` writes the submission
of the entry with the lowest CV loss, checked by the contest's rule (``contest.submission``). The recipe,
and why each model is in it, is described in ``contest/tabular.py``.

    python -m bench.tabular_contest --train ../shared/data/tabular_dev.csv --folds 5 --threads 2
    python -m bench.tabular_contest --train public/train.csv --predict public/test.csv --out submission.csv
    python -m bench.tabular_contest --data-dir ../shared/data --tiny     # a smoke run on the tiny table

Without ``--train`` the table is ``shared.data.load_tabular()`` (``tabular.csv`` in ``--data-dir``, or the
tiny file with ``--tiny``); the data pack's ``tabular_dev.csv`` holds 80% of Otto's table. Everything is
seeded (``--seed``): two runs with the same arguments and thread count print the same losses. The tuning
used only these cross-validation folds of the development table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import add_data_dir, apply_data_dir, header
from contest import metric
from contest.tabular import MODELS, Recipe, best, checked_submission, features, labels, read_table, run
from shared import config, data


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 done)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir(parser)
    parser.add_argument("--train", type=Path, default=None,
                        help="training CSV with a target column (default: shared.data.load_tabular())")
    parser.add_argument("--predict", type=Path, default=None, help="CSV to predict (its target, if any, is ignored)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the submission (with --predict)")
    parser.add_argument("--folds", type=int, default=None, help="cross-validation folds (5; 2 with --tiny)")
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and scikit-learn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-oof", type=Path, default=None, metavar="DIR",
                        help="save each model's out-of-fold (and test) probabilities there as .npy files")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                        help="which models to cross-validate (the ensemble blends all of them)")
    args = parser.parse_args(argv)
    if (args.predict is None) != (args.out is None):
        parser.error("--predict and --out go together")
    apply_data_dir(args)
    # OpenMP threads that spin while they wait (the default) starve each other on a machine shared with other
    # jobs: there the trees ran five times slower with 2 threads than with 1. Waiting passively costs little
    # on an idle machine. It must be set before scikit-learn loads its OpenMP runtime, i.e. here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    recipe = Recipe.tiny(seed=args.seed) if args.tiny else Recipe(seed=args.seed)
    if args.folds is not None:
        recipe.folds = args.folds
    if args.threads:
        torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits  # scikit-learn's OpenMP threads (the trees)

    started = time.perf_counter()
    print(header())
    if args.train is not None:
        train, source = read_table(args.train), str(args.train)
    else:
        train, source = data.load_tabular(), str(data.dataset_path("tabular"))
    predict = read_table(args.predict) if args.predict is not None else None
    config.seed_everything(args.seed)
    print(f"train   : {source}: {len(train):,} rows, {features(train).shape[1]} features; "
          f"{recipe.folds}-fold stratified CV, seed {recipe.seed}, threads {torch.get_num_threads()}")
    if predict is not None:
        print(f"predict : {args.predict}: {len(predict):,} rows")
    with threadpool_limits(limits=args.threads):
        results = run(train, recipe, predict, args.models)
    if args.save_oof is not None:
        args.save_oof.mkdir(parents=True, exist_ok=True)
        for r in results:
            stem = r.name.replace(" ", "_").replace("-", "_")
            np.save(args.save_oof / f"{stem}_oof.npy", r.oof)
            if r.test is not None:
                np.save(args.save_oof / f"{stem}_test.npy", r.test)
        print(f"saved   : out-of-fold probabilities in {args.save_oof}")
    chosen = best(results, labels(train))
    print(f"best    : {chosen.name}, CV log loss {chosen.loss(labels(train)):.4f}")
    if predict is not None:
        frame = checked_submission(predict["id"], chosen.test)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.out, index=False)
        print(f"wrote   : {args.out} ({len(frame):,} rows, predictions of the {chosen.name})")
        if "target" in predict.columns:
            print(f"scored  : log loss {metric.log_loss(labels(predict), chosen.test):.4f} on {args.predict} "
                  "(its target column)")
    total = time.perf_counter() - started
    print(f"total   : {total:.0f} s ({total / 60:.1f} min) wall time, {time.process_time():.0f} s CPU time; "
          f"load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
