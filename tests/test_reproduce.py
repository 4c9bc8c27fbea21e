"""Reproducibility: the same headline figures, within their tolerances, from a fresh and a cached run."""

from pathlib import Path

from recipes_utils import reproduce

TEMPLATE = Path(__file__).resolve().parent.parent / "notebooks" / "template.ipynb"


def rec(label, value, tolerance=None, timing=False):
    out = {"label": label, "value": value, "timing": timing}
    if tolerance is not None:
        out["tolerance"] = tolerance
    return out


def test_compare_accepts_drift_within_the_tolerance_and_names_the_rest():
    a = [rec("EC50", 3.079, 0.012), rec("time", 17.0, timing=True), rec("interval", "[2.70, 3.46]"), rec("n", 26, 0)]
    same = [rec("EC50", 3.074, 0.012), rec("time", 25.0, timing=True), rec("interval", "[2.70, 3.46]"), rec("n", 26, 0)]
    assert reproduce.compare(a, same) == []
    drifted = [rec("EC50", 3.100, 0.012), rec("interval", "[2.70, 3.45]"), rec("n", 27, 0)]
    assert reproduce.compare(a, drifted) == [
        "'EC50': 3.079 then 3.1, a drift of 0.021 outside the band ±0.012",
        "'interval': '[2.70, 3.46]' then '[2.70, 3.45]' (strings must match exactly)",
        "'n': 26 then 27, a drift of 1 outside the band ±0",
    ]
    assert reproduce.compare(a, []) == [
        "'EC50' only in the first run",
        "'interval' only in the first run",
        "'n' only in the first run",
    ]
    assert reproduce.compare([], []) == ["no headline figures to compare"]


def test_the_template_reproduces_from_a_fresh_and_a_cached_compile(capsys):
    # The template samples with nutpie (4 chains in threads) from a fixed seed, compiled afresh and then loaded from
    # PyTensor's Numba cache: its figures must agree within their Monte Carlo errors.
    assert reproduce.main([str(TEMPLATE), "--scale", "smoke"]) == 0
    assert "agree within their tolerances" in capsys.readouterr().out
