"""Run lesson notebooks in full mode and report their wall time and the results they print.

The accuracies a lesson states come from here: each notebook runs top to bottom exactly as a mentee
runs it (DIC_TINY unset), with the lesson's own code and recipe, and every printed line that mentions an
accuracy (or images/s, FLOPs, parameters, and for week 5 MSE, PSNR, Fréchet distance or coverage) is reported. The record also names the data folder and the
dataset files in it (size, image counts, SHA-256), so a figure measured on a development copy, such as
the data pack's CIFAR-10 copy (tools/make_cifar10_dev.py: 40,000 training photos, 10,000 held out),
cannot pass for one on the official set.

    python -m bench.full_notebooks --data-dir ../shared/data week1_regression/04_multiclass_classification.ipynb
    python -m bench.full_notebooks --data-dir ~/datasets/cifar10-dev --set QUICK=False \\
        week3_cnn_lenet/04_cifar10_cnn.ipynb

``--set NAME=VALUE`` replaces the notebook's one top-level assignment to NAME before running it: it
picks a recipe the lesson itself offers (such as ``QUICK = False``), it does not change the lesson's code.
"""

from __future__ import annotations

import argparse
import os
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient

from bench.common import header
from shared import config, data

# A printed line mentioning one of these is part of the record (the architecture lessons print all four).
REPORTED = ("accuracy", "images/s", "flop", "parameters", "mse", "psnr", "fréchet", "coverage")


@dataclass
class NotebookRun:
    """What one full-mode run of a notebook produced."""

    path: Path
    seconds: float
    accuracy_lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


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
                result.accuracy_lines += [line for line in output["text"].splitlines()
                                          if any(word in line.lower() for word in REPORTED)]
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
    args = parser.parse_args(argv)
    overrides = parse_overrides(args.overrides)
    if args.keep is not None and args.keep.resolve() in {p.resolve().parent for p in args.notebooks}:
        raise SystemExit(f"--keep {args.keep}: choose a folder outside the lessons, they are committed without outputs")
    for path in args.notebooks:  # a --set that misses must stop the run before anything long starts
        apply_overrides(nbformat.read(path, as_version=4), overrides)
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
    for line in describe_data_dir(folder) or ["no full dataset files found there"]:
        print(f"    {line}")
    failed = False
    for path in args.notebooks:
        result = run(path.resolve(), args.timeout, overrides, args.keep)
        status = f"{len(result.errors)} error(s)" if result.errors else "ran cleanly"
        print(f"\n{path}: {result.seconds:.1f} s, {status}")
        for error in result.errors:
            print(f"    ERROR: {error}")
        for line in result.accuracy_lines:
            print(f"    {line}")
        failed = failed or bool(result.errors)
    print(f"\nRESULT  : {len(args.notebooks)} notebook(s) {'with errors' if failed else 'ran cleanly'} in full mode")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
