"""Derived quantities with intervals: ECx (relative or absolute), NEC, and potency ratios, per curve, from a fit.

:func:`ecx_table` is the one call: a tidy table with one row per curve and effect level, the posterior median and
central interval of the ECx in concentration units, the probability that it lies beyond the tested doses and a flag
a reader can act on. :func:`ecx_ratio` compares two curves (relative potency). :func:`ecx_draws` gives the posterior
draws themselves, for anything else (model averaging in :mod:`~recipes_utils.dose_response.compare`, ratios between
two separate fits).

What ECx means here, for every family:

- ``kind="relative"``: the concentration at which the curve has moved ``x`` % of the way from its control level
  (``top``, the curve at zero dose) towards its high-dose limit (``bottom``): ``curve(ECx) = top + x / 100 * (bottom -
  top)``. For a hormesis curve (bc5) that is the dose where the curve, after its bump, comes back down through that
  level, measured from the control and not from the bump's maximum (bayesnec issue 195); for ll5, w1, w2 and bc5 the
  EC50 is not the location parameter ``e``.
- ``kind="control"``: the concentration at which the curve has fallen ``x`` % below its control level towards 0
  (``curve(ECx) = top * (1 - x / 100)``), or for a rising curve (``bottom > top``, per draw) risen ``x`` % above it
  (``top * (1 + x / 100)``): bayesnec's "absolute" ECx, drc's ``type="absolute"`` with 0 as the reference. Unlike the
  relative ECx it does not depend on the family's lower limit, so it is the same quantity in every family: the one
  to average over families (:meth:`~recipes_utils.dose_response.compare.CurveComparison.ecx_table`). A response
  whose zero means "no response" is assumed; a draw with ``top <= 0`` has no such ECx (NaN), and a level beyond the
  high-dose limit is never reached (``inf``).
- ``kind="extra_risk"`` (binomial and Beta: a probability): for a rising curve (mortality), the dose where the
  extra risk over the control rate ``p0 = top`` reaches ``x`` %, ``(curve - p0) / (1 - p0) = x / 100``, that is
  ``curve(ECx) = p0 + x / 100 * (1 - p0)``: the regulatory EC10 of a mortality curve with background mortality
  (Abbott's correction, per draw). For a falling curve (survivors) it is the extra risk of the complementary event,
  ``(p0 - curve) / p0 = x / 100``: ``curve(ECx) = p0 * (1 - x / 100)``, the same as ``kind="control"``.
- ``kind="absolute"``: the concentration from which the curve has passed a response ``level`` for good, in the
  direction of the effect (for a binomial model the level is a probability, for counts a mean count). A level
  beyond the high-dose limit is never reached (ECx ``inf``); a level on the control's side of the curve's whole
  range is passed at every dose (ECx 0).

The relative ECx of two families are different quantities when their lower limits differ (an LL.4 whose ``bottom``
is 0.2 and a Weibull whose ``bottom`` is 0 have EC50s at different response levels): compare or average
``kind="control"`` (or ``"extra_risk"``, or ``"absolute"``) across families instead.

The curve's own parameters are read from the posterior draws of the model's variables (``top``, ``bottom``, the
location and the shapes), so intervals are exact posterior quantities, not delta-method approximations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recipes_utils.dose_response.spec import model_spec


def _stacked(posterior, name, spec) -> np.ndarray:
    """A posterior variable as an array (chain, draw, group)."""
    if name not in posterior:
        raise ValueError(f"the posterior lacks {name!r}, which the ECx needs: fit storing every variable "
                         "(sample_nuts(..., var_names=None))")  # fmt: skip
    da = posterior[name]
    if spec.kind == "one_curve":
        return np.asarray(da.transpose("chain", "draw"))[..., None]
    return np.asarray(da.transpose("chain", "draw", "group"))


def curve_parameter_draws(model, idata) -> dict:
    """The natural curve parameters' posterior draws, each (chain, draw, group); a level fixed at 0 as zeros."""
    spec = model_spec(model)
    posterior = idata.posterior if hasattr(idata, "posterior") else idata
    family = spec.family
    names = (*family.levels, family.location, *(s.name for s in family.shapes))
    draws = {name: _stacked(posterior, name, spec) for name in names}
    if family.zero_level:
        draws[family.zero_level] = np.zeros_like(draws[family.location])
    return draws


def link_level_draws(model, idata) -> dict:
    """The levels' posterior draws on the likelihood's level scale (logit or log), each (chain, draw, group), from
    the free variables themselves: a level of 1 - 1e-17 is 1.0 on the response scale, whose logit is no longer
    the one sampled."""
    spec = model_spec(model)
    posterior = idata.posterior if hasattr(idata, "posterior") else idata
    free = {name: _stacked(posterior, name, spec) for name in spec.family.free_params(spec.likelihood)
            if name in (*(spec.likelihood.level_name(lv) for lv in spec.family.free_levels), "log_span")}  # fmt: skip
    return spec.family.levels_on_scale(free, spec.likelihood)


def _shape_targets(spec, draws, values, kind, on_scale=None):
    """The shape value ``s`` the curve must reach, per draw, curve and effect level: (chain, draw, group, k)."""
    top, bottom = draws["top"][..., None], draws["bottom"][..., None]
    values = np.asarray(values, dtype=float)
    q = values / 100
    rising = bottom > top
    if kind == "relative":
        if not spec.link_curve:
            return np.broadcast_to(1 - q, top.shape[:-1] + values.shape)
        target = top + q * (bottom - top)
    elif kind == "control":
        target = np.where(top > 0, np.where(rising, top * (1 + q), top * (1 - q)), np.nan)
    elif kind == "extra_risk":
        target = np.where(rising, top + q * (1 - top), top * (1 - q))
    else:
        target = np.broadcast_to(values, top.shape[:-1] + values.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        if spec.link_curve:
            link_top, link_bottom = on_scale["top"][..., None], on_scale["bottom"][..., None]
            return (spec.likelihood.to_link(target) - link_bottom) / (link_top - link_bottom)
        return (target - bottom) / (top - bottom)


def ecx_draws(model, idata, x=(10, 50), *, kind: str = "relative", level=None):
    """Posterior draws of the ECx in concentration units, as an ``xarray.DataArray`` (chain, draw, group, effect).

    ``kind="relative"``, ``"control"`` or ``"extra_risk"``: ``x`` holds the effect levels in percent (0 < x < 100),
    the ``effect`` coordinate; with ``kind="absolute"``, ``level`` holds one or more response levels (the ``effect``
    coordinate) and ``x`` is ignored. An ECx never reached is ``inf``; one passed at every dose 0 (see the module docs
    for what each kind measures).
    """
    import xarray as xr

    spec = model_spec(model)
    values = _effect_values(x, kind, level)
    if kind == "extra_risk" and spec.likelihood.name not in ("binomial", "beta"):
        raise ValueError(f"kind='extra_risk' is for a probability (likelihood 'binomial' or 'beta'), not "
                         f"{spec.likelihood.name!r}: use kind='control' (x % from the control level)")  # fmt: skip
    draws = curve_parameter_draws(model, idata)
    s = _shape_targets(spec, draws, values, kind, link_level_draws(model, idata) if spec.link_curve else None)
    family = spec.family
    shapes = {sh.name: draws[sh.name][..., None] for sh in family.shapes}
    log_dose = family.log_dose_at(s, draws[family.location][..., None], shapes)
    with np.errstate(over="ignore"):
        ec = np.exp(log_dose)
    posterior = idata.posterior if hasattr(idata, "posterior") else idata
    return xr.DataArray(
        ec, dims=("chain", "draw", "group", "effect"),
        coords={"chain": posterior["chain"].values, "draw": posterior["draw"].values, "group": list(spec.groups),
                "effect": values},
        name="ecx", attrs={"kind": kind},
    )  # fmt: skip


#: The kinds of ECx (see the module docs): percentages of the way to the lower limit, of the control level, of the
#: extra risk; or a response level.
ECX_KINDS = ("relative", "control", "extra_risk", "absolute")


def _effect_values(x, kind, level) -> np.ndarray:
    if kind in ("relative", "control", "extra_risk"):
        if level is not None:
            raise ValueError(f"level= is for kind='absolute'; with kind={kind!r} give the percentages as x=")
        values = np.atleast_1d(np.asarray(x, dtype=float))
        if values.ndim != 1 or not ((values > 0) & (values < 100)).all():
            raise ValueError(f"x must hold effect levels in percent, strictly between 0 and 100, got {x!r}")
        return values
    if kind == "absolute":
        if level is None:
            raise ValueError("kind='absolute' needs level=: the response level(s) the curve must reach")
        values = np.atleast_1d(np.asarray(level, dtype=float))
        if values.ndim != 1 or not np.isfinite(values).all():
            raise ValueError(f"level must be one or more finite response levels, got {level!r}")
        return values
    raise ValueError(f"kind must be 'relative', 'control', 'extra_risk' or 'absolute', got {kind!r}")


_HUGE = 1e300  # an ECx this large is no dose: it stands for one never reached


def _quantiles(values: np.ndarray, probs) -> np.ndarray:
    """NumPy's quantiles (linear interpolation) over the last axis of draws that may hold ``inf`` (an ECx never
    reached): ``inf`` is held at 1e300 while interpolating (``inf - inf`` would give NaN), and any quantile above the
    largest finite draw, which interpolates towards an infinite one, is ``inf``. NaN draws (a curve with top equal
    to bottom) are left out."""
    values = np.asarray(values, dtype=float)
    finite = np.where(np.isposinf(values), _HUGE, values)
    with np.errstate(invalid="ignore"):
        q = np.nanquantile(finite, probs, axis=-1)
    largest = np.max(np.where(np.isfinite(values), values, -np.inf), axis=-1)
    return np.where(q > largest, np.inf, q)


def summarize_ecx(draws, dose_range, prob: float = 0.94, kind: str = "relative") -> pd.DataFrame:
    """The tidy table of :func:`ecx_table` from ECx draws (chain, draw, group, effect) and each curve's tested
    range (group, 2)."""
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob}")
    arr = np.asarray(draws.transpose("group", "effect", "chain", "draw")).reshape(
        draws.sizes["group"], draws.sizes["effect"], -1)  # fmt: skip
    lo_q, hi_q = (1 - prob) / 2, (1 + prob) / 2
    q = _quantiles(arr, [0.5, lo_q, hi_q])
    lowest, highest = dose_range[:, 0][:, None], dose_range[:, 1][:, None]
    defined = ~np.isnan(arr)
    n = np.maximum(defined.sum(-1), 1)
    p_below = (arr < lowest[..., None]).sum(-1) / n
    p_above = (arr > highest[..., None]).sum(-1) / n
    rows = []
    for i, group in enumerate(draws["group"].values):
        for j, effect in enumerate(draws["effect"].values):
            med, lower, upper = q[0, i, j], q[1, i, j], q[2, i, j]
            rows.append({
                "group": group, "kind": kind,
                "x": float(effect) if kind != "absolute" else np.nan,
                "level": float(effect) if kind == "absolute" else np.nan,
                "ecx": med, "ecx_lower": lower, "ecx_upper": upper,
                "lowest_dose": dose_range[i, 0], "highest_dose": dose_range[i, 1],
                "p_below_tested": p_below[i, j], "p_above_tested": p_above[i, j],
                "flag": _flag(p_below[i, j], p_above[i, j], lower, upper, dose_range[i]),
            })  # fmt: skip
    table = pd.DataFrame(rows)
    table.attrs["prob"] = prob
    return table


def _flag(p_below, p_above, lower, upper, tested) -> str:
    if p_above >= 0.5:
        return "likely above the highest dose: extrapolated, or never reached"
    if p_below >= 0.5:
        return "likely below the lowest dose: extrapolated"
    if lower < tested[0] or upper > tested[1]:
        return "interval reaches beyond the tested doses"
    return "within the tested doses"


def ecx_table(model, idata, x=(10, 50), *, kind: str = "relative", level=None, prob: float = 0.94) -> pd.DataFrame:
    """ECx with intervals, one row per curve and effect level, as a tidy table.

    Parameters
    ----------
    model, idata
        A model from the dose-response builders (any family and likelihood) and its fit (``CurveFit.idata``).
    x, kind, level
        ``kind="relative"`` (the default): ECx for each percentage in ``x`` (default EC10 and EC50), measured from the
        control level towards the high-dose limit. ``kind="control"``: ``x`` % below (or above, rising) the control
        level, towards 0, the same quantity in every family. ``kind="extra_risk"`` (binomial, Beta): ``x`` % extra
        risk over the control rate. ``kind="absolute"``: the dose where the curve passes each response ``level``
        (see the module docs).
    prob
        The central interval's probability (0.94, ArviZ's default).

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` (a one-curve model's curve is ``"curve"``), ``kind``, ``x`` (the percentage) or ``level``
        (absolute), ``ecx`` (posterior median, concentration units), ``ecx_lower`` and ``ecx_upper`` (the central
        ``prob`` interval), ``lowest_dose`` and ``highest_dose`` (the curve's lowest and highest positive tested
        dose), ``p_below_tested`` and ``p_above_tested`` (posterior probability that the ECx lies below the lowest or
        above the highest; an ECx never reached counts as above), ``flag`` (``"within the tested doses"``, ``"interval
        reaches beyond the tested doses"``, ``"likely above the highest dose: ..."``, ``"likely below the lowest dose:
        ..."``); for a family with a no-effect concentration (``nec``) also ``nec``, ``nec_lower``, ``nec_upper``.
        ``table.attrs["prob"]`` holds ``prob``.
    """
    spec = model_spec(model)
    table = summarize_ecx(ecx_draws(model, idata, x, kind=kind, level=level), spec.dose_range, prob, kind)
    if spec.family.nec:
        posterior = idata.posterior if hasattr(idata, "posterior") else idata
        nec = np.exp(_stacked(posterior, spec.family.nec, spec))
        nec = np.moveaxis(nec, -1, 0).reshape(len(spec.groups), -1)
        q = _quantiles(nec, [0.5, (1 - prob) / 2, (1 + prob) / 2])
        by_group = {g: q[:, i] for i, g in enumerate(spec.groups)}
        for k, col in enumerate(("nec", "nec_lower", "nec_upper")):
            table[col] = [by_group[g][k] for g in table["group"]]
    return table


def ecx_ratio(model, idata, a, b, x: float = 50, *, kind: str = "relative", level=None, prob: float = 0.94):
    """The relative potency of two curves of one model: the posterior of ``ECx_a / ECx_b``.

    ``a`` and ``b`` are group labels; ``x`` one percentage (or, with ``kind="absolute"``, ``level`` one response
    level). Returns a one-row DataFrame: ``a``, ``b``, ``x`` or ``level``, ``ratio`` (posterior median of
    ``ECx_a / ECx_b``), ``ratio_lower``, ``ratio_upper`` (central ``prob`` interval), ``p_a_below_b``, the
    posterior probability that ``ECx_a < ECx_b`` (``a`` the more potent), and ``p_both_unreached``, the share of
    draws in which neither curve reaches the effect (both ECx infinite). Draw pairs where both ECx are infinite
    or both 0 have no ratio and are left out of the ratio's quantiles (they count as "not below" in the
    probability): when ``p_both_unreached`` is large, the ratio describes the remaining draws only. For two
    separate fits (two one-curve models), divide their :func:`ecx_draws` instead: their posteriors are independent,
    so any pairing of draws is a draw of the ratio.
    """
    spec = model_spec(model)
    values = _effect_values(x, kind, level)
    if len(values) != 1:
        raise ValueError("ecx_ratio compares one effect level: give one x (or one level)")
    labels = list(spec.groups)
    for name, label in (("a", a), ("b", b)):
        if label not in labels:
            raise ValueError(f"{name}={label!r} is not a group of the model; its groups are {labels[:10]}")
    draws = ecx_draws(model, idata, values, kind=kind, level=level).isel(effect=0)
    ea = np.asarray(draws.sel(group=a)).ravel()
    eb = np.asarray(draws.sel(group=b)).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = _quantiles(ea / eb, [0.5, (1 - prob) / 2, (1 + prob) / 2])
    row = {"a": a, "b": b, "kind": kind, "x": float(values[0]) if kind != "absolute" else np.nan,
           "level": float(values[0]) if kind == "absolute" else np.nan,
           "ratio": ratio[0], "ratio_lower": ratio[1], "ratio_upper": ratio[2],
           "p_a_below_b": float(np.mean(ea < eb)),
           "p_both_unreached": float(np.mean(np.isposinf(ea) & np.isposinf(eb)))}  # fmt: skip
    table = pd.DataFrame([row])
    table.attrs["prob"] = prob
    return table
