"""How the groups' curve parameters relate to the population in the many-curve builder: the rule behind
``parameterization="auto"`` (:func:`auto_parameterization`), the per-parameter choice, and the zero-sum Normal of
plate offsets."""

from __future__ import annotations

import numpy as np

from recipes_utils.dose_response.table import GroupedDoseResponse

#: :func:`auto_parameterization` centres the group effects when there are at least this many groups ...
AUTO_MIN_GROUPS = 20


#: ... and every group has at least this many measurements; otherwise it makes them non-centred.
AUTO_MIN_POINTS = 50

_FORMS = ("centered", "noncentered", "shared")


def effective_measurements(prepared: GroupedDoseResponse) -> np.ndarray:
    """Each group's number of measurements as the pooling rule counts them: its rows, or for a binomial response
    (``prepared.trials`` set) its trials weighted by the information each carries about the curve.

    A Bernoulli trial at probability ``p`` carries Fisher information ``p (1 - p)`` about the logit, at most 0.25 (at
    ``p = 0.5``), where a measurement of a curve with noise of 1 on the same scale carries 1: a row of ``n`` trials
    counts as ``n p (1 - p)`` measurements, with ``p`` each (group, dose) cell's empirical proportion ``(Y + 0.5) /
    (N + 1)`` (summed successes ``Y`` of ``N`` trials). Cells at 0 or ``N`` of ``N`` count little: they tell where the
    curve lies beyond, not where it is. Shared control rows are left out.
    """
    keep = ~prepared.shared_control
    n_groups = len(prepared.groups)
    if prepared.trials is None:
        return np.bincount(prepared.group_idx[keep], minlength=n_groups).astype(float)
    import pandas as pd

    cells = pd.DataFrame({"g": prepared.group_idx[keep], "x": prepared.log_conc[keep],
                          "y": np.asarray(prepared.response, dtype=float)[keep],
                          "n": np.asarray(prepared.trials, dtype=float)[keep]})  # fmt: skip
    cells = cells.groupby(["g", "x"], sort=True)[["y", "n"]].sum().reset_index()
    p = (cells["y"] + 0.5) / (cells["n"] + 1.0)
    info = (cells["n"] * p * (1 - p)).to_numpy()
    return np.bincount(cells["g"].to_numpy(), weights=info, minlength=n_groups)


def auto_parameterization(prepared: GroupedDoseResponse) -> str:
    """The rule behind ``parameterization="auto"``: ``"centered"`` when the data pin every curve down and the
    spreads between groups are well informed (at least :data:`AUTO_MIN_GROUPS` groups, each with at least
    :data:`AUTO_MIN_POINTS` measurements; for a binomial response, trials weighted by their information,
    :func:`effective_measurements`), otherwise ``"noncentered"``.

    Why: with few measurements per group, or few groups to learn a spread from, the posterior of a group value and
    its population spread forms a funnel that centred effects cannot traverse (divergences); non-centred effects
    remove it. With many data-rich groups the data fix each curve and the centred form needs fewer leapfrog steps.
    The hierarchical recipe measures both cases (section 2). A binomial row of 300 trials pins its curve down as well
    as many measurements do, so with trials the rule counts trials, but each at its information about the logit,
    ``p (1 - p)`` (at most a quarter of a measurement's): 300 trials at ``p = 0.5`` count as 75 measurements, at
    ``p = 0.05`` as 14.
    """
    counts = effective_measurements(prepared)
    if len(prepared.groups) >= AUTO_MIN_GROUPS and counts.min() >= AUTO_MIN_POINTS:
        return "centered"
    return "noncentered"


def resolve_parameterization(parameterization, prepared, names, aliases=None) -> dict:
    """Each free curve parameter's form (``"centered"``, ``"noncentered"``, ``"shared"``), from a string for all of
    them or a dict by parameter; ``aliases`` maps other accepted keys to free names (``"top"`` for ``"logit_top"``,
    ``"hill"`` for ``"log_hill"``)."""
    aliases = aliases or {}
    if isinstance(parameterization, str):
        chosen = dict.fromkeys(names, parameterization)
    elif isinstance(parameterization, dict):
        keys = {aliases.get(k, k): v for k, v in parameterization.items()}
        unknown = [k for k in keys if k not in names]
        if unknown:
            raise ValueError(f"parameterization keys must be among {tuple(names)}, got {sorted(map(str, unknown))}")
        chosen = {name: keys.get(name, "auto") for name in names}
    else:
        raise TypeError(f"parameterization must be a string or a dict, got {type(parameterization).__name__}")
    for name, form in chosen.items():
        if form == "auto":
            chosen[name] = auto_parameterization(prepared)
        elif form == "decorrelated":
            raise ValueError(
                "parameterization 'decorrelated' applies to all four curve parameters together: pass it as a string, "
                f"not in a dict (got it for {name})"
            )
        elif form not in _FORMS:
            raise ValueError(
                f"parameterization must be 'auto', 'centered', 'noncentered' or 'shared', got {form!r} for {name}"
            )
    return chosen


def _zero_sum_normal(name, sigma, *, dims, explicit: bool | None = None):
    """``pm.ZeroSumNormal(name, sigma, dims=dims)`` (one zero-sum axis), written out in float32 models.

    PyMC's ZeroSumNormal log density checks that the values average to zero within an absolute 1e-9, whatever
    ``floatX`` is; its own transform's float32 rounding breaks that at almost every point, so the density is
    ``-inf`` there and NUTS diverges on every draw (``benchmarks/zerosum_float32_repro.py``). Written out, the
    same distribution is a Normal(0, sigma) on the ``n - 1`` free coordinates mapped onto the zero-sum values by
    PyMC's own ``ZeroSumTransform`` (an isometry, zero log-Jacobian): the same density, without the check. The
    free variable is then ``<name>_free`` and ``name`` a Deterministic. ``explicit=None`` writes it out in float32
    only.
    """
    import pymc as pm
    import pytensor
    from pymc.distributions.transforms import ZeroSumTransform

    if explicit is None:
        explicit = pytensor.config.floatX == "float32"
    if not explicit:
        return pm.ZeroSumNormal(name, sigma=sigma, dims=dims)
    model = pm.modelcontext(None)
    n = len(model.coords[dims])
    free = pm.Normal(f"{name}_free", mu=0.0, sigma=sigma, shape=n - 1)
    return pm.Deterministic(name, ZeroSumTransform.extend_axis(free, axis=-1), dims=dims)
