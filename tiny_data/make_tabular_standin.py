"""Write the tabular contest's tiny table: a seeded stand-in with the schema of Otto's ``train.csv``.

The Kaggle Otto Group Product Classification Challenge data may not be redistributed, so the repository
ships this generated table instead. It has Otto's columns (``id``, ``feat_1`` ... ``feat_93``, ``target``),
the class counts of the course's 5,000-row stratified sample of Otto, rows sorted by class (so the ``id``
leaks the class, as in Otto), and a difficulty close to that sample's. No Otto row, and no statistic of
any single Otto feature, went into it: the generative model below is made up, and only its two knobs were
tuned, by comparing baseline log losses (``--check``). The other constants were set by hand so that the
share of zeros, the non-zero features per row and the range of the counts resemble the real sample's.

The generative model, in words. Each class has a few latent *product types*. A type switches on a sparse
set of features, mostly from its class's *signature* features, with log-normal rates. Classes come in
families of siblings (2, 3 and 4; 1 and 9; 6, 7 and 8; 5 alone) whose signatures share most of their
features, and with probability ``overlap`` a product mixes its own type with a type of a sibling class:
both make siblings hard to tell apart. Each product has an activity scale (log-normal), and each count is
Poisson-gamma (negative binomial), so most cells are zero and a few are large. A few features also count
a share of another feature's events, so that some pairs are strongly correlated. Finally a share
``label_noise`` of the rows have their labels shuffled among them.

    python tiny_data/make_tabular_standin.py                      # writes tiny_data/tabular_tiny_standin.csv
    python tiny_data/make_tabular_standin.py --check REAL.csv     # and compares its difficulty with REAL.csv

The output is byte-identical on every run (one ``numpy.random.default_rng`` with a fixed seed); numpy
does not promise the same random streams across major versions, so ``tiny_data/README.md`` records the
version and the SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 20240607  # the data pack's seed
N_FEATURES = 93
# Rows per class in the course's 5,000-row stratified sample of Otto (proportional to Otto's classes).
CLASS_COUNTS = {"Class_1": 156, "Class_2": 1303, "Class_3": 647, "Class_4": 218, "Class_5": 221,
                "Class_6": 1142, "Class_7": 229, "Class_8": 684, "Class_9": 400}
CLASSES = tuple(CLASS_COUNTS)
# Families of sibling classes (0-based class indices): they share signature features and their products can
# mix. Otto's Class_2 and Class_3 are notoriously confused; the other families are our choice, so that not all
# the difficulty sits in one place, and one class stands alone.
FAMILIES = ((0, 8), (1, 2, 3), (4,), (5, 6, 7))
SIBLINGS = {c: tuple(other for other in family if other != c) for family in FAMILIES for c in family}
DEFAULT_OUT = Path(__file__).resolve().parent / "tabular_tiny_standin.csv"


@dataclass(frozen=True)
class Knobs:
    """The two settings tuned so that the stand-in is about as hard as the real sample."""

    overlap: float = 0.2  # chance that a product mixes its type with a sibling class's type
    label_noise: float = 0.03  # share of rows whose labels are shuffled among themselves


@dataclass(frozen=True)
class Shape:
    """The other constants of the generative model, set by hand for Otto-like sparsity and count range."""

    signature_size: int = 20  # features that characterise a class
    shared_signature: float = 0.8  # share of a class's signature that is its family's common features
    sibling_rate_sd: float = 0.4  # how far a type's rate on a common feature strays from the family's (log)
    types_per_class: tuple[int, int] = (2, 5)  # product types of the smallest and of the largest class
    active_per_type: tuple[int, int] = (12, 30)  # fewest and most features a type switches on
    from_signature: float = 0.85  # share of a type's active features taken from its class's signature
    rate_log_mean: float = 0.0  # log-normal rates of an active feature, per product of average activity
    rate_log_sd: float = 0.9
    background_log_mean: float = -2.5  # every feature fires now and then in every product, at a low rate
    background_log_sd: float = 1.0
    activity_log_sd: float = 0.5  # per-product activity scale (some products have many events, some few)
    dispersion: float = 0.6  # gamma shape of the Poisson-gamma counts: smaller means longer tails
    mix_weight: tuple[float, float] = (0.3, 0.7)  # share of the sibling's type in a mixed product
    echo_pairs: int = 10  # pairs of features where the second also counts some of the first's events
    echo_share: tuple[float, float] = (0.3, 0.9)  # range of the share of events counted twice


def generate(knobs: Knobs = Knobs(), shape: Shape = Shape(),
             seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Return (counts as int64 of shape (rows, 93), class index per row), rows sorted by class."""
    rng = np.random.default_rng(seed)
    n_classes, total = len(CLASSES), sum(CLASS_COUNTS.values())
    background = rng.lognormal(shape.background_log_mean, shape.background_log_sd, N_FEATURES)

    # Each class's product types: a rate vector over the features, zero outside the type's active features.
    # A class's signature is its family's common features plus features of its own. A common feature has one
    # typical rate per family, which siblings vary a little: that is what makes their profiles look alike.
    n_common = round(shape.shared_signature * shape.signature_size)
    family_of = {c: k for k, family in enumerate(FAMILIES) for c in family}
    common = [rng.choice(N_FEATURES, n_common, replace=False) for _ in FAMILIES]
    family_rate = np.zeros((len(FAMILIES), N_FEATURES))
    for k, features in enumerate(common):
        family_rate[k, features] = rng.lognormal(shape.rate_log_mean, shape.rate_log_sd, n_common)
    types: list[np.ndarray] = []  # per class, an array (types, features)
    for c in range(n_classes):
        k = family_of[c]
        outside = np.setdiff1d(np.arange(N_FEATURES), common[k])
        own = rng.choice(outside, shape.signature_size - n_common, replace=False)
        signature = np.concatenate([common[k], own])
        others = np.setdiff1d(np.arange(N_FEATURES), signature)
        # Bigger classes are broader: more types, from `low` for a tiny class to `high` for the largest.
        low, high = shape.types_per_class
        n_types = round(low + (high - low) * CLASS_COUNTS[CLASSES[c]] / max(CLASS_COUNTS.values()))
        rates = np.zeros((n_types, N_FEATURES))
        for t in range(n_types):
            n_active = int(rng.integers(shape.active_per_type[0], shape.active_per_type[1] + 1))
            n_own = min(round(shape.from_signature * n_active), shape.signature_size)
            active = np.concatenate([rng.choice(signature, n_own, replace=False),
                                     rng.choice(others, n_active - n_own, replace=False)])
            rates[t, active] = rng.lognormal(shape.rate_log_mean, shape.rate_log_sd, len(active))
            shared = np.intersect1d(active, common[k])
            rates[t, shared] = family_rate[k, shared] * rng.lognormal(0.0, shape.sibling_rate_sd, len(shared))
        types.append(rates)

    # Products, class by class, so that the file comes out sorted by class as Otto's does.
    labels = np.repeat(np.arange(n_classes), [CLASS_COUNTS[name] for name in CLASSES])
    rate = np.empty((total, N_FEATURES))
    for i, c in enumerate(labels):
        product = types[c][rng.integers(len(types[c]))]
        if SIBLINGS[c] and rng.random() < knobs.overlap:
            sibling = rng.choice(SIBLINGS[c])
            other = types[sibling][rng.integers(len(types[sibling]))]
            w = rng.uniform(*shape.mix_weight)
            product = (1 - w) * product + w * other
        rate[i] = product
    activity = rng.lognormal(0.0, shape.activity_log_sd, (total, 1))
    # Poisson-gamma: a gamma-distributed rate per cell, then a Poisson count. The gamma's mean is 1, so the
    # expected count is unchanged, while its shape (dispersion) sets how long the tail is.
    lam = (rate + background) * activity * rng.gamma(shape.dispersion, 1 / shape.dispersion, rate.shape)
    counts = rng.poisson(lam)
    # Real count tables log one event under several headings, so some features are strongly correlated.
    # Here feature b of an echo pair also counts a random share of feature a's events.
    pairs = rng.choice(N_FEATURES, (shape.echo_pairs, 2), replace=False)
    for (a, b), share in zip(pairs, rng.uniform(*shape.echo_share, shape.echo_pairs), strict=True):
        counts[:, b] += rng.binomial(counts[:, a], share)

    # Label noise: shuffle the labels of a random share of rows among those rows. Permuting keeps every
    # class's count exact; a row may draw its own label back, so the true noise is a little lower.
    noisy = rng.choice(total, round(knobs.label_noise * total), replace=False)
    labels[noisy] = labels[rng.permutation(noisy)]
    order = np.argsort(labels, kind="stable")  # sorted by class again; the noisy rows move to their new class
    return counts[order], labels[order]


def write_csv(path: Path, counts: np.ndarray, labels: np.ndarray) -> None:
    """Write Otto's layout: id (1..rows), feat_1..feat_93, target (Class_k); plain '\\n' line ends."""
    header = ",".join(["id", *(f"feat_{j}" for j in range(1, N_FEATURES + 1)), "target"])
    lines = [header]
    for i, (row, label) in enumerate(zip(counts, labels, strict=True), start=1):
        lines.append(f"{i},{','.join(map(str, row.tolist()))},{CLASSES[label]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode("ascii"))  # bytes: no platform-dependent line ends


# ---------------------------------------------------------------------------------------------
# The comparison with the real sample (--check)


def read_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (counts as float64, class index per row) of a CSV in Otto's layout."""
    import pandas as pd

    frame = pd.read_csv(path)
    x = frame[[c for c in frame.columns if c.startswith("feat_")]].to_numpy(np.float64)
    y = frame["target"].map({name: k for k, name in enumerate(CLASSES)}).to_numpy()
    return x, y


def _log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    # Kaggle's Otto metric: clip to [1e-15, 1 - 1e-15], renormalise each row, mean of -log p(true class).
    p = np.clip(probs, 1e-15, 1 - 1e-15)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def measure(x: np.ndarray, y: np.ndarray, threads: int = 2) -> dict[str, float]:
    """Return 5-fold stratified CV log losses and accuracies (seed 0) of 4 baselines, and sparsity figures."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neighbors import NearestNeighbors
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from threadpoolctl import threadpool_limits

    n_classes = len(CLASSES)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(x, y))
    models = {
        "prior": None,
        # The kit's linear baseline (bench/tabular_contest.py, notebook 02): log1p, standardise, C = 0.1.
        "logistic": lambda: make_pipeline(FunctionTransformer(np.log1p), StandardScaler(),
                                          LogisticRegression(C=0.1, max_iter=2000)),
        "trees": lambda: HistGradientBoostingClassifier(random_state=0),  # scikit-learn's defaults
        # The defaults stop early only above 10,000 rows, so on 5,000 they run all 100 rounds and overfit;
        # with early stopping they behave as they do on the full table.
        "trees, early stopping": lambda: HistGradientBoostingClassifier(early_stopping=True, random_state=0),
    }
    out: dict[str, float] = {}
    with threadpool_limits(threads):  # scikit-learn's OpenMP and BLAS threads
        for name, make in models.items():
            oof = np.zeros((len(y), n_classes))
            for train, valid in folds:
                if make is None:
                    oof[valid] = np.bincount(y[train], minlength=n_classes) / len(train)
                else:
                    oof[valid] = make().fit(x[train], y[train]).predict_proba(x[valid])
            out[f"{name} log loss"] = _log_loss(y, oof)
            out[f"{name} accuracy"] = float(np.mean(oof.argmax(axis=1) == y))
        # Notebook 01's noise check: the nearest other product (cosine, log-counts) has the same class.
        logs = np.log1p(x)
        search = NearestNeighbors(n_neighbors=2, metric="cosine", n_jobs=threads).fit(logs)
        _, nearest = search.kneighbors(logs)
        other = np.where(nearest[:, 0] == np.arange(len(y)), nearest[:, 1], nearest[:, 0])
    nonzero = (x > 0).sum(axis=1)
    out.update({"nearest neighbour, same class": float(np.mean(y[other] == y)),
                "zero cells": float(np.mean(x == 0)), "largest count": float(x.max()),
                "median non-zero features per row": float(np.median(nonzero)),
                "rows with at most 3 non-zero": float(np.mean(nonzero <= 3)),
                "non-zero cells equal to 1": float(np.mean(x[x > 0] == 1)),
                "99th percentile of non-zero cells": float(np.percentile(x[x > 0], 99))})
    return out


def comparison_table(real: dict[str, float], standin: dict[str, float]) -> str:
    """Return a Markdown table of the real sample's figures next to the stand-in's, with their ratio."""
    lines = ["| measure | real sample | stand-in | stand-in / real |", "| --- | ---: | ---: | ---: |"]
    for key, value in real.items():
        other = standin[key]
        shown = (f"{value:.4f}", f"{other:.4f}") if abs(value) < 10 else (f"{value:.0f}", f"{other:.0f}")
        ratio = f"{other / value:.2f}" if value else ""
        lines.append(f"| {key} | {shown[0]} | {shown[1]} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the stand-in (and compare it with a real sample if asked); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to write (default {DEFAULT_OUT})")
    parser.add_argument("--check", type=Path, default=None, metavar="REAL_CSV",
                        help="a real table in Otto's layout: print the difficulty of both, side by side")
    parser.add_argument("--overlap", type=float, default=Knobs.overlap,
                        help=f"knob: chance of a mixed product (default {Knobs.overlap})")
    parser.add_argument("--label-noise", type=float, default=Knobs.label_noise,
                        help=f"knob: share of shuffled labels (default {Knobs.label_noise})")
    parser.add_argument("--threads", type=int, default=2, help="threads for --check's models")
    args = parser.parse_args(argv)
    if Knobs(args.overlap, args.label_noise) != Knobs() and args.out.resolve() == DEFAULT_OUT:
        parser.error("other knobs make another table: give --out, so the course's stand-in stays as it is")

    start = time.perf_counter()
    counts, labels = generate(Knobs(args.overlap, args.label_noise))
    write_csv(args.out, counts, labels)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out}: {len(labels):,} rows, sha256 {digest}, {time.perf_counter() - start:.1f} s")
    if args.check is not None:
        # The real table is only read here, to be measured; nothing of it is written anywhere.
        real = measure(*read_table(args.check), threads=args.threads)
        standin = measure(*read_table(args.out), threads=args.threads)
        print(f"\nknobs: overlap {args.overlap}, label noise {args.label_noise}; "
              "5-fold stratified CV, seed 0")
        print(comparison_table(real, standin))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
