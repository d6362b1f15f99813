"""Test-suite wide hooks: report which notebooks take longest, so tiny mode stays quick."""

from __future__ import annotations

from collections import defaultdict

_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    if not _notebook_seconds:
        return
    terminalreporter.section("slowest notebooks (tiny mode)")
    for path, seconds in sorted(_notebook_seconds.items(), key=lambda item: -item[1])[:10]:
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}")
