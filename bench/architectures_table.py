"""Write week 4 lesson 09's table of the architectures (``week4_papers/architectures_measured.csv``) from the
record of full-mode runs, so that the lesson quotes recorded runs and nothing copied by hand.

Each architecture lesson (04-08) prints a summary at the end of its full-mode run; ``bench.full_notebooks``
records it in ``bench/notebook_runs.json``: the lesson as it ships (``SEED = 0``) at the top of its entry,
runs with another seed (``--set SEED=1``) among its variants. One row per recorded run and seed:

    python -m bench.architectures_table           # rewrite the table from the record
    python -m bench.architectures_table --check   # fail if the table and the record disagree
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from pathlib import Path

from bench.full_notebooks import RECORD, load_runs

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "week4_papers" / "architectures_measured.csv"
# lesson: (notebook, the network's name in the table, how the lesson's line on its size begins)
LESSONS = {
    "04": ("04_alexnet", "AlexNet32", "AlexNet32:"),
    "05": ("05_vgg", "VGG-11 half width", "VGG-11 at half width:"),
    "06": ("06_googlenet_inception", "GoogLeNet32", "GoogLeNet32:"),
    "07": ("07_xception", "MiniXception", "MiniXception:"),
    "08": ("08_resnet", "ResNet-20", "ResNet-20:"),
}
COLUMNS = ["network", "lesson", "seed", "parameters", "mflops", "images_per_s", "train_seconds", "val_accuracy",
           "test_accuracy", "date"]
# What every architecture lesson prints after training, e.g. "training throughput 620 images/s (145 s for 5
# epoch(s), ...)", "validation accuracy 72.6%" and, at the very end, "test accuracy 73.3%".
THROUGHPUT = re.compile(r"^training throughput ([\d,]+) images/s \(([\d.]+) s for ")
VALIDATION = re.compile(r"^validation accuracy ([\d.]+)%$")
TEST = re.compile(r"^test accuracy ([\d.]+)%$")
MFLOPS = re.compile(r"(?:^|, )([\d.]+) MFLOPs per (?:image|32x32 photo)")


class RecordGap(ValueError):
    """The record lacks a run, or a run lacks a summary line, that the table needs."""


def only(pattern: re.Pattern, lines: list[str], what: str, where: str) -> re.Match:
    """Return the one line's match of ``pattern``; raise RecordGap if there is none or more than one."""
    hits = [m for line in lines if (m := pattern.search(line.strip()))]
    if len(hits) != 1:
        raise RecordGap(f"{where}: expected one line with {what} ({pattern.pattern}), found {len(hits)}")
    return hits[0]


def summary(lines: list[str], size_line: str, where: str) -> dict[str, object]:
    """Return the numbers of one run from the lines the lesson printed; raise RecordGap naming what is missing."""
    size = only(re.compile(rf"^{re.escape(size_line)} ([\d,]+) parameters"), lines, "the parameters", where)
    throughput = only(THROUGHPUT, lines, "the training throughput", where)
    return {
        "parameters": int(size.group(1).replace(",", "")),
        "mflops": float(only(MFLOPS, lines, "the MFLOPs per image", where).group(1)),
        "images_per_s": int(throughput.group(1).replace(",", "")),
        "train_seconds": float(throughput.group(2)),
        "val_accuracy": round(float(only(VALIDATION, lines, "the validation accuracy", where).group(1)) / 100, 4),
        "test_accuracy": round(float(only(TEST, lines, "the test accuracy", where).group(1)) / 100, 4),
    }


def seeded_runs(entry: dict, where: str) -> dict[int, dict]:
    """Return {seed: run} for a notebook's record entry: the top run is seed 0, variant 'SEED=k' seed k."""
    runs = {}
    if entry.get("overrides") == {} and not entry.get("errors"):
        runs[0] = entry
    for name, variant in entry.get("variants", {}).items():
        if (m := re.fullmatch(r"SEED=(\d+)", name)) and not variant.get("errors"):
            runs[int(m.group(1))] = variant
    if not runs:
        raise RecordGap(f"{where}: no clean full-mode run in the record")
    return runs


def table_rows(record: dict) -> list[dict[str, object]]:
    """Return the table's rows, lesson by lesson and seed by seed."""
    rows = []
    for lesson, (stem, network, size_line) in LESSONS.items():
        key = f"week4_papers/{stem}.ipynb"
        if key not in record:
            raise RecordGap(f"{key}: not in the record; run python -m bench.full_notebooks --data-dir DIR {key}")
        for seed, run in sorted(seeded_runs(record[key], key).items()):
            rows.append({"network": network, "lesson": lesson, "seed": seed,
                         **summary(run["lines"], size_line, f"{key}, seed {seed}"), "date": run["date"][:10]})
    return rows


def render(rows: list[dict[str, object]]) -> str:
    """Return the CSV text: comment lines saying where the numbers come from, then the rows."""
    out = io.StringIO()
    out.write(
        "# Written by python -m bench.architectures_table from bench/notebook_runs.json: full-mode runs of lessons\n"
        "# 04-08 by bench.full_notebooks (seed 0 as the lessons ship, other seeds with --set SEED=k) with the common\n"
        "# recipe (first 20,000 training photos, 10% held out, 5 epochs) on the course's development copy of\n"
        "# CIFAR-10 (its test photos: 10,000 held out from the official training set), on a 2-core AMD EPYC with\n"
        "# AVX2 and no AVX-512 (bench/RESULTS.md has the commands and the machine).\n")
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the table; return 0 when it matches the record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail if the table is out of date")
    parser.add_argument("--record", type=Path, default=RECORD)
    parser.add_argument("--table", type=Path, default=TABLE)
    args = parser.parse_args(argv)
    record = load_runs(args.record)
    try:
        rows = table_rows(record)
    except RecordGap as err:
        print(f"architectures_table: {err}", file=sys.stderr)
        return 1
    text = render(rows)
    if args.check:
        if not args.table.exists() or args.table.read_text(encoding="utf-8") != text:
            print(f"architectures_table: {args.table} does not match {args.record}; "
                  "run python -m bench.architectures_table", file=sys.stderr)
            return 1
        return 0
    args.table.write_text(text, encoding="utf-8")
    print(f"wrote {args.table}: {len(rows)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
