"""The integrity scan and the fresh check helpers, without a kernel (the end-to-end proofs are in
test_mentor_grading.py)."""

from __future__ import annotations

import sys
import types

import nbformat
import pytest

from mentor_tools import integrity

LOCKED = ["import numpy as np\nimport torch\nfrom shared import data\n"
          "from shared.checks import check_close, check_shape"]
TESTS = ["check_close(square(3.0), 9.0)\nassert abs(mean([1.0]) - 1.0) < 1e-9\n### BEGIN HIDDEN TESTS\nx = 1\n"
         "### END HIDDEN TESTS"]

# Ways a submission can try to fake its grade; every one must be flagged.
TRICKS = {
    "rebinding the check helpers": "check_close = lambda *a, **k: None\ncheck_shape = lambda *a, **k: None",
    "setattr on shared.checks": "import shared.checks\nfor name in dir(shared.checks):\n"
                                "    setattr(shared.checks, name, lambda *a, **k: None)",
    "patching numpy": "np.allclose = lambda *a, **k: True",
    "patching numpy.testing": "import numpy.testing as npt\nnpt.assert_allclose = print",
    "sys.modules": "import sys\nsys.modules['shared.checks'] = types.SimpleNamespace(check_close=print)",
    "sys.modules.update": "import sys\nsys.modules.update({'shared.checks': None})",
    "builtins": "import builtins\nbuiltins.abs = lambda x: 0",
    "shadowing a builtin the tests use": "abs = lambda x: 0",
    "AssertionError": "AssertionError = ZeroDivisionError",
    "globals()": "globals()['check_close'] = print",
    "exec": "exec('check' + '_close = print')",
    "eval": "f = eval('lambda *a: None')",
    "kernel hooks": "get_ipython().events.register('post_run_cell', lambda *a: None)",
    "a shell command": "!sed -i 's/raise/pass/' shared/checks.py",
    "an unknown magic": "%run cheat.py",
    "a magic body": "%%time\ncheck_close = print",
    "a swapped code object": "check_close.__code__ = (lambda *a, **k: None).__code__",
    "frame tricks": "import sys\nsys._getframe().f_globals['check_close'] = print",
    "mock.patch": "from unittest import mock\nmock.patch('numpy.allclose', return_value=True).start()",
    "importing a stand-in": "from numpy.testing import assert_allclose as check_close",
    "global in a function": "def f():\n    global check_close\n    check_close = print\nf()",
    "torch functions": "torch.allclose = lambda *a, **k: True",
    "__import__": "__import__('shared.checks').checks.check_close = print",
}

# Ordinary notebook code that must pass unflagged.
HONEST = {
    "a solution": "def square(x):\n    out = np.zeros_like(x)\n    for i in range(3):\n        out[i] = x[i] ** 2\n"
                  "    return out",
    "plots and settings": "%matplotlib inline\nimport matplotlib.pyplot as plt\n"
                          "plt.rcParams['figure.figsize'] = (4, 3)\n"
                          "torch.backends.cudnn.benchmark = True\nnp.random.seed(0)",
    "reusing names tests do not read": "data = [1, 2, 3]\nmodel = torch.nn.Linear(2, 3)\nsum = 0",
    "importing again": "import numpy as np\nfrom shared.checks import check_close",
    "timing a cell": "%%time\nx = np.ones(3)",
    "local names in functions": "def f(np):\n    abs = 3\n    return np + abs",
    "attributes of own objects": "model = torch.nn.Linear(2, 2)\nmodel.weight.requires_grad = False\n"
                                 "setattr(model, 'x', 1)",
    "syntax errors fail on their own": "def f(:\n",
}


@pytest.fixture(scope="module")
def context():
    return integrity.Context.from_cells(LOCKED, TESTS)


@pytest.mark.parametrize("name", TRICKS)
def test_each_trick_is_flagged(context, name):
    assert integrity.scan_cell(TRICKS[name], context), f"{name} was not flagged"


@pytest.mark.parametrize("name", HONEST)
def test_honest_code_is_not_flagged(context, name):
    assert integrity.scan_cell(HONEST[name], context) == []


def _cell(source, grade_id=None, *, locked=False, solution=False, grade=False):
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "locked": locked, "solution": solution, "grade": grade,
                                     "schema_version": 3}
    return cell


def _source_cells():
    return {"setup": {"source": LOCKED[0], "locked": True, "cell_type": "code", "test": False},
            "square": {"source": "def square(x):\n    return x * x", "locked": False, "cell_type": "code",
                       "test": False},
            "test_square": {"source": TESTS[0], "locked": True, "cell_type": "code", "test": True}}


def _submission(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_the_released_notebook_passes_and_edited_or_deleted_locked_cells_are_flagged():
    released_test = integrity.released_source(TESTS[0])
    assert "HIDDEN" not in released_test and "x = 1" not in released_test
    honest = _submission(_cell(LOCKED[0], "setup", locked=True), _cell("def square(x):\n    return x ** 2", "square",
                                                                         solution=True),
                         _cell(released_test + "\n", "test_square", locked=True, grade=True))
    assert integrity.scan_notebook(honest, _source_cells()) == []

    edited = _submission(_cell(LOCKED[0], "setup", locked=True), _cell("def square(x):\n    return 9", "square",
                                                                         solution=True),
                         _cell("pass", "test_square", locked=True, grade=True))
    findings = integrity.scan_notebook(edited, _source_cells())
    assert [(f.cell_id, "edited" in f.reason) for f in findings] == [("test_square", True)]

    deleted = _submission(_cell(LOCKED[0], "setup", locked=True), _cell("x = 1\ncheck_close = print"))
    reasons = {f.cell_id: f.reason for f in integrity.scan_notebook(deleted, _source_cells())}
    assert "check_close" in reasons["cell 1"] and "deleted" in reasons["test_square"]


def test_flagged_tests_are_those_from_the_flagged_cell_on():
    nb = _submission(_cell("", "test_a", locked=True, grade=True), _cell("", "b", solution=True),
                     _cell("", "test_b", locked=True, grade=True), _cell("", "test_c", locked=True, grade=True))
    nb.metadata[integrity.METADATA_KEY] = [{"cell": 1, "cell_id": "b", "reason": "rebinds x", "anchor": "test_b"}]
    assert integrity.flagged_tests(nb) == {"test_b": "b rebinds x", "test_c": "b rebinds x"}


def test_fresh_checks_ignore_a_patched_module_and_rebound_names(monkeypatch):
    fake = types.ModuleType("shared.checks")
    fake.check_close = lambda *a, **k: None
    monkeypatch.setitem(sys.modules, "shared.checks", fake)
    namespace = {"check_close": lambda *a, **k: None, "data": "the student's own"}
    exec(integrity.fresh_checks_cell(LOCKED, keep=frozenset({"data"})), namespace)
    with pytest.raises(AssertionError, match="is off"):
        namespace["check_close"](0.0, 9.0, "square(3)")
    assert namespace["data"] == "the student's own"  # a name the student's solution defines is kept
    assert "_dic_checks" not in namespace
