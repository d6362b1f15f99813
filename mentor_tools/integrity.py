"""Grading integrity: a submission must not be able to fake its grade.

A submission runs in the same Python process as the tests that grade it, so nothing can stop its code
from changing what the tests call. Two measures make that useless or visible:

1. **Fresh checks.** Before every autograded test cell, the grader runs a hidden cell that rebinds the
   check helpers (``check_close`` and friends) from a copy of ``shared/checks.py`` read by the grader
   itself, and re-runs the imports of the notebook's locked cells. Rebinding ``check_close`` or patching
   ``shared.checks`` in the notebook then changes nothing. The hidden cells are removed after execution.
2. **An integrity scan** of every cell a student can edit (and of the locked cells against the source):
   rebinding the check helpers, builtins or imported module names; patching modules (``np.allclose =``,
   ``setattr(shared.checks, ...)``, ``sys.modules``, ``builtins``); dynamic code (``exec``, ``eval``,
   ``get_ipython``, frame tricks); edited or deleted locked cells. A finding zeroes every autograded test
   cell at or after the flagged cell, and is written into the graded notebook (a note at the top, the
   reason in each zeroed test's output) for the mentor to review. The rest of the cohort is graded as usual.

The scan reads code, it does not run it, so it is a tripwire, not a proof: MENTORS.md lists what is and
is not defended. ``ScanForTampering``, ``InsertFreshChecks`` and ``ApplyIntegrity`` plug these into
nbgrader's autograder (see nbgrader_config.py).
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

CHECKS_FILE = Path(__file__).resolve().parents[1] / "shared" / "checks.py"
METADATA_KEY = "dic_integrity"  # notebook metadata: the findings, carried from the scan to the grades
PRELUDE_KEY = "dic_fresh_checks"  # cell metadata of the hidden cells inserted before each test

# Modules whose functions tests rely on; rebinding or patching anything in them is flagged.
TESTING_MODULES = ("shared", "numpy", "torch", "builtins", "sys", "math", "unittest", "pytest", "nbgrader",
                   "importlib", "IPython")
# Attribute settings on those modules that lessons legitimately use.
ALLOWED_MODULE_SETTINGS = ("torch.backends.", "pandas.options.", "matplotlib.rcParams", "numpy.random.seed")
# Imports that give a notebook the means to tamper; IPython.display is fine.
SUSPICIOUS_IMPORTS = ("builtins", "importlib", "ctypes", "gc", "inspect", "unittest.mock", "mock", "IPython")
ALLOWED_IMPORTS = ("IPython.display",)
DYNAMIC_CALLS = {"exec": "runs code from a string", "eval": "evaluates code from a string",
                 "compile": "compiles code from a string", "__import__": "imports behind the scan's back",
                 "get_ipython": "reaches into the notebook's kernel"}
FRAME_ATTRIBUTES = {"f_globals", "f_locals", "f_builtins", "f_back", "__globals__", "__builtins__", "__dict__",
                    "__code__", "__closure__", "__setattr__", "__delattr__", "__class__", "__subclasses__",
                    "__defaults__", "__kwdefaults__"}
NAMESPACE_CALLS = {"globals", "locals", "vars"}
MUTATORS = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"}
ALLOWED_MAGICS = {"matplotlib", "time", "timeit", "capture", "config", "load_ext", "autoreload"}
# Exceptions and builtins whose rebinding always changes what a test means.
PROTECTED_BUILTINS = {"AssertionError", "Exception", "BaseException", "isinstance", "issubclass", "getattr",
                      "hasattr", "type", "float", "int", "bool", "abs", "all", "any", "len", "round", "print",
                      "__builtins__", "__import__"}


@dataclass
class Finding:
    """One reason to distrust a submission, tied to the cell it was found in."""

    cell: int  # index in the submitted notebook
    cell_id: str  # the grade_id, or "cell N" for a cell without one
    reason: str

    def __str__(self) -> str:
        return f"{self.cell_id}: {self.reason}"


# ---------------------------------------------------------------------------------------------
# Reading the notebook


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell) -> bool:
    """Return True for an autograded test cell (graded code, not a solution)."""
    meta = _meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_locked(cell) -> bool:
    """Return True for a cell students must not change (tests and read-only setup)."""
    meta = _meta(cell)
    return bool(meta.get("locked")) and not meta.get("solution")


def python_source(source: str) -> str:
    """Return a cell's source as plain Python: IPython magics and shell escapes become calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _dotted(node: ast.AST) -> str | None:
    """Return 'a.b.c' for a chain of names and attributes, or None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _root(node: ast.AST) -> ast.AST:
    """Return the innermost object of an attribute, subscript or call chain."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def import_bindings(tree: ast.AST, top_level_only: bool = True) -> dict[str, str]:
    """Return {name bound: what it refers to} for the import statements in ``tree``."""
    bindings = {}
    nodes = _module_level(tree) if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                bindings[name] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                bindings[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bindings


def _module_level(tree: ast.AST):
    """Yield the statements that run at module level: not inside functions, lambdas or classes."""
    stack = list(getattr(tree, "body", []))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _bound_names(node: ast.AST) -> list[str]:
    """Return the names a module-level statement binds or deletes."""
    targets: list[ast.AST] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.NamedExpr):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
    elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
        targets = [node.target]
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        targets = [node.optional_vars]
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    elif isinstance(node, ast.ExceptHandler) and node.name:
        return [node.name]
    names, targets = [], list(targets)  # a copy: the AST's own lists must stay as they are
    while targets:  # only plain names: `np.x = ...` patches np rather than rebinding it
        target = targets.pop()
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, ast.Tuple | ast.List):
            targets += target.elts
        elif isinstance(target, ast.Starred):
            targets.append(target.value)
    return names


# ---------------------------------------------------------------------------------------------
# The scan


@dataclass
class Context:
    """What the locked cells of the source notebook establish, which student code must leave alone."""

    locked_imports: dict[str, str]  # name -> module or module.attr, from the locked cells
    protected: set[str]  # names student code must not rebind

    @classmethod
    def from_cells(cls, locked_sources: list[str], test_sources: list[str]) -> Context:
        """Build the context from the locked cells' and the test cells' sources."""
        imports: dict[str, str] = {}
        read_by_tests: set[str] = set()
        for source in locked_sources:
            tree = _parse(source)
            if tree is not None:
                imports.update(import_bindings(tree))
        for source in test_sources:
            tree = _parse(source)
            if tree is not None:
                read_by_tests |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        # Imported names matter when a test reads them; a student may reuse a name like `data` elsewhere.
        imported = {name for name, target in imports.items()
                    if name in read_by_tests or target.startswith(("shared.checks", "numpy.testing"))}
        builtin_names = {name for name in read_by_tests if hasattr(builtins, name)}
        return cls(imports, imported | set(_checks_public_names()) | builtin_names | PROTECTED_BUILTINS)


def _checks_public_names() -> list[str]:
    tree = ast.parse(CHECKS_FILE.read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(python_source(source))
    except (SyntaxError, ValueError):
        return None  # a cell that does not parse cannot run either: it fails on its own


def _module_of(name: str, aliases: dict[str, str]) -> str | None:
    """Return the full dotted path of ``name`` if it starts with an imported name, else None."""
    head, _, rest = name.partition(".")
    if head not in aliases:
        return None
    return aliases[head] + (f".{rest}" if rest else "")


def _is_testing_target(full: str) -> bool:
    return full.split(".")[0] in TESTING_MODULES and not full.startswith(ALLOWED_MODULE_SETTINGS)


def scan_source(source: str, context: Context) -> list[str]:
    """Return the reasons why this student-editable cell may tamper with grading (empty if none)."""
    tree = _parse(source)
    if tree is None:
        return []
    reasons: list[str] = []
    own_imports = import_bindings(tree, top_level_only=False)
    aliases = {**context.locked_imports, **own_imports}

    for node in _module_level(tree):
        for name in _bound_names(node):
            if name in context.protected:
                reasons.append(f"rebinds `{name}`, which the tests rely on")
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name, target in import_bindings(ast.Module(body=[node], type_ignores=[])).items():
                if name in context.protected and context.locked_imports.get(name) != target:
                    reasons.append(f"imports something else as `{name}`, which the tests rely on")

    for node in ast.walk(tree):
        if isinstance(node, ast.Global | ast.Nonlocal):
            reasons += [f"declares `{n}` global in a function, to rebind it" for n in node.names
                        if n in context.protected]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [f"{node.module}.{a.name}" for a in node.names]
            for module in modules:
                if module.startswith(SUSPICIOUS_IMPORTS) and not module.startswith(ALLOWED_IMPORTS):
                    reasons.append(f"imports `{module}`, a way to change what the tests call")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                reasons += _patched_target(target, aliases, context)
        elif isinstance(node, ast.Call):
            reasons += _suspicious_call(node, aliases, context)
        elif isinstance(node, ast.Attribute) and node.attr in FRAME_ATTRIBUTES:
            reasons.append(f"uses `.{node.attr}`, a way to reach into other code's namespace")
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            reasons.append("uses `__builtins__`")
    return list(dict.fromkeys(reasons))  # each reason once, in order


def _patched_target(target: ast.AST, aliases: dict[str, str], context: Context) -> list[str]:
    """Reasons for an assignment target that changes a module or a protected object."""
    if isinstance(target, ast.Tuple | ast.List):
        return [r for element in target.elts for r in _patched_target(element, aliases, context)]
    if isinstance(target, ast.Attribute):
        name = _dotted(target)
        full = _module_of(name, aliases) if name else None
        if full is not None and _is_testing_target(full):
            return [f"patches `{name}` (that is `{full}`)"]
        root = _root(target)
        if isinstance(root, ast.Name) and root.id in context.protected and root.id not in aliases:
            return [f"changes an attribute of `{root.id}`, which the tests rely on"]
        return []
    if isinstance(target, ast.Subscript):
        container = target.value
        name = _dotted(container)
        full = _module_of(name, aliases) if name else None
        if full is not None and full.startswith(("sys.modules", "builtins")):
            return [f"changes `{name}`"]
        if isinstance(container, ast.Call) and isinstance(container.func, ast.Name) \
                and container.func.id in NAMESPACE_CALLS:
            return [f"writes into `{container.func.id}()`, to rebind names behind the scan's back"]
    return []


def _suspicious_call(node: ast.Call, aliases: dict[str, str], context: Context) -> list[str]:
    func = node.func
    name = _dotted(func)
    if isinstance(func, ast.Name):
        if func.id in DYNAMIC_CALLS and func.id not in context.locked_imports:
            return [f"calls `{func.id}`, which {DYNAMIC_CALLS[func.id]}"]
        if func.id in ("setattr", "delattr") and node.args:
            target = node.args[0]
            target_name = _dotted(target)
            full = _module_of(target_name, aliases) if target_name else None
            root = _root(target)
            if full is not None or (isinstance(root, ast.Name) and root.id in context.protected):
                return [f"calls `{func.id}` on `{target_name or ast.unparse(target)}`"]
    if isinstance(func, ast.Attribute):
        if func.attr in MUTATORS:
            owner = func.value
            owner_name = _dotted(owner)
            full = _module_of(owner_name, aliases) if owner_name else None
            if full is not None and full.startswith(("sys.modules", "builtins")):
                return [f"calls `{owner_name}.{func.attr}`"]
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id in NAMESPACE_CALLS:
                return [f"calls `{owner.func.id}().{func.attr}`, to rebind names behind the scan's back"]
        if name:
            full = _module_of(name, aliases)
            if full in ("importlib.reload", "builtins.setattr", "builtins.exec", "builtins.eval"):
                return [f"calls `{name}`"]
            if full and full.split(".")[-1] in ("patch", "setattr") and "mock" in full:
                return [f"calls `{name}`, a patching tool"]
    return []


def _magic_call_reasons(tree: ast.Module) -> list[str]:
    reasons = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Name)
                and node.func.value.func.id == "get_ipython"):
            continue
        method = node.func.attr
        first = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
        if method in ("run_line_magic", "run_cell_magic") and first in ALLOWED_MAGICS:
            continue
        if method == "system" or method == "getoutput":
            reasons.append("runs a shell command (`!...`), which can change files the grader reads")
        else:
            reasons.append(f"uses the IPython magic `{first or method}`")
    return reasons


def scan_cell(source: str, context: Context) -> list[str]:
    """Return the reasons this cell may tamper with grading, magics included."""
    tree = _parse(source)
    if tree is None:
        return []
    magics = _magic_call_reasons(tree)
    # Magic lines are judged above; the rest of the cell is scanned with them taken out.
    plain = scan_source(_without_magics(source), context)
    body = _allowed_cell_magic_body(source)
    if body is not None:
        plain += scan_cell(body, context)
    return list(dict.fromkeys(magics + plain))


def _without_magics(source: str) -> str:
    lines = source.splitlines()
    if lines and lines[0].startswith("%%"):
        return ""  # the body of a cell magic is a string: scanned separately if the magic is allowed
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def _allowed_cell_magic_body(source: str) -> str | None:
    first, _, body = source.partition("\n")
    if first.startswith("%%") and first[2:].split(" ")[0] in ALLOWED_MAGICS:
        return body
    return None


def scan_notebook(submitted, source_cells: dict[str, dict]) -> list[Finding]:
    """Return the findings for a submitted notebook.

    ``source_cells`` maps each grade_id of the source version to ``{"source", "locked", "cell_type",
    "test"}``; locked cells are compared with it, every other code cell is scanned.
    """
    locked_sources = [c["source"] for c in source_cells.values() if c["locked"]]
    test_sources = [c["source"] for c in source_cells.values() if c.get("test")]
    context = Context.from_cells(locked_sources, test_sources)
    findings: list[Finding] = []
    seen: set[str] = set()
    for index, cell in enumerate(submitted.cells):
        grade_id = _meta(cell).get("grade_id")
        label = grade_id or f"cell {index}"
        original = source_cells.get(grade_id) if grade_id else None
        if original is not None and original["locked"]:
            seen.add(grade_id)
            if not _same_locked_cell(cell, original):
                findings.append(Finding(index, label, "a locked cell was edited (the original was put back)"))
            continue
        if cell.get("cell_type") != "code":
            continue
        findings += [Finding(index, label, reason) for reason in scan_cell(cell.source, context)]
    for grade_id, original in source_cells.items():
        if original["locked"] and original.get("test") and grade_id not in seen:
            findings.append(Finding(-1, grade_id, "a locked test cell was deleted (the original was put back)"))
    return findings


def released_source(source: str) -> str:
    """Return a locked cell's source as students receive it: hidden tests taken out, as nbgrader does."""
    lines, hidden = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            lines.append(line)
    return "\n".join(lines)


def _normalised(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _same_locked_cell(cell, original: dict) -> bool:
    """Return True if a submitted locked cell is the released one (or the source itself), whitespace aside."""
    if cell.get("cell_type") != original.get("cell_type", cell.get("cell_type")):
        return False
    submitted = _normalised(cell.get("source", ""))
    return submitted in (_normalised(released_source(original["source"])), _normalised(original["source"]))


# ---------------------------------------------------------------------------------------------
# Fresh checks


def fresh_checks_cell(locked_sources: list[str], keep: frozenset[str] = frozenset()) -> str:
    """Return the code of the hidden cell run before each test: fresh check helpers, the locked imports again.

    Names in ``keep`` (defined by the student's solutions) are not imported again.
    """
    lines = [
        "# Inserted by the grader: fresh check helpers and imports, whatever the notebook did to them.",
        "import types as _dic_types",
        "_dic_checks = _dic_types.ModuleType('shared.checks')",
        f"_dic_checks.__file__ = {str(CHECKS_FILE)!r}",
        f"exec(compile({CHECKS_FILE.read_text()!r}, {str(CHECKS_FILE)!r}, 'exec'), _dic_checks.__dict__)",
    ]
    for source in locked_sources:
        tree = _parse(source)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "shared.checks":
                lines += [f"{a.asname or a.name} = _dic_checks.{a.name}" for a in node.names if a.name != "*"]
            elif isinstance(node, ast.Import) and any(a.name == "shared.checks" for a in node.names):
                lines += [f"{a.asname} = _dic_checks" for a in node.names if a.name == "shared.checks" and a.asname]
            elif isinstance(node, ast.ImportFrom) and node.module == "shared" and \
                    any(a.name == "checks" for a in node.names):
                lines += [f"{a.asname or a.name} = _dic_checks" for a in node.names if a.name == "checks"]
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a for a in node.names if (a.asname or a.name.split(".")[0]) not in keep]
                if names:
                    node.names = names
                    lines.append(ast.unparse(node))
    lines.append("del _dic_types, _dic_checks")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# nbgrader preprocessors (imported by name from nbgrader_config.py)

try:
    from nbgrader.preprocessors import NbGraderPreprocessor
except ImportError:  # nbgrader is a dependency of the course; this only keeps the scan importable alone
    NbGraderPreprocessor = object  # type: ignore[assignment,misc]


class ScanForTampering(NbGraderPreprocessor):
    """Before nbgrader restores locked cells: scan the submission and store the findings in its metadata."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            solutions = {c.name for c in notebook.solution_cells}
            tests = {c.name for c in notebook.grade_cells if c.cell_type == "code"} - solutions
            # Read-only cells and tests are locked; solution cells never count as locked (students write them).
            source_cells = {c.name: {"source": c.source, "locked": c.locked and c.name not in solutions,
                                     "cell_type": c.cell_type, "test": c.name in tests}
                            for c in notebook.source_cells}
        findings = scan_notebook(nb, source_cells)
        # Anchor each finding to the first test cell it can affect, by grade_id, since nbgrader may
        # insert restored cells and move indices.
        anchored = []
        for finding in findings:
            anchor = finding.cell_id if finding.cell < 0 else _first_test_from(nb, finding.cell)
            anchored.append({**asdict(finding), "anchor": anchor})
        nb.metadata[METADATA_KEY] = anchored
        for finding in findings:
            self.log.warning("Integrity: %s", finding)
        return nb, resources


def _first_test_from(nb, index: int) -> str | None:
    for cell in nb.cells[index:]:
        if is_test_cell(cell):
            return _meta(cell).get("grade_id")
    return None


class InsertFreshChecks(NbGraderPreprocessor):
    """Before execution: put a hidden fresh-checks cell in front of every autograded test cell."""

    def preprocess(self, nb, resources):
        locked = [c.source for c in nb.cells if c.cell_type == "code" and is_locked(c)]
        solutions = [_parse(c.source) for c in nb.cells if c.cell_type == "code" and _meta(c).get("solution")]
        defined = frozenset(name for tree in solutions if tree is not None
                            for node in tree.body for name in _bound_names(node))
        prelude = fresh_checks_cell(locked, keep=defined)
        cells = []
        for cell in nb.cells:
            if is_test_cell(cell):
                cells.append(nbformat.v4.new_code_cell(prelude, metadata={PRELUDE_KEY: True}))
            cells.append(cell)
        nb.cells = cells
        return nb, resources


class ApplyIntegrity(NbGraderPreprocessor):
    """After execution: remove the hidden cells, zero the flagged tests, and say why at the top."""

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get(PRELUDE_KEY)]
        findings = nb.metadata.get(METADATA_KEY, [])
        if not findings:
            return nb, resources
        zeroed = flagged_tests(nb)
        for cell in nb.cells:
            grade_id = _meta(cell).get("grade_id")
            if grade_id in zeroed:
                cell.outputs = [nbformat.v4.new_output(
                    "error", ename="IntegrityFlag", evalue=zeroed[grade_id], traceback=[
                        f"IntegrityFlag: not counted, for your mentor to review: {zeroed[grade_id]}"])]
        lines = "\n".join(f"- `{f['cell_id']}`: {f['reason']}" for f in findings)
        note = nbformat.v4.new_markdown_cell(
            "**Integrity check: flagged for your mentor's review.** The grader found code that can change "
            "what the tests check. Every autograded test from the first flagged cell on scores 0 until your "
            f"mentor has looked at it:\n\n{lines}", metadata={PRELUDE_KEY + "_note": True})
        if not nb.cells or not nb.cells[0].get("metadata", {}).get(PRELUDE_KEY + "_note"):
            nb.cells.insert(0, note)
        return nb, resources


def flagged_tests(nb) -> dict[str, str]:
    """Return {grade_id: reasons} for the test cells a notebook's integrity findings zero."""
    findings = nb.metadata.get(METADATA_KEY, [])
    order = [_meta(c).get("grade_id") for c in nb.cells if is_test_cell(c)]
    zeroed: dict[str, list[str]] = {}
    for finding in findings:
        anchor = finding.get("anchor")
        if anchor not in order:
            continue  # nothing graded after the flagged cell
        for grade_id in order[order.index(anchor):]:
            zeroed.setdefault(grade_id, []).append(f"{finding['cell_id']} {finding['reason']}")
    return {grade_id: "; ".join(dict.fromkeys(reasons)) for grade_id, reasons in zeroed.items()}
