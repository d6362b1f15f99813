"""Test-suite wide hooks: which notebooks run where, and a report of where the suite's time goes."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import pytest

BUDGET_SECONDS = 600  # `make test` on 2 cores after the install, with the whole course in it (issue 9)
_started = time.monotonic()
_notebook_seconds: dict[str, float] = defaultdict(float)
_item_seconds: dict[str, float] = defaultdict(float)


def _has_autograded_cells(path: Path) -> bool:
    # The same test as mentor_tools.integrity.is_test_cell, on the raw JSON: importing that module here
    # would load nbgrader (seconds) in every pytest process.
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return any(c.get("metadata", {}).get("nbgrader", {}).get("grade") and c.get("cell_type") == "code"
               and not c["metadata"]["nbgrader"].get("solution") for c in cells)


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    # A notebook with exercises is run top to bottom by the grading proofs (tests/test_mentor_grading.py),
    # which must execute it anyway; nbval runs it only when it is named on the command line.
    if collection_path.suffix != ".ipynb" or not collection_path.is_file():
        return None
    named = {Path(arg.split("::")[0]).resolve() for arg in config.args}
    if collection_path.resolve() in named:
        return None
    return True if _has_autograded_cells(collection_path) else None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items) -> None:
    # Whole notebooks are slow, unless named on the command line (as `make quick` names one per week).
    # (`--dist loadscope` keeps a notebook's cells on one worker, in order, and sends each class of the
    # grading proofs, one per week, to a worker of its own.)
    named = {Path(arg.split("::")[0]).resolve() for arg in config.args}
    for item in items:
        path = item.nodeid.split("::")[0]
        if path.endswith(".ipynb") and Path(item.config.rootpath, path).resolve() not in named:
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration
    _item_seconds[report.nodeid] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    elapsed = time.monotonic() - _started
    if _notebook_seconds:
        terminalreporter.section("slowest notebooks run by nbval (tiny mode)")
        for path, seconds in sorted(_notebook_seconds.items(), key=lambda item: -item[1])[:10]:
            terminalreporter.write_line(f"{seconds:7.1f} s  {path}")
    if _item_seconds:
        terminalreporter.section("slowest tests (setup included; a fixture's cost lands on its first test)")
        for nodeid, seconds in sorted(_item_seconds.items(), key=lambda item: -item[1])[:15]:
            terminalreporter.write_line(f"{seconds:7.1f} s  {nodeid}")
    terminalreporter.section("time budget")
    terminalreporter.write_line(f"the suite took {elapsed:.0f} s of its {BUDGET_SECONDS} s budget on 2 cores "
                                f"({100 * elapsed / BUDGET_SECONDS:.0f}%)")
