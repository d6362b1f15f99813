"""The study time each lesson states is the estimate mentor_tools.study_time makes from the lesson."""

import nbformat
import pytest

from mentor_tools import study_time


def test_every_lesson_states_its_prerequisites_and_its_current_study_time(capsys):
    assert study_time.main(["--check"]) == 0, capsys.readouterr().err


def test_a_grown_lesson_is_caught_and_rewritten():
    cell = ("# A lesson\n\n**Before you start:** lesson 01. **Study time:** about 1 hour to read, run and do the "
            "exercises, besides the compute time.")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(cell),
                                               nbformat.v4.new_markdown_cell("word " * 450)])
    minutes = study_time.study_minutes(notebook)
    assert minutes == pytest.approx(3, abs=0.05)  # 450 words; the first cell's own study line does not count
    updated = study_time.study_line(cell, minutes + 170)
    assert updated.endswith("**Before you start:** lesson 01. **Study time:** about 3 hours to read, run and do the "
                            "exercises, besides the compute time.")
    assert updated.count("Study time") == 1
    assert study_time.study_line("# A lesson without the line", 60) is None


def test_times_read_as_a_lesson_says_them():
    assert [study_time.as_words(m) for m in (5, 44, 46, 100, 150)] == [
        "30 minutes", "30 minutes", "1 hour", "1.5 hours", "2.5 hours"]
