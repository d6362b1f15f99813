"""Committed notebooks carry no outputs: diffs stay readable and a mentee starts from a clean page."""

import subprocess
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]


def _notebooks():
    listed = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=REPO, capture_output=True, text=True)
    tracked = [REPO / p for p in listed.stdout.split()] if listed.returncode == 0 else []
    # Without git: what is not committed is left out, among it the website's executed copies (book/_build).
    generated = {".venv", "grading", ".ipynb_checkpoints", "_build"}
    return tracked or sorted(p for p in REPO.glob("*/**/*.ipynb") if not generated & set(p.parts))


def test_there_are_notebooks_to_check():
    assert _notebooks(), "no notebooks found"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: str(p.relative_to(REPO)))
def test_notebook_is_valid_and_has_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing " \
                      "(Kernel > Restart and Clear Outputs, or `jupyter nbconvert --clear-output --inplace`)"
