"""recipes_utils.approximations: one call per inference method, and simulation-based calibration."""

import numpy as np
import pandas as pd
import pymc as pm
import pytest

from recipes_utils import approximations, inference


@pytest.fixture(autouse=True)
def forget_compiled_samplers():
    inference._compiled_models.clear()
    yield
    inference._compiled_models.clear()


def normal_model(y):
    with pm.Model() as m:
        y_data = pm.Data("y", np.asarray(y, dtype=float))
        mu = pm.Normal("mu", 0, 10)
        sigma = pm.HalfNormal("sigma", 5)
        pm.Normal("obs", mu, sigma, observed=y_data, shape=y_data.shape)
    return m


def test_unknown_method_and_bad_model_are_refused():
    with pytest.raises(ValueError, match="unknown method 'vi'"):
        approximations.fit_method("vi", normal_model([1.0, 2.0]), seed=1)
    with pytest.raises(TypeError, match="pymc.Model"):
        approximations.fit_method("laplace", object(), seed=1)
    for seed in (None, -1, 1.5):  # pymc-extras would run unseeded with None, without a word
        with pytest.raises(ValueError, match="seed must be a whole number"):
            approximations.fit_method("laplace", normal_model([1.0, 2.0]), seed=seed)


@pytest.mark.parametrize("method", approximations.METHODS)
def test_every_method_recovers_a_normal_mean(method):
    # 200 draws from Normal(3, 2): the posterior of mu is close to Normal(mean(y), 2 / sqrt(200)) for every method.
    y = np.random.default_rng(0).normal(3.0, 2.0, 200)
    fit = approximations.fit_method(method, normal_model(y), seed=1, draws=400,
                                    nuts={"draws": 400, "tune": 400, "chains": 2})  # fmt: skip
    mu = fit.idata.posterior["mu"].to_numpy().ravel()
    se = y.std() / np.sqrt(len(y))
    assert fit.seconds > 0
    assert abs(mu.mean() - y.mean()) < 0.5 * se, (method, mu.mean(), y.mean())
    assert 0.7 < mu.std() / se < 1.3, (method, mu.std(), se)


def test_thin_draws_spreads_over_all_chains():
    values = np.arange(20).reshape(2, 10)
    assert approximations.thin_draws(values, 3).tolist() == [0, 10, 19]
    with pytest.raises(ValueError, match="asked for 30 draws from 20"):
        approximations.thin_draws(values, 30)


def test_sbc_ranks_are_uniform_for_an_exact_posterior_and_not_for_a_wrong_one():
    # NUTS samples the exact posterior (its compiled sampler is reused, the data swapped in); ranks shifted as by a
    # posterior biased low must fail the same test.
    m = normal_model(np.zeros(20))
    ranks = approximations.sbc(
        m,
        ["nuts"],
        data_name="y",
        params=["mu", "sigma"],
        n_datasets=40,
        seed=3,
        n_rank_draws=19,
        fit_kwargs={"nuts": {"draws": 200, "tune": 200, "chains": 2}},
    )
    assert set(ranks.columns) >= {"dataset", "method", "parameter", "rank", "seconds", "divergences"}
    assert len(ranks) == 80 and ranks["rank"].between(0, 19).all()
    assert len(inference._compiled_models) == 1, "the sampler was compiled more than once"
    ranks = ranks[ranks["variable"] == "mu"].reset_index(drop=True)
    good = approximations.rank_uniformity(ranks, n_rank_draws=19, n_bins=4)
    assert good.loc[0, "p_value"] > 0.001, good
    shifted = ranks.assign(rank=np.minimum(ranks["rank"] + 8, 19))  # a posterior biased low: true values rank high
    bad = approximations.rank_uniformity(shifted, n_rank_draws=19, n_bins=4)
    assert bad.loc[0, "p_value"] < 0.001, bad
    assert np.allclose(m["y"].get_value(), 0.0), "the model's data were not put back"


def test_sbc_rejects_what_it_cannot_use():
    m = normal_model(np.zeros(5))
    with pytest.raises(ValueError, match="not a pm.Data container"):
        approximations.sbc(m, ["laplace"], data_name="mu", params=["mu"], n_datasets=2, seed=1)
    with pytest.raises(ValueError, match="unknown parameter"):
        approximations.sbc(m, ["laplace"], data_name="y", params=["tau"], n_datasets=2, seed=1)
    # data set i's fits take seed + i: a bad seed was recorded as a failed fit (rank -1) for every data set
    for seed in (None, 2**63 - 2):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            approximations.sbc(m, ["laplace"], data_name="y", params=["mu"], n_datasets=3, seed=seed)
    with pytest.raises(ValueError, match="do not split"):
        approximations.rank_uniformity(pd.DataFrame({"method": ["a"], "variable": ["b"], "rank": [1]}), 99, 7)


@pytest.mark.parametrize("method", [m for m in approximations.METHODS if m != "nuts"])
def test_fitter_compiles_once_and_fits_whatever_data_the_model_holds(method):
    # Two data sets with different means: each fit must follow the data now in the container, a repeat of the first
    # must give the first's answer again (the optimiser's state is reset), and the method is compiled once.
    m = normal_model(np.zeros(200))
    ys = [np.random.default_rng(k).normal(mu, 2.0, 200) for k, mu in [(0, 3.0), (1, -2.0)]]
    # Full-rank ADVI with a larger rate and 10,000 steps instead of its 40,000-step defaults (which took 6.5 s a fit
    # here): on this two-parameter model it lands well inside the bounds below (means within 0.1 standard errors, sds
    # 0.97-1.01 of the exact, seeds 5-7).
    settings = {"learning_rate": 0.02, "max_steps": 10_000, "decay_steps": 2_500} if method == "fullrank_advi" else {}
    fitter = approximations.make_fitter(method, m, draws=400, **settings)
    means = []
    for y in [ys[0], ys[1], ys[0]]:
        with m:
            pm.set_data({"y": y})
        mu = fitter(seed=5).idata.posterior["mu"].to_numpy().ravel()
        se = y.std() / np.sqrt(len(y))
        assert abs(mu.mean() - y.mean()) < 0.5 * se, (method, mu.mean(), y.mean())
        assert 0.7 < mu.std() / se < 1.3, (method, mu.std(), se)
        means.append(mu.mean())
    assert fitter.compiles == 1
    assert means[2] == pytest.approx(means[0], abs=1e-6), "a refit of the first data set did not repeat it"


def test_make_fitter_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match="unknown method 'vi'"):
        approximations.make_fitter("vi", normal_model([1.0]))
    with pytest.raises(TypeError, match="pymc.Model"):
        approximations.make_fitter("advi", object())
    with pm.Model() as discrete:
        pm.Poisson("k", 3.0)
    with pytest.raises(ValueError, match="continuous"):
        approximations.make_fitter("laplace", discrete)
    with pytest.raises(ValueError, match="seed must be a whole number"):
        approximations.make_fitter("laplace", normal_model([1.0, 2.0]))(None)  # refused before it compiles


def test_gaussian_khat_is_small_for_the_exact_posterior_and_large_for_a_narrow_one():
    # mu ~ Normal(0, 10), y ~ Normal(mu, 1) with sigma known: the posterior of mu is exactly Gaussian.
    y = np.random.default_rng(2).normal(1.0, 1.0, 50)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("obs", mu, 1.0, observed=y)
    prec = 1 / 100 + len(y)
    exact_mean, exact_sd = y.sum() / prec, prec**-0.5
    good = approximations.gaussian_psis_khat(m, [exact_mean], sd=[exact_sd])
    narrow = approximations.gaussian_psis_khat(m, [exact_mean], sd=[exact_sd / 3])
    assert good < 0.5 and narrow > 0.7, (good, narrow)
    with pytest.raises(ValueError, match="exactly one"):
        approximations.gaussian_psis_khat(m, [0.0])


def test_sbc_records_a_failed_fit_and_the_test_leaves_it_out():
    # ADVI told to stop only at an unreachable tolerance raises ConvergenceError: the rows say so (rank -1).
    m = normal_model(np.zeros(20))
    ranks = approximations.sbc(
        m,
        ["advi"],
        data_name="y",
        params=["mu"],
        n_datasets=2,
        seed=1,
        n_rank_draws=19,
        fit_kwargs={"advi": {"max_steps": 2000, "rtol": 1e-12, "max_z": None}},
    )
    assert (ranks["rank"] == -1).all() and ranks["error"].str.startswith("ConvergenceError").all()
    out = approximations.rank_uniformity(pd.concat([ranks, ranks.assign(rank=5, error="")]), 19, 4)
    assert out.loc[0, "failed_fits"] == 2 and out.loc[0, "n"] == 2


def test_sbc_in_two_processes_gives_the_ranks_of_one():
    m = normal_model(np.zeros(10))
    kw = {"data_name": "y", "params": ["mu"], "n_datasets": 4, "seed": 2, "n_rank_draws": 19}
    one = approximations.sbc(m, ["laplace"], **kw)
    two = approximations.sbc(m, ["laplace"], n_jobs=2, **kw)
    pd.testing.assert_frame_equal(one.drop(columns="seconds"), two.drop(columns="seconds"))
