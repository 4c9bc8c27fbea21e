"""The binomial scale benchmark (benchmarks/binomial_scale.py): its simulated mortality screen and true EC10, and
the stored CSV's schema."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from benchmark_loader import load_benchmark as load

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
RESULTS = BENCH / "results"


def test_binomial_scale_simulation_is_a_mortality_screen():
    scale = load("binomial_scale")
    data, truth = scale.simulate(20, seed=3)
    assert len(data) == 20 * scale.DOSES.size * scale.WELLS and len(truth) == 20
    assert ((data["dead"] >= 0) & (data["dead"] <= data["total"])).all()
    controls = data[data["concentration"] == 0]
    highest = data[data["concentration"] == scale.DOSES.max()]
    assert controls["dead"].sum() / controls["total"].sum() < 0.15
    assert highest["dead"].sum() / highest["total"].sum() > 0.8
    # the EC10 of a 4PL: where it has moved 10% of the way from top to bottom
    t = truth.iloc[0]
    u = (t["ec10"] / np.exp(t["log_ec50"])) ** t["hill"]
    assert 1 / (1 + u) == pytest.approx(0.9)


def test_stored_binomial_scale_rows():
    rows = pd.read_csv(RESULTS / "binomial_scale.csv")
    for column in ("curves", "chains", "tune", "draws", "seed", "fit_seconds", "divergences", "max_rhat",
                   "n_rhat_above_1_01", "min_ess_bulk", "coverage_log_ec50", "coverage_log_ec10", "goal_met", "date",
                   "machine", "commit"):  # fmt: skip
        assert column in rows.columns, column
    assert (rows["curves"] >= 3000).any(), "no run at 3,000 curves"
    assert rows["coverage_log_ec50"].between(0, 1).all() and rows["coverage_log_ec10"].between(0, 1).all()
    assert not rows.duplicated(["curves", "chains", "tune", "draws", "seed", "date", "commit"]).any()
