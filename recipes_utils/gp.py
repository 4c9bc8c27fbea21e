"""Gaussian processes in plain NumPy (with SciPy's linear algebra and optimiser).

Everything follows Rasmussen & Williams (2006), *Gaussian Processes for Machine Learning*, chapters 2 and 5:
Cholesky factorisations and triangular solves throughout, no explicit matrix inverse. Inputs are always
2-D arrays of shape ``(n, d)``; targets are 1-D of length ``n``. The prior mean is a constant, ``mean`` (0 by
default): pass ``mean=y.mean()`` to centre the targets on their training mean, or far from the data the
posterior mean falls back to 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize
from scipy.spatial.distance import cdist

__all__ = [
    "Draws",
    "FitResult",
    "GPPosterior",
    "Kernel",
    "NotPositiveDefiniteError",
    "condition_gaussian",
    "fit_hyperparameters",
    "lml_gradient",
    "log_marginal_likelihood",
    "posterior",
    "sample_posterior",
    "sample_prior",
]

KERNELS = ("rbf", "matern32", "matern52")
_LOG_2PI = np.log(2 * np.pi)


class NotPositiveDefiniteError(np.linalg.LinAlgError, ValueError):
    """A covariance matrix that should be positive definite is not (numerically)."""


# ----------------------------------------------------------------------------------------------- checks
def _as_inputs(X, name: str, d: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        hint = f" (for 1-D inputs use {name}[:, None])" if X.ndim == 1 else ""
        raise ValueError(f"{name} must have shape (n, d), got shape {X.shape}{hint}")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"{name} has {X.shape[1]} input dimensions, expected {d}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def _as_targets(y, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) to match X, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    return y


def _positive(name: str, value) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def _cholesky(A: np.ndarray, what: str, advice: str) -> np.ndarray:
    try:
        return linalg.cholesky(A, lower=True, check_finite=False)
    except linalg.LinAlgError as exc:
        raise NotPositiveDefiniteError(f"{what} is not positive definite ({exc}). {advice}") from None


# ---------------------------------------------------------------------------------------------- kernels
@dataclass(frozen=True)
class Kernel:
    """A stationary covariance function with a signal variance and one length scale per input dimension.

    Parameters
    ----------
    kind
        ``"rbf"`` (squared exponential), ``"matern32"`` or ``"matern52"``.
    variance
        Signal variance: the prior variance of the function at any input.
    lengthscale
        A positive scalar (shared by every dimension) or one positive value per dimension (ARD).

    Examples
    --------
    >>> k = Kernel("rbf", variance=1.0, lengthscale=[0.5, 2.0])
    >>> K = k(X)            # (n, n) for X of shape (n, 2)
    >>> K_star = k(X, X_new)
    """

    kind: str
    variance: float
    lengthscale: np.ndarray = field(default_factory=lambda: np.ones(1))

    def __post_init__(self):
        if self.kind not in KERNELS:
            raise ValueError(f"kind must be one of {KERNELS}, got {self.kind!r}")
        object.__setattr__(self, "variance", _positive("variance", self.variance))
        ls = np.atleast_1d(np.asarray(self.lengthscale, dtype=float))
        if ls.ndim != 1 or ls.size == 0:
            raise ValueError(f"lengthscale must be a scalar or 1-D, got shape {ls.shape}")
        if not (np.isfinite(ls).all() and (ls > 0).all()):
            raise ValueError(f"lengthscale must be positive and finite, got {ls}")
        object.__setattr__(self, "lengthscale", ls)

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        if self.lengthscale.size not in (1, X.shape[1]):
            raise ValueError(
                f"kernel has {self.lengthscale.size} length scales but the inputs have {X.shape[1]} dimensions"
            )
        return X / self.lengthscale

    def __call__(self, X1, X2=None) -> np.ndarray:
        X1 = _as_inputs(X1, "X1")
        X2 = X1 if X2 is None else _as_inputs(X2, "X2", X1.shape[1])
        r2 = cdist(self._scaled(X1), self._scaled(X2), "sqeuclidean")
        return self._from_r2(r2, overwrite=True)

    def _from_r2(self, r2: np.ndarray, overwrite: bool = False) -> np.ndarray:
        """The kernel as a function of squared scaled distances; ``overwrite`` reuses ``r2``'s memory.

        Working in place keeps a large ``K`` to one ``(n, m)`` array (two for the Matérn kernels) instead of
        three or four temporaries, which is most of the cost of building it at a few thousand points.
        """
        out = r2 if overwrite else r2.copy()
        if self.kind == "rbf":
            out *= -0.5
            np.exp(out, out=out)
            out *= self.variance
            return out
        np.sqrt(out, out=out)
        out *= np.sqrt(3.0) if self.kind == "matern32" else np.sqrt(5.0)  # s
        decay = np.exp(-out)
        if self.kind == "matern32":
            out += 1.0  # 1 + s
        else:
            out *= out / 3.0 + 1.0  # s + s^2 / 3
            out += 1.0
        out *= decay
        out *= self.variance
        return out

    def diag(self, X) -> np.ndarray:
        """The prior variance at each input: ``variance`` for these stationary kernels."""
        return np.full(_as_inputs(X, "X").shape[0], self.variance)

    def with_params(self, variance=None, lengthscale=None) -> Kernel:
        """A copy with some parameters replaced."""
        return Kernel(
            self.kind,
            self.variance if variance is None else variance,
            self.lengthscale if lengthscale is None else lengthscale,
        )

    def gradients(self, X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """``K(X, X)`` and its derivatives with respect to ``log variance`` and each ``log lengthscale``."""
        X = _as_inputs(X, "X")
        Xs = self._scaled(X)
        r2 = cdist(Xs, Xs, "sqeuclidean")
        K = self._from_r2(r2)
        grads = [K]  # d K / d log variance
        if self.lengthscale.size == 1:
            per_dim = [r2]
        else:
            per_dim = [(Xs[:, k, None] - Xs[None, :, k]) ** 2 for k in range(X.shape[1])]
        if self.kind == "rbf":
            factor = K
        elif self.kind == "matern32":
            factor = 3.0 * self.variance * np.exp(-np.sqrt(3.0 * r2))
        else:
            s = np.sqrt(5.0 * r2)
            factor = (5.0 / 3.0) * self.variance * (1.0 + s) * np.exp(-s)
        grads += [factor * d2 for d2 in per_dim]  # d K / d log lengthscale_k
        return K, grads


# ------------------------------------------------------------------------------ conditioning a Gaussian
def condition_gaussian(mean, cov, observed_idx, observed_values):
    """Condition a multivariate normal on observing some of its components.

    For ``z ~ Normal(mean, cov)`` split into unobserved ``u`` and observed ``o``:
    ``u | o ~ Normal(m_u + S_uo S_oo^-1 (o - m_o), S_uu - S_uo S_oo^-1 S_ou)``, computed with a Cholesky
    factor of ``S_oo`` (no inverse).

    Parameters
    ----------
    mean : (k,) array
    cov : (k, k) array, symmetric positive definite
    observed_idx : sequence of distinct integer indices into ``mean``
    observed_values : values of the observed components, same length as ``observed_idx``

    Returns
    -------
    (cond_mean, cond_cov)
        Mean and covariance of the unobserved components, in index order.
    """
    mean = np.asarray(mean, dtype=float)
    cov = np.asarray(cov, dtype=float)
    k = mean.shape[0] if mean.ndim == 1 else -1
    if mean.ndim != 1:
        raise ValueError(f"mean must be 1-D, got shape {mean.shape}")
    if cov.shape != (k, k):
        raise ValueError(f"cov must have shape ({k}, {k}) to match mean, got {cov.shape}")
    if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
        raise ValueError("mean and cov must not contain NaN or infinite values")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12 * np.abs(cov).max()):
        raise ValueError("cov must be symmetric")
    idx = np.asarray(observed_idx)
    if idx.size == 0:
        idx = idx.astype(int).reshape(0)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"observed_idx must be a 1-D sequence of integers, got {observed_idx!r}")
    idx = idx.astype(int)
    if idx.size and (idx.min() < 0 or idx.max() >= k):
        raise ValueError(f"observed_idx must lie in 0..{k - 1}, got {idx.tolist()}")
    if np.unique(idx).size != idx.size:
        raise ValueError(f"observed_idx has repeated indices: {idx.tolist()}")
    values = np.asarray(observed_values, dtype=float)
    if values.shape != idx.shape:
        raise ValueError(f"observed_values must have shape {idx.shape}, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("observed_values contains NaN or infinite values")
    free = np.setdiff1d(np.arange(k), idx)
    if idx.size == 0:
        return mean.copy(), cov.copy()
    L = _cholesky(
        cov[np.ix_(idx, idx)], "the covariance of the observed components", "Check cov, or add a small jitter."
    )
    A = linalg.solve_triangular(L, cov[np.ix_(idx, free)], lower=True, check_finite=False)
    r = linalg.solve_triangular(L, values - mean[idx], lower=True, check_finite=False)
    cond_mean = mean[free] + A.T @ r
    cond_cov = cov[np.ix_(free, free)] - A.T @ A
    return cond_mean, 0.5 * (cond_cov + cond_cov.T)


# -------------------------------------------------------------------------------------- GP regression
@dataclass
class GPPosterior:
    """The posterior at new inputs: of the latent ``f`` (``var``, ``sd``, ``cov``) and of a new observation ``y``.

    A new observation adds the noise: ``sd_y = sqrt(var + noise_sd**2)``. Use ``sd`` for intervals of ``f``,
    ``sd_y`` for intervals that should cover new measurements.
    """

    mean: np.ndarray
    var: np.ndarray
    cov: np.ndarray | None = None
    noise_sd: float = 0.0

    @property
    def sd(self) -> np.ndarray:
        """Posterior sd of the latent function ``f`` at each new input."""
        return np.sqrt(self.var)

    @property
    def sd_y(self) -> np.ndarray:
        """Predictive sd of a new observation ``y = f + noise`` at each new input."""
        return np.sqrt(self.var + self.noise_sd**2)


def _finite(name: str, value) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def _factor(X, y, kernel: Kernel, noise_sd: float, mean: float = 0.0):
    """Inputs checked, the centred targets ``y - mean``, the Cholesky factor of ``K + noise I`` and ``alpha``."""
    X = _as_inputs(X, "X")
    y = _as_targets(y, X.shape[0]) - _finite("mean", mean)
    noise_sd = _positive("noise_sd", noise_sd)
    K = kernel(X)
    K[np.diag_indices_from(K)] += noise_sd**2
    L = _cholesky(
        K,
        "K(X, X) + noise_sd**2 I",
        "Raise noise_sd, lengthen the length scales, or remove duplicate inputs.",
    )
    alpha = linalg.cho_solve((L, True), y, check_finite=False)
    return X, y, L, alpha


def posterior(
    X, y, X_new, kernel: Kernel, noise_sd: float, *, mean: float = 0.0, full_cov: bool = False
) -> GPPosterior:
    """GP regression: the posterior mean and variance (or covariance) of ``f(X_new)``.

    Rasmussen & Williams (2006), Algorithm 2.1, on the centred targets ``y - mean``:
    ``L = chol(K + noise_sd**2 I)``, ``alpha = L^T \\ (L \\ (y - mean))``, ``f_mean = mean + K_*^T alpha``,
    ``v = L \\ K_*``, ``var = k_** - sum(v**2)``. ``mean`` is the constant prior mean (``y.mean()`` centres);
    the result's ``sd_y`` adds the noise for a new observation.
    """
    X, y, L, alpha = _factor(X, y, kernel, noise_sd, mean)
    X_new = _as_inputs(X_new, "X_new", X.shape[1])
    K_star = kernel(X, X_new)
    f_mean = mean + K_star.T @ alpha
    v = linalg.solve_triangular(L, K_star, lower=True, check_finite=False)
    if full_cov:
        cov = kernel(X_new) - v.T @ v
        cov = 0.5 * (cov + cov.T)
        return GPPosterior(f_mean, np.clip(np.diag(cov).copy(), 0, None), cov, float(noise_sd))
    var = kernel.diag(X_new) - np.einsum("ij,ij->j", v, v)
    return GPPosterior(f_mean, np.clip(var, 0, None), None, float(noise_sd))


def log_marginal_likelihood(X, y, kernel: Kernel, noise_sd: float, *, mean: float = 0.0) -> float:
    """``log p(y | X)`` under the GP prior (constant mean ``mean``) plus Normal noise (R&W eq. 2.30)."""
    _, y, L, alpha = _factor(X, y, kernel, noise_sd, mean)
    return float(-0.5 * y @ alpha - np.log(np.diag(L)).sum() - 0.5 * y.shape[0] * _LOG_2PI)


def _lml_and_grad(theta, X, y, kind, n_ls):
    """Negative LML and its gradient with respect to log(variance, lengthscales..., noise variance)."""
    variance, ls, noise_var = np.exp(theta[0]), np.exp(theta[1 : 1 + n_ls]), np.exp(theta[-1])
    kernel = Kernel(kind, variance, ls)
    K, dKs = kernel.gradients(X)
    n = len(y)
    K = K + noise_var * np.eye(n)  # a new array: dKs[0] is the noise-free K
    try:
        L = linalg.cholesky(K, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return np.inf, np.zeros_like(theta)
    alpha = linalg.cho_solve((L, True), y, check_finite=False)
    lml = -0.5 * y @ alpha - np.log(np.diag(L)).sum() - 0.5 * n * _LOG_2PI
    # R&W eq. 5.9: d lml / d theta_j = 0.5 tr((alpha alpha^T - K^-1) dK/d theta_j). One inverse from the
    # factor, then an elementwise sum per parameter (tr(A B) = sum(A * B) for symmetric B).
    W = np.outer(alpha, alpha) - linalg.cho_solve((L, True), np.eye(n), check_finite=False)
    grad = [0.5 * np.sum(W * dK) for dK in dKs]
    grad.append(0.5 * noise_var * np.trace(W))  # d K / d log noise variance = noise_var * I
    return -lml, -np.asarray(grad)


def lml_gradient(X, y, kernel: Kernel, noise_sd: float, *, mean: float = 0.0) -> np.ndarray:
    """Gradient of :func:`log_marginal_likelihood` (R&W eq. 5.9).

    With respect to ``(log variance, log lengthscale_1, ..., log lengthscale_k, log noise_sd**2)``, where
    ``k`` is the number of length scales the kernel holds (1 when shared, ``d`` for ARD).
    """
    X, yc, _, _ = _factor(X, y, kernel, noise_sd, mean)  # checks the inputs and that K + noise I factors
    theta = np.log(np.concatenate([[kernel.variance], kernel.lengthscale, [noise_sd**2]]))
    return -_lml_and_grad(theta, X, yc, kernel.kind, kernel.lengthscale.size)[1]


@dataclass
class FitResult:
    """Hyperparameters that maximise the log marginal likelihood, and every start's outcome."""

    kernel: Kernel
    noise_sd: float
    log_marginal_likelihood: float
    starts: list = field(default_factory=list)  # (initial theta, final lml) per start
    mean: float = 0.0  # the constant prior mean the fit used: pass it on to posterior(..., mean=)


def fit_hyperparameters(
    X,
    y,
    kind: str = "rbf",
    *,
    ard: bool = True,
    n_starts: int = 8,
    seed: int | None = 0,
    bounds: tuple[float, float] = (1e-5, 1e5),
    mean: float = 0.0,
) -> FitResult:
    """Maximise the log marginal likelihood over variance, length scales and noise, from several starts.

    The optimiser (L-BFGS-B with the analytic gradient) works in log space, where every parameter is
    unconstrained in sign and its scale does not matter. Starts are drawn log-uniformly inside ``bounds``
    around data-based guesses (the target variance, the input spread); the best end point wins. ``mean`` is
    the constant prior mean (``y.mean()`` centres the targets); it is held fixed, not fitted.
    """
    X = _as_inputs(X, "X")
    mean = _finite("mean", mean)
    y = _as_targets(y, X.shape[0]) - mean
    if kind not in KERNELS:
        raise ValueError(f"kind must be one of {KERNELS}, got {kind!r}")
    if int(n_starts) < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    lo, hi = (_positive("bounds", b) for b in bounds)
    if lo >= hi:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
    n_ls = X.shape[1] if ard else 1
    rng = np.random.default_rng(seed)
    y_var = max(np.var(y), 1e-12)
    spread = np.clip(X.std(axis=0) if ard else np.array([X.std()]), 1e-3, None)
    guess = np.log(np.concatenate([[y_var], spread, [0.1 * y_var]]))
    box = [(np.log(lo), np.log(hi))] * (n_ls + 2)
    starts = [guess] + [guess + rng.normal(0, 1.5, guess.size) for _ in range(int(n_starts) - 1)]
    best, record = None, []
    for theta0 in starts:
        theta0 = np.clip(theta0, np.log(lo), np.log(hi))
        res = optimize.minimize(_lml_and_grad, theta0, args=(X, y, kind, n_ls), jac=True, method="L-BFGS-B", bounds=box)
        record.append((theta0, -res.fun))
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise NotPositiveDefiniteError("every start failed: K + noise I was never positive definite")
    theta = best.x
    kernel = Kernel(kind, np.exp(theta[0]), np.exp(theta[1 : 1 + n_ls]))
    return FitResult(kernel, float(np.sqrt(np.exp(theta[-1]))), float(-best.fun), record, mean)


# ------------------------------------------------------------------------------------------------ draws
@dataclass
class Draws:
    """Function draws (rows) and the jitter that was added to the covariance's diagonal to factor it."""

    values: np.ndarray
    jitter: float


def _draw(mean, cov, n_draws, rng, max_jitter_rel=1e-4) -> Draws:
    scale = float(np.mean(np.diag(cov))) or 1.0
    jitter = 0.0
    for rel in [0.0, *10.0 ** np.arange(-12, np.log10(max_jitter_rel) + 1)]:
        jitter = rel * scale
        try:
            L = linalg.cholesky(cov + jitter * np.eye(len(mean)), lower=True, check_finite=False)
            break
        except linalg.LinAlgError:
            continue
    else:
        raise NotPositiveDefiniteError(
            f"covariance is not positive definite even with a jitter of {jitter:.3g} on the diagonal "
            f"({max_jitter_rel:g} of its mean variance). Draw at fewer or less tightly spaced inputs, "
            "or raise noise_sd."
        )
    z = rng.standard_normal((len(mean), int(n_draws)))
    return Draws((mean[:, None] + L @ z).T, jitter)


def sample_prior(X, kernel: Kernel, n_draws: int, rng: np.random.Generator) -> Draws:
    """Draws of ``f(X)`` from the zero-mean GP prior; ``.jitter`` says what was added to factor ``K``."""
    X = _as_inputs(X, "X")
    return _draw(np.zeros(X.shape[0]), kernel(X), n_draws, rng)


def sample_posterior(
    X, y, X_new, kernel: Kernel, noise_sd: float, n_draws: int, rng: np.random.Generator, *, mean: float = 0.0
) -> Draws:
    """Joint draws of ``f(X_new)`` from the GP posterior; ``.jitter`` says what was added to factor it."""
    post = posterior(X, y, X_new, kernel, noise_sd, mean=mean, full_cov=True)
    return _draw(post.mean, post.cov, n_draws, rng)
