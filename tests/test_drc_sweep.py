"""The drc sweep (benchmarks/drc_sweep.py): every dose-response data set of drc, with its stored results' schema.

The sweep's list must cover every drc data set but the event-time sets and the competition experiment; its smoke
version (a one-curve binomial comparison and a hierarchy with shared controls) must run end to end; the committed
CSV's latest run must have one row per curve of every set in the list, with the columns the benchmarks page reads.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SWEEP = REPO / "benchmarks" / "drc_sweep.py"
CSV = REPO / "benchmarks" / "results" / "drc_sweep.csv"
EXCLUDED = {"chickweed", "chickweed0", "germination", "RScompetition"}  # event times, and the competition experiment
COLUMNS = [
    "data set", "likelihood", "fit", "curve", "curves", "families", "family", "weight", "loo_reliable", "high_k",
    "refitted", "failed_families", "divergences", "target_accept", "max_rhat", "min_ess_bulk", "min_ess_tail",
    "ec10", "ec10_low", "ec10_high", "ml_ec10", "ml_ec10_inside", "ec10_flag",
    "ec50", "ec50_low", "ec50_high", "ml_ec50", "ml_ec50_inside", "ec50_flag",
    "dose_min", "dose_max", "seconds", "draws", "date", "machine", "commit",
]  # fmt: skip


@pytest.fixture(scope="module")
def drc_sweep():
    spec = importlib.util.spec_from_file_location("drc_sweep", SWEEP)
    module = importlib.util.module_from_spec(spec)
    sys.modules["drc_sweep"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    yield module
    del sys.modules["drc_sweep"]


def test_the_sweep_covers_every_drc_set_but_event_times_and_the_competition_experiment(drc_sweep):
    on_disk = {p.name.removesuffix(".csv") for p in (REPO / "data" / "drc").glob("*.csv")}
    assert len(on_disk) == 33, "drc ships 33 data sets"
    assert set(drc_sweep.LEFT_OUT) == EXCLUDED, "only the event-time sets and the competition experiment stay out"
    assert set(drc_sweep.SETS) == on_disk - EXCLUDED
    assert all(reason.strip() for reason in drc_sweep.LEFT_OUT.values())
    likelihoods = {spec.likelihood for spec in drc_sweep.SETS.values()}
    assert {"normal", "binomial", "negative_binomial"} <= likelihoods
    assert all(spec.trials for spec in drc_sweep.SETS.values() if spec.likelihood == "binomial")
    assert {n for n, spec in drc_sweep.SETS.items() if "bc5" in spec.families} == {"lettuce", "leaflength"}


def test_every_set_reads_into_a_tidy_table(drc_sweep):
    for name, spec in drc_sweep.SETS.items():
        data = drc_sweep.tidy(name, spec)
        assert {"concentration", "response", "group"} <= set(data.columns), name
        assert data["response"].notna().all() and (data["concentration"] >= 0).all(), name
        if spec.trials:
            assert (data["response"] <= data["trials"]).all(), name
        assert (data["group"] != "control").sum() > 0, name


def test_unknown_data_set_is_refused(drc_sweep, tmp_path):
    with pytest.raises(SystemExit, match="unknown data set"):
        drc_sweep.main(["--smoke", "--sets", "ryegras", "--out", str(tmp_path / "x.csv")])


def test_smoke_sweep_runs_end_to_end(drc_sweep, tmp_path):
    out = tmp_path / "sweep.csv"
    df = drc_sweep.main(["--smoke", "--out", str(out)])
    stored = pd.read_csv(out)
    assert len(stored) == len(df) and {"date", "machine", "commit"} <= set(stored.columns)
    assert set(df["data set"]) == set(drc_sweep.SMOKE_SETS)
    assert set(df.loc[df["data set"] == "mecter", "fit"]) == {"hierarchical"}
    assert len(df[df["data set"] == "mecter"]) == 5  # one row per curve; the shared controls are no curve
    fitted = df[df["family"] != "none"]
    assert len(fitted) == len(df), df.loc[df["family"] == "none", ["data set", "failed_families"]]
    assert fitted["family"].isin(drc_sweep.MONOTONE).all()
    for x in (10, 50):
        assert (fitted[f"ec{x}_low"] <= fitted[f"ec{x}"]).all() and (fitted[f"ec{x}"] <= fitted[f"ec{x}_high"]).all()
    assert (fitted["divergences"] == 0).all()  # fit_curves' check refuses a fit with any left


def test_markdown_table_has_one_row_per_set_and_fit(drc_sweep):
    df = pd.DataFrame({
        "data set": ["a", "a", "b"], "likelihood": "normal", "fit": ["hierarchical", "hierarchical", "one curve"],
        "curve": ["1", "2", "all"], "family": ["ll4", "ll4", "w1"], "divergences": [0, 0, 0],
        "max_rhat": [1.001, 1.004, 1.002], "min_ess_bulk": [900.0, 800.0, 1200.0],
        "ml_ec10_inside": [True, False, True], "ml_ec50_inside": [True, True, True],
    })  # fmt: skip
    rows = drc_sweep.markdown_table(df).splitlines()[2:]
    assert rows == [
        "| a | normal | hierarchical | 2 | ll4 | 0 | 1.004 | 800 | 1 of 2 | 2 of 2 |",
        "| b | normal | one curve | 1 | w1 | 0 | 1.002 | 1200 | 1 of 1 | 1 of 1 |",
    ]


def test_stored_sweep_has_one_row_per_curve_of_every_set(drc_sweep):
    from recipes_utils.measurements import latest_rows

    rows = pd.read_csv(CSV, keep_default_na=False, na_values=[""])
    assert "family" in rows, "the stored CSV has no run of the families sweep: run benchmarks/drc_sweep.py"
    # the latest row of each curve (rows of the 4PL-only sweep before it have no family)
    latest = latest_rows(rows[rows["family"].notna()], ("data set", "fit", "curve"))
    missing = [c for c in COLUMNS if c not in latest.columns]
    assert not missing, f"columns missing from drc_sweep.csv: {missing}"
    assert set(latest["data set"]) == set(drc_sweep.SETS), "the latest run does not cover every set"
    per_set = latest.groupby("data set")["fit"].agg(lambda f: set(f))
    assert all(len(fits) == 1 for fits in per_set), "one kind of fit per data set"
    likelihood = latest.groupby("data set")["likelihood"].agg(set)
    assert all(likelihood[n] == {spec.likelihood} for n, spec in drc_sweep.SETS.items()), "a set's stored likelihood"
    fitted = latest[latest["family"] != "none"]
    chosen = zip(fitted["data set"], fitted["family"])
    assert all(family in drc_sweep.SETS[name].families for name, family in chosen), "a family not among the candidates"
    assert fitted["weight"].between(0, 1).all()
    assert (fitted["max_rhat"] >= 1 - 1e-9).all() and (fitted["min_ess_bulk"] > 0).all()
    for x in (10, 50):
        finite = np.isfinite(fitted[f"ec{x}_high"])
        assert (fitted.loc[finite, f"ec{x}_low"] <= fitted.loc[finite, f"ec{x}_high"]).all()
