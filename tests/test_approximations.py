"""recipes_utils.approximations: one call per inference method, exact-Hessian Gaussians, and SBC."""

import numpy as np
import pandas as pd
import pymc as pm
import pytest

from recipes_utils import approximations, inference
from recipes_utils.approximations import gaussian


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


def correlated_gaussian(rho=0.9, scales=(1.0, 3.0)):
    """A posterior that is exactly Gaussian with correlation ``rho``: a two-dimensional MvNormal and nothing else."""
    cov = np.array([[scales[0] ** 2, rho * scales[0] * scales[1]], [rho * scales[0] * scales[1], scales[1] ** 2]])
    with pm.Model() as m:
        pm.MvNormal("x", mu=np.array([1.0, -2.0]), cov=cov)
    return m, cov


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
                                    nuts={"draws": 400, "tune": 400, "chains": 2},
                                    fullrank={"average_window": 4_000, "max_steps": 60_000})  # fmt: skip
    mu = fit.idata.posterior["mu"].to_numpy().ravel()
    se = y.std() / np.sqrt(len(y))
    assert fit.seconds > 0
    assert abs(mu.mean() - y.mean()) < 0.5 * se, (method, mu.mean(), y.mean())
    assert 0.7 < mu.std() / se < 1.3, (method, mu.std(), se)


def test_laplace_is_exact_for_a_gaussian_posterior_and_its_mode_follows_the_jacobian_setting():
    m, cov = correlated_gaussian()
    g = approximations.laplace(m)
    assert g.converged and g.floored_eigenvalues == 0
    np.testing.assert_allclose(g.mean, [1.0, -2.0], atol=1e-6)
    np.testing.assert_allclose(g.precision.covariance(), cov, rtol=1e-6)
    # sigma ~ HalfNormal(1) alone: the density of log(sigma) with the Jacobian peaks at sigma = 1, the density of sigma
    # (no Jacobian) at sigma -> 0; a trust-region Newton on the latter does not converge to a mode
    with pm.Model() as half:
        pm.HalfNormal("sigma", 1.0)
    with_jac = approximations.laplace(half, jacobian=True)
    assert with_jac.converged and np.exp(with_jac.mean[0]) == pytest.approx(1.0, abs=1e-6)
    assert 1 / np.sqrt(with_jac.precision.hessian[0, 0]) == pytest.approx(0.5**0.5, rel=1e-6)  # -d2/dz2 = 2 sigma^2


def test_laplace_without_the_jacobian_is_pymc_extras_exact_hessian_laplace():
    import pymc_extras as pmx

    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 2))
    y = x @ [1.0, -0.5] + 0.3 + rng.normal(0, 0.5, 60)
    with pm.Model() as m:
        beta = pm.Normal("beta", 0, 2, shape=2)
        alpha = pm.Normal("alpha", 0, 2)
        sigma = pm.HalfNormal("sigma", 1)
        pm.Normal("obs", alpha + pm.math.dot(x, beta), sigma, observed=y)
    ours = approximations.laplace(m, jacobian=False)
    theirs = pmx.fit_laplace(model=m, use_hess=True, optimize_method="trust-exact", progressbar=False, random_seed=1)
    rows = theirs.fit["mean_vector"].coords["rows"].to_numpy().tolist()  # their order: by name, ours the model's
    names = ["beta[0]", "beta[1]", "alpha", "sigma_log__"]
    order = [rows.index(n) for n in names]
    np.testing.assert_allclose(ours.mean, theirs.fit["mean_vector"].to_numpy()[order], atol=1e-5)
    their_cov = theirs.fit["covariance_matrix"].to_numpy()[np.ix_(order, order)]
    np.testing.assert_allclose(ours.precision.covariance(), their_cov, rtol=1e-4, atol=1e-9)


def test_lrvb_recovers_the_covariance_that_mean_field_drops():
    # For a Gaussian posterior the linear response is exact: mean-field's sds are the conditional ones,
    # sqrt(1 / precision_ii), too narrow by sqrt(1 - rho^2); LRVB's are the marginal ones.
    # With 30 fixed draws DADVI's objective is a sample average; with 2,000 it is close to the exact one.
    m, cov = correlated_gaussian(rho=0.9)
    mf, lr = approximations.dadvi_lrvb(m, n_fixed_draws=2000)
    assert mf.converged
    conditional = 1 / np.sqrt(np.diag(np.linalg.inv(cov)))
    np.testing.assert_allclose(mf.precision.marginal_sd(), conditional, rtol=0.05)
    np.testing.assert_allclose(lr.precision.marginal_sd(), np.sqrt(np.diag(cov)), rtol=0.05)
    np.testing.assert_allclose(lr.mean, [1.0, -2.0], atol=0.05)


def small_hierarchy(n_groups=6, coupled=False):
    rng = np.random.default_rng(4)
    y = rng.normal(rng.normal(0, 1, n_groups)[:, None], 0.5, (n_groups, 5))
    with pm.Model(coords={"group": range(n_groups)}) as m:
        mu = pm.Normal("mu", 0, 2)
        tau = pm.HalfNormal("tau", 1)
        theta = pm.Normal("theta", mu, tau, dims="group")
        log_s = pm.Normal("log_s", 0, 1, dims="group")
        pm.Normal("y", theta[:, None], pm.math.exp(log_s)[:, None], observed=y)
        if coupled:  # a term that ties neighbouring groups: not block-arrow
            pm.Potential("chain", -((theta[1:] - theta[:-1]) ** 2).sum())
    return m


@pytest.mark.parametrize("kind", ["laplace", "lrvb"])
def test_block_arrow_hessian_is_the_dense_one_and_refuses_coupled_groups(kind):
    m = small_hierarchy()
    if kind == "laplace":
        dense, arrow = approximations.laplace(m), approximations.laplace(m, group_dim="group")
    else:
        dense, arrow = approximations.dadvi_lrvb(m)[1], approximations.dadvi_lrvb(m, group_dim="group")[1]
    np.testing.assert_allclose(arrow.precision.marginal_sd(), dense.precision.marginal_sd(), rtol=1e-6)
    x_dense, _ = dense.draws(20_000, seed=1)
    x_arrow, logq = arrow.draws(20_000, seed=1)
    np.testing.assert_allclose(np.cov(x_arrow.T), np.cov(x_dense.T), atol=0.05)  # same covariance, other draws
    if kind == "laplace":  # the arrow's density of its own draws is the dense Gaussian's
        from scipy.stats import multivariate_normal

        ref = multivariate_normal(dense.mean, dense.precision.covariance()).logpdf(x_arrow[:50])
        np.testing.assert_allclose(logq[:50], ref, rtol=1e-8)
    coupled = small_hierarchy(coupled=True)
    funcs = gaussian.LaplaceFunctions(coupled)
    index, shared = gaussian.coordinate_groups(coupled, "group")
    with pytest.raises(ValueError, match="not block-arrow"):
        gaussian.arrow_hessian(funcs.hessp, funcs.x0 + 0.1, index, shared)
    with pytest.raises(ValueError, match="no free variable"):
        approximations.laplace(m, group_dim="compound")


def test_full_rank_advi_with_averaged_iterates_recovers_a_correlated_gaussian():
    m, cov = correlated_gaussian(rho=0.9)
    fit = inference.fit_advi(m, seed=2, method="fullrank_advi", init="advi", max_steps=80_000, learning_rate=0.01,
                             decay_steps=2_000, average_window=4_000, elbo_tol=0.01)  # fmt: skip
    draws = fit.sample(4000, seed=3).posterior["x"].to_numpy().reshape(-1, 2)
    np.testing.assert_allclose(draws.std(axis=0), np.sqrt(np.diag(cov)), rtol=0.06)
    assert np.corrcoef(draws.T)[0, 1] == pytest.approx(0.9, abs=0.03)
    assert fit.converged and len(fit.convergence.history) >= 2
    with pytest.raises(Exception, match="averaged ELBO still improved"):
        inference.fit_advi(m, seed=2, method="fullrank_advi", max_steps=2_000, average_window=1_000, elbo_tol=1e-9)
    with pytest.raises(ValueError, match="init='advi'"):
        inference.fit_advi(m, seed=2, init="advi")


def test_thin_to_ess_keeps_draws_an_autocorrelation_time_apart():
    rng = np.random.default_rng(0)
    iid = rng.normal(size=(2, 1000))
    assert approximations.thin_to_ess(iid, 99).size == 99
    ar = np.zeros((2, 1000))  # AR(1) with rho 0.98: bulk ESS about 2000 * 0.02 / 1.98 = 20
    for t in range(1, 1000):
        ar[:, t] = 0.98 * ar[:, t - 1] + rng.normal(size=2)
    kept = approximations.thin_to_ess(ar, 99)
    assert 5 <= kept.size <= 60, kept.size


def test_rank_fraction_breaks_ties_at_random():
    rng = np.random.default_rng(1)
    ranks = [approximations.rank_fraction(np.zeros(9), 0.0, rng)[0] for _ in range(2000)]
    counts = np.bincount(ranks, minlength=10)
    assert counts.min() > 120, counts  # uniform over 0..9, not always 0
    rank, n, u = approximations.rank_fraction(np.arange(9.0), 4.5, rng)
    assert (rank, n) == (5, 9) and 5 / 10 <= u < 6 / 10


def test_sbc_ranks_are_uniform_for_an_exact_posterior_and_not_for_a_wrong_one():
    # NUTS samples the exact posterior (its compiled sampler reused, the data swapped in); ranks shifted as by a
    # posterior biased low must fail the same test.
    m = normal_model(np.zeros(20))
    ranks = approximations.sbc(m, ["nuts"], data_name="y", params=["mu", "sigma"], n_datasets=40, seed=3,
                               n_rank_draws=19, fit_kwargs={"nuts": {"draws": 200, "tune": 200, "chains": 2}})  # fmt: skip
    assert set(ranks.columns) >= {"dataset", "method", "parameter", "rank", "n_draws", "u", "seconds", "divergences"}
    assert len(ranks) == 80 and ranks["rank"].between(0, 19).all() and ranks["u"].between(0, 1).all()
    assert len(inference._compiled_models) == 1, "the sampler was compiled more than once"
    good = approximations.rank_uniformity(ranks, ["mu"], n_bins=4)
    assert good.loc[0, "p_value"] > 0.001, good
    shifted = ranks.assign(u=np.minimum(ranks["u"] + 0.4, 0.999))  # a posterior biased low: true values rank high
    bad = approximations.rank_uniformity(shifted, ["mu"], n_bins=4)
    assert bad.loc[0, "p_value"] < 0.001, bad
    assert np.allclose(m["y"].get_value(), 0.0), "the model's data were not put back"


def test_rank_uniformity_takes_one_value_per_data_set():
    rows = pd.DataFrame({"dataset": [0, 0, 1, 1], "method": "m", "parameter": ["b[0]", "b[1]"] * 2,
                         "variable": "b", "rank": 1, "u": [0.1, 0.2, 0.3, 0.4], "error": ""})  # fmt: skip
    assert approximations.rank_uniformity(rows, ["b[0]"], n_bins=2)["n"].tolist() == [2]
    pooled = rows.assign(parameter="b")
    with pytest.raises(ValueError, match="several rows per data set"):
        approximations.rank_uniformity(pooled)
    with pytest.raises(ValueError, match="no ranks for"):
        approximations.rank_uniformity(rows, ["c"])


def test_sbc_rejects_what_it_cannot_use():
    m = normal_model(np.zeros(5))
    with pytest.raises(ValueError, match="not a pm.Data container"):
        approximations.sbc(m, ["laplace"], data_name="mu", params=["mu"], n_datasets=2, seed=1)
    with pytest.raises(ValueError, match="unknown parameter"):
        approximations.sbc(m, ["laplace"], data_name="y", params=["tau"], n_datasets=2, seed=1)
    for seed in (None, 2**63 - 2):  # data set i's fits take seed + i
        with pytest.raises(ValueError, match="seed must be a whole number"):
            approximations.sbc(m, ["laplace"], data_name="y", params=["mu"], n_datasets=3, seed=seed)


@pytest.mark.parametrize("method", [m for m in approximations.METHODS if m != "nuts"])
def test_fitter_compiles_once_and_fits_whatever_data_the_model_holds(method):
    # Two data sets with different means: each fit must follow the data now in the container, a repeat of the first
    # must give the first's answer again (the optimiser's state is reset), and the method is compiled once.
    m = normal_model(np.zeros(200))
    ys = [np.random.default_rng(k).normal(mu, 2.0, 200) for k, mu in [(0, 3.0), (1, -2.0)]]
    settings = {"average_window": 4_000, "max_steps": 60_000} if method == "fullrank_advi" else {}
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


def test_psis_khat_is_small_for_the_exact_posterior_and_large_for_a_narrow_one():
    m, cov = correlated_gaussian()
    exact = approximations.laplace(m)
    x, logq = exact.draws(1000, seed=1)
    narrow = gaussian.GaussianFit(exact.mean, gaussian.DensePrecision(np.linalg.inv(cov) * 9), 0, True, 0, 0, 0)
    xn, logqn = narrow.draws(1000, seed=1)
    assert approximations.psis_khat(m, x, logq) < 0.5
    assert approximations.psis_khat(m, xn, logqn) > 0.7


def test_sbc_records_a_failed_fit_and_the_test_leaves_it_out():
    # ADVI told to stop only at an unreachable tolerance raises ConvergenceError: the rows say so (rank -1).
    m = normal_model(np.zeros(20))
    ranks = approximations.sbc(m, ["advi"], data_name="y", params=["mu"], n_datasets=2, seed=1, n_rank_draws=19,
                               fit_kwargs={"advi": {"max_steps": 2000, "rtol": 1e-12, "max_z": None}})  # fmt: skip
    assert (ranks["rank"] == -1).all() and ranks["error"].str.startswith("ConvergenceError").all()
    both = pd.concat([ranks, ranks.assign(dataset=ranks["dataset"] + 2, rank=5, u=0.3, error="")])
    out = approximations.rank_uniformity(both, ["mu"], n_bins=4)
    assert out.loc[0, "failed_fits"] == 2 and out.loc[0, "n"] == 2


def test_sbc_in_two_processes_gives_the_ranks_of_one():
    m = normal_model(np.zeros(10))
    kw = {"data_name": "y", "params": ["mu"], "n_datasets": 4, "seed": 2, "n_rank_draws": 19}
    one = approximations.sbc(m, ["laplace"], **kw)
    two = approximations.sbc(m, ["laplace"], n_jobs=2, **kw)
    pd.testing.assert_frame_equal(one.drop(columns="seconds"), two.drop(columns="seconds"))


def test_dadvi_and_lrvb_fitters_share_one_optimum_per_data_set(monkeypatch):
    calls = []
    original = approximations.gaussian.dadvi

    def counted(*args, **kwargs):
        fit = original(*args, **kwargs)
        calls.append(fit.seconds)
        return fit

    monkeypatch.setattr(approximations.gaussian, "dadvi", counted)
    m = normal_model(np.zeros(10))
    ranks = approximations.sbc(m, ["dadvi", "dadvi_lrvb"], data_name="y", params=["mu"], n_datasets=3, seed=2)
    assert len(calls) == 3, len(calls)  # once per data set, not once per method and data set
    per_fit = ranks.drop_duplicates(["dataset", "method"]).pivot(index="dataset", columns="method", values="seconds")
    assert (per_fit["dadvi_lrvb"].to_numpy() >= np.array(calls)).all(), "LRVB's seconds leave out the optimisation"


def test_fit_method_compiles_and_optimises_dadvi_once_for_both_dadvi_methods(monkeypatch):
    built = []
    original = approximations.gaussian.DadviFunctions

    class Counted(original):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(approximations.gaussian, "DadviFunctions", Counted)
    m = normal_model(np.random.default_rng(0).normal(3.0, 2.0, 50))
    mf = approximations.fit_method("dadvi", m, seed=1, draws=200)
    lr = approximations.fit_method("dadvi_lrvb", m, seed=1, draws=200)
    assert len(built) == 1, "compiled twice"
    assert lr.seconds >= mf.seconds * 0.5, "LRVB's seconds must count the shared compile and optimisation"
    with m:
        pm.set_data({"y": np.zeros(50)})  # new data: a new optimum, the same compiled objective
    moved = approximations.fit_method("dadvi", m, seed=1, draws=200).idata.posterior["mu"].mean()
    assert abs(float(moved)) < 0.5 and len(built) == 1


def test_dadvi_objective_gradient_and_hessian_products_are_pymc_extras_graphs():
    # DadviFunctions assembles DADVI's objective by the chain rule from the model's own compiled functions; it must be
    # pymc-extras' create_dadvi_graph, value for value, with the gradient and Hessian-vector product of that graph.
    import pytensor
    import pytensor.tensor as pt
    from pymc_extras.inference.dadvi.dadvi import create_dadvi_graph

    m = normal_model(np.random.default_rng(0).normal(3.0, 2.0, 30))
    funcs = gaussian.DadviFunctions(m, n_fixed_draws=7, draws_seed=3)
    eta, objective = create_dadvi_graph(m, n_params=funcs.n, n_fixed_draws=7, random_seed=3)
    p = pt.vector("p", shape=eta.type.shape)
    grad = pytensor.grad(objective, eta)
    ref = pytensor.function([eta, p], [objective, grad, pytensor.grad((grad * p).sum(), eta)])
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, v = rng.normal(0, 0.5, 2 * funcs.n), rng.normal(0, 1, 2 * funcs.n)
        value, g = funcs.f(x)
        ref_value, ref_g, ref_hv = ref(x, v)
        np.testing.assert_allclose(value, ref_value, rtol=1e-12)
        np.testing.assert_allclose(g, ref_g, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(funcs.hessp(x, v), ref_hv, rtol=1e-10, atol=1e-12)
    # a product at a point other than the last value's recomputes the gradients it needs
    np.testing.assert_allclose(funcs.hessp(np.zeros(2 * funcs.n), v), ref(np.zeros(2 * funcs.n), v)[2], rtol=1e-10)


def test_laplace_and_dadvi_compile_the_model_once_and_both_count_the_compilation():
    m = normal_model(np.random.default_rng(0).normal(3.0, 2.0, 50))
    mf = approximations.fit_method("dadvi", m, seed=1, draws=200)
    funcs = gaussian.model_functions(m)
    assert funcs.compile_seconds > 0
    lap = approximations.fit_method("laplace", m, seed=1, draws=200)
    assert gaussian.model_functions(m) is funcs, "compiled a second time"
    assert lap.seconds >= funcs.compile_seconds, "Laplace's seconds leave out the compilation DADVI did"
    assert mf.seconds >= funcs.compile_seconds
