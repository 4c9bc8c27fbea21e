"""maximum_likelihood: drc's estimate for any family and likelihood, checked against least squares (Normal noise) and
a binomial likelihood maximised by hand with SciPy."""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from scipy.special import expit, logit

from recipes_utils.data import load_drc
from recipes_utils.dose_response import (
    curve_family,
    dose_response_model,
    hierarchical_dose_response,
    least_squares_four_pl,
    maximum_likelihood,
)


def test_normal_maximum_likelihood_is_least_squares_on_ryegrass():
    ryegrass = load_drc("ryegrass")
    model = dose_response_model(ryegrass, concentration="conc", response="rootl", zero_is_control=True)
    ml = maximum_likelihood(model, starts=5)
    lsq = least_squares_four_pl(ryegrass, concentration="conc", response="rootl", zero_is_control=True)
    for name in ("bottom", "top", "log_ec50", "hill"):
        assert ml.params[name] == pytest.approx(lsq.loc[name, "estimate"], rel=1e-4, abs=1e-5), name
    x = np.log(ryegrass["conc"].to_numpy(), where=ryegrass["conc"].to_numpy() > 0, out=np.full(len(ryegrass), -np.inf))
    fitted = curve_family("ll4").curve(x, ml.params.to_dict())
    rss = ((ryegrass["rootl"] - fitted) ** 2).sum()
    assert ml.params["sigma"] == pytest.approx(np.sqrt(rss / len(ryegrass)), rel=1e-4)  # Normal ML: RSS / n
    assert ml.loglik == pytest.approx(stats.norm.logpdf(ryegrass["rootl"], fitted, ml.params["sigma"]).sum())
    ec = ml.ecx(x=(10, 50)).set_index("x")["ecx"]
    assert ec[50] == pytest.approx(np.exp(ml.params["log_ec50"]), rel=1e-9)
    assert ec[10] == pytest.approx(np.exp(ml.params["log_ec50"] - np.log(9) / ml.params["hill"]), rel=1e-9)


def test_binomial_maximum_likelihood_of_a_weibull_matches_scipy_by_hand():
    rng = np.random.default_rng(3)
    doses = np.repeat([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0], 3)
    w2 = curve_family("w2")
    x = np.log(doses, where=doses > 0, out=np.full(len(doses), -np.inf))
    p = w2.curve(x, {"top": 0.9, "bottom": 0.05, "log_e": np.log(3.0), "hill": 1.5})
    table = pd.DataFrame({"dose": doses, "alive": rng.binomial(30, p), "n": 30})
    model = dose_response_model(table, concentration="dose", response="alive", trials="n", likelihood="binomial",
                                zero_is_control=True, curve="w2")  # fmt: skip
    ml = maximum_likelihood(model, starts=8)

    def nll(theta):
        params = {"top": expit(theta[0]), "bottom": expit(theta[1]), "log_e": theta[2], "hill": np.exp(theta[3])}
        return -stats.binom.logpmf(table["alive"], 30, w2.curve(x, params)).sum()

    by_hand = optimize.minimize(nll, [logit(0.8), logit(0.1), 1.0, 0.0], method="Nelder-Mead",
                                options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000})  # fmt: skip
    assert ml.loglik == pytest.approx(-by_hand.fun, abs=1e-6)
    assert ml.params["log_e"] == pytest.approx(by_hand.x[2], abs=1e-3)
    assert ml.params["top"] == pytest.approx(expit(by_hand.x[0]), abs=1e-4)
    assert ml.converged


def test_maximum_likelihood_takes_one_curve_models_only():
    sim = pd.DataFrame({"g": np.repeat([0, 1], 12), "c": np.tile(np.repeat([0.1, 1.0, 10.0, 100.0], 3), 2),
                        "y": np.tile(np.repeat([9.0, 8.0, 3.0, 1.0], 3), 2) + np.linspace(0, 1, 24)})  # fmt: skip
    model = hierarchical_dose_response(sim, group="g", concentration="c", response="y")
    with pytest.raises(ValueError, match="takes a one-curve model"):
        maximum_likelihood(model)
    with pytest.raises(ValueError, match="starts must be a whole number >= 1"):
        maximum_likelihood(dose_response_model(sim[sim.g == 0], concentration="c", response="y"), starts=0)
