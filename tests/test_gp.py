"""recipes_utils.gp against independent references: brute force, sampling, scikit-learn and SciPy."""

import numpy as np
import pytest
from scipy import stats
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel

from recipes_utils import gp


def make_data(n=40, d=1, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, d))
    y = np.sin(X).sum(axis=1) + 0.3 * X[:, 0] + noise * rng.standard_normal(n)
    return X, y


def random_spd(k, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k, k))
    return A @ A.T + k * np.eye(k)


# ------------------------------------------------------------------------------------- condition_gaussian
def test_condition_gaussian_matches_brute_force():
    k = 6
    cov, mean = random_spd(k, 1), np.arange(k, dtype=float)
    obs, vals = [4, 1], np.array([0.5, -2.0])
    m, c = gp.condition_gaussian(mean, cov, obs, vals)
    free = [0, 2, 3, 5]
    # Brute force with the textbook formula and an explicit inverse (fine in a test: it is the reference).
    S_oo_inv = np.linalg.inv(cov[np.ix_(obs, obs)])
    S_fo = cov[np.ix_(free, obs)]
    np.testing.assert_allclose(m, mean[free] + S_fo @ S_oo_inv @ (vals - mean[obs]), rtol=1e-12)
    np.testing.assert_allclose(c, cov[np.ix_(free, free)] - S_fo @ S_oo_inv @ S_fo.T, rtol=1e-12, atol=1e-12)


def test_condition_gaussian_matches_sampling_from_the_joint():
    """Draws from the joint, kept where the observed component lands near its value, match the formula."""
    cov = np.array([[1.0, 0.8, 0.3], [0.8, 1.0, 0.5], [0.3, 0.5, 2.0]])
    mean = np.array([0.0, 1.0, -1.0])
    m, c = gp.condition_gaussian(mean, cov, [1], [1.5])
    z = np.random.default_rng(0).multivariate_normal(mean, cov, size=2_000_000)
    kept = z[np.abs(z[:, 1] - 1.5) < 0.01][:, [0, 2]]
    assert len(kept) > 5000
    se = np.sqrt(np.diag(c) / len(kept))
    assert np.all(np.abs(kept.mean(axis=0) - m) < 5 * se)
    np.testing.assert_allclose(np.cov(kept.T), c, atol=0.05)


def test_condition_gaussian_nothing_observed():
    cov, mean = random_spd(3), np.zeros(3)
    m, c = gp.condition_gaussian(mean, cov, [], [])
    np.testing.assert_array_equal(m, mean)
    np.testing.assert_array_equal(c, cov)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros(3), np.eye(2), [0], [1.0]), r"cov must have shape \(3, 3\)"),
        ((np.zeros(3), np.eye(3), [3], [1.0]), r"observed_idx must lie in 0..2"),
        ((np.zeros(3), np.eye(3), [0, 0], [1.0, 1.0]), "repeated indices"),
        ((np.zeros(3), np.eye(3), [0, 1], [1.0]), r"observed_values must have shape \(2,\)"),
        ((np.zeros(3), np.eye(3), [0.5], [1.0]), "sequence of integers"),
        ((np.array([0, np.nan, 0]), np.eye(3), [0], [1.0]), "NaN"),
        ((np.zeros(2), np.array([[1.0, 0.5], [0.4, 1.0]]), [0], [1.0]), "symmetric"),
    ],
)
def test_condition_gaussian_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        gp.condition_gaussian(*args)


def test_condition_gaussian_not_positive_definite_gives_advice():
    cov = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(gp.NotPositiveDefiniteError, match="not positive definite.*jitter"):
        gp.condition_gaussian(np.zeros(3), cov, [0, 1], [0.0, 0.0])


# ----------------------------------------------------------------------------------------------- kernels
def sk_kernel(kind, variance, ls):
    base = RBF(ls, "fixed") if kind == "rbf" else Matern(ls, "fixed", nu={"matern32": 1.5, "matern52": 2.5}[kind])
    return ConstantKernel(variance, "fixed") * base


@pytest.mark.parametrize("kind", gp.KERNELS)
def test_kernels_match_sklearn(kind):
    X, _ = make_data(30, 3)
    ls = np.array([0.7, 1.3, 2.0])
    ours = gp.Kernel(kind, 1.7, ls)(X, X[:10])
    np.testing.assert_allclose(ours, sk_kernel(kind, 1.7, ls)(X, X[:10]), rtol=1e-12)


@pytest.mark.parametrize("kind", gp.KERNELS)
@pytest.mark.parametrize("ard", [True, False])
def test_lml_gradient_matches_finite_differences(kind, ard):
    X, y = make_data(25, 2, seed=3)
    n_ls = 2 if ard else 1
    theta = np.log(np.r_[1.3, [0.8, 1.6][:n_ls], 0.05])
    _, grad = gp._lml_and_grad(theta, X, y, kind, n_ls)
    eps = 1e-6
    numeric = [
        (
            gp._lml_and_grad(theta + eps * e, X, y, kind, n_ls)[0]
            - gp._lml_and_grad(theta - eps * e, X, y, kind, n_ls)[0]
        )
        / (2 * eps)
        for e in np.eye(len(theta))
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "cosine", "variance": 1.0}, "kind must be one of"),
        ({"kind": "rbf", "variance": 0.0}, "variance must be a positive"),
        ({"kind": "rbf", "variance": 1.0, "lengthscale": [1.0, -2.0]}, "lengthscale must be positive"),
        ({"kind": "rbf", "variance": 1.0, "lengthscale": 0.0}, "lengthscale must be positive"),
    ],
)
def test_kernel_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gp.Kernel(**kwargs)


def test_kernel_shape_errors():
    k = gp.Kernel("rbf", 1.0, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(n, d\).*X1\[:, None\]"):
        k(np.zeros(5))
    with pytest.raises(ValueError, match="2 length scales but the inputs have 3"):
        k(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="X2 has 1 input dimensions, expected 2"):
        k(np.zeros((4, 2)), np.zeros((3, 1)))


# ------------------------------------------------------------------------------------------ GP posterior
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("kind", ["rbf", "matern52"])
def test_posterior_matches_sklearn(d, kind):
    X, y = make_data(60, d, seed=d)
    X_new = np.random.default_rng(9).uniform(-3.5, 3.5, size=(25, d))
    ls = np.linspace(0.8, 1.5, d)
    kernel, noise_sd = gp.Kernel(kind, 1.3, ls), 0.2
    post = gp.posterior(X, y, X_new, kernel, noise_sd)
    ref = GaussianProcessRegressor(sk_kernel(kind, 1.3, ls), alpha=noise_sd**2, optimizer=None).fit(X, y)
    mean, sd = ref.predict(X_new, return_std=True)
    np.testing.assert_allclose(post.mean, mean, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(post.sd, sd, rtol=1e-8, atol=1e-12)
    full = gp.posterior(X, y, X_new, kernel, noise_sd, full_cov=True)
    _, cov = ref.predict(X_new, return_cov=True)
    np.testing.assert_allclose(full.cov, cov, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind", gp.KERNELS)
def test_lml_matches_scipy_and_sklearn(kind):
    X, y = make_data(50, 2, seed=4)
    kernel, noise_sd = gp.Kernel(kind, 0.9, [1.1, 0.6]), 0.3
    ours = gp.log_marginal_likelihood(X, y, kernel, noise_sd)
    K = kernel(X) + noise_sd**2 * np.eye(len(y))
    assert ours == pytest.approx(stats.multivariate_normal(np.zeros(len(y)), K).logpdf(y), rel=1e-10)
    ref = GaussianProcessRegressor(sk_kernel(kind, 0.9, [1.1, 0.6]), alpha=noise_sd**2, optimizer=None).fit(X, y)
    assert ours == pytest.approx(ref.log_marginal_likelihood_value_, rel=1e-10)


@pytest.mark.parametrize("d", [1, 3])
def test_fit_reaches_sklearns_optimum(d):
    X, y = make_data(80, d, seed=10 + d, noise=0.2)
    ours = gp.fit_hyperparameters(X, y, "rbf", n_starts=8, seed=0)
    kernel = ConstantKernel(1.0, (1e-5, 1e5)) * RBF(np.ones(d), (1e-5, 1e5)) + WhiteKernel(0.1, (1e-5, 1e5))
    ref = GaussianProcessRegressor(kernel, n_restarts_optimizer=8, random_state=0).fit(X, y)
    assert ours.log_marginal_likelihood >= ref.log_marginal_likelihood_value_ - 1e-6
    # The reported optimum is the likelihood of the reported hyperparameters.
    assert gp.log_marginal_likelihood(X, y, ours.kernel, ours.noise_sd) == pytest.approx(
        ours.log_marginal_likelihood, rel=1e-10
    )
    assert len(ours.starts) == 8


def test_fit_recovers_noise_level():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, size=(300, 1))
    y = np.sin(X[:, 0]) + 0.25 * rng.standard_normal(300)
    fit = gp.fit_hyperparameters(X, y, "rbf", n_starts=4)
    assert fit.noise_sd == pytest.approx(0.25, rel=0.15)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda X, y: gp.posterior(X, y[:-1], X, gp.Kernel("rbf", 1.0), 0.1), ValueError, r"y must have shape \(20,\)"),
        (lambda X, y: gp.posterior(X, y, X[:, :0], gp.Kernel("rbf", 1.0), 0.1), ValueError, "X_new has 0 input"),
        (lambda X, y: gp.posterior(X, y, X, gp.Kernel("rbf", 1.0), 0.0), ValueError, "noise_sd must be a positive"),
        (lambda X, y: gp.posterior(X, y, X, gp.Kernel("rbf", 1.0), -1), ValueError, "noise_sd must be a positive"),
        (
            lambda X, y: gp.posterior(X, np.where(y > 0, np.nan, y), X, gp.Kernel("rbf", 1.0), 0.1),
            ValueError,
            "y contains NaN",
        ),
        (lambda X, y: gp.fit_hyperparameters(X, y, "rbf", n_starts=0), ValueError, "n_starts must be >= 1"),
        (lambda X, y: gp.fit_hyperparameters(X, y, "linear"), ValueError, "kind must be one of"),
    ],
)
def test_regression_bad_input(call, exc, match):
    X, y = make_data(20, 1)
    with pytest.raises(exc, match=match):
        call(X, y)


def test_not_positive_definite_gives_advice():
    X = np.zeros((5, 1))  # five identical inputs and (almost) no noise
    with pytest.raises(gp.NotPositiveDefiniteError, match="Raise noise_sd"):
        gp.posterior(X, np.ones(5), X, gp.Kernel("rbf", 1.0), 1e-300)


# ------------------------------------------------------------------------------------------------- draws
def test_prior_draws_have_the_kernel_covariance_and_report_jitter():
    X = np.linspace(0, 5, 8)[:, None]
    kernel = gp.Kernel("rbf", 2.0, 1.5)
    draws = gp.sample_prior(X, kernel, 40_000, np.random.default_rng(0))
    assert draws.values.shape == (40_000, 8)
    assert draws.jitter >= 0
    np.testing.assert_allclose(np.cov(draws.values.T), kernel(X), atol=0.06)


def test_dense_inputs_need_jitter_and_say_so():
    X = np.linspace(0, 1, 200)[:, None]  # a smooth kernel on a dense grid is numerically singular
    draws = gp.sample_prior(X, gp.Kernel("rbf", 1.0, 1.0), 3, np.random.default_rng(0))
    assert draws.jitter > 0


def test_posterior_draws_match_the_posterior():
    X, y = make_data(15, 1, seed=2)
    X_new = np.linspace(-3, 3, 6)[:, None]
    kernel = gp.Kernel("matern52", 1.0, 1.0)
    draws = gp.sample_posterior(X, y, X_new, kernel, 0.1, 40_000, np.random.default_rng(1))
    post = gp.posterior(X, y, X_new, kernel, 0.1)
    np.testing.assert_allclose(draws.values.mean(axis=0), post.mean, atol=5 * post.sd.max() / np.sqrt(40_000) + 1e-3)
    np.testing.assert_allclose(draws.values.std(axis=0), post.sd, rtol=0.03, atol=1e-3)
