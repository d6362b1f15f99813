"""Run lesson notebooks in full mode and report their wall time and the results they print.

The accuracies a lesson states come from here: each notebook runs top to bottom exactly as a mentee
runs it (DIC_TINY unset), with the lesson's own code and recipe, and every printed line that mentions an
accuracy (or images/s, FLOPs, parameters, for week 5 MSE, PSNR, Fréchet distance or coverage, for week 6
mAP@, mean IoU or AUC), or that starts with ``Headline:``, is reported. The record also names the data
folder and the dataset files in it (size, image counts, SHA-256), so a figure measured on a development
copy, such as the data pack's CIFAR-10 copy (tools/make_cifar10_dev.py: 40,000 training photos, 10,000
held out), cannot pass for one on the official set.

    python -m bench.full_notebooks --data-dir ../shared/data week1_regression/04_multiclass_classification.ipynb
    python -m bench.full_notebooks --data-dir ~/datasets/cifar10-dev --set QUICK=False \\
        week3_cnn_lenet/04_cifar10_cnn.ipynb

``--set NAME=VALUE`` replaces the notebook's one top-level assignment to NAME before running it: it
picks a recipe the lesson itself offers (such as ``QUICK = False``), it does not change the lesson's code.

Every run also updates ``bench/notebook_runs.json`` (``--record PATH`` for another file, ``--no-record`` for
none), the machine-readable record the course's pages read: one entry per notebook, keyed by its path in the
repository ("week3_cnn_lenet/03_lenet5.ipynb"), with its wall time, its headline (see ``headline``), every
reported line, the machine, the data files and the command. ``load_runs`` reads it. A failed run never
replaces a clean one: it is kept beside it as ``last_failure``. A run with ``--set`` is a recipe the lesson
offers, not the lesson as it ships: it is kept under ``variants["NAME=VALUE"]`` of the notebook's entry
(at the top only while the lesson's own recipe has no run on record).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import torch
from nbclient import NotebookClient

from bench.common import cpu_flags_line, header, machine
from shared import config, data

# A printed line mentioning one of these is part of the record (the architecture lessons print all four).
REPORTED = ("accuracy", "images/s", "flop", "parameters", "mse", "psnr", "fréchet", "coverage", "map@", "mean iou",
            "auc")
# A notebook names its own headline by printing a line that starts with this (it is reported whatever it says).
HEADLINE = "Headline:"
# A line about test or held-out data: a lesson touches its test set once, at the end, for its final result.
ON_TEST_DATA = re.compile(r"\b(test|held[- ]out)\b", re.IGNORECASE)
REPO = Path(__file__).resolve().parents[1]
RECORD = Path(__file__).resolve().parent / "notebook_runs.json"
# Environment settings that change how fast a run is (torch's and scikit-learn's thread pools).
SPEED_SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")


class RecordError(ValueError):
    """The record file exists but cannot be read as a record of runs."""


@dataclass
class NotebookRun:
    """What one full-mode run of a notebook produced."""

    path: Path
    seconds: float
    accuracy_lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)  # every line the notebook printed, reported or not


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """Return {name: Python source} from NAME=VALUE strings."""
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip().isidentifier() or not value.strip():
            raise SystemExit(f"--set takes NAME=VALUE, e.g. QUICK=False; got {pair!r}")
        overrides[name.strip()] = value.strip()
    return overrides


def apply_overrides(notebook, overrides: dict[str, str]) -> None:
    """Replace the one top-level ``NAME = ...`` line of the notebook's code for each override."""
    for name, value in overrides.items():
        pattern = re.compile(rf"^{re.escape(name)}\s*(:[^=]*)?=(?!=).*$", re.MULTILINE)
        hits = [(cell, m) for cell in notebook.cells if cell.cell_type == "code"
                for m in pattern.finditer(cell.source)]
        if len(hits) != 1:
            raise SystemExit(f"--set {name}: the notebook has {len(hits)} top-level assignments to {name}, "
                             "expected exactly one")
        cell, match = hits[0]
        cell.source = (cell.source[:match.start()] + f"{name} = {value}  # set by bench.full_notebooks --set"
                       + cell.source[match.end():])


def run(path: Path, timeout: int, overrides: dict[str, str] | None = None, keep: Path | None = None) -> NotebookRun:
    """Execute a notebook in the current environment; return its wall time, accuracy lines and errors.

    With ``keep``, the executed notebook (outputs and figures) is also written into that folder, to read
    what a full run drew; it never overwrites the lesson itself.
    """
    notebook = nbformat.read(path, as_version=4)
    apply_overrides(notebook, overrides or {})
    result = NotebookRun(path, 0.0)
    started = time.perf_counter()
    try:
        NotebookClient(notebook, timeout=timeout, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except Exception as err:  # a cell over the time limit or a dead kernel: report it with the rest
        first_line = (str(err).strip().splitlines() or [""])[0]
        result.errors.append(f"{type(err).__name__}: {first_line[:200]}")
    result.seconds = time.perf_counter() - started
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, keep / path.name)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                result.printed += output["text"].splitlines()
                result.accuracy_lines += [line for line in output["text"].splitlines()
                                          if any(word in line.lower() for word in REPORTED)
                                          or line.strip().startswith(HEADLINE)]
            elif output.get("output_type") == "error":
                result.errors.append(f"{output['ename']}: {output['evalue'][:200]}")
    return result


def describe_data_dir(folder: Path) -> list[str]:
    """Return one line per full dataset present in folder: file, size, image counts and SHA-256."""
    lines = []
    for info in data.DATASETS.values():
        path = folder / info.full
        if not path.exists():
            continue
        if path.is_dir():
            lines.append(f"{info.full}/: folder ({sum(1 for _ in path.rglob('*.jp*g'))} JPEGs)")
            continue
        counts = ""
        if info.format == "npz":
            shapes = npz_shapes(path)
            if "x_train" in shapes and "x_test" in shapes:
                counts = f", {shapes['x_train'][0]:,} train / {shapes['x_test'][0]:,} test images"
        known = data.known_sha256(path.name)
        digest = data.sha256_of(path)
        origin = "" if known is None else " (the data pack's file)" if digest == known else " (NOT the data pack's)"
        lines.append(f"{info.full}: {path.stat().st_size:,} bytes{counts}, sha256 {digest[:16]}{origin}")
    return lines


def npz_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Return the shape of every array in an .npz file, reading only the array headers."""
    shapes = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shapes[member.removesuffix(".npy")] = read(f)[0]
    except (OSError, ValueError, zipfile.BadZipFile):
        pass  # the notebook's loader will say what is wrong with it
    return shapes


def headline(lines: list[str]) -> str:
    """Return the line a reader most wants among a notebook's reported lines ('' if it reported none).

    In order: the notebook's own choice, the last line starting with ``Headline:`` (without the marker);
    else the last line about test or held-out data (a lesson tests once, at the end, for its final result);
    else the last reported line (a lesson prints its result last). A line ending with ":" only announces
    the table printed after it, so it is never the headline.
    """
    lines = [line.strip() for line in lines]
    marked = [line.removeprefix(HEADLINE).strip() for line in lines if line.startswith(HEADLINE)]
    if marked:
        return marked[-1]
    results = [line for line in lines if line and not line.endswith(":")]
    on_test = [line for line in results if ON_TEST_DATA.search(line)]
    return (on_test or results or [""])[-1]


def record_key(path: Path) -> str:
    """Return the notebook's path relative to the repository, in POSIX form (its key in the record)."""
    return path.resolve().relative_to(REPO).as_posix()


def machine_facts() -> dict[str, object]:
    """Return the machine facts of bench.common's header, one by one, with the settings that change speed."""
    summary = machine()
    cores = os.cpu_count()
    return {
        "summary": summary,
        # machine() starts with the CPU model, then ", N cores": read it there rather than a second time.
        "cpu": summary.split(f", {cores} cores", 1)[0],
        "cores": cores,
        "load_average": [round(load, 2) for load in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the widest vector unit torch uses
        "cpu_flags": cpu_flags_line(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "settings": {name: os.environ[name] for name in SPEED_SETTINGS if name in os.environ},
    }


def load_runs(path: Path | None = None) -> dict[str, dict]:
    """Return the record of runs, {notebook: entry}; {} if the file does not exist yet."""
    path = RECORD if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        runs = json.loads(text)
    except json.JSONDecodeError as err:
        raise RecordError(f"{path} is not a record of notebook runs: invalid JSON ({err}). Restore it "
                          f"(git checkout -- {path.name}) or move it aside; it is not overwritten.") from err
    if not isinstance(runs, dict) or not all(isinstance(entry, dict) for entry in runs.values()):
        raise RecordError(f"{path} is not a record of notebook runs: expected a JSON object of "
                          "{notebook path: {seconds, headline, ...}}. Restore it or move it aside.")
    return runs


def save_runs(runs: dict[str, dict], path: Path) -> None:
    """Write the record atomically: a temporary file beside it, then a rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(sorted(runs.items())), indent=2, ensure_ascii=False) + "\n"
    # Same folder, so the rename stays on one file system and is atomic: a reader (or an interrupted run)
    # sees the old record or the new one, never half of one.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private; the record is read by others (the course's pages), as before.
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def recipe(overrides: dict[str, str]) -> str:
    """Return the name of a run's recipe in the record: '' for the lesson as it ships, else 'NAME=VALUE; ...'."""
    return "; ".join(f"{name}={value}" for name, value in sorted(overrides.items()))


def merge_run(entry: dict | None, run_entry: dict) -> tuple[dict, str]:
    """Return the notebook's record entry with this run in it, and what was done, for the output."""
    entry = dict(entry or {})
    variants = dict(entry.pop("variants", {}))
    name = recipe(run_entry["overrides"])
    if entry and name == "" and recipe(entry.get("overrides", {})) != "":
        # The lesson as it ships takes the top; the run of another recipe that held it moves to the variants.
        variants.setdefault(recipe(entry["overrides"]), entry)
        entry = {}
    at_top = not entry or recipe(entry.get("overrides", {})) == name
    old = entry if at_top else variants.get(name)
    where = "" if at_top else f" (variants[{name!r}])"
    if not run_entry["errors"]:
        new, done = dict(run_entry), f"recorded{where}"
    elif old and not old.get("errors"):
        # A failed run says nothing about what a clean run costs: the clean one stays, the failure beside it.
        new = {**old, "last_failure": {key: run_entry[key] for key in
                                       ("date", "seconds", "errors", "lines", "command", "overrides")}}
        done = (f"NOT recorded{where}: it failed, and the clean run of {old['date']} stays; "
                "this failure is kept as its last_failure")
    else:
        new, done = dict(run_entry), f"recorded a failed run{where} (no clean run on record)"
    if at_top:
        entry = new
    else:
        variants[name] = new
    if variants:
        entry["variants"] = dict(sorted(variants.items()))
    return entry, done


def update_record(path: Path, key: str, run_entry: dict) -> str:
    """Put one run into the record file, keeping every other notebook's entry; return what was done."""
    runs = load_runs(path)  # read afresh for each notebook: a long batch must not undo another's update
    runs[key], done = merge_run(runs.get(key), run_entry)
    save_runs(runs, path)
    return done


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks; return 0 if all ran without an error, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding the full datasets")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="replace the notebook's top-level assignment NAME = ... (e.g. QUICK=False)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="also write each executed notebook, outputs included, into DIR (not the repository)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--record", type=Path, default=None, metavar="PATH",
                       help=f"the record of runs to update (default: {RECORD.relative_to(REPO)})")
    where.add_argument("--no-record", action="store_true", help="update no record of runs")
    args = parser.parse_args(argv)
    # The command line as given, not sys.argv: main() is also called from Python with its own arguments.
    command = "python -m bench.full_notebooks " + shlex.join(sys.argv[1:] if argv is None else argv)
    overrides = parse_overrides(args.overrides)
    if args.keep is not None and args.keep.resolve() in {p.resolve().parent for p in args.notebooks}:
        raise SystemExit(f"--keep {args.keep}: choose a folder outside the lessons, they are committed without outputs")
    for path in args.notebooks:  # a --set that misses must stop the run before anything long starts
        apply_overrides(nbformat.read(path, as_version=4), overrides)
    record = None if args.no_record else RECORD if args.record is None else args.record
    if record is not None:
        try:  # and so must a record that cannot be updated
            load_runs(record)
        except RecordError as err:
            raise SystemExit(f"--record: {err}") from None
    if args.data_dir is not None:
        os.environ["DIC_DATA_DIR"] = str(args.data_dir.resolve())
        source = "--data-dir"
    else:
        source = "DIC_DATA_DIR" if os.environ.get("DIC_DATA_DIR", "").strip() else "the per-user cache"
    os.environ.pop("DIC_TINY", None)  # full mode, as a mentee runs it
    folder = config.data_dir()
    print(header())
    settings = "".join(f"; --set {name}={value}" for name, value in overrides.items())
    print(f"mode    : full (DIC_TINY unset){settings}")
    print(f"data dir: {folder} (from {source})")
    described = describe_data_dir(folder)
    for line in described or ["no full dataset files found there"]:
        print(f"    {line}")
    failed = False
    for path in args.notebooks:
        # Date and machine as the run starts: the load average then is other work's, not the notebook's own.
        started, facts = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), machine_facts()
        result = run(path.resolve(), args.timeout, overrides, args.keep)
        status = f"{len(result.errors)} error(s)" if result.errors else "ran cleanly"
        print(f"\n{path}: {result.seconds:.1f} s, {status}")
        for error in result.errors:
            print(f"    ERROR: {error}")
        for line in result.accuracy_lines:
            print(f"    {line}")
        failed = failed or bool(result.errors)
        if record is None:
            continue
        try:
            key = record_key(path)
        except ValueError:  # keyed by its place in the repository: a notebook elsewhere has none
            if args.record is None:
                print(f"record  : {path} is outside the repository: not recorded in {RECORD.name} "
                      "(--record PATH records it elsewhere, by its absolute path)")
                continue
            key = path.resolve().as_posix()
        entry = {"seconds": round(result.seconds, 1), "headline": headline(result.accuracy_lines),
                 "lines": result.accuracy_lines, "errors": result.errors, "date": started,
                 "machine": facts, "data_dir": str(folder), "data": described,
                 "overrides": overrides, "command": command, "source": "bench.full_notebooks"}
        print(f"record  : {key}: {update_record(record, key, entry)} in {record}")
    print(f"\nRESULT  : {len(args.notebooks)} notebook(s) {'with errors' if failed else 'ran cleanly'} in full mode")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
