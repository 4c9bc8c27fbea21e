"""The hierarchical 4PL builder (:func:`hierarchical_four_pl`) and its parameterisation rule
(:func:`auto_parameterization`).

The model, for observation ``i`` in group ``g[i]`` at log concentration ``x[i]``::

    response[i] ~ Normal(four_pl(x[i], bottom[g], top[g], log_ec50[g], hill[g]), sigma)
    bottom[g]   ~ Normal(bottom_mu, bottom_sd)        (likewise top and log_ec50)
    log(hill[g]) ~ Normal(log_hill_mu, log_hill_sd)

with priors on the population means and spreads given by :class:`FourPLPriors` (by default scaled from the
data: :func:`default_priors`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recipes_utils.dose_response.basis import _CURVE_BLOCK, _affine_curve_transform, curve_preconditioner
from recipes_utils.dose_response.likelihoods import _student_t
from recipes_utils.dose_response.priors import FourPLPriors, default_priors
from recipes_utils.dose_response.table import GroupedDoseResponse, curve_points, prepare_grouped, replicate_cells
from recipes_utils.models import four_pl

#: The four per-group curve parameters, as named in the model (``hill`` is ``exp(log_hill)``).
CURVE_PARAMS = ("bottom", "top", "log_ec50", "hill")


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
