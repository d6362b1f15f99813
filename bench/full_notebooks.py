"""Run lesson notebooks in full mode and report their wall time and the results they print.

The accuracies a lesson states come from here: each notebook runs top to bottom exactly as a mentee
runs it (DIC_TINY unset), and every printed line that mentions an accuracy is reported.

    python -m bench.full_notebooks --data-dir ../shared/data week1_regression/04_multiclass_classification.ipynb
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from bench.common import command, machine


def run(path: Path, timeout: int) -> tuple[float, list[str], list[str]]:
    """Execute a notebook; return (seconds, printed lines that mention accuracy, errors)."""
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - started
    printed, errors = [], []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                printed += [line for line in output["text"].splitlines() if "accuracy" in line]
            elif output.get("output_type") == "error":
                errors.append(f"{output['ename']}: {output['evalue'][:200]}")
    return seconds, printed, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding the full datasets")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args()
    if args.data_dir is not None:
        os.environ["DIC_DATA_DIR"] = str(args.data_dir.resolve())
    os.environ.pop("DIC_TINY", None)  # full mode, as a mentee runs it
    print(f"command : {command()}")
    print(f"machine : {machine()}")
    failed = False
    for path in args.notebooks:
        seconds, printed, errors = run(path.resolve(), args.timeout)
        print(f"\n{path}: {seconds:.1f} s{'  ERRORS: ' + '; '.join(errors) if errors else ''}")
        for line in printed:
            print(f"    {line}")
        failed = failed or bool(errors)
    print(f"\nRESULT  : {len(args.notebooks)} notebook(s) {'with errors' if failed else 'ran cleanly'} in full mode")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
