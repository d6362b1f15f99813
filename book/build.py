"""Build the course as a static HTML book: run the lessons in tiny mode, strip what grading hides, render.

    python book/build.py                          # the whole course -> book/_build/html/index.html
    python book/build.py --only week3_cnn_lenet   # only the lessons whose path matches (and every page)
    python book/build.py --rerun                  # execute every notebook again, cached or not

Notebooks run with DIC_TINY=1, one thread each, two at a time, from their own folder; the data comes from
wherever the course finds it in tiny mode, as for the tests. An executed notebook is kept in
book/_build/cache/ with its wall time and reused until its cells change. The pages are staged in
book/_build/src/ (the course's Markdown with its links pointed into the book; the notebooks as students get
them, with a note on top) and rendered by Sphinx with myst-nb. Last, the built site is checked: every link
resolves, nothing loads from the internet, and no solution or hidden test shows anywhere.
"""

from __future__ import annotations

import argparse
import fnmatch
import posixpath
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python book/build.py` puts book/ on the path, not the repository
    sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402

from book import verify  # noqa: E402
from book.course import (  # noqa: E402
    EXTRA_PAGES,
    GUIDES,
    RESULTS,
    TIMES_PAGE,
    TINY_DATA,
    Links,
    Part,
    course_notebooks,
    course_parts,
    markdown_pages,
    page_map,
)
from book.notebooks import (  # noqa: E402
    MAX_JOBS,
    Executed,
    NotebookFailed,
    add_note,
    cache_key,
    cached,
    drop_widgets,
    escape_markdown,
    execute_all,
    format_seconds,
    notebook_title,
    student_version,
    tiny_mode_note,
)

BOOK = Path(__file__).resolve().parent
RUNS_FILE = "bench/notebook_runs.json"
SPHINX_PAGES = {"genindex", "search"}  # pages Sphinx writes itself, from no source


def full_mode_runs(path: Path | None) -> dict[str, dict]:
    """Return each notebook's full-mode record (bench/notebook_runs.json), keyed by its course path."""
    try:
        from bench.full_notebooks import load_runs
    except ImportError:
        print(f"warning: bench.full_notebooks.load_runs is missing, so {RUNS_FILE} cannot be read: every "
              "lesson will say its full-mode cost has not been measured", file=sys.stderr)
        return {}
    return load_runs(path)


def run_origin(run: dict, course: Path, page: str, short: bool = False) -> str:
    """Return where a full-mode record came from, as Markdown for ``page``, linked to the section it names.

    bench.full_notebooks records its command as the source, or "bench/RESULTS.md: <section heading>" for a
    figure taken from the benchmark results; that section's anchor is MyST's slug of the heading's text.
    ``short`` leaves the page's name out of the link's text.
    """
    document, sep, section = run["source"].partition(": ")
    text = escape_markdown(run["source"])
    if not (sep and document in EXTRA_PAGES and (course / document).exists()):
        return text
    headings, fenced = set(), False
    for line in (course / document).read_text(encoding="utf-8").splitlines():
        fenced ^= line.startswith("```")
        if not fenced and re.match(r"#{1,3} ", line):  # conf.py: myst_heading_anchors = 3
            headings.add(line.lstrip("#").strip())
    if section not in headings:
        return text
    from myst_parser.slugs import github_slugify  # the site extra's; MyST makes the anchors with it

    slug = github_slugify(section.replace("`", "").replace("**", ""))  # MyST slugs the text, not the markup
    label = escape_markdown(section) if short else text
    return f"[{label}]({posixpath.relpath(document, posixpath.dirname(page) or '.')}#{slug})"


def selected(paths: list[str], patterns: list[str]) -> list[str]:
    """Return the paths matching any pattern (a glob, or a plain part of the path); all without patterns."""
    if not patterns:
        return paths
    return [p for p in paths if any(fnmatch.fnmatch(p, pattern) or pattern in p for pattern in patterns)]


# ---------------------------------------------------------------------------------------------
# Staging: the book's sources


def toctree(entries: list[str], caption: str | None = None) -> str:
    """Return a hidden MyST toctree (the sidebar's entries) of the given documents."""
    options = ":hidden:\n" + (f":caption: {caption}\n" if caption else "")
    return "\n```{toctree}\n" + options + "\n" + "\n".join(entries) + "\n```\n"


def index_page(course: Path, part: Part, notebooks: set[str], links: Links) -> str:
    """Return a part's index page: its README, links rewritten, with its lessons and sub-folders below it."""
    readme = course / part.folder / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else f"# {part.folder}\n"
    text = links.rewrite(text, f"{part.folder}/README.md")
    lessons = [nb.rsplit("/", 1)[-1].removesuffix(".ipynb") for nb in part.notebooks if nb in notebooks]
    children = [child.folder.rsplit("/", 1)[-1] + "/index" for child in part.children]
    return text + (toctree(lessons + children) if lessons or children else "")


def start_page(course: Path, parts: list[Part], links: Links) -> str:
    """Return the start page: the course README, then the sidebar's table of contents."""
    text = links.rewrite((course / "README.md").read_text(encoding="utf-8"), "README.md")
    guides = [page for page in GUIDES if (course / page).exists()]
    measured = [TIMES_PAGE] + [page for page in (RESULTS, TINY_DATA) if (course / page).exists()]
    return (text + toctree([f"{part.folder}/index" for part in parts], "The course")
            + toctree([page.removesuffix(".md") for page in guides], "For mentors and authors")
            + toctree([page.removesuffix(".md") for page in measured], "Measurements and data"))


def times_page(course: Path, notebooks: list[str], built: set[str], tiny: dict[str, float],
               runs: dict[str, dict]) -> str:
    """Return the generated page: each notebook's tiny-mode time, full-mode time and headline result."""
    rows = []
    for path in notebooks:
        title = escape_markdown(notebook_title(course / path))
        run = runs.get(path)
        origin = ""
        if run:
            note = f"; *{escape_markdown(run['note'])}*" if run.get("note") else ""
            source = run_origin(run, course, TIMES_PAGE, short=True)
            origin = f"{escape_markdown(run['date'])}, {source}{note}"
        rows.append("| " + " | ".join([
            f"[{title}]({path})" if path in built else title,
            format_seconds(tiny[path]) if path in tiny else "not run",
            format_seconds(run["seconds"]) if run else "not measured",
            escape_markdown(run["headline"]) if run else "",
            origin]) + " |")
    total_tiny = sum(tiny.get(path, 0.0) for path in notebooks)
    total_full = sum(runs[path]["seconds"] for path in notebooks if path in runs)
    measured = sum(path in runs for path in notebooks)
    return "\n".join([
        "---", "html_theme.sidebar_secondary.remove: true", "---", "",  # the table needs the page's width
        "# Time and results per notebook", "",
        "Every lesson runs in two modes. **Tiny mode** (`DIC_TINY=1`) runs the same code on small samples "
        "for few epochs: that is how the tests run the course, and how the outputs in this book were made. "
        "**Full mode** trains on the full datasets with the lesson's own recipe and reaches the results "
        "the text states.", "",
        "- *tiny mode*: the wall time of the run that made this book's outputs (one thread, two notebooks "
        "at a time on 2 cores; `book/build.py` keeps it in `book/_build/cache/`);",
        "- *full mode* and *headline*: the lesson run top to bottom on 2 cores by "
        f"`python -m bench.full_notebooks`, recorded in `{RUNS_FILE}`; *measured* says when, and which "
        "command or which section of the [benchmark results](bench/RESULTS.md) the figure came from, with "
        "the record's caveats in italics.", "",
        "```{table}", ":class: notebook-times", "",  # smaller type: book/_static/book.css
        "| notebook | tiny mode | full mode | headline (full mode) | measured |",
        "| --- | ---: | ---: | --- | --- |",
        *rows,
        f"| **all {len(notebooks)} notebooks** | **{format_seconds(total_tiny)}** | "
        f"**{format_seconds(total_full)}** ({measured} measured) | | |",
        "```", "",
    ])


def lesson_notebook(course: Path, executed: Executed, run: dict | None, links: Links):
    """Return an executed notebook as the book shows it: the student version, links rewritten, the note."""
    try:
        notebook = student_version(nbformat.read(executed.notebook, as_version=4))
    except RuntimeError as err:  # nbgrader's complaint: a marker outside a solution cell, an unclosed region
        raise SystemExit(f"{executed.path}: nbgrader cannot make its student version ({err}). Mark the cell "
                         "as CONTRIBUTING.md says, check with `python -m mentor_tools.grading release`, and "
                         "build again.") from None
    drop_widgets(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = links.rewrite(cell.source, executed.path)
    origin = run_origin(run, course, executed.path) if run else ""
    add_note(notebook, tiny_mode_note(executed.seconds, run, origin))
    return notebook


def write_if_changed(path: Path, content: bytes) -> None:
    """Write content to path unless it holds it already (Sphinx then reads again only what changed)."""
    if not path.exists() or path.read_bytes() != content:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


@dataclass
class Staged:
    """What stage() wrote: the pages, the links it rewrote, and what each lesson page must show."""

    pages: list[str]
    links: Links
    lessons: dict[str, tuple[int, int]]  # notebook: (code cells, figures), as verify.shown_content counts


def stage(course: Path, src: Path, parts: list[Part], executed: dict[str, Executed], tiny: dict[str, float],
          runs: dict[str, dict]) -> Staged:
    """Write the book's sources into src, removing stale ones; return what was staged."""
    links = Links(course, page_map(course, parts, list(executed)))
    texts = {"index.md": start_page(course, parts, links)}
    for part in (p for top in parts for p in top.all_parts()):
        texts[f"{part.folder}/index.md"] = index_page(course, part, set(executed), links)
    for page in EXTRA_PAGES:
        if (course / page).exists():
            texts[page] = links.rewrite((course / page).read_text(encoding="utf-8"), page)
    texts[TIMES_PAGE] = times_page(course, course_notebooks(parts), set(executed), tiny, runs)
    lessons = {}
    for path, done in executed.items():
        notebook = lesson_notebook(course, done, runs.get(path), links)
        texts[path], lessons[path] = nbformat.writes(notebook), verify.shown_content(notebook)
    files = {path: text.encode("utf-8") for path, text in texts.items()}
    files.update({asset: (course / asset).read_bytes() for asset in links.assets})
    for path, content in files.items():
        write_if_changed(src / path, content)
    for stale in [p for p in src.rglob("*") if p.is_file() and p.relative_to(src).as_posix() not in files]:
        stale.unlink()
    return Staged(list(texts), links, lessons)


def sphinx(src: Path, out: Path, doctrees: Path, pages: list[str]) -> None:
    """Render the staged sources to HTML with Sphinx (any warning fails); drop pages no source makes now."""
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(BOOK), "-d", str(doctrees),
               "-W", "--keep-going", "-q", str(src), str(out)]
    if subprocess.run(command).returncode != 0:
        raise SystemExit("Sphinx reported the warnings or errors above, so the book is not finished. Fix "
                         f"their cause in the course's pages or notebooks (the staged copy is in {src}).")
    # Sphinx keeps the HTML of a page whose source went (a lesson left out by --only): it would be stale.
    docs = {page.rsplit(".", 1)[0] for page in pages} | SPHINX_PAGES
    for html in out.rglob("*.html"):
        name = html.relative_to(out)
        if not name.parts[0].startswith("_") and name.with_suffix("").as_posix() not in docs:
            html.unlink()


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Build the book; return 0 if it was built and passed its checks, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="HTML output folder (default: BUILD_DIR/html)")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="build only the lessons whose path matches (a glob or part of the path); "
                        "repeatable")
    parser.add_argument("--rerun", action="store_true", help="execute every notebook again, cache or not")
    parser.add_argument("--jobs", type=int, default=MAX_JOBS, choices=range(1, MAX_JOBS + 1),
                        help="notebooks executed at once (default: 2, one per core)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default: 600)")
    parser.add_argument("--runs", type=Path, default=None,
                        help=f"the full-mode record to quote (default: {RUNS_FILE})")
    parser.add_argument("--course", type=Path, default=REPO, help="the course to build (default: this one)")
    parser.add_argument("--build-dir", type=Path, default=BOOK / "_build",
                        help="where the cache, the staged sources and the HTML go (default: book/_build)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    course, build_dir = args.course.resolve(), args.build_dir.resolve()
    out = (args.out or build_dir / "html").resolve()
    parts = course_parts(course)
    every_notebook = course_notebooks(parts)
    notebooks = selected(every_notebook, args.only)
    if args.only and not notebooks:
        print(f"No notebook matches {' or '.join(args.only)}; paths look like {every_notebook[0]}.",
              file=sys.stderr)
        return 2
    runs = full_mode_runs(args.runs)
    cache = build_dir / "cache"
    try:
        executed = execute_all(course, notebooks, cache, timeout=args.timeout, jobs=args.jobs,
                               rerun=args.rerun)
    except NotebookFailed as err:
        print(f"\n{err}", file=sys.stderr)
        return 1
    # The times page lists every lesson: one left out by --only shows its cached time, if still valid.
    tiny = {path: done.seconds for path, done in executed.items()}
    for path in every_notebook:
        if path not in tiny and (hit := cached(cache, path, cache_key(course / path))):
            tiny[path] = hit.seconds
    staged = stage(course, build_dir / "src", parts, executed, tiny, runs)
    for dropped in staged.links.dropped:
        print(f"note: not a page of the book, shown as plain text: {dropped}")
    sphinx(build_dir / "src", out, build_dir / "doctrees", staged.pages)
    problems = verify.broken_links(out) + verify.external_resources(out)
    problems += verify.lesson_shortfalls(out, staged.lessons)
    secrets = verify.Course.read(course, every_notebook, markdown_pages(course, parts))
    problems += verify.leaks(out, secrets)
    for line in secrets.shown_by_pages():
        print(f"warning: a Markdown page of the course shows a solution or hidden-test line: {line}")
    if problems:
        print(f"\nThe built book in {out} fails its checks:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    ran = sum(not done.from_cache for done in executed.values())
    print(f"built {out / 'index.html'}: {len(executed)} notebook(s), {ran} executed, {len(executed) - ran} "
          f"from the cache, in {format_seconds(time.perf_counter() - started)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
