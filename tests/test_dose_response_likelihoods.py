"""Response families: each log density against SciPy, exact aggregation against the rows (value and gradient),
per-row log-likelihood and predictions of aggregated models, bounded levels, and the input checks."""

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats
from scipy.special import expit, logit

from recipes_utils.dose_response import (
    dose_response_model,
    hierarchical_dose_response,
    log_likelihood,
    model_spec,
    posterior_predictive,
)

ALGEBRA = "FAST_COMPILE"  # graph values, not a backend (see tests/test_dose_response.py)


def simulated(seed=0, n_groups=3, replicates=3):
    """A falling dose-response design with a binomial, a count, a proportion and a continuous response."""
    rng = np.random.default_rng(seed)
    doses = np.array([0.0, 0.3, 1.0, 3.0, 10.0, 30.0])
    rows = []
    for g in range(n_groups):
        for d in doses:
            s = 1.0 / (1 + (d / (2.0 * (g + 1))) ** 2)
            for _ in range(replicates):
                total = int(rng.integers(8, 25))
                p = 0.9 * s + 0.05
                rows.append({"group": f"g{g}", "dose": d, "alive": rng.binomial(total, p), "total": total,
                             "count": rng.poisson(40 * s + 2), "share": rng.beta(20 * p, 20 * (1 - p)),
                             "y": 10 * s + rng.normal(0, 0.5), "plate": int(rng.integers(0, 3))})  # fmt: skip
    return pd.DataFrame(rows)


COLUMNS = {"binomial": ("alive", "total"), "poisson": ("count", None), "negative_binomial": ("count", None),
           "beta": ("share", None), "student_t": ("y", None), "normal": ("y", None)}  # fmt: skip


def build(likelihood, curve="ll4", data=None, **kwargs):
    data = simulated() if data is None else data
    response, trials = COLUMNS[likelihood]
    return hierarchical_dose_response(data, concentration="dose", response=response, trials=trials, curve=curve,
                                      likelihood=likelihood, zero_is_control=True, **kwargs)  # fmt: skip


def points(model, n=3, seed=0, scale=0.3):
    rng = np.random.default_rng(seed)
    ip = model.initial_point()
    return [{k: v + rng.normal(0, scale, size=np.shape(v)) for k, v in ip.items()} for _ in range(n)]


def at(model, names, point):
    outs = model.replace_rvs_by_values([model[n] for n in names])
    fn = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore", mode=ALGEBRA)
    return dict(zip(names, fn(point)))


def scipy_logp(likelihood, y, mu, noise, trials=None):
    if likelihood == "binomial":
        return stats.binom.logpmf(y, trials, mu)
    if likelihood == "poisson":
        return stats.poisson.logpmf(y, mu)
    if likelihood == "negative_binomial":
        alpha = noise["alpha"]
        return stats.nbinom.logpmf(y, alpha, alpha / (mu + alpha))
    if likelihood == "beta":
        kappa = noise["kappa"]
        return stats.beta.logpdf(y, mu * kappa, (1 - mu) * kappa)
    if likelihood == "student_t":
        return stats.t.logpdf(y, noise["nu"], mu, noise["sigma"])
    return stats.norm.logpdf(y, mu, noise["sigma"])


NOISE = {"binomial": (), "poisson": (), "negative_binomial": ("alpha",), "beta": ("kappa",),
         "student_t": ("sigma", "nu"), "normal": ("sigma",)}  # fmt: skip


@pytest.mark.parametrize("likelihood", list(COLUMNS))
@pytest.mark.parametrize("curve", ["ll4", "w2", "bc5"])
def test_each_likelihood_is_scipys_density(likelihood, curve):
    data = simulated()
    model = build(likelihood, curve, data)
    spec = model_spec(model)
    response, trials = COLUMNS[likelihood]
    g = pd.factorize(data["group"], sort=True)[0]
    with np.errstate(divide="ignore"):
        x = np.log(data["dose"].to_numpy())
    family = spec.family
    names = [*family.params, *NOISE[likelihood]]
    fn = model.compile_fn(model.datalogp, inputs=model.value_vars, on_unused_input="ignore", mode=ALGEBRA)
    for point in points(model):
        values = at(model, names, point)
        params = {n: values[n][g] for n in family.params}
        if spec.link_curve:  # bc5 under a bounded likelihood: drawn on the link scale
            link, inverse = (logit, expit) if likelihood in ("binomial", "beta") else (np.log, np.exp)
            on_link = {**params, "top": link(params["top"]), "bottom": link(params["bottom"])}
            mu = inverse(family.curve(x, on_link))
        else:
            mu = family.curve(x, params)
        n = data[trials].to_numpy() if trials else None
        expected = scipy_logp(likelihood, data[response].to_numpy(), mu, values, n).sum()
        assert fn(point) == pytest.approx(expected, rel=1e-9)


# Points far from the initial one, where a density written the naive way loses its digits or its finiteness: levels
# near 0 and 1 on the logit scale (binomial, Beta), means far below 1 (counts), a steep curve whose EC50 lies
# beyond the tested doses, and extreme noise (a nearly Poisson and a very overdispersed negative binomial, a Beta
# of large and of small precision, Student-t with nu below 1). Each value within SciPy's own exact range.
BOUNDARY = {
    "binomial": ({"logit_top": 12.0, "logit_bottom": -12.0, "log_ec50": 4.0, "hill_log__": np.log(8.0)},
                 {"logit_top": -9.0, "logit_bottom": 11.0, "log_ec50": -3.0, "hill_log__": np.log(0.2)}),
    "beta": ({"logit_top": 12.0, "logit_bottom": -12.0, "log_ec50": 4.0, "dispersion_log__": np.log(0.02)},
             {"logit_top": -9.0, "logit_bottom": 11.0, "hill_log__": np.log(0.2), "dispersion_log__": np.log(5.0)}),
    "poisson": ({"log_top": 7.0, "log_bottom": -12.0, "log_ec50": 4.0, "hill_log__": np.log(8.0)},
                {"log_top": -10.0, "log_bottom": 6.0, "log_ec50": -3.0, "hill_log__": np.log(0.2)}),
    "negative_binomial": ({"log_top": 7.0, "log_bottom": -8.0, "hill_log__": np.log(8.0), "dispersion_log__":
                           np.log(0.05)}, {"log_top": -6.0, "log_bottom": 6.0, "dispersion_log__": np.log(6.0)}),
    "student_t": ({"top": 1e3, "bottom": -1e3, "sigma_log__": np.log(1e-3), "nu_log__": np.log(0.5)},
                  {"hill_log__": np.log(30.0), "sigma_log__": np.log(1e3), "nu_log__": np.log(1e4)}),
    "normal": ({"top": 1e3, "bottom": -1e3, "sigma_log__": np.log(1e-3)},
               {"log_ec50": 12.0, "hill_log__": np.log(0.05), "sigma_log__": np.log(1e3)}),
}  # fmt: skip


@pytest.mark.parametrize("likelihood", list(COLUMNS))
def test_each_likelihood_is_scipys_density_at_the_boundaries(likelihood):
    data = simulated().query("group == 'g1'")
    response, trials = COLUMNS[likelihood]
    model = dose_response_model(data, concentration="dose", response=response, trials=trials, likelihood=likelihood,
                                zero_is_control=True)  # fmt: skip
    family = model_spec(model).family
    x = np.log(data["dose"].to_numpy(), where=data["dose"].to_numpy() > 0, out=np.full(len(data), -np.inf))
    fn = model.compile_fn(model.datalogp, inputs=model.value_vars, on_unused_input="ignore", mode=ALGEBRA)
    for change in BOUNDARY[likelihood]:
        point = {**model.initial_point(), **{k: np.asarray(v) for k, v in change.items()}}
        assert set(change) <= set(point)
        values = at(model, [*family.params, *NOISE[likelihood]], point)
        mu = family.curve(x, {n: values[n] for n in family.params})
        n = data[trials].to_numpy() if trials else None
        expected = scipy_logp(likelihood, data[response].to_numpy(), mu, values, n).sum()
        assert np.isfinite(expected) and fn(point) == pytest.approx(expected, rel=1e-9)


def test_bounded_responses_put_the_levels_on_the_logit_or_log_scale():
    for likelihood, scale in (("binomial", "logit"), ("beta", "logit"), ("poisson", "log"),
                              ("negative_binomial", "log"), ("normal", None)):  # fmt: skip
        model = build(likelihood)
        free = {v.name for v in model.free_RVs}
        if scale is None:
            assert {"top_mu", "bottom_mu"} <= free
            continue
        assert {f"{scale}_top_mu", f"{scale}_bottom_mu"} <= free and "top_mu" not in free
        draws = pm.draw([model["top"], model["bottom"]], draws=200, random_seed=1)
        assert all((d > 0).all() and (scale == "log" or (d < 1).all()) for d in draws)
        assert np.isfinite(model.compile_logp(mode=ALGEBRA)(model.initial_point()))
    one = dose_response_model(simulated().query("group == 'g0'"), concentration="dose", response="alive",
                              trials="total", likelihood="binomial", zero_is_control=True)  # fmt: skip
    assert "logit_top" in {v.name for v in one.free_RVs} and model_spec(one).likelihood.name == "binomial"


@pytest.mark.parametrize(("likelihood", "curve"), [("binomial", "ll4"), ("binomial", "bc5"), ("poisson", "ll4")])
def test_aggregated_cells_have_the_rows_log_density_and_gradient(likelihood, curve):
    # bc5 under the binomial: the curve on the logit scale, the cells' density on the logit (binomial_logit_logp)
    data = simulated(seed=3)
    rows = build(likelihood, data=data, parameterization="centered", curve=curve)
    cells = build(likelihood, data=data, parameterization="centered", aggregate=True, curve=curve)
    assert len(cells["cell_total"].get_value()) < len(data)  # replicates were summed
    assert {v.name for v in rows.value_vars} == {v.name for v in cells.value_vars}
    logp_rows, logp_cells = rows.compile_logp(mode=ALGEBRA), cells.compile_logp(mode=ALGEBRA)
    grad_rows, grad_cells = rows.compile_dlogp(mode=ALGEBRA), cells.compile_dlogp(mode=ALGEBRA)
    for point in points(rows, n=4, seed=1, scale=0.5):
        assert logp_cells(point) == pytest.approx(logp_rows(point), rel=1e-10)
        np.testing.assert_allclose(grad_cells(point), grad_rows(point), rtol=1e-8, atol=1e-10)
    # the constant matters: without it the values would differ (the comparison can tell)
    assert abs(cells.compile_fn(cells.potentiallogp, inputs=cells.value_vars, on_unused_input="ignore",
                                mode=ALGEBRA)(points(rows)[0])) > 1  # fmt: skip


def fake_posterior(model, draws=30, seed=2):
    """Prior draws standing in for a posterior: all these identities need."""
    idata = pm.sample_prior_predictive(draws=draws, model=model, random_seed=seed)
    idata.add_groups(posterior=idata.prior)
    return idata


@pytest.mark.parametrize("likelihood", ["binomial", "poisson"])
def test_aggregated_log_likelihood_and_predictions_are_per_row(likelihood):
    data = simulated(seed=4)
    rows = build(likelihood, data=data, parameterization="centered")
    cells = build(likelihood, data=data, parameterization="centered", aggregate=True)
    idata = fake_posterior(rows)
    ll_rows = log_likelihood(rows, idata.copy())["response"]
    ll_cells = log_likelihood(cells, idata.copy())["response"]
    assert ll_cells.shape == ll_rows.shape == (1, 30, len(data))
    np.testing.assert_allclose(ll_cells.to_numpy(), ll_rows.to_numpy(), rtol=1e-9)
    pp = posterior_predictive(cells, idata.copy(), seed=1)["response"]
    assert pp.shape == (1, 30, len(data))
    if likelihood == "binomial":  # each row drawn out of its own trials
        assert (pp.to_numpy() <= data["total"].to_numpy()).all()
        assert (pp.max(("chain", "draw")).to_numpy() > 0).any()


@pytest.mark.parametrize("likelihood", ["binomial", "poisson"])
@pytest.mark.parametrize("curve", ["ll4", "ll3", "ll5", "w1", "w2", "nec"])
def test_plate_offsets_act_on_the_link_scale(likelihood, curve):
    data = simulated(seed=5)
    model = build(likelihood, curve=curve, data=data, plate="plate", parameterization="centered")
    family = model_spec(model).family
    g = pd.factorize(data["group"], sort=True)[0]
    x = np.log(data["dose"].to_numpy(), where=data["dose"].to_numpy() > 0, out=np.full(len(data), -np.inf))
    point = points(model, seed=6)[0]
    values = at(model, [*family.params, "plate_effect"], point)
    curve_values = family.curve(x, {n: values[n][g] for n in family.params})
    offset = values["plate_effect"][data["plate"].to_numpy()]
    fn = model.compile_fn(model.datalogp, inputs=model.value_vars, on_unused_input="ignore", mode=ALGEBRA)
    if likelihood == "binomial":
        expected = stats.binom.logpmf(data["alive"], data["total"], expit(logit(curve_values) + offset)).sum()
    else:
        expected = stats.poisson.logpmf(data["count"], np.exp(np.log(curve_values) + offset)).sum()
    assert fn(point) == pytest.approx(expected, rel=1e-9)
    assert np.isfinite(model.compile_dlogp(mode=ALGEBRA)(point)).all()


def test_bad_responses_get_clear_errors():
    data = simulated()
    with pytest.raises(ValueError, match="'alive' has more successes than trials \\('total'\\) in 1 row"):
        build("binomial", data=data.assign(alive=np.where(data.index == 4, data["total"] + 1, data["alive"])))
    with pytest.raises(ValueError, match="'count' holds counts, which cannot be negative: 1 row"):
        build("poisson", data=data.assign(count=np.where(data.index == 2, -1, data["count"])))
    with pytest.raises(ValueError, match="'count' holds counts, which must be whole numbers"):
        build("negative_binomial", data=data.assign(count=data["count"] + 0.5))
    with pytest.raises(ValueError, match="'alive' holds successes, which cannot be negative"):
        build("binomial", data=data.assign(alive=np.where(data.index == 2, -1, data["alive"])))
    with pytest.raises(ValueError, match="strictly inside \\(0, 1\\); column 'share' has values at or beyond"):
        build("beta", data=data.assign(share=np.where(data.index == 3, 1.0, data["share"])))
    with pytest.raises(ValueError, match="strictly inside"):
        build("beta", data=data.assign(share=np.where(data.index == 3, 0.0, data["share"])))
    with pytest.raises(ValueError, match="needs trials=: the column holding each row's number of trials"):
        hierarchical_dose_response(data, concentration="dose", response="alive", likelihood="binomial",
                                   zero_is_control=True)  # fmt: skip
    with pytest.raises(ValueError, match="trials= is for likelihood='binomial' only"):
        hierarchical_dose_response(data, concentration="dose", response="count", trials="total",
                                   likelihood="poisson", zero_is_control=True)  # fmt: skip
    with pytest.raises(ValueError, match="'total' must hold whole numbers of trials >= 1"):
        build("binomial", data=data.assign(total=data["total"] + 0.5))
    with pytest.raises(ValueError, match="unknown likelihood 'gamma'"):
        hierarchical_dose_response(data, concentration="dose", response="y", likelihood="gamma", zero_is_control=True)
    with pytest.raises(ValueError, match="unknown curve family 'll6'"):
        build("normal", curve="ll6")
    for likelihood in ("negative_binomial", "beta", "student_t"):
        with pytest.raises(ValueError, match="aggregate=True"):
            build(likelihood, aggregate=True)
    with pytest.raises(ValueError, match="aggregate=True sums each .* not with plate effects"):
        build("binomial", aggregate=True, plate="plate")


def test_ll3_that_fixes_a_control_level_the_data_contradict_is_refused():
    data = simulated()
    rising = data.assign(dead=data["total"] - data["alive"])  # mortality rises from a background rate above 0
    with pytest.raises(ValueError, match="curve='ll3' on rising data fixes the control level at 0, but .* control "
                                         "row\\(s\\) have successes above 0.*Use curve='ll4'"):  # fmt: skip
        hierarchical_dose_response(rising, concentration="dose", response="dead", trials="total", curve="ll3",
                                   likelihood="binomial", zero_is_control=True)  # fmt: skip
    falling = hierarchical_dose_response(data, concentration="dose", response="alive", trials="total", curve="ll3",
                                         likelihood="binomial", zero_is_control=True)  # fmt: skip
    assert model_spec(falling).family.zero_level == "bottom"


def test_the_pooling_rule_counts_a_binomial_groups_trials_by_their_information():
    from recipes_utils.dose_response import (
        AUTO_MIN_GROUPS,
        AUTO_MIN_POINTS,
        auto_parameterization,
        effective_measurements,
        prepare_grouped,
    )

    doses = [0.1, 1.0, 10.0, 100.0]

    def table(trials, dead):
        return pd.DataFrame([(g, d, k, trials) for g in range(AUTO_MIN_GROUPS) for d, k in zip(doses, dead)],
                            columns=["group", "dose", "dead", "total"])  # fmt: skip

    def rule(t, **kw):
        return auto_parameterization(prepare_grouped(t, concentration="dose", response="dead", **kw))

    half = table(30, [14, 15, 15, 16])  # 4 rows per group, 120 trials near p = 0.5: about 30 measurements' worth
    assert 4 < AUTO_MIN_POINTS <= 4 * 30
    prepared = prepare_grouped(half, concentration="dose", response="dead", trials="total")
    p = (np.array([14, 15, 15, 16]) + 0.5) / 31  # each cell's empirical proportion, (Y + 0.5) / (N + 1)
    np.testing.assert_allclose(effective_measurements(prepared), (30 * p * (1 - p)).sum())
    assert rule(half) == "noncentered"  # 4 rows
    assert rule(half, trials="total") == "noncentered"  # 120 trials count as 30 measurements, not 120
    assert rule(table(100, [48, 50, 50, 52]), trials="total") == "centered"  # 400 trials near p = 0.5: 100
    assert rule(table(100, [1, 2, 2, 3]), trials="total") == "noncentered"  # 400 trials near p = 0.02: 8
    rows = prepare_grouped(half, concentration="dose", response="dead")
    np.testing.assert_array_equal(effective_measurements(rows), 4.0)


def test_one_curve_takes_trials_as_a_column_or_an_array():
    data = simulated().query("group == 'g1'")
    table = dose_response_model(data, concentration="dose", response="alive", trials="total", likelihood="binomial",
                                zero_is_control=True)  # fmt: skip
    arrays = dose_response_model(data["dose"].to_numpy(), data["alive"].to_numpy(), trials=data["total"].to_numpy(),
                                 likelihood="binomial")  # fmt: skip
    point = table.initial_point()
    assert table.compile_logp(mode=ALGEBRA)(point) == pytest.approx(arrays.compile_logp(mode=ALGEBRA)(point))
    np.testing.assert_array_equal(arrays["trials"].get_value(), data["total"].to_numpy())
    with pytest.raises(ValueError, match="lacks the trials column 'n'"):
        dose_response_model(data, concentration="dose", response="alive", trials="n", likelihood="binomial",
                            zero_is_control=True)  # fmt: skip
    with pytest.raises(ValueError, match="trials must have one value per response"):
        dose_response_model(data["dose"].to_numpy(), data["alive"].to_numpy(), trials=[20, 20], likelihood="binomial")
    with pytest.raises(ValueError, match="has more successes than trials"):
        dose_response_model(data["dose"].to_numpy(), data["alive"].to_numpy(), trials=np.ones(len(data)),
                            likelihood="binomial")  # fmt: skip


# --- the negative binomial in its mean, the binomial on its logit -------------------------------------------------


def exact_nb_logpmf(y, mu, alpha):
    """The negative binomial's log density in 60-digit decimal arithmetic (y a whole number): the reference where
    SciPy's ``nbinom(alpha, alpha / (mu + alpha))`` has rounded ``p`` to 1."""
    from decimal import Decimal, getcontext

    getcontext().prec = 60
    mu, a = Decimal(repr(mu)), Decimal(repr(alpha))
    log_rising = sum(((a + j) / (j + 1)).ln() for j in range(y))  # log [Gamma(y + a) / (Gamma(a) y!)]
    log_p = log_rising + a * (a / (a + mu)).ln() + (y * (mu / (a + mu)).ln() if y else 0)
    return float(log_p)


def test_negative_binomial_density_is_exact_down_to_a_mean_of_zero():
    import pytensor
    import pytensor.tensor as pt

    from recipes_utils.dose_response import negative_binomial_logp

    y, mu, alpha = pt.dvector("y"), pt.dvector("mu"), pt.dscalar("alpha")
    logp = negative_binomial_logp(y, mu, alpha)
    fn = pytensor.function([y, mu, alpha], [logp, pt.grad(logp.sum(), mu)], mode=ALGEBRA)
    counts = np.array([0.0, 1.0, 3.0, 17.0])
    for alpha_value in (0.3, 2.0, 50.0):
        for mean in (0.4, 7.0, 120.0):  # moderate: SciPy's own parameterisation is exact enough
            value = fn(counts, np.full(4, mean), alpha_value)[0]
            scipys = stats.nbinom.logpmf(counts, alpha_value, alpha_value / (mean + alpha_value))
            np.testing.assert_allclose(value, scipys, rtol=1e-10)
        value, grad = fn(counts, np.full(4, 1e-20), alpha_value)
        # SciPy at p = alpha / (1e-20 + alpha), which is 1.0: exact for a count of 0, -inf for the others
        assert value[0] == pytest.approx(stats.nbinom.logpmf(0, alpha_value, 1.0), abs=1e-15)
        for k in range(1, 4):
            assert value[k] == pytest.approx(exact_nb_logpmf(int(counts[k]), 1e-20, alpha_value), rel=1e-12)
        assert np.isfinite(grad).all()
    value, grad = fn(counts, np.zeros(4), 2.0)  # a mean of exactly 0 (ll3's control level): only 0 is possible
    assert value[0] == 0.0 and np.isneginf(value[1:]).all() and np.isfinite(grad[0])
    # the Poisson limit (PyMC's switch at alpha = 1e10)
    np.testing.assert_allclose(fn(counts, np.full(4, 3.0), 1e12)[0], stats.poisson.logpmf(counts, 3.0), rtol=1e-12)


def zero_control_counts(seed=0):
    """Counts rising from none at the untreated controls: ll3 with its control level at 0 is the right curve."""
    rng = np.random.default_rng(seed)
    doses = np.repeat([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0], 4)
    with np.errstate(divide="ignore"):
        mu = 30 / (1 + np.exp(-2 * (np.log(doses) - np.log(3.0))))
    return pd.DataFrame({"dose": doses, "count": rng.poisson(mu)})


@pytest.mark.parametrize("likelihood", ["negative_binomial", "poisson"])
def test_ll3_counts_at_a_level_of_zero_have_a_finite_density_and_gradient(likelihood):
    data = zero_control_counts()
    assert (data.loc[data["dose"] == 0, "count"] == 0).all()
    kwargs = {"concentration": "dose", "response": "count", "likelihood": likelihood, "curve": "ll3",
              "zero_is_control": True}  # fmt: skip
    for model in (dose_response_model(data, **kwargs),
                  hierarchical_dose_response(data.assign(g=np.arange(len(data)) % 2), group="g",
                                             **kwargs)):  # fmt: skip
        assert model_spec(model).family.zero_level == "top"
        point = model.initial_point()
        assert np.isfinite(model.compile_logp(mode=ALGEBRA)(point))
        assert np.isfinite(model.compile_dlogp(mode=ALGEBRA)(point)).all()
    # a steep falling ll3 (bottom = 0) whose mean underflows at the high doses, where the counts are 0
    falling = data.assign(count=data["count"].to_numpy()[::-1])
    model = dose_response_model(falling, **kwargs)
    assert model_spec(model).family.zero_level == "bottom"
    point = {**model.initial_point(), "hill_log__": np.log(400.0)}
    mu = at(model, ["mu"], point)["mu"]
    assert (mu[falling["dose"].to_numpy() >= 8] < 1e-100).all()  # far below alpha: PyMC's p rounded to 1 here
    assert np.isfinite(model.compile_logp(mode=ALGEBRA)(point))
    assert np.isfinite(model.compile_dlogp(mode=ALGEBRA)(point)).all()


def test_levels_that_round_to_one_keep_a_finite_density_and_gradient_with_plates():
    from scipy.special import gammaln, log_expit

    data = simulated(seed=5)
    g = pd.factorize(data["group"], sort=True)[0]
    dose = data["dose"].to_numpy()
    x = np.log(dose, where=dose > 0, out=np.full(len(data), -np.inf))
    for likelihood in ("binomial", "beta"):
        model = build(likelihood, data=data, plate="plate", parameterization="centered")
        point = points(model, seed=6)[0]
        point["logit_top"] = np.full(3, 38.0)  # sigmoid(38) is 1.0 in floating point
        logp = model.compile_logp(mode=ALGEBRA)(point)
        assert np.isfinite(logp) and np.isfinite(model.compile_dlogp(mode=ALGEBRA)(point)).all()
        on_points = build(likelihood, data=data, plate="plate", parameterization="centered", curve_at="points")
        assert on_points.compile_logp(mode=ALGEBRA)(point) == pytest.approx(logp, rel=1e-12)
        if likelihood != "binomial":
            continue
        values = at(model, ["bottom", "top", "log_ec50", "hill", "plate_effect"], point)
        assert (values["top"] == 1.0).all()
        curve = model_spec(model).family.curve(x, {n: values[n][g] for n in ("bottom", "top", "log_ec50", "hill")})
        with np.errstate(divide="ignore"):
            eta = np.where(np.isneginf(x), 38.0, logit(curve))  # a control sits at the top: logit 38 exactly
        eta = eta + values["plate_effect"][data["plate"].to_numpy()]
        y, n = data["alive"].to_numpy(), data["total"].to_numpy()
        expected = (gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1) + y * log_expit(eta)
                    + (n - y) * log_expit(-eta)).sum()  # fmt: skip
        fn = model.compile_fn(model.datalogp, inputs=model.value_vars, on_unused_input="ignore", mode=ALGEBRA)
        assert fn(point) == pytest.approx(expected, rel=1e-9)
        assert np.isfinite(expected) and (y < n).any()  # failures at a level of 1.0: PyMC's density would be -inf


def test_binomial_logit_density_is_scipys_and_finite_at_the_extremes():
    import pytensor
    import pytensor.tensor as pt
    from scipy.special import gammaln, log_expit

    from recipes_utils.dose_response import binomial_logit_logp

    y, n, eta = pt.dvector("y"), pt.dvector("n"), pt.dvector("eta")
    logp = binomial_logit_logp(y, n, eta)
    fn = pytensor.function([y, n, eta], [logp, pt.grad(logp.sum(), eta)], mode=ALGEBRA)
    ys, ns = np.array([0.0, 3.0, 10.0, 7.0]), np.array([10.0, 10.0, 10.0, 12.0])
    moderate = np.array([-2.0, 0.3, 1.5, 4.0])
    np.testing.assert_allclose(fn(ys, ns, moderate)[0], stats.binom.logpmf(ys, ns, expit(moderate)), rtol=1e-12)
    for extreme in (40.0, -40.0):
        value, grad = fn(ys, ns, np.full(4, extreme))
        exact = gammaln(ns + 1) - gammaln(ys + 1) - gammaln(ns - ys + 1) + ys * log_expit(extreme) + (
            ns - ys) * log_expit(-extreme)  # fmt: skip
        np.testing.assert_allclose(value, exact, rtol=1e-12)
        assert np.isfinite(grad).all()
    value, grad = fn(np.array([0.0, 2.0]), np.array([5.0, 5.0]), np.full(2, -np.inf))  # a level of exactly 0
    assert value[0] == 0.0 and np.isneginf(value[1]) and np.isfinite(grad[0])


def test_binomial_density_with_its_coefficient_given_is_pymcs():
    # the aggregated cells' density takes log C(n, y) precomputed (three log-gammas per cell fewer per gradient):
    # trips if the coefficient or a term at p = 0 or 1, y = 0 or n, were wrong
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from recipes_utils.dose_response.likelihoods import binomial_logp, log_choose

    y, n, p = pt.dvector("y"), pt.dvector("n"), pt.dvector("p")
    ys, ns = np.array([0.0, 3.0, 10.0, 0.0, 12.0, 4.0]), np.array([10.0, 10.0, 10.0, 8.0, 12.0, 9.0])
    ps = np.array([0.0, 0.3, 1.0, 1.0, 0.0, 0.6])  # p = 0 or 1: finite where y allows it, -inf where not
    ours = pytensor.function([y, n, p], binomial_logp(y, n, p, log_choose(ns, ys)), mode=ALGEBRA)(ys, ns, ps)
    pymc = pm.logp(pm.Binomial.dist(n=ns, p=ps), ys).eval()
    np.testing.assert_allclose(ours, pymc, rtol=1e-12)
    assert np.isfinite(ours[[0, 1, 2, 5]]).all() and np.isneginf(ours[[3, 4]]).all()


def test_ll3_is_refused_under_beta_whose_mean_is_never_zero():
    data = simulated()
    with pytest.raises(ValueError, match="curve='ll3' fixes the high-dose limit \\(falling data\\) at 0, but under "
                                         "likelihood='beta'.*Use curve='ll4'"):  # fmt: skip
        build("beta", curve="ll3", data=data)
    rising = data.assign(share=1 - data["share"]).query("dose > 0")  # no controls: nothing else would refuse it
    with pytest.raises(ValueError, match="fixes the control level \\(rising data\\) at 0, but under likelihood='beta'"):
        dose_response_model(rising.query("group == 'g0'"), concentration="dose", response="share", curve="ll3",
                            likelihood="beta")  # fmt: skip


def test_a_yes_no_response_is_read_as_successes_of_one_trial_under_the_binomial():
    rng = np.random.default_rng(3)
    doses = np.repeat([0.0, 0.5, 1.0, 2.0, 4.0, 8.0], 10)
    with np.errstate(divide="ignore"):
        dead = rng.random(len(doses)) < expit(2 * (np.log(doses) - np.log(2.0)))
    table = pd.DataFrame({"dose": doses, "dead": dead, "one": 1, "group": np.arange(len(doses)) % 2})
    kwargs = {"concentration": "dose", "trials": "one", "likelihood": "binomial", "zero_is_control": True}
    for builder, extra in ((dose_response_model, {}), (hierarchical_dose_response, {"group": "group"})):
        yes_no = builder(table, response="dead", **kwargs, **extra)
        counts = builder(table.assign(dead=table["dead"].astype(int)), response="dead", **kwargs, **extra)
        point = counts.initial_point()
        assert yes_no.compile_logp(mode=ALGEBRA)(point) == pytest.approx(counts.compile_logp(mode=ALGEBRA)(point))
    with pytest.raises(TypeError, match="is boolean: a yes/no response needs a binomial model \\(likelihood="):
        hierarchical_dose_response(table, concentration="dose", response="dead", zero_is_control=True)
    shares = simulated().assign(alive=lambda t: t["alive"] / t["total"])  # proportions given as successes
    with pytest.raises(
        ValueError, match="must be whole numbers.*If these are proportions, multiply them by the trials"
    ):
        build("binomial", data=shares)
