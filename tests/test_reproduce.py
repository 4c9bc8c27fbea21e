"""Reproducibility: the same headline figures from two runs of a recipe."""

from pathlib import Path

from recipes_utils import reproduce

TEMPLATE = Path(__file__).resolve().parent.parent / "notebooks" / "template.ipynb"


def test_compare_reports_differences_and_skips_timings():
    a = [{"label": "EC50", "value": 3.07}, {"label": "time", "value": 17.0, "timing": True}]
    assert reproduce.compare(a, [dict(a[0]), {"label": "time", "value": 25.0, "timing": True}]) == []
    assert reproduce.compare(a, [{"label": "EC50", "value": 3.08}]) == ["'EC50': 3.07 then 3.08"]
    assert reproduce.compare(a, []) == ["'EC50' only in the first run"]
    assert reproduce.compare([], []) == ["no headline figures to compare"]


def test_the_template_gives_identical_headlines_twice(capsys):
    # The template samples with nutpie (4 chains in threads) from a fixed seed: a real test of the seeding.
    assert reproduce.main([str(TEMPLATE), "--scale", "smoke"]) == 0
    assert "identical in two runs" in capsys.readouterr().out
