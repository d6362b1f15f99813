"""The repository's shape and its install files: what a newcomer relies on before any notebook runs."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
TOP_LEVEL = ["week1_regression", "week2_mlp_pytorch", "week3_cnn_lenet", "week4_papers", "week5_autoencoders",
             "week6_beyond_classification", "hackathons", "shared", "tests", "environment.yml", "pyproject.toml",
             "README.md"]


def _requirements():
    return {Requirement(r).name: Requirement(r) for r in PYPROJECT["project"]["dependencies"]}


def test_layout_is_complete():
    missing = [name for name in TOP_LEVEL if not (REPO / name).exists()]
    assert not missing, f"missing from the repository root: {missing}"


def test_core_packages_are_runtime_dependencies():
    names = set(_requirements())
    assert {"torch", "torchvision", "numpy", "pandas", "matplotlib", "jupyterlab", "tqdm"} <= names
    dev = {Requirement(r).name for r in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval", "pytest-xdist", "ruff"} <= dev


def test_dependencies_are_ranges_and_torch_is_never_newer_than_2_14_1():
    for name, requirement in _requirements().items():
        assert "==" not in str(requirement.specifier), f"{name} is pinned; use a range"
    torch = _requirements()["torch"].specifier
    assert Version("2.14.1") in torch
    assert not any(Version(v) in torch for v in ("2.14.2", "2.15.0", "3.0.0")), "torch must stay <= 2.14.1"


def test_environment_yml_installs_exactly_the_project():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    # Conda brings Python and pip only; every package comes from pyproject.toml via the editable install.
    assert sorted(re.split(r"[=<> ]", d)[0] for d in conda) == ["pip", "python"]
    assert pip == ["-e .[dev]"]
    python = next(d for d in conda if d.startswith("python"))
    version = Version(python.split("=")[1] + ".0")
    assert version in SpecifierSet(PYPROJECT["project"]["requires-python"])


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^make test$", (REPO / ".ci" / "run").read_text(), re.M)


# Imported only where the code checks first that it is installed, and says how to get it.
OPTIONAL_IMPORTS = {"wandb"}  # hackathons/to_production/01: a hosted tracker, behind USE_WANDB


def _imported_modules() -> dict[str, set[str]]:
    """Return {top-level module: files importing it} over the repository's Python files and notebook cells."""
    import ast
    import json
    import subprocess

    listed = subprocess.run(["git", "ls-files", "*.py", "*.ipynb"], cwd=REPO, capture_output=True, text=True)
    found: dict[str, set[str]] = {}
    for name in listed.stdout.split():
        path = REPO / name
        if path.suffix == ".py":
            sources = [path.read_text(encoding="utf-8")]
        else:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        for source in sources:
            try:
                tree = ast.parse(source)
            except SyntaxError:  # a cell with IPython's magics (%%writefile, !pip): no imports of ours to see
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    found.setdefault(module.split(".")[0], set()).add(name)
    return found


def test_every_third_party_import_is_declared():
    import importlib.metadata
    import sys

    from packaging.utils import canonicalize_name

    ours = {"shared", "contest", "mentor_tools", "inference_service", "bench", "book", "tests", "conftest"}
    extras = PYPROJECT["project"]["optional-dependencies"]
    declared = {canonicalize_name(Requirement(r).name) for r in
                PYPROJECT["project"]["dependencies"] + [r for group in extras.values() for r in group]}
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, where in _imported_modules().items():
        if module in sys.stdlib_module_names or module in ours or module in OPTIONAL_IMPORTS:
            continue
        names = {canonicalize_name(d) for d in distributions.get(module, [module])}
        if not names & declared:
            undeclared[module] = sorted(where)[:3]
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
