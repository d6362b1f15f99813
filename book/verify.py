"""Checks of a built book: every internal link resolves, and no page shows what grading hides."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat

from book.notebooks import student_version

# Files of the built site that hold text a reader can see or download (the theme's own files aside).
TEXT_SUFFIXES = {".html", ".txt", ".ipynb", ".json", ".js", ".md"}
SKIPPED_FOLDERS = {"_static", ".doctrees"}
# Shorter needles (after normalising) match by chance; a line such as `)` or `pass` is no secret.
MIN_NEEDLE_CHARS = 8


class _PageParser(HTMLParser):
    """Collects a page's text (scripts and styles aside), the ids it defines and the URLs it refers to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.ids: set[str] = set()
        self.urls: list[str] = []
        self.loads: list[str] = []  # what the browser fetches to show the page: scripts, styles, images
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("id", "name") if tag == "a" else ("id",):
            if values.get(name):
                self.ids.add(values[name])
        for name in ("href", "src"):
            if values.get(name) is not None:
                self.urls.append(values[name])
        if tag in ("script", "img", "iframe", "source") and values.get("src"):
            self.loads.append(values["src"])
        fetched = {"stylesheet", "preload", "icon", "modulepreload"}
        if tag == "link" and values.get("href") and set((values.get("rel") or "").split()) & fetched:
            self.loads.append(values["href"])
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def html_pages(site: Path) -> list[Path]:
    """Return the site's HTML files."""
    return sorted(p for p in site.rglob("*.html") if not SKIPPED_FOLDERS & set(p.relative_to(site).parts))


def broken_links(site: Path) -> list[str]:
    """Return one line per relative href/src of the site that points to no file, or to no id in its page."""
    site = site.resolve()
    parsed = {page: _parse(page) for page in html_pages(site)}
    problems = []
    for page, parser in parsed.items():
        for url in parser.urls:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url in ("", "#"):
                continue  # external (checked by reading, not here), or the theme's "#" buttons
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)}: {url}"
            if site not in target.parents:
                problems.append(f"{where} (outside the site)")
            elif not target.exists():
                problems.append(f"{where} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{where} (no id {parts.fragment!r} in {target.name})")
    return problems


def external_resources(site: Path) -> list[str]:
    """Return the scripts, styles and images the pages load from elsewhere (the book must work offline)."""
    found = set()
    for page in html_pages(site):
        for url in _parse(page).loads:
            if urlsplit(url).scheme not in ("", "data") or url.startswith("//"):
                found.add(f"{page.relative_to(site)}: {url}")
    return sorted(found)


def shown_content(notebook) -> tuple[int, int]:
    """Return how many code cells and figures (image outputs) a notebook holds, for lesson_shortfalls."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [output for cell in code for output in cell.outputs]
    figures = [o for o in outputs if any(mime.startswith("image/") for mime in o.get("data", {}))]
    return len(code), len(figures)


def lesson_shortfalls(site: Path, lessons: dict[str, tuple[int, int]]) -> list[str]:
    """Return the lesson pages that show fewer code cells or figures than the notebook they were made from.

    ``lessons`` maps a notebook's path to its (code cells, figures), as shown_content counts them.
    """
    problems = []
    for notebook, (cells, figures) in lessons.items():
        page = site / Path(notebook).with_suffix(".html")
        html = page.read_text(encoding="utf-8") if page.exists() else ""
        shown_cells = len(re.findall(r'<div class="cell[ "]', html))  # myst-nb: one container a code cell
        shown_figures = len(re.findall(r'<img\b[^>]*\bsrc="[^"]*_images/', html))
        if shown_cells < cells or shown_figures < figures:
            problems.append(f"{page.relative_to(site)}: shows {shown_cells} of {cells} code cells and "
                            f"{shown_figures} of {figures} figures")
    return problems


# ---------------------------------------------------------------------------------------------
# Leaks: what grading hides, searched in everything the site serves


@dataclass
class Secret:
    """A region of a source notebook that the student version does not show: a solution or hidden tests."""

    notebook: str
    cell: str  # the grade_id, or "cell N"
    kind: str  # "code" or "markdown"
    lines: list[str]


def secret_regions(path: str, source, student) -> list[Secret]:
    """Return the regions of each cell of ``source`` that stripping removed or replaced in ``student``."""
    secrets = []
    for index, (before, after) in enumerate(zip(source.cells, student.cells, strict=True)):
        if before.source == after.source:
            continue
        old, new = before.source.splitlines(), after.source.splitlines()
        cell = before.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
        for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            lines = [line for line in old[i1:i2] if line.strip()]
            if tag in ("replace", "delete") and lines:
                secrets.append(Secret(path, cell, before.cell_type, lines))
    return secrets


def normalise(text: str, kind: str) -> str:
    """Return text as compared: code without whitespace; prose as its words (rendering drops the markup)."""
    if kind == "code":
        return re.sub(r"\s+", "", text)
    return " ".join(re.findall(r"\w+", text))


# nbgrader's region markers: syntax that CONTRIBUTING.md documents, not a secret in themselves.
_MARKER = re.compile(r"#*(?:BEGIN|END)(?:SOLUTION|HIDDENTESTS|MARKSCHEME)")


@dataclass
class Course:
    """The secrets of the course's source notebooks, and what its student version shows."""

    notebooks: list[str]
    secrets: list[Secret]
    notebooks_text: dict[str, str]  # {"code" or "markdown": the student notebooks' text, normalised}
    pages_text: dict[str, str]  # the same for the Markdown pages the book shows (README, guides, ...)

    @classmethod
    def read(cls, course: Path, notebooks: list[str], pages: list[str]) -> Course:
        """Read the source notebooks and the Markdown pages the book shows (paths from the course root)."""
        secrets, visible = [], []
        for path in notebooks:
            source = nbformat.read(course / path, as_version=4)
            student = student_version(source)
            secrets += secret_regions(path, source, student)
            visible += [cell.source for cell in student.cells]
        shown = "\n".join((course / page).read_text(encoding="utf-8") for page in pages)
        visible_text = "\n".join(visible)
        return cls(notebooks, secrets, {kind: normalise(visible_text, kind) for kind in ("code", "markdown")},
                   {kind: normalise(shown, kind) for kind in ("code", "markdown")})

    def _candidates(self):
        """Yield (secret, kind, needle, is_whole_region) for what the student notebooks do not show."""
        for secret in self.secrets:
            kind = "code" if secret.kind == "code" else "markdown"
            whole = ["\n".join(secret.lines)] if len(secret.lines) > 1 else []
            for text in secret.lines + whole:
                needle = normalise(text, kind)
                if len(needle) >= MIN_NEEDLE_CHARS and needle not in self.notebooks_text[kind]:
                    yield secret, kind, needle, text in whole

    def needles(self) -> list[tuple[Secret, str, str]]:
        """Return (secret, kind, normalised text) for each line and each whole region to search for.

        A line is a secret only if the student version of the course shows it nowhere: not in the student
        notebooks (`return x` may be a solution line and a line of the lesson) and not in the Markdown pages
        students read anyway (see shown_by_pages).
        """
        return [(secret, kind, needle) for secret, kind, needle, _ in self._candidates()
                if needle not in self.pages_text[kind]]

    def shown_by_pages(self) -> list[str]:
        """Return the solution and hidden-test lines that a Markdown page shows anyway (as an example)."""
        return sorted({f"{secret.notebook}, {secret.cell}: {needle[:80]!r}"
                       for secret, kind, needle, whole in self._candidates()
                       if not whole and needle in self.pages_text[kind] and not _MARKER.fullmatch(needle)})


def site_texts(site: Path) -> dict[str, str]:
    """Return {file: its text} for every file of the site a reader sees, HTML reduced to its visible text."""
    texts = {}
    for path in sorted(site.rglob("*")):
        if path.suffix not in TEXT_SUFFIXES or SKIPPED_FOLDERS & set(path.relative_to(site).parts):
            continue
        if path.suffix == ".html":
            texts[str(path.relative_to(site))] = " ".join(_parse(path).text)
        else:
            texts[str(path.relative_to(site))] = path.read_text(encoding="utf-8", errors="replace")
    return texts


def leaks(site: Path, course: Course) -> list[str]:
    """Return one line per secret line or region of the course found in the site's text."""
    texts = site_texts(site)
    haystacks = {kind: {name: normalise(text, kind) for name, text in texts.items()}
                 for kind in ("code", "markdown")}
    # One search through everything first: almost every needle is absent, and that is the fast answer.
    joined = {kind: "\0".join(pages.values()) for kind, pages in haystacks.items()}
    problems = []
    for secret, kind, needle in course.needles():
        if needle in joined[kind]:
            where = [name for name, text in haystacks[kind].items() if needle in text]
            problems.append(f"{secret.notebook}, {secret.cell}: {needle[:80]!r} shows in {', '.join(where)}")
    for notebook in course.notebooks:  # a lesson page shows no region marker, whatever it encloses
        page = str(Path(notebook).with_suffix(".html"))
        if page in haystacks["code"] and (marker := _MARKER.search(haystacks["code"][page])):
            problems.append(f"{page}: shows nbgrader's marker {marker.group(0)!r}")
    return problems
