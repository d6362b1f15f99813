"""The course book (book/): no page shows what grading hides, every lesson carries its tiny-mode note, links
resolve, the execution cache reruns only what changed, and the screenshot check can tell a page from a blank.

The unit tests use the demo assignment (tests/fixtures/demo_week) and small notebooks written here. Two slow
tests build a tiny course with Sphinx (skipped without the `site` extra) and check a real build of the whole
course when DIC_BOOK_HTML names its HTML folder (`DIC_BOOK_HTML=book/_build/html pytest tests/test_book.py`).
"""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from PIL import Image, ImageDraw

from book import build, notebooks, screenshot, verify
from book.course import Links, course_notebooks, course_parts, markdown_pages, page_map

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "tests" / "fixtures" / "demo_week" / "01_demo.ipynb"
RUN = {"seconds": 754.2, "headline": "99.1% test accuracy", "date": "2026-11-25",
       "source": "python -m bench.full_notebooks week0_demo/01_demo.ipynb"}


def _demo():
    return nbformat.read(DEMO, as_version=4)


def _with_outputs(notebook):
    """Give every code cell an output naming the cell, as an execution would."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"output of {grade_id}\n")]
    return notebook


def _page(notebook) -> str:
    """Return a notebook as HTML the way a renderer shows it: every cell's text, escaped, in its own block."""
    blocks = []
    for cell in notebook.cells:
        blocks.append(f"<pre><span>{html.escape(cell.source)}</span></pre>" if cell.cell_type == "code"
                      else f"<p>{html.escape(cell.source).replace('**', '')}</p>")
        blocks += [f"<pre>{html.escape(o.get('text', ''))}</pre>" for o in cell.get("outputs", [])]
    return "<html><head><title>t</title></head><body>" + "\n".join(blocks) + "</body></html>"


@pytest.fixture
def course(tmp_path) -> Path:
    """A small course: a README, one week with the demo assignment, a guide, a script and an image."""
    root = tmp_path / "course"
    (root / "week0_demo").mkdir(parents=True)
    (root / "bench").mkdir()
    shutil.copy(DEMO, root / "week0_demo" / "01_demo.ipynb")
    (root / "README.md").write_text(
        "# Demo course\n\n"
        "Start with [week 0](week0_demo/README.md) or [its folder](week0_demo/), in the table:\n\n"
        "| week | folder |\n| --- | --- |\n| 0 | `week0_demo` |\n\n"
        "Mentors read [the guide](MENTORS.md#grading); the benchmark is [a script](bench/speed.py), "
        "results in `bench/RESULTS.md`. ![a plot](bench/plot.png)\n"
        "See also [the web](https://example.org/a.md), and `//`.\n\n"
        "```\n[not a link](MENTORS.md) in a code block\n```\n", encoding="utf-8")
    (root / "week0_demo" / "README.md").write_text(
        "# Week 0 — a demo\n\n| notebook | lesson |\n| --- | --- |\n| `01_demo.ipynb` | two exercises |\n\n"
        "Back to [the course](../README.md).\n", encoding="utf-8")
    (root / "MENTORS.md").write_text("# Mentors\n\n## Grading\n\nGrade with care. Start [here](README.md).\n")
    (root / "bench" / "RESULTS.md").write_text("# Results\n\nMeasured by [the script](speed.py).\n")
    (root / "bench" / "speed.py").write_text("print('fast')\n")
    Image.new("RGB", (8, 8), "red").save(root / "bench" / "plot.png")
    return root


# ---------------------------------------------------------------------------------------------
# What grading hides


def test_student_version_stubs_solutions_drops_hidden_tests_and_clears_exercise_outputs():
    source = _with_outputs(_demo())
    student = notebooks.student_version(source)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in student.cells}
    text = "\n".join(c.source for c in student.cells)
    for secret in ("return x * x", "np.sum(values)", "square of an array", "mean of one value", "BEGIN",
                   "product of two numbers", "Rubric"):
        assert secret not in text
    assert "raise NotImplementedError()" in cells["square"].source
    assert cells["why_square"].source == "YOUR ANSWER HERE"  # the student version's placeholder
    assert 'check_close(square(3.0), 9.0, "square(3)")' in cells["test_square"].source  # visible checks stay
    for grade_id in ("square", "test_square", "mean", "test_mean"):
        assert cells[grade_id].outputs == [] and cells[grade_id].execution_count is None
    assert cells["setup"].outputs[0]["text"] == "output of setup\n"  # other outputs stay
    assert "return x * x" in source.cells[3].source  # the source notebook is not changed


def test_secret_regions_are_what_the_student_version_removed():
    source = _demo()
    regions = verify.secret_regions("week0_demo/01_demo.ipynb", source, notebooks.student_version(source))
    by_cell = {region.cell: region for region in regions}
    assert set(by_cell) == {"square", "test_square", "mean", "test_mean", "why_square"}
    assert "    return x * x" in by_cell["square"].lines
    assert any("square of an array" in line for line in by_cell["test_square"].lines)
    assert by_cell["why_square"].kind == "markdown"


def _leak_course(tmp_path: Path, extra_visible: str = "") -> tuple[Path, object]:
    """Return a course folder holding the demo, with a solution line also shown in a visible cell."""
    root = tmp_path / "leak_course"
    (root / "week0_demo").mkdir(parents=True)
    notebook = _demo()
    # `return values` is a line of the solution below and of an ordinary cell: it is no secret.
    notebook.cells[6].source = notebook.cells[6].source.replace(
        "    return float(np.sum(values) / len(values))",
        "    values = np.asarray(values)\n    return values.mean()")
    notebook.cells.append(nbformat.v4.new_code_cell("def identity(values):\n    values = np.asarray(values)\n"
                                                    f"    return values{extra_visible}"))
    nbformat.write(notebook, root / "week0_demo" / "01_demo.ipynb")
    return root, notebook


def test_the_leak_check_finds_every_kind_of_leak_and_passes_a_clean_build(tmp_path):
    root, source = _leak_course(tmp_path)
    course = verify.Course.read(root, ["week0_demo/01_demo.ipynb"], [])
    needles = {needle for _, _, needle in course.needles()}
    assert "values=np.asarray(values)" not in needles  # shown in the open by the identity cell
    assert "returnvalues.mean()" in needles
    clean, leaky = tmp_path / "clean", tmp_path / "leaky"
    for site, notebook in ((clean, notebooks.student_version(source)), (leaky, source)):
        (site / "week0_demo").mkdir(parents=True)
        (site / "week0_demo" / "01_demo.html").write_text(_page(notebook), encoding="utf-8")
    assert verify.leaks(clean, course) == []
    found = "\n".join(verify.leaks(leaky, course))
    for cell in ("square", "test_square", "mean", "test_mean", "why_square"):
        assert f"01_demo.ipynb, {cell}:" in found, f"the leak check missed {cell}:\n{found}"
    assert "shows nbgrader's marker" in found


def test_the_leak_check_finds_one_leaked_line_in_any_file_of_the_site(tmp_path):
    root, source = _leak_course(tmp_path)
    course = verify.Course.read(root, ["week0_demo/01_demo.ipynb"], [])
    site = tmp_path / "site"
    (site / "week0_demo").mkdir(parents=True)
    student = notebooks.student_version(source)
    (site / "week0_demo" / "01_demo.html").write_text(_page(student), encoding="utf-8")
    # A hidden test's line, highlighted token by token as Pygments does, on another page.
    highlighted = ('<pre><span class="n">check_close</span><span class="p">(</span>mean(np.array([5.0])),  '
                   '5.0, &quot;mean of one value&quot;)</pre>')
    (site / "other.html").write_text(highlighted, encoding="utf-8")
    found = [line.split(":")[0] for line in verify.leaks(site, course)]
    assert found == ["week0_demo/01_demo.ipynb, test_mean"]
    (site / "other.html").unlink()
    index = 'Search.setIndex({"t": "A product of two numbers of the same sign is positive, and 0 * 0 is 0."})'
    (site / "searchindex.js").write_text(index)
    assert "why_square" in "\n".join(verify.leaks(site, course))


def test_a_solution_line_a_markdown_page_shows_is_reported_not_searched(tmp_path):
    root, _ = _leak_course(tmp_path)
    (root / "GUIDE.md").write_text("An example:\n\n```python\ndef square(x):\n    return x * x\n```\n")
    course = verify.Course.read(root, ["week0_demo/01_demo.ipynb"], ["GUIDE.md"])
    assert "returnx*x" not in {needle for _, _, needle in course.needles()}
    assert course.shown_by_pages() == ["week0_demo/01_demo.ipynb, square: 'returnx*x'"]


# ---------------------------------------------------------------------------------------------
# The note on every lesson


def test_the_note_goes_right_under_the_title_with_the_full_mode_record():
    notebook = _demo()
    note = notebooks.tiny_mode_note(12.3, RUN, "[the results](../bench/RESULTS.md#week-0)")
    notebooks.add_note(notebook, note)
    lines = notebook.cells[0].source.splitlines()
    assert lines[0] == "# A demo assignment for the grading tests"
    note = notebook.cells[0].source
    assert note.index("tiny mode") < note.index("Two small exercises")
    for expected in ("`DIC_TINY=1`", "12 s", "**12 min 34 s**", "99.1% test accuracy", "measured 2026-11-25",
                     "from [the results](../bench/RESULTS.md#week-0)", "{doc}`/notebook_times`"):
        assert expected in note


def test_the_note_quotes_the_records_caveat_and_says_when_there_is_no_headline():
    run = dict(RUN, headline=" ", note="(loaded machine) load average 4")
    note = notebooks.tiny_mode_note(3.0, run, "`bench`")
    assert (r"Headline: no headline result recorded (measured 2026-11-25, from `bench`; \(loaded machine\) "
            "load average 4)") in note


def test_a_record_from_the_benchmark_results_links_to_its_section(course):
    pytest.importorskip("myst_parser", reason="the book needs the site extra: pip install -e '.[site]'")
    (course / "bench" / "RESULTS.md").write_text(
        "# Results\n\n```\n## Week 9 in a code block\n```\n\n"
        "## Week 0 lessons in full mode: `demo` (issue 3)\n")
    run = dict(RUN, source="bench/RESULTS.md: Week 0 lessons in full mode: `demo` (issue 3)")
    assert build.run_origin(run, course, "week0_demo/01_demo.ipynb") == (
        "[bench/RESULTS.md: Week 0 lessons in full mode: \\`demo\\` \\(issue 3\\)]"
        "(../bench/RESULTS.md#week-0-lessons-in-full-mode-demo-issue-3)")
    for source in ("bench/RESULTS.md: Week 9 in a code block", "bench/RESULTS.md: Week 7", RUN["source"]):
        assert "](" not in build.run_origin(dict(RUN, source=source), course, "notebook_times.md")


def test_the_note_says_when_the_full_mode_cost_was_not_measured():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    notebooks.add_note(notebook, notebooks.tiny_mode_note(3.0, None))
    assert notebook.cells[0].cell_type == "markdown"  # no title: the note comes first
    assert "full-mode cost has not been measured" in notebook.cells[0].source


@pytest.mark.parametrize("seconds, text", [(4.4, "4 s"), (59.6, "1 min 00 s"), (754.2, "12 min 34 s"),
                                           (3 * 3600 + 125, "3 h 02 min")])
def test_durations_read_as_people_write_them(seconds, text):
    assert notebooks.format_seconds(seconds) == text


def test_escaped_text_stays_as_written():
    assert notebooks.escape_markdown("a_b *c* $x$ [l](u)") == r"a\_b \*c\* \$x\$ \[l\]\(u\)"


# ---------------------------------------------------------------------------------------------
# The course's order and its links


def test_the_course_is_read_in_order(course):
    (course / "week1_a").mkdir()
    (course / "week1_a" / "02_b.ipynb").write_text(DEMO.read_text())
    (course / "week1_a" / "01_a.ipynb").write_text(DEMO.read_text())
    (course / "hackathons" / "zebra").mkdir(parents=True)
    (course / "hackathons" / "alpha").mkdir()
    (course / "hackathons" / ".ipynb_checkpoints").mkdir()
    for folder in ("zebra", "alpha", ".ipynb_checkpoints"):
        (course / "hackathons" / folder / "01_x.ipynb").write_text(DEMO.read_text())
    (course / "hackathons" / "README.md").write_text("Contest 1: `zebra/`. Contest 2: `alpha/`.\n")
    parts = course_parts(course)
    assert [p.folder for p in parts] == ["week0_demo", "week1_a", "hackathons"]
    assert [c.folder for c in parts[2].children] == ["hackathons/zebra", "hackathons/alpha"]  # README order
    assert course_notebooks(parts) == ["week0_demo/01_demo.ipynb", "week1_a/01_a.ipynb", "week1_a/02_b.ipynb",
                                       "hackathons/zebra/01_x.ipynb", "hackathons/alpha/01_x.ipynb"]


def test_links_point_into_the_book_or_become_plain_text(course):
    parts = course_parts(course)
    links = Links(course, page_map(course, parts, course_notebooks(parts)))
    readme = links.rewrite((course / "README.md").read_text(), "README.md")
    assert "[week 0](week0_demo/index.md)" in readme
    assert "[its folder](week0_demo/index.md)" in readme
    assert "[the guide](MENTORS.md#grading)" in readme
    assert "[`week0_demo`](week0_demo/index.md)" in readme  # a code span naming a page becomes a link
    assert "[`bench/RESULTS.md`](bench/RESULTS.md)" in readme
    assert "benchmark is a script," in readme  # not a page: the words stay, the link goes
    assert "![a plot](bench/plot.png)" in readme and links.assets == {"bench/plot.png"}
    assert "[the web](https://example.org/a.md), and `//`." in readme  # `//` is Python, not a link
    assert "[not a link](MENTORS.md) in a code block" in readme  # code blocks are left alone
    assert links.dropped == ["README.md: bench/speed.py"]
    week = links.rewrite((course / "week0_demo" / "README.md").read_text(), "week0_demo/README.md")
    assert "[`01_demo.ipynb`](01_demo.ipynb)" in week and "[the course](../index.md)" in week
    # A lesson left out of this build (--only) is not linked to.
    links = Links(course, page_map(course, parts, []))
    assert "`01_demo.ipynb` |" in links.rewrite((course / "week0_demo" / "README.md").read_text(),
                                                "week0_demo/README.md")


def test_html_links_are_checked_down_to_their_anchor(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="sub/page.html#here">ok</a> <a href="https://x.org/">web</a> <a href="#top" id="top">top</a>'
        ' <img src="missing.png"> <a href="sub/page.html#gone">gone</a> <a href="sub/">folder</a>'
        ' <a href="../course/README.md">out</a>')
    (tmp_path / "sub" / "page.html").write_text('<section id="here"></section>')
    problems = verify.broken_links(tmp_path)
    assert problems == ["index.html: missing.png (no such file)",
                        "index.html: sub/page.html#gone (no id 'gone' in page.html)",
                        "index.html: sub/ (no such file)",
                        "index.html: ../course/README.md (outside the site)"]


def test_a_lesson_page_must_show_every_code_cell_and_figure(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("plot()"),
                                               nbformat.v4.new_code_cell("x = 1")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBO"})]
    assert verify.shown_content(notebook) == (2, 1)
    (tmp_path / "week1").mkdir()
    cell = '<div class="cell docutils container"><div class="cell_input">x</div></div>'
    (tmp_path / "week1" / "01.html").write_text(cell * 2 + '<img alt="" src="../_images/ab.png" />')
    assert verify.lesson_shortfalls(tmp_path, {"week1/01.ipynb": (2, 1)}) == []
    assert verify.lesson_shortfalls(tmp_path, {"week1/01.ipynb": (3, 2)}) == [
        "week1/01.html: shows 2 of 3 code cells and 1 of 2 figures"]


# ---------------------------------------------------------------------------------------------
# Execution and its cache


def _notebook(path: Path, *sources: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A lesson")]
                                            + [nbformat.v4.new_code_cell(s) for s in sources]), path)


def test_the_cache_reruns_a_notebook_only_when_its_cells_change(tmp_path):
    course, cache = tmp_path / "course", tmp_path / "cache"
    _notebook(course / "week1" / "01.ipynb", "import os\nprint(os.environ['DIC_TINY'], os.getcwd())")
    first = notebooks.execute_all(course, ["week1/01.ipynb"], cache, log=lambda _: None)["week1/01.ipynb"]
    assert not first.from_cache and first.seconds > 0
    executed = nbformat.read(first.notebook, as_version=4)
    assert executed.cells[1].outputs[0]["text"] == f"1 {course / 'week1'}\n"  # tiny mode, in its own folder
    record = json.loads(Path(f"{first.notebook}.json").read_text())
    assert record["key"] == notebooks.cache_key(course / "week1" / "01.ipynb")

    # Outputs and metadata are not content: saving the notebook after running it changes nothing.
    nbformat.write(executed, course / "week1" / "01.ipynb")
    again = notebooks.execute_all(course, ["week1/01.ipynb"], cache, log=lambda _: None)["week1/01.ipynb"]
    assert again.from_cache and again.seconds == pytest.approx(first.seconds, abs=0.01)

    _notebook(course / "week1" / "01.ipynb", "print('changed')")
    changed = notebooks.execute_all(course, ["week1/01.ipynb"], cache, log=lambda _: None)["week1/01.ipynb"]
    assert not changed.from_cache
    assert nbformat.read(changed.notebook, as_version=4).cells[1].outputs[0]["text"] == "changed\n"


def test_a_failing_notebook_fails_the_build_naming_the_notebook_and_the_cell(tmp_path):
    course, cache = tmp_path / "course", tmp_path / "cache"
    _notebook(course / "week1" / "01.ipynb", "x = 1", "ratio = x / 0  # oops")
    with pytest.raises(notebooks.NotebookFailed) as failure:
        notebooks.execute_all(course, ["week1/01.ipynb"], cache, log=lambda _: None)
    message = str(failure.value)
    assert "week1/01.ipynb failed in tiny mode in cell 3, which starts 'ratio = x / 0  # oops'" in message
    assert "ZeroDivisionError: division by zero" in message
    assert not (cache / "week1" / "01.ipynb.json").exists()  # nothing cached: the next build runs it again


def test_more_than_two_notebooks_at_once_is_refused(tmp_path):
    with pytest.raises(ValueError, match="two cores"):
        notebooks.execute_all(tmp_path, [], tmp_path, jobs=3)


# ---------------------------------------------------------------------------------------------
# The generated page and the screenshots


def test_the_times_page_has_a_row_per_notebook_in_course_order(course):
    (course / "week0_demo" / "02_more.ipynb").write_text(DEMO.read_text())
    parts = course_parts(course)
    page = build.times_page(course, course_notebooks(parts), {"week0_demo/01_demo.ipynb"},
                            {"week0_demo/01_demo.ipynb": 21.0}, {"week0_demo/01_demo.ipynb": RUN})
    rows = [line for line in page.splitlines() if line.startswith("| [") or line.startswith("| A demo")]
    assert rows == [
        "| [A demo assignment for the grading tests](week0_demo/01_demo.ipynb) | 21 s | 12 min 34 s | "
        "99.1% test accuracy | 2026-11-25, python -m bench.full\\_notebooks week0\\_demo/01\\_demo.ipynb |",
        "| A demo assignment for the grading tests | not run | not measured |  |  |"]
    assert "| **all 2 notebooks** | **21 s** | **12 min 34 s** (1 measured) | | |" in page


def test_screenshot_checks_tell_a_page_from_a_blank(tmp_path):
    blank, page = tmp_path / "blank.png", tmp_path / "page.png"
    Image.new("RGB", (200, 100), "white").save(blank)
    image = Image.new("RGB", (200, 100), "white")
    ImageDraw.Draw(image).rectangle((0, 0, 99, 99), fill="black")
    image.save(page)
    assert screenshot.blank_problems(page, (200, 100)) == []
    assert "nearly uniform" in screenshot.blank_problems(blank, (200, 100))[0]
    assert "expected 300x100" in screenshot.blank_problems(page, (300, 100))[0]
    assert "wrote no screenshot" in screenshot.blank_problems(tmp_path / "none.png", (200, 100))[0]
    assert screenshot.figure_pixels(page, blank) == 100 * 100  # the pixels an image covers


def test_the_search_check_looks_for_the_longest_word_of_the_title(tmp_path):
    page = tmp_path / "lesson.html"
    page.write_text("<html><head><title>Week 3 · 01 — Image filters by hand &#8212; Deep into CNNs</title>")
    assert screenshot.title_word(page) == "filters"


def test_without_chromium_the_screenshots_are_skipped(monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert screenshot.main([]) == 0
    assert capsys.readouterr().out.startswith("skipped: Chromium is not installed")


# ---------------------------------------------------------------------------------------------
# Whole builds


def _check_site(site: Path, course: Path, notebooks_built: list[str], pages: list[str]) -> None:
    """Assert what every build must hold: links resolve, nothing loads from the internet, nothing leaks."""
    assert verify.broken_links(site) == []
    assert verify.external_resources(site) == []
    assert verify.leaks(site, verify.Course.read(course, notebooks_built, pages)) == []
    assert (site / "search.html").exists() and (site / "searchindex.js").exists()


@pytest.mark.slow
def test_a_small_course_builds_into_a_book(course, tmp_path, capsys):
    pytest.importorskip("myst_nb", reason="the book needs the site extra: pip install -e '.[site]'")
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps({"week0_demo/01_demo.ipynb": RUN}))
    out = tmp_path / "html"
    arguments = ["--course", str(course), "--build-dir", str(tmp_path / "_build"), "--out", str(out),
                 "--runs", str(runs)]
    assert build.main(arguments) == 0
    lesson = (out / "week0_demo" / "01_demo.html").read_text(encoding="utf-8")
    for shown in ("Outputs from tiny mode", "12 min 34 s", "99.1% test accuracy", "Two small exercises",
                  "YOUR ANSWER HERE", "NotImplementedError", "square(3)"):
        assert shown in lesson
    assert "Time and results per notebook" in (out / "notebook_times.html").read_text(encoding="utf-8")
    assert "A demo assignment" in (out / "searchindex.js").read_text(encoding="utf-8")
    assert list((out / "_images").glob("plot*.png"))  # the README's image
    _check_site(out, course, ["week0_demo/01_demo.ipynb"], markdown_pages(course, course_parts(course)))
    browser = screenshot.find_browser()
    if browser:  # the site's own search, run in a browser from the files: no server, no internet
        assert "week0_demo/01_demo.html" in screenshot.search_results(browser, out, "demo")
    capsys.readouterr()
    assert build.main(arguments) == 0  # a warm rebuild: the cache answers
    assert "1 notebook(s), 0 executed, 1 from the cache" in capsys.readouterr().out


@pytest.mark.slow
def test_the_built_course_book_hides_what_grading_hides_and_its_links_resolve():
    if not os.environ.get("DIC_BOOK_HTML"):
        pytest.skip("DIC_BOOK_HTML is not set: build the book (python book/build.py), then point it at "
                    "book/_build/html")
    site = Path(os.environ["DIC_BOOK_HTML"]).resolve()
    assert (site / "index.html").exists(), f"{site} holds no built book"
    parts = course_parts(REPO)
    every = course_notebooks(parts)
    built = [nb for nb in every if (site / nb).with_suffix(".html").exists()]
    assert built, f"{site} holds no lesson page"
    _check_site(site, REPO, every, markdown_pages(REPO, parts))
    for notebook in built:
        page = (site / notebook).with_suffix(".html").read_text(encoding="utf-8")
        assert "Outputs from tiny mode" in page, f"{notebook}: no note on tiny mode"
    times = (site / "notebook_times.html").read_text(encoding="utf-8")
    assert times.count("<tr") == len(every) + 2  # the header, one row per notebook, the total
