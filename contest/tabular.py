"""The tabular contest's starter kit: features, four models, cross-validation, blending, stacking, the submission.

The Otto Group product table (61,878 products, 93 count features, 9 classes) stands in for Kaggle's Tabular
Playground Series of June 2021, which was synthesised from a table of this kind. The recipe:

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
  on the other folds' out-of-fold rows only. The entry to submit is the one with the lowest CV loss.

Every model is cross-validated on the same stratified folds; each fold's model also predicts another table
(the contest's test set), and the fold models' predictions are averaged (as most Kaggle teams did).
Lessons import it (``hackathons/tabular_contest/04``); ``python -m bench.tabular_contest`` runs it as one
command. The losses are ``contest.metric``'s, the submission rule ``contest.submission``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from contest import metric
from contest.submission import check_probabilities
from shared import data

CLASSES = data.DATASETS["tabular"].classes


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
    """Return the softmax of logits / temperature, row by row."""
    z = logits / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Return the temperature T in [0.25, 4] minimising the log loss of softmax(logits / T)."""
    from scipy.optimize import minimize_scalar

    best = minimize_scalar(lambda log_t: metric.log_loss_of_indices(y, softmax(logits, np.exp(log_t))),
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
        """Return the out-of-fold log loss: the entry's cross-validation score."""
        return metric.log_loss(y, self.oof)


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
        losses.append(metric.log_loss(y[valid], predictions[0]))
        if test is not None:
            test += predictions[1] / len(folds)
    return CVResult(name, oof, test, time.perf_counter() - start, losses, time.process_time() - cpu)


def blend(probs: Sequence[np.ndarray], weights: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Return the weighted average of probability tables, sharpened (T < 1) or softened (T > 1)."""
    mixed = sum(w * p for w, p in zip(weights, probs, strict=True))
    return softmax(np.log(np.clip(mixed, metric.CLIP, 1)), temperature)


def fit_blend(probs: Sequence[np.ndarray], y: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the weights (non-negative, summing to 1) and temperature minimising the blend's log loss."""
    from scipy.optimize import minimize

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, float]:
        w = np.exp(theta[:-1] - theta[:-1].max())  # a softmax keeps the weights on the simplex
        return w / w.sum(), float(np.exp(theta[-1]))

    def objective(theta: np.ndarray) -> float:
        w, t = unpack(theta)
        return metric.log_loss_of_indices(y, blend(probs, w, t))  # called ~1000 times: no sklearn checks

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
        losses.append(metric.log_loss(y[valid], oof[valid]))
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
        losses.append(metric.log_loss(y[valid], oof[valid]))
    test = None
    if all(r.test is not None for r in results):
        test = fit_stacker(probs, y, c).predict_proba(stack_inputs([r.test for r in results]))
    return CVResult("stacking", oof, test, time.perf_counter() - start, losses, time.process_time() - cpu)


def submission(ids: Sequence, probs: np.ndarray) -> pd.DataFrame:
    """Return a Kaggle-format submission: id, then one probability column per class."""
    frame = pd.DataFrame(probs, columns=list(CLASSES))
    frame.insert(0, "id", np.asarray(ids))
    return frame


def checked_submission(ids: Sequence, probs: np.ndarray) -> pd.DataFrame:
    """Return the submission for these ids, checked by the contest's one rule (``contest.submission``)."""
    frame = submission(ids, probs)
    check_probabilities(frame, ids, CLASSES)  # raises SubmissionError, saying what is wrong
    return frame


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




# ---------------------------------------------------------------------------------------------
# Looking at the data: is the test set like the training set, and which features does a model use?


def adversarial_validation(x_train: np.ndarray, x_test: np.ndarray, folds: int = 3, seed: int = 0,
                           max_iter: int = 50) -> tuple[float, np.ndarray]:
    """Return the ROC AUC of a classifier telling test rows from training rows, and each row's OOF P(test).

    An AUC near 0.5 means the two tables look alike, so cross-validation on the training rows estimates the
    test score; well above 0.5, the rows it finds most test-like (the probabilities, training rows first,
    then test rows) make a validation set closer to the test set, and its features show what shifted.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.vstack([x_train, x_test])
    is_test = np.r_[np.zeros(len(x_train), int), np.ones(len(x_test), int)]
    model = HistGradientBoostingClassifier(max_iter=max_iter, max_leaf_nodes=15, random_state=seed)
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    p_test = cross_val_predict(model, x, is_test, cv=splits, method="predict_proba")[:, 1]
    return float(roc_auc_score(is_test, p_test)), p_test


def permutation_importances(model, x: np.ndarray, y: np.ndarray, names: Sequence[str], repeats: int = 3,
                            max_rows: int | None = 2000, seed: int = 0) -> pd.DataFrame:
    """Return each feature's rise in log loss when its column is shuffled (mean and std over repeats), largest first.

    ``model`` is fitted and has ``predict_proba``; x, y are rows it did not train on. A feature whose
    shuffling costs nothing is one the model does not use (or one another feature stands in for).
    """
    from sklearn.inspection import permutation_importance

    rows = len(y) if max_rows is None else min(max_rows, len(y))  # a sample of the rows per repeat: cheaper
    result = permutation_importance(model, x, y, scoring="neg_log_loss", n_repeats=repeats, random_state=seed,
                                    max_samples=rows)
    table = pd.DataFrame({"feature": list(names), "log loss rise": result.importances_mean,
                          "std": result.importances_std})
    return table.sort_values("log loss rise", ascending=False, ignore_index=True)
