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


@pytest.mark.parametrize("likelihood", ["binomial", "poisson"])
def test_aggregated_cells_have_the_rows_log_density_and_gradient(likelihood):
    data = simulated(seed=3)
    rows = build(likelihood, data=data, parameterization="centered")
    cells = build(likelihood, data=data, parameterization="centered", aggregate=True)
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


def test_plate_offsets_act_on_the_link_scale():
    data = simulated(seed=5)
    model = build("binomial", data=data, plate="plate", parameterization="centered")
    g = pd.factorize(data["group"], sort=True)[0]
    x = np.log(data["dose"].to_numpy(), where=data["dose"].to_numpy() > 0, out=np.full(len(data), -np.inf))
    point = points(model, seed=6)[0]
    values = at(model, ["bottom", "top", "log_ec50", "hill", "plate_effect"], point)
    curve = model_spec(model).family.curve(x, {n: values[n][g] for n in ("bottom", "top", "log_ec50", "hill")})
    mu = expit(logit(curve) + values["plate_effect"][data["plate"].to_numpy()])
    fn = model.compile_fn(model.datalogp, inputs=model.value_vars, on_unused_input="ignore", mode=ALGEBRA)
    assert fn(point) == pytest.approx(stats.binom.logpmf(data["alive"], data["total"], mu).sum(), rel=1e-9)


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


def test_the_pooling_rule_counts_a_binomial_groups_trials():
    from recipes_utils.dose_response import AUTO_MIN_GROUPS, AUTO_MIN_POINTS, auto_parameterization, prepare_grouped

    rng = np.random.default_rng(0)
    doses = [0.1, 1.0, 10.0, 100.0]
    table = pd.DataFrame([(g, d, int(rng.integers(0, 30)), 30) for g in range(AUTO_MIN_GROUPS) for d in doses],
                         columns=["group", "dose", "dead", "total"])  # fmt: skip
    assert 4 < AUTO_MIN_POINTS <= 4 * 30  # 4 rows per group, 120 trials
    as_rows = prepare_grouped(table, concentration="dose", response="dead")
    as_trials = prepare_grouped(table, concentration="dose", response="dead", trials="total")
    assert auto_parameterization(as_rows) == "noncentered" and auto_parameterization(as_trials) == "centered"


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
