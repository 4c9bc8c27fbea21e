"""Hierarchical 4-parameter logistic (4PL) dose-response models for grouped data.

The model, for observation ``i`` in group ``g[i]`` at log concentration ``x[i]``::

    response[i] ~ Normal(four_pl(x[i], bottom[g], top[g], log_ec50[g], hill[g]), sigma)
    bottom[g]   ~ Normal(bottom_mu, bottom_sd)        (likewise top and log_ec50)
    log(hill[g]) ~ Normal(log_hill_mu, log_hill_sd)

with priors on the population means and spreads given by :class:`FourPLPriors` (by default scaled from the
data: :func:`default_priors`).

:func:`hierarchical_four_pl` builds it from a tidy DataFrame (one row per measurement, column names
as arguments), with centred, non-centred or shared group effects (chosen by a rule by default) or centred ones sampled in
a basis fitted to each curve (``"decorrelated"``, :func:`curve_preconditioner`), plate effects and a Student-t
likelihood, optional
minibatches (for ADVI), untreated controls shared by all groups, and an optional exact reduction of replicate
measurements to sufficient statistics (``aggregate=True``), which leaves the posterior unchanged and makes every
gradient evaluation cheaper. Three lines take a grouped table of your own to a checked fit::

    model = hierarchical_four_pl(table, group="compound", concentration="dose", response="y")
    fit = sample_nuts(model, seed=1)                  # recipes_utils.inference
    check_nuts(fit.idata)                             # recipes_utils.diagnostics

:func:`log_likelihood` and :func:`posterior_predictive` give per-measurement values for LOO and checks, also
for an aggregated model; :func:`predict_curves` gives curves at new doses, for fitted or new groups, from the
model's own graph.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import pandas as pd

from recipes_utils.models import four_pl

__all__ = [
    "CURVE_PARAMS",
    "SIMULATION_PRIORS",
    "CurvePriors",
    "FourPLPriors",
    "GroupedDoseResponse",
    "advi_psis_khat",
    "auto_parameterization",
    "curve_points",
    "curve_preconditioner",
    "default_curve_priors",
    "default_priors",
    "four_pl_model",
    "group_psis_khat",
    "hierarchical_four_pl",
    "interval_coverage",
    "least_squares_four_pl",
    "log_likelihood",
    "posterior_predictive",
    "predict_curves",
    "prepare_grouped",
    "replicate_cells",
]

#: The four per-group curve parameters, as named in the model (``hill`` is ``exp(log_hill)``).
CURVE_PARAMS = ("bottom", "top", "log_ec50", "hill")
_N_CURVE_PARAMS = 4


def _check_prior_fields(priors) -> None:
    for f in fields(priors):
        value = getattr(priors, f.name)
        if value is None and f.default is None:  # an optional prior, not set
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{type(priors).__name__}.{f.name} must be a number, got {value!r}") from None
        if not np.isfinite(value):
            raise ValueError(f"{type(priors).__name__}.{f.name} must be finite, got {value}")
        if not f.name.endswith("_mu") and value <= 0:
            raise ValueError(f"{type(priors).__name__}.{f.name} is a scale and must be > 0, got {value}")


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
    plate_sd: float | None = None  # HalfNormal scale of the plate offsets' spread; needed only with plates

    def __post_init__(self):
        _check_prior_fields(self)

    def table(self) -> pd.DataFrame:
        """The priors as a table: one row per population parameter and sigma (and the plates' spread, if set)."""
        rows = []
        for name in ("top", "bottom", "log_ec50", "log_hill"):
            mu, mu_sd, sd = (getattr(self, f"{name}_{k}") for k in ("mu", "mu_sd", "sd"))
            rows += [(f"{name}_mu", f"Normal({mu:.3g}, {mu_sd:.3g})"), (f"{name}_sd", f"HalfNormal({sd:.3g})")]
        rows.append(("sigma", f"HalfNormal({self.sigma:.3g})"))
        if self.plate_sd is not None:
            rows.append(("plate_sd", f"HalfNormal({self.plate_sd:.3g})"))
        return pd.DataFrame(rows, columns=["parameter", "prior"]).set_index("parameter")


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

    group_idx: np.ndarray  # int64 code of each row's group, 0..n_groups-1 (0 for a shared control row)
    groups: list  # group labels, in code order
    log_conc: np.ndarray  # float; -inf marks an untreated control (concentration 0)
    response: np.ndarray  # float
    shared_control: np.ndarray  # bool: the row is an untreated control shared by every group


def prepare_grouped(
    data: pd.DataFrame,
    *,
    group: str = "group",
    response: str = "response",
    concentration: str | None = None,
    log_concentration: str | None = None,
    zero_is_control: bool = False,
    shared_controls=None,
    min_points: int = _N_CURVE_PARAMS,
) -> GroupedDoseResponse:
    """Check a tidy dose-response table and turn it into arrays for the model.

    Give the dose as ``concentration`` (> 0; the column ``"concentration"`` by default) or as
    ``log_concentration`` (natural log, finite), not both. A concentration of 0 is an untreated control;
    it is accepted only with ``zero_is_control=True`` and then sits exactly at the group's ``top``.
    ``shared_controls`` names the group label of untreated controls measured once for all groups (drc's
    ``acidiq`` marks them ``pct == 999``): those rows must have concentration 0 and belong to no curve.

    Raises
    ------
    TypeError
        ``data`` is not a DataFrame, or the response is boolean (yes/no data need a binomial model).
    ValueError
        A missing or repeated column, a non-numeric or missing value, a negative (or, without ``zero_is_control``,
        zero) concentration, a group with fewer than ``min_points`` rows (a 4PL curve has 4 parameters), shared
        controls that are absent or dosed, or a table no curve can be fitted to: a constant response, fewer than
        two distinct positive doses. Each message names the column, the rows or the groups at fault.
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
    repeated = [c for c in dict.fromkeys((group, dose_col, response)) if (data.columns == c).sum() > 1]
    if repeated:
        raise ValueError(
            f"data has more than one column named {repeated}: rename them so that one name means one column"
        )
    if len(data) == 0:
        raise ValueError("data has no rows")
    if data[group].isna().any():
        raise ValueError(f"column {group!r} has {int(data[group].isna().sum())} missing group label(s)")
    shared = np.zeros(len(data), dtype=bool)
    if shared_controls is not None:
        if log_concentration is not None:
            raise ValueError("shared_controls are untreated (concentration 0): give the dose as concentration=")
        shared = (data[group] == shared_controls).to_numpy()
        if not shared.any():
            raise ValueError(f"shared_controls={shared_controls!r}: no row of column {group!r} has that label")

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

    if pd.api.types.is_bool_dtype(data[response]) or pd.api.types.infer_dtype(data[response], skipna=True) == "boolean":
        raise TypeError(
            f"column {response!r} is boolean: a yes/no response needs a binomial model, not the 4PL with Normal noise"
        )
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
        dosed = np.flatnonzero(shared & (conc != 0))
        if len(dosed):
            raise ValueError(
                f"{len(dosed)} shared control row(s) (group {shared_controls!r}) have a non-zero concentration "
                f"(first at positions {dosed[:3].tolist()}): shared controls must be untreated"
            )
        zero = (conc == 0) & ~shared
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
    dosed_values = np.unique(log_conc[np.isfinite(log_conc)])
    if len(dosed_values) == 0:
        raise ValueError(f"column {dose_col!r} has no positive dose: every row is an untreated control")
    if len(dosed_values) < 2:
        raise ValueError(
            f"column {dose_col!r} has a single dose ({float(np.exp(dosed_values[0])):.4g}): a dose-response curve "
            "needs at least two (better five or more) distinct doses"
        )
    if np.ptp(y) == 0:
        raise ValueError(f"column {response!r} is constant ({y[0]:.4g} in every row): there is no curve to fit")

    if shared.all():
        raise ValueError("every row is a shared control: there is no group to fit a curve to")
    codes = np.zeros(len(data), dtype="int64")
    codes[~shared], labels = pd.factorize(data[group][~shared], sort=True)
    labels = labels.tolist()  # plain Python labels (1, not np.int64(1)) for messages and coords
    counts = np.bincount(codes[~shared], minlength=len(labels))
    small = np.flatnonzero(counts < min_points)
    if len(small):
        shown = ", ".join(f"{labels[i]!r} ({counts[i]})" for i in small[:5])
        raise ValueError(
            f"{len(small)} group(s) have fewer than {min_points} measurements, too few for a 4-parameter curve: "
            f"{shown}{' ...' if len(small) > 5 else ''}. Drop them or pool them with similar groups."
        )
    return GroupedDoseResponse(codes.astype("int64"), labels, log_conc, y, shared)


@dataclass(frozen=True)
class CurvePriors:
    """Priors of one 4PL curve: ``top ~ Normal(top_mu, top_sd)``, ``bottom ~ Normal(bottom_mu, bottom_sd)``,
    ``log_ec50 ~ Normal(log_ec50_mu, log_ec50_sd)``, ``hill ~ LogNormal(log_hill_mu, log_hill_sd)``,
    ``sigma ~ HalfNormal(sigma)``; in your response's units and natural-log concentration."""

    top_mu: float
    top_sd: float
    bottom_mu: float
    bottom_sd: float
    log_ec50_mu: float
    log_ec50_sd: float
    log_hill_mu: float
    log_hill_sd: float
    sigma: float

    def __post_init__(self):
        _check_prior_fields(self)

    def table(self) -> pd.DataFrame:
        """The priors as a table: parameter, distribution."""
        rows = [
            ("top", f"Normal({self.top_mu:.3g}, {self.top_sd:.3g})"),
            ("bottom", f"Normal({self.bottom_mu:.3g}, {self.bottom_sd:.3g})"),
            ("log_ec50", f"Normal({self.log_ec50_mu:.3g}, {self.log_ec50_sd:.3g})"),
            ("hill", f"LogNormal({self.log_hill_mu:.3g}, {self.log_hill_sd:.3g})"),
            ("sigma", f"HalfNormal({self.sigma:.3g})"),
        ]
        return pd.DataFrame(rows, columns=["parameter", "prior"]).set_index("parameter")


#: The default priors' rule, as :func:`default_priors` applies it (R: the response's range, c: its midpoint,
#: s: its sd; m and w: the midpoint and width of the tested log-dose range).
DEFAULT_PRIOR_RULE = pd.DataFrame(
    [
        ("top_mu, bottom_mu", "Normal(c, R)", ("either asymptote anywhere from 1.4 ranges below the data to 1.4 "
         "above (94%); the same for both, so falling and rising curves are equally likely")),
        ("top_sd, bottom_sd", "HalfNormal(R / 2)", "groups may differ by up to about the data's range"),
        ("log_ec50_mu", "Normal(m, w / 2)", ("the middle of the tested doses; 94% within the tested range widened "
         "by about half its width on each side")),
        ("log_ec50_sd", "HalfNormal(w / 2)", "potencies may differ by up to the tested range"),
        ("log_hill_mu", "Normal(0, 1)", "Hill slopes from 0.15 to 6.6 (94%), centred on 1"),
        ("log_hill_sd", "HalfNormal(0.5)", "slopes differ between groups by a factor of 2 or so"),
        ("sigma", "HalfNormal(s)", "measurement noise no larger than the spread of all responses"),
        ("plate_sd (with plates)", "HalfNormal(R / 2)", "plates may shift responses by up to about half the range"),
    ],
    columns=["prior", "default", "what it allows"],
).set_index("prior")  # fmt: skip


def _scales(log_conc, response):
    y = np.asarray(response, dtype=float)
    x = np.asarray(log_conc, dtype=float)
    x = x[np.isfinite(x)]
    if y.size < 2 or np.ptp(y) == 0:
        raise ValueError("the response is constant (or has fewer than 2 values): there is no curve to scale priors to")
    if len(np.unique(x)) < 2:
        raise ValueError("fewer than two distinct positive doses: there is no dose range to scale priors to")
    return {
        "R": float(np.ptp(y)),
        "c": float((y.max() + y.min()) / 2),
        "s": float(y.std(ddof=1)),
        "m": float((x.max() + x.min()) / 2),
        "w": float(np.ptp(x)),
    }


def default_curve_priors(concentration, response) -> CurvePriors:
    """Weakly informative priors for one 4PL curve, scaled from the data (the rule of :data:`DEFAULT_PRIOR_RULE`).

    Like rstanarm's and brms's defaults they use the data's scale only, not where the curve lies: ``top`` and
    ``bottom`` get the same wide prior around the response's midpoint (so the data decide whether the curve falls
    or rises), ``log_ec50`` is centred on the middle of the tested doses, and the noise scale is the response's sd.
    ``concentration`` may contain zeros (untreated controls); they count for the response, not the dose range.

    Raises
    ------
    ValueError
        A constant or non-finite response, negative or non-finite concentrations, or fewer than two distinct
        positive concentrations.
    """
    conc = np.asarray(concentration, dtype=float)
    if conc.shape != np.shape(response):
        raise ValueError(f"concentration and response must have the same shape, got {conc.shape}, {np.shape(response)}")
    if (conc < 0).any() or not np.isfinite(conc).all():
        raise ValueError("concentrations must be finite and >= 0")
    if not np.isfinite(np.asarray(response, dtype=float)).all():
        raise ValueError("response must be finite (no NaN or infinite values)")
    with np.errstate(divide="ignore"):
        k = _scales(np.log(conc), response)
    return CurvePriors(
        top_mu=k["c"], top_sd=k["R"], bottom_mu=k["c"], bottom_sd=k["R"],
        log_ec50_mu=k["m"], log_ec50_sd=k["w"] / 2, log_hill_mu=0.0, log_hill_sd=1.0, sigma=k["s"],
    )  # fmt: skip


def default_priors(data: pd.DataFrame, **columns) -> FourPLPriors:
    """Weakly informative priors for the hierarchical 4PL, scaled from a tidy table (:data:`DEFAULT_PRIOR_RULE`).

    ``columns`` are the column arguments of :func:`prepare_grouped` (``group``, ``response``, ``concentration`` or
    ``log_concentration``, ``zero_is_control``, ``shared_controls``), which checks the table first.
    """
    prepared = prepare_grouped(data, **columns)
    k = _scales(prepared.log_conc, prepared.response)
    return FourPLPriors(
        top_mu=k["c"], top_mu_sd=k["R"], top_sd=k["R"] / 2,
        bottom_mu=k["c"], bottom_mu_sd=k["R"], bottom_sd=k["R"] / 2,
        log_ec50_mu=k["m"], log_ec50_mu_sd=k["w"] / 2, log_ec50_sd=k["w"] / 2,
        log_hill_mu=0.0, log_hill_mu_sd=1.0, log_hill_sd=0.5,
        sigma=k["s"], plate_sd=k["R"] / 2,
    )  # fmt: skip


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


def four_pl_model(concentration, response, *, priors: CurvePriors | None = None):
    """One 4PL curve as a PyMC model, with :func:`default_curve_priors` unless ``priors`` are given.

    The template recipe writes this model out cell by cell; this is the same model for code that fits many single
    curves (the drc sweep). The data need at least four finite measurements at two or more distinct positive
    concentrations, with priors given or not. ``concentration`` may hold zeros (untreated controls, at ``top``). The
    concentration is a ``pm.Data`` container ``log_conc`` and the curve a ``Deterministic`` ``mu``, so
    ``pm.set_data`` and ``pm.sample_posterior_predictive(..., predictions=True)`` give the curve at new doses.
    """
    import pymc as pm

    conc, y = _check_curve_data(concentration, response)
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


def least_squares_four_pl(concentration, response, *, p0=None):
    """drc-style least-squares 4PL fit (``scipy.optimize.curve_fit``), started from values read off the data.

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

    conc, y = _check_curve_data(concentration, response)
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


#: :func:`auto_parameterization` centres the group effects when there are at least this many groups ...
AUTO_MIN_GROUPS = 20
#: ... and every group has at least this many measurements; otherwise it makes them non-centred.
AUTO_MIN_POINTS = 50


def auto_parameterization(prepared: GroupedDoseResponse) -> str:
    """The rule behind ``parameterization="auto"``: ``"centered"`` when the data pin every curve down and the
    spreads between groups are well informed (at least :data:`AUTO_MIN_GROUPS` groups, each with at least
    :data:`AUTO_MIN_POINTS` measurements), otherwise ``"noncentered"``.

    Why: with few measurements per group, or few groups to learn a spread from, the posterior of a group value and
    its population spread forms a funnel that centred effects cannot traverse (divergences); non-centred effects
    remove it. With many data-rich groups the data fix each curve and the centred form needs fewer leapfrog steps.
    The hierarchical recipe measures both cases (section 2).
    """
    counts = np.bincount(prepared.group_idx[~prepared.shared_control], minlength=len(prepared.groups))
    if len(prepared.groups) >= AUTO_MIN_GROUPS and counts.min() >= AUTO_MIN_POINTS:
        return "centered"
    return "noncentered"


def _check_rows(group_idx, log_conc, response=None):
    """Row arrays as :func:`prepare_grouped` makes them (group codes 0, 1, ...; log concentrations, -inf for a
    control; finite responses), or a ValueError that says what is wrong."""
    group_idx, log_conc = np.asarray(group_idx), np.asarray(log_conc, dtype=float)
    arrays = {"group_idx": group_idx, "log_conc": log_conc}
    if response is not None:
        arrays["response"] = np.asarray(response, dtype=float)
    shapes = {name: a.shape for name, a in arrays.items()}
    if group_idx.ndim != 1 or len(set(shapes.values())) > 1:
        raise ValueError(f"{', '.join(arrays)} must be 1-D of the same length, got {shapes}")
    if not np.issubdtype(group_idx.dtype, np.integer):
        raise ValueError(
            f"group_idx must hold integer group codes (prepare_grouped's group_idx), got {group_idx.dtype}"
        )
    if (group_idx < 0).any():
        raise ValueError(f"group_idx must hold group codes >= 0, got {int(group_idx.min())}")
    if np.isnan(log_conc).any() or np.isposinf(log_conc).any():
        raise ValueError("log_conc has NaN or +inf values (-inf, an untreated control, is allowed)")
    if response is not None and not np.isfinite(arrays["response"]).all():
        raise ValueError(f"response has {int((~np.isfinite(arrays['response'])).sum())} NaN or infinite value(s)")
    return tuple(arrays.values())


def curve_points(group_idx, log_conc):
    """The distinct (group, log concentration) points of the rows, and each row's point.

    Returns ``point_group_idx``, ``point_log_conc`` (the points, sorted by group, then concentration) and
    ``point_of_row`` (int64, ``point_log_conc[point_of_row] == log_conc``), so a curve evaluated at the points and
    indexed with ``point_of_row`` gives every row its value. Replicates and plates repeat a few doses many times:
    ``hierarchical_four_pl(..., curve_at="points")`` evaluates the 4PL at the points, which makes its gradient cheaper
    than one curve value per row, with the same density (unlike ``aggregate``, any likelihood and per-row offsets such
    as plates work).
    A log concentration of ``-inf`` (an untreated control) is a point like any other.
    """
    group_idx, log_conc = _check_rows(group_idx, log_conc)
    frame = pd.DataFrame({"g": group_idx, "x": log_conc})
    by_point = frame.groupby(["g", "x"], sort=True)
    points = by_point.size().index.to_frame(index=False)
    return points["g"].to_numpy(dtype="int64"), points["x"].to_numpy(dtype=float), by_point.ngroup().to_numpy("int64")


def replicate_cells(group_idx, log_conc, response) -> pd.DataFrame:
    """Collapse replicate measurements (same group, same concentration) to sufficient statistics.

    For Normal noise with one ``sigma``, the likelihood of the ``n`` replicates ``y`` in a cell with mean
    ``mu`` factorises exactly as ``Normal(ybar | mu, sigma / sqrt(n))`` times a term in ``sigma`` and the
    within-cell sum of squares ``ss = sum((y - ybar)**2)`` only. Returns one row per cell with columns
    ``group_idx``, ``log_conc``, ``n``, ``mean``, ``ss``. The arrays are :func:`prepare_grouped`'s (``group_idx``,
    ``log_conc``, ``response``): integer group codes, no NaN.
    """
    group_idx, log_conc, response = _check_rows(group_idx, log_conc, response)
    frame = pd.DataFrame({"group_idx": group_idx, "log_conc": log_conc, "y": response})
    by_cell = frame.groupby(["group_idx", "log_conc"], sort=True)["y"]
    # Within-cell sum of squares from deviations (not sum(y^2) - n ybar^2, which cancels badly).
    frame["dev2"] = (frame["y"] - by_cell.transform("mean")) ** 2
    cells = by_cell.agg(n="size", mean="mean")
    cells["ss"] = frame.groupby(["group_idx", "log_conc"], sort=True)["dev2"].sum()
    cells = cells.reset_index()
    return cells


_GROUP_PARAMS = ("bottom", "top", "log_ec50", "log_hill")
_FORMS = ("centered", "noncentered", "shared")


def _resolve_parameterization(parameterization, prepared) -> dict:
    if isinstance(parameterization, str):
        chosen = dict.fromkeys(_GROUP_PARAMS, parameterization)
    elif isinstance(parameterization, dict):
        unknown = set(parameterization) - set(_GROUP_PARAMS)
        if unknown:
            raise ValueError(f"parameterization keys must be among {_GROUP_PARAMS}, got {sorted(unknown)}")
        chosen = {name: parameterization.get(name, "auto") for name in _GROUP_PARAMS}
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


#: Parameter order of the per-curve blocks used by ``parameterization="decorrelated"``.
_CURVE_BLOCK = ("bottom", "top", "log_ec50", "log_hill")


def curve_preconditioner(prepared: GroupedDoseResponse, priors: FourPLPriors, *, n_iter: int = 50):
    """Each curve's approximate posterior mode and covariance, from the data alone, for ``"decorrelated"``.

    A regularised least-squares fit of every curve at once (vectorised Levenberg-Marquardt on ``bottom``, ``top``,
    ``log_ec50``, ``log_hill``, with a weak Normal penalty from ``priors``: mean ``<name>_mu``, sd
    ``sqrt(<name>_mu_sd**2 + <name>_sd**2)``, the prior's spread of one group's value), then the Laplace covariance
    ``(J'J / s**2 + prior precision)**-1`` at the fit, with ``s`` a robust (median absolute residual) noise scale.
    Plate offsets and outliers are ignored: the result only sets the basis NUTS moves in, so an imperfect fit costs
    efficiency, never correctness. The penalty keeps every curve's fit and covariance finite, also for a curve the
    data barely inform (a flat response, doses far from its EC50).

    Returns ``(center, chol)``: arrays of shape ``(n_groups, 4)`` and ``(n_groups, 4, 4)`` (lower Cholesky factors),
    in the order bottom, top, log_ec50, log_hill.
    """
    x = np.asarray(prepared.log_conc, dtype=float)
    y = np.asarray(prepared.response, dtype=float)
    g = np.asarray(prepared.group_idx)
    n_groups = len(prepared.groups)
    # A shared control row carries group 0's code but belongs to every curve; leave it out of the pilot fit.
    keep = ~np.asarray(prepared.shared_control, dtype=bool)
    x, y, g = x[keep], y[keep], g[keep]
    dosed = np.isfinite(x)
    prior_mu = np.array([getattr(priors, f"{n}_mu") for n in _CURVE_BLOCK])
    prior_sd = np.sqrt([getattr(priors, f"{n}_mu_sd") ** 2 + getattr(priors, f"{n}_sd") ** 2 for n in _CURVE_BLOCK])
    prior_prec = 1.0 / prior_sd**2
    pairs = [(i, j) for i in range(4) for j in range(i, 4)]

    def residual_and_jacobian(theta):
        b, t, e, lh = (theta[g, k] for k in range(4))
        h = np.exp(lh)
        xs = np.where(dosed, x, 0.0)
        s = np.where(dosed, 0.5 * (1.0 - np.tanh(0.5 * h * (xs - e))), 1.0)  # 1 / (1 + exp(h (x - e))), stable
        ds = s * (1.0 - s)
        jac = np.stack([1.0 - s, s, (t - b) * h * ds, np.where(dosed, -(t - b) * ds * (xs - e) * h, 0.0)], axis=1)
        return y - (b + (t - b) * s), jac

    def normal_equations(theta, noise_var):
        r, jac = residual_and_jacobian(theta)
        jtj = np.zeros((n_groups, 4, 4))
        for i, j in pairs:
            jtj[:, i, j] = jtj[:, j, i] = np.bincount(g, jac[:, i] * jac[:, j], minlength=n_groups)
        jtr = np.stack([np.bincount(g, jac[:, i] * r, minlength=n_groups) for i in range(4)], axis=1)
        jtj /= noise_var
        jtr /= noise_var
        dev = theta - prior_mu
        objective = 0.5 * np.bincount(g, r * r, minlength=n_groups) / noise_var + 0.5 * (dev**2 * prior_prec).sum(1)
        hess = jtj + np.diag(prior_prec)
        grad = jtr - dev * prior_prec  # minus the gradient of the objective
        return objective, hess, grad, r

    prior_hess = np.diag(prior_prec)

    def sanitised(hess, grad):
        # A curve whose equations overflowed keeps still this iteration (and falls back to the prior below).
        bad = ~(np.isfinite(hess).all(axis=(1, 2)) & np.isfinite(grad).all(axis=1))
        return np.where(bad[:, None, None], prior_hess, hess), np.where(bad[:, None], 0.0, grad)

    theta = np.tile(prior_mu, (n_groups, 1))
    noise_var = float(np.var(y)) if len(y) > 1 and np.var(y) > 0 else 1.0
    damping = np.full(n_groups, 1e-3)
    with np.errstate(all="ignore"):
        for it in range(n_iter):
            objective, hess, grad, r = normal_equations(theta, noise_var)
            hess, grad = sanitised(hess, grad)
            diag = np.einsum("gii->gi", hess)
            lhs = hess + damping[:, None, None] * np.eye(4) * diag[:, :, None]
            step = np.linalg.solve(lhs, grad[:, :, None])[..., 0]
            trial = theta + np.where(np.isfinite(step), step, 0.0)
            trial[:, 3] = np.clip(trial[:, 3], -8.0, 8.0)  # a Hill slope beyond e**8 is a step: no need to go further
            new_objective = normal_equations(trial, noise_var)[0]
            better = np.isfinite(new_objective) & (new_objective <= objective)
            theta = np.where(better[:, None], trial, theta)
            damping = np.clip(np.where(better, damping / 3, damping * 4), 1e-9, 1e9)
            if it in (4, 14):  # re-estimate the noise scale robustly once the curves are roughly right
                mad = np.median(np.abs(r - np.median(r))) * 1.4826
                if np.isfinite(mad) and mad > 0:
                    noise_var = mad**2
        hess = sanitised(*normal_equations(theta, noise_var)[1:3])[0]
        cov = np.linalg.inv(hess)
    cov = (cov + np.swapaxes(cov, 1, 2)) / 2
    # Any curve left without a usable covariance (not finite, not positive definite) gets the prior's: still valid.
    ok = np.isfinite(cov).all(axis=(1, 2)) & np.isfinite(theta).all(axis=1)
    ok[ok] = np.linalg.eigvalsh(cov[ok]).min(axis=1) > 0
    cov[~ok] = np.diag(prior_sd**2)
    theta[~ok] = prior_mu
    return theta, np.linalg.cholesky(cov)


def _affine_curve_transform(center, chol):
    """A PyMC transform for a ``(group, 4)`` variable: the sampler moves ``z`` with ``value = center + chol @ z``."""
    import pytensor
    import pytensor.tensor as pt
    from pymc.logprob.transforms import Transform

    dtype = pytensor.config.floatX  # float32 models stay float32
    c = pt.constant(np.asarray(center, dtype=dtype))
    lower = pt.constant(np.asarray(chol, dtype=dtype))
    inverse = pt.constant(np.linalg.inv(chol).astype(dtype))
    log_det = pt.constant(np.log(np.abs(np.einsum("gii->gi", chol))).sum(1).astype(dtype))

    class AffineCurve(Transform):
        name = "affine_curve"
        ndim_supp = 1

        def forward(self, value, *inputs):
            return (inverse * (value - c)[:, None, :]).sum(-1)

        def backward(self, value, *inputs):
            return c + (lower * value[:, None, :]).sum(-1)

        def log_jac_det(self, value, *inputs):
            return pt.zeros_like(value[..., 0]) + log_det

    return AffineCurve()


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


def student_t_logp(value, nu, mu, sigma):
    """PyMC's ``StudentT`` log density, written with ``log`` where PyMC uses ``log1p``: the same density, cheaper.

    PyMC computes each row's ``-(nu + 1) / 2 * log1p(r**2 / (nu * sigma**2))``, ``r = value - mu``. Without SVML,
    Numba's code calls the C library for both ``log1p`` and ``log``, once per row, and on this 2-core CPU 400,000
    ``log1p`` took 4.9 ms against 1.9 ms for ``log`` (``benchmarks/log1p_cost.py``): at 400,000 rows the plates
    recipe's gradient took 7.9 ms with PyMC's ``StudentT`` and 4.8 ms with this (``benchmarks/plate_gradient.py``). Here the row term is
    ``log(nu * sigma**2 + r**2) - log(nu * sigma**2)``, the second ``log`` computed once. For ``r**2`` far below
    ``nu * sigma**2`` that difference loses relative precision, not absolute: its error is a few units in the last
    place of ``log(nu * sigma**2)``, far below what NUTS's energy error or a log density sum can feel.
    ``tests/test_dose_response.py`` checks value and gradient against ``pm.StudentT`` and SciPy.
    """
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import check_parameters

    scale2 = nu * sigma**2
    res = (
        pt.gammaln((nu + 1.0) / 2.0) - pt.gammaln(nu / 2.0) - 0.5 * pt.log(np.pi * scale2)
        - (nu + 1.0) / 2.0 * (pt.log(scale2 + (value - mu) ** 2) - pt.log(scale2))
    )  # fmt: skip
    return check_parameters(res, sigma > 0, nu > 0, msg="sigma > 0, nu > 0")


def _student_t(name, nu, mu, sigma, **kwargs):
    """A Student-t observed variable with :func:`student_t_logp` as its density; forward draws (prior and posterior
    predictive) are ``pm.StudentT``'s own."""
    import pymc as pm

    def dist(nu, mu, sigma, size):
        return pm.StudentT.dist(nu=nu, mu=mu, sigma=sigma, size=size)

    return pm.CustomDist(name, nu, mu, sigma, dist=dist, logp=student_t_logp, **kwargs)


def hierarchical_four_pl(
    data: pd.DataFrame,
    *,
    priors: FourPLPriors | None = None,
    group: str = "group",
    response: str = "response",
    concentration: str | None = None,
    log_concentration: str | None = None,
    zero_is_control: bool = False,
    shared_controls=None,
    parameterization: str | dict = "auto",
    aggregate: bool = False,
    batch_size: int | None = None,
    plate: str | None = None,
    likelihood: str = "normal",
    curve_at: str = "rows",
):
    """A hierarchical 4PL model as a PyMC model, from a tidy table (one row per measurement).

    Parameters
    ----------
    data, group, response, concentration, log_concentration, zero_is_control, shared_controls
        The table and the names of its columns; see :func:`prepare_grouped` for the checks.
    priors
        A :class:`FourPLPriors` in your data's units, or ``None`` (the default) for :func:`default_priors`:
        weakly informative priors scaled from the table.
    parameterization
        How the groups' values of ``bottom``, ``top``, ``log_ec50`` and ``log_hill`` relate to the population:

        - ``"centered"``: ``top[g] ~ Normal(top_mu, top_sd)`` directly; suits many data-rich groups.
        - ``"noncentered"``: ``top[g] = top_mu + top_sd * top_z[g]`` with ``top_z ~ Normal(0, 1)``; suits sparse
          groups or few groups, where the centred form makes a funnel NUTS cannot explore (divergences).
        - ``"shared"``: one value for every group (``top[g] = top_mu``, no spread), as drc's models that share a
          limit between curves; required for ``top`` with ``shared_controls``.
        - ``"auto"`` (the default): :func:`auto_parameterization`'s rule.
        - ``"decorrelated"``: the centred model, with each curve's four values (bottom, top, log_ec50, log_hill)
          one row of a variable ``curve`` (dims ``group``, ``curve_param``) that NUTS moves in a basis fitted to the
          data: ``curve[g] = center[g] + chol[g] @ z[g]``, with ``center`` and ``chol`` each curve's mode and Cholesky
          factor of its covariance from :func:`curve_preconditioner`. A fixed linear change of variables (constant
          Jacobian), so the posterior is exactly the centred one; it removes the within-curve correlations (log EC50
          with top and bottom, Hill slope with the asymptotes) that a diagonal mass matrix cannot, so each draw
          needs fewer leapfrog steps. Suits data-rich curves; the basis is fitted once, to the data the model is
          built with (after ``pm.set_data`` the posterior stays right, the basis may fit less well).

        A dict such as ``{"top": "shared"}`` chooses per parameter; the ones left out follow the rule.
    aggregate
        Replace replicate measurements by their cell means and counts plus the within-cell sum of squares
        (see :func:`replicate_cells`): the same posterior, with one likelihood term per (group,
        concentration) instead of per measurement. The observed variable is then ``response_mean`` and a
        ``pm.Potential`` named ``within_cell`` carries the rest of the likelihood; :func:`log_likelihood` and
        :func:`posterior_predictive` expand it back to one value per measurement.
    batch_size
        Fit on minibatches of rows (or of cells, with ``aggregate``) for ADVI: one ``pm.Minibatch`` call
        draws matching rows of every array and the likelihood is scaled with ``total_size``. NUTS needs
        the full data; leave it ``None``. The arrays are ``pm.Data`` containers (``log_conc``, ``group_idx``, ``y``,
        ``plate_idx``; with ``aggregate`` the ``cell_*`` ones; with ``curve_at="points"`` the points' below), so one
        compiled model can take new data, and the compiled code does not embed the data (Numba's disk cache skips
        code that embeds an array of over 1 MB).
    plate
        The column naming each measurement's plate (batch): adds an additive offset per plate,
        ``plate_effect ~ ZeroSumNormal(plate_sd)`` (zero-sum, so it cannot trade places with the curves' levels;
        ``plate_sd ~ HalfNormal(priors.plate_sd)``). A per-measurement covariate: not with ``aggregate``.
    likelihood
        ``"normal"`` or ``"student_t"``: Student-t noise with its degrees of freedom ``nu`` estimated
        (``nu ~ Gamma(2, 0.1)``, brms's default for the Student family), which lets a few outlying measurements
        sit in its tails instead of pulling the curves. Its density is PyMC's ``StudentT``'s, written with one
        ``log`` per row where PyMC takes a ``log1p`` (:func:`student_t_logp`: 4.8 against 7.9 ms per gradient at
        400,000 rows); forward draws are ``pm.StudentT``'s. Not with ``aggregate`` (replicates then have no
        sufficient statistics).
    curve_at
        Where the per-measurement model (full data, not ``aggregate``, no ``batch_size``) evaluates the 4PL:
        ``"rows"`` (the default), once per measurement; ``"points"``, once per distinct (group, log concentration)
        point (:func:`curve_points`), the values indexed out to the rows before the plate offsets and the
        likelihood. The same density, summed in another order: replicates and plates repeat each dose many times, so
        the gradient is far cheaper (at 400,000 rows on 24,000 points, 2.2 against 15.4 ms with Normal noise,
        ``benchmarks/plate_gradient.py``). The containers are then ``point_group_idx``, ``point_log_conc``,
        ``point_of_row``, ``y`` (and ``plate_idx``): new responses for the same design go in with
        ``pm.set_data({"y": ...})``, a new design needs a new model. The default stays ``"rows"`` because the stored
        results of the other recipes (the approximations recipe's simulation-based calibration ranks among them)
        were computed that way, and a last-bit change moves an optimiser's or a sampler's path.

    Returns
    -------
    pymc.Model
        With coords ``group`` (the labels, sorted), population variables ``<name>_mu`` and ``<name>_sd`` (no
        ``_sd`` for a shared parameter), group variables ``bottom``, ``top``, ``log_ec50``, ``log_hill`` and
        ``hill`` (dims ``group``), and ``sigma``.
    """
    import pymc as pm
    import pytensor.tensor as pt

    columns_kw = {
        "group": group, "response": response, "concentration": concentration,
        "log_concentration": log_concentration, "zero_is_control": zero_is_control,
        "shared_controls": shared_controls,
    }  # fmt: skip
    prepared = prepare_grouped(data, **columns_kw)
    if priors is None:
        priors = default_priors(data, **columns_kw)
    if not isinstance(priors, FourPLPriors):
        raise TypeError(f"priors must be a FourPLPriors (or None for the defaults), got {type(priors).__name__}")
    decorrelated = isinstance(parameterization, str) and parameterization == "decorrelated"
    if decorrelated:
        if prepared.shared_control.any():
            raise ValueError(
                "parameterization='decorrelated' gives every group its own four curve parameters, but shared controls "
                "need one top for all groups: use parameterization={'top': 'shared'} instead"
            )
        forms = dict.fromkeys(_GROUP_PARAMS, "centered")
    else:
        forms = _resolve_parameterization(parameterization, prepared)
    if likelihood not in ("normal", "student_t"):
        raise ValueError(f"likelihood must be 'normal' or 'student_t', got {likelihood!r}")
    if curve_at not in ("rows", "points"):
        raise ValueError(f"curve_at must be 'rows' or 'points', got {curve_at!r}")
    if curve_at == "points" and (aggregate or batch_size is not None):
        raise ValueError(
            "curve_at='points' is for the full per-measurement model: aggregate=True already evaluates each curve once "
            "per cell, and minibatches draw rows, not points"
        )
    if aggregate and (plate is not None or likelihood != "normal"):
        raise ValueError(
            "aggregate=True needs Normal noise and one mean per (group, concentration) cell: not with plate effects or "
            "a Student-t likelihood, which make every measurement count on its own; use aggregate=False"
        )
    plate_idx = plate_labels = None
    if plate is not None:
        if plate not in data.columns:
            raise ValueError(f"data lacks the plate column {plate!r}; it has {list(data.columns)}")
        if (data.columns == plate).sum() > 1:
            raise ValueError(f"data has more than one column named {plate!r}: rename them so one name means one column")
        if data[plate].isna().any():
            raise ValueError(f"column {plate!r} has {int(data[plate].isna().sum())} missing plate label(s)")
        codes, plate_labels = pd.factorize(data[plate], sort=True)
        plate_idx, plate_labels = codes.astype("int64"), plate_labels.tolist()
        if len(plate_labels) < 2:
            raise ValueError(f"column {plate!r} has a single plate: a plate effect needs at least two plates")
        if priors.plate_sd is None:
            raise ValueError("plate effects need a prior for their spread: FourPLPriors(..., plate_sd=...)")
    if prepared.shared_control.any() and forms["top"] != "shared":
        raise ValueError(
            "shared controls measure the untreated response common to every group, so every curve must share its "
            "top: pass parameterization={'top': 'shared'} (the other parameters may vary by group)"
        )
    if aggregate:
        cells = replicate_cells(prepared.group_idx, prepared.log_conc, prepared.response)
        columns = {
            "cell_group_idx": cells["group_idx"].to_numpy(),
            "cell_log_conc": cells["log_conc"].to_numpy(),
            "cell_mean": cells["mean"].to_numpy(),
            "cell_n": cells["n"].to_numpy(dtype=float),
        }
    elif curve_at == "rows":
        columns = {"group_idx": prepared.group_idx, "log_conc": prepared.log_conc, "y": prepared.response}
        if plate_idx is not None:
            columns["plate_idx"] = plate_idx
    else:
        # The curve is evaluated once per distinct (group, log concentration) point and indexed out to the rows
        # (see ``curve_points``): the same density as one curve value per row, with the exp/power work and its
        # gradient on the points instead of the rows (24,000 points for 400,000 rows at the plates benchmark's size)
        point_group, point_log_conc, point_of_row = curve_points(prepared.group_idx, prepared.log_conc)
        columns = {"point_group_idx": point_group, "point_log_conc": point_log_conc, "point_of_row": point_of_row,
                   "y": prepared.response}  # fmt: skip
        if plate_idx is not None:
            columns["plate_idx"] = plate_idx
    n_rows = len(columns["cell_mean"] if aggregate else columns["y"])
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or not 1 <= batch_size <= n_rows
    ):
        raise ValueError(f"batch_size must be a whole number in 1..{n_rows} (the likelihood rows), got {batch_size!r}")

    coords = {"group": prepared.groups}
    if plate_labels is not None:
        coords["plate"] = plate_labels
    if decorrelated:
        coords["curve_param"] = list(_CURVE_BLOCK)
    with pm.Model(coords=coords) as model:
        group_values = {}
        if decorrelated:
            mus, sds = [], []
            for name in _CURVE_BLOCK:
                mus.append(pm.Normal(f"{name}_mu", mu=getattr(priors, f"{name}_mu"),
                                     sigma=getattr(priors, f"{name}_mu_sd")))  # fmt: skip
                sds.append(pm.HalfNormal(f"{name}_sd", sigma=getattr(priors, f"{name}_sd")))
            center, chol = curve_preconditioner(prepared, priors)
            curve = pm.Normal("curve", mu=pt.stack(mus), sigma=pt.stack(sds), dims=("group", "curve_param"),
                              transform=_affine_curve_transform(center, chol))  # fmt: skip
            for k, name in enumerate(_CURVE_BLOCK):
                group_values[name] = pm.Deterministic(name, curve[:, k], dims="group")
        for name in _GROUP_PARAMS if not decorrelated else ():
            mu = pm.Normal(f"{name}_mu", mu=getattr(priors, f"{name}_mu"), sigma=getattr(priors, f"{name}_mu_sd"))
            if forms[name] == "shared":
                group_values[name] = pm.Deterministic(name, pt.ones(len(prepared.groups)) * mu, dims="group")
                continue
            sd = pm.HalfNormal(f"{name}_sd", sigma=getattr(priors, f"{name}_sd"))
            if forms[name] == "centered":
                group_values[name] = pm.Normal(name, mu=mu, sigma=sd, dims="group")
            else:
                z = pm.Normal(f"{name}_z", mu=0.0, sigma=1.0, dims="group")
                group_values[name] = pm.Deterministic(name, mu + sd * z, dims="group")
        hill = pm.Deterministic("hill", pt.exp(group_values["log_hill"]), dims="group")
        sigma = pm.HalfNormal("sigma", sigma=priors.sigma)

        if batch_size is not None:
            # pm.Data, not constants, under the minibatch: Numba does not cache a function that embeds an array of
            # over 1 MB, so with constants every run compiled the ADVI step function afresh
            shared = [pm.Data(name, values) for name, values in columns.items()]
            col = dict(zip(columns, pm.Minibatch(*shared, batch_size=int(batch_size))))
        else:
            col = {name: pm.Data(name, values) for name, values in columns.items()}
        prefix = "cell_" if aggregate else "point_" if "point_of_row" in col else ""
        g = col[f"{prefix}group_idx"]
        mu_obs = four_pl(
            col[f"{prefix}log_conc"], group_values["bottom"][g], group_values["top"][g],
            group_values["log_ec50"][g], hill[g],
        )  # fmt: skip
        if "point_of_row" in col:
            mu_obs = mu_obs[col["point_of_row"]]
        if plate_idx is not None:
            plate_sd = pm.HalfNormal("plate_sd", sigma=priors.plate_sd)
            plate_effect = _zero_sum_normal("plate_effect", plate_sd, dims="plate")
            mu_obs = mu_obs + plate_effect[col["plate_idx"]]
        total_size = n_rows if batch_size is not None else None
        if aggregate:
            pm.Normal(
                "response_mean", mu=mu_obs, sigma=sigma / pt.sqrt(col["cell_n"]), observed=col["cell_mean"],
                total_size=total_size,
            )  # fmt: skip
            n_total = int(cells["n"].sum())
            within = {
                "within_dof": float(n_total - len(cells)),
                "within_ss": float(cells["ss"].sum()),
                "within_const": float(
                    -0.5 * (n_total - len(cells)) * np.log(2 * np.pi) - 0.5 * np.log(cells["n"]).sum()
                ),
            }
            if batch_size is None:
                within = {k: pm.Data(k, v) for k, v in within.items()}
                # Each measurement's cell and value, for expanding cell results back to measurements (not in logp):
                # the cells are the curve's points, in the same order (sorted by group, then log concentration).
                cell_of = curve_points(prepared.group_idx, prepared.log_conc)[2]
                pm.Data("measurement_cell", cell_of)
                pm.Data("measurement_y", prepared.response)
            pm.Potential(
                "within_cell",
                within["within_const"] - within["within_dof"] * pt.log(sigma) - within["within_ss"] / (2 * sigma**2),
            )
        elif likelihood == "student_t":
            nu = pm.Gamma("nu", alpha=2.0, beta=0.1)
            _student_t("response", nu, mu_obs, sigma, observed=col["y"], total_size=total_size)
        else:
            pm.Normal("response", mu=mu_obs, sigma=sigma, observed=col["y"], total_size=total_size)
    return model


def _minibatched(model) -> bool:
    """Whether the model's observed data come through ``pm.Minibatch`` (``hierarchical_four_pl(batch_size=...)``)."""
    from pymc.data import MinibatchOp

    return any(isinstance(getattr(model.rvs_to_values[rv].owner, "op", None), MinibatchOp) for rv in model.observed_RVs)


def _without_potentials(model):
    """The within-cell Potential is part of the likelihood of sigma, already in the posterior draws; forward
    sampling from those draws does not use it (and PyMC would warn that it ignores it)."""
    model.potentials.clear()
    return model


def _group_curve(model, log_conc, g, names=("bottom", "top", "log_ec50", "hill")):
    return four_pl(log_conc, *(model[n][g] for n in names))


def _require_free_variables(model, idata, what: str) -> None:
    """Refuse a trace that lacks some of the model's free variables: PyMC's forward sampling would silently draw
    those from the prior (``sample_nuts(..., var_names=[...])`` stores only the variables named, besides the
    unconstrained values)."""
    posterior = getattr(idata, "posterior", None)
    if posterior is None:
        raise ValueError(f"{what} needs an InferenceData with a posterior group (the result of a fit)")
    missing = [rv.name for rv in model.free_RVs if rv.name not in posterior]
    if missing:
        raise ValueError(
            f"{what}: the posterior lacks the model's free variable(s) {missing}, and PyMC would draw any it needs "
            "from the prior instead; fit again storing them (sample_nuts(..., var_names=None), or var_names listing "
            f"every free variable: {[rv.name for rv in model.free_RVs]})"
        )


def log_likelihood(model, idata, *, extend: bool = True):
    """Pointwise log-likelihood, one value per measurement, for LOO (``az.loo``, ``az.compare``).

    For a per-measurement model this is ``pm.compute_log_likelihood``. For an aggregated model (``aggregate=True``)
    the cells are expanded back: each measurement ``y_i`` of cell ``c`` gets ``log Normal(y_i | mu_c, sigma)``
    computed from the model's own graph, so LOO over it compares with LOO over the per-measurement model (the
    tests check that the two agree). Returns a Dataset with variable ``response`` and dims (chain, draw,
    measurement); with ``extend`` it also becomes ``idata.log_likelihood``.
    """
    import pymc as pm
    from pymc.model.fgraph import clone_model

    if _minibatched(model):
        raise ValueError("log_likelihood needs a model from hierarchical_four_pl without batch_size (a minibatch "
                         "model's likelihood sees a random batch of rows, not each measurement)")  # fmt: skip
    _require_free_variables(model, idata, "log_likelihood")
    if "response" in model.named_vars and "y" in model.named_vars:
        out = pm.compute_log_likelihood(idata, model=model, var_names=["response"], extend_inferencedata=False,
                                        progressbar=False)  # fmt: skip
        ll = out.log_likelihood if hasattr(out, "log_likelihood") else out
        ll = ll[["response"]].rename({ll["response"].dims[-1]: "measurement"})
    elif "measurement_cell" in model.named_vars:
        m = _without_potentials(clone_model(model))
        with m:
            c = m["measurement_cell"]
            mu = _group_curve(m, m["cell_log_conc"][c], m["cell_group_idx"][c])
            pm.Deterministic("response", pm.logp(pm.Normal.dist(mu, m["sigma"]), m["measurement_y"]))
            pp = pm.sample_posterior_predictive(idata, var_names=["response"], progressbar=False)
        ll = pp.posterior_predictive[["response"]]
        ll = ll.rename({ll["response"].dims[-1]: "measurement"})
    else:
        raise ValueError("log_likelihood needs a model from hierarchical_four_pl (without batch_size)")
    if extend:
        if "log_likelihood" in idata:
            del idata["log_likelihood"]
        idata.add_groups(log_likelihood=ll)
    return ll


def posterior_predictive(model, idata, *, seed=None, extend: bool = True):
    """Posterior predictive draws, one per measurement, as ``response`` (dims chain, draw, measurement).

    For an aggregated model the replicate measurements are drawn individually from ``Normal(mu_c, sigma)`` (not the
    cell means), from the model's own graph, so checks and plots look the same for both forms of the model.
    """
    import pymc as pm
    from pymc.model.fgraph import clone_model

    if _minibatched(model):
        raise ValueError("posterior_predictive needs a model from hierarchical_four_pl without batch_size")
    _require_free_variables(model, idata, "posterior_predictive")
    if "response" in model.named_vars and "y" in model.named_vars:
        with model:
            pp = pm.sample_posterior_predictive(idata, var_names=["response"], random_seed=seed, progressbar=False)
    elif "measurement_cell" in model.named_vars:
        m = _without_potentials(clone_model(model))
        with m:
            c = m["measurement_cell"]
            mu = _group_curve(m, m["cell_log_conc"][c], m["cell_group_idx"][c])
            pm.Normal("response", mu, m["sigma"])
            pp = pm.sample_posterior_predictive(idata, var_names=["response"], random_seed=seed, progressbar=False)
    else:
        raise ValueError("posterior_predictive needs a model from hierarchical_four_pl without batch_size")
    draws = pp.posterior_predictive[["response"]]
    draws = draws.rename({draws["response"].dims[-1]: "measurement"})
    if extend:
        if "posterior_predictive" in idata:
            del idata["posterior_predictive"]
        idata.add_groups(posterior_predictive=draws)
    return draws


def predict_curves(model, idata, log_concentration, *, groups=None, new_groups: int = 0, seed=None):
    """Curves at new doses, from the model's own graph: for fitted groups, or for groups not yet measured.

    Parameters
    ----------
    log_concentration
        1-D grid of natural-log concentrations (``-inf`` for an untreated control is allowed).
    groups
        Labels of fitted groups (default: all; one string or number label may be given alone). Ignored when
        ``new_groups`` > 0.
    new_groups
        If > 0, curves for this many new groups, each drawn from the fitted population (the posterior predictive
        for an unmeasured compound): ``<name>_new ~ population`` for every curve parameter (a shared one stays
        shared).

    Returns
    -------
    xarray.DataArray
        ``curve`` with dims (chain, draw, group, dose): for fitted groups their labels, for new ones ``new 0``...
    """
    import pymc as pm
    import pytensor.tensor as pt
    from pymc.model.fgraph import clone_model

    x = np.asarray(log_concentration, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("log_concentration must be a non-empty 1-D grid")
    if np.isnan(x).any() or np.isposinf(x).any():
        raise ValueError("log_concentration must not hold NaN or +inf (-inf, an untreated control, is allowed)")
    if isinstance(new_groups, bool) or not isinstance(new_groups, int | np.integer) or new_groups < 0:
        raise ValueError(f"new_groups must be an integer >= 0, got {new_groups!r}")
    if groups is not None and (isinstance(groups, str) or not np.iterable(groups)):
        groups = [groups]  # one label, not a sequence of labels (a string would be split into letters)
    _require_free_variables(model, idata, "predict_curves")
    labels = list(model.coords["group"])
    m = clone_model(model)
    with m:
        grid = pm.Data("prediction_log_conc", x)
        if new_groups:
            params = {}
            for name in _GROUP_PARAMS:
                if f"{name}_sd" in m.named_vars:
                    params[name] = pm.Normal(f"{name}_new", m[f"{name}_mu"], m[f"{name}_sd"], shape=int(new_groups))
                else:
                    params[name] = pt.ones(int(new_groups)) * m[f"{name}_mu"]
            params["hill"] = pt.exp(params["log_hill"])
            out_labels = [f"new {i}" for i in range(int(new_groups))]
        else:
            chosen = labels if groups is None else list(groups)
            unknown = [g for g in chosen if g not in labels]
            if unknown:
                raise ValueError(f"groups {unknown} were not fitted; the model's groups are {labels[:10]}...")
            idx = np.array([labels.index(g) for g in chosen])
            params = {n: m[n][idx] for n in ("bottom", "top", "log_ec50", "hill")}
            out_labels = chosen
        curve = four_pl(grid[None, :], *(params[n][:, None] for n in ("bottom", "top", "log_ec50", "hill")))
        pm.Deterministic("curve", curve)
        pp = pm.sample_posterior_predictive(idata, var_names=["curve"], predictions=True, random_seed=seed,
                                            progressbar=False)  # fmt: skip
    out = pp.predictions["curve"]
    out = out.rename(dict(zip(out.dims[-2:], ("group", "dose"))))
    return out.assign_coords(group=out_labels, dose=x)


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
