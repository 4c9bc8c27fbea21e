"""The ECx coverage benchmark (benchmarks/ecx_coverage.py): its true curves and ECx against the library's, its
Clopper-Pearson intervals and simulated data, one short run end to end, and the stored CSV's schema."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from benchmark_loader import load_benchmark as load

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
RESULTS = BENCH / "results"


@pytest.fixture(scope="module")
def coverage():
    return load("ecx_coverage")


def test_every_curve_family_has_a_coverage_configuration(coverage):
    from recipes_utils.dose_response import CURVE_NAMES, LIKELIHOOD_NAMES

    configs = {(t.curve, t.likelihood) for t in coverage.TRUTHS}
    assert {c for c, lik in configs if lik == "normal"} == set(CURVE_NAMES)
    assert {lik for c, lik in configs if c == "ll4"} == set(LIKELIHOOD_NAMES)
    assert len(configs) == len(coverage.TRUTHS), "one truth per configuration"


def test_true_ecx_agree_with_the_library_inverse(coverage):
    # The benchmark computes its truths by root finding on curves written out from drc's formulas; the library
    # inverts its own curves in closed form (bisection for bc5). Two independent routes to the same dose.
    from recipes_utils.dose_response import curve_family

    for t in coverage.TRUTHS:
        if t.likelihood != "normal":
            continue
        kw = {"zero_limit": "bottom"} if t.curve == "ll3" else {"direction": "falling"} if t.curve == "bc5" else {}
        family = curve_family(t.curve, **kw)
        shapes = {k: np.asarray(v) for k, v in t.shapes.items()}
        for x in (10, 50):
            library = float(np.exp(family.log_dose_at(1 - x / 100, np.log(t.e), shapes)))
            assert t.ecx(x) == pytest.approx(library, rel=1e-8), (t.name, x)
        conc = np.array([0.0, 0.3, 3.0, 30.0])
        params = {"top": t.top, "bottom": t.bottom, family.location: np.log(t.e), **t.shapes}
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(family.curve(np.log(conc), params), t.mean(conc), rtol=1e-12, atol=1e-12)


def test_bc5_binomial_truth_is_the_library_curve_on_the_logit_scale(coverage):
    # Brain-Cousens under a logit link: the library draws the curve between the levels' logits and measures the
    # relative ECx on the probability scale (recipes_utils.dose_response.ecx); the benchmark's truth must do the same.
    from scipy.special import expit, logit

    from recipes_utils.dose_response import curve_family

    (t,) = [t for t in coverage.TRUTHS if t.name == "bc5/binomial"]
    family = curve_family("bc5", direction="falling")
    lt, lb = logit(t.top), logit(t.bottom)
    params = {"top": lt, "bottom": lb, family.location: np.log(t.e), **t.shapes}
    conc = np.array([0.0, 0.3, 3.0, 30.0])
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(expit(family.curve(np.log(conc), params)), t.mean(conc), rtol=1e-12)
    shapes = {k: np.asarray(v) for k, v in t.shapes.items()}
    for x in (10, 50):
        s = (logit(t.top + x / 100 * (t.bottom - t.top)) - lb) / (lt - lb)
        library = float(np.exp(family.log_dose_at(s, np.log(t.e), shapes)))
        assert t.ecx(x) == pytest.approx(library, rel=1e-8), x


def test_control_ecx_truths_solve_their_own_level(coverage):
    # kind="control": the dose where the curve passes top (1 - x/100) falling, top (1 + x/100) rising, for good
    for t in coverage.TRUTHS:
        sign = np.sign(t.top - t.bottom)
        for x in (10, 50):
            dose = t.ecx(x, "control")
            assert t.mean(np.array([dose]))[0] == pytest.approx(t.top * (1 - sign * x / 100), rel=1e-6), (t.name, x)
            after = np.geomspace(dose * 1.01, dose * 1e4, 200)
            assert (sign * (t.mean(after) - t.top * (1 - sign * x / 100)) < 0).all(), (t.name, x)
    with pytest.raises(ValueError, match="kind must be"):
        coverage.TRUTHS[0].ecx(10, "absolute")


def test_truths_put_ec10_and_ec50_inside_the_tested_doses(coverage):
    lo, hi = coverage.DOSES[coverage.DOSES > 0].min(), coverage.DOSES.max()
    for t in coverage.TRUTHS:
        assert lo < t.ecx(10) < t.ecx(50) < hi, t.name


def test_clopper_pearson_interval(coverage):
    from scipy.stats import binomtest

    for k, n in ((0, 10), (7, 10), (282, 300), (300, 300)):
        ci = binomtest(k, n).proportion_ci(0.95, method="exact")
        assert coverage.clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-10)


def test_simulated_data_have_the_likelihoods_support(coverage):
    rng = np.random.default_rng(0)
    conc = np.repeat(coverage.DOSES, coverage.REPLICATES)
    for t in coverage.TRUTHS:
        y = t.simulate(conc, rng)
        assert y.shape == conc.shape and np.isfinite(y).all(), t.name
        if t.likelihood == "binomial":
            assert ((y >= 0) & (y <= coverage.TRIALS) & (y == np.round(y))).all()
        elif t.likelihood in ("poisson", "negative_binomial"):
            assert ((y >= 0) & (y == np.round(y))).all()
        elif t.likelihood == "beta":
            assert ((y > 0) & (y < 1)).all()


def test_a_short_run_counts_hits_against_the_truth(coverage, tmp_path):
    # the benchmark's own path (one compiled sampler, the response swapped per data set, ECx draws, the CSV row) on
    # 3 data sets; a curve or inverse gone wrong shows in the full run's coverage, this catches a broken pipeline
    df = coverage.main(["--configs", "ll4/normal", "--datasets", "3", "--out", str(tmp_path / "cov.csv")])
    (row,) = df.to_dict("records")
    (t,) = [t for t in coverage.TRUTHS if t.name == "ll4/normal"]
    assert row["datasets"] == 3 and row["true_ec50"] == pytest.approx(t.e) and row["true_ec10"] == t.ecx(10)
    for x in (10, 50):
        assert row[f"coverage_ec{x}"] in (0, 1 / 3, 2 / 3, 1)
        assert row[f"coverage_ec{x}_low"] <= row[f"coverage_ec{x}"] <= row[f"coverage_ec{x}_high"]
    assert row["max_rhat"] >= 1 - 1e-9 and row["median_seconds_per_fit"] > 0
    assert len(pd.read_csv(tmp_path / "cov.csv")) == 1


def test_each_data_set_replaces_the_observed_response(coverage):
    # one compiled model serves every data set: the likelihood must read the swapped-in response, not the expected
    # data the priors were read from (else every fit would be of the same, noiseless data)
    (t,) = [t for t in coverage.TRUTHS if t.name == "ll4/binomial"]
    conc = np.repeat(coverage.DOSES, coverage.REPLICATES)
    _, model, shared = coverage._observed_model(t, conc)
    logp, point = model.compile_logp(), model.initial_point()
    y = t.simulate(conc, np.random.default_rng(0))
    shared.set_value(t.expected(conc).astype(shared.dtype))
    at_expected = logp(point)
    shared.set_value(y.astype(shared.dtype))
    assert logp(point) != pytest.approx(at_expected)


def test_stored_coverage_has_one_row_per_configuration(coverage):
    # the committed CSV's schema and internal consistency (its numbers come from the full run, not from this test)
    from recipes_utils.measurements import latest_rows

    rows = pd.read_csv(RESULTS / "ecx_coverage.csv")
    latest = latest_rows(rows, ("curve", "likelihood", "kind"))
    relative = latest[latest["kind"] == "relative"]
    assert {(c, lik) for c, lik in zip(relative["curve"], relative["likelihood"])} == {
        (t.curve, t.likelihood) for t in coverage.TRUTHS}  # fmt: skip
    assert set(latest["kind"]) <= {"relative", "control"}
    assert not latest.duplicated(["curve", "likelihood", "kind"]).any()
    assert (latest["datasets"] >= 100).all(), "at least 100 simulated data sets per configuration"
    for x in (10, 50):
        cov, lo, hi = latest[f"coverage_ec{x}"], latest[f"coverage_ec{x}_low"], latest[f"coverage_ec{x}_high"]
        assert cov.between(0, 1).all() and lo.between(0, 1).all() and hi.between(0, 1).all()
        assert ((lo <= cov) & (cov <= hi)).all()
        in_target = cov.between(*coverage.TARGET)
        assert (latest[f"ec{x}_in_target"] == in_target).all()
    for column in ("date", "machine", "commit", "fits_with_divergences", "max_rhat", "median_seconds_per_fit"):
        assert column in latest.columns
