"""What a fitted dose-response model predicts: pointwise log-likelihood for LOO, posterior predictive draws per
measurement, and curves at new doses for fitted or new groups, all from the model's own graph."""

from __future__ import annotations

import numpy as np

from recipes_utils.dose_response.likelihoods import observation, observe
from recipes_utils.dose_response.spec import attach_spec, model_spec


def _minibatched(model) -> bool:
    """Whether the model's observed data come through ``pm.Minibatch`` (``hierarchical_four_pl(batch_size=...)``)."""
    from pymc.data import MinibatchOp

    return any(isinstance(getattr(model.rvs_to_values[rv].owner, "op", None), MinibatchOp) for rv in model.observed_RVs)


def _without_potentials(model):
    """The within-cell Potential is part of the likelihood of sigma, already in the posterior draws; forward
    sampling from those draws does not use it (and PyMC would warn that it ignores it)."""
    model.potentials.clear()
    return model


def _natural(model, spec) -> dict:
    """The model's natural curve parameters (levels on the response scale, location, shapes), by name."""
    family = spec.family
    return {name: model[name] for name in (*family.levels, family.location, *(s.name for s in family.shapes))}


def _on_scale(model, spec) -> dict:
    """The levels on the likelihood's level scale, from the model's free level variables (``logit_top``,
    ``log_span``): a link-scale curve reads these, not the link of a level that rounded to 1."""
    family, lik = spec.family, spec.likelihood
    names = [*(lik.level_name(lv) for lv in family.free_levels), *(["log_span"] if family.direction else [])]
    return family.levels_on_scale({n: model[n] for n in names}, lik)


def _group_curve(model, log_conc, g):
    """The mean response at ``log_conc`` of groups ``g`` (arrays of the same length), from the model's own graph."""
    spec = model_spec(model)
    on_scale = {lv: v[g] for lv, v in _on_scale(model, spec).items()} if spec.link_curve else None
    return spec.mean(log_conc, {name: value[g] for name, value in _natural(model, spec).items()}, on_scale)


def _noise(model) -> dict:
    return {name: model[name] for name in ("sigma", "nu", "alpha", "kappa") if name in model.named_vars}


def _measurement_parts(m):
    """Each measurement's likelihood, mean, noise and trials in an aggregated model, from its row's cell, and the
    mean's logit for a link-scale curve (which the model's binomial reads, see ``observe``), else None."""
    spec = model_spec(m)
    c = m["measurement_cell"]
    log_conc, g = m["cell_log_conc"][c], m["cell_group_idx"][c]
    mu = _group_curve(m, log_conc, g)
    eta = None
    if spec.link_curve:
        params = {name: value[g] for name, value in _natural(m, spec).items()}
        params.update({lv: v[g] for lv, v in _on_scale(m, spec).items()})
        eta = spec.family.curve(log_conc, params)
    trials = m["measurement_trials"] if "measurement_trials" in m.named_vars else None
    return spec.likelihood, mu, _noise(m), trials, eta


def _clone(model):
    """``clone_model``, keeping the record of how the model was built."""
    from pymc.model.fgraph import clone_model

    return attach_spec(clone_model(model), model_spec(model))


def _per_row(model) -> bool:
    return "response" in {rv.name for rv in model.observed_RVs}


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

    For a per-measurement model (one curve, or many without ``aggregate``) this is ``pm.compute_log_likelihood``. For
    an aggregated model (``aggregate=True``) the cells are expanded back: each measurement ``y_i`` of cell ``c`` gets
    its own log density (``log Normal(y_i | mu_c, sigma)``, ``log Binomial(y_i | n_i, mu_c)``, ``log Poisson(y_i |
    mu_c)``) computed from the model's own graph, so LOO over it compares with LOO over the per-measurement model
    (the tests check that the two agree). Returns a Dataset with variable ``response`` and dims (chain, draw,
    measurement); with ``extend`` it also becomes ``idata.log_likelihood``.
    """
    import pymc as pm

    if _minibatched(model):
        raise ValueError("log_likelihood needs a model from hierarchical_four_pl without batch_size (a minibatch "
                         "model's likelihood sees a random batch of rows, not each measurement)")  # fmt: skip
    _require_free_variables(model, idata, "log_likelihood")
    if _per_row(model):
        out = pm.compute_log_likelihood(idata, model=model, var_names=["response"], extend_inferencedata=False,
                                        progressbar=False)  # fmt: skip
        ll = out.log_likelihood if hasattr(out, "log_likelihood") else out
        ll = ll[["response"]].rename({ll["response"].dims[-1]: "measurement"})
    elif "measurement_cell" in model.named_vars:
        m = _without_potentials(_clone(model))
        with m:
            lik, mu, noise, trials, eta = _measurement_parts(m)
            pm.Deterministic("response", pm.logp(observation(lik, mu, noise, trials, eta=eta), m["measurement_y"]))
            pp = pm.sample_posterior_predictive(idata, var_names=["response"], progressbar=False)
        ll = pp.posterior_predictive[["response"]]
        ll = ll.rename({ll["response"].dims[-1]: "measurement"})
    else:
        raise ValueError("log_likelihood needs a model from the dose-response builders (without batch_size)")
    if extend:
        if "log_likelihood" in idata:
            del idata["log_likelihood"]
        idata.add_groups(log_likelihood=ll)
    return ll


def posterior_predictive(model, idata, *, seed=None, extend: bool = True):
    """Posterior predictive draws, one per measurement, as ``response`` (dims chain, draw, measurement).

    For an aggregated model the replicate measurements are drawn individually from their own distribution
    (``Normal(mu_c, sigma)``, ``Binomial(n_i, mu_c)``, ``Poisson(mu_c)``; not the cell means or totals), from the
    model's own graph, so checks and plots look the same for both forms of the model.
    """
    import pymc as pm

    if _minibatched(model):
        raise ValueError("posterior_predictive needs a model from hierarchical_four_pl without batch_size")
    _require_free_variables(model, idata, "posterior_predictive")
    if _per_row(model):
        with model:
            pp = pm.sample_posterior_predictive(idata, var_names=["response"], random_seed=seed, progressbar=False)
    elif "measurement_cell" in model.named_vars:
        m = _without_potentials(_clone(model))
        with m:
            lik, mu, noise, trials, eta = _measurement_parts(m)
            observe(lik, "response", mu, noise, None, trials=trials, eta=eta)
            pp = pm.sample_posterior_predictive(idata, var_names=["response"], random_seed=seed, progressbar=False)
    else:
        raise ValueError("posterior_predictive needs a model from the dose-response builders without batch_size")
    draws = pp.posterior_predictive[["response"]]
    draws = draws.rename({draws["response"].dims[-1]: "measurement"})
    if extend:
        if "posterior_predictive" in idata:
            del idata["posterior_predictive"]
        idata.add_groups(posterior_predictive=draws)
    return draws


def predict_curves(model, idata, log_concentration, *, groups=None, new_groups: int = 0, seed=None):
    """Curves (the mean response) at new doses, from the model's own graph: for fitted groups, or for groups not
    yet measured. Any curve family and likelihood; a one-curve model's single curve is the group ``"curve"``.

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
    spec = model_spec(model)
    family, lik = spec.family, spec.likelihood
    one_curve = spec.kind == "one_curve"
    if one_curve and new_groups:
        raise ValueError("new_groups draws curves from a population: a one-curve model has none")
    labels = list(spec.groups)
    m = _clone(model)
    with m:
        grid = pm.Data("prediction_log_conc", x)
        if new_groups:
            free = {}
            for name in spec.free_params:
                if f"{name}_sd" in m.named_vars:
                    free[name] = pm.Normal(f"{name}_new", m[f"{name}_mu"], m[f"{name}_sd"], shape=int(new_groups))
                else:
                    free[name] = pt.ones(int(new_groups)) * m[f"{name}_mu"]
            params = {family.location: free[family.location]}
            on_scale = family.levels_on_scale(free, lik)
            params.update({lv: lik.to_response(v) for lv, v in on_scale.items()})
            params.update({s.name: s.natural(free[s.free]) for s in family.shapes})
            out_labels = [f"new {i}" for i in range(int(new_groups))]
        else:
            chosen = labels if groups is None else list(groups)
            unknown = [g for g in chosen if g not in labels]
            if unknown:
                raise ValueError(f"groups {unknown} were not fitted; the model's groups are {labels[:10]}...")
            idx = np.array([labels.index(g) for g in chosen])
            natural, on_scale = _natural(m, spec), _on_scale(m, spec)
            if one_curve:
                params = {n: pt.stack([v])[idx] for n, v in natural.items()}
                on_scale = {n: pt.stack([v])[idx] for n, v in on_scale.items()}
            else:
                params = {n: v[idx] for n, v in natural.items()}
                on_scale = {n: v[idx] for n, v in on_scale.items()}
            out_labels = chosen
        on_scale = {n: v[:, None] for n, v in on_scale.items()} if spec.link_curve else None
        curve = spec.mean(grid[None, :], {n: v[:, None] for n, v in params.items()}, on_scale)
        pm.Deterministic("curve", curve)
        pp = pm.sample_posterior_predictive(idata, var_names=["curve"], predictions=True, random_seed=seed,
                                            progressbar=False)  # fmt: skip
    out = pp.predictions["curve"]
    out = out.rename(dict(zip(out.dims[-2:], ("group", "dose"))))
    return out.assign_coords(group=out_labels, dose=x)
