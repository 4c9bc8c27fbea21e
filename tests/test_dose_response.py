import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from scipy.stats import norm

from recipes_utils.data import simulate_dose_response
from recipes_utils.dose_response import (
    SIMULATION_PRIORS,
    FourPLPriors,
    advi_psis_khat,
    hierarchical_four_pl,
    interval_coverage,
    prepare_grouped,
    replicate_cells,
)
from recipes_utils.models import four_pl

PRIORS = SIMULATION_PRIORS


def tidy(n_groups=4, n_obs=96, seed=0):
    sim = simulate_dose_response(n_groups, n_obs, seed=seed)
    return sim.data, sim


def compile_at_point(model, outs):
    """A function of a full point (every value variable), whatever the outputs depend on."""
    # Random variables in the outputs are replaced by their value variables, or they would be drawn at random.
    outs = model.replace_rvs_by_values(outs if isinstance(outs, list) else [outs])
    return model.compile_fn(outs if len(outs) > 1 else outs[0], inputs=model.value_vars, on_unused_input="ignore")


def random_points(model, n=3, seed=0):
    rng = np.random.default_rng(seed)
    ip = model.initial_point()
    return [{k: v + rng.normal(0, 0.3, size=np.shape(v)) for k, v in ip.items()} for _ in range(n)]


# --- input checks ---------------------------------------------------------------------------------


def test_missing_column_names_it_and_lists_the_columns():
    data, _ = tidy()
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['dose'\].*'group'"):
        prepare_grouped(data, concentration="dose")


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
    with pytest.raises(ValueError, match=r"batch_size must lie in 1\.\.96"):
        hierarchical_four_pl(data, priors=PRIORS, batch_size=1000)


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


@pytest.mark.parametrize("parameterization", ["centered", "noncentered"])
def test_aggregated_replicates_give_the_same_log_density(parameterization):
    data, _ = tidy(n_groups=5, n_obs=5 * 8 * 3 + 7)  # uneven replicate counts
    raw = hierarchical_four_pl(data, priors=PRIORS, parameterization=parameterization)
    agg = hierarchical_four_pl(data, priors=PRIORS, parameterization=parameterization, aggregate=True)
    raw_logp, agg_logp = raw.compile_logp(), agg.compile_logp()
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
    model = hierarchical_four_pl(data, priors=PRIORS, parameterization={"top": "noncentered"})
    free = {v.name for v in model.free_RVs}
    assert "top_z" in free and "top" not in free
    assert {"bottom", "log_ec50", "log_hill"} <= free  # the others stay centred
    with pytest.raises(ValueError, match=r"keys must be among .* got \['ec50'\]"):
        hierarchical_four_pl(data, priors=PRIORS, parameterization={"ec50": "noncentered"})
    with pytest.raises(ValueError, match="got 'non-centred' for top"):
        hierarchical_four_pl(data, priors=PRIORS, parameterization={"top": "non-centred"})


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


@pytest.mark.parametrize("aggregate", [False, True])
def test_minibatch_likelihood_is_scaled_to_the_full_data(aggregate):
    data, _ = tidy(n_groups=4, n_obs=4 * 8 * 4)
    full = hierarchical_four_pl(data, priors=PRIORS, aggregate=aggregate)
    mb = hierarchical_four_pl(data, priors=PRIORS, aggregate=aggregate, batch_size=16)
    point = full.initial_point()
    full_loglik = compile_at_point(full, full.datalogp)(point)
    mb_fn = compile_at_point(mb, mb.datalogp)
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
