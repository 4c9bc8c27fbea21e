"""The drc sweep's smoke version (benchmarks/drc_sweep.py --smoke): a new user's path on data the recipes do not use.

Default priors, the documented parameterisation rule and nutpie, on a two-curve set (S.alba: one curve per group is
the recommended fit, the two-group hierarchy is reported beside it) and a multi-curve set with shared controls
(acidiq). The full sweep over every set is run by hand; its table is in the README.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SWEEP = Path(__file__).resolve().parents[1] / "benchmarks" / "drc_sweep.py"


@pytest.fixture(scope="module")
def drc_sweep():
    spec = importlib.util.spec_from_file_location("drc_sweep", SWEEP)
    module = importlib.util.module_from_spec(spec)
    sys.modules["drc_sweep"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    yield module
    del sys.modules["drc_sweep"]


def test_every_drc_data_set_is_swept_or_left_out_with_a_reason(drc_sweep):
    on_disk = {p.name.removesuffix(".csv") for p in (SWEEP.parents[1] / "data" / "drc").glob("*.csv")}
    assert on_disk, "no drc data found"
    assert set(drc_sweep.SETS).isdisjoint(drc_sweep.LEFT_OUT)
    assert on_disk == set(drc_sweep.SETS) | set(drc_sweep.LEFT_OUT), "a drc data set is neither swept nor left out"
    assert all(reason.strip() for reason in drc_sweep.LEFT_OUT.values())


def test_unknown_data_set_is_refused(drc_sweep, tmp_path):
    with pytest.raises(SystemExit, match="unknown data set"):
        drc_sweep.main(["--smoke", "--sets", "ryegras", "--out", str(tmp_path / "x.csv")])


def test_smoke_sweep_fits_cleanly_and_agrees_with_least_squares(drc_sweep, tmp_path):
    out = tmp_path / "sweep.csv"
    df = drc_sweep.main(["--smoke", "--out", str(out)])
    assert out.exists()
    assert set(df["data set"]) == set(drc_sweep.SMOKE_SETS)
    assert np.all(df["ec50_low"] < df["ec50_median"]) and np.all(df["ec50_median"] < df["ec50_high"])
    recommended = df[~df["fit"].str.contains("not recommended")]
    # S.alba: one row per herbicide from the single-curve fits; acidiq: one per mixture from the hierarchy.
    assert set(recommended.loc[recommended["data set"] == "S.alba", "fit"]) == {"single curve per group"}
    assert len(recommended[recommended["data set"] == "S.alba"]) == 2
    assert set(recommended.loc[recommended["data set"] == "acidiq", "fit"]) == {"hierarchical"}
    assert (recommended["divergences"] == 0).all(), recommended[["data set", "curve", "divergences"]]
    assert (recommended["max_rhat"] <= 1.05).all(), recommended[["data set", "curve", "max_rhat"]]
    assert recommended["lsq_inside"].all(), recommended[["data set", "curve", "ec50_low", "lsq_ec50", "ec50_high"]]


def test_readme_table_has_one_row_per_fit(drc_sweep):
    import pandas as pd

    df = pd.DataFrame({
        "data set": ["a", "a", "b"], "fit": ["hierarchical", "hierarchical", "single curve"], "curve": [1, 2, "all"],
        "divergences": [0, 0, 3], "max_rhat": [1.004, 1.004, 1.02], "min_ess_bulk": [900.0, 900.0, 300.0],
        "lsq_inside": [True, False, True], "lsq_in_dose_range": [True, False, True], "target_accept": [0.95, 0.95, 0.99],
    })  # fmt: skip
    rows = drc_sweep.markdown_table(df).splitlines()[2:]
    assert rows == [
        "| a | hierarchical | 2 | 0 | 1.004 | 900 | 1 of 2 | 1 of 2 |",
        "| b | single curve (target 0.99) | 1 | 3 | 1.020 | 300 | 1 of 1 | 1 of 1 |",
    ]


def test_least_squares_reference_is_nan_where_a_curve_has_none(drc_sweep):
    conc = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 16.0] * 2)
    resp = 1.0 + 9.0 / (1.0 + (conc / 3.0) ** 2) + np.tile([0.05, -0.05], 6)
    assert drc_sweep.lsq_ec50(conc, resp) == pytest.approx(3.0, rel=0.05)
    # one dose (a group the hierarchical fit carries through its prior): least squares has no curve, so no reference
    assert np.isnan(drc_sweep.lsq_ec50(np.full(6, 2.0), resp[:6]))
    with pytest.raises(ValueError, match="response"):  # bad data is an error, not a missing reference
        drc_sweep.lsq_ec50(conc, np.where(np.arange(12) == 3, np.nan, resp))
