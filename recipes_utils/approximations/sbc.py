"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari and Gelman 2018) of any method of this package.

Draw parameters and data from the model's prior predictive, fit each data set, and record where each true value falls
among the fit's draws. If the method computes the posterior, that position is uniform.

How the positions are made here, following Talts et al.:

- **Thinned to the effective sample size.** Autocorrelated draws (NUTS's) make ranks too concentrated. Each quantity's
  draws are thinned evenly to ``min(n_rank_draws, ESS)`` draws, so the spacing is at least the chain's autocorrelation
  time; the rank is then out of that many (``n_draws`` in the output).
- **Ties broken at random.** Resampled draws (Pathfinder's importance resampling) repeat values; a true value equal to
  some draws takes a uniformly random position among them, not the lowest.
- **On one scale.** Each rank becomes a fraction in (0, 1), ``u = (rank + U) / (n_draws + 1)`` with ``U`` uniform on
  (0, 1) (a randomised probability integral transform): exactly uniform for a calibrated method, whatever the number
  of draws kept.

The test (:func:`rank_uniformity`) takes **one value per data set**: a population parameter, or one element of a
vector chosen in advance (``"log_ec50[0]"``). The elements of one data set share its hyperparameters and its fit, so
pooling them as independent ranks makes p-values far too small.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pymc as pm
from scipy import stats

from recipes_utils.approximations.fitters import make_fitter
from recipes_utils.inference import _check_seed

__all__ = ["rank_fraction", "rank_uniformity", "sbc", "thin_to_ess"]


def thin_to_ess(values: np.ndarray, n_max: int) -> np.ndarray:
    """At most ``n_max`` draws spread evenly over the (chain, draw) array ``values``, and no more than its bulk ESS
    (rounded down, at least 1): the draws kept are spaced at least one autocorrelation time apart."""
    import arviz as az

    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be a (chain, draw) array, got shape {values.shape}")
    flat = values.reshape(-1)
    ess = float(az.ess(values, method="bulk")) if values.shape[1] >= 4 else float(flat.size)
    n = int(max(1, min(n_max, flat.size, np.floor(ess) if np.isfinite(ess) else flat.size)))
    return flat[np.linspace(0, flat.size - 1, n).round().astype(int)]


def rank_fraction(draws: np.ndarray, truth: float, rng: np.random.Generator) -> tuple[int, int, float]:
    """``(rank, n, u)``: the number of ``draws`` below ``truth``, ties broken at random; how many draws; and the rank
    as a uniform fraction ``(rank + U) / (n + 1)``."""
    draws = np.asarray(draws)
    below = int((draws < truth).sum())
    ties = int((draws == truth).sum())
    rank = below + (int(rng.integers(0, ties + 1)) if ties else 0)
    return rank, draws.size, float((rank + rng.random()) / (draws.size + 1))


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
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Simulation-based calibration of each method on ``model``: one row per (data set, method, parameter element).

    Parameters and data sets come from the model's prior predictive (``pm.sample_prior_predictive``, seeded by
    ``seed``); each data set goes into the ``pm.Data`` container ``data_name`` before the fits. Each method is
    compiled once (:func:`~recipes_utils.approximations.make_fitter`; ``fit_kwargs[method]`` are its settings); data
    set ``i`` is fitted with seed ``seed + i``. ``params`` are free or deterministic variables (each element of a vector
    gets a row). Each row holds the rank of the true value among the thinned draws (see the module docs), ``n_draws``
    kept, the uniform fraction ``u``, the fit's seconds and NUTS's divergences. A fit that raises is a result too: its
    rows have rank -1 and the error in ``error``.

    ``n_jobs`` > 1 spreads the data sets over that many worker processes (each compiles its own fitters once);
    ``on_dataset`` is only called with ``n_jobs=1``. Nothing depends on ``n_jobs``.
    """
    if n_datasets < 1 or n_rank_draws < 1:
        raise ValueError("n_datasets and n_rank_draws must be at least 1")
    _check_seed(seed)  # data set i's fits take seed + i: a bad seed would be recorded as a failed fit per data set
    _check_seed(seed + n_datasets - 1)
    if data_name not in model.named_vars or not isinstance(model[data_name], pm.pytensorf.SharedVariable):
        raise ValueError(f"{data_name!r} is not a pm.Data container of the model")
    missing = [p for p in params if p not in model.named_vars]
    if missing:
        raise ValueError(f"unknown parameter(s) {missing}")
    observed = list(model.observed_RVs)
    if len(observed) != 1:
        raise ValueError(f"SBC here needs exactly one observed variable, the model has {len(observed)}")
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be at least 1, got {n_jobs}")
    obs_name = observed[0].name
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)  # not "Sampling: [every variable]"
    try:
        prior = pm.sample_prior_predictive(draws=n_datasets, model=model, random_seed=seed,
                                           var_names=[*params, obs_name])  # fmt: skip
    finally:
        pymc_log.setLevel(level)
    datasets = [(i, {p: np.asarray(prior.prior[p].isel(chain=0, draw=i)) for p in params},
                 np.asarray(prior.prior_predictive[obs_name].isel(chain=0, draw=i))) for i in range(n_datasets)]  # fmt: skip
    job = {"methods": list(methods), "data_name": data_name, "params": list(params), "seed": seed,
           "n_rank_draws": n_rank_draws, "fit_kwargs": fit_kwargs or {}}  # fmt: skip
    if n_jobs == 1:
        rows = _sbc_fits(model, datasets, on_dataset=on_dataset, **job)
    else:
        # Spawned worker processes (a forked copy of a process running nutpie's threads could hang), each with a copy
        # of the model and its own compiled fitters, taking every n_jobs-th data set.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import cloudpickle

        blob = cloudpickle.dumps(model)
        with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = [pool.submit(_sbc_worker, blob, datasets[k::n_jobs], job) for k in range(n_jobs)]
            rows = [row for part in parts for row in part.result()]
    return pd.DataFrame(rows).sort_values(["dataset", "method", "parameter"], kind="stable").reset_index(drop=True)


def _sbc_worker(blob: bytes, datasets: list, job: dict) -> list[dict]:
    import os

    import cloudpickle

    os.environ["RECIPES_PROGRESS"] = "0"
    warnings.filterwarnings("ignore")
    return _sbc_fits(cloudpickle.loads(blob), datasets, **job)


def _sbc_fits(model, datasets, *, methods, data_name, params, seed, n_rank_draws, fit_kwargs, on_dataset=None):
    """Fit every method to each (index, truth, data) in ``datasets``, compiling each method once; rank the truth."""
    original = model[data_name].get_value()
    fitters = {method: make_fitter(method, model, **fit_kwargs.get(method, {})) for method in methods}
    rows = []
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)
    try:
        for i, truth, y in datasets:
            with model:
                pm.set_data({data_name: y})
            for k, method in enumerate(methods):
                base = {"dataset": i, "method": method, "compiles": 0, "error": ""}
                try:
                    fit = fitters[method](seed + i)
                except Exception as e:  # noqa: BLE001  (a failed fit is a result of SBC: record it, go on)
                    for p in params:
                        n = int(np.prod(truth[p].shape))
                        rows += [base | {"parameter": p if n == 1 else f"{p}[{j}]", "variable": p, "rank": -1,
                                         "n_draws": 0, "u": np.nan, "seconds": np.nan, "divergences": 0,
                                         "compiles": fitters[method].compiles, "error": f"{type(e).__name__}: {e}"[:200]}
                                 for j in range(n)]  # fmt: skip
                    continue
                post = fit.idata.posterior
                divergences = int(fit.idata.sample_stats["diverging"].sum()) if method == "nuts" else 0
                rng = np.random.default_rng([seed, i, k])
                for p in params:
                    draws = post[p].to_numpy()
                    draws = draws.reshape(draws.shape[0], draws.shape[1], -1)
                    true = truth[p].reshape(-1)
                    for j in range(true.size):
                        rank, n, u = rank_fraction(thin_to_ess(draws[:, :, j], n_rank_draws), true[j], rng)
                        rows.append(base | {"parameter": p if true.size == 1 else f"{p}[{j}]", "variable": p,
                                            "rank": rank, "n_draws": n, "u": u, "seconds": fit.seconds,
                                            "divergences": divergences, "compiles": fitters[method].compiles})  # fmt: skip
            if on_dataset is not None:
                on_dataset(i)
    finally:
        pymc_log.setLevel(level)
        with model:
            pm.set_data({data_name: original})
    return rows


def rank_uniformity(ranks: pd.DataFrame, parameters: Sequence[str] | None = None, n_bins: int = 10) -> pd.DataFrame:
    """Chi-square test of uniform rank fractions per method and parameter, one value per data set.

    ``parameters`` are the rows' ``parameter`` values to test (a scalar variable, or one element such as
    ``"log_ec50[0]"`` chosen before looking); by default every parameter that has one row per data set. Each test
    bins the fractions ``u`` into ``n_bins`` equal bins. Failed fits (rank -1) are left out and counted. Also returns
    the share of fractions in the lowest and highest 5% (5% each if calibrated).
    """
    if n_bins < 2:
        raise ValueError(f"n_bins must be at least 2, got {n_bins}")
    if "u" not in ranks:
        raise ValueError("ranks lack the column 'u' (rank fractions): make them with this version of sbc")
    if parameters is None:
        per = ranks.groupby(["method", "parameter"])["dataset"].agg(lambda d: d.duplicated().any())
        if per.any():
            raise ValueError("some parameters have several rows per data set: pass parameters=")
        parameters = list(dict.fromkeys(ranks["parameter"]))
    unknown = sorted(set(parameters) - set(ranks["parameter"]))
    if unknown:
        raise ValueError(f"no ranks for parameter(s) {unknown}")
    out = []
    sel = ranks[ranks["parameter"].isin(parameters)]
    for (method, parameter), g in sel.groupby(["method", "parameter"], sort=False):
        if g["dataset"].duplicated().any():
            raise ValueError(f"{method}, {parameter}: several rows per data set (not one value per data set)")
        failed = int((g["rank"] < 0).sum())
        u = g.loc[g["rank"] >= 0, "u"].to_numpy()
        counts = np.bincount(np.minimum((u * n_bins).astype(int), n_bins - 1), minlength=n_bins)
        chi2, p = stats.chisquare(counts) if len(u) else (np.nan, np.nan)
        out.append({"method": method, "parameter": parameter, "n": len(u), "failed_fits": failed, "chi2": chi2,
                    "p_value": p, "share_in_lowest_5%": float((u < 0.05).mean()) if len(u) else np.nan,
                    "share_in_highest_5%": float((u > 0.95).mean()) if len(u) else np.nan})  # fmt: skip
    return pd.DataFrame(out)
