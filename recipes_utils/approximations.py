"""Every inference method of the approximations recipe behind one call, and simulation-based calibration (SBC).

``fit_method(name, model, seed=...)`` runs one of :data:`METHODS` on a PyMC model and returns its draws as
``InferenceData`` with the wall time (compilation included). The calls are the ones you would write yourself:

- ``"nuts"``: :func:`recipes_utils.inference.sample_nuts` (nutpie);
- ``"advi"`` / ``"fullrank_advi"``: :func:`recipes_utils.inference.fit_advi` (``pm.fit``, Adam, the recipes' stopping
  rule for mean-field; a fixed number of steps with a decaying rate for full-rank, which needs it to settle);
- ``"pathfinder"``: ``pymc_extras.fit_pathfinder`` (multi-path, PSIS resampling, one process);
- ``"dadvi"``: ``pymc_extras.inference.fit_dadvi`` (mean-field ADVI with fixed draws, optimised deterministically);
- ``"laplace"``: ``pymc_extras.fit_laplace`` (a Gaussian at the mode, the inverse Hessian as its covariance, on the
  unconstrained space).

SBC (Talts et al. 2018): draw parameters and data from the model's prior predictive, fit each data set, and record
the rank of every true value among the fit's draws. If the method is calibrated, ranks are uniform. ``sbc`` swaps
each simulated data set into the model's ``pm.Data`` container, so nutpie's compiled sampler is reused (its
``with_data``) instead of compiled per data set.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
from scipy import stats

from recipes_utils.inference import fit_advi, sample_nuts, show_progress

METHODS = ("nuts", "advi", "fullrank_advi", "pathfinder", "dadvi", "laplace")


@dataclass(frozen=True)
class MethodFit:
    method: str
    idata: az.InferenceData
    seconds: float  # wall time, compilation included


def fit_method(
    method: str,
    model: pm.Model,
    *,
    seed: int,
    draws: int = 1000,
    nuts: dict | None = None,
    advi: dict | None = None,
    fullrank: dict | None = None,
) -> MethodFit:
    """Fit ``model`` with one of :data:`METHODS` and return ``draws`` draws (NUTS: per chain) with the wall time.

    ``nuts``, ``advi`` and ``fullrank`` are keyword arguments passed on to ``sample_nuts`` / ``fit_advi``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if not isinstance(model, pm.Model):
        raise TypeError(f"model must be a pymc.Model, got {type(model).__name__}")
    import pymc_extras as pmx
    import pymc_extras.inference as pmx_inference

    start = time.perf_counter()
    if method == "nuts":
        kw = {"draws": draws, "tune": 1000, "chains": 4} | (nuts or {})
        idata = sample_nuts(model, seed=seed, **kw).idata
    elif method == "advi":
        kw = {"max_steps": 60_000} | (advi or {})
        idata = fit_advi(model, seed=seed, **kw).sample(draws, seed=seed)
    elif method == "fullrank_advi":
        kw = {"max_steps": 40_000, "learning_rate": 0.005, "decay_steps": 10_000, "stop": False,
              "check": False} | (fullrank or {})  # fmt: skip
        idata = fit_advi(model, seed=seed, method="fullrank_advi", **kw).sample(draws, seed=seed)
    else:
        # Progress bars follow RECIPES_PROGRESS like sample_nuts' and fit_advi's; pymc-extras' notes on its defaults
        # (UserWarning) and overflow warnings inside its optimisers are silenced here only.
        progress = show_progress()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            if method == "pathfinder":
                logging.getLogger("pymc_extras").setLevel(logging.ERROR)
                idata = pmx.fit_pathfinder(model=model, num_paths=4, num_draws=draws, random_seed=seed,
                                           progressbar=progress, concurrent=None, display_summary=False)  # fmt: skip
            elif method == "dadvi":
                idata = pmx_inference.fit_dadvi(model=model, n_draws=draws, random_seed=seed, progressbar=progress)
            else:
                idata = pmx.fit_laplace(model=model, draws=draws, random_seed=seed, progressbar=progress)
    return MethodFit(method, idata, time.perf_counter() - start)


def thin_draws(values: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws spread evenly over the (chain x draw) array ``values``, for ranks that are not autocorrelated."""
    flat = np.asarray(values).reshape(-1)
    if n > flat.size:
        raise ValueError(f"asked for {n} draws from {flat.size}")
    return flat[np.linspace(0, flat.size - 1, n).round().astype(int)]


def sbc(
    model: pm.Model,
    methods: Sequence[str],
    *,
    data_name: str,
    params: Sequence[str],
    n_datasets: int,
    seed: int,
    n_rank_draws: int = 99,
    fit_kwargs: dict | None = None,
    on_dataset: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Simulation-based calibration of each method on ``model``: one row per (data set, method, parameter element).

    Parameters and data sets come from the model's prior predictive (``pm.sample_prior_predictive``); each data set
    is put into the ``pm.Data`` container ``data_name`` (the observed variable's data) before the fits. ``params``
    are the free variables to rank (every element of a vector variable gets a row). The rank of a true value is the
    number of ``n_rank_draws`` thinned posterior draws below it (0 to ``n_rank_draws``). Returns the ranks, each
    fit's seconds, and NUTS's divergences, so a caller can see what a calibration failure coincides with.
    """
    if n_datasets < 1 or n_rank_draws < 1:
        raise ValueError("n_datasets and n_rank_draws must be at least 1")
    if data_name not in model.named_vars or not isinstance(model[data_name], pm.pytensorf.SharedVariable):
        raise ValueError(f"{data_name!r} is not a pm.Data container of the model")
    missing = [p for p in params if p not in model.named_vars]
    if missing:
        raise ValueError(f"unknown parameter(s) {missing}")
    observed = list(model.observed_RVs)
    if len(observed) != 1:
        raise ValueError(f"SBC here needs exactly one observed variable, the model has {len(observed)}")
    obs_name = observed[0].name
    prior = pm.sample_prior_predictive(draws=n_datasets, model=model, random_seed=seed, var_names=[*params, obs_name])
    original = model[data_name].get_value()
    rows = []
    try:
        for i in range(n_datasets):
            truth = {p: np.asarray(prior.prior[p].isel(chain=0, draw=i)) for p in params}
            y = np.asarray(prior.prior_predictive[obs_name].isel(chain=0, draw=i))
            with model:
                pm.set_data({data_name: y})
            for method in methods:
                fit = fit_method(method, model, seed=seed + i, **(fit_kwargs or {}).get(method, {}))
                post = fit.idata.posterior
                divergences = (int(fit.idata.sample_stats["diverging"].sum()) if method == "nuts" else 0)  # fmt: skip
                for p in params:
                    draws = post[p].to_numpy()
                    draws = draws.reshape(draws.shape[0] * draws.shape[1], -1)
                    true = truth[p].reshape(-1)
                    for j in range(true.size):
                        ranked = thin_draws(draws[:, j], n_rank_draws)
                        rows.append({"dataset": i, "method": method, "parameter": p if true.size == 1 else f"{p}[{j}]",
                                     "variable": p, "rank": int((ranked < true[j]).sum()), "seconds": fit.seconds,
                                     "divergences": divergences})  # fmt: skip
            if on_dataset is not None:
                on_dataset(i)
    finally:
        with model:
            pm.set_data({data_name: original})
    return pd.DataFrame(rows)


def rank_uniformity(ranks: pd.DataFrame, n_rank_draws: int = 99, n_bins: int = 10) -> pd.DataFrame:
    """Chi-square test of uniform ranks per method and variable (elements of a vector pooled), with its p-value.

    Ranks 0..``n_rank_draws`` are put into ``n_bins`` equal bins; under calibration each bin expects the same count.
    """
    if (n_rank_draws + 1) % n_bins:
        raise ValueError(f"{n_rank_draws + 1} possible ranks do not split into {n_bins} equal bins")
    out = []
    for (method, variable), g in ranks.groupby(["method", "variable"], sort=False):
        counts = np.bincount(g["rank"].to_numpy() * n_bins // (n_rank_draws + 1), minlength=n_bins)
        chi2, p = stats.chisquare(counts)
        frac_low, frac_high = float((g["rank"] < (n_rank_draws + 1) * 0.05).mean()), float(
            (g["rank"] >= (n_rank_draws + 1) * 0.95).mean()
        )
        out.append({"method": method, "variable": variable, "n": len(g), "chi2": chi2, "p_value": p,
                    "share_in_lowest_5%": frac_low, "share_in_highest_5%": frac_high})  # fmt: skip
    return pd.DataFrame(out)
