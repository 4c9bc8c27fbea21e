"""Maximum likelihood for a one-curve model of any family and likelihood: drc's estimate, beside the posterior.

:func:`maximum_likelihood` maximises the model's own log-likelihood (its observed variables' log density, no priors,
no Jacobian) with SciPy's L-BFGS-B over the unconstrained parameters, from several starting points drawn from the
prior, and keeps the best. The estimate is what drc's ``drm`` computes for the same family and response (for Normal
noise the least-squares fit, for a binomial response drc's ``type = "binomial"``), so a recipe can set each posterior
summary beside it; :meth:`MaximumLikelihood.ecx` gives the ECx of the estimate by the same inversion as
:func:`~recipes_utils.dose_response.ecx_table`. No standard errors: where a recipe needs intervals, the posterior has
them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recipes_utils.dose_response.spec import model_spec


@dataclass(frozen=True)
class MaximumLikelihood:
    """What :func:`maximum_likelihood` returns."""

    params: pd.Series  # the natural curve parameters (top, bottom, location, shapes) and the noise at the optimum
    loglik: float  # the maximised log-likelihood
    converged: bool  # whether SciPy reported convergence at the best start
    n_starts: int  # how many starts were tried
    point: dict  # the optimum as a posterior of one draw (for ecx)
    model: object

    def ecx(self, x=(10, 50), *, kind: str = "relative", level=None) -> pd.DataFrame:
        """The ECx of the estimate (concentration units), as :func:`~recipes_utils.dose_response.ecx_table` defines
        them: columns ``x`` (or ``level``) and ``ecx``."""
        from recipes_utils.dose_response.ecx import ecx_draws

        draws = ecx_draws(self.model, self.point, x, kind=kind, level=level)
        column = "level" if kind == "absolute" else "x"
        return pd.DataFrame({column: draws["effect"].values, "ecx": draws.to_numpy().reshape(-1)})


def maximum_likelihood(model, *, starts: int = 20, seed: int = 0) -> MaximumLikelihood:
    """The maximum-likelihood estimate of a one-curve model from :func:`dose_response_model` (or
    :func:`four_pl_model`), from the best of ``starts`` L-BFGS-B runs started at prior draws.

    For a many-curve model, build one curve per group (``dose_response_model(table[table[group] == g], ...)``): the
    hierarchy's group effects have no maximum likelihood of their own (the spread between groups would go to 0 or
    its likelihood would grow without bound).
    """
    import pytensor.tensor as pt
    import xarray as xr
    from pymc.initial_point import make_initial_point_fn
    from scipy.optimize import minimize

    spec = model_spec(model)
    if spec.kind != "one_curve":
        raise ValueError("maximum_likelihood takes a one-curve model (dose_response_model); for many curves fit one "
                         "model per group")  # fmt: skip
    if isinstance(starts, bool) or not isinstance(starts, int | np.integer) or starts < 1:
        raise ValueError(f"starts must be a whole number >= 1, got {starts!r}")
    values = model.value_vars
    loglik = model.datalogp  # observed variables and potentials: the likelihood, without priors or Jacobians
    fn = model.compile_fn([loglik, *pt.grad(loglik, values)], inputs=values, on_unused_input="ignore")
    shapes = [model.initial_point()[v.name].shape for v in values]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(theta):
        out, i = {}, 0
        for v, shape, size in zip(values, shapes, sizes):
            out[v.name] = theta[i : i + size].reshape(shape)
            i += size
        return out

    def objective(theta):
        with np.errstate(all="ignore"):
            value, *grads = fn(unpack(theta))
        if not np.isfinite(value):
            return 1e300, np.zeros_like(theta)
        return -float(value), -np.concatenate([np.ravel(g) for g in grads])

    draw = make_initial_point_fn(model=model, jitter_rvs=set(), default_strategy="prior", return_transformed=True)
    rng = np.random.default_rng(seed)
    best = None
    for k in range(int(starts)):
        start = model.initial_point() if k == 0 else draw(int(rng.integers(2**31)))
        theta0 = np.concatenate([np.ravel(start[v.name]) for v in values])
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 5000})
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None or best.fun >= 1e300:
        raise RuntimeError("maximum_likelihood: no start reached a finite likelihood")
    point = unpack(best.x)
    family = spec.family
    names = [*family.levels, family.location, *(s.name for s in family.shapes)]
    names += [n for n in ("sigma", "nu", "alpha", "kappa") if n in model.named_vars]

    def evaluate(wanted):  # the variables at the optimum (random variables replaced by their values, not drawn)
        outs = model.replace_rvs_by_values([model[n] for n in wanted])
        return model.compile_fn(outs, inputs=values, on_unused_input="ignore")(point)

    at = evaluate(names)
    params = pd.Series({n: float(np.asarray(v)) for n, v in zip(names, at)}, name="estimate")
    # the levels' free values too (logit_top, log_span): a link-scale curve's ECx reads them
    free = [n for n in family.free_params(spec.likelihood) if n in model.named_vars and n not in names]
    extra = evaluate(free) if free else []
    values_at = {**params.to_dict(), **{n: float(np.asarray(v)) for n, v in zip(free, extra)}}
    posterior = xr.Dataset({n: (("chain", "draw"), np.full((1, 1), v)) for n, v in values_at.items()},
                           coords={"chain": [0], "draw": [0]})  # fmt: skip
    return MaximumLikelihood(params, -float(best.fun), bool(best.success), int(starts), posterior, model)
