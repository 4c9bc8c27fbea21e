"""The decorrelated basis of ``hierarchical_four_pl(..., parameterization="decorrelated")``: each curve's mode and
covariance from a pilot fit (:func:`curve_preconditioner`), and the affine transform NUTS moves in."""

from __future__ import annotations

import numpy as np

from recipes_utils.dose_response.priors import FourPLPriors
from recipes_utils.dose_response.table import GroupedDoseResponse

#: Parameter order of the per-curve blocks used by ``parameterization="decorrelated"``.
_CURVE_BLOCK = ("bottom", "top", "log_ec50", "log_hill")


def curve_preconditioner(prepared: GroupedDoseResponse, priors: FourPLPriors, *, n_iter: int = 50):
    """Each curve's approximate posterior mode and covariance, from the data alone, for ``"decorrelated"``.

    A regularised least-squares fit of every curve at once (vectorised Levenberg-Marquardt on ``bottom``, ``top``,
    ``log_ec50``, ``log_hill``, with a weak Normal penalty from ``priors``: mean ``<name>_mu``, sd
    ``sqrt(<name>_mu_sd**2 + <name>_sd**2)``, the prior's spread of one group's value), then the Laplace covariance
    ``(J'J / s**2 + prior precision)**-1`` at the fit, with ``s`` a robust (median absolute residual) noise scale.
    Plate offsets and outliers are ignored: the result only sets the basis NUTS moves in, so an imperfect fit costs
    efficiency, never correctness. The penalty keeps every curve's fit and covariance finite, also for a curve the
    data barely inform (a flat response, doses far from its EC50).

    Returns ``(center, chol)``: arrays of shape ``(n_groups, 4)`` and ``(n_groups, 4, 4)`` (lower Cholesky factors),
    in the order bottom, top, log_ec50, log_hill.
    """
    x = np.asarray(prepared.log_conc, dtype=float)
    y = np.asarray(prepared.response, dtype=float)
    g = np.asarray(prepared.group_idx)
    n_groups = len(prepared.groups)
    # A shared control row carries group 0's code but belongs to every curve; leave it out of the pilot fit.
    keep = ~np.asarray(prepared.shared_control, dtype=bool)
    x, y, g = x[keep], y[keep], g[keep]
    dosed = np.isfinite(x)
    prior_mu = np.array([getattr(priors, f"{n}_mu") for n in _CURVE_BLOCK])
    prior_sd = np.sqrt([getattr(priors, f"{n}_mu_sd") ** 2 + getattr(priors, f"{n}_sd") ** 2 for n in _CURVE_BLOCK])
    prior_prec = 1.0 / prior_sd**2
    pairs = [(i, j) for i in range(4) for j in range(i, 4)]

    def residual_and_jacobian(theta):
        b, t, e, lh = (theta[g, k] for k in range(4))
        h = np.exp(lh)
        xs = np.where(dosed, x, 0.0)
        s = np.where(dosed, 0.5 * (1.0 - np.tanh(0.5 * h * (xs - e))), 1.0)  # 1 / (1 + exp(h (x - e))), stable
        ds = s * (1.0 - s)
        jac = np.stack([1.0 - s, s, (t - b) * h * ds, np.where(dosed, -(t - b) * ds * (xs - e) * h, 0.0)], axis=1)
        return y - (b + (t - b) * s), jac

    def normal_equations(theta, noise_var):
        r, jac = residual_and_jacobian(theta)
        jtj = np.zeros((n_groups, 4, 4))
        for i, j in pairs:
            jtj[:, i, j] = jtj[:, j, i] = np.bincount(g, jac[:, i] * jac[:, j], minlength=n_groups)
        jtr = np.stack([np.bincount(g, jac[:, i] * r, minlength=n_groups) for i in range(4)], axis=1)
        jtj /= noise_var
        jtr /= noise_var
        dev = theta - prior_mu
        objective = 0.5 * np.bincount(g, r * r, minlength=n_groups) / noise_var + 0.5 * (dev**2 * prior_prec).sum(1)
        hess = jtj + np.diag(prior_prec)
        grad = jtr - dev * prior_prec  # minus the gradient of the objective
        return objective, hess, grad, r

    prior_hess = np.diag(prior_prec)

    def sanitised(hess, grad):
        # A curve whose equations overflowed keeps still this iteration (and falls back to the prior below).
        bad = ~(np.isfinite(hess).all(axis=(1, 2)) & np.isfinite(grad).all(axis=1))
        return np.where(bad[:, None, None], prior_hess, hess), np.where(bad[:, None], 0.0, grad)

    theta = np.tile(prior_mu, (n_groups, 1))
    noise_var = float(np.var(y)) if len(y) > 1 and np.var(y) > 0 else 1.0
    damping = np.full(n_groups, 1e-3)
    with np.errstate(all="ignore"):
        for it in range(n_iter):
            objective, hess, grad, r = normal_equations(theta, noise_var)
            hess, grad = sanitised(hess, grad)
            diag = np.einsum("gii->gi", hess)
            lhs = hess + damping[:, None, None] * np.eye(4) * diag[:, :, None]
            step = np.linalg.solve(lhs, grad[:, :, None])[..., 0]
            trial = theta + np.where(np.isfinite(step), step, 0.0)
            trial[:, 3] = np.clip(trial[:, 3], -8.0, 8.0)  # a Hill slope beyond e**8 is a step: no need to go further
            new_objective = normal_equations(trial, noise_var)[0]
            better = np.isfinite(new_objective) & (new_objective <= objective)
            theta = np.where(better[:, None], trial, theta)
            damping = np.clip(np.where(better, damping / 3, damping * 4), 1e-9, 1e9)
            if it in (4, 14):  # re-estimate the noise scale robustly once the curves are roughly right
                mad = np.median(np.abs(r - np.median(r))) * 1.4826
                if np.isfinite(mad) and mad > 0:
                    noise_var = mad**2
        hess = sanitised(*normal_equations(theta, noise_var)[1:3])[0]
        cov = np.linalg.inv(hess)
    cov = (cov + np.swapaxes(cov, 1, 2)) / 2
    # Any curve left without a usable covariance (not finite, not positive definite) gets the prior's: still valid.
    ok = np.isfinite(cov).all(axis=(1, 2)) & np.isfinite(theta).all(axis=1)
    ok[ok] = np.linalg.eigvalsh(cov[ok]).min(axis=1) > 0
    cov[~ok] = np.diag(prior_sd**2)
    theta[~ok] = prior_mu
    return theta, np.linalg.cholesky(cov)


def _affine_curve_transform(center, chol):
    """A PyMC transform for a ``(group, 4)`` variable: the sampler moves ``z`` with ``value = center + chol @ z``."""
    import pytensor
    import pytensor.tensor as pt
    from pymc.logprob.transforms import Transform

    dtype = pytensor.config.floatX  # float32 models stay float32
    c = pt.constant(np.asarray(center, dtype=dtype))
    lower = pt.constant(np.asarray(chol, dtype=dtype))
    inverse = pt.constant(np.linalg.inv(chol).astype(dtype))
    log_det = pt.constant(np.log(np.abs(np.einsum("gii->gi", chol))).sum(1).astype(dtype))

    class AffineCurve(Transform):
        name = "affine_curve"
        ndim_supp = 1

        def forward(self, value, *inputs):
            return (inverse * (value - c)[:, None, :]).sum(-1)

        def backward(self, value, *inputs):
            return c + (lower * value[:, None, :]).sum(-1)

        def log_jac_det(self, value, *inputs):
            return pt.zeros_like(value[..., 0]) + log_det

    return AffineCurve()
