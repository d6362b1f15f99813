"""The contests' tooling: the submission rule (contest/submission.py) and the mentors' leaderboard
(mentor_tools/leaderboard.py): preparing, checking, scoring, ranking, final picks and the daily cap."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from contest.submission import ContestError, SubmissionError, check_submission
from mentor_tools import leaderboard as lb

REPO = Path(__file__).resolve().parents[1]
# A six-row contest written by hand: three classes, ids 1-3 public (no C among them), 4-6 private.
KEY = [(1, "A", "Public"), (2, "B", "Public"), (3, "A", "Public"),
       (4, "C", "Private"), (5, "B", "Private"), (6, "A", "Private")]
HEADER = "id,A,B,C\n"
GOOD = HEADER + "1,0.7,0.2,0.1\n2,0.1,0.8,0.1\n3,0.4,0.4,0.2\n4,0,0,1\n5,1,0,0\n6,0.5,0.25,0.255\n"


def _hand_contest(tmp_path: Path, kind: str = "tabular", key=KEY) -> Path:
    contest = tmp_path / "contest"
    for part in ("public", "answers", "submissions"):
        (contest / part).mkdir(parents=True)
    higher = kind == "images"
    info = {"kind": kind, "metrics": list(lb.METRICS[kind]), "ranking_metric": lb.METRICS[kind][0],
            "higher_is_better": higher, "classes": ["A", "B", "C"], "id_column": "id"}
    (contest / "contest.json").write_text(json.dumps(info))
    truth = "label" if higher else "target"
    pd.DataFrame(key, columns=["id", truth, "usage"]).to_csv(contest / "answers" / "answer_key.csv", index=False)
    sample = pd.DataFrame({"id": [k[0] for k in key]})
    if higher:
        sample["label"] = "A"
    else:
        sample[["A", "B", "C"]] = 1 / 3
    sample.to_csv(contest / "public" / "sample_submission.csv", index=False)
    return contest


def _entry(public: float, private: float) -> str:
    """Return a submission giving the true class probability `public` on the public ids, `private` on the others."""
    lines = []
    for i, truth, usage in KEY:
        p = public if usage == "Public" else private
        lines.append(f"{i}," + ",".join(str(p if c == truth else (1 - p) / 2) for c in "ABC"))
    return HEADER + "\n".join(lines) + "\n"


def _noon(day: int) -> float:
    """Return a timestamp at noon, local time, of the given day of May 2023 (a submission's date is local)."""
    return datetime(2023, 5, day, 12).timestamp()


def _submit(contest: Path, team: str, name: str, text: str, when: float | None = None) -> Path:
    path = contest / "submissions" / team / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if when is not None:
        os.utime(path, (when, when))
    return path


def _check_text(tmp_path: Path, text: str | bytes, kind: str = "tabular") -> str:
    """Return the message of the SubmissionError that checking this file content raises."""
    contest = _hand_contest(tmp_path, kind)
    path = tmp_path / "sub.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(SubmissionError) as caught:
        check_submission(path, contest)
    return str(caught.value)


# ---------------------------------------------------------------- one test per validation rule

def test_binary_junk_is_not_a_csv(tmp_path):
    assert "not a text CSV file" in _check_text(tmp_path, bytes(range(256)) * 4)


def test_empty_file(tmp_path):
    message = _check_text(tmp_path, b"")
    assert "empty" in message and "header" in message


def test_renamed_xlsx(tmp_path):
    buffer = tmp_path / "book.zip"
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    message = _check_text(tmp_path, buffer.read_bytes())
    assert "Excel" in message and "CSV" in message


def test_wrong_columns_names_missing_and_unexpected(tmp_path):
    message = _check_text(tmp_path, "Unnamed: 0,id,A,B,prob_C\n0,1,0.5,0.5,0\n")
    assert "missing C" in message and "unexpected Unnamed: 0, prob_C" in message and "index=False" in message


def test_missing_ids_counted_with_examples(tmp_path):
    message = _check_text(tmp_path, HEADER + "1,0.7,0.2,0.1\n2,0.1,0.8,0.1\n")
    assert "4 test id(s) missing" in message and "3, 4, 5, 6" in message


def test_duplicate_ids(tmp_path):
    message = _check_text(tmp_path, GOOD + "2,0.1,0.8,0.1\n")
    assert "duplicate ids 2" in message and "one row per id" in message


def test_unknown_ids(tmp_path):
    message = _check_text(tmp_path, GOOD + "99,0.1,0.8,0.1\n")
    assert "unknown ids 99" in message


def test_non_numeric_values_name_column_and_ids(tmp_path):
    message = _check_text(tmp_path, GOOD.replace("3,0.4,0.4,0.2", "3,0.4,high,0.2"))
    assert "column B" in message and "not numbers" in message and "'high'" in message and "ids 3" in message


def test_nan_values(tmp_path):
    message = _check_text(tmp_path, GOOD.replace("2,0.1,0.8,0.1", "2,0.1,,0.1").replace("5,1,0,0", "5,nan,0,1"))
    assert "NaN" in message and "A, B" in message and "ids 2, 5 (2 in all)" in message


def test_negative_probabilities(tmp_path):
    message = _check_text(tmp_path, GOOD.replace("1,0.7,0.2,0.1", "1,0.9,0.2,-0.1"))
    assert "negative probabilities at ids 1" in message and "softmax" in message


def test_percentages_are_above_one(tmp_path):
    message = _check_text(tmp_path, GOOD.replace("1,0.7,0.2,0.1", "1,70,20,10"))
    assert "probabilities above 1 at ids 1 (1 in all)" in message and "divide by 100" in message


def test_rows_not_summing_to_one_name_first_five_and_count(tmp_path):
    rows = "".join(f"{i},0.5,0.5,0.5\n" for i in range(1, 7))
    message = _check_text(tmp_path, HEADER + rows)
    assert "6 row(s) do not sum to 1" in message
    assert "ids 1 (sum 1.5), 2 (sum 1.5), 3 (sum 1.5), 4 (sum 1.5), 5 (sum 1.5):" in message


def test_unknown_class_labels_for_images(tmp_path):
    text = "id,label\n1,A\n2,a\n3,B\n4,C\n5,Z\n6,A\n"
    message = _check_text(tmp_path, text, kind="images")
    assert "unknown labels a, Z" in message and "case-sensitive" in message and "ids 2, 5" in message


def test_a_good_file_or_frame_passes_in_sample_order(tmp_path):
    contest = _hand_contest(tmp_path)
    frame = check_submission(pd.read_csv(io.StringIO(GOOD)).iloc[::-1], contest)
    assert list(frame["id"]) == ["1", "2", "3", "4", "5", "6"] and frame["C"].iloc[3] == 1.0
    path = _submit(contest, "t", "ok.csv", GOOD.replace("\n2,", "\n2.0,"))  # ids that went through floats
    assert len(check_submission(path, contest / "public")) == 6  # a mentee's public/ folder alone is enough


# ---------------------------------------------------------------- scores, by hand

def test_tabular_scores_by_hand(tmp_path):
    contest = _hand_contest(tmp_path)
    scores = lb.score_submission(_submit(contest, "t", "s.csv", GOOD), contest)
    eps = 1e-15
    public = -(math.log(0.7) + math.log(0.8) + math.log(0.4)) / 3  # no class C here: labels= must be given
    # id 4: certain and right (clipped to 1 - eps); id 5: certain and wrong (clipped to eps); id 6 sums
    # to 1.005 and is renormalised. Each clipped row sums to 1 + eps before renormalising.
    private = -(math.log((1 - eps) / (1 + eps)) + math.log(eps / (1 + eps)) + math.log(0.5 / 1.005)) / 3
    assert scores["public"]["log_loss"] == pytest.approx(public, rel=1e-9)
    assert scores["private"]["log_loss"] == pytest.approx(private, rel=1e-9)


def test_image_scores_by_hand(tmp_path):
    contest = _hand_contest(tmp_path, "images")
    text = "id,label\n1,A\n2,B\n3,B\n4,C\n5,A\n6,B\n"
    scores = lb.score_submission(_submit(contest, "t", "s.csv", text), contest)
    # public (ids 1-3): truth A B A, predicted A B B. A: precision 1, recall 1/2; B: precision 1/2, recall 1.
    f1_a = 2 * 1 * 0.5 / (1 + 0.5)
    f1_b = 2 * 0.5 * 1 / (0.5 + 1)
    assert scores["public"] == pytest.approx({"accuracy": 2 / 3, "macro_f1": (f1_a + f1_b) / 2})
    # private (ids 4-6): truth C B A, predicted C A B. C is right (F1 1); A and B are never right (F1 0).
    assert scores["private"] == pytest.approx({"accuracy": 1 / 3, "macro_f1": (1 + 0 + 0) / 3})


# ---------------------------------------------------------------- the leaderboard

def test_rerun_keeps_earlier_entries_and_rescores_only_new_or_changed_files(tmp_path, monkeypatch):
    contest = _hand_contest(tmp_path)
    calls = []
    real = lb.score_submission
    monkeypatch.setattr(lb, "score_submission", lambda path, c: calls.append(Path(path).name) or real(path, c))
    first = _submit(contest, "ada", "one.csv", GOOD, when=1_700_000_000)
    lb.update_leaderboard(contest)
    before = pd.read_csv(contest / "leaderboard" / "scores.csv")
    _submit(contest, "bob", "try.csv", HEADER + "".join(f"{i},0.2,0.3,0.5\n" for i in range(1, 7)))
    board = lb.update_leaderboard(contest)
    scores = pd.read_csv(contest / "leaderboard" / "scores.csv")
    assert calls == ["one.csv", "try.csv"] and len(scores) == 2
    pd.testing.assert_frame_equal(scores.iloc[:1], before)  # the earlier row is kept as it was
    assert set(board["team"]) == {"ada", "bob"}
    first.write_text(GOOD.replace("1,0.7,0.2,0.1", "1,0.6,0.3,0.1"))  # changed content: a new submission
    lb.update_leaderboard(contest)
    scores = pd.read_csv(contest / "leaderboard" / "scores.csv")
    assert calls[-1] == "one.csv" and len(scores) == 3 and scores["sha256"].nunique() == 3


def test_bad_file_next_to_good_ones_does_not_stop_them(tmp_path):
    contest = _hand_contest(tmp_path)
    _submit(contest, "ada", "good.csv", GOOD)
    _submit(contest, "bob", "broken.csv", GOOD.replace("0.7", "x"))
    (contest / "submissions" / "bob" / "junk.csv").write_bytes(b"\x00\x01\x02" * 100)
    _submit(contest, "cy", "good.csv", GOOD.replace("1,0.7,0.2,0.1", "1,0.6,0.3,0.1"))
    board = lb.update_leaderboard(contest)
    assert list(board["team"]) == ["ada", "cy"] and list(board["rank"]) == [1, 2]
    scores = pd.read_csv(contest / "leaderboard" / "scores.csv")
    errors = scores[scores["status"] == "error"].set_index("file")["error"]
    assert "not numbers" in errors["broken.csv"] and "not a text CSV" in errors["junk.csv"]
    report = (contest / "leaderboard" / "leaderboard.md").read_text()
    assert "broken.csv" in report and "not numbers" in report
    assert (contest / "leaderboard" / "history.png").stat().st_size > 1000


def test_private_scores_stay_hidden_until_final(tmp_path):
    contest = _hand_contest(tmp_path)
    rows = "".join(f"{i},{p}\n" for i, p in enumerate(
        ["0.9,0.05,0.05", "0.05,0.9,0.05", "0.9,0.05,0.05", "0.4,0.3,0.3", "0.4,0.3,0.3", "0.3,0.4,0.3"], 1))
    _submit(contest, "public_star", "a.csv", HEADER + rows, when=1_700_000_000)  # right in public only
    _submit(contest, "steady", "b.csv", HEADER + "".join(f"{i},0.2,0.2,0.6\n" if i == 4 else
                                                          f"{i},0.45,0.45,0.1\n" for i in range(1, 7)))
    _submit(contest, "steady", "c.csv", HEADER + "".join(f"{i},0.3,0.4,0.3\n" for i in range(1, 7)))
    board = lb.update_leaderboard(contest)
    assert list(board["team"]) == ["public_star", "steady"] and "private_log_loss" not in board
    private = pd.read_csv(contest / "leaderboard" / "scores.csv")["private_log_loss"]
    for name in ("leaderboard.md", "leaderboard.html", "leaderboard.csv"):
        text = (contest / "leaderboard" / name).read_text()
        assert "private_log_loss" not in text and not any(f"{p:.5f}" in text for p in private)
    final = lb.update_leaderboard(contest, final=True)
    assert list(final["team"]) == ["steady", "public_star"] and final["submissions"].tolist() == [2, 1]
    assert final.loc[0, "file"] == "b.csv"  # steady's best public submission is its final one
    assert "private_log_loss" in (contest / "leaderboard" / "leaderboard.md").read_text()


# ---------------------------------------------------------------- preparing contests from the data pack

def test_prepare_tabular_on_tiny_otto(tmp_path, tiny_dir):
    source = tiny_dir / "tabular_tiny_standin.csv"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    contest = lb.prepare_tabular_contest(source, tmp_path / "otto", seed=3)
    original = pd.read_csv(source)
    train, test = pd.read_csv(contest / "public" / "train.csv"), pd.read_csv(contest / "public" / "test.csv")
    key = pd.read_csv(contest / "answers" / "answer_key.csv")
    sample = pd.read_csv(contest / "public" / "sample_submission.csv")
    assert "target" not in test and "source_id" not in test and list(test.columns) == list(train.columns)[:-1]
    assert not set(train["id"]) & set(test["id"]) and len(train) + len(test) == len(original)
    assert list(key["id"]) == list(test["id"]) == list(sample["id"])
    assert sorted(p.name for p in (contest / "public").iterdir()) == [
        "sample_submission.csv", "test.csv", "train.csv"]  # the answer key is not among them
    # Each test row is the source row its key names, with that row's class; the test share is stratified.
    merged = key.merge(test, on="id").merge(original, left_on="source_id", right_on="id", suffixes=("", "_src"))
    assert (merged["target"] == merged["target_src"]).all() and (merged["feat_7"] == merged["feat_7_src"]).all()
    for cls, n in original["target"].value_counts().items():
        in_test = key[key["target"] == cls]
        assert abs(len(in_test) - 0.25 * n) <= 1
        assert abs((in_test["usage"] == "Public").sum() - 0.5 * len(in_test)) <= 1
    assert (key["usage"] == "Public").sum() == 625 and len(key) == 1250
    assert sample.iloc[:, 1:].sum(axis=1).round(9).eq(1).all()
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest  # the source is untouched
    again = lb.prepare_tabular_contest(source, tmp_path / "again", seed=3)
    assert pd.read_csv(again / "answers" / "answer_key.csv").equals(key)  # seeded


def test_prepare_images_on_birds_tiny(tmp_path, tiny_dir):
    source = tiny_dir / "birds_tiny"
    files_before = sorted(source.rglob("*.jpg"))
    contest = lb.prepare_image_contest(source, tmp_path / "birds")
    assert sorted(source.rglob("*.jpg")) == files_before  # copied, not moved
    train = list((contest / "public" / "train").glob("*/*.jpg"))
    test = list((contest / "public" / "test").glob("*"))
    key = pd.read_csv(contest / "answers" / "answer_key.csv")
    assert len(train) + len(test) == 50 and len({p.parent.name for p in train}) == 10
    assert all(re.fullmatch(r"img_\d+\.jpg", p.name) for p in test)  # anonymous: no species in the name
    assert sorted(p.stem for p in test) == sorted(key["id"]) and key["label"].nunique() == 10
    for row in key.itertuples():
        assert (contest / "public" / "test" / f"{row.id}.jpg").read_bytes() == (source / row.source).read_bytes()
    sample = pd.read_csv(contest / "public" / "sample_submission.csv")
    counts = pd.Series([p.parent.name for p in train]).value_counts()
    assert sample["label"].nunique() == 1 and counts[sample["label"][0]] == counts.max()
    path = contest / "submissions" / "t" / "perfect.csv"
    path.parent.mkdir(parents=True)
    key[["id", "label"]].to_csv(path, index=False)
    assert lb.score_submission(path, contest)["private"] == {"accuracy": 1.0, "macro_f1": 1.0}


def test_refuses_to_overwrite_a_contest_with_submissions(tmp_path, tiny_dir, capsys):
    source = tiny_dir / "tabular_tiny_standin.csv"
    contest = lb.prepare_tabular_contest(source, tmp_path / "otto")
    handed_in = _submit(contest, "ada", "one.csv", "id\n")
    with pytest.raises(ContestError, match="1 submission file.*nothing was changed.*--force"):
        lb.prepare_tabular_contest(source, contest, seed=1)
    assert handed_in.exists()
    assert lb.main(["prepare-tabular", str(source), str(contest)]) == 1
    assert "--force" in capsys.readouterr().err and handed_in.exists()
    lb.prepare_tabular_contest(source, contest, seed=1, force=True)
    assert not handed_in.exists() and json.loads((contest / "contest.json").read_text())["seed"] == 1


def test_cli_fails_cleanly_on_a_missing_folder(tmp_path):
    missing = tmp_path / "no_such_contest"
    done = subprocess.run([sys.executable, "-m", "mentor_tools.leaderboard", "score", str(missing)],
                          capture_output=True, text=True, cwd=REPO, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "no contest at" in done.stderr and str(missing) in done.stderr
    assert lb.main(["check", str(tmp_path / "x.csv"), str(missing)]) == 1


# ---------------------------------------------------------------- final picks (FINAL) and the daily cap

def test_final_picks_decide_the_private_ranking_and_the_board_says_which_rule_applied(tmp_path):
    contest = _hand_contest(tmp_path)
    _submit(contest, "picker", "a.csv", _entry(0.9, 0.2))  # the best public entry, poor on the private part
    _submit(contest, "picker", "b.csv", _entry(0.5, 0.8))
    _submit(contest, "picker", "c.csv", _entry(0.6, 0.6))
    (contest / "submissions" / "picker" / "FINAL").write_text("b.csv\n\n c.csv \n")  # blank lines and spaces
    _submit(contest, "plain", "d.csv", _entry(0.7, 0.7))
    _submit(contest, "plain", "e.csv", _entry(0.4, 0.9))
    board = lb.update_leaderboard(contest).set_index("team")
    assert list(board.index) == ["picker", "plain"] and board.loc["picker", "file"] == "a.csv"  # public: best public
    assert board.loc["picker", "final_rule"] == "FINAL: b.csv, c.csv"
    assert board.loc["plain", "final_rule"] == "best public (no FINAL file)"
    assert board.loc["picker", "submissions"] == 3  # FINAL is not a submission
    final = lb.update_leaderboard(contest, final=True).set_index("team")
    assert list(final.index) == ["picker", "plain"]
    assert final.loc["picker", "file"] == "b.csv"  # the better private score of its two picks
    assert final.loc["picker", "private_log_loss"] == pytest.approx(-math.log(0.8))
    assert final.loc["plain", "file"] == "d.csv" and final.loc["plain", "private_log_loss"] == pytest.approx(
        -math.log(0.7))  # no FINAL: the best public submission, as before
    assert "FINAL: b.csv, c.csv" in (contest / "leaderboard" / "leaderboard.md").read_text()
    (contest / "submissions" / "picker" / "FINAL").unlink()  # without its picks, its best public entry decides
    final = lb.update_leaderboard(contest, final=True)
    assert list(final["team"]) == ["plain", "picker"] and final.loc[1, "file"] == "a.csv"


def test_unusable_final_files_are_reported_and_never_stop_the_others(tmp_path):
    contest = _hand_contest(tmp_path)
    _submit(contest, "typo", "mine.csv", _entry(0.6, 0.9))
    (contest / "submissions" / "typo" / "FINAL").write_text("mine.csv\nMine2.csv\n")
    for name in ("x.csv", "y.csv", "z.csv"):
        _submit(contest, "greedy", name, _entry(0.5, 0.5))
    (contest / "submissions" / "greedy" / "FINAL").write_text("x.csv\ny.csv\nz.csv\n")
    _submit(contest, "broken", "good.csv", _entry(0.55, 0.5))
    _submit(contest, "broken", "bad.csv", GOOD.replace("0.7", "x"))
    (contest / "submissions" / "broken" / "FINAL").write_text("bad.csv\n")
    _submit(contest, "fine", "f.csv", _entry(0.8, 0.8))
    (contest / "submissions" / "fine" / "FINAL").write_text("f.csv\n")
    final = lb.update_leaderboard(contest, final=True).set_index("team")
    assert set(final.index) == {"typo", "greedy", "broken", "fine"}  # every team is still ranked
    assert final.loc["fine", "final_rule"] == "FINAL: f.csv"
    for team in ("typo", "greedy", "broken"):  # a FINAL that cannot be used falls back to the default rule
        assert final.loc[team, "final_rule"] == "best public (FINAL ignored: see the problems)"
    assert final.loc["typo", "file"] == "mine.csv" and final.loc["broken", "file"] == "good.csv"
    report = (contest / "leaderboard" / "leaderboard.md").read_text()
    assert "FINAL names Mine2.csv, not in the team's folder" in report and "case-sensitive" in report
    assert "FINAL names 3 files (x.csv, y.csv, z.csv (3 in all)): a team chooses at most 2" in report
    assert "FINAL names bad.csv, which could not be scored" in report and "not numbers" in report


def test_the_daily_cap_refuses_later_files_and_a_file_saved_anew_is_scored(tmp_path):
    contest = _hand_contest(tmp_path)
    info = json.loads((contest / "contest.json").read_text())
    (contest / "contest.json").write_text(json.dumps({**info, "daily_cap": 2}))
    _submit(contest, "eager", "0_broken.csv", GOOD.replace("0.7", "x"), when=_noon(1))  # errors use no quota
    for minute, name in enumerate(("1.csv", "2.csv", "3.csv", "4.csv"), 1):
        _submit(contest, "eager", name, _entry(0.5 + minute / 20, 0.5), when=_noon(1) + 60 * minute)
    _submit(contest, "eager", "5.csv", _entry(0.5, 0.5), when=_noon(2))  # a new day, a new quota
    _submit(contest, "calm", "today.csv", _entry(0.6, 0.6))  # handed in now
    board = lb.update_leaderboard(contest).set_index("team")
    scores = pd.read_csv(contest / "leaderboard" / "scores.csv").set_index("file")
    assert scores["status"].to_dict() == {"0_broken.csv": "error", "1.csv": "ok", "2.csv": "ok", "3.csv": "refused",
                                          "4.csv": "refused", "5.csv": "ok", "today.csv": "ok"}
    assert scores.loc[["3.csv", "4.csv"], "private_log_loss"].isna().all()  # refused: never scored at all
    message = scores.loc["3.csv", "error"]
    assert "over the daily cap: eager already has 2 scored submissions on 2023-05-01" in message
    assert "save it again on a day with quota left" in message
    assert board.loc["eager", "file"] == "2.csv"  # 4.csv would have scored better, but it was over the cap
    assert board.loc["calm", "left_today"] == 1 and board.loc["eager", "left_today"] == 2
    assert "At most 2 submissions per team are scored per day" in (contest / "leaderboard" / "leaderboard.md"
                                                                      ).read_text()
    four = contest / "submissions" / "eager" / "4.csv"
    os.utime(four, (_noon(3), _noon(3)))  # handed in again on another day
    board = lb.update_leaderboard(contest).set_index("team")
    scores = pd.read_csv(contest / "leaderboard" / "scores.csv")
    assert len(scores) == 7 and scores.groupby("file")["status"].agg(list)["3.csv"] == ["refused"]
    assert scores.set_index("file").loc["4.csv", "status"] == "ok" and board.loc["eager", "file"] == "4.csv"


def test_a_bad_daily_cap_is_refused_before_anything_is_written(tmp_path, tiny_dir):
    source = tiny_dir / "tabular_tiny_standin.csv"
    with pytest.raises(ContestError, match="at least 1, not 0"):
        lb.prepare_tabular_contest(source, tmp_path / "otto", cap=0)
    assert not (tmp_path / "otto").exists()
    assert lb.main(["prepare-tabular", str(source), str(tmp_path / "otto"), "--daily-cap", "3"]) == 0
    assert json.loads((tmp_path / "otto" / "contest.json").read_text())["daily_cap"] == 3
    contest = _hand_contest(tmp_path / "hand")
    info = json.loads((contest / "contest.json").read_text())
    (contest / "contest.json").write_text(json.dumps({**info, "daily_cap": "five"}))
    with pytest.raises(ContestError, match="daily_cap"):
        lb.update_leaderboard(contest)
