"""Every lesson without exercises runs top to bottom in tiny mode, and its run is kept for the website.

The lessons with exercises run in the grading proofs (tests/test_mentor_grading.py), which keep their
first, complete run for the website in the same way. So `make test` runs each lesson once, and `make site`
afterwards renders those runs (book/_build/cache) instead of running every lesson a second time.
To run one notebook cell by cell, name it: `pytest week3_cnn_lenet/01_image_filters.ipynb` (nbval).
"""

from pathlib import Path

import pytest

from book.course import course_notebooks, course_parts, has_exercises
from book.notebooks import CACHE, execute

REPO = Path(__file__).resolve().parents[1]
LESSONS = [path for path in course_notebooks(course_parts(REPO)) if not has_exercises(REPO / path)]
CELL_LIMIT = 300  # seconds: a tiny-mode cell that takes longer has lost its way

pytestmark = pytest.mark.slow  # `make quick` runs one notebook per week through nbval instead


def test_the_lessons_without_exercises_are_found():
    assert "week1_regression/00_getting_started.ipynb" in LESSONS
    assert not any(path.startswith("week1_regression/02_") for path in LESSONS)  # graded: a proof runs it


@pytest.mark.parametrize("path", LESSONS)
def test_lesson_runs_top_to_bottom_in_tiny_mode(path):
    # Raises NotebookFailed naming the notebook, the cell and the error; a clean run goes into the cache.
    execute(REPO, path, CACHE, timeout=CELL_LIMIT)
