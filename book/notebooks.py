"""The lessons in the book: run in tiny mode (with a cache), made into the student version, noted on top."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from book.course import TIMES_PAGE

REPO = Path(__file__).resolve().parents[1]
# Part of every cache key: change it to execute every notebook again (e.g. when how they run changes).
CACHE_SALT = "book-execution-1"
MAX_JOBS = 2  # the machine has two cores; never run more notebooks at once
# Where executed copies are kept: `make site` reads it, and `make test` leaves its own runs of the lessons in
# it (tests/test_lessons_run.py and the grading proofs), so each lesson runs once for both.
CACHE = REPO / "book" / "_build" / "cache"


class NotebookFailed(RuntimeError):
    """A notebook raised an error, timed out or lost its kernel; the message names the notebook and cell."""


@dataclass
class Executed:
    """A notebook's executed copy in the cache and what running it cost."""

    path: str  # from the course root
    notebook: Path  # the executed copy, solutions and all: never published as it is
    seconds: float  # tiny-mode wall time of the run that made the copy
    from_cache: bool


def cache_key(path: Path) -> str:
    """Return the SHA-256 of the notebook's cell types and sources and the cache salt."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    digest = hashlib.sha256(CACHE_SALT.encode())
    for cell in cells:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        digest.update(json.dumps([cell["cell_type"], source]).encode())
    return digest.hexdigest()


def cached(cache: Path, path: str, key: str) -> Executed | None:
    """Return the cached run of the notebook at ``path`` if it was made from this content, else None."""
    record, executed = cache / f"{path}.json", cache / path
    if not (record.exists() and executed.exists()):
        return None
    info = json.loads(record.read_text(encoding="utf-8"))
    return Executed(path, executed, info["seconds"], True) if info.get("key") == key else None


def tiny_mode_env() -> dict[str, str]:
    """Return the environment a notebook's kernel gets: tiny mode, one thread, figures inline."""
    env = dict(os.environ, DIC_TINY="1", OMP_NUM_THREADS="1")
    # Left unset, so that matplotlib in the kernel uses the inline backend and figures become PNG outputs
    # (`make test` exports MPLBACKEND=Agg, which would draw them nowhere).
    env.pop("MPLBACKEND", None)
    return env


def execute(course: Path, path: str, cache: Path, timeout: int) -> Executed:
    """Run a notebook in tiny mode from its own folder, keep the executed copy in the cache; return it."""
    from nbclient import NotebookClient

    source = course / path
    key = cache_key(source)
    notebook = nbformat.read(source, as_version=4)
    started_cell = [-1]

    def remember(cell, cell_index: int) -> None:
        started_cell[0] = cell_index

    # Stopped at once when done ("immediate"): a graceful stop waits 1-3 s for the kernel's PyTorch to tear
    # down, and the run's files are written in its cells.
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(source.parent)}}, on_cell_start=remember,
                            shutdown_kernel="immediate")
    started = time.perf_counter()
    try:
        client.execute(env=tiny_mode_env())
    except Exception as err:  # an error in a cell, a timeout, a dead kernel: the page cannot be built
        raise NotebookFailed(failure_message(path, notebook, started_cell[0], err)) from None
    return store(cache, path, notebook, time.perf_counter() - started, key)


def store(cache: Path, path: str, notebook, seconds: float, key: str) -> Executed:
    """Keep a notebook's clean tiny-mode run in the cache, under the key of the source it ran; return it."""
    target = cache / path
    target.parent.mkdir(parents=True, exist_ok=True)
    # Into a temporary file, then renamed: two test workers or an interrupted run never leave half a notebook.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    nbformat.write(notebook, partial)
    os.replace(partial, target)
    # The record is written last: a run interrupted half-way is never taken for a good one.
    Path(f"{target}.json").write_text(json.dumps({"key": key, "seconds": round(seconds, 2),
                                                  "executed": time.strftime("%Y-%m-%d %H:%M")}, indent=1))
    return Executed(path, target, seconds, False)


def failure_message(path: str, notebook, cell_index: int, err: BaseException) -> str:
    """Return a message naming the notebook, the failing cell and the error, and what to do about it."""
    if cell_index < 0:
        where = "before its first cell ran"
    else:
        cell = notebook.cells[cell_index]
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
        named = f" ({grade_id})" if grade_id else ""
        where = f"in cell {cell_index + 1}{named}, which starts {first_line[:80]!r}"
    outputs = notebook.cells[max(cell_index, 0)].get("outputs", [])
    errors = [o for o in outputs if o.get("output_type") == "error"]
    error = errors[0] if errors else {"ename": type(err).__name__, "evalue": str(err)[:500]}
    reason = f"{error['ename']}: {error['evalue']}"
    return (f"{path} failed in tiny mode {where}:\n    {reason.strip()}\n"
            f"Run it yourself to see the whole traceback (DIC_TINY=1 python -m pytest {path}), fix it, and "
            "build again; the notebooks that ran are cached.")


def execute_all(course: Path, paths: list[str], cache: Path, timeout: int = 600, jobs: int = MAX_JOBS,
                rerun: bool = False, log: Callable[[str], None] = print) -> dict[str, Executed]:
    """Return every notebook's executed copy, running only those whose cells changed since their cached run.

    All notebooks are tried; if any failed, NotebookFailed lists them all after the others ran.
    """
    if not 1 <= jobs <= MAX_JOBS:
        raise ValueError(f"jobs must be 1 or {MAX_JOBS}: the machine has two cores")
    results: dict[str, Executed] = {}
    to_run = []
    for path in paths:
        hit = None if rerun else cached(cache, path, cache_key(course / path))
        if hit:
            results[path] = hit
        else:
            to_run.append(path)
    if to_run:
        log(f"executing {len(to_run)} notebook(s) in tiny mode, {jobs} at a time; "
            f"{len(results)} from the cache")
    failures = []

    def run_one(path: str) -> None:
        try:
            results[path] = execute(course, path, cache, timeout)
            log(f"  {results[path].seconds:6.1f} s  {path}")
        except NotebookFailed as err:
            failures.append(str(err))
            log(f"  FAILED    {path}")

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run_one, to_run))
    if failures:
        raise NotebookFailed(f"{len(failures)} notebook(s) failed, so the book was not built:\n\n"
                             + "\n\n".join(failures))
    return {path: results[path] for path in paths}


@functools.cache
def _nbgrader_config():
    """Return the course's nbgrader configuration (the stubs students get in place of solutions)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()


def student_version(notebook):
    """Return a copy of a source notebook as students get it, less the outputs that could give answers away.

    nbgrader's own preprocessors, configured by the course's nbgrader_config.py, replace solutions with
    their stubs and written answers with "YOUR ANSWER HERE", and remove hidden tests, as `nbgrader
    generate_assignment` does. Then the outputs of solution cells and autograded test cells are cleared: an
    executed reference solution's output, or a test's, could show the answer.
    """
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions
    from nbgrader.utils import is_solution

    from mentor_tools.integrity import is_test_cell

    notebook = copy.deepcopy(notebook)
    for preprocessor in (ClearSolutions, ClearHiddenTests, ClearMarkScheme):
        notebook, _ = preprocessor(config=_nbgrader_config()).preprocess(notebook, {})
    for cell in notebook.cells:
        if cell.cell_type == "code" and (is_solution(cell) or is_test_cell(cell)):
            cell.outputs = []
            cell.execution_count = None
    return notebook


WIDGET = "application/vnd.jupyter.widget-view+json"


def drop_widgets(notebook) -> None:
    """Remove widget outputs (the training loop's live progress bars) and the widget state.

    A static page cannot show a live widget without loading its JavaScript from the internet, and a
    progress bar's text fallback says 0%; the loop prints its epoch lines as text anyway.
    """
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]


def format_seconds(seconds: float) -> str:
    """Return a duration as people write it: '48 s', '12 min 05 s', '1 h 03 min'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def escape_markdown(text: str) -> str:
    """Return text with Markdown's (and MyST's $-math) special characters escaped, to show it as written."""
    return "".join(f"\\{char}" if char in "\\`*_{}[]<>()#+!|$~" else char for char in text)


def tiny_mode_note(tiny_seconds: float, run: dict | None, origin: str = "") -> str:
    """Return the MyST note saying that outputs come from tiny mode, with the full-mode cost and result.

    ``run`` is the lesson's full-mode record (bench/notebook_runs.json), ``origin`` where it came from, as
    Markdown (build.py links it to its section of the benchmark results).
    """
    lines = [f"The outputs on this page come from **tiny mode** (`DIC_TINY=1`: small class-balanced samples, "
             f"few epochs), run when this book was built (in {format_seconds(tiny_seconds)}, one thread). "
             "The numbers they show are not the lesson's results."]
    if run:
        headline = escape_markdown(run["headline"].strip()) or "no headline result recorded"
        note = f"; {escape_markdown(run['note'])}" if run.get("note") else ""
        lines.append(f"**In full mode** this lesson took **{format_seconds(run['seconds'])}** on 2 cores. "
                     f"Headline: {headline} (measured {escape_markdown(run['date'])}, from "
                     f"{origin or 'the record'}{note}).")
    else:
        lines.append("This lesson's full-mode cost has not been measured.")
    lines.append(f"Every lesson's times and results: {{doc}}`/{TIMES_PAGE.removesuffix('.md')}`.")
    body = "\n\n".join(lines)
    return f"````{{admonition}} Outputs from tiny mode\n:class: note tiny-mode-note\n\n{body}\n````\n"


def add_note(notebook, note: str) -> None:
    """Put the note right under the notebook's title (its first level-1 heading), or first if it has none."""
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("# "):
                cell.source = "\n".join(lines[:i + 1] + ["", note] + lines[i + 1:])
                return
    notebook.cells.insert(0, nbformat.v4.new_markdown_cell(note))


def notebook_title(path: Path) -> str:
    """Return the notebook's first level-1 heading, or its file name if it has none."""
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line in source.splitlines():
            if cell["cell_type"] == "markdown" and line.startswith("# "):
                return line[2:].strip()
    return path.name
