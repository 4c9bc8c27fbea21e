"""Priors of the dose-response models: the dataclasses, the simulation priors, and the default rules scaled from the
data.

For the 4PL with Normal or Student-t noise, :class:`CurvePriors` holds one curve's priors
(:func:`default_curve_priors`), :class:`FourPLPriors` the hierarchical model's (:func:`default_priors`);
:data:`DEFAULT_PRIOR_RULE` states the default rule as a table. For any curve family and likelihood,
:class:`DoseResponsePriors` holds a :class:`ParameterPrior` per free curve parameter plus the noise scales
(:func:`family_priors` from arrays, :func:`default_dose_response_priors` from a table);
:func:`~recipes_utils.dose_response.family_prior_rule` lists a family's rule. It is the same rule, read on the scale the
likelihood puts the levels on, and for the 4PL with Normal noise it gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from recipes_utils.dose_response.table import one_curve_arrays, prepare_grouped


def _check_prior_fields(priors, skip=()) -> None:
    for f in fields(priors):
        if f.name in skip:
            continue
        value = getattr(priors, f.name)
        if value is None and f.default is None:  # an optional prior, not set
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{type(priors).__name__}.{f.name} must be a number, got {value!r}") from None
        if not np.isfinite(value):
            raise ValueError(f"{type(priors).__name__}.{f.name} must be finite, got {value}")
        if not (f.name == "mu" or f.name.endswith("_mu")) and value <= 0:
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
        ("sigma", "HalfNormal(s)", ("measurement noise of the order of the responses' sd or less (a scale, not a "
         "bound: 32% of the prior lies above s)")),
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


def default_curve_priors(
    data=None, response=None, *, concentration=None, log_concentration=None, zero_is_control: bool = False
) -> CurvePriors:
    """Weakly informative priors for one 4PL curve, scaled from the data (the rule of :data:`DEFAULT_PRIOR_RULE`).

    Like rstanarm's and brms's defaults they use the data's scale only, not where the curve lies: ``top`` and
    ``bottom`` get the same wide prior around the response's midpoint (so the data decide whether the curve falls
    or rises), ``log_ec50`` is centred on the middle of the tested doses, and the noise scale is the response's sd.
    The data as for :func:`~recipes_utils.dose_response.four_pl_model`: a table and its column names, or two
    arrays (concentrations, responses). Zeros (untreated controls) count for the response, not the dose range.

    Raises
    ------
    ValueError
        A constant or non-finite response, negative or non-finite concentrations, or fewer than two distinct
        positive concentrations.
    """
    conc, y = one_curve_arrays(
        data, response, concentration=concentration, log_concentration=log_concentration,
        zero_is_control=zero_is_control,
    )  # fmt: skip
    if (conc < 0).any() or not np.isfinite(conc).all():
        raise ValueError("concentrations must be finite and >= 0")
    if not np.isfinite(y).all():
        raise ValueError("response must be finite (no NaN or infinite values)")
    with np.errstate(divide="ignore"):
        k = _scales(np.log(conc), y)
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


@dataclass(frozen=True)
class ParameterPrior:
    """The prior of one free curve parameter (``top``, ``logit_top``, ``log_e``, ``log_hill``, ...): a population mean
    ``Normal(mu, mu_sd)`` (for one curve, the curve's own value) and, in the many-curve model, a spread of the groups'
    values around it ``HalfNormal(sd)``."""

    mu: float
    mu_sd: float
    sd: float | None = None  # needed by the many-curve model only

    def __post_init__(self):
        _check_prior_fields(self)


@dataclass(frozen=True)
class DoseResponsePriors:
    """Priors of a dose-response model of any curve family and likelihood, in the units of your response (on the
    scale its levels live on: logit for binomial and Beta, log for counts) and natural-log concentration.

    ``params`` maps each free curve parameter to its :class:`ParameterPrior`: the names of
    :func:`free_curve_params` (for ``curve="ll4"`` and Normal noise ``bottom``, ``top``, ``log_ec50``, ``log_hill``;
    with a binomial likelihood ``logit_bottom``, ``logit_top``, ...). ``sigma``: HalfNormal scale of Normal or
    Student-t noise; ``dispersion``: HalfNormal scale of ``1 / sqrt(alpha)`` (negative binomial) or
    ``1 / sqrt(kappa)`` (Beta); ``plate_sd``: HalfNormal scale of the plate offsets' spread (with plates, on the
    levels' scale). :func:`default_dose_response_priors` scales them from the data.
    """

    params: dict
    sigma: float | None = None
    dispersion: float | None = None
    plate_sd: float | None = None

    def __post_init__(self):
        if not isinstance(self.params, dict) or not all(isinstance(p, ParameterPrior) for p in self.params.values()):
            raise TypeError("DoseResponsePriors.params must be a dict of parameter name -> ParameterPrior")
        _check_prior_fields(self, skip=("params",))

    def table(self) -> pd.DataFrame:
        """The priors as a table: one row per population parameter and noise scale."""
        rows = []
        for name, p in self.params.items():
            rows.append((f"{name}_mu" if p.sd is not None else name, f"Normal({p.mu:.3g}, {p.mu_sd:.3g})"))
            if p.sd is not None:
                rows.append((f"{name}_sd", f"HalfNormal({p.sd:.3g})"))
        for name in ("sigma", "dispersion", "plate_sd"):
            if getattr(self, name) is not None:
                rows.append((name, f"HalfNormal({getattr(self, name):.3g})"))
        return pd.DataFrame(rows, columns=["parameter", "prior"]).set_index("parameter")

    def check_for(self, names, likelihood: str, *, hierarchical: bool) -> None:
        """Refuse priors that lack a parameter of the model (``names``) or its likelihood's noise scale."""
        missing = [n for n in names if n not in self.params]
        if missing:
            raise ValueError(f"priors lack the curve parameter(s) {missing}; this model's are {list(names)}")
        if hierarchical:
            no_sd = [n for n in names if self.params[n].sd is None]
            if no_sd:
                raise ValueError(f"the many-curve model needs a spread (sd) in the prior of {no_sd}")
        need = {"normal": "sigma", "student_t": "sigma", "negative_binomial": "dispersion", "beta": "dispersion"}
        if likelihood in need and getattr(self, need[likelihood]) is None:
            raise ValueError(f"likelihood={likelihood!r} needs DoseResponsePriors({need[likelihood]}=...)")


def free_curve_params(family, lik) -> tuple[str, ...]:
    """The free curve parameters of ``family`` (a :class:`~recipes_utils.dose_response.families.CurveFamily`) under
    likelihood ``lik`` (a ``ResponseFamily``): levels on their scale, the location, the shapes' free parameters."""
    return family.free_params(lik)


def as_dose_response_priors(priors) -> DoseResponsePriors:
    """``priors`` as a :class:`DoseResponsePriors`: a :class:`FourPLPriors` or a :class:`CurvePriors` (the 4PL with
    Normal or Student-t noise) converted, one already of that type returned as it is."""
    if isinstance(priors, DoseResponsePriors):
        return priors
    if isinstance(priors, FourPLPriors):
        params = {name: ParameterPrior(*(getattr(priors, f"{name}_{k}") for k in ("mu", "mu_sd", "sd")))
                  for name in ("bottom", "top", "log_ec50", "log_hill")}  # fmt: skip
        return DoseResponsePriors(params, sigma=priors.sigma, plate_sd=priors.plate_sd)
    if isinstance(priors, CurvePriors):
        params = {name: ParameterPrior(getattr(priors, f"{name}_mu"), getattr(priors, f"{name}_sd"))
                  for name in ("bottom", "top", "log_ec50")}  # fmt: skip
        params["log_hill"] = ParameterPrior(priors.log_hill_mu, priors.log_hill_sd)
        return DoseResponsePriors(params, sigma=priors.sigma)
    raise TypeError(
        "priors must be a DoseResponsePriors (or for the 4PL a FourPLPriors or CurvePriors), got "
        f"{type(priors).__name__}"
    )


#: Caps on the level priors of bounded responses (on their logit or log scale): a level's population mean's sd, and
#: the spreads between groups and between plates (see :func:`level_scales`).
LOGIT_LEVEL_SD = 2.5
LINK_SPREAD_SD = 1.0


def level_scales(link: str, R: float) -> dict:
    """The scales of the level priors on a levels' scale whose data range is ``R``: ``mu_sd`` (a level's population
    mean, one curve's value), ``sd`` (its spread between groups) and ``plate_sd``.

    Identity (Normal, Student-t): ``R``, ``R / 2``, ``R / 2``, the 4PL rule (:data:`DEFAULT_PRIOR_RULE`).

    Logit (binomial, Beta): ``min(R, 2.5)``, ``min(R / 2, 1)``, ``min(R / 2, 1)``. ``R`` is the range of the cells'
    empirical logits, which for cells at 0 of ``N`` or ``N`` of ``N`` is about ``2 log(2N + 1)``: it grows with the
    trials, and with the uncapped rule (``Normal(0, 11.5)`` at 160 trials per cell) 69% of a level's prior lay below
    0.01 or above 0.99. ``Normal(c, 2.5)`` (rstanarm's scale for logistic coefficients) puts 94% of a level within
    ``c +- 4.7`` on the logit scale: for ``c = 0`` 93% of the prior on the probability lies between 0.01 and 0.99
    and 76% between 0.05 and 0.95. A spread of ``HalfNormal(1)`` lets groups (or plates) differ from the population
    by up to about 2 on the logit scale (94% of it lies below 1.9: odds ratios up to 7).

    Log (counts): ``min(R, max(R / 2, 2.5))``, ``min(R / 2, 1)``, ``min(R / 2, 1)``. ``R`` is the range of the cells'
    log mean counts, a real range (counts of 0 enter as ``log(0.5 / n)``), but ``Normal(c, R)`` on the log scale
    spreads a level over ``exp(c +- 1.88 R)``: for counts from 0 to 200 from ``1e-6`` to ``1e6`` times the middle.
    With ``R / 2`` the data's whole log range lies within one sd of ``c``, and the floor of 2.5 keeps at least a
    factor of 110 (``exp(4.7)``) on either side of ``exp(c)`` at 94%; groups and plates differ by a factor of about
    7 or less (``exp(1.9)``).
    """
    if link == "identity":
        return {"mu_sd": R, "sd": R / 2, "plate_sd": R / 2}
    if link == "logit":
        mu_sd = min(R, LOGIT_LEVEL_SD)
    elif link == "log":
        mu_sd = min(R, max(R / 2, LOGIT_LEVEL_SD))
    else:
        raise ValueError(f"link must be 'identity', 'logit' or 'log', got {link!r}")
    spread = min(R / 2, LINK_SPREAD_SD)
    return {"mu_sd": mu_sd, "sd": spread, "plate_sd": spread}


def family_priors(family, lik, group_idx, log_conc, y, trials=None) -> DoseResponsePriors:
    """The default priors of a model, scaled from its rows (arrays as :func:`prepare_grouped` makes them).

    Levels: ``Normal(c, R)`` population mean, ``HalfNormal(R / 2)`` spread, where ``c`` and ``R`` are the midpoint
    and range of the response on the levels' scale: the rows' values (Normal, Student-t; :data:`DEFAULT_PRIOR_RULE`),
    or each (group, dose) cell's empirical logit or log (:func:`~recipes_utils.dose_response.likelihoods.
    empirical_levels`), with the scales capped on those scales (:func:`level_scales`: under a logit ``Normal(c,
    min(R, 2.5))`` and ``HalfNormal(min(R / 2, 1))``, so that for ``c = 0`` 93% of a level's prior probability lies
    between 0.01 and 0.99). The location ``Normal(m, w / 2)``, spread ``HalfNormal(w / 2)`` (``m``, ``w``: midpoint
    and width of the tested log doses); the shapes as :func:`~recipes_utils.dose_response.families.family_prior_rule`
    lists them; bc5's ``log_span ~ Normal(log R, 1)``, spread ``HalfNormal(0.5)``. Noise: ``sigma ~ HalfNormal(sd of
    the response)``; ``dispersion ~ HalfNormal(1)``; plates ``HalfNormal(R / 2)`` (logit, log: ``min(R / 2, 1)``).
    For the 4PL with Normal noise these are exactly :func:`default_priors`'s numbers.
    """
    from recipes_utils.dose_response.likelihoods import empirical_levels

    levels = empirical_levels(lik, group_idx, log_conc, y, trials)
    k = _scales(log_conc, levels)
    scale = level_scales(lik.link, k["R"])
    params = {lik.level_name(level): ParameterPrior(k["c"], scale["mu_sd"], scale["sd"]) for level in
              family.free_levels}  # fmt: skip
    if family.direction:  # bc5: the size of the drop (or rise) from top to bottom, on the levels' scale
        params["log_span"] = ParameterPrior(float(np.log(k["R"])), 1.0, 0.5)
    params[family.location] = ParameterPrior(k["m"], k["w"] / 2, k["w"] / 2)
    for s in family.shapes:
        params[s.free] = ParameterPrior(s.mu, s.mu_sd, s.sd)
    order = free_curve_params(family, lik)
    params = {name: params[name] for name in order}
    identity = lik.link == "identity"
    return DoseResponsePriors(
        params, sigma=k["s"] if identity else None,
        dispersion=1.0 if lik.name in ("negative_binomial", "beta") else None, plate_sd=scale["plate_sd"],
    )  # fmt: skip


def default_dose_response_priors(
    data: pd.DataFrame, *, curve="ll4", likelihood: str = "normal", trials: str | None = None, group=None, **columns
) -> DoseResponsePriors:
    """The default priors of ``dose_response_model`` (``group=None``) or ``hierarchical_dose_response`` (``group``
    a column) for this table, curve family and likelihood, by the rule of :func:`family_priors`.

    ``columns`` are the column arguments of the builder (``response``, ``concentration`` or ``log_concentration``,
    ``zero_is_control``, ``shared_controls``), which checks the table first.
    """
    from recipes_utils.dose_response.families import resolve_family
    from recipes_utils.dose_response.likelihoods import check_observations, response_family

    lik = response_family(likelihood)
    if group is None:
        data = data.assign(__curve__=0)
        group = "__curve__"
    prepared = prepare_grouped(data, group=group, trials=trials, min_points=1, **columns)
    check_observations(lik, prepared.response, prepared.trials, response=columns.get("response", "response"),
                       trials_name=trials)  # fmt: skip
    level = prepared.response if prepared.trials is None else prepared.response / prepared.trials
    family = resolve_family(curve, prepared.log_conc, level)
    return family_priors(family, lik, prepared.group_idx, prepared.log_conc, prepared.response, prepared.trials)
