"""The mentors' grading commands, built on nbgrader, plus the mentees' self-check.

Run from the repository root (see MENTORS.md):

    python -m mentor_tools.grading release [WEEK ...]              # student versions -> grading/release/WEEK/
    python -m mentor_tools.grading autograde WEEK [--from DIR]     # grade every submission of a week
    python -m mentor_tools.grading export WEEK                     # grades CSV again (after manual grading)
    python -m mentor_tools.grading check NOTEBOOK                  # a mentee's self-check: visible checks only
    python -m mentor_tools.grading formgrader                      # nbgrader's formgrader, for written answers

Each week folder is one nbgrader assignment, linked into nbgrader's source folder grading/source/ (see
mentor_tools/source_folder.py); everything nbgrader writes goes under grading/. Mentors may use
nbgrader's own commands and its formgrader on the same folders.

This is mentor tooling: notebooks and the ``shared`` package never import it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mentor_tools.integrity import flagged_tests
from mentor_tools.source_folder import SourceFolderError, assignments, refresh_source_folder

REPO = Path(__file__).resolve().parents[1]
GRADING = "grading"
COURSE_ID = "deep-into-cnns"  # as in nbgrader_config.py
STARTUP_TIMEOUT = 120  # seconds for a grading worker to load nbgrader


class GradingError(RuntimeError):
    """A grading command cannot go on; the message says why and what to do."""


@dataclass
class NotebookResult:
    """How grading one student's notebook went."""

    student: str
    notebook: str
    status: str  # graded, skipped (already graded), missing, timed out, error
    detail: str = ""
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# The course as nbgrader sees it


def source_notebooks(week: str, course: Path = REPO) -> list[str]:
    """Return the names (without .ipynb) of a week's source notebooks."""
    folder = course / week
    if not folder.is_dir():
        raise GradingError(f"There is no assignment {week!r} in {course}. "
                           f"Assignments: {', '.join(assignments(course))}.")
    return sorted(p.stem for p in folder.glob("*.ipynb"))


def link_sources(course: Path = REPO) -> Path:
    """Bring grading/source/ (nbgrader's source folder: a link per week) in step with the course; return it."""
    try:
        return refresh_source_folder(course)
    except SourceFolderError as err:
        # nbgrader_config.py only warns about this; a mentor's command stops before nbgrader uses the wrong source.
        raise GradingError(str(err)) from err


def _nbgrader(arguments: list[str], course: Path) -> subprocess.CompletedProcess:
    # nbgrader_config.py creates grading/ and puts this Python's alembic on PATH when nbgrader loads it.
    done = subprocess.run([sys.executable, "-m", "nbgrader", *arguments], cwd=course, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise GradingError(f"nbgrader {' '.join(arguments)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


def release(weeks: Iterable[str], course: Path = REPO) -> list[Path]:
    """Write the student version of each week to grading/release/WEEK/ and return those folders."""
    folders = []
    link_sources(course)
    for week in weeks:
        source_notebooks(week, course)  # a clear error for an unknown week
        _nbgrader(["generate_assignment", week, "--force"], course)
        folders.append(course / GRADING / "release" / week)
    return folders


# ---------------------------------------------------------------------------------------------
# Autograding


def import_submissions(week: str, source: Path, course: Path = REPO) -> list[str]:
    """Copy submissions from ``source`` into nbgrader's folder; return the students found.

    ``source`` holds one folder per student, with the notebooks either directly inside it or in a
    ``WEEK`` subfolder. A student's earlier submission is replaced only by a newer one.
    """
    source = Path(source)
    if not source.is_dir():
        raise GradingError(f"{source} is not a folder of submissions (one subfolder per student).")
    students = []
    for student_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        inner = student_dir / week if (student_dir / week).is_dir() else student_dir
        notebooks = sorted(inner.glob("*.ipynb"))
        if not notebooks:
            print(f"  {student_dir.name}: no notebooks, skipped")
            continue
        target = course / GRADING / "submitted" / student_dir.name / week
        target.mkdir(parents=True, exist_ok=True)
        for notebook in notebooks:
            destination = target / notebook.name
            if not destination.exists() or notebook.stat().st_mtime > destination.stat().st_mtime:
                shutil.copy2(notebook, destination)
        stamp = target / "timestamp.txt"
        newest = max(n.stat().st_mtime for n in notebooks)
        if not stamp.exists() or newest > stamp.stat().st_mtime:
            stamp.write_text(time.strftime("%Y-%m-%d %H:%M:%S.000000 UTC", time.gmtime(newest)))
        students.append(student_dir.name)
    return students


def _has_graded_cells(path: Path) -> bool:
    """Return True if the source notebook has cells worth points (others, like a welcome page, are not graded)."""
    import nbformat

    cells = nbformat.read(path, as_version=4).cells
    return any(cell.metadata.get("nbgrader", {}).get("grade") for cell in cells)


def _needs_grading(course: Path, week: str, student: str, notebook: str) -> bool:
    submitted = course / GRADING / "submitted" / student / week / f"{notebook}.ipynb"
    graded = course / GRADING / "autograded" / student / week / f"{notebook}.ipynb"
    return not graded.exists() or submitted.stat().st_mtime > graded.stat().st_mtime


def autograde(week: str, course: Path = REPO, jobs: int = 2, notebook_timeout: float = 600,
              cell_timeout: int | None = None, full_mode: bool = False) -> list[NotebookResult]:
    """Autograde every submission of ``week`` in grading/submitted/ and return one result per notebook.

    Notebooks without graded cells are left out. ``jobs`` worker processes share the students, each
    notebook graded in its own nbgrader run with a time limit,
    so an endless loop or a broken file costs that notebook only. Already graded notebooks are kept
    as they are, with any manual scores. Notebooks run in tiny mode (DIC_TINY=1) unless ``full_mode``:
    no graded cell depends on a long training, and tiny mode grades a cohort in minutes.
    """
    course = Path(course).resolve()
    notebooks = [n for n in source_notebooks(week, course) if _has_graded_cells(course / week / f"{n}.ipynb")]
    link_sources(course)  # nbgrader copies the week's other files from its source folder
    if not (course / GRADING / "release" / week).is_dir():
        release([week], course)  # the gradebook learns the assignment's cells from this step
    submitted = course / GRADING / "submitted"
    students = sorted(p.parent.name for p in submitted.glob(f"*/{week}") if p.is_dir())
    if not students:
        raise GradingError(f"No submissions for {week} in {submitted}/<student>/{week}/. "
                           f"Import them with: python -m mentor_tools.grading autograde {week} --from FOLDER")

    results, todo = [], []
    for student in students:
        for notebook in notebooks:
            if not (submitted / student / week / f"{notebook}.ipynb").exists():
                results.append(NotebookResult(student, notebook, "missing", "not submitted: scores 0"))
            elif _needs_grading(course, week, student, notebook):
                todo.append((student, notebook))
            else:
                results.append(NotebookResult(student, notebook, "skipped", "already graded"))
    # One worker process per job slot grades its share of the students (nbgrader loads once per worker, about
    # 2 s, not once per student); a student's notebooks stay together in one share.
    order = {student: i for i, student in enumerate(students)}
    slots = max(1, min(jobs, len(students)))
    shares = [[job for job in todo if order[job[0]] % slots == slot] for slot in range(slots)]
    with ThreadPoolExecutor(max_workers=slots) as pool:
        for graded in pool.map(lambda share: _grade_in_worker(course, week, share, notebook_timeout, cell_timeout,
                                                              full_mode), shares):
            results += graded
    return sorted(results, key=lambda r: (order[r.student], r.notebook))


def _grade_in_worker(course: Path, week: str, jobs: list[tuple[str, str]], notebook_timeout: float,
                     cell_timeout: int | None, full_mode: bool = False) -> list[NotebookResult]:
    """Grade (student, notebook) pairs in one worker process (nbgrader loads once), restarting it after a timeout."""
    results: list[NotebookResult] = []
    while jobs:
        command = [sys.executable, "-m", "mentor_tools.grading", "_worker", week,
                   *[f"{student}/{notebook}" for student, notebook in jobs]]
        if cell_timeout is not None:
            command += ["--cell-timeout", str(cell_timeout)]
        process = _start_process_group(command, course, full_mode)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_forward_lines, args=(process.stdout, lines), daemon=True).start()
        try:
            ready = lines.get(timeout=STARTUP_TIMEOUT)  # the worker says "ready" once nbgrader is loaded
        except queue.Empty:
            ready = None
        if ready is None:
            _kill_process_group(process)
            return results + [NotebookResult(student, n, "error", "the grading process did not start")
                              for student, n in jobs]
        started = time.perf_counter()
        for student, notebook in list(jobs):
            try:
                line = lines.get(timeout=notebook_timeout)
            except queue.Empty:
                _kill_process_group(process)
                _forget_partial(course, week, student, notebook)
                results.append(NotebookResult(student, notebook, "timed out",
                                              f"stopped after {notebook_timeout:.0f} s: scores 0",
                                              time.perf_counter() - started))
                jobs = jobs[1:]  # the current job is always the first: each graded one is dropped below
                break
            if line is None:  # the worker died without a word: this notebook scores 0, a new worker grades the rest
                results.append(NotebookResult(student, notebook, "error", "grading process crashed"))
                _forget_partial(course, week, student, notebook)
                jobs = jobs[1:]
                break
            report = json.loads(line)
            results.append(NotebookResult(student, notebook, report["status"], report["detail"], report["seconds"]))
            started = time.perf_counter()
            jobs = jobs[1:]
        else:
            process.wait()
    return results


def _start_process_group(command: list[str], course: Path, full_mode: bool = False) -> subprocess.Popen:
    """Start a grading worker in a process group of its own, so a timeout ends it and its kernels together."""
    if os.name == "nt":
        group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    else:
        group = {"start_new_session": True}
    env = dict(os.environ)
    if full_mode:
        env.pop("DIC_TINY", None)
    else:
        env["DIC_TINY"] = "1"
    return subprocess.Popen(command, cwd=course, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env, **group)


def _kill_process_group(process: subprocess.Popen) -> None:
    """End a worker and every process it started (its Jupyter kernels), then reap it."""
    if os.name == "nt":
        # Windows has no process groups to signal; taskkill /T ends the whole tree.
        done = subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, text=True)
        if done.returncode != 0 and process.poll() is None:
            raise GradingError(f"Could not stop grading worker {process.pid}: {done.stderr.strip()}. "
                               "End it (and its python kernels) in the Task Manager.")
    else:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _forward_lines(stream, lines: queue.Queue) -> None:
    """Put each line of ``stream`` on the queue, then None when it ends (so the reader can wait with a timeout)."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def _forget_partial(course: Path, week: str, student: str, notebook: str) -> None:
    partial = course / GRADING / "autograded" / student / week / f"{notebook}.ipynb"
    if partial.exists():
        partial.unlink()


def _worker(week: str, jobs: list[str], cell_timeout: int | None) -> None:
    """Grade "student/notebook" jobs one by one with nbgrader's API, printing a JSON line per notebook."""
    import nbformat
    from nbgrader.apps import NbGraderAPI
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log, temp_attrs
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config()
    config.CourseDirectory.root = os.getcwd()
    if cell_timeout is not None:
        config.Execute.timeout = cell_timeout
    coursedir = CourseDirectory(config=config)
    api = NbGraderAPI(coursedir, config=config)
    print("ready", flush=True)
    for job in jobs:
        student, notebook = job.split("/")
        started = time.perf_counter()
        path = os.path.join(coursedir.submitted_directory, student, week, f"{notebook}.ipynb")
        try:
            nbformat.validate(nbformat.read(path, as_version=4))
        except Exception as err:  # any unreadable file: say so, and grade the next notebook
            detail = f"not a readable notebook ({type(err).__name__}): re-export it from Jupyter and submit again"
            print(json.dumps({"status": "error", "detail": detail, "seconds": 0.0}), flush=True)
            continue
        with temp_attrs(coursedir, assignment_id=week, student_id=student, notebook_id=notebook):
            app = Autograde(coursedir=coursedir, parent=api)
            app.force = True  # autograde() only sends notebooks that are new or newer than their graded copy
            app.create_student = True
            outcome = capture_log(app)
        graded = Path(coursedir.autograded_directory) / student / week / f"{notebook}.ipynb"
        if not outcome["success"] or not graded.exists():
            message = (outcome.get("error") or outcome.get("log") or "nbgrader gave no reason").strip()
            status, detail = "error", message.splitlines()[-1][:300]
        else:
            status, detail = "graded", _graded_notebook_note(nbformat.read(graded, as_version=4))
        print(json.dumps({"status": status, "detail": detail, "seconds": time.perf_counter() - started}), flush=True)


def _graded_notebook_note(nb) -> str:
    """Return what a mentor should know about a graded notebook: time limits hit, integrity flags."""
    notes = []
    if any(o.get("ename") == "CellTimeoutError" for c in nb.cells for o in c.get("outputs", [])):
        notes.append("a cell hit the time limit and scores 0")
    if flagged_tests(nb):
        notes.append("integrity flag: tests zeroed for review")
    return "; ".join(notes)


# ---------------------------------------------------------------------------------------------
# Grades and feedback


def export_grades(week: str, course: Path = REPO, results: list[NotebookResult] | None = None) -> Path:
    """Write grading/grades/WEEK.csv (student, notebook, cell, points, max, ...) and return its path."""
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course).resolve()
    status = {(r.student, r.notebook): r for r in results or []}
    path = course / GRADING / "grades" / f"{week}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with Gradebook(f"sqlite:///{course / GRADING / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        try:
            assignment = gradebook.find_assignment(week)
        except MissingEntry as err:
            raise GradingError(f"The gradebook has no {week} yet: run autograde first.") from err
        students = sorted(s.student.id for s in assignment.submissions)
        for student in students:
            for notebook in sorted(assignment.notebooks, key=lambda n: n.name):
                result = status.get((student, notebook.name))
                try:
                    grades = gradebook.find_submission_notebook(notebook.name, week, student).grades
                except MissingEntry:
                    grades = []
                graded = {g.name: g for g in grades}
                flags = _integrity_flags(course, week, student, notebook.name)  # read each graded notebook once
                for cell in sorted(notebook.grade_cells, key=lambda c: c.name):
                    grade = graded.get(cell.name)
                    kind = "auto" if cell.cell_type == "code" and not _is_solution(notebook, cell.name) else "manual"
                    points = grade.score if grade is not None else 0.0
                    note = ""
                    if result is not None and result.status not in ("graded", "skipped"):
                        note = result.status  # missing, timed out or error: the points are 0
                    elif cell.name in flags:
                        note = f"integrity: {flags[cell.name]}"
                    elif grade is not None and grade.needs_manual_grade:
                        note = "needs manual grading"
                    rows.append({"student": student, "notebook": notebook.name, "cell": cell.name, "kind": kind,
                                 "points": points, "max": cell.max_score, "note": note})
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["student", "notebook", "cell", "kind", "points", "max", "note"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)  # an interrupted export never leaves half a grades file
    return path


def _integrity_flags(course: Path, week: str, student: str, notebook: str) -> dict[str, str]:
    """Return {test cell: reasons} for the tests the integrity scan zeroed in a graded notebook."""
    import nbformat

    path = course / GRADING / "autograded" / student / week / f"{notebook}.ipynb"
    return flagged_tests(nbformat.read(path, as_version=4)) if path.exists() else {}


def _is_solution(notebook, cell_name: str) -> bool:
    return any(c.name == cell_name for c in notebook.solution_cells)


def generate_feedback(week: str, course: Path = REPO) -> Path:
    """Write per-student feedback HTML to grading/feedback/STUDENT/WEEK/ and return the feedback folder."""
    _nbgrader(["generate_feedback", week], course)
    return Path(course) / GRADING / "feedback"


def formgrader_command(course: Path, extra: list[str] | None = None) -> list[str]:
    """Return the command that serves JupyterLab with nbgrader's formgrader on ``course`` (run it in ``course``).

    The formgrader reads nbgrader_config.py from the folder it starts in, and the course must lie inside the
    server's root, so both are the course folder, whatever folder the mentor typed the command in.
    """
    command = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={course}",
               "--ServerApp.default_url=/formgrader"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI run as root
    return command + list(extra or [])


# ---------------------------------------------------------------------------------------------
# A mentee's self-check


@dataclass
class CheckResult:
    """One exercise's check in a self-check run."""

    cell: str
    points: float
    max_points: float
    message: str


def self_check(notebook: str | Path, timeout: int = 120) -> list[CheckResult]:
    """Run a copy of ``notebook`` (hidden tests removed) and return the score of each visible check."""
    import nbformat
    from nbclient import NotebookClient
    from nbgrader.preprocessors import ClearHiddenTests

    path = Path(notebook).resolve()
    if not path.exists():
        raise GradingError(f"{path} does not exist.")
    nb = nbformat.read(path, as_version=4)
    nb, _ = ClearHiddenTests().preprocess(nb, {})
    # Stopped at once when the checks have run: a graceful stop makes the mentee wait 1-3 s more for nothing.
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}, shutdown_kernel="immediate")
    client.execute()
    results = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") and not meta.get("solution") and cell.cell_type == "code"):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        maximum = float(meta.get("points", 0))
        message = f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else "passed"
        results.append(CheckResult(meta["grade_id"], 0.0 if errors else maximum, maximum, message))
    return results


def print_self_check(results: list[CheckResult]) -> None:
    """Print a self-check as a table with the total."""
    if not results:
        print("This notebook has no graded checks.")
        return
    width = max(len(r.cell) for r in results)
    for r in results:
        print(f"{r.cell:{width}s}  {r.points:4.1f} / {r.max_points:4.1f}  {r.message[:120]}")
    got, total = sum(r.points for r in results), sum(r.max_points for r in results)
    print(f"{'total':{width}s}  {got:4.1f} / {total:4.1f}   "
          "(visible checks only: hidden tests may still find mistakes)")


# ---------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m mentor_tools.grading", description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, default=None,
                        help="course folder holding nbgrader_config.py (default: the current folder if it "
                             "holds one, else this repository)")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("release", help="write student versions to grading/release/")
    p.add_argument("weeks", nargs="*", help="assignments (default: all)")
    p = commands.add_parser("autograde", help="grade every submission of one week")
    p.add_argument("week")
    p.add_argument("--from", dest="source", type=Path, help="folder of submissions, one subfolder per student")
    p.add_argument("--jobs", type=int, default=2, help="students graded at once (default 2)")
    p.add_argument("--notebook-timeout", type=float, default=600, help="seconds per notebook (default 600)")
    p.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell (default: nbgrader_config.py)")
    p.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    p.add_argument("--full-mode", action="store_true",
                   help="run the notebooks in full mode (default: tiny mode, which scores the same, faster)")
    p = commands.add_parser("export", help="write the grades CSV of one week")
    p.add_argument("week")
    p = commands.add_parser("check", help="self-check: run a notebook's visible checks and print the score")
    p.add_argument("notebook", type=Path)
    p.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    commands.add_parser("formgrader", help="open nbgrader's formgrader on this course, from any folder; "
                                           "other options go to jupyter lab (e.g. --port=8890)")
    p = commands.add_parser("_worker")  # internal: some students' notebooks, for autograde
    p.add_argument("week")
    p.add_argument("jobs", nargs="+", help="STUDENT/NOTEBOOK")
    p.add_argument("--cell-timeout", type=int, default=None)
    args, server_args = parser.parse_known_args(argv)
    if server_args and args.command != "formgrader":
        parser.error(f"unrecognized arguments: {' '.join(server_args)}")
    course = args.course or (Path.cwd() if (Path.cwd() / "nbgrader_config.py").exists() else REPO)
    course = course.resolve()
    if not (course / "nbgrader_config.py").exists():
        print(f"error: {course} has no nbgrader_config.py; run from the course folder or pass --course.",
              file=sys.stderr)
        return 2

    try:
        if args.command == "_worker":
            _worker(args.week, args.jobs, args.cell_timeout)
        elif args.command == "release":
            for folder in release(args.weeks or assignments(course), course):
                print(f"student version: {folder}")
        elif args.command == "check":
            print_self_check(self_check(args.notebook, args.timeout))
        elif args.command == "formgrader":
            command = formgrader_command(course, server_args)
            os.chdir(course)
            # Become the server rather than start it as a child: stopping this command (Ctrl-C, or a
            # process manager's SIGTERM) then stops JupyterLab too, instead of leaving it running.
            os.execv(command[0], command)
        elif args.command == "export":
            print(f"grades: {export_grades(args.week, course)}")
        elif args.command == "autograde":
            return _autograde_command(args, course)
    except GradingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _autograde_command(args, course: Path) -> int:
    if args.source is not None:
        students = import_submissions(args.week, args.source, course)
        print(f"imported {len(students)} submission(s) from {args.source}")
    started = time.perf_counter()
    results = autograde(args.week, course, jobs=args.jobs, notebook_timeout=args.notebook_timeout,
                        cell_timeout=args.cell_timeout, full_mode=args.full_mode)
    for r in results:
        print(f"{r.student:20s} {r.notebook:32s} {r.status:10s} {r.seconds:6.1f} s  {r.detail}")
    print(f"graded {sum(r.status == 'graded' for r in results)} notebook(s) in {time.perf_counter() - started:.0f} s")
    print(f"grades: {export_grades(args.week, course, results)}")
    if not args.no_feedback:
        print(f"feedback: {generate_feedback(args.week, course)}")
    return 1 if any(r.status in ("error", "timed out") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
