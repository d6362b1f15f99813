"""What mentors run for a local, Kaggle-style contest: preparing it, scoring the board, rendering it.

A contest is a folder. ``prepare-*`` splits a full dataset into what mentees receive (``public/``) and an
answer key that stays with the mentor (``answers/``); teams hand in CSV files under ``submissions/<team>/``;
``score`` validates every new file, scores it on the public and the private part of the test set and
writes ``leaderboard/``. Rules, as on Kaggle: a team may have ``daily_cap`` files scored per calendar day
(contest.json, 5 unless the mentor chose otherwise; a file's day is that of its modification time), later
ones are refused; a team chooses up to two final submissions by naming them in a ``FINAL`` file in its
folder, one per line, and the final ranking (``--final``) takes the better private score of the two; a team
without a usable FINAL is ranked by its best public submission. Before the reveal, private scores only
appear in the mentor-only ``leaderboard/scores.csv``. Run ``python -m mentor_tools.leaderboard --help``.

The metrics and the submission rule are the lessons' own (``contest.metric``, ``contest.submission``);
lessons do not import this module, they show its command line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from contest import metric
from contest.metric import METRICS
from contest.submission import ContestError, SubmissionError, check_submission, contest_settings, few, natural_order

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
SPLIT_NAMES = {"train", "valid", "test"}  # the bird set's layout, merged before splitting
DAILY_CAP = 5  # submissions a team may have scored per calendar day, unless contest.json says otherwise
FINAL_FILE = "FINAL"  # in a team's folder: the names of its (at most) two final submissions, one per line
MAX_FINAL_PICKS = 2


# ---------------------------------------------------------------- preparing a contest

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


def prepare_tabular_contest(source_csv, contest_dir, *, test_fraction: float = 0.25, public_fraction: float = 0.5,
                            seed: int = 0, force: bool = False, cap: int = DAILY_CAP) -> Path:
    """Split an Otto-style CSV (id, features, target) into a contest; return the contest folder."""
    daily_cap({"daily_cap": cap})  # refuse a bad cap before anything is written
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
    classes = natural_order(set(labels))
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
                           "daily_cap": cap, "source": str(source.resolve()),
                           "ids": "renumbered 1..N in random order"})


def prepare_image_contest(source_dir, contest_dir, *, test_fraction: float = 0.25, public_fraction: float = 0.5,
                          seed: int = 0, force: bool = False, cap: int = DAILY_CAP) -> Path:
    """Split an ImageFolder tree (<class>/ or train|valid|test/<class>/) into a contest; return its folder."""
    daily_cap({"daily_cap": cap})  # refuse a bad cap before anything is written
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
    common = natural_order(counts[counts == counts.max()].index)[0]
    pd.DataFrame({"id": key["id"], "label": common}).to_csv(contest / "public" / "sample_submission.csv", index=False)
    return _write_contest(contest, "images", natural_order(set(labels)), key,
                          {"seed": seed, "test_fraction": test_fraction, "public_fraction": public_fraction,
                           "daily_cap": cap, "source": str(source.resolve())})


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
    if part.empty:
        return {m: float("nan") for m in METRICS[info["kind"]]}
    if info["kind"] == "tabular":
        return {"log_loss": metric.log_loss(part["truth"], part[info["classes"]].to_numpy(float), info["classes"])}
    return {"accuracy": metric.accuracy(part["truth"], part["label"]),
            "macro_f1": metric.macro_f1(part["truth"], part["label"])}


def score_submission(submission, contest_dir) -> dict:
    """Return {"public": {metric: value}, "private": {...}} for a submission; needs the answer key."""
    contest = Path(contest_dir)
    key = _answer_key(contest)
    info = contest_settings(contest)
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


def daily_cap(info: dict) -> int:
    """Return the contest's daily cap: how many submissions a team may have scored per calendar day."""
    cap = info.get("daily_cap", DAILY_CAP)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ContestError(f"the daily cap must be a whole number of at least 1, not {cap!r} (contest.json's "
                           f"daily_cap, or --daily-cap; the default is {DAILY_CAP} a day)")
    return cap


def _day(submitted: str) -> str:
    """Return the calendar day (YYYY-MM-DD) of a submission time as scores.csv writes it."""
    return str(submitted)[:10]


def _final_choice(team_dir: Path, team_ok: pd.DataFrame, current: dict[str, str]) -> tuple[list[str], str]:
    """Return the files a team's FINAL names and its text for the board, or ([], the rule) without a valid FINAL.

    ``team_ok``: the team's scored rows; ``current``: file name to the hash of the file now in its folder.
    Raise SubmissionError, saying why, when the FINAL cannot be used; the default rule then applies.
    """
    path = team_dir / FINAL_FILE
    if not path.is_file():
        return [], "best public (no FINAL file)"
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (UnicodeDecodeError, OSError) as exc:
        raise SubmissionError(f"FINAL could not be read ({exc}): write one submission file name per line") from None
    picks = list(dict.fromkeys(line.strip() for line in lines if line.strip()))  # in order, each name once
    if not picks:
        raise SubmissionError("FINAL is empty: list one or two submission file names, one per line")
    if len(picks) > MAX_FINAL_PICKS:
        raise SubmissionError(f"FINAL names {len(picks)} files ({few(picks)}): a team chooses at most "
                              f"{MAX_FINAL_PICKS}; keep two lines")
    missing = [name for name in picks if name not in current]
    if missing:
        raise SubmissionError(f"FINAL names {', '.join(missing)}, not in the team's folder (its files: "
                              f"{few(sorted(current)) if current else 'none'}); names are case-sensitive")
    scored = {(name, digest) for name, digest in zip(team_ok["file"], team_ok["sha256"], strict=True)}
    unscored = [name for name in picks if (name, current[name]) not in scored]
    if unscored:
        raise SubmissionError(f"FINAL names {', '.join(unscored)}, which could not be scored (see its own line "
                              "among the problems): pick files that have a score")
    return picks, "FINAL: " + ", ".join(picks)


def _stacked(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of both tables (same columns), the first's first."""
    parts = [frame for frame in (first, second) if len(frame)]  # pandas warns about concatenating empty tables
    return pd.concat(parts, ignore_index=True) if parts else first


def _better_first(rows: pd.DataFrame, column: str, higher: bool) -> pd.DataFrame:
    """Return the rows ordered best first by column, the earliest submission first among equals."""
    return rows.sort_values([column, "submitted"], ascending=[not higher, True])


def update_leaderboard(contest_dir, *, final: bool = False) -> pd.DataFrame:
    """Score new submission files, keep earlier rows, write leaderboard/; return the leaderboard table.

    A file over its team's daily cap is refused, not scored; refusals are decided afresh on every run. Each
    team's FINAL file chooses its final submissions; a FINAL with a problem is reported and the default rule
    (the best public submission) applies. Neither ever stops the other teams being scored.
    """
    contest = Path(contest_dir)
    if not (contest / "contest.json").is_file():
        raise ContestError(f"no contest at {contest}: contest.json not found (make one with prepare-tabular "
                           "or prepare-images)")
    info = contest_settings(contest)
    cap = daily_cap(info)
    _answer_key(contest)  # a missing key is the mentor's problem: stop before blaming every file for it
    ranking, higher = info["ranking_metric"], info["higher_is_better"]
    out = contest / "leaderboard"
    out.mkdir(exist_ok=True)
    scores_path = out / "scores.csv"
    columns = ["team", "file", "sha256", "submitted", "scored_at", "status", "error",
               *(f"{u}_{m}" for u in ("public", "private") for m in METRICS[info["kind"]])]
    old = pd.DataFrame(columns=columns)
    if scores_path.is_file():
        old = pd.read_csv(scores_path, dtype={"team": str, "file": str, "sha256": str, "error": str},
                          keep_default_na=False, na_values=[""])
        # A refused file is looked at again: saved anew on a day with quota left, it is scored then.
        old = old[old["status"] != "refused"]
    seen = set(zip(old["team"], old["file"], old["sha256"], strict=True))
    used = old[old["status"] == "ok"].assign(day=lambda f: f["submitted"].map(_day)).groupby(["team", "day"]).size()
    used = {key: int(n) for key, n in used.items()}

    files = sorted(p for p in (contest / "submissions").glob("*/*")
                   if p.is_file() and not p.name.startswith(".") and p.name != FINAL_FILE)
    current: dict[str, dict[str, str]] = {}
    waiting = []
    for path in files:
        team, digest = path.parent.name, hashlib.sha256(path.read_bytes()).hexdigest()
        current.setdefault(team, {})[path.name] = digest
        if (team, path.name, digest) not in seen:  # an edited file has a new hash: a new submission
            submitted = datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")
            waiting.append((submitted, team, path, digest))
    rows = []
    for submitted, team, path, digest in sorted(waiting):  # in the order handed in: the cap keeps the first ones
        row = {"team": team, "file": path.name, "sha256": digest, "submitted": submitted,
               "scored_at": datetime.now().isoformat(timespec="seconds"), "status": "ok", "error": ""}
        day = _day(submitted)
        if used.get((team, day), 0) >= cap:
            row.update(status="refused", error=f"over the daily cap: {team} already has {cap} scored submissions "
                       f"on {day} (the day of the file's modification time), so this file was not scored; save "
                       "it again on a day with quota left and it will be")
        else:
            try:
                for usage, values in score_submission(path, contest).items():
                    row.update({f"{usage}_{m}": v for m, v in values.items()})
                used[(team, day)] = used.get((team, day), 0) + 1
            except ContestError:
                raise
            except Exception as exc:  # one bad file must never stop the others from being scored
                message = str(exc) if isinstance(exc, SubmissionError) else f"could not be read ({exc})"
                row.update(status="error", error=message)
        rows.append(row)
    scores = _stacked(old.reindex(columns=columns), pd.DataFrame(rows, columns=columns))
    scores.to_csv(scores_path, index=False)

    ok = scores[scores["status"] == "ok"]
    problems = scores.loc[scores["status"] != "ok", ["team", "file", "submitted", "error"]]
    public_column, private_column = f"public_{ranking}", f"private_{ranking}"
    today = datetime.now().date().isoformat()
    entries, unusable = [], []
    for team, team_ok in ok.groupby("team"):
        try:
            picks, rule = _final_choice(contest / "submissions" / team, team_ok, current.get(team, {}))
        except SubmissionError as exc:  # the team is still ranked, by the default rule
            picks, rule = [], "best public (FINAL ignored: see the problems)"
            stamp = datetime.fromtimestamp((contest / "submissions" / team / FINAL_FILE).stat().st_mtime)
            unusable.append({"team": team, "file": FINAL_FILE, "submitted": stamp.isoformat(timespec="seconds"),
                             "error": str(exc)})
        if final and picks:
            now_in_folder = [f in picks and d == current[team][f]
                             for f, d in zip(team_ok["file"], team_ok["sha256"], strict=True)]
            chosen = team_ok[now_in_folder]
            entry = _better_first(chosen, private_column, higher).iloc[0]
        else:
            entry = _better_first(team_ok, public_column, higher).iloc[0]
        entries.append({**entry.to_dict(), "final_rule": rule, "submissions": int((scores["team"] == team).sum()),
                        "left_today": max(0, cap - used.get((team, today), 0))})
    problems = _stacked(problems, pd.DataFrame(unusable, columns=problems.columns))
    board = pd.DataFrame(entries, columns=[*columns, "final_rule", "submissions", "left_today"])
    rank_by = private_column if final else public_column
    board = _better_first(board, rank_by, higher)
    board = board.assign(rank=board[rank_by].rank(method="min", ascending=not higher).astype(int))
    shown = [f"{u}_{m}" for u in (("public", "private") if final else ("public",)) for m in METRICS[info["kind"]]]
    quota = [] if final else ["left_today"]
    board = board[["rank", "team", *shown, "submissions", *quota, "final_rule", "submitted", "file"]]
    board = board.reset_index(drop=True)
    board.to_csv(out / "leaderboard.csv", index=False)

    title = f"Leaderboard: {contest.name}" + (" (final)" if final else "")
    name = ranking.replace("_", " ")
    order = f"Ranked by {'private' if final else 'public'} {name} ({'higher' if higher else 'lower'} is better)."
    cap_rule = f"At most {cap} submissions per team are scored per day (by the file's modification date)"
    if final:
        rule = (f"{order} Each team's entry is the better, on the private part, of the one or two submissions its "
                f"{FINAL_FILE} file names, or without a usable {FINAL_FILE} its best public submission (column "
                f"final_rule). {cap_rule}.")
    else:
        rule = (f"{order} The board shows each team's best public submission. At the end the hidden private part "
                f"of the test set decides, between the one or two files a team lists in a {FINAL_FILE} file in its "
                f"folder (one name per line), or without one its best public submission (column final_rule). "
                f"{cap_rule}; left_today is what remains today.")
    (out / "leaderboard.md").write_text(f"# {title}\n\n{rule}\n\n{_markdown(board)}\n## Problems: files that could "
                                        f"not be scored, and FINAL files that could not be used\n\n"
                                        f"{_markdown(problems) if len(problems) else 'None.'}\n", encoding="utf-8")
    html = board.to_html(index=False, float_format="{:.5f}".format, na_rep="")
    html_problems = problems.to_html(index=False) if len(problems) else "<p>None.</p>"
    (out / "leaderboard.html").write_text(
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title></head><body>\n<h1>{title}"
        f"</h1>\n<p>{rule}</p>\n{html}\n<h2>Problems: files that could not be scored, and FINAL files that could "
        f"not be used</h2>\n{html_problems}\n</body></html>\n", encoding="utf-8")
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
        sub.add_argument("--daily-cap", type=int, default=DAILY_CAP,
                         help=f"submissions a team may have scored per day ({DAILY_CAP})")
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
                              public_fraction=args.public_fraction, seed=args.seed, force=args.force,
                              cap=args.daily_cap)
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
