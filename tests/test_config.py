import pytest

from recipes_utils import config


@pytest.mark.parametrize(
    "value, expected", [(None, "full"), ("", "full"), ("full", "full"), ("smoke", "smoke"), (" SMOKE ", "smoke")]
)
def test_scale_from_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("RECIPES_SCALE", raising=False)
    else:
        monkeypatch.setenv("RECIPES_SCALE", value)
    assert config.get_scale() == expected
    assert config.is_smoke() == (expected == "smoke")


def test_unknown_scale_lists_allowed_values(monkeypatch):
    monkeypatch.setenv("RECIPES_SCALE", "tiny")
    with pytest.raises(ValueError, match=r"'full', 'smoke'.*got 'tiny'"):
        config.get_scale()


def test_by_scale(monkeypatch):
    monkeypatch.setenv("RECIPES_SCALE", "smoke")
    assert config.by_scale(full=1000, smoke=10) == 10
    monkeypatch.setenv("RECIPES_SCALE", "full")
    assert config.by_scale(full=1000, smoke=10) == 1000


def test_importing_the_package_turns_off_pytensors_numba_disk_cache():
    # Cached and freshly compiled Numba code gave different draws (see recipes_utils._disable_numba_disk_cache).
    import subprocess
    import sys

    code = "import recipes_utils, pytensor; print(pytensor.config.numba__cache)"
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTENSOR_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"
    code = "import pytensor, recipes_utils; print(pytensor.config.numba__cache)"  # pytensor imported first
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"
