"""Checks of a fit against what is known: interval coverage of a simulation's truth, and Pareto k-hat of ADVI
approximations (whole model, and per group)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recipes_utils.dose_response.predict import _minibatched


def interval_coverage(posterior, truth: pd.DataFrame, prob: float = 0.94) -> pd.Series:
    """Share of true group values inside the posterior's central ``prob`` interval, per parameter.

    Parameters
    ----------
    posterior
        ``idata.posterior`` (dims chain, draw, group) with a variable per column of ``truth``.
    truth
        One row per group, one column per parameter: indexed by the group labels (matched to the ``group``
        coordinate, in any order), or with pandas' default ``RangeIndex`` 0, 1, ... (``reset_index``, ``read_csv``)
        in the order of the ``group`` coordinate. A ``RangeIndex`` against group labels that are 0, 1, ... in another
        order is refused: which row is which group cannot be told.
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob}")
    if "group" in posterior.coords:
        labels = list(posterior.coords["group"].values)
        # pandas' default index (reset_index, read_csv, a dict) is read by position; one set by the user (set_index,
        # groupby) holds labels, even where they are 0, 1, ...
        default = isinstance(truth.index, pd.RangeIndex) and truth.index.equals(pd.RangeIndex(len(truth)))
        if (
            default
            and labels != list(range(len(labels)))
            and sorted(labels, key=str) == sorted(range(len(labels)), key=str)
        ):
            raise ValueError(
                "truth has a default index 0, 1, ... and the posterior's group labels are those numbers in another "
                "order: index truth by group label to say which row is which group"
            )
        if len(truth) == len(labels) and set(truth.index) == set(labels):
            truth = truth.loc[labels]  # by label
        elif not default:
            raise ValueError(
                f"truth's index ({list(truth.index[:5])}) is neither the posterior's group labels "
                f"({labels[:5]}) nor a default index 0, 1, ... in their order"
            )
    if truth.isna().any().any():
        raise ValueError(f"truth has missing values in {list(truth.columns[truth.isna().any()])}")
    out = {}
    for name in truth.columns:
        if name not in posterior:
            raise KeyError(f"posterior lacks {name!r}; it has {list(posterior.data_vars)}")
        draws = np.asarray(posterior[name].stack(sample=("chain", "draw")).transpose("group", "sample"))
        if draws.shape[0] != len(truth):
            raise ValueError(f"{name}: posterior has {draws.shape[0]} groups, truth has {len(truth)}")
        lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=1)
        t = truth[name].to_numpy()
        out[name] = float(np.mean((t >= lo) & (t <= hi)))
    return pd.Series(out, name=f"coverage of {prob:.0%} intervals")


def advi_psis_khat(approx, model, n_draws: int = 2000, seed: int = 0) -> float:
    """Pareto k-hat of importance weights p(theta, y) / q(theta) for an ADVI fit (mean-field or full-rank).

    Yao, Vehtari, Simpson and Gelman (2018), "Yes, but did it work?": draw from the approximation ``q``,
    weight each draw by the model's joint density over ``q``'s, and fit a generalised Pareto tail to the
    weights. k-hat < 0.5: ``q`` is close to the posterior; 0.5-0.7: usable with importance sampling; > 0.7:
    the approximation misses posterior mass and its estimates (above all its uncertainties) are suspect.
    In hundreds of dimensions almost any inexact Gaussian gives k-hat > 0.7, so it discriminates best between
    approximations of a small model, or of a part of one.

    Works on the unconstrained space, where ADVI's ``q`` is a Gaussian (diagonal for mean-field, with a full
    covariance for full-rank), with the model's full (not minibatch) log density: pass a model built without
    ``batch_size``.
    """
    import arviz as az
    from scipy.linalg import solve_triangular
    from scipy.stats import norm

    if not isinstance(n_draws, int | np.integer) or n_draws < 100:
        raise ValueError(f"n_draws must be an int >= 100 (the Pareto fit needs a tail), got {n_draws}")
    mean = approx.mean.eval()
    ordering = approx.groups[0].ordering  # name -> (name, slice, shape, dtype) in the flat vector
    rng = np.random.default_rng(seed)
    if hasattr(approx, "L"):  # full-rank: q = N(mean, L L^T), evaluated through L (never forming L L^T)
        L = approx.L.eval()
        z = rng.standard_normal((n_draws, mean.size))
        flat = mean + z @ L.T
        white = solve_triangular(L, (flat - mean).T, lower=True).T  # = z, up to rounding
        logq = -0.5 * (white**2).sum(axis=1) - np.log(np.abs(np.diag(L))).sum() - 0.5 * mean.size * np.log(2 * np.pi)
    else:
        std = approx.std.eval()
        flat = mean + std * rng.standard_normal((n_draws, mean.size))
        logq = norm.logpdf(flat, mean, std).sum(axis=1)
    unknown = set(ordering) - {v.name for v in model.value_vars}
    if unknown:
        raise ValueError(f"approximation variables {sorted(unknown)} are not value variables of the model")
    logp_fn = model.compile_logp(jacobian=True)
    logp = np.empty(n_draws)
    for i, row in enumerate(flat):
        point = {name: row[slc].reshape(shape).astype(dtype) for name, (_, slc, shape, dtype) in ordering.items()}
        logp[i] = logp_fn(point)
    _, khat = az.psislw(logp - logq)
    return float(khat)


def group_psis_khat(approx, model, n_draws: int = 1000, seed: int = 0) -> np.ndarray:
    """One Pareto k-hat per group: how well an ADVI fit approximates each group's curve, given the population.

    For a model from :func:`hierarchical_four_pl` (without ``batch_size``), with the population parameters and
    ``sigma`` held at the approximation's means, the groups are independent: group ``g``'s parameters have the
    conditional posterior ``p(theta_g | population, y_g)``, a 4-dimensional density. This draws each group's
    parameters from the approximation's marginal ``q_g`` and computes the PSIS k-hat of ``p / q_g`` per group, with
    the model's own log density evaluated term by term (``model.logp(sum=False)``). Where the whole-model k-hat of
    :func:`advi_psis_khat` is far above 0.7 in hundreds of dimensions whatever the approximation, this says which
    curves the approximation fits worst. It is conditional: it does not see what a group shares with the population.
    Mean-field approximations only (``q_g`` diagonal).
    """
    import arviz as az
    from scipy.stats import norm

    if hasattr(approx, "L"):
        raise ValueError("group_psis_khat takes a mean-field approximation (method='advi')")
    if not isinstance(n_draws, int | np.integer) or n_draws < 100:
        raise ValueError(f"n_draws must be an int >= 100 (the Pareto fit needs a tail), got {n_draws}")
    if _minibatched(model):
        raise ValueError("group_psis_khat needs a model from hierarchical_four_pl without batch_size")
    if "cell_group_idx" in model.named_vars:
        obs, group_idx = model["response_mean"], model["cell_group_idx"].get_value()
    elif "group_idx" in model.named_vars and "response" in model.named_vars:
        obs, group_idx = model["response"], model["group_idx"].get_value()
    elif "point_of_row" in model.named_vars and "response" in model.named_vars:
        obs = model["response"]
        group_idx = model["point_group_idx"].get_value()[model["point_of_row"].get_value()]
    else:
        raise ValueError("group_psis_khat needs a model from hierarchical_four_pl without batch_size")
    n_groups = len(model.coords["group"])
    group_rvs = [rv for rv in model.free_RVs if model.named_vars_to_dims.get(rv.name) == ("group",)]
    blocks = {rv.name: model.named_vars_to_dims.get(rv.name) for rv in model.free_RVs}
    blocks = {name: dims for name, dims in blocks.items() if dims and "group" in dims and dims != ("group",)}
    if blocks:
        raise ValueError(
            f"group_psis_khat takes per-group variables of dims ('group',); {blocks} are blocks per group (as with "
            "parameterization='decorrelated'): build the model with 'centered' or 'noncentered' effects for this check"
        )
    if not group_rvs:
        raise ValueError(
            "the model has no per-group free variables (every curve parameter shared?): no k-hat per group"
        )
    ordering = approx.groups[0].ordering
    mean, std = approx.mean.eval(), approx.std.eval()
    point = {name: mean[slc].reshape(shape).astype(dtype) for name, (_, slc, shape, dtype) in ordering.items()}
    terms = model.logp(vars=[*group_rvs, obs], sum=False)
    fn = model.compile_fn(terms, inputs=model.value_vars, on_unused_input="ignore")
    value_names = [model.rvs_to_values[rv].name for rv in group_rvs]
    rng = np.random.default_rng(seed)
    log_w = np.empty((n_groups, n_draws))
    for s in range(n_draws):
        draw, log_q = dict(point), np.zeros(n_groups)
        for name in value_names:
            slc = ordering[name][1]
            draw[name] = mean[slc] + std[slc] * rng.standard_normal(n_groups)
            log_q += norm.logpdf(draw[name], mean[slc], std[slc])
        values = fn(draw)
        log_p = sum(values[:-1]) + np.bincount(group_idx, weights=values[-1], minlength=n_groups)
        log_w[:, s] = log_p - log_q
    _, khat = az.psislw(log_w)
    return np.asarray(khat, dtype=float)
