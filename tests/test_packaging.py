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
             "hackathons", "shared", "tests", "environment.yml", "pyproject.toml", "README.md"]


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
