"""The one rule for a valid contest submission, used by the lessons, the tabular kit and the mentors' leaderboard.

A submission has the sample submission's columns and exactly its ids, one row each (any order). In the
tabular contest every cell is a finite probability in [0, 1] and each row sums to 1, both within ``SUM_TOLERANCE``;
in the image contest every label is one of the contest's classes. A file that breaks the rule raises
``SubmissionError`` with a message saying what is wrong and how to fix it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# Catches scores that are not probabilities (percentages, logits, forgotten rows of a softmax) while rows
# rounded to 3 decimals still pass; the log loss renormalises each row anyway (contest.metric).
SUM_TOLERANCE = 0.01


class SubmissionError(ValueError):
    """A submission cannot be scored; the message says what is wrong and what to fix."""


class ContestError(ValueError):
    """A contest cannot be prepared, read or scored as asked (bad source, missing folder, would overwrite)."""


def natural_order(names: Iterable) -> list[str]:
    """Return the names sorted with their numbers read as numbers: Class_10 after Class_9, not after Class_1."""
    return sorted(names, key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s))])


def contest_settings(contest_dir) -> dict:
    """Return contest.json, or for a mentee's copy of public/ alone, what the sample submission tells."""
    folder = Path(contest_dir)
    if (folder / "contest.json").is_file():
        return json.loads((folder / "contest.json").read_text(encoding="utf-8"))
    sample = folder / "sample_submission.csv"
    if not sample.is_file():
        raise ContestError(f"no contest at {folder}: neither contest.json nor sample_submission.csv is there")
    columns = list(pd.read_csv(sample, nrows=0).columns)
    if columns == ["id", "label"]:
        classes = natural_order(p.name for p in (folder / "train").iterdir() if p.is_dir())
        return {"kind": "images", "classes": classes, "id_column": "id"}
    return {"kind": "tabular", "classes": columns[1:], "id_column": "id"}


def few(values, n: int = 5) -> str:
    """Return the first n values and how many there are in all, for a message."""
    values = list(values)
    shown = ", ".join(str(v) for v in values[:n]) + (", ..." if len(values) > n else "")
    return f"{shown} ({len(values)} in all)"


def _read_csv(path: Path) -> pd.DataFrame:
    """Return the CSV as strings (empty cells as NaN), or say why it is not a CSV file."""
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    data = path.read_bytes()
    if not data.strip():
        raise SubmissionError("the file is empty: write a header line (as in sample_submission.csv), then one "
                              "row per test id, e.g. with df.to_csv(path, index=False)")
    if data[:4] == b"PK\x03\x04" or data[:4] == b"\xd0\xcf\x11\xe0":  # zip (.xlsx) or old .xls containers
        raise SubmissionError("this is an Excel workbook (or another zip file), not a CSV: save it as CSV "
                              "(Excel: File > Save As > CSV; pandas: df.to_csv(path, index=False))")
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        return pd.read_csv(path, dtype=str, encoding="utf-8-sig", skipinitialspace=True)
    except UnicodeDecodeError:
        raise SubmissionError("this is not a text CSV file (binary content): write the predictions with "
                              "df.to_csv(path, index=False)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no columns"
        raise SubmissionError(f"not a well-formed CSV file ({first}): every line needs the same columns as "
                              "sample_submission.csv") from None


def _as_strings(submission) -> pd.DataFrame:
    """Return a submission (a path or a DataFrame) as a table of strings, as a CSV file reads."""
    if isinstance(submission, pd.DataFrame):
        frame = submission.reset_index(drop=True)
        return frame.astype(str).mask(frame.isna())
    return _read_csv(Path(submission))


def _checked(frame: pd.DataFrame, sample_ids: Sequence[str], columns: Sequence[str], kind: str,
             classes: Sequence[str]) -> pd.DataFrame:
    """Return the table of strings checked against the rule, typed, in sample_ids' order; or raise SubmissionError."""
    frame.columns = [str(c).strip() for c in frame.columns]
    expected = list(columns)
    missing = [c for c in expected if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in expected]
    if missing or unexpected:
        hint = " (the index was saved: use to_csv(path, index=False))" if any(
            c.startswith("Unnamed") for c in unexpected) else ""
        raise SubmissionError(f"wrong columns: missing {', '.join(missing) or 'none'}; unexpected "
                              f"{', '.join(unexpected) or 'none'}{hint}. Expected: {','.join(expected)}")
    frame = frame[expected].copy()
    ids = frame["id"].str.strip()
    if all(i.isdigit() for i in sample_ids):  # 12.0 is id 12: a column that went through floats
        ids = ids.str.replace(r"^(\d+)\.0*$", r"\1", regex=True)
    frame["id"] = ids
    known = set(sample_ids)
    problems = []
    if ids.isna().any():
        problems.append(f"{ids.isna().sum()} row(s) have no id: every row needs one")
    duplicated = ids[ids.duplicated() & ids.notna()].unique()
    if len(duplicated):
        problems.append(f"duplicate ids {few(duplicated)}: keep one row per id")
    unknown = [i for i in ids.dropna().unique() if i not in known]
    if unknown:
        problems.append(f"unknown ids {few(unknown)}: these are not in the test set")
    given = set(ids)
    absent = [i for i in sample_ids if i not in given]
    if absent:
        problems.append(f"{len(absent)} test id(s) missing, e.g. {few(absent)}: predict every test id")
    if problems:
        raise SubmissionError("; ".join(problems))
    if kind == "images":
        labels = frame["label"].str.strip()
        if labels.isna().any():
            raise SubmissionError(f"no label for ids {few(ids[labels.isna()])}: give every image a species")
        bad = labels[~labels.isin(classes)]
        if len(bad):
            upper = " (labels are case-sensitive)" if bad.str.upper().isin(classes).any() else ""
            raise SubmissionError(f"unknown labels {few(bad.unique())}{upper} at ids {few(ids[bad.index])}: "
                                  f"use the class folder names, e.g. {classes[0]!r}")
        return frame.assign(label=labels).set_index("id").loc[list(sample_ids)].reset_index()
    columns = expected[1:]
    values = frame[columns].apply(pd.to_numeric, errors="coerce")
    for column in columns:
        wrong = frame[column].notna() & values[column].isna()
        if wrong.any():
            example = frame.loc[wrong, column].iloc[0]
            problems.append(f"column {column} has values that are not numbers (e.g. {example!r}) at ids "
                            f"{few(ids[wrong])}")
    if problems:
        raise SubmissionError("; ".join(problems))
    blank = pd.Series(~np.isfinite(values.to_numpy(float)).all(axis=1), index=values.index)
    if blank.any():
        named = [c for c in columns if not np.isfinite(values[c]).all()]
        raise SubmissionError(f"missing or infinite values (NaN, inf) in {', '.join(named)} at ids "
                              f"{few(ids[blank])}: every cell needs a probability")
    negative = (values < 0).any(axis=1)
    if negative.any():
        raise SubmissionError(f"negative probabilities at ids {few(ids[negative])}: probabilities are 0..1 "
                              "(apply a softmax to the scores)")
    above = (values > 1 + SUM_TOLERANCE).any(axis=1)
    if above.any():
        raise SubmissionError(f"probabilities above 1 at ids {few(ids[above])}: probabilities are 0..1 "
                              "(percentages? divide by 100; scores? apply a softmax)")
    sums = values.sum(axis=1)
    off = (sums - 1).abs() > SUM_TOLERANCE
    if off.any():
        first = ", ".join(f"{i} (sum {s:.3g})" for i, s in zip(ids[off][:5], sums[off][:5], strict=True))
        raise SubmissionError(f"{off.sum()} row(s) do not sum to 1 (within {SUM_TOLERANCE}), e.g. ids {first}: "
                              "divide each row by its sum, or apply a softmax")
    frame[columns] = values
    return frame.set_index("id").loc[list(sample_ids)].reset_index()


def check_submission(submission, contest_dir) -> pd.DataFrame:
    """Return the submission (a path or a DataFrame) checked and in the sample's id order, or raise SubmissionError.

    ``contest_dir`` is a contest folder or a mentee's copy of its ``public/`` folder alone.
    """
    info = contest_settings(contest_dir)
    folder = Path(contest_dir) / "public" if (Path(contest_dir) / "public").is_dir() else Path(contest_dir)
    sample = pd.read_csv(folder / "sample_submission.csv", dtype=str)
    return _checked(_as_strings(submission), list(sample["id"]), list(sample.columns), info["kind"],
                    info["classes"])


def check_probabilities(frame: pd.DataFrame, ids: Sequence, classes: Sequence[str]) -> pd.DataFrame:
    """Return a tabular submission checked against the ids and classes it must cover (no contest folder needed).

    The same rule as ``check_submission``, for a table predicted outside a contest (the kit's command line).
    """
    return _checked(_as_strings(frame), [str(i).strip() for i in ids], ["id", *classes], "tabular", list(classes))
