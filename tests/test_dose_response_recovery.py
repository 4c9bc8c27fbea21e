"""Small NUTS fits of simulated data with known truth: binomial, Poisson (aggregated, many curves) and hormesis
(Brain-Cousens) recover their parameters and ECx; compare_curves stacks families and its exact leave-one-out refits
agree with PSIS-LOO where PSIS is reliable."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from recipes_utils.dose_response import (
    compare_curves,
    curve_family,
    dose_response_model,
    ecx_table,
    fit_curves,
    hierarchical_dose_response,
    log_likelihood,
)

# A few seconds per fit once compiled. Too few draws for fit_curves's check (bulk and tail ESS >= 400): the tests check
# r-hat themselves (converged), and the truth against the posterior's spread (inside), which a wrong parameterisation
# misses by far.
SMALL = {"chains": 2, "draws": 400, "tune": 400, "check": False}


def converged(fit, max_rhat=1.05):
    rhat = az.rhat(fit.idata).to_array().max()
    assert float(rhat) < max_rhat and sum(fit.divergences.values()) < 5, (float(rhat), fit.divergences)


def inside(idata, name, truth, z=4.0):
    """The truth within ``z`` posterior standard deviations of the posterior mean (for every group): a test that
    holds for a well-calibrated posterior whatever the simulation's luck, and fails for a parameterisation that is
    wrong (swapped levels, a wrong link), which misses by many more."""
    draws = idata.posterior[name].stack(sample=("chain", "draw")).to_numpy()
    mean, sd = draws.mean(-1), draws.std(-1)
    return bool(np.all(np.abs(mean - truth) <= z * sd)), (mean, sd)


@pytest.fixture(scope="module")
def mortality():
    """One binomial mortality curve rising from a 5% background to 90%: LL.4, EC50 = 3, hill = 2."""
    rng = np.random.default_rng(11)
    doses = np.repeat([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0], 4)
    ll4 = curve_family("ll4")
    with np.errstate(divide="ignore"):
        p = ll4.curve(np.log(doses), {"top": 0.05, "bottom": 0.9, "log_ec50": np.log(3.0), "hill": 2.0})
    total = np.full(len(doses), 40)
    return pd.DataFrame({"dose": doses, "dead": rng.binomial(total, p), "total": total})


def test_binomial_mortality_recovers_the_truth_and_maximum_likelihood(mortality):
    model = dose_response_model(mortality, concentration="dose", response="dead", trials="total",
                                likelihood="binomial", zero_is_control=True)  # fmt: skip
    fit = fit_curves(model, seed=3, **SMALL)
    converged(fit)
    idata = fit.idata
    truth = {"top": 0.05, "bottom": 0.9, "log_ec50": np.log(3.0), "hill": 2.0}
    for name, value in truth.items():
        assert inside(idata, name, value)[0], name
    # maximum likelihood (SciPy) on the same data agrees with the posterior median
    x = np.log(mortality["dose"].to_numpy(), where=mortality["dose"] > 0, out=np.full(len(mortality), -np.inf))
    ll4 = curve_family("ll4")

    def nll(theta):
        lt, lb, e, lh = theta
        p = ll4.curve(x, {"top": 1 / (1 + np.exp(-lt)), "bottom": 1 / (1 + np.exp(-lb)), "log_ec50": e,
                          "hill": np.exp(lh)})  # fmt: skip
        return -stats.binom.logpmf(mortality["dead"], mortality["total"], p).sum()

    ml = optimize.minimize(nll, [-2.0, 2.0, 1.0, 0.5], method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-8,
                                                                                        "fatol": 1e-10}).x  # fmt: skip
    post = idata.posterior
    assert float(post["log_ec50"].median()) == pytest.approx(ml[2], abs=0.1)
    # the fitted probabilities at the tested doses, which the data fix well, agree within 0.03
    p_ml = ll4.curve(x, {"top": 1 / (1 + np.exp(-ml[0])), "bottom": 1 / (1 + np.exp(-ml[1])), "log_ec50": ml[2],
                         "hill": np.exp(ml[3])})  # fmt: skip
    np.testing.assert_allclose(post["mu"].median(("chain", "draw")).to_numpy(), p_ml, atol=0.03)
    # EC10 and EC50 (relative to the 5% background) cover the truth, and are where the curve says
    table = ecx_table(model, idata, x=(10, 50)).set_index("x")
    true_ec10 = 3.0 * (0.1 / 0.9) ** (1 / 2.0)
    assert table.loc[10, "ecx_lower"] <= true_ec10 <= table.loc[10, "ecx_upper"]
    assert table.loc[50, "ecx_lower"] <= 3.0 <= table.loc[50, "ecx_upper"]
    assert table.loc[50, "flag"] == "within the tested doses"


def test_counts_of_many_curves_aggregated_recover_each_curves_truth():
    rng = np.random.default_rng(5)
    ec50 = {"a": 1.0, "b": 4.0, "c": 12.0}
    w1 = curve_family("w1")
    rows = []
    for g, e in ec50.items():
        for d in [0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]:
            mean = w1.curve(np.log(d) if d > 0 else -np.inf, {"top": 60.0, "bottom": 2.0, "log_e": np.log(e),
                                                             "hill": 1.2})  # fmt: skip
            rows += [(g, d, c) for c in rng.poisson(mean, size=4)]
    data = pd.DataFrame(rows, columns=["plate", "dose", "colonies"])
    model = hierarchical_dose_response(data, group="plate", concentration="dose", response="colonies", curve="w1",
                                       likelihood="poisson", zero_is_control=True, aggregate=True,
                                       parameterization={"top": "shared", "bottom": "shared",
                                                         "hill": "shared"})  # fmt: skip
    assert "log_top_sd" not in model.named_vars  # the levels' aliases reach the log-scale parameters
    assert len(model["cell_total"].get_value()) == 21  # 84 rows in 21 cells
    # three groups inform their spread little: its posterior correlates with the group effects, so more draws
    fit = fit_curves(model, seed=4, **{**SMALL, "draws": 1000})
    converged(fit)
    ok, (lo, hi) = inside(fit.idata, "log_e", np.log(list(ec50.values())))
    assert ok, (lo, hi)
    assert inside(fit.idata, "top", np.full(3, 60.0))[0]
    assert inside(fit.idata, "bottom", np.full(3, 2.0))[0] and inside(fit.idata, "hill", np.full(3, 1.2))[0]
    ll = log_likelihood(model, fit.idata)["response"]
    assert ll.shape[-1] == len(data) and np.isfinite(ll).all()  # per row, for LOO


def test_hormesis_is_recovered_and_its_ec50_is_measured_from_the_control():
    rng = np.random.default_rng(7)
    bc5 = curve_family("bc5")
    truth = {"top": 1.0, "bottom": 0.1, "log_e": np.log(5.0), "hill": 2.5, "hormesis": 1.5}
    doses = np.repeat([0.0, 0.3, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0], 4)
    with np.errstate(divide="ignore"):
        y = bc5.curve(np.log(doses), truth) + rng.normal(0, 0.05, len(doses))
    table = pd.DataFrame({"conc": doses, "weight": y})
    assert table.groupby("conc")["weight"].mean().max() > 1.15  # the data show the bump
    model = dose_response_model(table, concentration="conc", response="weight", curve="bc5", zero_is_control=True)
    fit = fit_curves(model, seed=5, **SMALL)
    converged(fit)
    for name in ("top", "bottom", "log_e", "hormesis"):
        assert inside(fit.idata, name, truth[name])[0], name
    true_ec50 = float(np.exp(bc5.log_dose_at(0.5, truth["log_e"], {"hill": 2.5, "hormesis": 1.5})))
    assert abs(np.log(true_ec50 / 5.0)) > 0.2  # the EC50 is not e
    ec = ecx_table(model, fit.idata, x=50).iloc[0]
    assert ec["ecx_lower"] <= true_ec50 <= ec["ecx_upper"]


def test_compare_curves_stacks_families_and_refits_flagged_rows_exactly(mortality):
    comparison = compare_curves(mortality, ("ll4", "w2", "bc5"), seed=2, likelihood="binomial", concentration="dose",
                                response="dead", trials="total", zero_is_control=True, fit_kwargs=SMALL)  # fmt: skip
    table = comparison.table
    assert set(table.index) == {"ll4", "w2", "bc5"} and table["weight"].sum() == pytest.approx(1.0)
    assert {"elpd_loo", "weight", "n_high_k", "refitted", "loo_reliable"} <= set(table.columns)
    assert (comparison.pareto["threshold"] < 0.7).all()  # 800 draws: min(1 - 1 / log10(800), 0.7) = 0.66
    averaged = comparison.ecx_table(x=(10, 50))
    assert list(averaged["curve"].unique()) == [*table.index, "stacked"] and len(averaged) == 8
    stacked = averaged[averaged["curve"] == "stacked"].set_index("x")
    per_family = averaged[averaged["curve"] != "stacked"]
    # a mixture's median lies within the range of its components' medians
    for x in (10, 50):
        meds = per_family.loc[per_family["x"] == x, "ecx"]
        assert meds.min() * 0.9 <= stacked.loc[x, "ecx"] <= meds.max() * 1.1
    draws = comparison.ecx_draws(x=50)
    assert draws.sizes["draw"] == 800 and draws.dims == ("chain", "draw", "group", "effect")

    # The exact leave-one-out refit (az.reloo with the comparison's wrapper), forced for two rows PSIS handles well:
    # the refit's value agrees with PSIS and not with the in-sample log density (which a refit that kept the row,
    # or read the wrong row, would give).
    from recipes_utils.dose_response.compare import _loo_wrapper

    model, fit = comparison.models["ll4"], comparison.fits["ll4"]
    loo = az.loo(fit.idata, pointwise=True)
    lppd = np.log(np.exp(fit.idata.log_likelihood["response"]).mean(("chain", "draw"))).to_numpy()
    gap = lppd - loo.loo_i.to_numpy()
    rows = [int(i) for i in np.argsort(-gap) if loo.pareto_k[int(i)] < 0.5][:2]
    forced = loo.copy()
    forced.pareto_k = loo.pareto_k.copy()
    forced.loo_i = loo.loo_i.copy()
    forced.pareto_k[rows] = 1.0
    columns = {"concentration": "dose", "response": "dead", "trials": "total", "zero_is_control": True}
    wrapper = _loo_wrapper(model, mortality, None, columns, 2, SMALL, fit.idata)
    exact = az.reloo(wrapper, loo_orig=forced, k_thresh=0.7, verbose=False)
    for i in rows:
        psis, refit = float(loo.loo_i[i]), float(exact.loo_i[i])
        assert gap[i] > 0.1  # the in-sample density differs enough from leave-one-out for the test to tell
        assert abs(refit - psis) < abs(refit - lppd[i])
