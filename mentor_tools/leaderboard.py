"""Mentor tooling for the hackathons (not lesson material): a local, Kaggle-style contest and leaderboard.

A contest is a folder. ``prepare-*`` splits a full dataset into what mentees receive (``public/``) and an
answer key that stays with the mentor (``answers/``); teams hand in CSV files under ``submissions/<team>/``;
``score`` validates every new file, scores it on the public and the private part of the test set and
writes ``leaderboard/``. Rule: each team's best public submission is its final one; the final ranking
(``--final``) orders teams by that submission's private score. Before it, private scores only appear in
the mentor-only ``leaderboard/scores.csv``. Run ``python -m mentor_tools.leaderboard --help``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

CLIP = 1e-15  # as Kaggle scored Otto: no prediction is certain, so one wrong 0 costs ln(1e15), not infinity
SUM_TOLERANCE = 0.01  # catches scores that are not probabilities; rows rounded to 3 decimals still pass
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
SPLIT_NAMES = {"train", "valid", "test"}  # the bird set's layout, merged before splitting
METRICS = {"tabular": ("log_loss",), "images": ("accuracy", "macro_f1")}


class SubmissionError(ValueError):
    """A submission cannot be scored; the message says what is wrong and what to fix."""


class ContestError(ValueError):
    """A contest cannot be prepared or scored as asked (bad source, missing folder, would overwrite)."""


# ---------------------------------------------------------------- preparing a contest

def _natural(names) -> list[str]:
    # Class_10 after Class_9, not after Class_1
    return sorted(names, key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s))])


def _stratified_mask(labels: np.ndarray, fraction: float, rng: np.random.Generator, keep_one: bool) -> np.ndarray:
    """Return a boolean mask choosing ``fraction`` of the rows, class by class (largest remainders)."""
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * fraction
    take = np.floor(quota).astype(int)
    # Hand the rows lost to rounding to the classes closest to earning one (ties at random), so the total
    # is round(n * fraction) and every class is within one row of its share. sklearn's splitter refuses
    # splits smaller than the number of classes, which the tiny bird set (5 photos a species) needs.
    room = counts - take - (1 if keep_one else 0)  # keep_one: every class keeps a training example
    extra = int(round(len(labels) * fraction)) - take.sum()
    for i in np.lexsort((rng.random(len(classes)), -(quota - take))):
        if extra <= 0:
            break
        if room[i] > 0:
            take[i] += 1
            extra -= 1
    mask = np.zeros(len(labels), bool)
    for cls, k in zip(classes, take, strict=True):
        mask[rng.permutation(np.flatnonzero(labels == cls))[:k]] = True
    return mask


def _split(labels: np.ndarray, test_fraction: float, public_fraction: float, seed: int):
    """Return the test mask and, over all rows, the public mask (a subset of the test rows)."""
    for name, value in (("test_fraction", test_fraction), ("public_fraction", public_fraction)):
        if not 0 < value < 1:
            raise ContestError(f"{name} must be between 0 and 1, not {value}")
    rng = np.random.default_rng(seed)
    test = _stratified_mask(labels, test_fraction, rng, keep_one=True)
    public = np.zeros(len(labels), bool)
    public[np.flatnonzero(test)[_stratified_mask(labels[test], public_fraction, rng, keep_one=False)]] = True
    return test, public


def _start_contest(contest_dir, source, force: bool) -> Path:
    """Return the contest folder, emptied of an earlier contest; refuse to lose submissions or answers."""
    contest, source = Path(contest_dir).resolve(), Path(source).resolve()
    if contest == source or source in contest.parents or contest in source.parents:
        raise ContestError(f"the contest folder {contest} and the source {source} must not contain each other")
    if contest.exists() and not contest.is_dir():
        raise ContestError(f"{contest} is a file, not a folder")
    handed_in = [p for p in (contest / "submissions").rglob("*") if p.is_file()]
    has_key = (contest / "answers" / "answer_key.csv").exists()
    if (handed_in or has_key) and not force:
        raise ContestError(f"{contest} already holds a contest ({len(handed_in)} submission file(s), answer key: "
                           f"{'yes' if has_key else 'no'}); nothing was changed. Use --force (force=True) to "
                           "replace it, or pick another folder.")
    for part in ("public", "answers", "submissions", "leaderboard"):
        shutil.rmtree(contest / part, ignore_errors=True)
    (contest / "answers").mkdir(parents=True)
    (contest / "submissions").mkdir()
    (contest / "public").mkdir()
    return contest


def _write_contest(contest: Path, kind: str, classes, key: pd.DataFrame, extra: dict) -> Path:
    """Write the answer key and contest.json; return the contest folder."""
    key.to_csv(contest / "answers" / "answer_key.csv", index=False)
    info = {"kind": kind, "metrics": list(METRICS[kind]), "ranking_metric": METRICS[kind][0],
            "higher_is_better": kind == "images", "classes": list(classes), "id_column": "id",
            "created": datetime.now().isoformat(timespec="seconds"), **extra}
    (contest / "contest.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return contest


def prepare_tabular_contest(source_csv, contest_dir, *, test_fraction: float = 0.25,
                            public_fraction: float = 0.5, seed: int = 0, force: bool = False) -> Path:
    """Split an Otto-style CSV (id, features, target) into a contest; return the contest folder."""
    source = Path(source_csv)
    if not source.is_file():
        raise ContestError(f"source CSV not found: {source}")
    try:
        table = pd.read_csv(source)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ContestError(f"{source} is not a readable CSV file ({exc})") from None
    missing = [c for c in ("id", "target") if c not in table.columns]
    if missing or table["target"].isna().any() or table["target"].nunique() < 2:
        raise ContestError(f"{source} needs an 'id' and a 'target' column with at least two classes and no "
                           f"empty targets (missing columns: {', '.join(missing) or 'none'})")
    labels = table["target"].astype(str).to_numpy()
    classes = _natural(set(labels))
    test, public = _split(labels, test_fraction, public_fraction, seed)
    contest = _start_contest(contest_dir, source, force)
    # New ids, in random order: the Otto file is sorted by class, so its own ids would give the class away.
    table = table.rename(columns={"id": "source_id"})
    table.insert(0, "id", np.random.default_rng(seed + 1).permutation(len(table)) + 1)
    features = [c for c in table.columns if c not in ("id", "source_id", "target")]
    table[~test].sort_values("id")[["id", *features, "target"]].to_csv(contest / "public" / "train.csv", index=False)
    test_rows = table[test].assign(usage=np.where(public[test], "Public", "Private")).sort_values("id")
    test_rows[["id", *features]].to_csv(contest / "public" / "test.csv", index=False)
    sample = pd.DataFrame({"id": test_rows["id"], **{c: 1 / len(classes) for c in classes}})
    sample.to_csv(contest / "public" / "sample_submission.csv", index=False)
    return _write_contest(contest, "tabular", classes, test_rows[["id", "target", "usage", "source_id"]],
                          {"seed": seed, "test_fraction": test_fraction, "public_fraction": public_fraction,
                           "source": str(source.resolve()), "ids": "renumbered 1..N in random order"})


def prepare_image_contest(source_dir, contest_dir, *, test_fraction: float = 0.25,
                          public_fraction: float = 0.5, seed: int = 0, force: bool = False) -> Path:
    """Split an ImageFolder tree (<class>/ or train|valid|test/<class>/) into a contest; return its folder."""
    source = Path(source_dir)
    if not source.is_dir():
        raise ContestError(f"source folder not found: {source}")
    tops = [p for p in source.iterdir() if p.is_dir()]
    merged = bool(tops) and {p.name for p in tops} <= SPLIT_NAMES
    roots = sorted(tops) if merged else [source]
    files = sorted((p, p.parent.name, root.name if merged else "") for root in roots for p in root.glob("*/*")
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    labels = np.array([cls for _, cls, _ in files])
    if len(set(labels)) < 2:
        raise ContestError(f"{source} needs at least two class folders of images (.jpg, .jpeg, .png), "
                           "laid out as <class>/*.jpg or train|valid|test/<class>/*.jpg")
    test, public = _split(labels, test_fraction, public_fraction, seed)
    contest = _start_contest(contest_dir, source, force)
    order = np.random.default_rng(seed + 1).permutation(len(files))  # test ids say nothing of the class
    width = len(str(len(files)))
    (contest / "public" / "test").mkdir()
    rows = []
    for i, ((path, cls, split), is_test) in enumerate(zip(files, test, strict=True)):
        if is_test:
            image_id = f"img_{order[i]:0{width}d}"
            shutil.copy2(path, (contest / "public" / "test").joinpath(image_id + path.suffix.lower()))
            rows.append((image_id, cls, "Public" if public[i] else "Private", str(path.relative_to(source))))
        else:  # merged splits can repeat a file name: prefix the split
            target = contest / "public" / "train" / cls / (f"{split}_{path.name}" if split else path.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    key = pd.DataFrame(rows, columns=["id", "label", "usage", "source"]).sort_values("id")
    counts = pd.Series(labels[~test]).value_counts()
    common = _natural(counts[counts == counts.max()].index)[0]
    pd.DataFrame({"id": key["id"], "label": common}).to_csv(contest / "public" / "sample_submission.csv", index=False)
    return _write_contest(contest, "images", _natural(set(labels)), key,
                          {"seed": seed, "test_fraction": test_fraction, "public_fraction": public_fraction,
                           "source": str(source.resolve())})


# ---------------------------------------------------------------- checking a submission

def _settings(contest_dir) -> dict:
    """Return contest.json, or for a mentee's copy of public/ alone, what the sample submission tells."""
    folder = Path(contest_dir)
    if (folder / "contest.json").is_file():
        return json.loads((folder / "contest.json").read_text(encoding="utf-8"))
    sample = folder / "sample_submission.csv"
    if not sample.is_file():
        raise ContestError(f"no contest at {folder}: neither contest.json nor sample_submission.csv is there")
    columns = list(pd.read_csv(sample, nrows=0).columns)
    if columns == ["id", "label"]:
        classes = _natural(p.name for p in (folder / "train").iterdir() if p.is_dir())
        return {"kind": "images", "classes": classes, "id_column": "id"}
    return {"kind": "tabular", "classes": columns[1:], "id_column": "id"}


def _few(values, n: int = 5) -> str:
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


def check_submission(submission, contest_dir) -> pd.DataFrame:
    """Return the submission (a path or a DataFrame) checked and in the sample's id order, or raise SubmissionError."""
    info = _settings(contest_dir)
    folder = Path(contest_dir) / "public" if (Path(contest_dir) / "public").is_dir() else Path(contest_dir)
    sample = pd.read_csv(folder / "sample_submission.csv", dtype=str)
    if isinstance(submission, pd.DataFrame):
        frame = submission.reset_index(drop=True)
        frame = frame.astype(str).mask(frame.isna())  # the same strings a CSV file gives
    else:
        frame = _read_csv(Path(submission))
    frame.columns = [str(c).strip() for c in frame.columns]
    expected = list(sample.columns)
    missing = [c for c in expected if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in expected]
    if missing or unexpected:
        hint = " (the index was saved: use to_csv(path, index=False))" if any(
            c.startswith("Unnamed") for c in unexpected) else ""
        raise SubmissionError(f"wrong columns: missing {', '.join(missing) or 'none'}; unexpected "
                              f"{', '.join(unexpected) or 'none'}{hint}. Expected: {','.join(expected)}")
    frame = frame[expected].copy()
    ids = frame["id"].str.strip()
    if sample["id"].str.isdigit().all():  # 12.0 is id 12: a column that went through floats
        ids = ids.str.replace(r"^(\d+)\.0*$", r"\1", regex=True)
    frame["id"] = ids
    known = set(sample["id"])
    problems = []
    if ids.isna().any():
        problems.append(f"{ids.isna().sum()} row(s) have no id: every row needs one")
    duplicated = ids[ids.duplicated() & ids.notna()].unique()
    if len(duplicated):
        problems.append(f"duplicate ids {_few(duplicated)}: keep one row per id")
    unknown = [i for i in ids.dropna().unique() if i not in known]
    if unknown:
        problems.append(f"unknown ids {_few(unknown)}: these are not in the test set")
    given = set(ids)
    absent = [i for i in sample["id"] if i not in given]
    if absent:
        problems.append(f"{len(absent)} test id(s) missing, e.g. {_few(absent)}: predict every test id")
    if problems:
        raise SubmissionError("; ".join(problems))
    if info["kind"] == "images":
        labels = frame["label"].str.strip()
        if labels.isna().any():
            raise SubmissionError(f"no label for ids {_few(ids[labels.isna()])}: give every image a species")
        bad = labels[~labels.isin(info["classes"])]
        if len(bad):
            upper = " (labels are case-sensitive)" if bad.str.upper().isin(info["classes"]).any() else ""
            raise SubmissionError(f"unknown labels {_few(bad.unique())}{upper} at ids {_few(ids[bad.index])}: "
                                  f"use the class folder names, e.g. {info['classes'][0]!r}")
        return frame.assign(label=labels).set_index("id").loc[sample["id"]].reset_index()
    classes = expected[1:]
    values = frame[classes].apply(pd.to_numeric, errors="coerce")
    for column in classes:
        wrong = frame[column].notna() & values[column].isna()
        if wrong.any():
            example = frame.loc[wrong, column].iloc[0]
            problems.append(f"column {column} has values that are not numbers (e.g. {example!r}) at ids "
                            f"{_few(ids[wrong])}")
    if problems:
        raise SubmissionError("; ".join(problems))
    blank = pd.Series(~np.isfinite(values.to_numpy(float)).all(axis=1), index=values.index)
    if blank.any():
        columns = [c for c in classes if not np.isfinite(values[c]).all()]
        raise SubmissionError(f"missing or infinite values (NaN, inf) in {', '.join(columns)} at ids "
                              f"{_few(ids[blank])}: every cell needs a probability")
    negative = (values < 0).any(axis=1)
    if negative.any():
        raise SubmissionError(f"negative probabilities at ids {_few(ids[negative])}: probabilities are 0..1 "
                              "(apply a softmax to the scores)")
    sums = values.sum(axis=1)
    off = (sums - 1).abs() > SUM_TOLERANCE
    if off.any():
        first = ", ".join(f"{i} (sum {s:.3g})" for i, s in zip(ids[off][:5], sums[off][:5], strict=True))
        raise SubmissionError(f"{off.sum()} row(s) do not sum to 1 (within {SUM_TOLERANCE}), e.g. ids {first}: "
                              "divide each row by its sum, or apply a softmax")
    frame[classes] = values
    return frame.set_index("id").loc[sample["id"]].reset_index()


# ---------------------------------------------------------------- scoring and the leaderboard

def _answer_key(contest: Path) -> pd.DataFrame:
    """Return the answer key with the true class in a column named truth."""
    path = contest / "answers" / "answer_key.csv"
    if not path.is_file():
        raise ContestError(f"no answer key at {path}: scoring needs the mentor's contest folder")
    key = pd.read_csv(path, dtype=str)
    return key.rename(columns={"target": "truth", "label": "truth"})


def _metrics(info: dict, part: pd.DataFrame) -> dict:
    """Return the contest's metrics for the rows of one part of the test set (NaN when it is empty)."""
    # sklearn takes a second to import: only when scoring
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    if part.empty:
        return {m: float("nan") for m in METRICS[info["kind"]]}
    if info["kind"] == "tabular":
        p = np.clip(part[info["classes"]].to_numpy(float), CLIP, 1 - CLIP)
        p /= p.sum(axis=1, keepdims=True)
        # labels=: a part of the test set may lack a class, which log_loss must still know is a column
        return {"log_loss": float(log_loss(part["truth"], p, labels=info["classes"]))}
    # Macro F1 averages over the species present in the truth or the predictions of this part.
    return {"accuracy": float(accuracy_score(part["truth"], part["label"])),
            "macro_f1": float(f1_score(part["truth"], part["label"], average="macro", zero_division=0))}


def score_submission(submission, contest_dir) -> dict:
    """Return {"public": {metric: value}, "private": {...}} for a submission; needs the answer key."""
    contest = Path(contest_dir)
    key = _answer_key(contest)
    info = _settings(contest)
    merged = key.merge(check_submission(submission, contest), on="id", how="left")
    return {usage.lower(): _metrics(info, merged[merged["usage"] == usage]) for usage in ("Public", "Private")}


def _markdown(frame: pd.DataFrame) -> str:
    def cell(v) -> str:
        text = "" if pd.isna(v) else f"{v:.5f}" if isinstance(v, float) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + " --- |" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _plot_history(ok: pd.DataFrame, info: dict, path: Path) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure  # no pyplot: leaves the backend of a calling notebook alone

    metric, higher = info["ranking_metric"], info["higher_is_better"]
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    last = pd.to_datetime(ok["submitted"]).max()
    for team, rows in ok.sort_values("submitted").groupby("team"):
        scores = rows[f"public_{metric}"]
        best = list(scores.cummax() if higher else scores.cummin())
        # each line runs on to the latest submission, so a team's standing stays visible
        ax.step([*pd.to_datetime(rows["submitted"]), last], [*best, best[-1]], where="post", label=team)
        ax.plot(pd.to_datetime(rows["submitted"]), best, "o", color=ax.lines[-1].get_color())
    ax.xaxis.set_major_formatter(ConciseDateFormatter(AutoDateLocator()))
    if ok.empty:
        ax.text(0.5, 0.5, "no scored submissions yet", ha="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize="small")
    ax.set(xlabel="submission time", ylabel=f"best public {metric.replace('_', ' ')}",
           title=f"Best public score so far ({'higher' if higher else 'lower'} is better)")
    fig.savefig(path, dpi=100)


def update_leaderboard(contest_dir, *, final: bool = False) -> pd.DataFrame:
    """Score new submission files, keep earlier rows, write leaderboard/; return the leaderboard table."""
    contest = Path(contest_dir)
    if not (contest / "contest.json").is_file():
        raise ContestError(f"no contest at {contest}: contest.json not found (make one with prepare-tabular "
                           "or prepare-images)")
    info = _settings(contest)
    _answer_key(contest)  # a missing key is the mentor's problem: stop before blaming every file for it
    metric, higher = info["ranking_metric"], info["higher_is_better"]
    out = contest / "leaderboard"
    out.mkdir(exist_ok=True)
    scores_path = out / "scores.csv"
    old = pd.read_csv(scores_path, dtype={"team": str, "file": str, "sha256": str, "error": str},
                      keep_default_na=False, na_values=[""]) if scores_path.is_file() else None
    seen = set() if old is None else set(zip(old["team"], old["file"], old["sha256"], strict=True))
    rows = []
    files = sorted(p for p in (contest / "submissions").glob("*/*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if (path.parent.name, path.name, digest) in seen:
            continue  # scored already; an edited file has a new hash, so it counts as a new submission
        row = {"team": path.parent.name, "file": path.name, "sha256": digest,
               "submitted": datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds"),
               "scored_at": datetime.now().isoformat(timespec="seconds"), "status": "ok", "error": ""}
        try:
            for usage, values in score_submission(path, contest).items():
                row.update({f"{usage}_{m}": v for m, v in values.items()})
        except ContestError:
            raise
        except Exception as exc:  # one bad file must never stop the others from being scored
            message = str(exc) if isinstance(exc, SubmissionError) else f"could not be read ({exc})"
            row.update(status="error", error=message)
        rows.append(row)
    columns = ["team", "file", "sha256", "submitted", "scored_at", "status", "error",
               *(f"{u}_{m}" for u in ("public", "private") for m in METRICS[info["kind"]])]
    scores = pd.DataFrame(rows, columns=columns)
    if old is not None:
        scores = pd.concat([old.reindex(columns=columns), scores], ignore_index=True) if rows else old
    scores.to_csv(scores_path, index=False)

    ok = scores[scores["status"] == "ok"]
    # Each team's best public submission (the earliest among equals) is its final one.
    best = ok.sort_values([f"public_{metric}", "submitted"], ascending=[not higher, True]).groupby("team").head(1)
    rank_by = f"{'private' if final else 'public'}_{metric}"
    board = best.sort_values([rank_by, "submitted"], ascending=[not higher, True])
    board = board.assign(rank=board[rank_by].rank(method="min", ascending=not higher).astype(int),
                         submissions=board["team"].map(scores.groupby("team").size()))
    shown = [f"{u}_{m}" for u in (("public", "private") if final else ("public",)) for m in METRICS[info["kind"]]]
    board = board[["rank", "team", *shown, "submissions", "submitted", "file"]].reset_index(drop=True)
    board.to_csv(out / "leaderboard.csv", index=False)

    errors = scores.loc[scores["status"] == "error", ["team", "file", "submitted", "error"]]
    title = f"Leaderboard: {contest.name}" + (" (final)" if final else "")
    rule = (f"Ranked by {'private' if final else 'public'} {metric.replace('_', ' ')} "
            f"({'higher' if higher else 'lower'} is better). Each team's best public submission is its final "
            "one; " + ("the private part of the test set decides." if final else
                       "the final ranking uses the hidden private part of the test set."))
    (out / "leaderboard.md").write_text(f"# {title}\n\n{rule}\n\n{_markdown(board)}\n## Files that could not "
                                        f"be scored\n\n{_markdown(errors) if len(errors) else 'None.'}\n",
                                        encoding="utf-8")
    html = board.to_html(index=False, float_format="{:.5f}".format, na_rep="")
    html_errors = errors.to_html(index=False) if len(errors) else "<p>None.</p>"
    (out / "leaderboard.html").write_text(
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title></head><body>\n<h1>{title}"
        f"</h1>\n<p>{rule}</p>\n{html}\n<h2>Files that could not be scored</h2>\n{html_errors}\n</body></html>\n",
        encoding="utf-8")
    _plot_history(ok, info, out / "history.png")
    return board


# ---------------------------------------------------------------- command line

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit status 1, like every other bad input
        self.exit(1, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 done, 1 bad input)."""
    parser = _Parser(prog="python -m mentor_tools.leaderboard", description=__doc__.split("\n\n")[0],
                     epilog="MENTORS.md, section 'Running a contest', walks through a contest end to end.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, source, what in (("prepare-tabular", "SOURCE_CSV", "an Otto-style CSV (id, features, target)"),
                               ("prepare-images", "SOURCE_DIR", "an ImageFolder tree (<class>/*.jpg or "
                                                                "train|valid|test/<class>/*.jpg)")):
        sub = commands.add_parser(name, help=f"make a contest from {what}")
        sub.add_argument("source", metavar=source, help=what)
        sub.add_argument("contest", metavar="CONTEST", help="the contest folder to create")
        sub.add_argument("--test-fraction", type=float, default=0.25, help="share held out as test (0.25)")
        sub.add_argument("--public-fraction", type=float, default=0.5, help="share of test scored publicly (0.5)")
        sub.add_argument("--seed", type=int, default=0, help="seed of the stratified splits (0)")
        sub.add_argument("--force", action="store_true", help="replace a contest with submissions or answers")
    check = commands.add_parser("check", help="validate one submission file (needs only the public folder)")
    check.add_argument("submission", metavar="SUBMISSION.csv")
    check.add_argument("contest", metavar="CONTEST", help="the contest folder, or the public/ folder alone")
    score = commands.add_parser("score", help="score new submissions and write CONTEST/leaderboard/")
    score.add_argument("contest", metavar="CONTEST")
    score.add_argument("--final", action="store_true", help="reveal private scores and rank by them")
    args = parser.parse_args(argv)
    try:
        if args.command.startswith("prepare"):
            prepare = prepare_tabular_contest if args.command == "prepare-tabular" else prepare_image_contest
            contest = prepare(args.source, args.contest, test_fraction=args.test_fraction,
                              public_fraction=args.public_fraction, seed=args.seed, force=args.force)
            key = pd.read_csv(contest / "answers" / "answer_key.csv")
            print(f"contest ready in {contest}: hand out {contest / 'public'} ({len(key)} test items, "
                  f"{(key['usage'] == 'Public').sum()} public); keep {contest / 'answers'} to yourself")
        elif args.command == "check":
            frame = check_submission(args.submission, args.contest)
            print(f"OK: {args.submission} is a valid submission ({len(frame)} rows)")
        else:
            board = update_leaderboard(args.contest, final=args.final)
            print(board.to_string(index=False) if len(board) else "no scored submissions yet")
            print(f"written to {Path(args.contest) / 'leaderboard'}")
    except (ValueError, OSError) as exc:  # SubmissionError and ContestError are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
