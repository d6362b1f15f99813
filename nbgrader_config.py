# nbgrader's configuration for the course. Mentors run `python -m mentor_tools.grading` or nbgrader's own
# commands (`nbgrader generate_assignment week1_regression`, the formgrader) from the repository root, or
# from any folder with `--config PATH/nbgrader_config.py`. Each week folder is one assignment and its
# notebooks are the source versions, so nothing in the course moves; everything nbgrader writes goes
# under grading/, which git ignores. nbgrader's source folder is grading/source/, one link per week
# (mentor_tools/source_folder.py says why).
import os
import sys

c = get_config()  # noqa: F821 (nbgrader provides get_config)

COURSE = os.path.dirname(os.path.abspath(__file__))
GRADING = os.path.join(COURSE, "grading")
# SQLite creates the gradebook file but not its folder: a fresh clone has no grading/ yet.
os.makedirs(GRADING, exist_ok=True)
# nbgrader runs `alembic` to create the gradebook: find it beside this Python even in a venv that
# was not activated (`.venv/bin/nbgrader ...`).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
# The integrity preprocessors below live in this repository's mentor_tools package.
if COURSE not in sys.path:
    sys.path.insert(0, COURSE)

from mentor_tools.source_folder import SOURCE_FOLDER, SourceFolderError, refresh_source_folder  # noqa: E402

# The formgrader lists every folder of the source directory as an assignment: grading/source/ holds links to
# the weeks only, refreshed each time nbgrader reads this file (every command, every formgrader page).
try:
    refresh_source_folder(COURSE)
except SourceFolderError as err:
    # nbgrader drops this whole file when it raises: warn, and keep the other assignments and settings working.
    print(f"warning (nbgrader_config.py): {err}", file=sys.stderr)

c.CourseDirectory.root = COURSE
c.CourseDirectory.course_id = "deep-into-cnns"
c.CourseDirectory.source_directory = SOURCE_FOLDER
c.CourseDirectory.release_directory = "grading/release"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
c.CourseDirectory.solution_directory = "grading/solution"
# An absolute path, so the gradebook is the same whatever folder nbgrader starts in; a generous SQLite
# busy timeout, so two grading processes can share it.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(GRADING, "gradebook.db").replace(os.sep, "/") + "?timeout=60"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "checkpoints", "*.pt"]

# Student versions: solutions become `raise NotImplementedError`, hidden tests disappear.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# One cell may run this long when grading; an endless loop is interrupted and the cell scores 0.
c.Execute.timeout = 120

# A test cell a student deleted is put back before grading (edited ones are always restored).
c.OverwriteCells.add_missing_cells = True

# Grading integrity (mentor_tools/integrity.py; MENTORS.md says what it defends): scan each submission
# before nbgrader restores its locked cells, give every test fresh check helpers, and zero the tests
# that a flagged cell can affect. nbgrader's own preprocessors keep their default order around ours.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "mentor_tools.integrity.ScanForTampering",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "mentor_tools.integrity.InsertFreshChecks",
    "nbgrader.preprocessors.Execute",
    "mentor_tools.integrity.ApplyIntegrity",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
