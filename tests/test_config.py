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
