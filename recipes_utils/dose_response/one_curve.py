"""One 4PL curve: the PyMC model (:func:`four_pl_model`) and drc's least-squares reference fit
(:func:`least_squares_four_pl`).

Both read one curve's data as a table with column names, as the many-curve builder does (without the group column)::

    model = four_pl_model(table, concentration="dose", response="y")

or as two arrays, ``four_pl_model(concentrations, responses)``
(:func:`~recipes_utils.dose_response.table.one_curve_arrays`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recipes_utils.dose_response.priors import CurvePriors, default_curve_priors
from recipes_utils.dose_response.table import _N_CURVE_PARAMS, one_curve_arrays
from recipes_utils.models import four_pl


def _check_curve_data(concentration, response) -> tuple[np.ndarray, np.ndarray]:
    """One curve's concentrations and responses as float arrays, or a ValueError that says what is wrong."""
    conc = np.asarray(concentration, dtype=float)
    y = np.asarray(response, dtype=float)
    if conc.ndim != 1 or conc.shape != y.shape:
        raise ValueError(f"concentration and response must be 1-D of the same length, got {conc.shape}, {y.shape}")
    if len(y) < _N_CURVE_PARAMS:
        raise ValueError(f"a 4-parameter curve needs at least {_N_CURVE_PARAMS} measurements, got {len(y)}")
    if not np.isfinite(y).all():
        raise ValueError(f"response must be finite: {int((~np.isfinite(y)).sum())} NaN or infinite value(s)")
    if not np.isfinite(conc).all() or (conc < 0).any():
        raise ValueError("concentrations must be finite and >= 0 (0 for an untreated control)")
    if len(np.unique(conc[conc > 0])) < 2:
        raise ValueError("fewer than two distinct positive concentrations: there is no dose range to fit a curve to")
    return conc, y


def four_pl_model(
    data=None,
    response=None,
    *,
    concentration=None,
    log_concentration=None,
    zero_is_control: bool = False,
    priors: CurvePriors | None = None,
):
    """One 4PL curve as a PyMC model, with :func:`default_curve_priors` unless ``priors`` are given.

    The data, in either form (:func:`~recipes_utils.dose_response.table.one_curve_arrays`):

    - a table and its column names, as for ``hierarchical_four_pl`` without ``group``:
      ``four_pl_model(table, concentration="dose", response="y")`` (or ``log_concentration="log_dose"``; the
      defaults are ``"concentration"`` and ``"response"``; a concentration of 0 needs ``zero_is_control=True``);
    - two arrays: ``four_pl_model(concentrations, responses)``.

    The template recipe writes this model out cell by cell; this is the same model for code that fits many single
    curves (the drc sweep). The data need at least four finite measurements at two or more distinct positive
    concentrations, with priors given or not. ``concentration`` may hold zeros (untreated controls, at ``top``). The
    concentration is a ``pm.Data`` container ``log_conc`` and the curve a ``Deterministic`` ``mu``, so
    ``pm.set_data`` and ``pm.sample_posterior_predictive(..., predictions=True)`` give the curve at new doses.
    """
    import pymc as pm

    conc, y = one_curve_arrays(
        data, response, concentration=concentration, log_concentration=log_concentration,
        zero_is_control=zero_is_control,
    )  # fmt: skip
    conc, y = _check_curve_data(conc, y)
    priors = default_curve_priors(conc, y) if priors is None else priors
    if not isinstance(priors, CurvePriors):
        raise TypeError(f"priors must be a CurvePriors, got {type(priors).__name__}")
    with np.errstate(divide="ignore"):
        log_conc = np.log(conc)
    with pm.Model() as model:
        x = pm.Data("log_conc", log_conc)
        top = pm.Normal("top", priors.top_mu, priors.top_sd)
        bottom = pm.Normal("bottom", priors.bottom_mu, priors.bottom_sd)
        log_ec50 = pm.Normal("log_ec50", priors.log_ec50_mu, priors.log_ec50_sd)
        hill = pm.LogNormal("hill", priors.log_hill_mu, priors.log_hill_sd)
        sigma = pm.HalfNormal("sigma", priors.sigma)
        mu = pm.Deterministic("mu", four_pl(x, bottom, top, log_ec50, hill))
        pm.Normal("response", mu, sigma, observed=y, shape=x.shape)
    return model


def least_squares_four_pl(
    data=None,
    response=None,
    *,
    concentration=None,
    log_concentration=None,
    zero_is_control: bool = False,
    p0=None,
):
    """drc-style least-squares 4PL fit (``scipy.optimize.curve_fit``), started from values read off the data.

    The data as for :func:`four_pl_model`: ``least_squares_four_pl(table, concentration="dose", response="y")`` or
    ``least_squares_four_pl(concentrations, responses)``.

    The start: ``top`` the mean response at the lowest dose (the controls, if any), ``bottom`` the mean at the
    highest, ``log_ec50`` where the dose means cross half-way between them (the middle of the log-dose range if they
    never do), ``hill`` 1. Works for falling and rising curves alike.

    Returns
    -------
    pandas.DataFrame
        Index ``bottom, top, log_ec50, hill``; columns ``estimate`` and ``se`` (NaN where SciPy cannot estimate the
        covariance). Raises ``RuntimeError`` when the fit does not converge or does not move from its start, and
        ``ValueError`` for data with no curve to fit (NaN or infinite values, negative concentrations, fewer than
        two distinct positive doses or four measurements).
    """
    from scipy.optimize import curve_fit

    conc, y = one_curve_arrays(
        data, response, concentration=concentration, log_concentration=log_concentration,
        zero_is_control=zero_is_control,
    )  # fmt: skip
    conc, y = _check_curve_data(conc, y)
    with np.errstate(divide="ignore"):
        x = np.log(conc)
    if p0 is not None:
        p0 = np.asarray(p0, dtype=float)
        if p0.shape != (_N_CURVE_PARAMS,) or not np.isfinite(p0).all():
            raise ValueError(f"p0 must be 4 finite numbers (bottom, top, log_ec50, hill), got {p0.tolist()}")
    else:
        means = pd.Series(y).groupby(x).mean()
        top, bottom = float(means.iloc[0]), float(means.iloc[-1])
        dosed = means[np.isfinite(means.index)]
        half = (top + bottom) / 2
        crossed = np.flatnonzero(np.diff(np.sign(dosed.to_numpy() - half)) != 0)
        if len(crossed):
            i = crossed[0]
            (x0, x1), (y0, y1) = dosed.index[i : i + 2], dosed.iloc[i : i + 2]
            log_ec50 = float(x0 + (half - y0) * (x1 - x0) / (y1 - y0)) if y1 != y0 else float(x0)
        else:
            log_ec50 = float((dosed.index.min() + dosed.index.max()) / 2)
        p0 = [bottom, top, log_ec50, 1.0]
    # x holds -inf for controls, which four_pl maps to top exactly; SciPy's finiteness check would refuse it.
    est, cov = curve_fit(four_pl, x, y, p0=p0, maxfev=20_000, check_finite=False)
    if np.array_equal(est, np.asarray(p0, dtype=float)):
        raise RuntimeError(f"the least-squares fit did not move from its start {np.asarray(p0).tolist()}: no estimate")
    se = np.sqrt(np.diag(cov)) if np.all(np.isfinite(cov)) else np.full(4, np.nan)
    return pd.DataFrame({"estimate": est, "se": se}, index=["bottom", "top", "log_ec50", "hill"])
