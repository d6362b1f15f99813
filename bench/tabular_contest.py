"""The tabular contest's best recipe as a command: cross-validated log loss per model, and a submission.

The Otto Group product table (61,878 products, 93 count features, 9 classes; the data pack's
``tabular_dev.csv`` holds 80% of it) stands in for Kaggle's Tabular Playground Series of June 2021, which
was synthesised from a table of this kind. The recipe is the starter kit's (``hackathons/tabular_contest``):

- multinomial logistic regression on log1p-transformed, standardised counts (the linear baseline);
- scikit-learn's ``HistGradientBoostingClassifier`` on the raw counts (trees need no transform): large,
  regularised trees, a random fifth of the features per split, early stopping on a tenth of the rows;
- an MLP in PyTorch on the same inputs as the logistic regression: three hidden layers with batch norm and
  dropout, Adam with a learning rate that drops on a plateau, early stopping on a tenth of the training
  rows, a temperature per network fitted on those rows, and three networks (seeds) averaged;
- k nearest neighbours on log-counts scaled to unit length: weak alone, but it errs differently;
- two ensembles of the models' out-of-fold probabilities: a **weighted average** (non-negative weights and a
  temperature minimising the log loss) and **stacking** (a logistic regression on the log-probabilities
  of the trees, the MLP and the neighbours). Both are scored honestly: whatever combines fold k is fitted
  on the other folds' out-of-fold rows only. The submission is that of the entry with the lowest CV loss.

Every model is cross-validated on the same stratified folds; each fold's model also predicts the
``--predict`` table, and the fold models' predictions are averaged (as most Kaggle teams did).

    python -m bench.tabular_contest --train ../shared/data/tabular_dev.csv --folds 5 --threads 2
    python -m bench.tabular_contest --train public/train.csv --predict public/test.csv --out submission.csv
    python -m bench.tabular_contest --data-dir ../shared/data --tiny     # a smoke run on the tiny table

Without ``--train`` the table is ``shared.data.load_tabular()`` (``tabular.csv`` in ``--data-dir``, or the
tiny file with ``--tiny``). Everything is seeded (``--seed``): two runs with the same arguments and thread
count print the same losses. The tuning used only these cross-validation folds of the development table.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from bench.common import add_data_dir, apply_data_dir, header
from shared import config, data

CLASSES = data.DATASETS["tabular"].classes
CLIP = 1e-15  # Kaggle clipped Otto's probabilities to [1e-15, 1 - 1e-15] before the log


@dataclass
class Recipe:
    """The settings of every model; the defaults are the ones tuned on the development table's folds."""

    folds: int = 5
    seed: int = 0
    # logistic regression
    logreg_c: float = 0.1
    # gradient-boosted trees
    hgb_learning_rate: float = 0.1
    hgb_max_iter: int = 1000
    hgb_max_leaf_nodes: int = 128
    hgb_min_samples_leaf: int = 30
    hgb_l2: float = 5.0
    hgb_max_features: float = 0.2
    # MLP
    mlp_hidden: tuple[int, ...] = (512, 512, 256)
    mlp_input_dropout: float = 0.1
    mlp_dropout: float = 0.3
    mlp_label_smoothing: float = 0.0
    mlp_lr: float = 3e-3
    mlp_weight_decay: float = 1e-5
    mlp_batch_size: int = 1024
    mlp_epochs: int = 60
    mlp_patience: int = 4
    mlp_plateau: int = 1  # epochs without a better validation loss before the learning rate drops 3x
    mlp_seeds: int = 3
    mlp_temperature: bool = True  # calibrate each network on its early-stopping rows
    # k nearest neighbours
    knn_k: int = 10
    # the ensembles
    stack_models: tuple[str, ...] = ("gradient-boosted trees", "MLP", "k nearest neighbours")
    stack_c: float = 0.03

    @classmethod
    def tiny(cls, **changes) -> Recipe:
        """A smaller recipe for the tiny table: the same models, fewer iterations and seeds."""
        return cls(**{"folds": 2, "hgb_max_iter": 25, "mlp_epochs": 8, "mlp_hidden": (256, 256, 128), "mlp_seeds": 1,
                      **changes})


# ---------------------------------------------------------------------------------------------
# The table


def read_table(path: str | Path) -> pd.DataFrame:
    """Return an Otto-style CSV (id, feat_*, and target if it is a training table), after checking it."""
    frame = pd.read_csv(path)
    if "id" not in frame.columns or not any(c.startswith("feat_") for c in frame.columns):
        raise ValueError(f"{path} should have an id column and feat_* columns; it has {list(frame.columns)[:5]}...")
    return frame


def features(frame: pd.DataFrame) -> np.ndarray:
    """Return the count features as float32 (rows, 93), in column order."""
    return frame[[c for c in frame.columns if c.startswith("feat_")]].to_numpy(np.float32)


def labels(frame: pd.DataFrame) -> np.ndarray:
    """Return the target as class indices 0..8 (Class_1 is 0)."""
    index = {name: i for i, name in enumerate(CLASSES)}
    return frame["target"].map(index).to_numpy(np.int64)


def multi_log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    """Return the multi-class log loss as Kaggle scored Otto: clip, renormalise rows, mean of -log p(true)."""
    p = np.clip(probs, CLIP, 1 - CLIP)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


class LogStandardise:
    """log1p, then standardise with the training rows' mean and std: counts with long tails made tame."""

    def fit(self, x: np.ndarray) -> LogStandardise:
        logs = np.log1p(x)
        self.mean, self.std = logs.mean(axis=0), logs.std(axis=0) + 1e-6
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((np.log1p(x) - self.mean) / self.std).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The models: each trains on (x, y) and returns its probabilities for every array in `others`

FitPredict = Callable[[np.ndarray, np.ndarray, Sequence[np.ndarray], Recipe, int], list[np.ndarray]]


def logistic_regression(x: np.ndarray, y: np.ndarray, others: Sequence[np.ndarray], recipe: Recipe,
                        seed: int) -> list[np.ndarray]:
    """Multinomial logistic regression (L2, strength 1/C) on log1p-standardised counts."""
    from sklearn.linear_model import LogisticRegression

    scale = LogStandardise().fit(x)
    model = LogisticRegression(C=recipe.logreg_c, max_iter=2000, random_state=seed).fit(scale(x), y)
    return [model.predict_proba(scale(o)) for o in others]


def gradient_boosting(x: np.ndarray, y: np.ndarray, others: Sequence[np.ndarray], recipe: Recipe,
                      seed: int) -> list[np.ndarray]:
    """scikit-learn's histogram gradient boosting on the raw counts, stopped early on 10% of the rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        learning_rate=recipe.hgb_learning_rate, max_iter=recipe.hgb_max_iter,
        max_leaf_nodes=recipe.hgb_max_leaf_nodes, min_samples_leaf=recipe.hgb_min_samples_leaf,
        l2_regularization=recipe.hgb_l2, max_features=recipe.hgb_max_features,
        early_stopping=True, validation_fraction=0.1, n_iter_no_change=20, random_state=seed)
    model.fit(x, y)
    return [model.predict_proba(o) for o in others]


def tabular_mlp(n_features: int, hidden: Sequence[int], dropout: float, input_dropout: float = 0.0,
                n_classes: int = len(CLASSES)) -> nn.Module:
    """Return dropout on the inputs, then Linear, batch norm, ReLU, dropout per hidden width, then the logits."""
    layers, width = [nn.Dropout(input_dropout)] if input_dropout else [], n_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, n_classes))


def smoothed_cross_entropy(smoothing: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy with label smoothing while training, plain log loss when evaluating.

    ``shared.train.evaluate`` runs without gradients, so the validation loss that early stopping watches
    is the plain log loss, the contest's metric, while the training steps use the smoothed targets.
    """
    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, y, label_smoothing=smoothing if torch.is_grad_enabled() else 0.0)
    return loss


def train_mlp(x: np.ndarray, y: np.ndarray, recipe: Recipe, seed: int) -> tuple[nn.Module, float]:
    """Train one MLP on already transformed inputs, early-stopped on a stratified tenth of them.

    Return the network and its temperature: the T that minimises the log loss of softmax(logits / T) on
    those same held-aside rows. Networks stopped on their best validation loss are still somewhat
    overconfident, and a temperature per network corrects it before the networks are averaged.
    """
    from shared.train import fit

    torch.manual_seed(seed)
    x_all, y_all = torch.from_numpy(x), torch.from_numpy(y)
    x_train, y_train, x_val, y_val = data.train_val_split(x_all, y_all, val_fraction=0.1, seed=seed)
    model = tabular_mlp(x.shape[1], recipe.mlp_hidden, recipe.mlp_dropout, recipe.mlp_input_dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.mlp_lr, weight_decay=recipe.mlp_weight_decay)
    scheduler = None if not recipe.mlp_plateau else torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=1 / 3, patience=recipe.mlp_plateau)
    train_loader = data.BatchLoader(x_train, y_train, recipe.mlp_batch_size, shuffle=True,
                                    transform=lambda b: b, seed=seed)
    val_loader = data.BatchLoader(x_val, y_val, 4096, transform=lambda b: b)
    fit(model, train_loader, smoothed_cross_entropy(recipe.mlp_label_smoothing), optimizer, recipe.mlp_epochs,
        val_loader=val_loader, scheduler=scheduler, patience=recipe.mlp_patience, device="cpu", progress=False)
    temperature = fit_temperature(mlp_logits(model, x_val.numpy()), y_val.numpy()) if recipe.mlp_temperature else 1.0
    return model, temperature


def mlp_logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """Return the model's logits for the (transformed) rows x."""
    from shared.train import predict

    return predict(model, torch.from_numpy(x), device="cpu", batch_size=4096).numpy()


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Return the temperature T in [0.25, 4] minimising the log loss of softmax(logits / T)."""
    from scipy.optimize import minimize_scalar

    best = minimize_scalar(lambda log_t: multi_log_loss(y, softmax(logits, np.exp(log_t))),
                           bounds=(np.log(0.25), np.log(4.0)), method="bounded")
    return float(np.exp(best.x))


def mlp(x: np.ndarray, y: np.ndarray, others: Sequence[np.ndarray], recipe: Recipe, seed: int) -> list[np.ndarray]:
    """The MLP on log1p-standardised counts: ``recipe.mlp_seeds`` networks, each calibrated, averaged."""
    scale = LogStandardise().fit(x)
    x_scaled, inputs = scale(x), [scale(o) for o in others]
    outputs = [np.zeros((len(o), len(CLASSES))) for o in others]
    for bag in range(recipe.mlp_seeds):
        model, temperature = train_mlp(x_scaled, y, recipe, seed * 1000 + bag)
        for out, o in zip(outputs, inputs, strict=True):
            out += softmax(mlp_logits(model, o), temperature) / recipe.mlp_seeds
    return outputs


def unit_log_counts(x: np.ndarray) -> np.ndarray:
    """Return log1p(counts) scaled to unit length per row: Euclidean distance then ranks as cosine does."""
    logs = np.log1p(x)
    return (logs / (np.linalg.norm(logs, axis=1, keepdims=True) + 1e-12)).astype(np.float32)


def nearest_neighbours(x: np.ndarray, y: np.ndarray, others: Sequence[np.ndarray], recipe: Recipe,
                       seed: int) -> list[np.ndarray]:
    """The k nearest training products by the mix of their events, votes weighted by 1 / distance.

    A poor model alone (many probabilities of exactly 0, which log loss punishes without mercy), but its
    mistakes are unlike the trees' and the network's, which is what a stack needs.
    """
    from sklearn.neighbors import KNeighborsClassifier

    model = KNeighborsClassifier(recipe.knn_k, weights="distance").fit(unit_log_counts(x), y)
    return [model.predict_proba(unit_log_counts(o)) for o in others]


MODELS: dict[str, FitPredict] = {
    "logistic regression": logistic_regression,
    "gradient-boosted trees": gradient_boosting,
    "MLP": mlp,
    "k nearest neighbours": nearest_neighbours,
}


# ---------------------------------------------------------------------------------------------
# Cross-validation and the ensemble


def fold_indices(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return the (train, validation) row indices of stratified, shuffled folds (the file is sorted by class)."""
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


@dataclass
class CVResult:
    """One model's out-of-fold probabilities, its averaged predictions for another table, and its cost."""

    name: str
    oof: np.ndarray
    test: np.ndarray | None
    seconds: float
    fold_losses: list[float]
    cpu_seconds: float = 0.0  # CPU time of all threads: on a busy machine, a truer cost than the wall time
    weights: np.ndarray | None = None  # the ensemble's, fitted on every out-of-fold row
    temperature: float = 1.0

    def loss(self, y: np.ndarray) -> float:
        return multi_log_loss(y, self.oof)


def cross_validate(name: str, fit_predict: FitPredict, x: np.ndarray, y: np.ndarray,
                   folds: list[tuple[np.ndarray, np.ndarray]], recipe: Recipe,
                   x_test: np.ndarray | None = None) -> CVResult:
    """Train on each fold's training rows; predict its validation rows (out of fold) and x_test."""
    start, cpu = time.perf_counter(), time.process_time()
    oof = np.zeros((len(y), len(CLASSES)))
    test = None if x_test is None else np.zeros((len(x_test), len(CLASSES)))
    losses = []
    for k, (train, valid) in enumerate(folds):
        others = [x[valid]] if x_test is None else [x[valid], x_test]
        predictions = fit_predict(x[train], y[train], others, recipe, recipe.seed + k)
        oof[valid] = predictions[0]
        losses.append(multi_log_loss(y[valid], predictions[0]))
        if test is not None:
            test += predictions[1] / len(folds)
    return CVResult(name, oof, test, time.perf_counter() - start, losses, time.process_time() - cpu)


def blend(probs: Sequence[np.ndarray], weights: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Return the weighted average of probability tables, sharpened (T < 1) or softened (T > 1)."""
    mixed = sum(w * p for w, p in zip(weights, probs, strict=True))
    return softmax(np.log(np.clip(mixed, CLIP, 1)), temperature)


def fit_blend(probs: Sequence[np.ndarray], y: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the weights (non-negative, summing to 1) and temperature minimising the blend's log loss."""
    from scipy.optimize import minimize

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, float]:
        w = np.exp(theta[:-1] - theta[:-1].max())  # a softmax keeps the weights on the simplex
        return w / w.sum(), float(np.exp(theta[-1]))

    def objective(theta: np.ndarray) -> float:
        w, t = unpack(theta)
        return multi_log_loss(y, blend(probs, w, t))

    best = minimize(objective, np.zeros(len(probs) + 1), method="Nelder-Mead",
                    options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000})
    return unpack(best.x)


def weighted_average(results: Sequence[CVResult], y: np.ndarray,
                     folds: list[tuple[np.ndarray, np.ndarray]]) -> CVResult:
    """Blend the models' probabilities; score the blend honestly (fold k's weights fitted without fold k)."""
    start, cpu = time.perf_counter(), time.process_time()
    probs = [r.oof for r in results]
    oof = np.zeros_like(probs[0])
    losses = []
    for rest, valid in folds:  # rest: every row outside fold k
        weights, temperature = fit_blend([p[rest] for p in probs], y[rest])
        oof[valid] = blend([p[valid] for p in probs], weights, temperature)
        losses.append(multi_log_loss(y[valid], oof[valid]))
    weights, temperature = fit_blend(probs, y)  # on all out-of-fold rows: the blend for new tables
    test = None
    if all(r.test is not None for r in results):
        test = blend([r.test for r in results], weights, temperature)
    return CVResult("weighted average", oof, test, time.perf_counter() - start, losses, time.process_time() - cpu,
                    weights, temperature)


def stack_inputs(probs: Sequence[np.ndarray]) -> np.ndarray:
    """Return the stacker's inputs: every model's log-probabilities side by side, floored at log(1e-4)."""
    # The floor keeps a model's exact zeros (the neighbours') from becoming -34.5, which would dominate.
    return np.hstack([np.log(np.clip(p, 1e-4, 1)) for p in probs])


def fit_stacker(probs: Sequence[np.ndarray], y: np.ndarray, c: float):
    """Return a multinomial logistic regression from the models' standardised log-probabilities to the class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000)).fit(stack_inputs(probs), y)


def stacking(results: Sequence[CVResult], y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
             c: float) -> CVResult:
    """Stacked generalisation (Wolpert, 1992): a second-level model learns how to combine the first level's.

    Scored honestly like the weighted average: the stacker that predicts fold k is trained on the other
    folds' out-of-fold rows only. The final stacker, trained on all of them, combines the test predictions.
    """
    start, cpu = time.perf_counter(), time.process_time()
    probs = [r.oof for r in results]
    oof = np.zeros_like(probs[0])
    losses = []
    for train, valid in folds:
        stacker = fit_stacker([p[train] for p in probs], y[train], c)
        oof[valid] = stacker.predict_proba(stack_inputs([p[valid] for p in probs]))
        losses.append(multi_log_loss(y[valid], oof[valid]))
    test = None
    if all(r.test is not None for r in results):
        test = fit_stacker(probs, y, c).predict_proba(stack_inputs([r.test for r in results]))
    return CVResult("stacking", oof, test, time.perf_counter() - start, losses, time.process_time() - cpu)


def submission(ids: Sequence, probs: np.ndarray) -> pd.DataFrame:
    """Return a Kaggle-format submission: id, then one probability column per class."""
    frame = pd.DataFrame(probs, columns=list(CLASSES))
    frame.insert(0, "id", np.asarray(ids))
    return frame


def check_submission_frame(frame: pd.DataFrame, ids: Sequence) -> None:
    """Raise ValueError unless the submission has the right columns, every id once, and rows of probabilities."""
    if list(frame.columns) != ["id", *CLASSES]:
        raise ValueError(f"columns should be id, {', '.join(CLASSES)}; got {list(frame.columns)}")
    if sorted(frame["id"]) != sorted(ids) or frame["id"].duplicated().any():
        raise ValueError("the submission's ids are not exactly the table's ids")
    values = frame[list(CLASSES)].to_numpy(float)
    if not np.isfinite(values).all() or (values < 0).any() or not np.allclose(values.sum(axis=1), 1, atol=1e-6):
        raise ValueError("every row must hold probabilities (finite, non-negative, summing to 1)")


def run(train: pd.DataFrame, recipe: Recipe, predict: pd.DataFrame | None = None,
        models: Sequence[str] = tuple(MODELS), report: Callable[[str], None] = print) -> list[CVResult]:
    """Cross-validate the models and the two ensembles on ``train``; return their results in that order.

    The stack is built only when all of ``recipe.stack_models`` were run.
    """
    x, y = features(train), labels(train)
    x_test = None if predict is None else features(predict)
    folds = fold_indices(y, recipe.folds, recipe.seed)
    results = []

    def line(r: CVResult) -> None:
        report(f"{r.name:<24} {r.loss(y):11.4f} {np.std(r.fold_losses):9.4f} {r.seconds:8.1f} {r.cpu_seconds:8.1f}")

    report(f"{'model':<24} {'CV log loss':>11} {'fold std':>9} {'seconds':>8} {'CPU s':>8}")
    for name in models:
        results.append(cross_validate(name, MODELS[name], x, y, folds, recipe, x_test))
        line(results[-1])
    if len(results) > 1:
        average = weighted_average(results, y, folds)
        line(average)
        weights = ", ".join(f"{m.name} {w:.2f}" for m, w in zip(results, average.weights, strict=True))
        report(f"    weights {weights}; temperature {average.temperature:.3f}")
        results.append(average)
        stacked = [r for r in results if r.name in recipe.stack_models]
        if len(stacked) == len(recipe.stack_models) > 1:
            results.append(stacking(stacked, y, folds, recipe.stack_c))
            line(results[-1])
            report(f"    a logistic regression (C={recipe.stack_c}) on the log-probabilities of "
                   f"{', '.join(recipe.stack_models)}")
    return results


def best(results: Sequence[CVResult], y: np.ndarray) -> CVResult:
    """Return the entry with the lowest cross-validated log loss: the one to submit."""
    return min(results, key=lambda r: r.loss(y))


def main(argv: list[str] | None = None) -> int:
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
        frame = submission(predict["id"], chosen.test)
        check_submission_frame(frame, predict["id"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.out, index=False)
        print(f"wrote   : {args.out} ({len(frame):,} rows, predictions of the {chosen.name})")
        if "target" in predict.columns:
            print(f"scored  : log loss {multi_log_loss(labels(predict), chosen.test):.4f} on {args.predict} "
                  "(its target column)")
    total = time.perf_counter() - started
    print(f"total   : {total:.0f} s ({total / 60:.1f} min) wall time, {time.process_time():.0f} s CPU time; "
          f"load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
