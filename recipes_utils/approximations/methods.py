"""One call per inference method: ``fit_method(name, model, seed=...)``, timed with compilation, with its k-hat.

The calls are the ones you would write yourself, each method run as its authors recommend:

- ``"nuts"``: nutpie (:func:`recipes_utils.inference.sample_nuts`), 4 chains; the reference.
- ``"advi"``: mean-field ADVI (``pm.fit``, Adam), stopped when the ELBO no longer improves beyond its own noise.
- ``"fullrank_advi"``: full-rank ADVI, started from mean-field's fit, Adam with a decaying step size, and the iterates
  averaged (Polyak averaging; Dhaka et al. 2020) over each window of steps: a stochastic optimiser's last iterate
  rattles around the optimum, and in a full covariance that noise widens every sd. It stops when the averaged fit's
  ELBO, estimated precisely on fixed draws, improves by less than ``elbo_tol`` nats from one window to the next, and
  raises if it never does (see :func:`recipes_utils.inference.fit_advi`).
- ``"pathfinder"``: pymc-extras' multi-path Pathfinder (4 paths, PSIS resampling).
- ``"dadvi"``: DADVI (Giordano, Ingram and Broderick 2024): mean-field's objective on 30 fixed draws, minimised by
  trust-region Newton (pymc-extras' objective).
- ``"dadvi_lrvb"``: the same optimum with its linear-response covariance, the correction its authors pair it with.
- ``"laplace"``: trust-region Newton to the mode of the unconstrained density (with the Jacobian), the exact Hessian
  there as the precision (:mod:`~recipes_utils.approximations.gaussian`).

For a hierarchical model with thousands of groups, ``group_dim="group"`` lets Laplace and LRVB form their Hessian
block by block (one small block per group) instead of densely.
"""

from __future__ import annotations

import logging
import time
import warnings
import weakref
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pymc as pm

from recipes_utils.approximations import gaussian
from recipes_utils.approximations.fitters import METHODS, Flat
from recipes_utils.compile_cache import cacheable_compiles
from recipes_utils.inference import _check_seed, fit_advi, sample_nuts, show_progress

# fit_advi settings of the two ADVIs, shared by fit_method and make_fitter
ADVI_DEFAULTS = {"max_steps": 60_000}
FULLRANK_DEFAULTS = {"max_steps": 400_000, "learning_rate": 0.01, "decay_steps": 10_000, "average_window": 20_000,
                     "elbo_tol": 1.0, "init": "advi"}  # fmt: skip


def advi_settings(method: str, settings: dict | None) -> dict:
    """``fit_advi``'s settings for ``method``: its defaults, then this package's for the method, then ``settings``."""
    base = {"learning_rate": 0.01, "decay_steps": None, "stop": True, "check": True}
    return base | (ADVI_DEFAULTS if method == "advi" else FULLRANK_DEFAULTS) | (settings or {})


@dataclass
class MethodFit:
    method: str
    idata: az.InferenceData
    seconds: float  # wall time, compilation included
    khat: float | None = None  # PSIS k-hat of the approximation (fit_method(..., khat=True)); None for NUTS
    info: dict = field(default_factory=dict)  # what the method says of its own convergence

    @property
    def converged(self) -> bool | None:
        """Whether the method's own convergence rule was met: ADVI's stopping rule, the optimiser of Laplace and
        DADVI (a zero gradient); None where the method has no such rule (NUTS: use check_nuts; Pathfinder)."""
        if "converged_at" in self.info:
            return self.info["converged_at"] is not None
        return self.info.get("converged")


def fit_method(
    method: str,
    model: pm.Model,
    *,
    seed: int,
    draws: int = 1000,
    nuts: dict | None = None,
    advi: dict | None = None,
    fullrank: dict | None = None,
    group_dim: str | None = None,
    khat: bool = False,
) -> MethodFit:
    """Fit ``model`` with one of :data:`METHODS` and return ``draws`` draws (NUTS: per chain) with the wall time.

    ``nuts``, ``advi`` and ``fullrank`` are keyword arguments for ``sample_nuts`` / ``fit_advi``. ``group_dim`` names
    the groups' dimension of a hierarchical model (block-wise Hessians for Laplace and LRVB). With ``khat=True`` the
    fit carries the approximation's PSIS k-hat (Yao et al. 2018; not timed). In a hundred dimensions almost any
    inexact approximation scores above 0.7: k-hat says an approximation is not exact, not how wrong its intervals are.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if not isinstance(model, pm.Model):
        raise TypeError(f"model must be a pymc.Model, got {type(model).__name__}")
    _check_seed(seed)
    start = time.perf_counter()
    info, logq_fn = {}, None
    if method == "nuts":
        idata = sample_nuts(model, seed=seed, **({"draws": draws, "tune": 1000, "chains": 4} | (nuts or {}))).idata
    elif method in ("advi", "fullrank_advi"):
        fit = fit_advi(
            model, seed=seed, method=method, **_fit_advi_kwargs(method, advi if method == "advi" else fullrank)
        )
        idata = fit.sample(draws, seed)
        info = {"steps": fit.steps, "converged_at": fit.converged_at}
        logq_fn = fit
    elif method == "pathfinder":
        import pymc_extras as pmx

        with warnings.catch_warnings(), cacheable_compiles():
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            logging.getLogger("pymc_extras").setLevel(logging.ERROR)
            idata = pmx.fit_pathfinder(model=model, num_paths=4, num_draws=draws, random_seed=seed,
                                       progressbar=show_progress(), concurrent=None, display_summary=False)  # fmt: skip
        info = {"pareto_k": float(idata.sample_stats["pareto_k"])}
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            # the compilation counts once in every fit, whether it was done here or earlier (for another method)
            if method == "laplace":
                funcs = gaussian.model_functions(model)
                start = time.perf_counter() - funcs.compile_seconds
                g = gaussian.laplace(model, funcs=funcs, group_dim=group_dim)
            else:
                if model not in _DADVI:
                    _DADVI[model] = {"funcs": gaussian.DadviFunctions(model), "last": None}
                entry = _DADVI[model]
                start = time.perf_counter() - entry["funcs"].compile_seconds
                mf, reused = _dadvi_optimum(model, entry)
                g = mf if method == "dadvi" else gaussian.lrvb(model, mf, entry["funcs"], group_dim=group_dim)
                start -= reused  # an optimum this model's data already had: count its optimisation
            flat = Flat(model)
        x, logq = g.draws(draws, seed)
        idata = flat.idata(x)
        info = {"converged": g.converged, "iterations": g.iterations, "grad_norm": g.grad_norm,
                "floored_eigenvalues": g.floored_eigenvalues}  # fmt: skip
        logq_fn = (x, logq)
    seconds = time.perf_counter() - start
    k = _khat(method, model, info, logq_fn, seed) if khat else None
    return MethodFit(method, idata, seconds, k, info)


# model -> DADVI's compiled objective and its last optimum (with the data it was for), so that "dadvi" and "dadvi_lrvb"
# on the same model and data compile and optimise once; forgotten with the model
_DADVI: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _dadvi_optimum(model, entry) -> tuple[gaussian.GaussianFit, float]:
    """DADVI's optimum for the data ``model`` holds now, and its optimisation's seconds if this model's data already
    had it (else 0: it is optimised now)."""
    from recipes_utils.approximations.fitters import _data_digest

    digest = _data_digest(model)
    if entry["last"] is not None and entry["last"][0] == digest:
        return entry["last"][1], entry["last"][1].seconds
    fit = gaussian.dadvi(model, funcs=entry["funcs"])
    entry["last"] = (digest, fit)
    return fit, 0.0


def _fit_advi_kwargs(method: str, settings: dict | None) -> dict:
    kw = advi_settings(method, settings)
    return kw


def psis_khat(model: pm.Model, flat_draws: np.ndarray, logq: np.ndarray) -> float:
    """PSIS k-hat of draws (flat, unconstrained) from an approximation with log density ``logq``, weighted by the
    model's joint density (with the Jacobian of the transforms)."""
    from pymc.blocking import DictToArrayBijection, RaveledVars

    info = DictToArrayBijection.map(model.initial_point()).point_map_info
    logp_fn = model.compile_logp(jacobian=True)
    logp = np.array([logp_fn(DictToArrayBijection.rmap(RaveledVars(row, info))) for row in flat_draws])
    _, khat = az.psislw(logp - np.asarray(logq))
    return float(khat)


def _khat(method, model, info, source, seed) -> float | None:
    if method == "nuts":
        return None
    if method == "pathfinder":
        return info["pareto_k"]
    if method in ("advi", "fullrank_advi"):
        from recipes_utils.dose_response import advi_psis_khat

        return advi_psis_khat(source.approx, model, n_draws=1000, seed=seed)
    x, logq = source
    if not np.isfinite(logq).all():
        return None  # LRVB's marginal at scale: its density is not formed
    return psis_khat(model, x, logq)
