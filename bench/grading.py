"""Time to autograde a cohort: N copies of one week's source notebooks, graded with 1 and with 2 jobs.

    python -m bench.grading --week week1_regression --students 10
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import command, cpu_flags_line, machine
from mentor_tools import grading

REPO = Path(__file__).resolve().parents[1]


def grade_cohort(week: str, students: int, jobs: int) -> tuple[float, int]:
    """Grade `students` copies of the week on a fresh copy of the course; return (seconds, notebooks graded)."""
    with tempfile.TemporaryDirectory() as folder:
        course = Path(folder)
        shutil.copy(REPO / "nbgrader_config.py", course)
        shutil.copytree(REPO / week, course / week)
        grading.release([week], course)
        for i in range(students):
            shutil.copytree(REPO / week, course / "submissions" / f"student{i:02d}" / week,
                            ignore=shutil.ignore_patterns("*.md", ".ipynb_checkpoints"))
        grading.import_submissions(week, course / "submissions", course)
        started = time.perf_counter()
        results = grading.autograde(week, course, jobs=jobs)
        seconds = time.perf_counter() - started
        failed = [r for r in results if r.status != "graded"]
        if failed:
            raise SystemExit(f"grading failed: {failed[:3]}")
        return seconds, len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--week", default="week1_regression")
    parser.add_argument("--students", type=int, default=10)
    args = parser.parse_args()
    print(f"command : {command()}")
    print(f"machine : {machine()}")
    print(f"cpu     : {cpu_flags_line()}")
    rates = {}
    for jobs in (1, 2):
        seconds, notebooks = grade_cohort(args.week, args.students, jobs)
        rates[jobs] = seconds
        print(f"jobs={jobs}: {args.students} students, {notebooks} notebooks in {seconds:.1f} s "
              f"({seconds / args.students:.1f} s per student)")
    print(f"RESULT  : 2 jobs take {rates[2] / rates[1]:.2f}x the time of 1 job; "
          f"a 30-student cohort would take about {rates[2] / args.students * 30 / 60:.1f} min with 2 jobs")


if __name__ == "__main__":
    main()
