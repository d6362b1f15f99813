# nbgrader's configuration for the course. Mentors run nbgrader (or `python -m mentor_tools.grading`) from the
# repository root. Each week folder is one assignment and its notebooks are the source versions, so
# nothing in the course moves; everything nbgrader writes goes under grading/, which git ignores.
import os

c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "deep-into-cnns"
c.CourseDirectory.source_directory = "."
c.CourseDirectory.release_directory = "grading/release"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
c.CourseDirectory.solution_directory = "grading/solution"
# A generous SQLite busy timeout, so two grading processes can share the gradebook.
c.CourseDirectory.db_url = "sqlite:///grading/gradebook.db?timeout=60"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "checkpoints", "*.pt"]

# Student versions: solutions become `raise NotImplementedError`, hidden tests disappear.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# One cell may run this long when grading; an endless loop is interrupted and the cell scores 0.
c.Execute.timeout = 120

# A test cell a student deleted is put back before grading (edited ones are always restored).
c.OverwriteCells.add_missing_cells = True
