"""Helpers of the benchmarks: plate_nuts.py's per-variable digest, rhat_many_parameters.py's stationary chains (the
reference the 400,000-row fit's r-hats are read against), nutpie_backends.py's CSV merge."""

from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from benchmark_loader import load_benchmark as load

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_diagnostics_digest_summarises_each_variable_then_lists_every_r_hat_above_the_bound():
    plate_nuts = load("plate_nuts")
    summary = pd.DataFrame(
        {"r_hat": [1.001, 1.0100, 1.0200, 1.005, 1.0105],
         "ess_bulk": [4000.0, 3000.0, 900.0, 2500.0, 1200.0],
         "ess_tail": [2000.0, 1500.0, 700.0, 1800.0, 1100.0]},
        index=["top[0]", "top[1]", "top[2]", "sigma", "curve[0, top]"],
    )  # fmt: skip
    digest = plate_nuts.diagnostics_digest(summary, max_rhat=1.01)
    top = digest.loc["top"]
    assert top["n"] == 3 and top["max_r_hat"] == 1.02 and top["n_above"] == 1  # 1.0100 itself is not above
    assert top["min_ess_bulk"] == 900 and top["median_ess_bulk"] == 3000 and top["min_ess_tail"] == 700
    assert top["median_r_hat"] == 1.01
    assert digest.loc["sigma", "n_above"] == 0 and digest.loc["curve", "n"] == 1
    # then one row per value above the bound, under its own name
    assert digest.index.tolist() == ["curve", "sigma", "top", "top[2]", "curve[0, top]"]
    assert digest.loc["top[2]", "max_r_hat"] == 1.02 and digest.loc["curve[0, top]", "min_ess_tail"] == 1100


@pytest.mark.parametrize("rho, ess_share", [(0.0, 1.0), (0.5, 1 / 3)])
def test_stationary_chains_have_the_stated_autocorrelation_and_effective_sample_size(rho, ess_share):
    rhat_many = load("rhat_many_parameters")
    x = rhat_many.stationary_chains(np.random.default_rng(1), chains=4, draws=2000, params=200, rho=rho)
    assert x.shape == (4, 2000, 200)
    assert abs(x.var() - 1) < 0.02  # unit variance overall ...
    assert abs(x[:, 0].var() - 1) < 0.15  # ... and at the first draw: stationary from the start (800 values)
    lag1 = np.mean(x[:, 1:] * x[:, :-1]) / np.mean(x * x)
    assert lag1 == pytest.approx(rho, abs=0.01)
    # AR(1): ESS / draws = (1 - rho) / (1 + rho)
    ess = az.ess(az.convert_to_dataset({"x": x}))["x"].to_numpy() / (4 * 2000)
    assert np.median(ess) == pytest.approx(ess_share, rel=0.08)


def test_rhat_many_parameters_writes_one_row_per_run(tmp_path):
    rhat_many = load("rhat_many_parameters")
    out = tmp_path / "rhat.csv"
    rhat_many.main(["--params", "300", "--repeats", "2", "--rhos", "0,0.5", "--runs", "2x200,4x100", "--out", str(out)])
    table = pd.read_csv(out)
    assert len(table) == 2 * 2 * 2
    assert set(table["rho"]) == {0.0, 0.5} and set(zip(table["chains"], table["draws"])) == {(2, 200), (4, 100)}
    assert (table["max_rhat"] >= table["q99_rhat"]).all() and (table["q99_rhat"] >= table["median_rhat"]).all()
    # slower mixing, fewer effective draws, larger r-hats
    by_rho = table.groupby("rho")[["median_ess_bulk", "median_rhat"]].mean()
    assert by_rho.loc[0.5, "median_ess_bulk"] < 0.5 * by_rho.loc[0.0, "median_ess_bulk"]
    assert by_rho.loc[0.5, "median_rhat"] > by_rho.loc[0.0, "median_rhat"]


def test_nutpie_backends_replaces_the_rows_of_the_models_it_ran_and_keeps_the_others():
    merge_rows = load("nutpie_backends").merge_rows
    old = pd.DataFrame(
        {
            "model": ["template", "template", "softmax_2k"],
            "backend": ["numba-cold", "jax", "jax"],
            "sample_s": [0.1, 5.1, 48.6],
            "date": ["2026-11-23"] * 3,
        }
    )
    new = pd.DataFrame(
        {
            "model": ["softmax_2k", "softmax_2k"],
            "backend": ["numba-cold", "jax"],
            "sample_s": [43.1, 39.6],
            "date": ["2026-12-04"] * 2,
        }
    )
    merged = merge_rows(old, new)
    assert merged[["model", "backend", "sample_s"]].values.tolist() == [
        ["template", "numba-cold", 0.1],
        ["template", "jax", 5.1],
        ["softmax_2k", "numba-cold", 43.1],
        ["softmax_2k", "jax", 39.6],
    ]
    assert merge_rows(None, new).equals(new)
