"""The formgrader lists the course's assignments only: nbgrader's source folder is grading/source/, a link per week.

Fast and offline: each test builds a small course of its own (the repository's top-level folders, each
with a notebook) and asks nbgrader's own API, the one the formgrader's pages call, what it lists.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

from mentor_tools import grading
from mentor_tools.source_folder import SOURCE_FOLDER, SourceFolderError, refresh_source_folder

REPO = Path(__file__).resolve().parents[1]
# What a mentor's working copy holds beside the weeks: the repository's folders, what installing and using
# the course leaves there, and the contests' folders inside hackathons/. None is an assignment.
NOT_ASSIGNMENTS = ["bench", "book", "contest", "book/_build", "tests", "shared", "mentor_tools", "inference_service",
                   "tiny_data", "grading", "grading/release", "deep_into_cnns.egg-info", "contests", "contests/otto",
                   "bundles", "runs", "checkpoints", "hackathons", "hackathons/tabular_contest",
                   "hackathons/bird_contest", "hackathons/to_production"]


def _notebook_in(folder: Path, name: str = "01_lesson.ipynb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(), folder / name)
    return folder / name


def _course_like_the_repository(root: Path) -> list[str]:
    """Make a course with the repository's layout and a notebook in every folder; return its week folders."""
    shutil.copy(REPO / "nbgrader_config.py", root)
    tops = [p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".")]
    for name in tops + NOT_ASSIGNMENTS:
        _notebook_in(root / name)
    return sorted(name for name in tops if name.startswith("week"))


def _formgrader_api(course: Path) -> NbGraderAPI:
    """nbgrader's API as the formgrader builds it: nbgrader_config.py read from the folder JupyterLab starts in."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def test_the_formgrader_lists_the_course_assignments_only(tmp_path):
    weeks = _course_like_the_repository(tmp_path)
    assert weeks == grading.assignments(REPO), "the repository's assignments are its week folders"
    assert len(weeks) >= 6 and all((REPO / w).is_dir() for w in weeks)

    api = _formgrader_api(tmp_path)
    assert sorted(api.get_source_assignments()) == weeks
    assert sorted(a["name"] for a in api.get_assignments()) == weeks
    listed = {a["name"] for a in api.get_assignments()}
    assert not listed & {Path(name).name for name in NOT_ASSIGNMENTS}
    assert not [name for name in listed if name.endswith(".egg-info")]
    # Each is the week folder itself, seen through its link, not a copy.
    for week in weeks:
        source = Path(api.coursedir.format_path(api.coursedir.source_directory, ".", week))
        assert source.resolve() == (tmp_path / week).resolve()
        assert sorted(p.name for p in source.glob("*.ipynb")) == ["01_lesson.ipynb"]

    # The same course with the repository root as the source folder, as before: every folder was listed.
    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    config.CourseDirectory.source_directory = "."
    every_folder = NbGraderAPI(CourseDirectory(config=config), config=config).get_source_assignments()
    assert {"bench", "tests", "shared", "mentor_tools", "grading"} <= set(every_folder)


def test_the_source_folder_follows_the_course_and_keeps_what_mentors_put_there(tmp_path):
    course = tmp_path / "course"
    lesson = _notebook_in(course / "week1_a")
    _notebook_in(course / "week2_b")
    _notebook_in(course / "bench")
    (course / "week9_empty").mkdir()  # no notebooks: not an assignment
    outside = tmp_path / "elsewhere"
    _notebook_in(outside)
    source = course / SOURCE_FOLDER
    own_folder = _notebook_in(source / "quiz", "quiz.ipynb")
    source.joinpath("extra").symlink_to(outside, target_is_directory=True)

    assert refresh_source_folder(course) == source.resolve()
    assert sorted(p.name for p in source.iterdir()) == ["extra", "quiz", "week1_a", "week2_b"]
    # Through the link, the lesson itself: what is edited there is never in a copy a refresh could replace.
    (source / "week1_a" / lesson.name).write_text("edited")
    assert lesson.read_text() == "edited"

    _notebook_in(course / "week3_c")
    shutil.rmtree(course / "week2_b")
    refresh_source_folder(course)
    refresh_source_folder(course)  # again: nothing changes
    assert sorted(p.name for p in source.iterdir()) == ["extra", "quiz", "week1_a", "week3_c"]
    assert own_folder.exists() and (source / "extra").is_symlink() and (outside / "01_lesson.ipynb").exists()
    # A course moved elsewhere keeps working links.
    moved = tmp_path / "moved"
    course.rename(moved)
    assert sorted(p.name for p in (moved / SOURCE_FOLDER / "week1_a").glob("*.ipynb")) == [lesson.name]


def test_a_folder_of_a_mentors_own_with_an_assignments_name_is_never_replaced(tmp_path, capsys):
    _notebook_in(tmp_path / "week1_a")
    _notebook_in(tmp_path / "week2_b")
    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    mine = _notebook_in(tmp_path / SOURCE_FOLDER / "week1_a", "mine.ipynb")

    with pytest.raises(SourceFolderError, match=r"week1_a is a folder of your own.*Move it out of"):
        refresh_source_folder(tmp_path)
    assert mine.exists() and not (tmp_path / SOURCE_FOLDER / "week1_a").is_symlink()
    assert (tmp_path / SOURCE_FOLDER / "week2_b").is_symlink(), "the other weeks are linked all the same"

    # The mentors' commands stop before nbgrader runs; nbgrader's own commands read the rest of the settings.
    assert grading.main(["--course", str(tmp_path), "release", "week1_a"]) == 2
    assert "week1_a is a folder of your own" in capsys.readouterr().err
    assert not (tmp_path / "grading" / "release").exists()
    assert _formgrader_api(tmp_path).coursedir.source_directory == SOURCE_FOLDER
    assert "warning (nbgrader_config.py)" in capsys.readouterr().err
    assert mine.exists()

    # A link a mentor made to somewhere else is theirs too.
    shutil.rmtree(tmp_path / SOURCE_FOLDER / "week1_a")
    os.symlink(tmp_path / "week2_b", tmp_path / SOURCE_FOLDER / "week1_a", target_is_directory=True)
    with pytest.raises(SourceFolderError, match=r"week1_a is a link to .*week2_b.*Delete that link"):
        refresh_source_folder(tmp_path)
    assert (tmp_path / "week2_b" / "01_lesson.ipynb").exists()
