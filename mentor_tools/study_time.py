"""Estimate each lesson's study time, and keep the figure its first cell states in step with the lesson.

Every lesson's first cell ends with a line written by its author, then completed here::

    **Before you start:** lesson 02 (convolution layers). **Study time:** about 3 hours to read, run ...

The prerequisites are the author's words; the study time is this module's estimate, from what the lesson
holds: technical reading at 150 words a minute, code read and run at 4 lines a minute, 12 minutes per
exercise and 10 per written question. Those rates were chosen so that week 1 comes to the 8-10 hours
mentees took for it; they estimate, they do not measure. The compute time (full mode) is stated apart.

    python -m mentor_tools.study_time           # rewrite the study times, print each lesson and week
    python -m mentor_tools.study_time --check   # fail if a lesson lacks the line or states another time
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from book.course import course_notebooks, course_parts

REPO = Path(__file__).resolve().parents[1]
BEFORE = "**Before you start:**"
STUDY = re.compile(r"\*\*Study time:\*\* about (?P<time>.*?) to read, run and do the exercises, besides the "
                   r"compute time\.")
WORDS_PER_MINUTE, CODE_LINES_PER_MINUTE, EXERCISE_MINUTES, QUESTION_MINUTES = 150, 4, 12, 10


def study_minutes(notebook: nbformat.NotebookNode) -> float:
    """Return the estimated minutes a mentee spends on the lesson, compute time aside."""
    words = code_lines = exercises = questions = 0
    for cell in notebook.cells:
        grading = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            words += len(cell.source.split(BEFORE)[0].split())  # not the line that states the estimate
            questions += bool(grading.get("solution"))
        elif not grading.get("grade"):  # the checks run; a mentee does not study them
            code_lines += len(cell.source.splitlines())
            exercises += bool(grading.get("solution"))
    return (words / WORDS_PER_MINUTE + code_lines / CODE_LINES_PER_MINUTE + EXERCISE_MINUTES * exercises
            + QUESTION_MINUTES * questions)


def as_words(minutes: float) -> str:
    """Return the time to the nearest half hour, as a lesson says it: '30 minutes', '1 hour', '2.5 hours'."""
    halves = max(1, round(minutes / 30))
    if halves == 1:
        return "30 minutes"
    return f"{halves / 2:g} hour" + ("" if halves == 2 else "s")


def study_line(first_cell: str, minutes: float) -> str | None:
    """Return the first cell with its study time set to ``minutes``; None if it has no 'Before you start' line."""
    if BEFORE not in first_cell:
        return None
    sentence = f"**Study time:** about {as_words(minutes)} to read, run and do the exercises, besides the compute time."
    head, _, line = first_cell.rpartition(BEFORE)
    line = STUDY.sub("", line).rstrip()
    return f"{head}{BEFORE}{line} {sentence}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, verify) every lesson's study time; return 0 if all is in step."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; fail if a lesson is out of step")
    args = parser.parse_args(argv)
    problems, totals = [], {}
    for name in course_notebooks(course_parts(REPO)):
        path = REPO / name
        notebook = nbformat.read(path, as_version=4)
        minutes = study_minutes(notebook)
        part = str(Path(name).parent)
        totals[part] = totals.get(part, 0.0) + minutes
        first = notebook.cells[0].source
        updated = study_line(first, minutes)
        if updated is None:
            problems.append(f"{name}: its first cell has no '{BEFORE}' line (prerequisites, then the study time)")
        elif updated != first:
            if args.check:
                problems.append(f"{name}: its first cell does not state about {as_words(minutes)} of study time "
                                "(run python -m mentor_tools.study_time)")
            else:
                notebook.cells[0].source = updated
                nbformat.write(notebook, path)
        print(f"{name:62s} {minutes / 60:5.1f} h")
    for part, minutes in totals.items():
        print(f"{part:62s} {minutes / 60:5.1f} h in all")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
