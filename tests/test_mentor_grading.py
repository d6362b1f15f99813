"""The grading pipeline, end to end, on a temporary copy of the course.

Covers every assignment in the repository plus a small demo assignment (tests/fixtures/demo_week):
1. student versions hold no solution code and no hidden tests;
2. an untouched student version scores 0 on every autograded cell;
3. the source notebooks score full marks: the demo and one notebook per week submitted through nbgrader
   as they are, every lesson notebook in its strip-proof kernel (the same source and hidden tests);
4. a submission that edits or deletes locked test cells is graded with the original tests;
5. an endless loop times out while the rest of the cohort is graded;
6. every autograded cell fails once the solution it checks is stripped;
7. autograding again after a new submission keeps earlier grades and manual scores;
8. submissions that tamper with grading (rebinding the checks, patching modules, dynamic code, edited
   tests) score no more than an untouched student version and are flagged; honest extras are not;
9. nbgrader's own commands and the formgrader work on a fresh clone and from another folder.
"""

from __future__ import annotations

import ast
import copy
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from book import notebooks as book_cache
from mentor_tools import grading

pytestmark = pytest.mark.slow  # `make quick` leaves the grading proofs out; `make test` runs them

REPO = Path(__file__).resolve().parents[1]
DEMO = "week0_demo"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _is_test(cell) -> bool:
    return cell.cell_type == "code" and _meta(cell).get("grade") and not _meta(cell).get("solution")


def _is_code_solution(cell) -> bool:
    return cell.cell_type == "code" and _meta(cell).get("solution")


def _between(source: str, begin: str, end: str) -> list[str]:
    """Return the non-trivial lines between begin/end markers."""
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and len(line.strip()) > 3 and not line.strip().startswith("#"):
            lines.append(line.strip())
    return lines


def _weeks_under_test() -> list[str]:
    """Every assignment, or only those named in DIC_GRADING_WEEKS (comma-separated; `none`: the demo only)."""
    chosen = [w for w in os.environ.get("DIC_GRADING_WEEKS", "").split(",") if w]
    if chosen == ["none"]:
        return []
    unknown = set(chosen) - set(grading.assignments(REPO))
    if unknown:
        raise ValueError(f"DIC_GRADING_WEEKS names unknown assignments: {sorted(unknown)}")
    return chosen or grading.assignments(REPO)


def _notebooks_under_test() -> set[str]:
    """The notebook stems named in DIC_GRADING_NOTEBOOKS (comma-separated); empty: every notebook."""
    return {n.removesuffix(".ipynb") for n in os.environ.get("DIC_GRADING_NOTEBOOKS", "").split(",") if n}


def _source_folder(week: str) -> Path:
    return REPO / "tests" / "fixtures" / "demo_week" if week == DEMO else REPO / week


def _has_autograded_cells(folder: Path) -> bool:
    return any(_is_test(c) for nb in folder.glob("*.ipynb") for c in nbformat.read(nb, 4).cells)


# Every assignment with autograded cells under test (DIC_GRADING_WEEKS may choose some), plus the demo.
GRADED = [DEMO] + [w for w in _weeks_under_test() if _has_autograded_cells(REPO / w)]
ALL_WEEKS = [DEMO] + _weeks_under_test()


@pytest.fixture(scope="session")
def courses(tmp_path_factory):
    """A function giving a temporary course holding one assignment, with its student version generated."""
    made: dict[tuple[str, tuple[str, ...]], Path] = {}

    def course_for(week: str, notebooks: tuple[str, ...] = ()) -> Path:
        """`notebooks` (stems) keeps only those notebooks of the week: one part of a week split in two."""
        if (week, notebooks) not in made:
            root = tmp_path_factory.mktemp(f"course-{week}")
            shutil.copy(REPO / "nbgrader_config.py", root)
            # A mentee's own runs leave trained networks in checkpoints/ (week 5 saves its generators there):
            # the proofs start from the lessons alone, as a fresh clone would.
            shutil.copytree(_source_folder(week), root / week,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "checkpoints"))
            # DIC_GRADING_NOTEBOOKS (comma-separated stems) narrows a week to the notebooks being written.
            chosen = _notebooks_under_test()
            for path in (root / week).glob("*.ipynb"):
                if (notebooks and path.stem not in notebooks) or (chosen and week != DEMO and path.stem not in chosen):
                    path.unlink()
            grading.release([week], root)
            made[week, notebooks] = root
        return made[week, notebooks]

    return course_for


@pytest.fixture(scope="session")
def course(courses) -> Path:
    """The demo assignment's course."""
    return courses(DEMO)


def _read_grades(course: Path, week: str) -> list[dict]:
    with open(course / "grading" / "grades" / f"{week}.csv") as f:
        return list(csv.DictReader(f))


def _submit(course: Path, student: str, week: str, notebooks: dict[str, nbformat.NotebookNode]) -> None:
    folder = course / "submissions" / student / week
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / f"{name}.ipynb")


def _emptied_tests(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with every test cell's code replaced by `pass`."""
    nb = copy.deepcopy(notebook)
    for cell in nb.cells:
        if _is_test(cell):
            cell.source = "pass  # tests removed by the student"
    return nb


def _deleted_tests(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with every test cell deleted."""
    nb = copy.deepcopy(notebook)
    nb.cells = [c for c in nb.cells if not _is_test(c)]
    return nb


LESSON_CELL_LIMIT = 40  # seconds per lesson cell, in the strip-proof kernel and when nbgrader grades a lesson
TAMPER_WEEK, TAMPER_NOTEBOOK = "week3_cnn_lenet", "01_image_filters"
# Each trick goes in front of the first solution of a submission whose answers are wrong.
DEMO_TRICKS = {
    "rebind": "check_close = lambda *a, **k: None\ncheck_shape = lambda *a, **k: None",
    "setattr": "import shared.checks\nfor _name in ('check_close', 'check_shape'):\n"
               "    setattr(shared.checks, _name, lambda *a, **k: None)",
    "numpy": "np.allclose = lambda *a, **k: True\nnp.isnan = lambda x: np.zeros(np.shape(x), bool)\n"
             "np.abs = lambda x: 0 * x",
    "sysmodules": "import sys, types\n_fake = types.ModuleType('shared.checks')\n"
                  "_fake.check_close = lambda *a, **k: None\nsys.modules['shared.checks'] = _fake",
    "exec": "exec('check' + '_close = lambda *a, **k: None')",
    "hook": "get_ipython().events.register('post_run_cell', "
            "lambda *a: globals().update(check_close=lambda *b, **k: None))",
    "codeswap": "check_close.__code__ = (lambda *a, **k: None).__code__",
}
HONEST_EXTRAS = ("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (4, 3)\n"
                 "data = np.arange(3)\nprint(square(data), mean(data))")


def _wrong_answers(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with every solution region replaced by a wrong answer (`return None`, or `pass`)."""
    nb = copy.deepcopy(notebook)
    for cell in nb.cells:
        if not (_is_code_solution(cell) and "### BEGIN SOLUTION" in cell.source):
            continue
        lines, inside = [], False
        for line in cell.source.splitlines():
            if "### BEGIN SOLUTION" in line:
                inside = True
                indent = line[:len(line) - len(line.lstrip())]
                lines.append(indent + ("return None" if indent else "pass"))
            elif "### END SOLUTION" in line:
                inside = False
            elif not inside:
                lines.append(line)
        cell.source = "\n".join(lines)
    return nb


def _with_trick(notebook: nbformat.NotebookNode, trick: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(notebook)
    first = next(c for c in nb.cells if _is_code_solution(c))
    first.source = trick + "\n\n" + first.source
    return nb


def test_every_assignment_with_exercises_is_under_test():
    # Derived from the repository, not from this file's own fixture: a week whose notebooks have
    # autograded cells but which the proofs below skip would make them vacuous for that week.
    with_exercises = {p.parent.name for p in REPO.glob("*/*.ipynb")
                      if any(_is_test(c) for c in nbformat.read(p, 4).cells)}
    assert with_exercises, "no notebook in the repository has autograded cells"
    assert with_exercises <= set(grading.assignments(REPO)), "a folder with exercises is not an assignment"
    proven = {proofs.week for proofs in PROOFS}
    assert not with_exercises - proven, f"add a WeekProofs class for {sorted(with_exercises - proven)}"
    # A week split into parts: each of its notebooks with exercises is proven by exactly one class.
    for path in REPO.glob("*/*.ipynb"):
        if any(_is_test(c) for c in nbformat.read(path, 4).cells):
            owners = [p.__name__ for p in PROOFS if p.week == path.parent.name
                      and (not p.notebooks or path.stem in p.notebooks)]
            assert len(owners) == 1, f"{path.parent.name}/{path.name} is proven by {owners or 'no class'}"
    # And one notebook of each week goes through nbgrader as a mentor grades it, in the part that holds it.
    for week in with_exercises:
        picked = [(p.__name__, p.through_nbgrader) for p in PROOFS if p.week == week and p.through_nbgrader]
        assert len(picked) == 1, f"{week}: name one notebook to grade through nbgrader, not {picked}"
        owner = next(p for p in PROOFS if p.__name__ == picked[0][0])
        assert not owner.notebooks or picked[0][1] in owner.notebooks, f"{picked[0]} is not in that part"
        assert (REPO / week / f"{picked[0][1]}.ipynb").exists(), f"{week}/{picked[0][1]}.ipynb does not exist"


def _grade_cohort(course: Path, week: str, through_nbgrader: str) -> dict:
    """Grade reference, blank and tampered submissions of one assignment (+ tricks and a loop in the demo)."""
    sources = {p.stem: nbformat.read(p, 4) for p in sorted((course / week).glob("*.ipynb"))}
    released = {name: nbformat.read(course / "grading" / "release" / week / f"{name}.ipynb", 4)
                for name in sources}
    if week != DEMO:
        # One notebook per week (the part's `through_nbgrader`) goes through nbgrader as a mentor grades it,
        # proving the week's release and autograde path; every notebook's full marks are proven in its
        # strip-proof kernel, which runs the same source with its hidden tests (one nbgrader run less each).
        if through_nbgrader in sources:  # (not there when DIC_GRADING_NOTEBOOKS leaves it out)
            _submit(course, "reference", week, {through_nbgrader: sources[through_nbgrader]})
    else:
        _submit(course, "reference", week, sources)
        # For the lessons, the blank version's zero is proven in the strip-proof kernel (one run less each).
        _submit(course, "blank", week, released)
        # No solutions and no tests: only the original tests, put back by the grader, give the 0 it deserves.
        _submit(course, "tamper", week, {name: _emptied_tests(nb) for name, nb in released.items()})
        # Right solutions, tests deleted: the grader must put the tests back, run them and flag the deletion.
        _submit(course, "deleter", week, {name: _deleted_tests(nb) for name, nb in sources.items()})
        for student, trick in DEMO_TRICKS.items():
            _submit(course, student, week, {"01_demo": _with_trick(_wrong_answers(sources["01_demo"]), trick)})
        honest = copy.deepcopy(sources["01_demo"])
        honest.cells.append(nbformat.v4.new_code_cell(HONEST_EXTRAS))
        _submit(course, "honest_extras", week, {"01_demo": honest})
        looping = copy.deepcopy(sources["01_demo"])
        next(c for c in looping.cells if _is_code_solution(c)).source = "while True:\n    pass"
        _submit(course, "loop", week, {"01_demo": looping})
    if week == TAMPER_WEEK and TAMPER_NOTEBOOK in sources:
        # The two submissions that scored 5 of 6 before grading was made trustworthy.
        wrong = _wrong_answers(sources[TAMPER_NOTEBOOK])
        for student in ("w3_rebind", "w3_setattr"):
            _submit(course, student, week, {TAMPER_NOTEBOOK: _with_trick(wrong, DEMO_TRICKS[student[3:]])})
    grading.import_submissions(week, course / "submissions", course)
    # A short cell limit for the demo's endless loop; for the lessons, a limit far below
    # nbgrader_config.py's 120 s proves that no graded cell waits for a long training. One student at a
    # time for the lessons: the other xdist worker is grading another week on the other core.
    results = grading.autograde(week, course, jobs=2 if week == DEMO else 1, notebook_timeout=300,
                                cell_timeout=10 if week == DEMO else LESSON_CELL_LIMIT)
    grading.export_grades(week, course, results)
    return {week: _read_grades(course, week), f"{week}:results": results}


@pytest.fixture(scope="session")
def cohorts(courses):
    """A function giving the grades of one assignment's cohort, graded once per test session and worker."""
    made: dict[tuple[str, tuple[str, ...]], dict] = {}

    def cohort_for(week: str, notebooks: tuple[str, ...] = (), through_nbgrader: str = "") -> dict:
        if (week, notebooks) not in made:
            made[week, notebooks] = _grade_cohort(courses(week, notebooks), week, through_nbgrader)
        return made[week, notebooks]

    return cohort_for


@pytest.fixture(scope="session")
def strip_proofs(courses):
    """A function giving, per notebook with exercises, (name, source, stubs, failures of _strip_each_solution)."""
    made: dict[tuple[str, tuple[str, ...]], list] = {}

    def proofs_for(week: str, notebooks: tuple[str, ...] = ()) -> list:
        if (week, notebooks) not in made:
            course, jobs = courses(week, notebooks), []
            for source_path in sorted((course / week).glob("*.ipynb")):
                source = nbformat.read(source_path, 4)
                if not any(_is_test(c) for c in source.cells):
                    continue
                released = nbformat.read(course / "grading" / "release" / week / source_path.name, 4)
                sources = {_meta(c)["grade_id"]: c.source for c in source.cells if _is_code_solution(c)}
                # Solution cells without a solution region are left as they are in the student version.
                stubs = {_meta(c)["grade_id"]: c.source for c in released.cells
                         if _is_code_solution(c) and c.source != sources[_meta(c)["grade_id"]]}
                lesson = None if week == DEMO else f"{week}/{source_path.name}"
                failures = _strip_each_solution(source, stubs, source_path.parent, lesson)
                jobs.append((f"{week}/{source_path.name}", source, stubs, failures))
            made[week, notebooks] = jobs
        return made[week, notebooks]

    return proofs_for


@pytest.fixture(scope="session")
def cohort(cohorts) -> dict:
    """The demo assignment's cohort."""
    return cohorts(DEMO)


def _auto_rows(grades, week, student):
    rows = [r for r in grades[week] if r["student"] == student and r["kind"] == "auto"]
    assert rows, f"no autograded cells for {student} in {week}"
    return rows


def _assert_no_better_than_blank_and_flagged(cohort, week, student, notebook=None):
    # A lesson's blank version scores zero everywhere (proven in the strip-proof kernel); the demo's is graded.
    blank = {(r["notebook"], r["cell"]): float(r["points"]) for r in cohort[week]
             if r["student"] == "blank" and r["kind"] == "auto"}
    rows = [r for r in _auto_rows(cohort, week, student) if notebook in (None, r["notebook"])]
    better = [r for r in rows if float(r["points"]) > blank.get((r["notebook"], r["cell"]), 0.0)]
    assert not better, f"{week}: {student} scored more than an untouched student version: {better}"
    assert any(r["note"].startswith("integrity: ") for r in rows), f"{week}: {student} was not flagged"


def _failing_tests(cells) -> set[str]:
    return {_meta(c)["grade_id"] for c in cells
            if _is_test(c) and any(o.get("output_type") == "error" for o in c.get("outputs", []))}


def _defined_names(source: str) -> list[str]:
    """Return the names a cell defines at top level (functions, classes, assignments)."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def _strip_each_solution(source: nbformat.NotebookNode, stubs: dict[str, str], folder: Path,
                         lesson: str | None = None) -> dict:
    """Run the notebook once, then for each solution in turn: put in its stub, rerun the test cells below it, restore.

    Returns the failing test ids per stripped solution (key None: with every solution in place; key
    "blank": with every stub in at once), and under "errors" every cell that failed in the first run. One
    kernel per notebook instead of one per solution keeps this quick; the first run is also the notebook's
    top-to-bottom run in CI.
    """
    nb = copy.deepcopy(source)
    # The lessons' cell limit for every cell, as when nbgrader grades them: no graded cell waits for a long run.
    # shutdown_kernel="immediate": a graceful stop waits 1-3 s per notebook for the kernel's PyTorch to tear
    # down; nothing in it is needed once the tests have run (every notebook writes its files in its cells).
    client = NotebookClient(nb, timeout=LESSON_CELL_LIMIT, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}, shutdown_kernel="immediate")
    positions = {_meta(c).get("grade_id"): i for i, c in enumerate(nb.cells)}
    tests = [(i, c) for i, c in enumerate(nb.cells) if _is_test(c)]
    failures = {}
    # The kernel draws figures inline (no MPLBACKEND), so that this run, when clean, is also the lesson's page
    # on the website: `lesson` (its path in the course) names it in the book's cache.
    with client.setup_kernel(env=book_cache.tiny_mode_env()):
        started = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        failures[None] = _failing_tests(nb.cells)
        failures["errors"] = {f"cell {i}: {o['ename']}: {o['evalue'][:200]}" for i, c in enumerate(nb.cells)
                              for o in c.get("outputs", []) if o.get("output_type") == "error"}
        if lesson is not None and not failures["errors"] and not failures[None]:
            book_cache.store(book_cache.CACHE, lesson, copy.deepcopy(nb), time.perf_counter() - started,
                             book_cache.cache_key(REPO / lesson))

        def put_in(grade_id: str, stub: str) -> None:
            # As in a fresh student kernel: what the solution cell defined is gone before its stub runs
            # (a stub that raises at definition time, like a class body, then leaves the name undefined).
            names = _defined_names(nb.cells[positions[grade_id]].source)
            if names:
                client.execute_cell(nbformat.v4.new_code_cell(f"del {', '.join(names)}"), positions[grade_id])
            client.execute_cell(nbformat.v4.new_code_cell(stub), positions[grade_id])

        def failing_tests_now(after: int = -1) -> set[str]:
            # Only the tests below position `after`: graded top to bottom, as nbgrader grades, a test above a
            # solution has already run, and passed, before that solution's cell is reached.
            later = [(i, c) for i, c in tests if i > after]
            probes = [nbformat.v4.new_code_cell(c.source, metadata=c.metadata) for _, c in later]
            for (index, _), probe in zip(later, probes, strict=True):
                client.execute_cell(probe, index)
            return _failing_tests(probes)

        for grade_id, stub in stubs.items():
            put_in(grade_id, stub)
            failures[grade_id] = failing_tests_now(after=positions[grade_id])
            client.execute_cell(nbformat.v4.new_code_cell(nb.cells[positions[grade_id]].source),
                                positions[grade_id])  # the solution back
        # Last, the untouched student version: every stub in at once, then every test again (under
        # "blank": the tests that fail; all of them must, for a blank notebook to score zero).
        for grade_id, stub in stubs.items():
            put_in(grade_id, stub)
        failures["blank"] = failing_tests_now()
    return failures


def test_a_crashed_grading_worker_costs_one_notebook_and_a_new_worker_grades_the_rest(tmp_path, monkeypatch):
    # A stand-in for the worker: it grades the first notebook it is given, then dies without a word.
    worker = ("import json, sys\nprint('ready', flush=True)\n"
              "print(json.dumps({'status': 'graded', 'detail': '', 'seconds': 0.1}), flush=True)\nsys.exit(1)\n")
    started = []

    def start(command, course, full_mode=False):
        started.append(command[command.index("_worker") + 2:])  # the STUDENT/NOTEBOOK jobs it was given
        return subprocess.Popen([sys.executable, "-c", worker], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)

    monkeypatch.setattr(grading, "_start_process_group", start)
    jobs = [("ana", "01"), ("ana", "02"), ("ben", "01")]
    results = grading._grade_in_worker(tmp_path, "week", jobs, notebook_timeout=30, cell_timeout=None)
    assert [(r.student, r.notebook, r.status) for r in results] == [
        ("ana", "01", "graded"), ("ana", "02", "error"), ("ben", "01", "graded")]
    assert results[1].detail == "grading process crashed"
    assert started == [["ana/01", "ana/02", "ben/01"], ["ben/01"]]


def test_each_test_cell_follows_a_solution_or_test_cell():
    # nbgrader puts a deleted test cell back after the graded cell that preceded it in the source; a
    # read-only cell in between makes that fail (nbgrader 0.9 raises KeyError), so keep them apart.
    for week in grading.assignments(REPO):
        for path in sorted((REPO / week).glob("*.ipynb")):
            previous = None
            for cell in nbformat.read(path, 4).cells:
                meta = _meta(cell)
                if not meta:
                    continue
                if _is_test(cell):
                    assert previous is not None and (previous.get("grade") or previous.get("solution")), \
                        f"{week}/{path.name}: {meta['grade_id']} follows {previous and previous['grade_id']!r}, " \
                        "a read-only cell: move that cell above the exercise"
                previous = meta


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nbgraders_own_commands_work_on_a_fresh_clone_and_from_another_folder(tmp_path):
    from nbgrader.api import Gradebook

    root, elsewhere = tmp_path / "clone", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root)  # a fresh clone: no grading/ folder yet
    shutil.copytree(REPO / "tests" / "fixtures" / "demo_week", root / DEMO)
    # As a mentor types it, with the venv not activated: nbgrader must still find alembic.
    env = {**os.environ, "PATH": os.defpath}
    nbgrader = [sys.executable, "-m", "nbgrader"]

    def run(arguments, cwd):
        done = subprocess.run(nbgrader + arguments, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    run(["generate_assignment", DEMO], cwd=root)
    source = nbformat.read(root / DEMO / "01_demo.ipynb", 4)
    cheat = _with_trick(_wrong_answers(source), DEMO_TRICKS["rebind"])
    for student, nb in (("ref", source), ("cheat", cheat)):
        folder = root / "grading" / "submitted" / student / DEMO
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "01_demo.ipynb")
    run(["autograde", DEMO, f"--CourseDirectory.root={root}"], cwd=elsewhere)
    run(["generate_feedback", DEMO, f"--CourseDirectory.root={root}"], cwd=elsewhere)
    assert not (elsewhere / "grading").exists(), "nbgrader wrote into the folder it was started in"
    with Gradebook(f"sqlite:///{root / 'grading' / 'gradebook.db'}", course_id=grading.COURSE_ID) as gradebook:
        scores = {s: {g.name: g.auto_score for g in gradebook.find_submission_notebook("01_demo", DEMO, s).grades
                      if g.auto_score is not None} for s in ("ref", "cheat")}
    assert scores["ref"] == {"test_square": 2.0, "test_mean": 1.0}
    assert scores["cheat"] == {"test_square": 0.0, "test_mean": 0.0}
    assert "Integrity check" in (root / "grading" / "feedback" / "cheat" / DEMO / "01_demo.html").read_text()


def test_the_formgrader_serves_the_course_from_another_folder(tmp_path):
    root, elsewhere = tmp_path / "clone", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "tests" / "fixtures" / "demo_week", root / DEMO)
    # Folders with notebooks that are not assignments, as in the repository: the formgrader must not list them.
    for folder in ("bench", "tests", "shared", "hackathons/tabular_contest"):
        (root / folder).mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(), root / folder / "01_other.ipynb")
    grading.release([DEMO], root)
    port, token = _free_port(), "formgrader-test"
    command = [sys.executable, "-m", "mentor_tools.grading", "--course", str(root), "formgrader", "--no-browser",
               f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0"]
    server = subprocess.Popen(command, cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/formgrader/api/assignments",
                                         headers={"Authorization": f"token {token}"})
        deadline, answer = time.monotonic() + 90, None
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = json.loads(response.read())
            except (urllib.error.URLError, ConnectionError):
                time.sleep(1)
        assert answer is not None, f"the formgrader did not answer: {server.poll()}"
        assert [a["name"] for a in answer] == [DEMO], answer
    finally:
        server.terminate()
        server.wait(timeout=30)


class WeekProofs:
    """The proofs every assignment with exercises must pass; one subclass per assignment.

    pytest-xdist's loadscope sends each class to one worker, so the two workers grade two weeks at once
    and each week's temporary course and cohort are made once. A long week is split into parts, one class
    per part, each naming its notebooks, so that the two workers stay evenly loaded.
    """

    week = ""
    notebooks: tuple[str, ...] = ()  # stems of this part's notebooks; empty: the whole week
    # The week's one notebook graded through nbgrader, as a mentor grades it (the quickest to run, since the
    # strip-proof kernel already proves every notebook's marks); empty in the week's other parts.
    through_nbgrader = ""

    @pytest.fixture(autouse=True)
    def _only_weeks_under_test(self):
        if self.week != DEMO and self.week not in GRADED:
            pytest.skip(f"{self.week} is not under test (DIC_GRADING_WEEKS)")
        chosen = _notebooks_under_test()
        if self.week != DEMO and chosen and self.notebooks and not chosen & set(self.notebooks):
            pytest.skip(f"none of {type(self).__name__}'s notebooks is under test (DIC_GRADING_NOTEBOOKS)")

    def test_student_versions_hold_no_solutions_and_no_hidden_tests(self, courses):
        week = self.week
        course = courses(week, self.notebooks)
        for source_path in sorted((course / week).glob("*.ipynb")):
            source = nbformat.read(source_path, 4)
            released = nbformat.read(course / "grading" / "release" / week / source_path.name, 4)
            released_text = "\n".join(c.source for c in released.cells)
            for marker in MARKERS:
                assert marker not in released_text, f"{week}/{source_path.name} still has {marker!r}"
            released_cells = {_meta(c)["grade_id"]: c for c in released.cells if _meta(c).get("grade_id")}
            for cell in source.cells:
                meta = _meta(cell)
                secret = _between(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
                secret += _between(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
                if meta.get("solution") and cell.cell_type == "markdown":
                    secret += [line for line in cell.source.splitlines() if len(line.strip()) > 3]
                if not secret:
                    continue
                # The same cell in the student version: every solution and hidden-test line must be gone.
                student_cell = released_cells[meta["grade_id"]]
                for line in secret:
                    assert line not in student_cell.source, \
                        f"{week}/{source_path.name}, cell {meta['grade_id']}: solution line left in: {line!r}"
                if _is_code_solution(cell) and "### BEGIN SOLUTION" in cell.source:
                    assert "raise NotImplementedError" in student_cell.source, \
                        f"{week}/{source_path.name}, cell {meta['grade_id']}: no NotImplementedError stub"

    def test_untouched_student_version_scores_zero(self, cohorts, strip_proofs):
        week = self.week
        for name, source, _, failures in strip_proofs(week, self.notebooks):
            passing = {_meta(c)["grade_id"] for c in source.cells if _is_test(c)} - failures["blank"]
            assert not passing, f"{name}: with no solution at all these tests still pass: {passing}"
        if week == DEMO:  # and through nbgrader, as a mentor grades it
            scored = [r for r in _auto_rows(cohorts(week), week, "blank") if float(r["points"]) != 0]
            assert not scored, f"{week}: cells score points with no solution: {scored}"

    def test_reference_solutions_score_full_marks_without_flags(self, cohorts, strip_proofs):
        week = self.week
        # Through nbgrader: the whole demo, and one notebook of each week (the others are not submitted).
        chosen = _notebooks_under_test()
        if week == DEMO or (self.through_nbgrader and (not chosen or self.through_nbgrader in chosen)):
            cohort = cohorts(week, self.notebooks, self.through_nbgrader)
            rows = [r for r in _auto_rows(cohort, week, "reference") if r["note"] != "missing"]
            short = [r for r in rows if float(r["points"]) != float(r["max"]) or r["note"]]
            assert rows and not short, f"{week}: the reference solution misses points or is flagged: {short or rows}"
            assert {r["notebook"] for r in rows} == ({self.through_nbgrader} if week != DEMO else {"01_demo"})
        # In the strip-proof kernel: every notebook, every test passing with the reference solutions in place.
        for name, _, _, failures in strip_proofs(week, self.notebooks):
            assert not failures[None], f"{name}: with every solution in place these tests fail: {failures[None]}"

    def test_every_notebook_runs_and_every_autograded_cell_fails_once_its_solution_is_stripped(self, strip_proofs):
        # For notebooks with exercises this is also their top-to-bottom run in tiny mode (conftest.py keeps
        # nbval from running them a second time in the full suite).
        for name, source, stubs, failures in strip_proofs(self.week, self.notebooks):
            assert not failures["errors"], f"{name}: cells fail with every solution in place: {failures['errors']}"
            assert not failures[None], f"{name}: with every solution in place these tests fail: {failures[None]}"
            for grade_id in stubs:
                assert failures[grade_id], f"{name}: stripping the solution {grade_id!r} makes no test fail"
            caught = set().union(*(failures[g] for g in stubs))
            untested = {_meta(c)["grade_id"] for c in source.cells if _is_test(c)} - caught
            assert not untested, f"{name}: these tests pass whichever solution is stripped: {untested}"


class TestDemoAssignment(WeekProofs):
    """The pipeline's behaviour, on a two-exercise demo: tampering, time limits, regrading, feedback."""

    week = DEMO

    def test_edited_or_deleted_tests_are_graded_with_the_originals_and_flagged(self, course, cohort):
        for week in (DEMO,):
            scored = [r for r in _auto_rows(cohort, week, "tamper") if float(r["points"]) != 0]
            assert not scored, f"{week}: emptied tests gave points: {scored}"
            assert all(r["note"].startswith("integrity: ") and "edited" in r["note"]
                       for r in _auto_rows(cohort, week, "tamper"))
            # Right solutions with the tests deleted: the tests are put back and run (the autograded copy
            # shows them passing), and the deletion is flagged for the mentor, who may restore the points.
            rows = _auto_rows(cohort, week, "deleter")
            assert all(float(r["points"]) == 0 and "deleted" in r["note"] for r in rows)
            graded = nbformat.read(course / "grading" / "autograded" / "deleter" / week / "01_demo.ipynb", 4)
            restored = {_meta(c)["grade_id"]: c for c in graded.cells if _is_test(c)}
            assert set(restored) == {r["cell"] for r in rows}
            assert all(o.get("ename") == "IntegrityFlag" for c in restored.values() for o in c.outputs
                       if o.get("output_type") == "error")

    @pytest.mark.parametrize("trick", DEMO_TRICKS)
    def test_a_tampering_submission_scores_no_more_than_a_blank_one_and_is_flagged(self, cohort, trick):
        _assert_no_better_than_blank_and_flagged(cohort, DEMO, trick)

    def test_honest_extra_code_is_neither_flagged_nor_marked_down(self, cohort):
        rows = _auto_rows(cohort, DEMO, "honest_extras")
        assert all(float(r["points"]) == float(r["max"]) and r["note"] == "" for r in rows), rows
        assert all(r["note"] == "" for r in _auto_rows(cohort, DEMO, "reference"))

    def test_the_feedback_page_shows_the_integrity_flag(self, course, cohort):
        grading.generate_feedback(DEMO, course)
        page = (course / "grading" / "feedback" / "rebind" / DEMO / "01_demo.html").read_text()
        assert "Integrity check" in page and "rebinds `check_close`" in page

    def test_endless_loop_times_out_and_the_cohort_is_still_graded(self, cohort):
        results = {(r.student, r.notebook): r for r in cohort[f"{DEMO}:results"]}
        loop = results[("loop", "01_demo")]
        assert loop.status == "graded" and "time limit" in loop.detail
        rows = {r["cell"]: r for r in _auto_rows(cohort, DEMO, "loop")}
        assert float(rows["test_square"]["points"]) == 0  # its solution was the endless loop
        assert float(rows["test_mean"]["points"]) == float(rows["test_mean"]["max"])  # graded after the timeout
        assert all(results[(s, "01_demo")].status == "graded" for s in ("reference", "blank", "tamper", "deleter"))
        assert all(results[(s, "01_demo")].detail == "" for s in ("reference", "blank"))

    def test_a_notebook_over_its_time_limit_is_stopped_and_the_rest_graded(self, course, cohort, tmp_path):
        # A whole-notebook limit shorter than the loop's cell limit: the worker is stopped, not waited for.
        source = nbformat.read(course / DEMO / "01_demo.ipynb", 4)
        looping = copy.deepcopy(source)
        next(c for c in looping.cells if _is_code_solution(c)).source = "while True:\n    pass"
        _submit(course, "slowpoke", DEMO, {"01_demo": looping})
        _submit(course, "latecomer", DEMO, {"01_demo": source})
        grading.import_submissions(DEMO, course / "submissions", course)
        results = {(r.student, r.notebook): r for r in
                   grading.autograde(DEMO, course, jobs=2, notebook_timeout=8, cell_timeout=60)}
        assert results[("slowpoke", "01_demo")].status == "timed out"
        assert results[("latecomer", "01_demo")].status == "graded"
        path = grading.export_grades(DEMO, course, list(results.values()))
        rows = [r for r in csv.DictReader(open(path)) if r["student"] == "slowpoke"]
        assert rows and all(float(r["points"]) == 0 and r["note"] == "timed out" for r in rows)
        # A timed-out notebook is graded again on the next run: take the endless loop out of the shared
        # course, so that the regrading test below does not wait for it once more.
        for folder in (course / "submissions" / "slowpoke", course / "grading" / "submitted" / "slowpoke"):
            shutil.rmtree(folder)

    def test_regrading_keeps_earlier_grades_and_manual_scores(self, course, cohort):
        from nbgrader.api import Gradebook

        week = DEMO
        db = f"sqlite:///{course / 'grading' / 'gradebook.db'}"
        with Gradebook(db, course_id=grading.COURSE_ID) as gradebook:  # what a mentor does in formgrader
            grade = gradebook.find_grade("why_square", "01_demo", week, "reference")
            grade.manual_score = 1.0
            grade.needs_manual_grade = False
            gradebook.db.commit()
        before = {(r["student"], r["cell"]): r["points"] for r in cohort[week]}
        _submit(course, "newcomer", week, {"01_demo": nbformat.read(course / week / "01_demo.ipynb", 4)})
        grading.import_submissions(week, course / "submissions", course)
        results = grading.autograde(week, course, jobs=2, notebook_timeout=120, cell_timeout=10)
        statuses = {r.student: r.status for r in results}
        assert statuses["newcomer"] == "graded"
        assert statuses["reference"] == "skipped" and statuses["blank"] == "skipped"
        grading.export_grades(week, course, results)
        after = {(r["student"], r["cell"]): r for r in _read_grades(course, week)}
        for key, points in before.items():
            if key == ("reference", "why_square"):
                assert float(after[key]["points"]) == 1.0
            else:
                assert after[key]["points"] == points, f"{key} changed from {points} to {after[key]['points']}"
        assert float(after[("newcomer", "test_square")]["points"]) == 2.0

    def test_feedback_html_is_written_per_student(self, course, cohort):
        grading.generate_feedback(DEMO, course)
        page = course / "grading" / "feedback" / "reference" / DEMO / "01_demo.html"
        assert page.exists() and "test_square" in page.read_text()

    def test_self_check_runs_visible_checks_only(self, course, tmp_path, capsys):
        source = nbformat.read(course / DEMO / "01_demo.ipynb", 4)
        # Right for the visible check (square(3) == 9), wrong for the hidden one (arrays).
        cheat = copy.deepcopy(source)
        next(c for c in cheat.cells if _meta(c).get("grade_id") == "square").source = \
            "def square(x):\n    return 9.0"
        path = tmp_path / "01_demo.ipynb"
        nbformat.write(cheat, path)
        results = {r.cell: r for r in grading.self_check(path)}
        assert results["test_square"].points == 2.0 and results["test_mean"].points == 1.0
        grading.print_self_check(list(results.values()))
        assert re.search(r"total\s+3.0 /  3.0", capsys.readouterr().out)
        nbformat.write(nbformat.read(course / "grading" / "release" / DEMO / "01_demo.ipynb", 4), path)
        blank = {r.cell: r for r in grading.self_check(path)}
        assert blank["test_square"].points == 0 and "NotImplementedError" in blank["test_square"].message

    def test_command_line_explains_unknown_weeks(self, course, capsys):
        assert grading.main(["--course", str(course), "release", "week9_nothing"]) == 2
        assert "no assignment 'week9_nothing'" in capsys.readouterr().err


class TestWeek1(WeekProofs):
    week = "week1_regression"
    through_nbgrader = "01_data_handling"


class TestWeek2(WeekProofs):
    week = "week2_mlp_pytorch"
    through_nbgrader = "01_tensors_and_autograd"


class TestWeek3(WeekProofs):
    week = "week3_cnn_lenet"
    through_nbgrader = "02_conv_and_pooling_layers"

    def test_the_tampering_that_once_scored_5_of_6_in_week_3_now_scores_0(self, cohorts):
        if TAMPER_WEEK not in GRADED:
            pytest.skip(f"{TAMPER_WEEK} is not under test (DIC_GRADING_WEEKS)")
        if _notebooks_under_test() and TAMPER_NOTEBOOK not in _notebooks_under_test():
            pytest.skip(f"{TAMPER_NOTEBOOK} is not under test (DIC_GRADING_NOTEBOOKS)")
        cohort = cohorts(TAMPER_WEEK, self.notebooks, self.through_nbgrader)
        for student in ("w3_rebind", "w3_setattr"):
            _assert_no_better_than_blank_and_flagged(cohort, TAMPER_WEEK, student, TAMPER_NOTEBOOK)


class TestWeek4Training(WeekProofs):
    week = "week4_papers"
    notebooks = ("01_optimizers_by_hand", "02_initialisation_and_batch_norm", "03_regularisation_and_schedules")


class TestWeek4Architectures(WeekProofs):
    week = "week4_papers"
    notebooks = ("04_alexnet", "05_vgg", "06_googlenet_inception", "07_xception", "08_resnet",
                 "09_architectures_side_by_side")
    through_nbgrader = "09_architectures_side_by_side"


class TestWeek5Autoencoders(WeekProofs):
    week = "week5_autoencoders"
    notebooks = ("01_autoencoder", "02_conv_autoencoder", "03_denoising", "04_latent_space_and_vae")
    through_nbgrader = "01_autoencoder"


class TestWeek5GANs(WeekProofs):
    week = "week5_autoencoders"
    notebooks = ("05_gan_from_scratch", "06_dcgan", "07_judging_generated_images")


class TestWeek6(WeekProofs):
    week = "week6_beyond_classification"
    through_nbgrader = "01_boxes_iou_and_nms"


# Each assignment with exercises needs its class above (a long week one per part);
# test_every_assignment_with_exercises_is_under_test says which is missing.
PROOFS = (TestDemoAssignment, TestWeek1, TestWeek2, TestWeek3, TestWeek4Training, TestWeek4Architectures,
          TestWeek5Autoencoders, TestWeek5GANs, TestWeek6)

