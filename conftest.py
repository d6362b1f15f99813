"""Test-suite wide hooks: a report of where the suite's time goes.

Which notebooks run where: `make test` collects only tests/ (pyproject's testpaths). The lessons without
exercises run in tests/test_lessons_run.py, those with exercises in their grading proofs; a notebook
named on the command line (as `make quick` names one per week) runs cell by cell through nbval.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests import warm_kernels

BUDGET_SECONDS = 600  # `make test` on 2 cores after the install, with the whole course in it (issue 9)
_started = time.monotonic()
_notebook_seconds: dict[str, float] = defaultdict(float)
_item_seconds: dict[str, float] = defaultdict(float)


# `--dist loadscope` keeps each module's tests on one worker (its module-scoped fixtures are made once), each
# class of the grading proofs (a week's cohort is graded once) and each notebook named on the command line
# (nbval runs its cells in order, in one kernel). These modules share nothing costly between their tests, so
# their tests are handed out one at a time and the two workers end together: the lessons and the benchmarks'
# smoke runs, 10-40 s each, would otherwise make one block of minutes on one worker.
SPREAD_MODULES = ("tests/test_lessons_run.py", "tests/test_bench.py")


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: without xdist (-p no:xdist) it is never called
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.split("::")[0] in SPREAD_MODULES:
                return nodeid
            return super()._split_scope(nodeid)

    return CourseScheduling(config, log)


def pytest_configure(config) -> None:
    """Start the warm-kernel server (tests/warm_kernels.py) once per run, in the process that starts the workers."""
    if hasattr(config, "workerinput") or os.environ.get("DIC_WARM_KERNELS", "1") == "0":
        return
    folder = Path(tempfile.mkdtemp(prefix="dic-kernels-"))
    socket_path = folder / "server.sock"
    # Kernels launched before the server listens (it imports PyTorch first, ~8 s) start fresh, the usual way.
    server = subprocess.Popen([sys.executable, warm_kernels.__file__, "serve", str(socket_path)],
                              stdin=subprocess.DEVNULL)
    jupyter_path = [str(warm_kernels.write_kernelspec(folder)), os.environ.get("JUPYTER_PATH", "")]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in jupyter_path if p)
    os.environ[warm_kernels.SOCKET_VARIABLE] = str(socket_path)
    config.stash[_WARM_KERNELS] = (server, folder)


def pytest_unconfigure(config) -> None:
    if _WARM_KERNELS in config.stash:
        server, folder = config.stash[_WARM_KERNELS]
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


_WARM_KERNELS = pytest.StashKey[tuple]()


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
