"""Hierarchical 4-parameter logistic (4PL) dose-response models for grouped data.

The model, for observation ``i`` in group ``g[i]`` at log concentration ``x[i]``::

    response[i] ~ Normal(four_pl(x[i], bottom[g], top[g], log_ec50[g], hill[g]), sigma)
    bottom[g]   ~ Normal(bottom_mu, bottom_sd)        (likewise top and log_ec50)
    log(hill[g]) ~ Normal(log_hill_mu, log_hill_sd)

with priors on the population means and spreads given by :class:`FourPLPriors`.

:func:`hierarchical_four_pl` builds it from a tidy DataFrame (one row per measurement, column names
as arguments), with centred or non-centred group effects, optional minibatches (for ADVI), and an
optional exact reduction of replicate measurements to sufficient statistics (``aggregate=True``),
which leaves the posterior unchanged and makes every gradient evaluation cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "CURVE_PARAMS",
    "SIMULATION_PRIORS",
    "FourPLPriors",
    "GroupedDoseResponse",
    "advi_psis_khat",
    "hierarchical_four_pl",
    "interval_coverage",
    "prepare_grouped",
    "replicate_cells",
]

#: The four per-group curve parameters, as named in the model (``hill`` is ``exp(log_hill)``).
CURVE_PARAMS = ("bottom", "top", "log_ec50", "hill")
_N_CURVE_PARAMS = 4


@dataclass(frozen=True)
class FourPLPriors:
    """Priors of the hierarchical 4PL model, in the units of your response and log concentration.

    ``<name>_mu`` and ``<name>_mu_sd`` give the Normal prior on a population mean, ``<name>_sd`` the
    scale of the HalfNormal prior on the spread of the group values around it; ``sigma`` is the
    HalfNormal scale of the measurement noise. ``log_ec50`` is on the natural-log concentration scale
    and ``log_hill`` is the log of the (positive) Hill slope.
    """

    top_mu: float
    top_mu_sd: float
    top_sd: float
    bottom_mu: float
    bottom_mu_sd: float
    bottom_sd: float
    log_ec50_mu: float
    log_ec50_mu_sd: float
    log_ec50_sd: float
    log_hill_mu: float
    log_hill_mu_sd: float
    log_hill_sd: float
    sigma: float

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"FourPLPriors.{f.name} must be a number, got {value!r}") from None
            if not np.isfinite(value):
                raise ValueError(f"FourPLPriors.{f.name} must be finite, got {value}")
            if not f.name.endswith("_mu") and value <= 0:
                raise ValueError(f"FourPLPriors.{f.name} is a scale and must be > 0, got {value}")


#: The priors the hierarchical recipe and its benchmark use for :func:`recipes_utils.data.simulate_dose_response`
#: data: response in percent of the untreated control, natural-log concentration tested over about -4..4.
#: The notebook gives the reason for each.
SIMULATION_PRIORS = FourPLPriors(
    top_mu=100.0,
    top_mu_sd=20.0,
    top_sd=10.0,
    bottom_mu=10.0,
    bottom_mu_sd=15.0,
    bottom_sd=10.0,
    log_ec50_mu=0.0,
    log_ec50_mu_sd=2.0,
    log_ec50_sd=2.0,
    log_hill_mu=0.0,
    log_hill_mu_sd=0.5,
    log_hill_sd=0.5,
    sigma=10.0,
)


class GroupedDoseResponse(NamedTuple):
    """Validated arrays from a tidy dose-response table (see :func:`prepare_grouped`)."""

    group_idx: np.ndarray  # int64 code of each row's group, 0..n_groups-1
    groups: list  # group labels, in code order
    log_conc: np.ndarray  # float; -inf marks an untreated control (concentration 0)
    response: np.ndarray  # float


def prepare_grouped(
    data: pd.DataFrame,
    *,
    group: str = "group",
    response: str = "response",
    concentration: str | None = None,
    log_concentration: str | None = None,
    zero_is_control: bool = False,
    min_points: int = _N_CURVE_PARAMS,
) -> GroupedDoseResponse:
    """Check a tidy dose-response table and turn it into arrays for the model.

    Give the dose as ``concentration`` (> 0; the column ``"concentration"`` by default) or as
    ``log_concentration`` (natural log, finite), not both. A concentration of 0 is an untreated control;
    it is accepted only with ``zero_is_control=True`` and then sits exactly at the group's ``top``.

    Raises
    ------
    TypeError
        ``data`` is not a DataFrame.
    ValueError
        A missing column, a non-numeric or missing value, a negative (or, without ``zero_is_control``,
        zero) concentration, or a group with fewer than ``min_points`` rows (a 4PL curve has 4
        parameters). Each message names the column, the rows or the groups at fault.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame (one row per measurement), got {type(data).__name__}")
    if concentration is not None and log_concentration is not None:
        raise ValueError("give the dose as concentration or as log_concentration, not both")
    if concentration is None and log_concentration is None:
        concentration = "concentration"
    dose_col = concentration if concentration is not None else log_concentration
    missing = [c for c in (group, dose_col, response) if c not in data.columns]
    if missing:
        raise ValueError(f"data lacks column(s) {missing}; it has {list(data.columns)}")
    if len(data) == 0:
        raise ValueError("data has no rows")

    def numeric(col: str) -> np.ndarray:
        values = pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(np.isnan(values))
        if len(bad):
            examples = data[col].iloc[bad[:3]].tolist()
            raise ValueError(
                f"column {col!r} must be numeric with no missing values; {len(bad)} row(s) are not "
                f"(first at positions {bad[:3].tolist()}: {examples})"
            )
        return values

    y = numeric(response)
    if not np.isfinite(y).all():
        raise ValueError(f"column {response!r} has infinite values")
    if concentration is not None:
        conc = numeric(concentration)
        if np.isinf(conc).any():
            raise ValueError(f"column {concentration!r} has infinite values")
        negative = np.flatnonzero(conc < 0)
        if len(negative):
            raise ValueError(
                f"column {concentration!r} has {len(negative)} negative concentration(s) "
                f"(first at positions {negative[:3].tolist()}); concentrations must be >= 0"
            )
        zero = conc == 0
        if zero.any() and not zero_is_control:
            raise ValueError(
                f"column {concentration!r} has {int(zero.sum())} zero concentration(s): the model works on log "
                "concentration, where 0 is -inf. If these are untreated controls, pass zero_is_control=True "
                "(they then sit exactly at the curve's top); otherwise remove them. Concentrations must be > 0."
            )
        with np.errstate(divide="ignore"):
            log_conc = np.log(conc)
    else:
        log_conc = numeric(log_concentration)
        if not np.isfinite(log_conc).all():
            raise ValueError(
                f"column {log_concentration!r} has infinite values; give controls as concentration 0 "
                "through `concentration=` with zero_is_control=True"
            )

    if data[group].isna().any():
        raise ValueError(f"column {group!r} has {int(data[group].isna().sum())} missing group label(s)")
    codes, labels = pd.factorize(data[group], sort=True)
    labels = labels.tolist()  # plain Python labels (1, not np.int64(1)) for messages and coords
    counts = np.bincount(codes, minlength=len(labels))
    small = np.flatnonzero(counts < min_points)
    if len(small):
        shown = ", ".join(f"{labels[i]!r} ({counts[i]})" for i in small[:5])
        raise ValueError(
            f"{len(small)} group(s) have fewer than {min_points} measurements, too few for a 4-parameter curve: "
            f"{shown}{' ...' if len(small) > 5 else ''}. Drop them or pool them with similar groups."
        )
    return GroupedDoseResponse(codes.astype("int64"), labels, log_conc, y)


def replicate_cells(group_idx, log_conc, response) -> pd.DataFrame:
    """Collapse replicate measurements (same group, same concentration) to sufficient statistics.

    For Normal noise with one ``sigma``, the likelihood of the ``n`` replicates ``y`` in a cell with mean
    ``mu`` factorises exactly as ``Normal(ybar | mu, sigma / sqrt(n))`` times a term in ``sigma`` and the
    within-cell sum of squares ``ss = sum((y - ybar)**2)`` only. Returns one row per cell with columns
    ``group_idx``, ``log_conc``, ``n``, ``mean``, ``ss``.
    """
    frame = pd.DataFrame({"group_idx": group_idx, "log_conc": log_conc, "y": response})
    by_cell = frame.groupby(["group_idx", "log_conc"], sort=True)["y"]
    # Within-cell sum of squares from deviations (not sum(y^2) - n ybar^2, which cancels badly).
    frame["dev2"] = (frame["y"] - by_cell.transform("mean")) ** 2
    cells = by_cell.agg(n="size", mean="mean")
    cells["ss"] = frame.groupby(["group_idx", "log_conc"], sort=True)["dev2"].sum()
    cells = cells.reset_index()
    return cells


def hierarchical_four_pl(
    data: pd.DataFrame,
    *,
    priors: FourPLPriors,
    group: str = "group",
    response: str = "response",
    concentration: str | None = None,
    log_concentration: str | None = None,
    zero_is_control: bool = False,
    parameterization: str | dict = "centered",
    aggregate: bool = False,
    batch_size: int | None = None,
):
    """A hierarchical 4PL model as a PyMC model, from a tidy table (one row per measurement).

    Parameters
    ----------
    data, group, response, concentration, log_concentration, zero_is_control
        The table and the names of its columns; see :func:`prepare_grouped` for the checks.
    priors
        A :class:`FourPLPriors`, in your data's units.
    parameterization
        ``"centered"``: ``top[g] ~ Normal(top_mu, top_sd)`` directly. Suits groups with many measurements
        each, where the data pin each curve down. ``"noncentered"``: ``top[g] = top_mu + top_sd * top_z[g]``
        with ``top_z ~ Normal(0, 1)``. Suits sparse groups, where the centred form makes a funnel between
        the spreads and the group values that NUTS cannot explore (divergences). A dict such as
        ``{"top": "noncentered"}`` chooses per parameter (``bottom``, ``top``, ``log_ec50``, ``log_hill``;
        the ones left out are centred).
    aggregate
        Replace replicate measurements by their cell means and counts plus the within-cell sum of squares
        (see :func:`replicate_cells`): the same posterior, with one likelihood term per (group,
        concentration) instead of per measurement. The observed variable is then ``response_mean`` and a
        ``pm.Potential`` named ``within_cell`` carries the rest of the likelihood.
    batch_size
        Fit on minibatches of rows (or of cells, with ``aggregate``) for ADVI: one ``pm.Minibatch`` call
        draws matching rows of every array and the likelihood is scaled with ``total_size``. NUTS needs
        the full data; leave it ``None``.

    Returns
    -------
    pymc.Model
        With coords ``group`` (the labels, sorted), population variables ``<name>_mu`` and ``<name>_sd``,
        group variables ``bottom``, ``top``, ``log_ec50``, ``log_hill`` and ``hill`` (dims ``group``), and
        ``sigma``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    if not isinstance(priors, FourPLPriors):
        raise TypeError(f"priors must be a FourPLPriors, got {type(priors).__name__}")
    group_params = ("bottom", "top", "log_ec50", "log_hill")
    if isinstance(parameterization, str):
        parameterization = dict.fromkeys(group_params, parameterization)
    else:
        parameterization = dict(parameterization)
        unknown = set(parameterization) - set(group_params)
        if unknown:
            raise ValueError(f"parameterization keys must be among {group_params}, got {sorted(unknown)}")
        parameterization = {name: parameterization.get(name, "centered") for name in group_params}
    for name, form in parameterization.items():
        if form not in ("centered", "noncentered"):
            raise ValueError(f"parameterization must be 'centered' or 'noncentered', got {form!r} for {name}")
    prepared = prepare_grouped(
        data,
        group=group,
        response=response,
        concentration=concentration,
        log_concentration=log_concentration,
        zero_is_control=zero_is_control,
    )
    if aggregate:
        cells = replicate_cells(prepared.group_idx, prepared.log_conc, prepared.response)
        columns = {
            "group_idx": cells["group_idx"].to_numpy(),
            "log_conc": cells["log_conc"].to_numpy(),
            "y": cells["mean"].to_numpy(),
            "n": cells["n"].to_numpy(dtype=float),
        }
    else:
        columns = {"group_idx": prepared.group_idx, "log_conc": prepared.log_conc, "y": prepared.response}
    n_rows = len(columns["y"])
    control = np.isneginf(columns["log_conc"])
    # -inf would make the gradient NaN (0 * -inf); controls get a placeholder and are switched to `top` below.
    columns["log_conc"] = np.where(control, 0.0, columns["log_conc"])
    if control.any():
        columns["control"] = control.astype("int8")

    if batch_size is not None and not 1 <= int(batch_size) <= n_rows:
        raise ValueError(f"batch_size must lie in 1..{n_rows} (the number of likelihood rows), got {batch_size}")

    coords = {"group": prepared.groups}
    with pm.Model(coords=coords) as model:
        group_values = {}
        for name in group_params:
            mu = pm.Normal(f"{name}_mu", mu=getattr(priors, f"{name}_mu"), sigma=getattr(priors, f"{name}_mu_sd"))
            sd = pm.HalfNormal(f"{name}_sd", sigma=getattr(priors, f"{name}_sd"))
            if parameterization[name] == "centered":
                group_values[name] = pm.Normal(name, mu=mu, sigma=sd, dims="group")
            else:
                z = pm.Normal(f"{name}_z", mu=0.0, sigma=1.0, dims="group")
                group_values[name] = pm.Deterministic(name, mu + sd * z, dims="group")
        hill = pm.Deterministic("hill", pt.exp(group_values["log_hill"]), dims="group")
        sigma = pm.HalfNormal("sigma", sigma=priors.sigma)

        names = list(columns)
        arrays = [columns[k] for k in names]
        if batch_size is not None:
            arrays = pm.Minibatch(*arrays, batch_size=int(batch_size))
        col = dict(zip(names, arrays))
        g = col["group_idx"]
        top = group_values["top"][g]
        mu_obs = group_values["bottom"][g] + (top - group_values["bottom"][g]) * pt.sigmoid(
            -hill[g] * (col["log_conc"] - group_values["log_ec50"][g])
        )
        if "control" in col:
            mu_obs = pt.switch(pt.eq(col["control"], 1), top, mu_obs)
        total_size = n_rows if batch_size is not None else None
        if aggregate:
            pm.Normal(
                "response_mean", mu=mu_obs, sigma=sigma / pt.sqrt(col["n"]), observed=col["y"], total_size=total_size
            )
            n_total = int(cells["n"].sum())
            dof = n_total - len(cells)
            ss_within = float(cells["ss"].sum())
            const = -0.5 * dof * np.log(2 * np.pi) - 0.5 * float(np.log(cells["n"]).sum())
            pm.Potential("within_cell", const - dof * pt.log(sigma) - ss_within / (2 * sigma**2))
        else:
            pm.Normal("response", mu=mu_obs, sigma=sigma, observed=col["y"], total_size=total_size)
    return model


def interval_coverage(posterior, truth: pd.DataFrame, prob: float = 0.94) -> pd.Series:
    """Share of true group values inside the posterior's central ``prob`` interval, per parameter.

    Parameters
    ----------
    posterior
        ``idata.posterior`` (dims chain, draw, group) with a variable per column of ``truth``.
    truth
        One row per group, in the order of the ``group`` coordinate, one column per parameter.
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob}")
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
    """Pareto k-hat of importance weights p(theta, y) / q(theta) for a mean-field ADVI fit.

    Yao, Vehtari, Simpson and Gelman (2018), "Yes, but did it work?": draw from the approximation ``q``,
    weight each draw by the model's joint density over ``q``'s, and fit a generalised Pareto tail to the
    weights. k-hat < 0.5: ``q`` is close to the posterior; 0.5-0.7: usable with importance sampling; > 0.7:
    the approximation misses posterior mass and its estimates (above all its uncertainties) are suspect.

    Works on the unconstrained space, where mean-field ADVI is a diagonal Gaussian, with the model's full
    (not minibatch) log density: pass a model built without ``batch_size``.
    """
    import arviz as az
    from scipy.stats import norm

    if not isinstance(n_draws, int | np.integer) or n_draws < 100:
        raise ValueError(f"n_draws must be an int >= 100 (the Pareto fit needs a tail), got {n_draws}")
    mean = approx.mean.eval()
    std = approx.std.eval()
    ordering = approx.groups[0].ordering  # name -> (name, slice, shape, dtype) in the flat vector
    rng = np.random.default_rng(seed)
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
