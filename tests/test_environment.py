"""environment.yml, pyproject.toml and requirements.lock must not drift apart."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent


def pyproject_deps() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {Requirement(d).name.lower(): str(Requirement(d).specifier) for d in deps}


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
