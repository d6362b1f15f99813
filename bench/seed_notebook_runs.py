"""Seed bench/notebook_runs.json with the full-mode runs bench/RESULTS.md reports (a one-off, kept for provenance).

Most lessons were measured with ``bench.full_notebooks`` before it kept a record, and RESULTS.md says what
each run took and what it printed. Running them all again takes hours, so this reads RESULTS.md instead,
parsing it rather than copying numbers by hand, and writes one entry per notebook with
``source = "bench/RESULTS.md: <section heading>"`` and the date of the run it took.

Which run: the latest measured on a quiet machine (RESULTS.md says when other work shared the cores, in the
time's own words, in a load column, in a sentence naming the lessons, or in the paragraph that introduces
the run; a time it says nothing about counts as quiet). A loaded time is used only where no quiet one
exists, marked "(loaded machine)" in the entry's ``note``. Of the chosen day, the last table or paragraph
that reports a run counts, and in it the fastest run (load only ever adds time). Every other run found is
listed in ``other_runs``. A run with ``--set`` is a variant of the lesson, kept as ``bench.full_notebooks``
keeps it (``variants``).

The headline is the clause RESULTS.md puts in bold (its way of marking the figure that matters), else the
result column whose header mentions the test, else the whole stated result. An entry written by a real run
of ``bench.full_notebooks`` is never replaced: the seed only fills in what no run has recorded.

    python -m bench.seed_notebook_runs            # write the entries, then say what is missing or disagrees
    python -m bench.seed_notebook_runs --dry-run  # only say it
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from bench.full_notebooks import RECORD, REPO, load_runs, merge_run, recipe, save_runs

RESULTS = REPO / "bench" / "RESULTS.md"
SOURCE = "bench/RESULTS.md"
# "98.4 s", "2,421.5 s", "29-51 s" (a range: its first figure is taken).
TIME = re.compile(r"(?<![\w.,-])(\d[\d,]*(?:\.\d+)?)(?:-\d[\d,]*(?:\.\d+)?)? s\b")
DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})(?: (\d{2}:\d{2}) UTC)?")
# How RESULTS.md says that other work shared the machine, and that nothing did. Loaded wins when a text says
# both ("quiet machine but for a test suite in its first minutes").
LOADED = re.compile(r"\bshared\b|\bsharing\b|\bbusy\b|\bbeside\b|\bcontended\b|upper bound|other jobs|"
                    r"overlapped|but for\b|\bexcept\b|\bload\b|load average|under (?:that|heavy) load", re.I)
QUIET = re.compile(r"\bquiet\b|nothing else (?:ran|running)", re.I)
# A lesson named by its number in a sentence ("The wall times of 04, 06 and 07 were ..."), not a decimal.
LESSON_NUMBER = re.compile(r"(?<![\d.])\b(\d\d)\b(?![.%\d])")
DEVELOPMENT = re.compile(r"\b(?:the |a )?(?:[\w'-]+ )?(?:\*\*)?development (?:copy|table)\b(?:\*\*)?"
                         r"(?: \((?:[^()]|\([^()]*\))*\))?")
COMMAND = "bench.full_notebooks"


@dataclass
class Block:
    """A paragraph, a table or a code block of RESULTS.md."""

    kind: str  # "prose", "table" or "code"
    text: str
    order: int  # position in the file: later means further down
    rows: list[list[str]] = field(default_factory=list)  # a table's header first


@dataclass
class Section:
    """A heading of RESULTS.md and the blocks under it, down to the next heading."""

    heading: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Run:
    """One full-mode run of one notebook, as RESULTS.md reports it."""

    notebook: str
    seconds: float
    loaded: str  # why the machine counts as loaded, "" for a quiet one
    date: str
    section: str
    order: float
    command: str
    overrides: dict[str, str]
    settings: dict[str, str]
    data: list[str]
    result: str = ""
    headline: str = ""
    lines: list[str] = field(default_factory=list)
    qualifier: str = ""


def plain(text: str) -> str:
    """Return markdown text without emphasis and code marks, its spaces collapsed."""
    return " ".join(text.replace("**", "").replace("`", "").split())


def top_level(text: str) -> list[bool]:
    """Return, per character, whether it stands outside every parenthesis."""
    depth, outside = 0, []
    for char in text:
        depth += char == "("
        outside.append(depth == 0)
        depth -= char == ")" and depth > 0
    return outside


def clauses(text: str) -> list[str]:
    """Return the text cut at its top-level semicolons and full stops, each piece stripped."""
    outside, pieces, start = top_level(text), [], 0
    for i, char in enumerate(text):
        if outside[i] and (char == ";" or (char == "." and text[i + 1:i + 2] in (" ", ""))):
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    return [piece.strip() for piece in pieces if piece.strip()]


def split_sections(text: str) -> list[Section]:
    """Return RESULTS.md's sections (text before the first heading belongs to none)."""
    sections, lines, order = [], text.splitlines(), 0
    current: Section | None = None
    paragraph: list[str] = []

    def close(kind: str = "") -> None:
        nonlocal order
        if paragraph:
            body = "\n".join(paragraph)
            if current is not None:
                kind = kind or ("table" if all(line.startswith("|") for line in paragraph) else "prose")
                rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in paragraph
                        if not re.fullmatch(r"\|[\s:|-]+\|?", line.strip())] if kind == "table" else []
                current.blocks.append(Block(kind, body, order, rows))
                order += 1
            paragraph.clear()

    fenced = False
    for line in lines:
        if fenced:
            if line.startswith("```"):
                close("code")
                fenced = False
            else:
                paragraph.append(line)
        elif line.startswith("```"):
            close()
            fenced = True
        elif line.startswith("#"):
            close()
            current = Section(line.lstrip("#").strip())
            sections.append(current)
        elif not line.strip() or (paragraph and paragraph[-1].startswith("|") != line.startswith("|")):
            close()
            if line.strip():
                paragraph.append(line)
        else:
            paragraph.append(line)
    close()
    return sections


def iso_date(found: re.Match) -> str:
    """Return an ISO 8601 date (and time, in UTC, when RESULTS.md gives one)."""
    day, clock = found.groups()
    return f"{day}T{clock}:00+00:00" if clock else day


def load_reason(text: str) -> str | None:
    """Return why a text says the machine was loaded, "" if it says it was quiet, None if it says neither."""
    for clause in clauses(text):
        if LOADED.search(clause):
            return plain(clause).strip(" ,;:").removesuffix(" and")
    return "" if QUIET.search(text) else None


class SectionReader:
    """Finds the runs of one section, with what the paragraphs around each say about it."""

    def __init__(self, section: Section, notebooks: list[str]) -> None:
        self.section, self.notebooks, self.blocks = section, notebooks, section.blocks

    def before(self, index: int) -> list[Block]:
        """Return the blocks before index, nearest first."""
        return self.blocks[:index][::-1]

    def date(self, index: int, own: str = "") -> str:
        """Return the date nearest before the block (its own text first)."""
        for text in [own] + [b.text for b in self.before(index) if b.kind == "prose"]:
            found = list(DATE.finditer(text))
            if found:
                return iso_date(found[-1])
        return ""

    def context_load(self, index: int, own: str = "") -> str:
        """Return why the paragraphs introducing the block say the machine was loaded ("" for quiet)."""
        for text in [own] + [b.text for b in self.before(index) if b.kind == "prose"]:
            reason = load_reason(text)
            if reason is not None:
                return reason
        return ""  # nothing said: the machine counts as quiet

    def command(self, index: int) -> str:
        """Return the full_notebooks command nearest before the block (in a code block or inline)."""
        candidates = self.before(index) + self.blocks[index:]
        for block in candidates:
            if block.kind == "code" and COMMAND in block.text:
                return " ".join(line.strip().removesuffix("\\").strip() for line in block.text.splitlines()
                                if line.strip())
            inline = [span for span in re.findall(r"`([^`]+)`", block.text) if COMMAND in span]
            if block.kind == "prose" and inline:
                return inline[0]
        return ""

    def settings(self, index: int, own: str, command: str) -> dict[str, str]:
        """Return OMP_NUM_THREADS as the run's paragraphs state it, else as its command sets it."""
        for text in [own] + [b.text for b in self.before(index) if b.kind == "prose"] + [command]:
            found = re.search(r"OMP_NUM_THREADS=(\d+)", text)
            if found:
                return {"OMP_NUM_THREADS": found.group(1)}
        return {}

    def data(self, index: int, own: str, command: str) -> list[str]:
        """Return what is known of the run's data: the folder of its command and any development copy named."""
        folder = re.search(r"--data-dir (\S+)", command)
        lines = [f"data dir of the command: {folder.group(1) if folder else 'not given (the per-user cache)'}; "
                 "the files were not described by that run (seeded from bench/RESULTS.md)"]
        prose = [b.text for b in self.before(index) if b.kind == "prose"]
        for text in [own] + prose[:1] + prose[-1:]:  # the run's own text, its introduction, the section's
            found = DEVELOPMENT.search(text.replace("\n", " "))
            if found and f"RESULTS.md: {plain(found.group(0))}" not in lines:
                lines.append(f"RESULTS.md: {plain(found.group(0))}")
        return lines

    def resolve(self, name: str, commands: list[str]) -> str | None:
        """Return the notebook a table row or paragraph names, by file name or by lesson number."""
        name = plain(name).split(",")[0].strip()
        named = [n for n in self.notebooks if Path(n).stem == name]
        if not named and re.fullmatch(r"\d\d", name):
            folders = {str(Path(n).parent) for n in notebooks_in(commands, self.notebooks)}
            named = [n for n in self.notebooks if Path(n).name.startswith(f"{name}_")
                     and str(Path(n).parent) in folders]
        return named[0] if len(named) == 1 else None

    def run(self, notebook: str, seconds: float, loaded: str, index: int, own: str, order: float,
            qualifier: str) -> Run:
        """Return a Run with the date, command, settings and data its section states."""
        command = self.command(index)
        settings = self.settings(index, own, command)
        return Run(notebook, seconds, loaded, self.date(index, own), self.section.heading, order,
                   command_for(command, notebook, settings), overrides_of(command), settings,
                   self.data(index, own, command), qualifier=plain(qualifier))

    def runs(self) -> list[Run]:
        """Return every run the section reports."""
        found: list[Run] = []
        for index, block in enumerate(self.blocks):
            if block.kind == "table":
                found += self.table_runs(index, block)
            elif block.kind == "prose":
                found += self.prose_runs(index, block)
        return found

    def table_runs(self, index: int, block: Block) -> list[Run]:
        """Return the runs of a table with a notebook (or lesson) column and a wall-time column."""
        header = [plain(cell).lower() for cell in block.rows[0]]
        times = [i for i, h in enumerate(header) if "wall time" in h]
        if header[0] not in ("notebook", "lesson") or not times:
            return []
        when = times[0]
        results = [i for i, h in enumerate(header) if i not in (0, *times)
                   and not re.search(r"\bload\b|contended", h)]
        notes = self.adjacent_load_sentences(index, block)
        found = []
        for number, row in enumerate(block.rows[1:]):
            notebook = self.resolve(row[0], [self.command(index)])
            if notebook is None:
                continue
            lesson = Path(notebook).name[:2]
            row_load = [row[i] for i, h in enumerate(header) if re.fullmatch(r"load", h)]
            for k, (seconds, qualifier) in enumerate(times_in(row[when])[0]):
                if "not the notebook's cost" in qualifier:
                    continue
                loaded = load_reason(qualifier)
                load_figure = re.search(r"\((\d+(?:\.\d+)?)\b", qualifier)  # "131.2 s (3.9)" under "wall time (load)"
                if loaded is None and "load" in header[when] and load_figure:
                    loaded = f"load average {load_figure.group(1)}"
                if loaded is None and row_load:
                    loaded = f"load average {row_load[0]}"
                loaded = notes.get(lesson, notes.get("*")) if loaded is None else loaded
                if loaded is None:
                    loaded = self.context_load(index)
                run = self.run(notebook, seconds, loaded, index, "", block.order + (number + k / 10) / 100,
                               qualifier)
                state_result(run, [(block.rows[0][i], row[i]) for i in results])
                found.append(run)
        return found

    def adjacent_load_sentences(self, index: int, block: Block) -> dict[str, str]:
        """Return {lesson number or "*": load reason} from the sentences around a table that name lessons."""
        said: dict[str, str] = {}
        lessons = {Path(n).name[:2] for row in block.rows[1:] if (n := self.resolve(row[0], [self.command(index)]))}
        start = max([i for i, b in enumerate(self.blocks[:index]) if b.kind == "table"], default=-1) + 1
        stop = min([i for i, b in enumerate(self.blocks) if i > index and b.kind == "table"], default=len(self.blocks))
        for i in range(start, stop):
            if self.blocks[i].kind != "prose":
                continue
            for clause in clauses(self.blocks[i].text):
                reason = load_reason(clause)
                if reason is None or TIME.search(clause):
                    continue  # a sentence with times of its own tells of other runs
                text = DATE.sub("", clause)
                numbers = set(LESSON_NUMBER.findall(text)) & lessons
                for number in numbers:
                    said[number] = reason
                if not numbers and i > index and re.search(r"\babove\b", clause):
                    said["*"] = reason  # "the figures above are the repeat on a quiet machine"
        return said

    def prose_runs(self, index: int, block: Block) -> list[Run]:
        """Return the runs a paragraph reports: "`name` ... N s ...", "N s, ran cleanly" or "(02: N s, ...)"."""
        text = block.text.replace("\n", " ")
        listed = re.search(r"\((\d\d: [\d.,]+(?:-[\d.,]+)? s(?:, )?)+\)", text)
        if listed:  # "Wall times under that load (02: 10.2 s, 04: 29-51 s, ...)"
            found = []
            for k, (number, seconds) in enumerate(re.findall(r"(\d\d): ([\d.,]+)(?:-[\d.,]+)? s",
                                                             listed.group(0))):
                notebook = self.resolve(number, [self.command(index)])
                if notebook:
                    # "under that load" points back at the paragraph that says which load it was.
                    found.append(self.run(notebook, number_of(seconds), self.context_load(index), index,
                                          text, block.order + k / 100, ""))
            return found
        named = re.match(r"`([\w-]+)`", text)
        if named:  # "`02_initialisation_and_batch_norm`, twice with identical results, 320.3 s (load 3.4) and ..."
            notebook = self.resolve(named.group(1), [self.command(index)])
        elif TIME.match(text):  # "51.1 s, ran cleanly. ...", after the command that ran the one notebook
            notebook = single_notebook(self.command(index), self.notebooks)
        else:
            return []
        timed, end = times_in(text)
        if notebook is None or not timed:
            return []
        first = TIME.search(text).start()
        result = text[end:].strip(" :.")
        if text.rstrip().endswith(":"):  # "Quick recipe (...):" introduces a table; the result follows it
            result = "; ".join(part for part in (result, self.result_after_table(index)) if part)
        found = []
        for k, (seconds, qualifier) in enumerate(timed):
            loaded = load_reason(qualifier)
            if loaded is None:
                loaded = self.context_load(index, text[:first])
            run = self.run(notebook, seconds, loaded, index, text[:first], block.order + k / 100, qualifier)
            state_result(run, [("", result)])
            found.append(run)
        return found

    def result_after_table(self, index: int) -> str:
        """Return the paragraph after the table that a paragraph ending with ":" introduces."""
        after = self.blocks[index + 1:index + 3]
        if len(after) == 2 and after[0].kind == "table" and after[1].kind == "prose":
            return after[1].text.replace("\n", " ")
        return ""


def number_of(text: str) -> float:
    """Return a figure written with thousands separators as a float."""
    return float(text.replace(",", ""))


def times_in(text: str) -> tuple[list[tuple[float, str]], int]:
    """Return the top-level times of a text, each with what follows it, and where the text's result begins.

    What follows a time runs to the next time or to the end of its clause (a top-level ": " or ". "),
    where the result begins and the times end. Times in parentheses belong to the time before them
    ("1649.4 s (6.6: not the notebook's cost; 37 s quiet, above)").
    """
    outside = top_level(text)
    found = [m for m in TIME.finditer(text) if outside[m.start()]]
    times: list[tuple[float, str]] = []
    for k, match in enumerate(found):
        stop = found[k + 1].start() if k + 1 < len(found) else len(text)
        ends = [i for i in range(match.end(), stop) if outside[i] and text[i] in ":." and
                text[i + 1:i + 2] in (" ", "")]
        times.append((number_of(match.group(1)), text[match.end():ends[0] if ends else stop]))
        if ends:
            return times, ends[0] + 1
    return times, len(text)


def state_result(run: Run, cells: list[tuple[str, str]]) -> None:
    """Fill in a run's result, lines and headline from its result cells (header, text)."""
    cells = [(plain(h), c) for h, c in cells if plain(c)]
    if not cells:
        return
    if len(cells) == 1:
        run.lines = [plain(c) for c in clauses(cells[0][1])]
    else:
        run.lines = [f"{h}: {plain(c)}" for h, c in cells]
    run.result = (" | " if len(cells) > 1 else "; ").join(run.lines)  # a cell may hold semicolons itself
    for header, cell in cells:
        bold = [c for c in clauses(cell) if "**" in c]
        if bold:
            run.headline = (f"{header}: " if len(cells) > 1 else "") + plain(bold[0])
            return
    tested = [(h, c) for h, c in cells if re.search(r"\btest", h, re.I)]
    run.headline = f"{tested[-1][0]}: {plain(tested[-1][1])}" if len(cells) > 1 and tested else run.result


def notebooks_in(commands: list[str], notebooks: list[str]) -> list[str]:
    """Return the notebooks the commands name, globs expanded against the known notebooks."""
    named = []
    for command in commands:
        for word in command.split():
            if word.endswith(".ipynb"):
                named += [n for n in notebooks if fnmatch.fnmatch(n, word)]
    return named


def single_notebook(command: str, notebooks: list[str]) -> str | None:
    """Return the one notebook a command runs, None if it runs several or none."""
    named = notebooks_in([command], notebooks)
    return named[0] if len(named) == 1 else None


def overrides_of(command: str) -> dict[str, str]:
    """Return the --set values of a command."""
    return dict(re.findall(r"--set (\w+)=(\S+)", command))


def command_for(command: str, notebook: str, settings: dict[str, str]) -> str:
    """Return the command that repeats the run for this one notebook, with its thread setting."""
    words = shlex.split(command.split("#")[0]) if command else []
    if COMMAND not in words:
        return ""
    options = words[words.index(COMMAND) + 1:]
    kept = [w for w in options if not (w.endswith(".ipynb") or w == "NOTEBOOK")]
    prefix = [f"{name}={value}" for name, value in settings.items()]
    # Joined as written: quoting "~/datasets/otto-dev" would stop the shell from expanding it.
    return " ".join([*prefix, "python", "-m", COMMAND, *kept, notebook])


def parse_results(text: str, notebooks: list[str]) -> list[Run]:
    """Return every full-mode run of a notebook that a RESULTS.md text reports."""
    runs = []
    for section in split_sections(text):
        if "not the lesson's recipe" in section.heading:
            continue  # figures of a bench script's own copy of a lesson, kept in RESULTS.md as history
        if not any(COMMAND in b.text for b in section.blocks):
            continue
        runs += SectionReader(section, notebooks).runs()
    return runs


def machine_of(text: str) -> str:
    """Return the machine RESULTS.md describes in its introduction."""
    found = re.search(r'^Machine "[^"]+": .*?(?=\n\n|\Z)', text, re.M | re.S)
    return plain(found.group(0)) if found else ""


def choose(runs: list[Run]) -> dict[tuple[str, str], tuple[Run, list[Run]]]:
    """Return {(notebook, recipe): (the run to record, the other runs)}: the latest quiet, else the latest."""
    grouped: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        grouped.setdefault((run.notebook, recipe(run.overrides)), []).append(run)
    chosen = {}
    for key, group in grouped.items():
        quiet = [run for run in group if not run.loaded]
        pool = quiet or group
        latest = max(run.date[:10] for run in pool)
        same_day = [run for run in pool if run.date[:10] == latest]
        # The latest table or paragraph of that day, and in it the fastest run: load only ever adds time.
        last_block = max(int(run.order) for run in same_day)
        best = min((run for run in same_day if int(run.order) == last_block), key=lambda run: run.seconds)
        chosen[key] = (best, [run for run in group if run is not best])
    return chosen


def entry_of(run: Run, others: list[Run], machine: str) -> dict:
    """Return the record entry for a run RESULTS.md reports."""
    note = []
    if run.loaded:
        note.append(f"(loaded machine) {run.loaded}")
    if not run.result:
        stated = [o for o in sorted(others, key=lambda o: (o.date[:10], o.order)) if o.result]
        if stated:  # e.g. a quiet re-run that RESULTS.md says printed the same figures as the loaded one
            run.result, run.headline, run.lines = stated[-1].result, stated[-1].headline, stated[-1].lines
            note.append(f"result stated for the run of {stated[-1].date} ({stated[-1].seconds:g} s), "
                        f"not for this one")
    said = re.sub(r",? ran cleanly", "", run.qualifier).strip(" ,;").removesuffix(" and")
    if said:
        note.append(f"RESULTS.md on this time: {said}")
    later = [o for o in others if o.date[:10] > run.date[:10]]
    if later:  # the lesson may have changed since the run recorded here
        note.append("later runs, on a loaded machine: " + ", ".join(f"{o.date[:10]} {o.seconds:g} s" for o in later))
    return {
        "seconds": run.seconds, "headline": run.headline, "lines": run.lines, "errors": [], "date": run.date,
        "machine": {"summary": machine, "settings": run.settings,
                    "load": f"loaded: {run.loaded}" if run.loaded else "quiet (as RESULTS.md tells it)"},
        "data": run.data, "overrides": run.overrides, "command": run.command,
        "source": f"{SOURCE}: {run.section}", "note": "; ".join(note),
        "other_runs": [{"seconds": o.seconds, "date": o.date, "loaded": bool(o.loaded), "source":
                        f"{SOURCE}: {o.section}"} for o in sorted(others, key=lambda o: (o.date[:10], o.order))],
    }


def course_notebooks() -> list[str]:
    """Return the course's notebooks, as keys of the record: the weeks' lessons and the hackathons'."""
    found = [*REPO.glob("week*/*.ipynb"), *REPO.glob("hackathons/*/*.ipynb")]
    return sorted(path.relative_to(REPO).as_posix() for path in found)


def stated_cost(notebook: Path) -> str:
    """Return the paragraph near a notebook's top that states its full-mode cost ('' if none)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    markdown = "\n\n".join("".join(c["source"]) for c in cells[:3] if c["cell_type"] == "markdown")
    paragraphs = re.split(r"\n\s*\n", markdown)
    for i, paragraph in enumerate(paragraphs):
        if "2-core CPU" in paragraph:
            # "**What it costs.** ... (`bench/RESULTS.md`):" is followed by the table of both recipes.
            table = paragraphs[i + 1] if paragraph.rstrip().endswith(":") and i + 1 < len(paragraphs) else ""
            return " ".join(f"{paragraph} {table}".split())
    return ""


def disagreement(stated: str, entry: dict) -> str:
    """Return how a notebook's stated cost disagrees with its recorded run ('' if it agrees)."""
    measured = [entry["seconds"], *(v["seconds"] for v in entry.get("variants", {}).values())]
    figures = [number_of(s) for s in re.findall(r"(\d[\d,]*(?:\.\d+)?) s\b", stated)]
    figures += [60 * float(m) for m in re.findall(r"(\d+(?:\.\d+)?) minutes?", stated)]
    problems = []
    if not any(abs(f - m) <= max(1.0, 0.25 * m) for f in figures for m in measured):
        problems.append(f"states {', '.join(f'{f:g} s' for f in figures) or 'no time'}, "
                        f"the record has {entry['seconds']:g} s")
    says_loaded = re.search(r"\bbusy\b|other jobs?\b|shared (?:the|with)|upper bound|beside|low-priority", stated)
    is_loaded = entry["machine"].get("load", "").startswith("loaded")
    if says_loaded and not is_loaded:
        problems.append("it says the machine was busy, the record's run was quiet")
    elif is_loaded and not says_loaded:
        problems.append(f"it does not say that its only measured run shared the machine ({entry['machine']['load']})")
    return "; ".join(problems)


def main(argv: list[str] | None = None) -> int:
    """Seed the record; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="the RESULTS.md to read")
    parser.add_argument("--record", type=Path, default=RECORD, help="the record of runs to update")
    parser.add_argument("--dry-run", action="store_true", help="write nothing, only report")
    args = parser.parse_args(argv)
    notebooks = course_notebooks()
    text = args.results.read_text(encoding="utf-8")
    runs = parse_results(text, notebooks)
    record = load_runs(args.record)
    machine = machine_of(text)
    for (notebook, name), (run, others) in sorted(choose(runs).items()):
        entry = record.get(notebook, {})
        current = entry if recipe(entry.get("overrides", {})) == name else entry.get("variants", {}).get(name)
        label = f"{notebook}{f' [--set {name}]' if name else ''}"
        if current and not current.get("source", "").startswith(SOURCE):
            print(f"kept    : {label}: recorded by {current['source']} on {current['date']}")
            continue
        record[notebook], _ = merge_run(record.get(notebook), entry_of(run, others, machine))
        state = "LOADED" if run.loaded else "quiet "
        print(f"seeded  : {label}: {run.seconds:g} s ({state}, {run.date}, {run.section}); {run.headline[:90]}")
    if not args.dry_run:
        save_runs(record, args.record)
        print(f"written : {args.record}")
    missing = [n for n in notebooks if n not in record]
    print(f"\nno full-mode record ({len(missing)}): {', '.join(missing) or 'none'}")
    print("\nnotebooks whose own cost line disagrees with the record:")
    for notebook in notebooks:
        if notebook in record and "seconds" in record[notebook]:
            stated = stated_cost(REPO / notebook)
            problem = disagreement(stated, record[notebook]) if stated else "states no full-mode cost"
            if problem:
                print(f"    {notebook}: {problem}\n        it says: {stated[:300]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
