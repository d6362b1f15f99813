"""The contests' metrics (contest/metric.py) and the submission rule as the tabular kit applies it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from contest import metric, tabular
from contest.submission import SUM_TOLERANCE, SubmissionError, check_probabilities


def test_log_loss_by_hand_with_kaggles_clipping():
    probs = np.array([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0], [0.5, 0.25, 0.255]])
    # row 2: certain and wrong, clipped to 1e-15 (its row sums to 1 + 2e-15 after clipping); row 3 renormalised
    by_hand = -(math.log(0.7) + math.log(1e-15 / (1 + 2e-15)) + math.log(0.5 / 1.005)) / 3
    assert metric.log_loss(["A", "A", "A"], probs, classes=["A", "B", "C"]) == pytest.approx(by_hand, rel=1e-9)
    assert metric.log_loss(np.array([0, 0, 0]), probs) == pytest.approx(by_hand, rel=1e-9)  # column indices
    # classes name the columns: the same rows scored as if they were class C's
    assert metric.log_loss(["A"], probs[:1], classes=["C", "B", "A"]) == pytest.approx(-math.log(0.1))


def test_the_optimisers_log_loss_is_the_same_number():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(9, 0.3), size=500)
    probs[:20, :] = np.eye(9)[rng.integers(0, 9, 20)]  # some certain rows, most of them wrong
    y = rng.integers(0, 9, 500)
    assert metric.log_loss_of_indices(y, probs) == pytest.approx(metric.log_loss(y, probs), rel=1e-12)
    assert metric.log_loss(y, probs) > 1.0  # the certain mistakes cost 34.5 each


def test_accuracy_and_macro_f1_by_hand():
    truth, predicted = ["A", "B", "A"], ["A", "B", "B"]
    assert metric.accuracy(truth, predicted) == pytest.approx(2 / 3)
    f1_a, f1_b = 2 * 1 * 0.5 / 1.5, 2 * 0.5 * 1 / 1.5  # A: precision 1, recall 1/2; B: precision 1/2, recall 1
    assert metric.macro_f1(truth, predicted) == pytest.approx((f1_a + f1_b) / 2)


def test_the_kits_submission_passes_the_one_rule_and_bad_ones_do_not():
    rng = np.random.default_rng(1)
    ids = [5, 3, 9, 1]
    probs = rng.dirichlet(np.ones(len(tabular.CLASSES)), size=len(ids))
    frame = tabular.checked_submission(ids, probs)
    assert list(frame.columns) == ["id", *tabular.CLASSES] and list(frame["id"]) == ids
    rounded = frame.round(3)  # rows rounded to 3 decimals sum to 1 within the tolerance
    assert (rounded[list(tabular.CLASSES)].sum(axis=1) - 1).abs().max() <= SUM_TOLERANCE
    check_probabilities(rounded, ids, tabular.CLASSES)
    with pytest.raises(SubmissionError, match="above 1"):
        tabular.checked_submission(ids, probs * 100)
    with pytest.raises(SubmissionError, match=r"do not sum to 1 \(within 0.01\)"):
        check_probabilities(frame.assign(Class_1=frame["Class_1"] + 0.02), ids, tabular.CLASSES)
    with pytest.raises(SubmissionError, match="1 test id\\(s\\) missing"):
        check_probabilities(frame.iloc[:3], ids, tabular.CLASSES)
    with pytest.raises(SubmissionError, match="missing or infinite"):
        check_probabilities(frame.assign(Class_2=np.nan), ids, tabular.CLASSES)


def _shifted_tables(shift: float, rows: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return a training and a test table of counts; the test's feature 0 has `shift` more events on average."""
    rng = np.random.default_rng(seed)
    train = rng.poisson(1.0, size=(rows, 5)).astype(np.float32)
    test = rng.poisson(1.0, size=(rows, 5)).astype(np.float32)
    test[:, 0] += rng.poisson(shift, size=rows)
    return train, test


def test_adversarial_validation_sees_a_shift_and_no_shift():
    alike, _ = tabular.adversarial_validation(*_shifted_tables(0.0))
    shifted, p_test = tabular.adversarial_validation(*_shifted_tables(3.0))
    assert 0.4 < alike < 0.6 and shifted > 0.8  # Poisson(1) against Poisson(4): the best AUC is about 0.9
    assert p_test.shape == (800,) and p_test[400:].mean() > p_test[:400].mean()  # training rows first


def test_permutation_importance_ranks_the_feature_the_model_uses_first():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4))
    y = (x[:, 2] + 0.3 * rng.normal(size=600) > 0).astype(int)  # only feature c decides the class
    model = LogisticRegression().fit(x[:400], y[:400])
    table = tabular.permutation_importances(model, x[400:], y[400:], ["a", "b", "c", "d"], max_rows=150)
    assert list(table.columns) == ["feature", "log loss rise", "std"] and table.loc[0, "feature"] == "c"
    assert table.loc[0, "log loss rise"] > 0.3 and table["log loss rise"].iloc[1:].abs().max() < 0.05


def test_no_notebook_edits_sys_path_or_imports_mentor_tools_or_bench():
    """Lessons import installed packages (shared, contest); mentors' tools and benchmarks are run, not imported."""
    import ast
    from pathlib import Path

    import nbformat

    repo = Path(__file__).resolve().parents[1]
    generated = {".venv", "grading", ".ipynb_checkpoints", "_build"}
    notebooks = [p for p in repo.glob("*/**/*.ipynb") if not generated & set(p.relative_to(repo).parts)]
    offending = []
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:  # IPython magics: no imports of ours to see
                continue
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                if any(n.split(".")[0] in ("mentor_tools", "bench") for n in names):
                    offending.append(f"{path.relative_to(repo)} imports {names}")
                if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                    offending.append(f"{path.relative_to(repo)} uses sys.path")
    assert notebooks and not offending, offending
