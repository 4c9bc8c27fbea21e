"""The many-curve builder (:func:`hierarchical_dose_response`, with the 4PL and Normal noise as defaults also
:func:`hierarchical_four_pl`).

The model, for observation ``i`` in group ``g[i]`` at log concentration ``x[i]``::

    response[i] ~ Likelihood(curve(x[i]; bottom[g], top[g], location[g], shapes[g]), noise)
    theta[g]    ~ Normal(theta_mu, theta_sd)   for every free curve parameter theta (bottom, top, log_ec50, log_hill)

with priors on the population means and spreads given by :class:`DoseResponsePriors` (or, for the 4PL with Normal
or Student-t noise, :class:`FourPLPriors`; by default scaled from the data). The curve families are those of
:mod:`~recipes_utils.dose_response.families`, the likelihoods those of
:mod:`~recipes_utils.dose_response.likelihoods`; bounded responses put the levels on the logit or log scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recipes_utils.dose_response.basis import _CURVE_BLOCK, _affine_curve_transform, curve_preconditioner
from recipes_utils.dose_response.families import curve_family, resolve_family
from recipes_utils.dose_response.likelihoods import (
    _student_t,
    check_observations,
    count_cells,
    link_mean,
    log_choose,
    noise_variables,
    observe,
    response_family,
)
from recipes_utils.dose_response.parameterization import (
    AUTO_MIN_GROUPS,
    AUTO_MIN_POINTS,
    _zero_sum_normal,
    auto_parameterization,
    resolve_parameterization,
)
from recipes_utils.dose_response.priors import FourPLPriors, as_dose_response_priors, family_priors
from recipes_utils.dose_response.spec import ModelSpec, attach_spec, check_identifiable, check_zero_level, dose_range
from recipes_utils.dose_response.table import curve_points, prepare_grouped, replicate_cells

__all__ = ["AUTO_MIN_GROUPS", "AUTO_MIN_POINTS", "CURVE_PARAMS", "_zero_sum_normal", "auto_parameterization"]

#: The four per-group curve parameters of the 4PL, as named in the model (``hill`` is ``exp(log_hill)``).
CURVE_PARAMS = ("bottom", "top", "log_ec50", "hill")

_GROUP_PARAMS = ("bottom", "top", "log_ec50", "log_hill")


def n_curve_params(curve) -> int:
    """The number of curve parameters of ``curve`` (a name or a family), before the data choose ll3's direction."""
    if isinstance(curve, str) and curve.lower() == "ll3":
        return 3
    return curve_family(curve).n_params


def hierarchical_dose_response(
    data: pd.DataFrame,
    *,
    priors=None,
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
    curve="ll4",
    trials: str | None = None,
):
    """A hierarchical dose-response model (one curve per group) as a PyMC model, from a tidy table (one row per
    measurement). ``hierarchical_four_pl`` is this function: its defaults are the 4PL with Normal noise.

    Parameters
    ----------
    data, group, response, concentration, log_concentration, zero_is_control, shared_controls
        The table and the names of its columns; see :func:`prepare_grouped` for the checks.
    curve
        The curve family (:func:`~recipes_utils.dose_response.curve_family`): ``"ll4"`` (the default), ``"ll3"``,
        ``"ll5"``, ``"w1"``, ``"w2"``, ``"bc5"`` or ``"nec"``, or a ``CurveFamily``. Every group gets the same family;
        ``"ll3"`` fixes the lower limit at 0 on the side the data show (:func:`data_direction`: falling,
        ``bottom = 0``; rising, ``top = 0``). A family with more parameters than the table has distinct doses is
        refused. Each group needs at least as many rows as the family has parameters.
    likelihood, trials
        The response family (:mod:`~recipes_utils.dose_response.likelihoods`): ``"normal"`` (the default),
        ``"student_t"``, ``"binomial"`` (``response`` counts the successes of the column ``trials``), ``"poisson"``,
        ``"negative_binomial"`` or ``"beta"`` (proportions strictly inside (0, 1)). Student-t noise has its degrees
        of freedom ``nu`` estimated (``nu ~ Gamma(2, 0.1)``, brms's default), which lets a few outlying measurements
        sit in its tails instead of pulling the curves; its density is PyMC's ``StudentT``'s, written with one
        ``log`` per row where PyMC takes a ``log1p`` (:func:`student_t_logp`: 4.8 against 7.9 ms per gradient at
        400,000 rows); forward draws are ``pm.StudentT``'s. Under binomial and Beta the levels ``top`` and
        ``bottom`` are ``sigmoid`` of free ``logit_top``, ``logit_bottom`` (their hierarchy on the logit scale), under
        the count likelihoods ``exp`` of ``log_top``, ``log_bottom``.
    priors
        A :class:`DoseResponsePriors` (keyed by the free parameters), for the 4PL with Normal or Student-t noise also
        a :class:`FourPLPriors`, or ``None`` (the default) for weakly informative priors scaled from the table
        (:func:`family_priors`; for the 4PL with Normal noise :func:`default_priors`'s numbers).
    parameterization
        How the groups' values of each free curve parameter (for the 4PL ``bottom``, ``top``, ``log_ec50``,
        ``log_hill``) relate to the population:

        - ``"centered"``: ``top[g] ~ Normal(top_mu, top_sd)`` directly; suits many data-rich groups.
        - ``"noncentered"``: ``top[g] = top_mu + top_sd * top_z[g]`` with ``top_z ~ Normal(0, 1)``; suits sparse
          groups or few groups, where the centred form makes a funnel NUTS cannot explore (divergences).
        - ``"shared"``: one value for every group (``top[g] = top_mu``, no spread), as drc's models that share a
          limit between curves; required for ``top`` with ``shared_controls``.
        - ``"auto"`` (the default): :func:`auto_parameterization`'s rule.
        - ``"decorrelated"`` (the 4PL with Normal or Student-t noise only): the centred model, with each curve's four
          values (bottom, top, log_ec50, log_hill) one row of a variable ``curve`` (dims ``group``, ``curve_param``)
          that NUTS moves in a basis fitted to the data: ``curve[g] = center[g] + chol[g] @ z[g]``, with ``center``
          and ``chol`` each curve's mode and Cholesky factor of its covariance from :func:`curve_preconditioner`. A
          fixed linear change of variables (constant Jacobian), so the posterior is exactly the centred one; it
          removes the within-curve correlations (log EC50 with top and bottom, Hill slope with the asymptotes) that a
          diagonal mass matrix cannot, so each draw needs fewer leapfrog steps. Suits data-rich curves; the basis is
          fitted once, to the data the model is built with (after ``pm.set_data`` the posterior stays right, the
          basis may fit less well).

        A dict such as ``{"top": "shared"}`` chooses per parameter (a level or a shape may be named by its natural
        name, ``"top"`` for ``"logit_top"``, ``"hill"`` for ``"log_hill"``); the ones left out follow the rule.
    aggregate
        One likelihood term per (group, concentration) cell instead of per measurement, where that is exact (the
        same posterior; the log density equal to the per-row one): Normal noise through the cell means and counts
        plus the within-cell sum of squares (:func:`replicate_cells`; observed ``response_mean``); binomial through
        the summed successes and trials, Poisson through the summed counts with mean ``n * mu`` (observed
        ``response_total``). A ``pm.Potential`` named ``within_cell`` carries the rest of the density (for the counts a
        constant). The binomial cells take their ``log C(N, Y)`` precomputed (``cell_log_coef``), which halved the
        time of a 3,000-curve fit, from 677 to 332 s (``benchmarks/binomial_scale.py``). Both constants belong to the
        data the model is built with: new data need a new model. :func:`log_likelihood` and
        :func:`posterior_predictive` expand the cells back to one value per measurement. No exact aggregation exists
        for Student-t or the negative binomial (refused); Beta's (the sums of ``log y`` and ``log(1 - y)``) is not
        written here (refused).
    batch_size
        Fit on minibatches of rows (or of cells, with ``aggregate``) for ADVI: one ``pm.Minibatch`` call
        draws matching rows of every array and the likelihood is scaled with ``total_size``. NUTS needs
        the full data; leave it ``None``. The arrays are ``pm.Data`` containers (``log_conc``, ``group_idx``, ``y``,
        ``trials``, ``plate_idx``; with ``aggregate`` the ``cell_*`` ones; with ``curve_at="points"`` the points'
        below), so one compiled model can take new data, and the compiled code does not embed the data (Numba's
        disk cache skips code that embeds an array of over 1 MB).
    plate
        The column naming each measurement's plate (batch): adds an offset per plate,
        ``plate_effect ~ ZeroSumNormal(plate_sd)`` (zero-sum, so it cannot trade places with the curves' levels;
        ``plate_sd ~ HalfNormal(priors.plate_sd)``), to the mean (Normal, Student-t) or to its logit or log (the
        other likelihoods; the curve's logit or log computed in logs from the levels' own scale,
        :func:`~recipes_utils.dose_response.likelihoods.link_mean`, and the binomial given that logit, so a level of
        ``sigmoid(38)``, 1.0 in floating point, keeps a finite density and gradient). A per-measurement covariate: not
        with ``aggregate``.
    curve_at
        Where the per-measurement model (full data, not ``aggregate``, no ``batch_size``) evaluates the curve:
        ``"rows"`` (the default), once per measurement; ``"points"``, once per distinct (group, log concentration)
        point (:func:`curve_points`), the values indexed out to the rows before the plate offsets and the
        likelihood. The same density, summed in another order: replicates and plates repeat each dose many times, so
        the gradient is far cheaper (at 400,000 rows on 24,000 points, 2.2 against 15.4 ms with Normal noise,
        ``benchmarks/plate_gradient.py``). The containers are then ``point_group_idx``, ``point_log_conc``,
        ``point_of_row``, ``y`` (and ``trials``, ``plate_idx``): new responses for the same design go in with
        ``pm.set_data({"y": ...})``, a new design needs a new model. The default stays ``"rows"`` because the stored
        results of the other recipes (the approximations recipe's simulation-based calibration ranks among them)
        were computed that way, and a last-bit change moves an optimiser's or a sampler's path.

    Returns
    -------
    pymc.Model
        With coords ``group`` (the labels, sorted), population variables ``<name>_mu`` and ``<name>_sd`` (no
        ``_sd`` for a shared parameter) of each free curve parameter, group variables of the free parameters and of
        the natural ones (``bottom``, ``top``, ``log_ec50``, ``log_hill`` and ``hill`` for the 4PL; dims ``group``),
        and the likelihood's noise (``sigma``; ``sigma`` and ``nu``; ``dispersion`` with ``alpha`` or ``kappa``;
        none). :func:`~recipes_utils.dose_response.model_spec` reads how it was built.
    """
    import pymc as pm
    import pytensor.tensor as pt

    lik = response_family(likelihood)
    columns_kw = {
        "group": group, "response": response, "concentration": concentration,
        "log_concentration": log_concentration, "zero_is_control": zero_is_control,
        "shared_controls": shared_controls,
    }  # fmt: skip
    prepared = prepare_grouped(data, **columns_kw, trials=trials, min_points=n_curve_params(curve))
    check_observations(lik, prepared.response, prepared.trials, response=response, trials_name=trials)
    if lik.counts:  # whole numbers, checked: PyMC's discrete distributions take them as integers
        prepared = prepared._replace(
            response=prepared.response.astype("int64"),
            trials=None if prepared.trials is None else prepared.trials.astype("int64"),
        )
    level = prepared.response if prepared.trials is None else prepared.response / prepared.trials
    family = resolve_family(curve, prepared.log_conc, level)
    check_identifiable(family, prepared.log_conc, "the table has")
    check_zero_level(family, lik, prepared.log_conc, prepared.response)
    names = family.free_params(lik)
    if priors is None:
        priors = family_priors(family, lik, prepared.group_idx, prepared.log_conc, prepared.response, prepared.trials)
    elif isinstance(priors, FourPLPriors) and (family.name != "ll4" or lik.link != "identity"):
        raise TypeError(f"FourPLPriors are the 4PL's with Normal or Student-t noise; curve={family.name!r} with "
                        f"likelihood={lik.name!r} needs a DoseResponsePriors with {list(names)}")  # fmt: skip
    given_priors = priors
    priors = as_dose_response_priors(priors)
    priors.check_for(names, lik.name, hierarchical=True)
    decorrelated = isinstance(parameterization, str) and parameterization == "decorrelated"
    if decorrelated:
        if family.name != "ll4" or lik.link != "identity":
            raise ValueError(
                "parameterization='decorrelated' is written for the 4PL with Normal or Student-t noise (its basis is a "
                f"least-squares fit of that curve), not curve={family.name!r} with likelihood={lik.name!r}: use "
                "'centered', 'noncentered' or 'auto'"
            )
        if prepared.shared_control.any():
            raise ValueError(
                "parameterization='decorrelated' gives every group its own four curve parameters, but shared controls "
                "need one top for all groups: use parameterization={'top': 'shared'} instead"
            )
        forms = dict.fromkeys(names, "centered")
    else:
        aliases = {lv: lik.level_name(lv) for lv in family.free_levels} | {s.name: s.free for s in family.shapes}
        aliases["span"] = "log_span"
        forms = resolve_parameterization(parameterization, prepared, names, aliases)
    if curve_at not in ("rows", "points"):
        raise ValueError(f"curve_at must be 'rows' or 'points', got {curve_at!r}")
    if curve_at == "points" and (aggregate or batch_size is not None):
        raise ValueError(
            "curve_at='points' is for the full per-measurement model: aggregate=True already evaluates each curve once "
            "per cell, and minibatches draw rows, not points"
        )
    if aggregate and lik.link == "identity" and (plate is not None or lik.name != "normal"):
        raise ValueError(
            "aggregate=True needs Normal noise and one mean per (group, concentration) cell: not with plate effects or "
            "a Student-t likelihood, which make every measurement count on its own; use aggregate=False"
        )
    if aggregate and not lik.aggregates:
        raise ValueError(f"aggregate=True sums each cell exactly for normal, binomial and poisson; likelihood="
                         f"{lik.name!r} has no exact aggregation here: use aggregate=False")  # fmt: skip
    if aggregate and plate is not None:
        raise ValueError("aggregate=True sums each (group, concentration) cell: not with plate effects, which make "
                         "every measurement count on its own; use aggregate=False")  # fmt: skip
    plate_idx = plate_labels = None
    if plate is not None:
        plate_idx, plate_labels = _read_plates(data, plate)
        if priors.plate_sd is None:
            raise ValueError(
                "plate effects need a prior for their spread: priors with plate_sd=... (FourPLPriors or "
                "DoseResponsePriors)"
            )
    top_name = lik.level_name("top")
    if prepared.shared_control.any() and "top" in family.free_levels and forms[top_name] != "shared":
        raise ValueError(
            "shared controls measure the untreated response common to every group, so every curve must share its "
            "top: pass parameterization={'top': 'shared'} (the other parameters may vary by group)"
        )
    cells = None
    if aggregate and lik.name == "normal":
        cells = replicate_cells(prepared.group_idx, prepared.log_conc, prepared.response)
        columns = {
            "cell_group_idx": cells["group_idx"].to_numpy(),
            "cell_log_conc": cells["log_conc"].to_numpy(),
            "cell_mean": cells["mean"].to_numpy(),
            "cell_n": cells["n"].to_numpy(dtype=float),
        }
    elif aggregate:
        cells, constant = count_cells(lik, prepared.group_idx, prepared.log_conc, prepared.response, prepared.trials)
        columns = {
            "cell_group_idx": cells["group_idx"].to_numpy(),
            "cell_log_conc": cells["log_conc"].to_numpy(),
            "cell_total": cells["total"].to_numpy(dtype="int64"),
            "cell_n": cells["n"].to_numpy(dtype=float),
        }
        if lik.needs_trials:
            columns["cell_trials"] = cells["trials"].to_numpy(dtype="int64")
            columns["cell_log_coef"] = log_choose(cells["trials"], cells["total"])
    elif curve_at == "rows":
        columns = {"group_idx": prepared.group_idx, "log_conc": prepared.log_conc, "y": prepared.response}
    else:
        # The curve is evaluated once per distinct (group, log concentration) point and indexed out to the rows
        # (see ``curve_points``): the same density as one curve value per row, with the exp/power work and its
        # gradient on the points instead of the rows (24,000 points for 400,000 rows at the plates benchmark's size)
        point_group, point_log_conc, point_of_row = curve_points(prepared.group_idx, prepared.log_conc)
        columns = {"point_group_idx": point_group, "point_log_conc": point_log_conc, "point_of_row": point_of_row,
                   "y": prepared.response}  # fmt: skip
    if not aggregate:
        if prepared.trials is not None:
            columns["trials"] = prepared.trials
        if plate_idx is not None:
            columns["plate_idx"] = plate_idx
    n_rows = len(columns["cell_group_idx"] if aggregate else columns["y"])
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
        free = _group_parameters(priors, names, forms, decorrelated, prepared, given_priors)
        natural = {family.location: free[family.location]}
        on_scale = family.levels_on_scale(free, lik)  # each level on the likelihood's level scale
        for level in family.levels:
            if lik.link == "identity" and level in family.free_levels:
                natural[level] = on_scale[level]
            else:
                natural[level] = pm.Deterministic(level, lik.to_response(on_scale[level]), dims="group")
        for s in family.shapes:
            natural[s.name] = pm.Deterministic(s.name, s.natural(free[s.free]), dims="group")
        noise = noise_variables(lik, priors, include_nu=False)

        if batch_size is not None:
            # pm.Data, not constants, under the minibatch: Numba does not cache a function that embeds an array of
            # over 1 MB, so with constants every run compiled the ADVI step function afresh
            shared = [pm.Data(name, values) for name, values in columns.items()]
            col = dict(zip(columns, pm.Minibatch(*shared, batch_size=int(batch_size))))
        else:
            col = {name: pm.Data(name, values) for name, values in columns.items()}
        prefix = "cell_" if aggregate else "point_" if "point_of_row" in col else ""
        g = col[f"{prefix}group_idx"]
        x_obs = col[f"{prefix}log_conc"]
        at_obs = {name: value[g] for name, value in natural.items()}
        eta = None  # the mean on the link scale (logit or log), where the model needs it
        if _link_curve(family, lik):  # bc5 under a bounded likelihood: the curve on the link scale
            at_obs.update({lv: on_scale[lv][g] for lv in family.levels})
            eta = family.curve(x_obs, at_obs)
            mu_obs = lik.to_response(eta)
        else:
            mu_obs = family.curve(x_obs, at_obs)
            if plate_idx is not None and lik.link != "identity":
                # the plate offsets act on the curve's logit or log: computed in logs from the levels' own scale
                # (link_mean), not as log(mu) - log1p(-mu), which is inf (and its gradient NaN) where a level of
                # sigmoid(38) rounds to 1
                log_s, log_1m_s = family.log_shape_at(x_obs, at_obs[family.location],
                                                      {sh.name: at_obs[sh.name] for sh in family.shapes})  # fmt: skip
                eta = link_mean(lik, {lv: v[g] for lv, v in on_scale.items()}, log_s, log_1m_s)
        if "point_of_row" in col:
            mu_obs = mu_obs[col["point_of_row"]]
            eta = None if eta is None else eta[col["point_of_row"]]
        if plate_idx is not None:
            plate_sd = pm.HalfNormal("plate_sd", sigma=priors.plate_sd)
            plate_effect = _zero_sum_normal("plate_effect", plate_sd, dims="plate")
            offset = plate_effect[col["plate_idx"]]
            if lik.link == "identity":
                mu_obs = mu_obs + offset
            else:
                eta = eta + offset
                mu_obs = lik.to_response(eta)
        total_size = n_rows if batch_size is not None else None
        if aggregate and lik.name == "normal":
            _normal_cells(col, mu_obs, noise["sigma"], cells, prepared, total_size, batch_size)
        elif aggregate:
            mean = mu_obs * col["cell_n"] if lik.name == "poisson" else mu_obs
            observe(lik, "response_total", mean, noise, col["cell_total"], trials=col.get("cell_trials"), eta=eta,
                    log_coef=col.get("cell_log_coef"), total_size=total_size)  # fmt: skip
            if batch_size is None:
                _measurement_data(prepared)
            pm.Potential("within_cell", pt.constant(constant))
        elif lik.name == "student_t":
            nu = pm.Gamma("nu", alpha=2.0, beta=0.1)
            _student_t("response", nu, mu_obs, noise["sigma"], observed=col["y"], total_size=total_size)
        else:
            observe(lik, "response", mu_obs, noise, col["y"], trials=col.get("trials"), eta=eta, total_size=total_size)
    options = {**columns_kw, "aggregate": aggregate, "batch_size": batch_size, "plate": plate,
               "curve_at": curve_at, "trials": trials}  # fmt: skip
    spec = ModelSpec(
        "hierarchical", family, lik, priors, list(prepared.groups),
        dose_range(prepared.group_idx, prepared.log_conc, len(prepared.groups), prepared.shared_control),
        forms=None if decorrelated else forms, options=options,
    )  # fmt: skip
    return attach_spec(model, spec)


#: The 4PL name of :func:`hierarchical_dose_response`: the same function, whose defaults are the 4PL
#: (``curve="ll4"``) with Normal noise.
hierarchical_four_pl = hierarchical_dose_response


def _link_curve(family, lik) -> bool:
    return not family.monotone and lik.link != "identity"


def _read_plates(data, plate):
    if plate not in data.columns:
        raise ValueError(f"data lacks the plate column {plate!r}; it has {list(data.columns)}")
    if (data.columns == plate).sum() > 1:
        raise ValueError(f"data has more than one column named {plate!r}: rename them so one name means one column")
    if data[plate].isna().any():
        raise ValueError(f"column {plate!r} has {int(data[plate].isna().sum())} missing plate label(s)")
    codes, labels = pd.factorize(data[plate], sort=True)
    if len(labels) < 2:
        raise ValueError(f"column {plate!r} has a single plate: a plate effect needs at least two plates")
    return codes.astype("int64"), labels.tolist()


def _group_parameters(priors, names, forms, decorrelated, prepared, given_priors) -> dict:
    """The groups' free curve parameters (dims ``group``) with their population, in the current model."""
    import pymc as pm
    import pytensor.tensor as pt

    values = {}
    if decorrelated:
        mus, sds = [], []
        for name in _CURVE_BLOCK:
            p = priors.params[name]
            mus.append(pm.Normal(f"{name}_mu", mu=p.mu, sigma=p.mu_sd))
            sds.append(pm.HalfNormal(f"{name}_sd", sigma=p.sd))
        basis_priors = given_priors if isinstance(given_priors, FourPLPriors) else _as_four_pl(priors)
        center, chol = curve_preconditioner(prepared, basis_priors)
        curve = pm.Normal("curve", mu=pt.stack(mus), sigma=pt.stack(sds), dims=("group", "curve_param"),
                          transform=_affine_curve_transform(center, chol))  # fmt: skip
        for k, name in enumerate(_CURVE_BLOCK):
            values[name] = pm.Deterministic(name, curve[:, k], dims="group")
        return values
    n_groups = len(prepared.groups)
    for name in names:
        p = priors.params[name]
        mu = pm.Normal(f"{name}_mu", mu=p.mu, sigma=p.mu_sd)
        if forms[name] == "shared":
            values[name] = pm.Deterministic(name, pt.ones(n_groups) * mu, dims="group")
            continue
        sd = pm.HalfNormal(f"{name}_sd", sigma=p.sd)
        if forms[name] == "centered":
            values[name] = pm.Normal(name, mu=mu, sigma=sd, dims="group")
        else:
            z = pm.Normal(f"{name}_z", mu=0.0, sigma=1.0, dims="group")
            values[name] = pm.Deterministic(name, mu + sd * z, dims="group")
    return values


def _as_four_pl(priors) -> FourPLPriors:
    """The 4PL priors :func:`curve_preconditioner` reads, from a :class:`DoseResponsePriors` of the 4PL."""
    fields = {f"{n}_{k}": getattr(priors.params[n], a) for n in _GROUP_PARAMS
              for k, a in (("mu", "mu"), ("mu_sd", "mu_sd"), ("sd", "sd"))}  # fmt: skip
    return FourPLPriors(**fields, sigma=priors.sigma, plate_sd=priors.plate_sd)


def _normal_cells(col, mu_obs, sigma, cells, prepared, total_size, batch_size):
    """Normal noise on cell means: the cell means' likelihood plus the within-cell Potential (see ``aggregate``)."""
    import pymc as pm
    import pytensor.tensor as pt

    pm.Normal(
        "response_mean", mu=mu_obs, sigma=sigma / pt.sqrt(col["cell_n"]), observed=col["cell_mean"],
        total_size=total_size,
    )  # fmt: skip
    n_total = int(cells["n"].sum())
    within = {
        "within_dof": float(n_total - len(cells)),
        "within_ss": float(cells["ss"].sum()),
        "within_const": float(-0.5 * (n_total - len(cells)) * np.log(2 * np.pi) - 0.5 * np.log(cells["n"]).sum()),
    }
    if batch_size is None:
        within = {k: pm.Data(k, v) for k, v in within.items()}
        _measurement_data(prepared)
    pm.Potential(
        "within_cell",
        within["within_const"] - within["within_dof"] * pt.log(sigma) - within["within_ss"] / (2 * sigma**2),
    )


def _measurement_data(prepared):
    """Each measurement's cell and value, for expanding cell results back to measurements (not in logp): the cells
    are the curve's points, in the same order (sorted by group, then log concentration)."""
    import pymc as pm

    cell_of = curve_points(prepared.group_idx, prepared.log_conc)[2]
    pm.Data("measurement_cell", cell_of)
    pm.Data("measurement_y", prepared.response)
    if prepared.trials is not None:
        pm.Data("measurement_trials", prepared.trials)
