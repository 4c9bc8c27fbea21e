"""Which curve to believe: several curve families fitted to one data set, compared by PSIS-LOO, stacked, averaged.

:func:`compare_curves` builds one model per family (:func:`~recipes_utils.dose_response.dose_response_model`, or
:func:`~recipes_utils.dose_response.hierarchical_dose_response` with ``group=``), fits each with
:func:`~recipes_utils.dose_response.fit_curves`, computes each pointwise log-likelihood (one value per row of the
table) and compares them with ``az.loo`` and ``az.compare(..., method="stacking")`` (Yao, Vehtari, Simpson and Gelman
2018: the weights that maximise the leave-one-out predictive density of the weighted mixture).

Pareto k, read and acted on: PSIS-LOO's estimate of an observation's leave-one-out density is unreliable when the
Pareto shape ``k`` of its importance weights exceeds ArviZ's threshold ``min(1 - 1 / log10(S), 0.7)`` (``S`` draws;
Vehtari et al. 2024). For each family with such observations, if there are at most ``refit`` of them, their
leave-one-out densities are computed exactly: the model is refitted without the observation (same priors, same
parameterisation, same settings; ``az.reloo`` with a sampling wrapper) and the observation's density averaged over
the refit's posterior. With more than ``refit`` flagged observations the comparison keeps the PSIS values but marks
that family's LOO unreliable (``table["loo_reliable"]``) and names the flagged rows, in ``pareto`` and ``notes``:
many high ``k`` usually mean a misspecified family (a curve that cannot follow the data), which refits would not
mend. A family whose fit fails (its convergence check, or it cannot even start: a sampling error) is left out of
the comparison, with the reason in ``failed``; a refit that fails leaves that family's PSIS values in place, marked
unreliable, with the reason in ``notes`` and ``pareto``.

Model averaging (:meth:`CurveComparison.ecx_table`): the stacked posterior of an ECx is the mixture of the families'
posteriors with the stacking weights, drawn as ``round(weight * S)`` draws from each family's (``S`` the smallest
number of draws of a fit), without replacement. A mixture only means something when every family's draws are of the
same quantity: the relative ECx (``kind="relative"``, the default for backwards compatibility) is measured from each
family's own lower limit, so an LL.4 that levels off at 20% and a Weibull that falls to 0 put their EC50s at
different response levels, and the stacked relative EC50 mixes the two. ``kind="control"`` (``x`` % below the
control level, towards 0), ``"extra_risk"`` (binomial) and ``"absolute"`` (a response level) are common to all
families: average those (see :mod:`~recipes_utils.dose_response.ecx`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recipes_utils.dose_response.ecx import ecx_draws, ecx_table, summarize_ecx
from recipes_utils.dose_response.spec import model_spec


@dataclass
class CurveComparison:
    """What :func:`compare_curves` returns."""

    models: dict  # family name -> the PyMC model
    fits: dict  # family name -> CurveFit (the kept fit), for every family fitted
    loo: dict  # family name -> az.ELPDData (with exact leave-one-out values where rows were refitted)
    table: pd.DataFrame  # az.compare's table (stacking weights in "weight") with n_high_k, refitted, loo_reliable
    pareto: pd.DataFrame  # per family: threshold, n_high_k, flagged rows, refitted, action taken
    failed: dict = field(default_factory=dict)  # family name -> why it was left out
    notes: list = field(default_factory=list)  # what a reader must know about the comparison

    @property
    def weights(self) -> pd.Series:
        """The stacking weights, by family."""
        return self.table["weight"]

    @property
    def reliable(self) -> bool:
        """Whether every compared family's LOO is reliable (no flagged observation left unrefitted)."""
        return bool(self.table["loo_reliable"].all())

    def ecx_draws(self, x=(10, 50), *, kind: str = "relative", level=None, seed: int = 0):
        """The model-averaged ECx draws (chain 0, draw, group, effect): each family's draws in proportion to its
        stacking weight (see the module docs)."""
        import xarray as xr

        rng = np.random.default_rng(seed)
        per_family = {name: ecx_draws(self.models[name], self.fits[name].idata, x, kind=kind, level=level)
                      for name in self.table.index}  # fmt: skip
        flat = {n: d.stack(sample=("chain", "draw")).transpose("sample", "group", "effect") for n, d in
                per_family.items()}  # fmt: skip
        total = min(d.sizes["sample"] for d in flat.values())
        counts = _allocate(self.weights.reindex(list(flat)).to_numpy(), total)
        parts = [d.isel(sample=rng.choice(d.sizes["sample"], size=c, replace=False)).drop_vars(
                 ["sample", "chain", "draw"]) for d, c in zip(flat.values(), counts) if c]  # fmt: skip
        stacked = xr.concat(parts, dim="sample").rename(sample="draw").expand_dims(chain=[0])
        stacked = stacked.assign_coords(draw=np.arange(stacked.sizes["draw"]))
        return stacked.transpose("chain", "draw", "group", "effect")

    def ecx_table(self, x=(10, 50), *, kind: str = "relative", level=None, prob: float = 0.94, seed: int = 0):
        """ECx per family and model-averaged, as one tidy table: :func:`~recipes_utils.dose_response.ecx_table`'s
        rows for each compared family, with columns ``curve`` and ``weight``, then the stacked rows (``curve`` is
        ``"stacked"``, weight 1). A family's ``nec`` columns are left out (only some families have one).

        ``kind`` is :func:`~recipes_utils.dose_response.ecx_table`'s, for the families' rows and the stacked ones
        alike, and the table says which it used (its ``kind`` column and ``table.attrs["kind"]``). The default,
        ``"relative"``, is measured from each family's own lower limit, so its stacked rows mix different
        quantities where the families' limits differ (``table.attrs["note"]`` says so): for the averaged ECx use
        ``kind="control"`` (or ``"extra_risk"`` for a binomial response, or ``"absolute"``), the same quantity in
        every family."""
        rows = []
        for name in self.table.index:
            t = ecx_table(self.models[name], self.fits[name].idata, x, kind=kind, level=level, prob=prob)
            rows.append(t.drop(columns=[c for c in t.columns if c.startswith("nec")]).assign(
                curve=name, weight=float(self.weights[name])))  # fmt: skip
        first = self.models[self.table.index[0]]
        stacked = summarize_ecx(self.ecx_draws(x, kind=kind, level=level, seed=seed), model_spec(first).dose_range,
                                prob, kind)  # fmt: skip
        rows.append(stacked.assign(curve="stacked", weight=1.0))
        table = pd.concat(rows, ignore_index=True)
        table = table[["curve", "weight", *[c for c in table.columns if c not in ("curve", "weight")]]]
        table.attrs["prob"] = prob
        table.attrs["kind"] = kind
        if kind == "relative":
            table.attrs["note"] = (
                "relative ECx are measured from each family's own lower limit: the stacked rows mix different "
                "quantities where the limits differ; kind='control' is the same quantity in every family"
            )
        return table


def _allocate(weights, total: int) -> np.ndarray:
    """Whole numbers of draws in proportion to the weights, summing to ``total`` (largest remainders)."""
    weights = np.clip(np.asarray(weights, dtype=float), 0, None)
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts))[: total - counts.sum()]] += 1
    return counts


def _build(data, curve, group, likelihood, priors=None, parameterization=None, **columns):
    from recipes_utils.dose_response.hierarchical import hierarchical_dose_response
    from recipes_utils.dose_response.one_curve import dose_response_model

    if group is None:
        if parameterization is not None:
            raise ValueError("parameterization= is for the many-curve model (give group=)")
        return dose_response_model(data, curve=curve, likelihood=likelihood, priors=priors, **columns)
    extra = {} if parameterization is None else {"parameterization": parameterization}
    return hierarchical_dose_response(data, group=group, curve=curve, likelihood=likelihood, priors=priors,
                                      **extra, **columns)  # fmt: skip


def _loo_wrapper(model, data, group, columns, seed, fit_kwargs, idata):
    """An ``az.SamplingWrapper`` that refits ``model`` without one row of ``data`` (same family, priors and
    parameterisation) and reads that row's log-likelihood under the refit from the full model's graph."""
    import arviz as az

    from recipes_utils.dose_response.fit import fit_curves
    from recipes_utils.dose_response.predict import log_likelihood

    spec = model_spec(model)
    forms = spec.forms if spec.forms is not None else columns.get("parameterization")
    rest = {k: v for k, v in columns.items() if k != "parameterization"}

    class RefitWrapper(az.SamplingWrapper):
        def sel_observations(self, idx):
            i = int(np.ravel(idx)[0])
            return data.drop(index=data.index[i]), i

        def sample(self, modified_observed_data):
            refit = _build(modified_observed_data, spec.family, group, spec.likelihood.name, priors=spec.priors,
                           parameterization=forms if group is not None else None, **rest)  # fmt: skip
            # checked as the full fit is: a refit that fails its checks raises, and the family's LOO is then marked
            # unreliable (an unconverged refit would give a wrong elpd for that row)
            return fit_curves(refit, seed=seed, **fit_kwargs)

        def get_inference_data(self, fitted_model):
            return fitted_model.idata

        def log_likelihood__i(self, excluded_obs, idata__i):
            ll = log_likelihood(model, idata__i, extend=False)["response"]
            return ll.isel(measurement=excluded_obs)

    return RefitWrapper(model, idata_orig=idata)


def compare_curves(
    data: pd.DataFrame,
    curves=("ll4", "ll5", "w1", "w2", "bc5"),
    *,
    seed: int,
    likelihood: str = "normal",
    group: str | None = None,
    refit: int = 10,
    fit_kwargs: dict | None = None,
    **columns,
) -> CurveComparison:
    """Fit each curve family in ``curves`` to one table and compare them by PSIS-LOO (see the module docs).

    Parameters
    ----------
    data, likelihood, group, columns
        The table and how to read it: ``columns`` are the builders' column arguments (``concentration`` or
        ``log_concentration``, ``response``, ``trials``, ``zero_is_control``, ``shared_controls``, ...; with ``group``
        also ``parameterization``, ``aggregate``). ``group=None`` fits one curve per family
        (:func:`dose_response_model`), a column name one curve per group (:func:`hierarchical_dose_response`).
    curves
        The families to compare (names of :data:`CURVE_NAMES`, or ``CurveFamily`` objects). A family the data cannot
        identify (more parameters than doses) is left out, with the reason in ``failed``.
    seed, fit_kwargs
        :func:`fit_curves`'s seed and other settings (``chains``, ``draws``, ``tune``, ``check``, ...), the same for
        every family and every refit.
    refit
        The largest number of flagged observations (Pareto ``k`` above the threshold) per family whose leave-one-out
        density is computed exactly by refitting; above it the family's LOO is marked unreliable instead.

    Returns
    -------
    CurveComparison
        ``table`` (``az.compare``'s, ranked, with the stacking weights in ``weight``, plus ``n_high_k``,
        ``refitted`` and ``loo_reliable``), ``pareto`` (per family: the threshold, how many and which rows were
        flagged, what was done), ``weights``, ``models``, ``fits``, ``loo``, ``failed``, ``notes``, and
        :meth:`CurveComparison.ecx_table` for per-family and model-averaged ECx.
    """
    import arviz as az

    from recipes_utils.diagnostics import ConvergenceError
    from recipes_utils.dose_response.fit import fit_curves
    from recipes_utils.dose_response.predict import log_likelihood

    if isinstance(curves, str):
        curves = (curves,)
    if len(curves) < 2:
        raise ValueError(f"compare_curves compares two or more curve families, got {list(curves)}")
    if isinstance(refit, bool) or not isinstance(refit, int | np.integer) or refit < 0:
        raise ValueError(f"refit must be a whole number >= 0 (refits per family), got {refit!r}")
    fit_kwargs = dict(fit_kwargs or {})
    data = data.reset_index(drop=True)
    models, fits, loos, failed, notes, pareto = {}, {}, {}, {}, [], []
    for curve in curves:
        name = curve if isinstance(curve, str) else curve.name
        try:
            model = _build(data, curve, group, likelihood, **columns)
        except ValueError as err:
            failed[name] = f"not fitted: {err}"
            continue
        try:
            fit = fit_curves(model, seed=seed, **fit_kwargs)
        except ConvergenceError as err:
            failed[name] = f"left out, its fit did not converge: {err}"
            continue
        except TypeError:  # a wrong argument (fit_kwargs): the same for every family, the caller's to fix
            raise
        except Exception as err:  # noqa: BLE001 - a family that cannot start (SamplingError, ...) is left out
            failed[name] = f"left out, its fit failed ({type(err).__name__}): {err}"
            continue
        models[name], fits[name] = model, fit
        log_likelihood(model, fit.idata)
        loo = az.loo(fit.idata, pointwise=True)
        threshold = float(getattr(loo, "good_k", 0.7))
        k = np.asarray(loo.pareto_k)
        flagged = np.flatnonzero(k > threshold)
        action = "none needed"
        refitted = 0
        if 0 < len(flagged) <= refit:
            wrapper = _loo_wrapper(model, data, group, columns, seed, fit_kwargs, fit.idata)
            try:
                loo = az.reloo(wrapper, loo_orig=loo, k_thresh=threshold, verbose=False)
                refitted = len(flagged)
                action = f"exact leave-one-out by refitting for rows {flagged.tolist()}"
            except TypeError:
                raise
            except Exception as err:  # noqa: BLE001 - a row the model cannot do without, a refit that cannot start
                action = (f"none: a refit without one of rows {flagged.tolist()} failed "
                          f"({type(err).__name__}: {err})")  # fmt: skip
                notes.append(f"{name}: its LOO is unreliable; {action}")
        elif len(flagged) > refit:
            action = "none: too many to refit; this family's LOO is unreliable"
            notes.append(
                f"{name}: {len(flagged)} observation(s) have Pareto k above {threshold:.2f} (rows "
                f"{flagged[:10].tolist()}{' ...' if len(flagged) > 10 else ''}), more than refit={refit}: its PSIS-LOO "
                "is unreliable and its weight should not be trusted. Many high k usually mean a family that cannot "
                "follow the data; look at those rows"
            )
        loos[name] = loo
        pareto.append({"curve": name, "threshold": threshold, "n_high_k": len(flagged), "rows": flagged.tolist(),
                       "refitted": refitted, "action": action})  # fmt: skip
    for name, why in failed.items():
        notes.append(f"{name}: {why}")
    if len(loos) < 2:
        raise ValueError(f"fewer than two families could be compared: {failed}")
    table = az.compare(loos, method="stacking")
    pareto = pd.DataFrame(pareto).set_index("curve")
    table["n_high_k"] = pareto.loc[table.index, "n_high_k"].to_numpy()
    table["refitted"] = pareto.loc[table.index, "refitted"].to_numpy()
    table["loo_reliable"] = table["n_high_k"] == table["refitted"]
    return CurveComparison(models, fits, loos, table, pareto, failed, notes)
