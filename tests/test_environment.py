"""environment.yml, pyproject.toml and requirements.lock must not drift apart, and `pip install -e .` must install
what the recipes import (the tools go in the optional groups)."""

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import recipes_utils

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
TOOLS = {"pytest", "nbval", "pytest-xdist", "ruff", "playwright", "nbclient", "nbconvert", "nbformat", "jupyterlab"}


def as_dict(deps: list[str]) -> dict[str, str]:
    return {Requirement(d).name.lower(): str(Requirement(d).specifier) for d in deps}


def pyproject_deps() -> dict[str, str]:
    """Every package pyproject.toml names: its dependencies and its optional groups'."""
    out = as_dict(PROJECT["dependencies"])
    for group in PROJECT.get("optional-dependencies", {}).values():
        out |= as_dict(group)
    return out


def test_the_recipes_needs_are_dependencies_and_the_tools_are_optional():
    runtime = as_dict(PROJECT["dependencies"])
    optional = {name for group in PROJECT["optional-dependencies"].values() for name in as_dict(group)}
    assert not TOOLS & set(runtime), f"tools belong in an optional group: {sorted(TOOLS & set(runtime))}"
    assert TOOLS <= optional, f"missing from the optional groups: {sorted(TOOLS - optional)}"
    assert not set(runtime) & optional, "a package is named twice"
    assert set(PROJECT["optional-dependencies"]) == {"dev", "lab"}
    makefile = (REPO / "Makefile").read_text()
    assert '-e ".[dev,lab]" -c requirements.lock' in makefile, "make installs the package with both groups"


def installed_closure(names) -> set[str]:
    """The distributions ``names`` pull in (themselves included), read from what is installed; extras left out."""
    seen, todo = set(), [n.lower() for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in importlib.metadata.requires(name) or []:
            r = Requirement(req)
            if r.marker is None or r.marker.evaluate({"extra": ""}):
                todo.append(r.name.lower())
    return {n.replace("_", "-") for n in seen}


def third_party_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"recipes_utils", "__future__"}


def recipe_imports() -> dict[str, set[str]]:
    """Top-level modules imported by the notebooks' code cells and by recipes_utils' statistics modules."""
    out = {}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                code = "".join(cell["source"])
                lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!"))]
                for module in third_party_imports("\n".join(lines)):
                    out.setdefault(module, set()).add(path.name)
    package = REPO / "recipes_utils"
    for module in recipes_utils.STATISTICS:
        files = sorted((package / module).rglob("*.py")) if (package / module).is_dir() else [package / f"{module}.py"]
        for path in files:
            for name in third_party_imports(path.read_text()):
                out.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return out


def test_pip_install_e_dot_installs_what_the_recipes_import():
    closure = installed_closure(as_dict(PROJECT["dependencies"]))
    by_module = importlib.metadata.packages_distributions()
    missing = {}
    for module, where in recipe_imports().items():
        dists = {d.lower().replace("_", "-") for d in by_module.get(module, [])}
        if not dists & closure:
            missing[module] = sorted(where)
    assert not missing, f"imported but not installed by `pip install -e .` (add to dependencies): {missing}"


def test_third_party_imports_sees_a_missing_package():
    assert third_party_imports("import os\nfrom seaborn import x\nimport numpy.linalg") == {"seaborn", "numpy"}
    closure = installed_closure(["tqdm"])
    assert "tqdm" in closure and "pymc" not in closure
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        installed_closure(["no-such-distribution-xyz"])


def conda_deps() -> dict[str, str]:
    """The conda packages of environment.yml (python, pip and the pip section left out)."""
    out, in_deps = {}, False
    for line in (REPO / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and re.match(r"^\s{2}- [A-Za-z]", line):
            spec = line.split("- ", 1)[1].strip()
            if spec.startswith("pip:"):
                continue
            req = Requirement(spec.replace("=", "==", 1) if re.match(r"^[\w-]+=[^=]", spec) else spec)
            if req.name not in ("python", "pip"):
                out[req.name.lower()] = str(req.specifier)
        elif in_deps and not line.startswith(" "):
            in_deps = False
    return out


def test_environment_yml_matches_pyproject():
    assert conda_deps() == pyproject_deps()


def test_environment_yml_header_and_editable_install():
    text = (REPO / "environment.yml").read_text()
    assert text.splitlines()[0] == "name: bayesian-analysis-recipes"
    assert "- conda-forge" in text
    assert re.search(r"^\s+- python=3\.11$", text, re.MULTILINE)
    assert re.search(r"^\s+- -e \.$", text, re.MULTILINE)


def test_lock_pins_every_dependency_within_bounds():
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    for name, spec in pyproject_deps().items():
        assert name in pins, f"{name} is not pinned in requirements.lock"
        assert Requirement(f"{name}{spec}").specifier.contains(pins[name]), f"{name}=={pins[name]} outside {spec}"


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    commands = [ln for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert commands[-1].strip() == "make test"
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make run" in readme
