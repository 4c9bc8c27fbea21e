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


# ------------------------------------------------------------------------------ a constant prior mean
def test_posterior_with_a_mean_matches_conditioning_the_joint():
    """The posterior with a constant prior mean is the conditional of the joint Gaussian of (y, f*) with that mean."""
    X, y = make_data(12, 2, seed=5)
    y = y + 3.0  # far from zero, so a forgotten mean shows
    X_new = np.random.default_rng(6).uniform(-3, 3, size=(5, 2))
    kernel, noise_sd, m = gp.Kernel("matern52", 0.8, [1.2, 0.7]), 0.3, 2.5
    X_all = np.vstack([X, X_new])
    joint = kernel(X_all)
    joint[: len(y), : len(y)] += noise_sd**2 * np.eye(len(y))  # the observed block is y = f + noise
    cond_mean, cond_cov = gp.condition_gaussian(np.full(len(X_all), m), joint, np.arange(len(y)), y)
    post = gp.posterior(X, y, X_new, kernel, noise_sd, mean=m, full_cov=True)
    np.testing.assert_allclose(post.mean, cond_mean, rtol=1e-10)
    np.testing.assert_allclose(post.cov, cond_cov, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(post.sd_y, np.sqrt(np.diag(cond_cov) + noise_sd**2), rtol=1e-9)
    draws = gp.sample_posterior(X, y, X_new, kernel, noise_sd, 20_000, np.random.default_rng(0), mean=m)
    np.testing.assert_allclose(draws.values.mean(axis=0), cond_mean, atol=5 * post.sd.max() / np.sqrt(20_000))


def test_lml_with_a_mean_matches_scipy():
    X, y = make_data(30, 2, seed=7)
    y = y + 2.0
    kernel, noise_sd, m = gp.Kernel("rbf", 1.1, [0.9, 1.4]), 0.25, 1.7
    K = kernel(X) + noise_sd**2 * np.eye(len(y))
    ref = stats.multivariate_normal(np.full(len(y), m), K).logpdf(y)
    assert gp.log_marginal_likelihood(X, y, kernel, noise_sd, mean=m) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("kind", gp.KERNELS)
@pytest.mark.parametrize("lengthscale", [1.1, [0.9, 1.4]])
def test_public_lml_gradient_matches_finite_differences(kind, lengthscale):
    X, y = make_data(20, 2, seed=8)
    kernel, noise_sd, m = gp.Kernel(kind, 0.7, lengthscale), 0.2, 0.4
    theta = np.log(np.concatenate([[kernel.variance], kernel.lengthscale, [noise_sd**2]]))

    def lml(t):
        k = gp.Kernel(kind, np.exp(t[0]), np.exp(t[1:-1]))
        return gp.log_marginal_likelihood(X, y, k, np.sqrt(np.exp(t[-1])), mean=m)

    eps = 1e-6
    numeric = [(lml(theta + eps * e) - lml(theta - eps * e)) / (2 * eps) for e in np.eye(len(theta))]
    np.testing.assert_allclose(gp.lml_gradient(X, y, kernel, noise_sd, mean=m), numeric, rtol=1e-5, atol=1e-7)


def test_fit_with_a_mean_is_the_fit_of_the_centred_targets():
    X, y = make_data(30, 1, seed=9)
    y = y + 5.0
    m = y.mean()
    with_mean = gp.fit_hyperparameters(X, y, "rbf", n_starts=3, seed=1, mean=m)
    centred = gp.fit_hyperparameters(X, y - m, "rbf", n_starts=3, seed=1)
    assert with_mean.mean == m and centred.mean == 0.0
    assert with_mean.log_marginal_likelihood == pytest.approx(centred.log_marginal_likelihood, rel=1e-12)
    np.testing.assert_allclose(with_mean.kernel.lengthscale, centred.kernel.lengthscale, rtol=1e-10)
    # Not centring a far-off mean costs likelihood: the zero-mean prior must explain the offset as signal.
    raw = gp.fit_hyperparameters(X, y, "rbf", n_starts=3, seed=1)
    assert raw.log_marginal_likelihood < with_mean.log_marginal_likelihood


def test_predictive_intervals_for_y_cover_new_observations_under_the_prior():
    """Data drawn from the GP prior itself: 90% intervals built from sd_y cover 90% of new observations
    (within 3 binomial sds); intervals built from sd (for f) cover too few, since they leave out the noise."""
    rng = np.random.default_rng(11)
    kernel, noise_sd, n, reps = gp.Kernel("rbf", 1.0, 1.0), 0.3, 10, 2000
    z = stats.norm.ppf(0.95)
    hits_y = hits_f = 0
    for _ in range(reps):
        X = rng.uniform(0, 5, size=(n + 1, 1))
        y = gp.sample_prior(X, kernel, 1, rng).values[0] + 0.7 + noise_sd * rng.standard_normal(n + 1)
        post = gp.posterior(X[:n], y[:n], X[n:], kernel, noise_sd, mean=0.7)
        err = abs(y[n] - post.mean[0])
        hits_y += err <= z * post.sd_y[0]
        hits_f += err <= z * post.sd[0]
    band = 3 * np.sqrt(0.9 * 0.1 / reps)
    assert abs(hits_y / reps - 0.9) < band
    assert hits_f / reps < 0.9 - band


def test_bad_mean():
    X, y = make_data(10, 1)
    with pytest.raises(ValueError, match="mean must be a finite number"):
        gp.posterior(X, y, X, gp.Kernel("rbf", 1.0), 0.1, mean=np.nan)


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
