""".conda-auto-env in bash, with a stub `conda` on PATH that logs its calls."""

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HOOK = REPO / ".conda-auto-env"

STUB = textwrap.dedent(
    """\
    #!/usr/bin/env bash
    # Stub conda: logs every call; `env create` records the env so `env list` shows it.
    echo "$*" >> "$STUB_LOG"
    case "$1 $2" in
      "env list") echo "# conda environments:"; echo "base  /opt/conda"; cat "$STUB_ENVS" 2>/dev/null ;;
      "env create") name=$(head -n1 environment.yml | sed 's/name:[[:space:]]*//'); echo "$name  /opt/conda/envs/$name" >> "$STUB_ENVS" ;;
    esac
    exit 0
    """
)


@pytest.fixture
def sandbox(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("bash not available")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "conda"
    stub.write_text(STUB)
    stub.chmod(0o755)
    project = tmp_path / "project"
    project.mkdir()
    (project / "environment.yml").write_text((REPO / "environment.yml").read_text())
    other = tmp_path / "elsewhere"
    other.mkdir()
    return tmp_path, bin_dir, project, other


def run_bash(tmp_path, bin_dir, script):
    log = tmp_path / "log"
    log.write_text("")
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "STUB_LOG": str(log),
        "STUB_ENVS": str(tmp_path / "envs"),
        "HOME": str(tmp_path),
    }
    full = f"set -e\ncd {tmp_path}\nsource {HOOK}\n{script}\n"
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", full], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return [line for line in log.read_text().splitlines() if line]


def test_first_line_names_the_env():
    assert (REPO / "environment.yml").read_text().splitlines()[0] == "name: bayesian-analysis-recipes"


def test_creates_once_then_activates(sandbox):
    tmp_path, bin_dir, project, _other = sandbox
    calls = run_bash(tmp_path, bin_dir, f"cd {project}")
    assert calls == ["env list", "env create -f environment.yml", "activate bayesian-analysis-recipes"]
    # Second visit in a new shell: the env exists now, so activate without creating.
    calls = run_bash(tmp_path, bin_dir, f"cd {project}")
    assert calls == ["env list", "activate bayesian-analysis-recipes"]


def test_nothing_outside_a_project(sandbox):
    tmp_path, bin_dir, _project, other = sandbox
    assert run_bash(tmp_path, bin_dir, f"cd {other}; cd {tmp_path}; pushd {other} >/dev/null") == []


def test_no_reactivation_when_already_active(sandbox):
    tmp_path, bin_dir, project, other = sandbox
    script = f"export CONDA_DEFAULT_ENV=bayesian-analysis-recipes\ncd {project}\ncd {other}\ncd {project}"
    assert run_bash(tmp_path, bin_dir, script) == []


def test_cd_keeps_its_exit_status(sandbox):
    tmp_path, bin_dir, _project, _other = sandbox
    calls = run_bash(tmp_path, bin_dir, "if cd /no/such/dir 2>/dev/null; then exit 3; fi")
    assert calls == []
