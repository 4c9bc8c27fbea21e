"""One curve: the PyMC model of any family and likelihood (:func:`dose_response_model`; with the 4PL and Normal noise
as defaults also :func:`four_pl_model`) and drc's least-squares 4PL reference fit (:func:`least_squares_four_pl`).

Both read one curve's data as a table with column names, as the many-curve builder does (without the group column)::

    model = four_pl_model(table, concentration="dose", response="y")

or as two arrays, ``four_pl_model(concentrations, responses)``
(:func:`~recipes_utils.dose_response.table.one_curve_arrays`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recipes_utils.dose_response.families import resolve_family
from recipes_utils.dose_response.hierarchical import n_curve_params
from recipes_utils.dose_response.likelihoods import check_observations, noise_variables, observe, response_family
from recipes_utils.dose_response.priors import CurvePriors, DoseResponsePriors, as_dose_response_priors, family_priors
from recipes_utils.dose_response.spec import ModelSpec, attach_spec, check_identifiable, check_zero_level, dose_range
from recipes_utils.dose_response.table import _N_CURVE_PARAMS, _is_boolean, one_curve_arrays
from recipes_utils.models import four_pl


def _check_curve_data(concentration, response, n_params=_N_CURVE_PARAMS) -> tuple[np.ndarray, np.ndarray]:
    """One curve's concentrations and responses as float arrays, or a ValueError that says what is wrong."""
    conc = np.asarray(concentration, dtype=float)
    y = np.asarray(response, dtype=float)
    if conc.ndim != 1 or conc.shape != y.shape:
        raise ValueError(f"concentration and response must be 1-D of the same length, got {conc.shape}, {y.shape}")
    if len(y) < n_params:
        raise ValueError(f"a {n_params}-parameter curve needs at least {n_params} measurements, got {len(y)}")
    if not np.isfinite(y).all():
        raise ValueError(f"response must be finite: {int((~np.isfinite(y)).sum())} NaN or infinite value(s)")
    if not np.isfinite(conc).all() or (conc < 0).any():
        raise ValueError("concentrations must be finite and >= 0 (0 for an untreated control)")
    if len(np.unique(conc[conc > 0])) < 2:
        raise ValueError("fewer than two distinct positive concentrations: there is no dose range to fit a curve to")
    return conc, y


def dose_response_model(
    data=None,
    response=None,
    *,
    concentration=None,
    log_concentration=None,
    zero_is_control: bool = False,
    priors=None,
    curve="ll4",
    likelihood: str = "normal",
    trials=None,
):
    """One dose-response curve of any family and likelihood as a PyMC model, with data-scaled default priors.

    The data, in either form (:func:`~recipes_utils.dose_response.table.one_curve_arrays`):

    - a table and its column names, as for ``hierarchical_dose_response`` without ``group``:
      ``dose_response_model(table, concentration="dose", response="dead", trials="total",
      likelihood="binomial")`` (or ``log_concentration="log_dose"``; the defaults are ``"concentration"`` and
      ``"response"``; a concentration of 0 needs ``zero_is_control=True``);
    - arrays: ``dose_response_model(concentrations, responses)`` (``trials=`` an array of trials).

    ``curve`` and ``likelihood`` as for :func:`~recipes_utils.dose_response.hierarchical_dose_response` (the
    families of :func:`~recipes_utils.dose_response.curve_family`, the likelihoods of
    :mod:`~recipes_utils.dose_response.likelihoods`). ``priors``: a :class:`DoseResponsePriors` (the curve's value of
    each free parameter ``~ Normal(mu, mu_sd)``; for the 4PL with Normal or Student-t noise also a
    :class:`CurvePriors`) or ``None`` for :func:`~recipes_utils.dose_response.priors.family_priors`'s rule.

    The variables: the levels ``top`` and ``bottom`` (``Normal``; under a bounded likelihood ``Normal`` on
    ``logit_top`` or ``log_top`` with ``top`` a Deterministic; ll3 has one), the location (``log_ec50``, ``log_e``,
    ``log_nec``; ``Normal``), the shapes (``hill``, ``asym``, ``rate``, ``hormesis``: ``LogNormal``; bc5's
    ``hill = 1 + exp(log_hill_excess)``), the noise (:func:`~recipes_utils.dose_response.likelihoods.
    noise_variables`), the curve ``mu`` (a Deterministic: the mean response) and the observed ``response``. The
    concentration is a ``pm.Data`` container ``log_conc`` (and the trials ``trials``), so ``pm.set_data`` and
    ``pm.sample_posterior_predictive(..., predictions=True)`` give the curve at new doses. The data need at least as
    many finite measurements as the curve has parameters, at two or more distinct positive concentrations; a family
    with more parameters than distinct doses is refused.
    """
    import pymc as pm

    lik = response_family(likelihood)
    n_trials = None
    if isinstance(data, pd.DataFrame) and trials is not None:
        if not isinstance(trials, str):
            raise TypeError(f"with a table, give trials as a column name, got a {type(trials).__name__}")
        if trials not in data.columns:
            raise ValueError(f"data lacks the trials column {trials!r}; it has {list(data.columns)}")
        n_trials = pd.to_numeric(data[trials], errors="coerce").to_numpy(dtype=float)
    elif trials is not None:
        if isinstance(trials, str):
            raise TypeError(
                f"trials is a column name ({trials!r}), but data is not a DataFrame: pass the table as data"
            )
        n_trials = np.asarray(trials, dtype=float)
    column = "response" if response is None else response
    table_column = isinstance(data, pd.DataFrame) and isinstance(column, str) and column in data.columns
    if n_trials is not None and table_column and _is_boolean(data[column]):  # one yes/no per row: 0/1 successes
        data = data.assign(**{column: data[column].map({True: 1.0, False: 0.0})})
    conc, y = one_curve_arrays(
        data, response, concentration=concentration, log_concentration=log_concentration,
        zero_is_control=zero_is_control,
    )  # fmt: skip
    if n_trials is not None and n_trials.shape != y.shape:
        raise ValueError(f"trials must have one value per response, got shapes {n_trials.shape} and {y.shape}")
    n_params = n_curve_params(curve)
    conc, y = _check_curve_data(conc, y, n_params)
    trials_name = trials if isinstance(trials, str) else "trials"
    check_observations(lik, y, n_trials, response=response if isinstance(response, str) else "response",
                       trials_name=trials_name)  # fmt: skip
    if lik.counts:  # whole numbers, checked: PyMC's discrete distributions take them as integers
        y = y.astype("int64")
        n_trials = None if n_trials is None else n_trials.astype("int64")
    with np.errstate(divide="ignore"):
        log_conc = np.log(conc)
    level = y if n_trials is None else y / n_trials
    if np.ptp(level) == 0:
        raise ValueError(f"the response is constant ({level[0]:.4g} in every row): there is no curve to fit")
    family = resolve_family(curve, log_conc, level)
    check_identifiable(family, log_conc, "the data have")
    check_zero_level(family, lik, log_conc, y)
    names = family.free_params(lik)
    if priors is None:
        priors = family_priors(family, lik, np.zeros(len(y), dtype="int64"), log_conc, y, n_trials)
    elif isinstance(priors, CurvePriors) and (family.name != "ll4" or lik.link != "identity"):
        raise TypeError(f"CurvePriors are the 4PL's with Normal or Student-t noise; curve={family.name!r} with "
                        f"likelihood={lik.name!r} needs a DoseResponsePriors with {list(names)}")  # fmt: skip
    if not isinstance(priors, CurvePriors | DoseResponsePriors):
        raise TypeError(f"priors must be a CurvePriors or a DoseResponsePriors, got {type(priors).__name__}")
    priors = as_dose_response_priors(priors)
    priors.check_for(names, lik.name, hierarchical=False)
    with pm.Model() as model:
        x = pm.Data("log_conc", log_conc)
        free = {}
        for level in ("top", "bottom"):
            if level in family.free_levels:
                p = priors.params[lik.level_name(level)]
                free[lik.level_name(level)] = pm.Normal(lik.level_name(level), p.mu, p.mu_sd)
        if family.direction:
            free["log_span"] = pm.Normal("log_span", priors.params["log_span"].mu, priors.params["log_span"].mu_sd)
        on_link = family.levels_on_scale(free, lik)  # each level on the likelihood's level scale
        natural = {}
        for level in ("top", "bottom"):
            if level not in family.levels:
                continue
            if lik.link == "identity" and level in family.free_levels:
                natural[level] = on_link[level]
            else:
                natural[level] = pm.Deterministic(level, lik.to_response(on_link[level]))
        p = priors.params[family.location]
        natural[family.location] = pm.Normal(family.location, p.mu, p.mu_sd)
        for s in family.shapes:
            p = priors.params[s.free]
            if s.lower == 0:
                natural[s.name] = pm.LogNormal(s.name, p.mu, p.mu_sd)
            else:
                natural[s.name] = pm.Deterministic(s.name, s.natural(pm.Normal(s.free, p.mu, p.mu_sd)))
        noise = noise_variables(lik, priors)
        eta = None
        if not family.monotone and lik.link != "identity":
            eta = family.curve(x, {**natural, **on_link})
            mean = lik.to_response(eta)
        else:
            mean = family.curve(x, natural)
        mu = pm.Deterministic("mu", mean)
        n = pm.Data("trials", n_trials) if n_trials is not None else None
        observe(lik, "response", mu, noise, y, trials=n, eta=eta, shape=x.shape)
    options = {"concentration": concentration, "log_concentration": log_concentration,
               "zero_is_control": zero_is_control, "response": response, "trials": trials}  # fmt: skip
    spec = ModelSpec("one_curve", family, lik, priors, ["curve"], dose_range(np.zeros(len(y), "int64"), log_conc, 1),
                     options=options)  # fmt: skip
    return attach_spec(model, spec)


def four_pl_model(
    data=None,
    response=None,
    *,
    concentration=None,
    log_concentration=None,
    zero_is_control: bool = False,
    priors: CurvePriors | None = None,
    curve="ll4",
    likelihood: str = "normal",
    trials=None,
):
    """One 4PL curve as a PyMC model, with :func:`default_curve_priors` unless ``priors`` are given: this is
    :func:`dose_response_model`, whose defaults are the 4PL (``curve="ll4"``) with Normal noise.

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
    return dose_response_model(
        data, response, concentration=concentration, log_concentration=log_concentration,
        zero_is_control=zero_is_control, priors=priors, curve=curve, likelihood=likelihood, trials=trials,
    )  # fmt: skip


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
