import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from scipy.stats import norm

from recipes_utils.data import simulate_dose_response
from recipes_utils.dose_response import (
    DEFAULT_PRIOR_RULE,
    SIMULATION_PRIORS,
    FourPLPriors,
    advi_psis_khat,
    auto_parameterization,
    curve_points,
    curve_preconditioner,
    default_curve_priors,
    default_priors,
    four_pl_model,
    group_psis_khat,
    hierarchical_four_pl,
    interval_coverage,
    least_squares_four_pl,
    log_likelihood,
    posterior_predictive,
    predict_curves,
    prepare_grouped,
    replicate_cells,
    student_t_logp,
)
from recipes_utils.models import four_pl

PRIORS = SIMULATION_PRIORS
# Tests that compare two graphs' values (one form of the model against another, or against SciPy) check PyMC's
# algebra, not a backend: they compile with PyTensor's Python implementations (FAST_COMPILE), which skips the g++
# compile of PyTensor's default C backend (the curve-at-points tests took 51 s and 33 s in an empty compile directory
# under make test, as in CI; 4.5 s and 5.1 s alone this way). Tests about numerics (finite gradients at the controls,
# float32) keep the default C backend, which applies the full rewrites (stabilize, specialize) as a fit's compile
# does; the fits themselves run PyTensor's Numba backend (recipes_utils.inference).
ALGEBRA = "FAST_COMPILE"


def tidy(n_groups=4, n_obs=96, seed=0):
    sim = simulate_dose_response(n_groups, n_obs, seed=seed)
    return sim.data, sim


def compile_at_point(model, outs, random_seed=None):
    """A function of a full point (every value variable), whatever the outputs depend on, compiled as ``ALGEBRA``;
    ``random_seed`` seeds the graph's random generators (a minibatch's row draws)."""
    # Random variables in the outputs are replaced by their value variables, or they would be drawn at random.
    outs = model.replace_rvs_by_values(outs if isinstance(outs, list) else [outs])
    return model.compile_fn(
        outs if len(outs) > 1 else outs[0],
        inputs=model.value_vars,
        on_unused_input="ignore",
        mode=ALGEBRA,
        random_seed=random_seed,
    )


def random_points(model, n=3, seed=0):
    rng = np.random.default_rng(seed)
    ip = model.initial_point()
    return [{k: v + rng.normal(0, 0.3, size=np.shape(v)) for k, v in ip.items()} for _ in range(n)]


# --- input checks ---------------------------------------------------------------------------------


def test_missing_column_names_it_and_lists_the_columns():
    data, _ = tidy()
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['dose'\].*'group'"):
        prepare_grouped(data, concentration="dose")


def test_a_repeated_column_name_is_refused():
    data, _ = tidy()
    twice = pd.concat([data, data[["response"]] * 2], axis=1)  # pandas' own TypeError before
    with pytest.raises(ValueError, match=r"more than one column named \['response'\]"):
        prepare_grouped(twice)
    notes = pd.DataFrame({"note": ["a"] * len(data)})
    prepare_grouped(pd.concat([data, notes, notes], axis=1))  # a repeated name the model does not read is fine


def test_not_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        prepare_grouped(np.zeros((3, 3)))


def test_non_positive_concentrations_are_rejected_with_advice():
    data, _ = tidy()
    data.loc[5, "concentration"] = 0.0
    with pytest.raises(ValueError, match="1 zero concentration.*zero_is_control=True"):
        prepare_grouped(data)
    data.loc[7, "concentration"] = -1.0
    with pytest.raises(ValueError, match="1 negative concentration.*positions \\[7\\]"):
        prepare_grouped(data)


def test_zero_concentration_is_a_control_when_asked():
    data, _ = tidy()
    data.loc[5, "concentration"] = 0.0
    prepared = prepare_grouped(data, zero_is_control=True)
    assert np.isneginf(prepared.log_conc[5]) and np.isfinite(np.delete(prepared.log_conc, 5)).all()


def test_non_numeric_and_missing_values_are_rejected():
    data, _ = tidy()
    data["response"] = data["response"].astype(object)
    data.loc[3, "response"] = "n/a"
    with pytest.raises(ValueError, match=r"'response' must be numeric.*positions \[3\]: \['n/a'\]"):
        prepare_grouped(data)
    data, _ = tidy()
    data.loc[2, "group"] = None
    with pytest.raises(ValueError, match="'group' has 1 missing"):
        prepare_grouped(data)


def test_a_group_with_fewer_points_than_parameters_is_rejected():
    data, _ = tidy(n_groups=3, n_obs=30)
    data = pd.concat(
        [
            data,
            pd.DataFrame(
                {
                    "group": [9, 9, 9],
                    "concentration": [1.0, 2.0, 4.0],
                    "log_concentration": np.log([1.0, 2.0, 4.0]),
                    "response": [1.0, 2, 3],
                }
            ),
        ]
    )
    with pytest.raises(ValueError, match=r"1 group\(s\) have fewer than 4 measurements.*9 \(3\)"):
        prepare_grouped(data)


def test_dose_given_twice_or_log_dose_infinite():
    data, _ = tidy()
    with pytest.raises(ValueError, match="not both"):
        prepare_grouped(data, concentration="concentration", log_concentration="log_concentration")
    data.loc[0, "log_concentration"] = -np.inf
    with pytest.raises(ValueError, match="'log_concentration' has infinite values"):
        prepare_grouped(data, log_concentration="log_concentration")


def test_custom_column_names_and_group_labels():
    data, _ = tidy(n_groups=3, n_obs=24)
    data = data.rename(columns={"group": "plate", "concentration": "dose_uM", "response": "viability"})
    data["plate"] = data["plate"].map({0: "P-c", 1: "P-a", 2: "P-b"})
    prepared = prepare_grouped(data, group="plate", concentration="dose_uM", response="viability")
    assert prepared.groups == ["P-a", "P-b", "P-c"]
    assert prepared.group_idx[0] == 2  # first row belongs to P-c


def test_priors_are_checked():
    with pytest.raises(ValueError, match="top_sd is a scale and must be > 0"):
        FourPLPriors(**{**PRIORS.__dict__, "top_sd": 0})
    with pytest.raises(TypeError, match="sigma must be a number"):
        FourPLPriors(**{**PRIORS.__dict__, "sigma": "wide"})
    FourPLPriors(**{**PRIORS.__dict__, "bottom_mu": -5})  # a mean may be negative


def test_model_arguments_are_checked():
    data, _ = tidy()
    with pytest.raises(ValueError, match="parameterization must be"):
        hierarchical_four_pl(data, priors=PRIORS, parameterization="centred")
    with pytest.raises(TypeError, match="FourPLPriors"):
        hierarchical_four_pl(data, priors={"top_mu": 100})
    with pytest.raises(TypeError, match="parameterization must be a string or a dict"):
        hierarchical_four_pl(data, parameterization=["centered"])
    yes_no = data["response"] > data["response"].median()
    for response in (yes_no, yes_no.astype(object)):  # object dtype: Python booleans, as after dropna on Nones
        with pytest.raises(TypeError, match="is boolean: a yes/no response needs a binomial model"):
            hierarchical_four_pl(data.assign(response=response), priors=PRIORS)
    for batch_size in (1000, 2.5, True):  # 2.5 and True were taken as 2 and 1
        with pytest.raises(ValueError, match=r"batch_size must be a whole number in 1\.\.96"):
            hierarchical_four_pl(data, priors=PRIORS, batch_size=batch_size)


# --- the model ------------------------------------------------------------------------------------


def test_likelihood_matches_a_direct_computation():
    data, _ = tidy(n_groups=3, n_obs=48)
    model = hierarchical_four_pl(data, priors=PRIORS)
    point = random_points(model, 1)[0]
    loglik = compile_at_point(model, model.datalogp)(point)
    g = data["group"].to_numpy()
    values = compile_at_point(model, [model[n] for n in ("bottom", "top", "log_ec50", "hill", "sigma")])(point)
    bottom, top, log_ec50, hill, sigma = values
    mu = four_pl(data["log_concentration"].to_numpy(), bottom[g], top[g], log_ec50[g], hill[g])
    assert loglik == pytest.approx(norm.logpdf(data["response"], mu, sigma).sum(), rel=1e-10)


def test_curve_points_index_every_row_back_to_its_group_and_dose():
    rng = np.random.default_rng(4)
    group = rng.integers(0, 5, 300)
    log_conc = rng.choice([-np.inf, -2.0, 0.0, 1.5], 300)  # -inf: an untreated control, a point like any other
    point_group, point_log_conc, point_of_row = curve_points(group, log_conc)
    assert point_of_row.dtype == np.int64
    np.testing.assert_array_equal(point_group[point_of_row], group)
    np.testing.assert_array_equal(point_log_conc[point_of_row], log_conc)
    pairs = list(zip(point_group, point_log_conc))
    assert pairs == sorted(set(zip(group, log_conc)))  # each distinct point once, sorted by group then dose
    with pytest.raises(ValueError, match="same length"):
        curve_points(group, log_conc[:-1])
    with pytest.raises(ValueError, match="NaN"):
        curve_points(group, np.where(group == 0, np.nan, log_conc))


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
def test_the_curve_at_the_points_is_the_per_row_density(likelihood):
    # curve_at="points" evaluates each curve once per (group, dose) and indexes it out to the rows: the same log
    # density and gradient as one curve value per row, with plates and either likelihood, on fewer curve values.
    sim = simulate_dose_response(5, 5 * 24, seed=8, n_plates=4, plate_sd=6.0, outlier_fraction=0.05)
    priors = FourPLPriors(**{**PRIORS.__dict__, "plate_sd": 10.0})
    kw = {"priors": priors, "plate": "plate", "likelihood": likelihood}
    rows, points = hierarchical_four_pl(sim.data, **kw), hierarchical_four_pl(sim.data, curve_at="points", **kw)
    n_points = len(points["point_log_conc"].get_value())
    assert n_points == sim.data.groupby(["group", "log_concentration"]).ngroups < len(sim.data)
    assert len(points["point_of_row"].get_value()) == len(points["y"].get_value()) == len(sim.data)
    (logp_points, dlogp_points), (logp_rows, dlogp_rows) = (
        (m.compile_logp(mode=ALGEBRA), m.compile_dlogp(mode=ALGEBRA)) for m in (points, rows)
    )
    for point in random_points(rows, 3):
        assert logp_points(point) == pytest.approx(logp_rows(point), rel=1e-12)
        np.testing.assert_allclose(dlogp_points(point), dlogp_rows(point), rtol=1e-9, atol=1e-9)


def test_curve_at_is_checked():
    data, _ = tidy(n_groups=3, n_obs=48)
    with pytest.raises(ValueError, match="curve_at must be 'rows' or 'points'"):
        hierarchical_four_pl(data, priors=PRIORS, curve_at="cells")
    for kwargs in ({"aggregate": True}, {"batch_size": 16}):
        with pytest.raises(ValueError, match="curve_at='points' is for the full per-measurement model"):
            hierarchical_four_pl(data, priors=PRIORS, curve_at="points", **kwargs)


@pytest.mark.parametrize("parameterization", ["centered", "noncentered"])
def test_aggregated_replicates_give_the_same_log_density(parameterization):
    data, _ = tidy(n_groups=5, n_obs=5 * 8 * 3 + 7)  # uneven replicate counts
    raw = hierarchical_four_pl(data, priors=PRIORS, parameterization=parameterization)
    agg = hierarchical_four_pl(data, priors=PRIORS, parameterization=parameterization, aggregate=True)
    raw_logp, agg_logp = raw.compile_logp(mode=ALGEBRA), agg.compile_logp(mode=ALGEBRA)
    for point in random_points(raw, 4):
        assert agg_logp(point) == pytest.approx(raw_logp(point), rel=1e-11)


def test_noncentered_has_standardised_group_effects():
    data, _ = tidy()
    model = hierarchical_four_pl(data, priors=PRIORS, parameterization="noncentered")
    free = {v.name for v in model.free_RVs}
    assert {"top_z", "bottom_z", "log_ec50_z", "log_hill_z"} <= free and "top" not in free
    assert {"top", "hill"} <= {v.name for v in model.deterministics}


def test_parameterization_can_be_chosen_per_parameter():
    data, _ = tidy()
    model = hierarchical_four_pl(data, priors=PRIORS, parameterization={"top": "centered", "bottom": "shared"})
    free = {v.name for v in model.free_RVs}
    assert "top" in free and "top_z" not in free
    assert {"log_ec50_z", "log_hill_z"} <= free  # the others follow the rule: 4 groups are few, so non-centred
    assert "bottom_mu" in free and "bottom_sd" not in free and "bottom_z" not in free  # shared: no spread
    point = random_points(model, 1)[0]
    bottom = compile_at_point(model, model["bottom"])(point)
    assert np.all(bottom == point["bottom_mu"])
    with pytest.raises(ValueError, match=r"keys must be among .* got \['ec50'\]"):
        hierarchical_four_pl(data, priors=PRIORS, parameterization={"ec50": "noncentered"})
    with pytest.raises(ValueError, match="got 'non-centred' for top"):
        hierarchical_four_pl(data, priors=PRIORS, parameterization={"top": "non-centred"})


def test_the_auto_rule_centres_many_data_rich_groups_only():
    many_rich = prepare_grouped(simulate_dose_response(20, 20 * 50, seed=0).data)
    assert auto_parameterization(many_rich) == "centered"
    assert auto_parameterization(prepare_grouped(simulate_dose_response(19, 19 * 50, seed=0).data)) == "noncentered"
    assert auto_parameterization(prepare_grouped(simulate_dose_response(30, 30 * 8, seed=0).data)) == "noncentered"
    free = {v.name for v in hierarchical_four_pl(simulate_dose_response(20, 1000, seed=0).data).free_RVs}
    assert {"top", "bottom", "log_ec50", "log_hill"} <= free


def test_controls_sit_at_top():
    data, _ = tidy(n_groups=2, n_obs=32)
    data.loc[[0, 16], "concentration"] = 0.0
    model = hierarchical_four_pl(data, priors=PRIORS, zero_is_control=True)
    point = random_points(model, 1)[0]
    loglik = compile_at_point(model, model.datalogp)(point)
    bottom, top, log_ec50, hill, sigma = compile_at_point(
        model, [model[n] for n in ("bottom", "top", "log_ec50", "hill", "sigma")]
    )(point)
    g = data["group"].to_numpy()
    with np.errstate(divide="ignore"):
        mu = four_pl(np.log(data["concentration"].to_numpy()), bottom[g], top[g], log_ec50[g], hill[g])
    assert mu[0] == pytest.approx(top[0], rel=1e-14) and mu[16] == pytest.approx(top[1], rel=1e-14)
    assert loglik == pytest.approx(norm.logpdf(data["response"], mu, sigma).sum(), rel=1e-10)
    grad = model.compile_dlogp()(point)
    assert np.isfinite(grad).all()
    # the curve at the points: the controls are points too (log concentration -inf), same density and gradient
    points = hierarchical_four_pl(data, priors=PRIORS, zero_is_control=True, curve_at="points")
    assert np.isneginf(points["point_log_conc"].get_value()).sum() == 2
    assert points.compile_logp(mode=ALGEBRA)(point) == pytest.approx(model.compile_logp(mode=ALGEBRA)(point), rel=1e-12)
    np.testing.assert_allclose(points.compile_dlogp()(point), grad, rtol=1e-9, atol=1e-9)  # finite there too


@pytest.mark.parametrize("aggregate", [False, True])
def test_minibatch_likelihood_is_scaled_to_the_full_data(aggregate):
    data, _ = tidy(n_groups=4, n_obs=4 * 8 * 4)
    full = hierarchical_four_pl(data, priors=PRIORS, aggregate=aggregate)
    mb = hierarchical_four_pl(data, priors=PRIORS, aggregate=aggregate, batch_size=16)
    point = full.initial_point()
    full_loglik = compile_at_point(full, full.datalogp)(point)
    mb_fn = compile_at_point(mb, mb.datalogp, random_seed=1)
    estimates = np.array([mb_fn(point) for _ in range(400)])
    # An unbiased estimate of the full-data likelihood: the average of 400 batches lands within 4 standard errors.
    se = estimates.std() / np.sqrt(len(estimates))
    assert abs(estimates.mean() - full_loglik) < 4 * se
    assert estimates.std() > 0  # batches do differ


def test_replicate_cells():
    cells = replicate_cells(
        np.array([0, 0, 0, 1, 1]), np.array([1.0, 1.0, 2.0, 1.0, 1.0]), np.array([1.0, 3.0, 5.0, 2.0, 2.0])
    )
    assert cells[["n", "mean", "ss"]].to_numpy().tolist() == [[2, 2.0, 2.0], [1, 5.0, 0.0], [2, 2.0, 0.0]]
    # each of these gave a wrong table silently: a NaN response counted in n but not in the mean, a NaN dose or group
    # dropped its row; string labels failed inside pandas
    g, x, y = np.array([0, 0, 1]), np.array([1.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0])
    for args, match in [
        ((g, x, np.array([1.0, np.nan, 5.0])), "response has 1 NaN or infinite"),
        ((g, np.array([1.0, np.nan, 2.0]), y), "log_conc has NaN or \\+inf"),
        ((np.array([0.0, np.nan, 1.0]), x, y), "group_idx must hold integer group codes"),
        ((np.array(["a", "a", "b"]), x, y), "group_idx must hold integer group codes"),
        ((g, x, y[:2]), "must be 1-D of the same length"),
    ]:
        with pytest.raises(ValueError, match=match):
            replicate_cells(*args)
    with pytest.raises(ValueError, match="group_idx must hold integer group codes"):
        curve_points(np.array([0.0, np.nan, 1.0]), x)  # gave point_of_row -9223372036854775808
    with pytest.raises(ValueError, match="group codes >= 0, got -1"):
        replicate_cells(np.array([0, -1, 1]), x, y)


# --- checking fits --------------------------------------------------------------------------------


def test_interval_coverage_counts_true_values_inside():
    draws = np.broadcast_to(np.linspace(0, 1, 101)[None, :, None], (1, 101, 3))
    post = xr.Dataset({"top": (("chain", "draw", "group"), draws)})
    truth = pd.DataFrame({"top": [0.5, 0.99, -1.0]})
    assert interval_coverage(post, truth, prob=0.9)["top"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="posterior has 3 groups, truth has 2"):
        interval_coverage(post, truth.iloc[:2])
    with pytest.raises(KeyError, match="lacks 'hill'"):
        interval_coverage(post, pd.DataFrame({"hill": [1, 2, 3]}))


def test_interval_coverage_matches_truth_to_groups_by_label():
    # truth indexed by group label in the user's own order was read by position: coverage 0 instead of 1
    post = xr.Dataset(
        {"top": (("chain", "draw", "group"), np.random.default_rng(0).normal([0.0, 10.0, 20.0], 0.1, (1, 200, 3)))},
        coords={"group": ["a", "b", "c"]},
    )
    in_order = pd.DataFrame({"top": [0.0, 10.0, 20.0]}, index=["a", "b", "c"])
    assert interval_coverage(post, in_order)["top"] == 1.0
    assert interval_coverage(post, in_order.loc[["c", "a", "b"]])["top"] == 1.0
    assert interval_coverage(post, in_order.reset_index(drop=True))["top"] == 1.0  # a default index: by position
    with pytest.raises(ValueError, match="neither the posterior's group labels"):
        interval_coverage(post, in_order.set_axis(["a", "b", "z"]))
    with pytest.raises(ValueError, match="truth has missing values in \\['top'\\]"):
        interval_coverage(post, in_order.assign(top=[0.0, np.nan, 20.0]))  # counted as a miss before
    # a default index against group labels 0, 1, 2 in another order: which row is which group cannot be told
    numbered = post.assign_coords(group=[2, 0, 1])
    with pytest.raises(ValueError, match="index truth by group label"):
        interval_coverage(numbered, in_order.reset_index(drop=True))
    assert interval_coverage(numbered, in_order.set_axis([2, 0, 1]))["top"] == 1.0
    # the same labels as an index set by the user (set_index, groupby: sorted 0, 1, 2) are labels, not positions:
    # read by position, groups 2, 0, 1 would meet 10, 20, 0 and none would be covered
    assert interval_coverage(numbered, in_order.set_axis([2, 0, 1]).sort_index())["top"] == 1.0
    by_groupby = pd.DataFrame({"group": [2, 0, 1], "top": [0.0, 10.0, 20.0]}).groupby("group").mean()
    assert interval_coverage(numbered, by_groupby)["top"] == 1.0
    # codes 0, 1, 2 set by the user against labels a, b, c: not a position, not a label, so refused
    with pytest.raises(ValueError, match="neither the posterior's group labels"):
        interval_coverage(post, by_groupby)


def test_psis_khat_separates_a_good_from_a_bad_approximation():
    rng = np.random.default_rng(0)
    y = rng.normal(1.0, 1.0, 50)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1.0, observed=y)
    with model:
        good = pm.fit(20_000, method="advi", random_seed=1, progressbar=False)
    # The posterior is Normal, so mean-field ADVI can be exact: small k-hat.
    assert advi_psis_khat(good, model, n_draws=1000) < 0.5
    with pm.Model() as corr:
        # Five parameters identified only through their sum: the posterior is a thin ridge, and a mean-field
        # Gaussian, which cannot tilt along it, is far too narrow.
        a = pm.Normal("a", 0, 10, shape=5)
        pm.Normal("y", a.sum(), 0.1, observed=y)
    with corr:
        bad = pm.fit(20_000, method="advi", random_seed=1, progressbar=False)
    assert advi_psis_khat(bad, corr, n_draws=1000) > 0.7
    with pytest.raises(ValueError, match="n_draws must be an int >= 100"):
        advi_psis_khat(good, model, n_draws=10)


# --- default priors ---------------------------------------------------------------------------------


def test_default_priors_follow_the_documented_rule():
    data = pd.DataFrame({
        "group": np.repeat(["a", "b"], 6),
        "concentration": np.tile([0.0, 1.0, 2.0, 4.0, 8.0, 16.0], 2),
        "response": [10.0, 9, 7, 4, 2, 1, 11, 10, 8, 5, 3, 0],
    })  # fmt: skip
    p = default_priors(data, zero_is_control=True)
    y, x = data["response"], np.log([1.0, 16.0])
    assert (p.top_mu, p.bottom_mu) == (5.5, 5.5)  # midpoint of the response, the same for both
    assert p.top_mu_sd == p.bottom_mu_sd == 11.0 and p.top_sd == p.bottom_sd == 5.5  # R and R / 2
    assert p.log_ec50_mu == pytest.approx(x.mean()) and p.log_ec50_mu_sd == pytest.approx(np.ptp(x) / 2)
    assert p.sigma == pytest.approx(y.std(ddof=1))
    assert (p.log_hill_mu, p.log_hill_mu_sd, p.log_hill_sd) == (0.0, 1.0, 0.5)
    one = default_curve_priors(data["concentration"], data["response"])
    assert (one.top_mu, one.top_sd, one.log_ec50_sd) == (5.5, 11.0, pytest.approx(np.ptp(x) / 2))
    assert list(p.table().index)[:2] == ["top_mu", "top_sd"] and "HalfNormal" in one.table().loc["sigma", "prior"]
    assert len(DEFAULT_PRIOR_RULE) == 8


def test_degenerate_tables_get_clear_errors():
    base = pd.DataFrame({"group": ["a"] * 5, "concentration": [1.0, 2, 4, 8, 16], "response": [5.0, 4, 3, 2, 1]})
    with pytest.raises(ValueError, match="'response' is constant"):
        default_priors(base.assign(response=3.0))
    with pytest.raises(ValueError, match="a single dose"):
        default_priors(base.assign(concentration=2.0))
    with pytest.raises(ValueError, match="no positive dose"):
        default_priors(base.assign(concentration=0.0), zero_is_control=True)
    with pytest.raises(ValueError, match="the response is constant"):
        default_curve_priors([1.0, 2.0, 3.0], [4.0, 4.0, 4.0])
    with pytest.raises(ValueError, match="fewer than two distinct positive doses"):
        default_curve_priors([0.0, 0.0, 2.0], [4.0, 3.0, 1.0])
    with pytest.raises(ValueError, match="response must be finite"):
        default_curve_priors([1.0, 2.0, 3.0], [4.0, np.nan, 1.0])


def test_one_curve_least_squares_and_model_refuse_data_with_no_curve(monkeypatch):
    rng = np.random.default_rng(1)
    conc = np.repeat([0, 0.5, 1, 2, 4, 8, 16, 32], 3).astype(float)
    with np.errstate(divide="ignore"):
        y = four_pl(np.log(conc), 5, 100, np.log(4), 1.5) + rng.normal(0, 3, len(conc))
    fit = least_squares_four_pl(conc, y)
    assert fit.loc["log_ec50", "estimate"] == pytest.approx(np.log(4), abs=0.2) and fit["se"].notna().all()
    one_nan, one_negative = y.copy(), conc.copy()
    one_nan[5], one_negative[5] = np.nan, -1.0
    # each of these returned its starting values as estimates, with no error (hill exactly 1)
    for c, r, match in [
        (conc, one_nan, "response must be finite: 1 NaN"),
        (one_negative, y, "concentrations must be finite and >= 0"),
        (np.where(conc > 0, np.inf, 0.0), y, "concentrations must be finite"),
        (np.full(8, 2.0), y[:8], "fewer than two distinct positive concentrations"),
        (conc[:5], y, "1-D of the same length"),
        (conc[:3], y[:3], "at least 4 measurements"),
    ]:
        for call in (least_squares_four_pl, four_pl_model):
            with pytest.raises(ValueError, match=match):
                call(c, r)
    with pytest.raises(ValueError, match="response must be finite"):  # given priors skip default_curve_priors
        four_pl_model(conc, one_nan, priors=default_curve_priors(conc, y))
    with pytest.raises(ValueError, match="concentrations must be finite"):
        four_pl_model(np.where(conc == 32, np.inf, conc), y, priors=default_curve_priors(conc, y))
    with pytest.raises(ValueError, match="p0 must be 4 finite numbers"):
        least_squares_four_pl(conc, y, p0=[1.0, 2.0, 3.0])
    # a fit that returns its start unchanged has estimated nothing (what SciPy returned for a NaN response)
    monkeypatch.setattr("scipy.optimize.curve_fit", lambda f, x, y, p0, **kw: (np.asarray(p0), np.full((4, 4), np.inf)))
    with pytest.raises(RuntimeError, match="did not move from its start \\[1.0, 2.0, 0.0, 1.0\\]"):
        least_squares_four_pl(conc, y, p0=[1.0, 2.0, 0.0, 1.0])


def test_default_priors_admit_every_observation_of_rising_and_falling_data():
    sim = simulate_dose_response(6, 6 * 24, seed=3)
    rising = sim.data.assign(response=200 - sim.data["response"])
    for table in (sim.data, rising):
        model = hierarchical_four_pl(table)  # priors=None: the defaults
        prior = pm.sample_prior_predictive(draws=400, model=model, random_seed=1)
        draws = prior.prior_predictive["response"].stack(s=("chain", "draw")).to_numpy()
        lo, hi = np.quantile(draws, [0.005, 0.995], axis=1)
        y = table["response"].to_numpy()
        assert np.all((y >= lo) & (y <= hi))


# --- shared controls, pm.Data, predictions -----------------------------------------------------------


def acid_like():
    sim = simulate_dose_response(3, 3 * 16, seed=5)
    controls = pd.DataFrame({"group": 999, "concentration": 0.0, "log_concentration": -np.inf,
                             "response": [101.0, 99.0, 100.5]})  # fmt: skip
    return pd.concat([sim.data, controls], ignore_index=True)


def test_shared_controls_inform_a_shared_top():
    data = acid_like()
    with pytest.raises(ValueError, match="parameterization=\\{'top': 'shared'\\}"):
        hierarchical_four_pl(data, priors=PRIORS, shared_controls=999)
    model = hierarchical_four_pl(data, priors=PRIORS, shared_controls=999, parameterization={"top": "shared"})
    assert list(model.coords["group"]) == [0, 1, 2]  # the controls are no curve
    point = random_points(model, 1)[0]
    loglik = compile_at_point(model, model.datalogp)(point)
    bottom, top, log_ec50, hill, sigma = compile_at_point(
        model, [model[n] for n in ("bottom", "top", "log_ec50", "hill", "sigma")]
    )(point)
    g = np.where(data["group"] == 999, 0, data["group"]).astype(int)
    with np.errstate(divide="ignore"):
        mu = four_pl(np.log(data["concentration"].to_numpy()), bottom[g], top[g], log_ec50[g], hill[g])
    assert np.allclose(mu[-3:], top[0])
    assert loglik == pytest.approx(norm.logpdf(data["response"], mu, sigma).sum(), rel=1e-10)
    assert np.isfinite(model.compile_dlogp()(point)).all()
    with pytest.raises(ValueError, match="no row of column 'group' has that label"):
        hierarchical_four_pl(data, shared_controls=123, parameterization={"top": "shared"})
    dosed = data.copy()
    dosed.loc[dosed.index[-1], "concentration"] = 1.0
    with pytest.raises(ValueError, match="1 shared control row.*non-zero concentration"):
        hierarchical_four_pl(dosed, shared_controls=999, parameterization={"top": "shared"})


def test_four_pl_with_a_data_container_keeps_the_gradient_finite():
    with pm.Model() as m:
        x = pm.Data("log_conc", np.log(np.array([0.0, 1.0, 2.0, 4.0])) if False else np.array([-np.inf, 0, 0.7, 1.4]))
        top, bottom = pm.Normal("top", 8, 1), pm.Normal("bottom", 1, 1)
        log_ec50, hill = pm.Normal("log_ec50", 0.5, 1), pm.LogNormal("hill", 0, 1)
        pm.Normal("y", four_pl(x, bottom, top, log_ec50, hill), 1, observed=[8.0, 7, 5, 2])
    point = m.initial_point()
    assert np.isfinite(m.compile_dlogp()(point)).all()
    mu = compile_at_point(m, four_pl(x, bottom, top, log_ec50, hill))(point)
    assert mu[0] == pytest.approx(8.0) and np.all(np.isfinite(mu))


def fitted(model, draws=40, seed=2):
    """A cheap stand-in for a posterior: prior draws, which is all these identities need."""
    idata = pm.sample_prior_predictive(draws=draws, model=model, random_seed=seed)
    idata.add_groups(posterior=idata.prior)
    return idata


def test_aggregated_log_likelihood_and_predictions_are_per_measurement():
    data, _ = tidy(n_groups=3, n_obs=3 * 8 * 3 + 5)
    raw = hierarchical_four_pl(data, priors=PRIORS, parameterization="centered")
    agg = hierarchical_four_pl(data, priors=PRIORS, parameterization="centered", aggregate=True)
    idata = fitted(raw)
    ll_raw = log_likelihood(raw, idata.copy())["response"]
    ll_agg = log_likelihood(agg, idata.copy())["response"]
    assert ll_agg.shape == ll_raw.shape == (1, 40, len(data))
    np.testing.assert_allclose(ll_agg.to_numpy(), ll_raw.to_numpy(), rtol=1e-10)
    pp = posterior_predictive(agg, idata.copy(), seed=1)["response"]
    assert pp.shape == (1, 40, len(data))
    pp_raw = posterior_predictive(raw, idata.copy(), seed=1)["response"]
    # Same distribution per measurement: compare the means over draws within 5 standard errors.
    diff = pp.mean(("chain", "draw")).to_numpy() - pp_raw.mean(("chain", "draw")).to_numpy()
    se = np.sqrt((pp.var(("chain", "draw")).to_numpy() + pp_raw.var(("chain", "draw")).to_numpy()) / 40)
    assert np.mean(np.abs(diff) < 5 * se) > 0.95
    for aggregate in (False, True):
        minibatch = hierarchical_four_pl(data, priors=PRIORS, batch_size=10, aggregate=aggregate)
        with pytest.raises(ValueError, match="without batch_size"):
            log_likelihood(minibatch, idata)
        with pytest.raises(ValueError, match="without batch_size"):
            posterior_predictive(minibatch, idata)


def test_predict_curves_from_the_model_equals_the_numpy_curve():
    data, _ = tidy(n_groups=3, n_obs=48)
    model = hierarchical_four_pl(data, priors=PRIORS)
    idata = fitted(model, draws=20)
    grid = np.array([-np.inf, -2.0, 0.0, 2.0])
    curves = predict_curves(model, idata, grid, groups=[2, 0])
    assert curves.dims == ("chain", "draw", "group", "dose") and list(curves["group"].values) == [2, 0]
    post = idata.posterior
    for label in (2, 0):
        direct = four_pl(grid[None, :], *(post[n].sel(group=label).to_numpy().reshape(-1, 1)
                                          for n in ("bottom", "top", "log_ec50", "hill")))  # fmt: skip
        np.testing.assert_allclose(curves.sel(group=label).to_numpy().reshape(-1, 4), direct, rtol=1e-6, atol=1e-9)
    new = predict_curves(model, idata, grid, new_groups=2, seed=1)
    assert list(new["group"].values) == ["new 0", "new 1"] and np.isfinite(new).all()
    with pytest.raises(ValueError, match="were not fitted"):
        predict_curves(model, idata, grid, groups=["nope"])
    one = predict_curves(model, idata, grid, groups=2)  # one label alone
    np.testing.assert_array_equal(one.sel(group=2).to_numpy(), curves.sel(group=2).to_numpy())
    for bad in (0.5, -1, True):
        with pytest.raises(ValueError, match="new_groups must be an integer >= 0"):
            predict_curves(model, idata, grid, new_groups=bad)
    with pytest.raises(ValueError, match="must not hold NaN or \\+inf"):
        predict_curves(model, idata, np.array([0.0, np.nan]))


def test_predictions_refuse_a_posterior_without_every_free_variable():
    # sample_nuts(..., var_names=["log_ec50"]) keeps sigma and the spreads only as their log values: PyMC's forward
    # sampling would draw them from the prior (predictive sds 20 times too wide, seen) instead of failing
    data, _ = tidy(n_groups=3, n_obs=48)
    for aggregate in (False, True):
        model = hierarchical_four_pl(data, priors=PRIORS, aggregate=aggregate)
        idata = fitted(model, draws=10)
        partial = idata.copy()
        partial.posterior = partial.posterior.drop_vars(["sigma", "top_sd"])
        missing = r"lacks the model's free variable\(s\) \['top_sd', 'sigma'\]"
        with pytest.raises(ValueError, match=missing):
            log_likelihood(model, partial.copy())
        with pytest.raises(ValueError, match=missing):
            posterior_predictive(model, partial.copy(), seed=1)
        with pytest.raises(ValueError, match=missing):
            predict_curves(model, partial, np.array([0.0]), new_groups=1, seed=1)
        assert posterior_predictive(model, idata.copy(), seed=1)["response"].shape == (1, 10, len(data))


def test_psis_khat_tells_full_rank_from_mean_field_on_a_correlated_posterior():
    y = np.random.default_rng(0).normal(1.0, 1.0, 50)
    with pm.Model() as ridge:
        # Three parameters informed mostly through their sum: a tilted Gaussian posterior. Full-rank ADVI can
        # represent it exactly; mean-field, which cannot tilt, cannot. (Measured: 0.38 against 0.82.)
        a = pm.Normal("a", 0, 1, shape=3)
        pm.Normal("y", a.sum(), 1.0, observed=y)
    fits = {}
    for method in ("advi", "fullrank_advi"):
        with ridge:
            fits[method] = pm.fit(50_000, method=method, obj_optimizer=pm.adam(learning_rate=0.01), random_seed=1,
                                  progressbar=False)  # fmt: skip
    assert advi_psis_khat(fits["fullrank_advi"], ridge, n_draws=2000) < 0.5
    assert advi_psis_khat(fits["advi"], ridge, n_draws=2000) > 0.7


def test_group_psis_khat_flags_the_groups_mean_field_fits_worst():
    # Two groups measured the same way, except that group 1 sees only the lowest doses: its top, log EC50 and Hill
    # slope trade off against each other (a tilted posterior), which mean-field ADVI cannot represent.
    sim = simulate_dose_response(6, 6 * 24, seed=4)
    data = sim.data[(sim.data["group"] != 1) | (sim.data["log_concentration"] < -1)]
    model = hierarchical_four_pl(data, priors=PRIORS, parameterization="centered", aggregate=True)
    with model:
        approx = pm.fit(30_000, method="advi", obj_optimizer=pm.adam(learning_rate=0.01), random_seed=1,
                        progressbar=False)  # fmt: skip
    khat = group_psis_khat(approx, model, n_draws=1000, seed=1)
    assert khat.shape == (6,) and np.isfinite(khat).all()
    assert khat[1] == khat.max() and khat[1] > 0.7
    # the per-measurement model, its curve per row or per point: the same approximation scores the same per group
    per_row = group_psis_khat(approx, hierarchical_four_pl(data, priors=PRIORS, parameterization="centered"), seed=1)
    at_points = hierarchical_four_pl(data, priors=PRIORS, parameterization="centered", curve_at="points")
    np.testing.assert_allclose(group_psis_khat(approx, at_points, seed=1), per_row, rtol=1e-6)
    with pytest.raises(ValueError, match="without batch_size"):
        group_psis_khat(approx, hierarchical_four_pl(data, priors=PRIORS, batch_size=8))
    # these gave [inf, inf, ...] with no error: no variable of dims ("group",) to weigh
    decorrelated = hierarchical_four_pl(data, priors=PRIORS, parameterization="decorrelated", aggregate=True)
    with pytest.raises(ValueError, match="blocks per group"):
        group_psis_khat(approx, decorrelated)
    shared = hierarchical_four_pl(
        data, priors=PRIORS, parameterization=dict.fromkeys(("bottom", "top", "log_ec50", "log_hill"), "shared")
    )
    with pytest.raises(ValueError, match="no per-group free variables"):
        group_psis_khat(approx, shared)


# --- plates and outliers ---------------------------------------------------------------------------------


def test_plates_and_a_student_t_likelihood():
    sim = simulate_dose_response(6, 6 * 32, seed=8, n_plates=5, plate_sd=6.0, outlier_fraction=0.05)
    priors = FourPLPriors(**{**PRIORS.__dict__, "plate_sd": 10.0})
    model = hierarchical_four_pl(sim.data, priors=priors, plate="plate", likelihood="student_t")
    assert list(model.coords["plate"]) == sorted(sim.data["plate"].unique())
    assert {"plate_sd", "plate_effect", "nu"} <= {v.name for v in model.free_RVs}
    point = random_points(model, 1)[0]
    loglik = compile_at_point(model, model.datalogp)(point)
    values = compile_at_point(model, [model[n] for n in ("bottom", "top", "log_ec50", "hill", "sigma", "nu",
                                                         "plate_effect")])(point)  # fmt: skip
    bottom, top, log_ec50, hill, sigma, nu, plate_effect = values
    assert abs(plate_effect.sum()) < 1e-9  # zero-sum: plates cannot absorb the curves' common level
    g, p = sim.data["group"].to_numpy(), sim.data["plate"].to_numpy()
    mu = four_pl(sim.data["log_concentration"].to_numpy(), bottom[g], top[g], log_ec50[g], hill[g]) + plate_effect[p]
    from scipy.stats import t as student_t

    assert loglik == pytest.approx(student_t.logpdf(sim.data["response"], nu, mu, sigma).sum(), rel=1e-10)
    assert np.isfinite(model.compile_dlogp()(point)).all()


@pytest.mark.parametrize("nu", [0.05, 1.0, 4.0, 30.0, 1e4])
@pytest.mark.parametrize("sigma", [1e-3, 1.0, 50.0])
def test_student_t_logp_is_pymcs_studentt_value_and_gradient(nu, sigma):
    # Written with log(nu sigma^2 + r^2) - log(nu sigma^2) for speed, not log1p: residuals from 1e-8 to 1e3 sigmas
    # (and 0), where the difference of logs is worst, must give PyMC's value and gradient
    import pytensor
    import pytensor.tensor as pt

    value, mu, nu_, sigma_ = pt.dvector("value"), pt.dvector("mu"), pt.dscalar("nu"), pt.dscalar("sigma")
    ours = student_t_logp(value, nu_, mu, sigma_).sum()
    pymc = pm.logp(pm.StudentT.dist(nu=nu_, mu=mu, sigma=sigma_), value).sum()
    wrt = [nu_, mu, sigma_]
    f = pytensor.function([value, mu, nu_, sigma_], [ours, pymc, *pytensor.grad(ours, wrt), *pytensor.grad(pymc, wrt)],
                          mode=ALGEBRA)  # fmt: skip
    rng = np.random.default_rng(0)
    residual = sigma * np.append(rng.standard_normal(60) * 10.0 ** rng.integers(-8, 4, 60), 0.0)
    mu_value = rng.normal(0, 10, residual.size)
    a, b, *grads = f(mu_value + residual, mu_value, nu, sigma)
    assert a == pytest.approx(b, rel=1e-12)
    for ours_grad, pymc_grad in zip(grads[:3], grads[3:]):
        np.testing.assert_allclose(ours_grad, pymc_grad, rtol=1e-12, atol=1e-12 * np.max(np.abs(pymc_grad)))
    from pymc.logprob.utils import ParameterValueError

    with pytest.raises(ParameterValueError, match="nu > 0"):  # outside the support, as PyMC's check says
        f(mu_value, mu_value, -1.0, sigma)


def test_the_student_t_gradient_has_no_log1p_per_row():
    # The reason for student_t_logp: PyTensor's rewrites must not turn the difference of logs back into a log1p per row
    sim = simulate_dose_response(4, 4 * 16, seed=8, n_plates=3, outlier_fraction=0.05)
    model = hierarchical_four_pl(sim.data, plate="plate", likelihood="student_t", curve_at="points")
    fn = model.compile_logp(jacobian=True)  # the default mode's full rewrites (stabilize, specialize), as a fit's
    scalar_ops = set()
    for node in fn.f.maker.fgraph.toposort():
        scalar = getattr(node.op, "scalar_op", None)
        inner = scalar.fgraph.toposort() if hasattr(scalar, "fgraph") else [] if scalar is None else [scalar]
        scalar_ops |= {type(getattr(n, "op", n)).__name__ for n in inner}
    assert "Log" in scalar_ops and "Log1p" not in scalar_ops
    assert model["response"].owner.op.__class__.__name__ != "StudentTRV"  # the CustomDist, not pm.StudentT
    draws = pm.draw(model["response"], random_seed=1)  # forward draws still work (pm.StudentT's own)
    assert draws.shape == (len(sim.data),) and np.isfinite(draws).all()


def test_plate_and_likelihood_arguments_are_checked():
    sim = simulate_dose_response(4, 4 * 16, seed=8, n_plates=3)
    with pytest.raises(ValueError, match="plate effects need a prior for their spread"):
        hierarchical_four_pl(sim.data, priors=PRIORS, plate="plate")
    assert "plate_sd" in {v.name for v in hierarchical_four_pl(sim.data, plate="plate").free_RVs}  # default priors
    with pytest.raises(ValueError, match="lacks the plate column 'batch'"):
        hierarchical_four_pl(sim.data, plate="batch")
    with pytest.raises(ValueError, match="more than one column named 'plate'"):
        hierarchical_four_pl(pd.concat([sim.data, sim.data[["plate"]]], axis=1), plate="plate")
    with pytest.raises(ValueError, match="aggregate=True needs Normal noise"):
        hierarchical_four_pl(sim.data, plate="plate", aggregate=True)
    with pytest.raises(ValueError, match="aggregate=True needs Normal noise"):
        hierarchical_four_pl(sim.data, likelihood="student_t", aggregate=True)
    with pytest.raises(ValueError, match="unknown likelihood 'cauchy'"):
        hierarchical_four_pl(sim.data, likelihood="cauchy")
    with pytest.raises(ValueError, match="a single plate"):
        hierarchical_four_pl(sim.data.assign(plate=0), plate="plate")


def test_the_written_out_zero_sum_normal_is_pymcs_zero_sum_normal():
    from recipes_utils.dose_response import _zero_sum_normal

    logps, values = [], []
    for explicit in (False, True):
        with pm.Model(coords={"plate": list("abcdefg")}) as model:
            effect = _zero_sum_normal("effect", 2.0, dims="plate", explicit=explicit)
        free = model.value_vars[0]
        assert free.name == ("effect_free" if explicit else "effect_zerosum__")
        u = np.random.default_rng(0).normal(size=(5, 6))
        logp, value = model.compile_logp(mode=ALGEBRA), compile_at_point(model, effect)
        logps.append([logp({free.name: x}) for x in u])
        values.append([value({free.name: x}) for x in u])
    np.testing.assert_allclose(logps[1], logps[0], rtol=1e-12)
    np.testing.assert_allclose(values[1], values[0], rtol=1e-12, atol=1e-15)
    assert np.abs(np.sum(values[1], axis=1)).max() < 1e-12


def test_plate_effects_keep_a_finite_log_density_in_float32():
    import pytensor

    from recipes_utils.dose_response import _zero_sum_normal

    sim = simulate_dose_response(6, 6 * 32, seed=8, n_plates=12, plate_sd=6.0)
    priors = FourPLPriors(**{**PRIORS.__dict__, "plate_sd": 10.0})
    rng = np.random.default_rng(1)
    with pytensor.config.change_flags(floatX="float32"):
        model = hierarchical_four_pl(sim.data, priors=priors, plate="plate", parameterization="decorrelated")
        assert "plate_effect_free" in {v.name for v in model.free_RVs}
        ip = model.initial_point()
        points = [{k: (v + rng.normal(0, 0.3, np.shape(v))).astype(v.dtype) for k, v in ip.items()} for _ in range(20)]
        logp, dlogp = model.compile_logp(), model.compile_dlogp()
        assert all(np.isfinite(logp(p)) and np.isfinite(dlogp(p)).all() for p in points)
        assert model.compile_logp(jacobian=False).f.outputs[0].variable.dtype == "float32"
        # PyMC's own ZeroSumNormal is -inf at most such points in float32: why the builder writes it out.
        with pm.Model(coords={"plate": range(12)}) as zsn:
            _zero_sum_normal("plate_effect", 1.0, dims="plate", explicit=False)
        zsn_logp = zsn.compile_logp()
        u = rng.normal(size=(20, 11)).astype("float32")
        assert np.mean([not np.isfinite(zsn_logp({"plate_effect_zerosum__": x})) for x in u]) > 0.5


def test_shared_controls_keep_the_group_labels_type():
    model = hierarchical_four_pl(acid_like(), priors=PRIORS, shared_controls=999, parameterization={"top": "shared"})
    assert list(model.coords["group"]) == [0, 1, 2] and all(isinstance(g, int) for g in model.coords["group"])


# --- the decorrelated parameterisation -------------------------------------------------------------


def to_decorrelated(centred, decorrelated, point):
    """The decorrelated model's point (its value variables) for a centred model's point: the same curves."""
    import pytensor.tensor as pt

    values = {}
    for rv in centred.free_RVs:
        transform, x = centred.rvs_to_transforms.get(rv), point[centred.rvs_to_values[rv].name]
        values[rv.name] = transform.backward(pt.as_tensor(x)).eval() if transform else x
    values["curve"] = np.stack([values[n] for n in ("bottom", "top", "log_ec50", "log_hill")], axis=1)
    out = {}
    for rv in decorrelated.free_RVs:
        transform, x = decorrelated.rvs_to_transforms.get(rv), values[rv.name]
        out[decorrelated.rvs_to_values[rv].name] = transform.forward(pt.as_tensor(x)).eval() if transform else x
    return out


@pytest.mark.parametrize("likelihood", ["normal", "student_t", "aggregate"])
def test_decorrelated_is_the_centred_posterior_in_another_basis(likelihood):
    sim = simulate_dose_response(8, 8 * 40, seed=3, n_plates=4, outlier_fraction=0.02)
    priors = FourPLPriors(**{**PRIORS.__dict__, "plate_sd": 10.0})
    kw = {"priors": priors, "plate": "plate", "likelihood": likelihood}
    if likelihood == "aggregate":  # the hierarchical recipe's fit at scale: sufficient statistics, no plates
        kw = {"priors": priors, "aggregate": True}
    centred = hierarchical_four_pl(sim.data, parameterization="centered", **kw)
    decorrelated = hierarchical_four_pl(sim.data, parameterization="decorrelated", **kw)
    assert "curve" in {v.name for v in decorrelated.free_RVs}
    assert list(decorrelated.coords["curve_param"]) == ["bottom", "top", "log_ec50", "log_hill"]
    logp_c, logp_d = (m.compile_logp(jacobian=False, mode=ALGEBRA) for m in (centred, decorrelated))
    for point in random_points(centred, 3):
        assert logp_d(to_decorrelated(centred, decorrelated, point)) == pytest.approx(logp_c(point), rel=1e-10)
    # With the Jacobian the two differ by a constant (the transform is linear): the same posterior.
    jac_c, jac_d = centred.compile_logp(mode=ALGEBRA), decorrelated.compile_logp(mode=ALGEBRA)
    diffs = [jac_d(to_decorrelated(centred, decorrelated, p)) - jac_c(p) for p in random_points(centred, 3, seed=1)]
    assert np.ptp(diffs) < 1e-6 * abs(diffs[0]) + 1e-8
    # The group variables keep their names (as Deterministics), so every downstream function works.
    with decorrelated, warnings.catch_warnings():
        # aggregate=True: the within-cell Potential is likelihood, not prior, so PyMC's note about it does not apply
        warnings.filterwarnings("ignore", message="The effect of Potentials", category=UserWarning)
        prior = pm.sample_prior_predictive(5, random_seed=1)
    assert prior.prior["log_ec50"].shape == (1, 5, 8)


def test_curve_preconditioner_finds_each_curve_and_its_uncertainty():
    sim = simulate_dose_response(40, 40 * 64, seed=4)
    center, chol = curve_preconditioner(prepare_grouped(sim.data), PRIORS)
    assert center.shape == (40, 4) and chol.shape == (40, 4, 4)
    truth = sim.truth.assign(log_hill=np.log(sim.truth["hill"]))[["bottom", "top", "log_ec50", "log_hill"]]
    sd = np.sqrt((chol**2).sum(axis=2))
    z = (truth.to_numpy() - center) / sd
    # The fit is each curve's estimate and the sd its standard error: z-scores standard normal, roughly.
    assert np.mean(np.abs(z) < 1.96) > 0.85 and np.abs(z).max() < 5
    # The steep Hill slope correlates with the two asymptotes in opposite directions (doses symmetric about EC50).
    cov = chol @ np.swapaxes(chol, 1, 2)
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    assert np.median(corr[:, 0, 3]) > 0.2 and np.median(corr[:, 1, 3]) < -0.2


def test_curve_preconditioner_stays_finite_for_curves_the_data_barely_inform():
    sim = simulate_dose_response(3, 3 * 16, seed=5)
    data = sim.data.copy()
    data.loc[data["group"] == 0, "response"] = 50.0  # flat: no EC50, no slope in the data
    data.loc[data["group"] == 1, "response"] *= 1e6  # far outside the priors' scale
    center, chol = curve_preconditioner(prepare_grouped(data), PRIORS)
    assert np.isfinite(center).all() and np.isfinite(chol).all()
    assert (np.einsum("gii->gi", chol) > 0).all()


def test_decorrelated_rejects_shared_controls_and_per_parameter_use():
    with pytest.raises(ValueError, match="shared controls need one top"):
        hierarchical_four_pl(acid_like(), priors=PRIORS, shared_controls=999, parameterization="decorrelated")
    sim = simulate_dose_response(3, 3 * 16, seed=5)
    with pytest.raises(ValueError, match="'decorrelated' applies to all four"):
        hierarchical_four_pl(sim.data, priors=PRIORS, parameterization={"top": "decorrelated"})
