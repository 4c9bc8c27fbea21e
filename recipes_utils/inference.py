"""One place for inference: NUTS with nutpie and ADVI with PyMC, run the way every recipe runs them.

Each function is the few lines a reader would write themselves (``nutpie.compile_pymc_model`` +
``nutpie.sample``; ``pm.fit`` with a convergence callback), plus what the notebooks report: wall time with
compilation, steps and convergence information. NUTS is here (:func:`sample_nuts`, :func:`sample_numpyro`); ADVI
(:func:`fit_advi`, its stopping rules, :class:`AdviFit`) is in :mod:`recipes_utils.advi`, and imports from here too.

Progress bars
    nutpie's and PyMC's own, shown when a person runs a notebook (JupyterLab, classic notebook, a terminal)
    and hidden in stored notebooks and test runs. One switch decides: the environment variable
    ``RECIPES_PROGRESS`` (``0``/``off`` hides them; unset or ``1``/``on`` shows them). ``make run``,
    ``make notebooks``, ``make reproducible`` and ``make test`` set it to ``0``; ``make lab`` leaves it unset.

Compile once
    Nothing here changes PyTensor's configuration: PyTensor's Numba disk cache stays on, so a second run of a
    notebook loads the compiled code instead of compiling it again; the functions here compile inside
    :func:`recipes_utils.compile_cache.cacheable_compiles`, without which PyTensor 2.38 builds some models' graphs
    differently in every process and cannot cache a Student-t model's gradient at all. nutpie's own C callbacks
    around it, which nutpie compiles afresh on every call, are cached too (:mod:`recipes_utils.nutpie_cache`). On
    top of that, :func:`sample_nuts` keeps the compiled sampler of every model it has seen in this Python process:
    re-running a notebook's model and sampling cells with an unchanged model reuses it instead of paying nutpie's
    compilation again, and a model that differs only in its ``pm.Data`` values (a new data set of the same shape of
    model) reuses it with the new data swapped in (nutpie's ``with_data``). (The disk cache and a fresh compile can
    differ in the last bits of a floating-point result, so draws from the same seed agree to Monte Carlo error, not
    bit for bit: see the README.)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

# ADVI, re-exported: every name importable from here before it had its own module still is
from recipes_utils.advi import (  # noqa: F401
    AdviFit,
    IterateAverage,
    _batched_logp,
    _inverse_softplus,
    _refine_advi,
    _start_full_rank_from,
    fit_advi,
    quiet_pymc,
)
from recipes_utils.compile_cache import cacheable_compiles
from recipes_utils.diagnostics import ELBOConvergence  # noqa: F401  (fit_advi's stopping rule, imported here before)

__all__ = ["PROGRESS_ENV", "AdviFit", "NutsFit", "fit_advi", "sample_numpyro", "sample_nuts", "show_progress"]

#: The environment variable that switches progress bars on (unset, ``1``, ``on``) or off (``0``, ``off``).
PROGRESS_ENV = "RECIPES_PROGRESS"
_ON, _OFF = ("", "1", "true", "on", "yes", "auto"), ("0", "false", "off", "no")
_COMPILED_CACHE_SIZE = 8


def show_progress() -> bool:
    """Whether fits show progress bars, from ``RECIPES_PROGRESS``.

    Raises
    ------
    ValueError
        For a value that is neither on (unset, ``1``, ``true``, ``on``, ``yes``) nor off (``0``, ``false``,
        ``off``, ``no``).
    """
    raw = os.environ.get(PROGRESS_ENV, "")
    value = raw.strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ValueError(f"{PROGRESS_ENV} must be 1/on or 0/off (or unset: on), got {raw!r}")


@dataclass
class NutsFit:
    """What :func:`sample_nuts` returns."""

    idata: object  # arviz.InferenceData with posterior, sample_stats (and warmup groups)
    seconds: float  # wall time, compilation included
    compile_seconds: float  # 0 when the compiled sampler was reused
    chains: int
    tune: int
    draws: int
    reused_compiled: bool = False

    @property
    def steps_per_draw(self) -> float:
        """Mean number of leapfrog steps per kept draw (gradient evaluations per draw)."""
        return float(self.idata.sample_stats["n_steps"].mean())

    @property
    def divergences(self) -> int:
        return int(np.asarray(self.idata.sample_stats["diverging"]).sum())

    @property
    def gradients(self) -> int:
        """Leapfrog steps (one log density gradient each) over tuning and kept draws, all chains (kept draws only
        when the fit carries no warm-up statistics: :func:`sample_numpyro`'s, and ``sample_nuts(...,
        save_warmup=False)``'s)."""
        total = float(self.idata.sample_stats["n_steps"].sum())
        if "warmup_sample_stats" in self.idata:
            total += float(self.idata.warmup_sample_stats["n_steps"].sum())
        return int(total)


_compiled_models: list[dict] = []  # {"structure", "values", "compiled"}, most recent last


def _fingerprint(model, backend: str):
    """What a compiled nutpie sampler depends on, in two parts.

    ``structure``: the log density and the stored deterministics as graphs over the value variables, with every shared
    variable (``pm.Data``) replaced by a placeholder of its name and type, plus the variables, their shapes, the
    coordinates and the initial values. ``values``: the current value of each shared variable. Two models with the same
    structure can share one compiled sampler, the data swapped in with nutpie's ``with_data``.
    """
    import hashlib

    import pytensor
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import ancestors

    outputs = [model.logp(), *model.replace_rvs_by_values(list(model.deterministics))]
    shared = sorted(
        (v for v in ancestors(outputs) if isinstance(v, SharedVariable)), key=lambda v: (str(v.name), id(v))
    )
    placeholders = [v.type(name=f"shared:{v.name}") for v in shared]
    if shared:
        outputs = graph_replace(outputs, dict(zip(shared, placeholders)), strict=False)
    value_vars = list(model.value_vars)
    shapes_fn = pytensor.function(
        value_vars, [o.shape for o in outputs[1:]], mode="FAST_COMPILE", on_unused_input="ignore",
        givens=list(zip(placeholders, shared)),
    )  # fmt: skip
    point = model.initial_point()
    shapes = tuple(tuple(int(n) for n in shp) for shp in shapes_fn(*[point[v.name] for v in value_vars]))
    structure = (
        outputs,
        value_vars + placeholders,
        (
            backend,
            tuple((v.name, str(v.type)) for v in value_vars),
            tuple((v.name, str(v.type)) for v in shared),
            tuple(v.name for v in model.deterministics),
            shapes,
            {k: None if v is None else tuple(np.asarray(v).tolist()) for k, v in model.coords.items()},
            dict(model.named_vars_to_dims),
            tuple(sorted((rv.name, repr(v)) for rv, v in model.rvs_to_initial_values.items())),
        ),
    )
    values = {
        str(v.name): (
            np.asarray(v.get_value()),
            hashlib.sha1(np.ascontiguousarray(v.get_value()).tobytes()).hexdigest(),
        )
        for v in shared
    }
    return structure, values


def _same_structure(a, b) -> bool:
    from pytensor.graph.basic import equal_computations

    (out_a, in_a, meta_a), (out_b, in_b, meta_b) = a, b
    if meta_a != meta_b or len(out_a) != len(out_b) or len(in_a) != len(in_b):
        return False
    return equal_computations(out_a, out_b, in_a, in_b)


def _compile_nutpie(model, backend: str, var_names=None):
    """``nutpie.compile_pymc_model(model, backend=backend, var_names=var_names)``; with Numba, the same compiled model
    with nutpie's C callbacks cached on disk (:mod:`recipes_utils.nutpie_cache`), so a model compiled before loads
    them."""
    import nutpie

    if backend == "numba":
        from recipes_utils.nutpie_cache import compile_pymc_model_numba

        return compile_pymc_model_numba(model, var_names=var_names)
    with cacheable_compiles():
        return nutpie.compile_pymc_model(model, backend=backend, var_names=var_names)


def _check_var_names(model, var_names):
    """``var_names`` as a sorted tuple without repeats, as nutpie reads it (a set); ``None`` stays ``None``. Every name
    must be an unobserved variable of the model."""
    if var_names is None:
        return None
    if isinstance(var_names, str):
        raise TypeError(f"var_names must be a list of variable names, not the string {var_names!r}")
    names = tuple(sorted(set(var_names)))
    storable = {v.name for v in model.unobserved_value_vars}  # value variables, free variables, deterministics
    unknown = [name for name in names if name not in storable]
    if unknown:
        raise ValueError(f"var_names: {unknown} not among the model's free variables and deterministics "
                         f"({sorted(storable)})")  # fmt: skip
    return names


def _compile(model, backend: str, reuse: bool, var_names=None):
    """The compiled sampler: reused when a model of the same structure (and the same stored ``var_names``) was
    compiled before in this process (with its data swapped in if they differ), else compiled and remembered. Returns
    ``(compiled, reused)``."""
    if not reuse:
        return _compile_nutpie(model, backend, var_names), False
    structure, values = _fingerprint(model, backend)
    structure = (*structure[:2], (*structure[2], var_names))
    for i, entry in enumerate(_compiled_models):
        if _same_structure(structure, entry["structure"]):
            changed = {k: v for k, (v, digest) in values.items() if entry["values"][k][1] != digest}
            compiled = entry["compiled"].with_data(**changed) if changed else entry["compiled"]
            _compiled_models.pop(i)
            _compiled_models.append({"structure": entry["structure"], "values": values, "compiled": compiled})
            return compiled, True
    compiled = _compile_nutpie(model, backend, var_names)
    _compiled_models.append({"structure": structure, "values": values, "compiled": compiled})
    del _compiled_models[:-_COMPILED_CACHE_SIZE]
    return compiled, False


def _check_seed(seed) -> None:
    """A fit's seed: a whole number the samplers take (nutpie's is an unsigned 64-bit integer), never None."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**63:
        raise ValueError(
            f"seed must be a whole number from 0 to 2**63 - 1 (every fit here is seeded, so it can be repeated), "
            f"got {seed!r}"
        )


def _check_nuts_settings(draws, tune, chains, target_accept) -> None:
    for name, value, minimum in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must lie in (0, 1), got {target_accept}")


def sample_nuts(
    model,
    *,
    seed: int,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    target_accept: float = 0.8,
    low_rank: bool = False,
    backend: str = "numba",
    progress: bool | None = None,
    reuse_compiled: bool = True,
    var_names=None,
    **nutpie_kwargs,
) -> NutsFit:
    """NUTS with nutpie: compile the PyMC model, sample, time both.

    The calls, as you would write them::

        compiled = nutpie.compile_pymc_model(model, backend=backend, var_names=var_names)
        idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                              target_accept=target_accept, low_rank_modified_mass_matrix=low_rank,
                              progress_bar=progress)

    With the Numba backend the first line is :func:`recipes_utils.nutpie_cache.compile_pymc_model_numba`, the same
    compiled model with nutpie's C callbacks cached on disk (nutpie compiles them afresh on every call).

    Parameters
    ----------
    model
        A ``pymc.Model``.
    seed
        The sampler's seed (required: every recipe fixes its seeds).
    target_accept
        Larger values take smaller steps (fewer divergences, more steps per draw).
    low_rank
        nutpie's low-rank modified mass matrix, which learns the directions of strongly correlated parameters.
    backend
        ``"numba"`` (PyTensor's Numba backend) or ``"jax"`` (needs JAX installed).
    progress
        Show nutpie's progress bar; ``None`` follows :func:`show_progress`.
    reuse_compiled
        Reuse the compiled sampler of a model of the same structure seen earlier in this process, with this model's
        data swapped in (see the module docs).
    var_names
        The variables to store in the trace (``compile_pymc_model``'s ``var_names``), besides the unconstrained free
        variables, which nutpie always stores; ``None`` (the default) stores every variable and deterministic. A
        large model's trace is most of a fit's memory: 4 chains x (1,000 + 2,000) draws of 40,000 quantities
        (nutpie keeps the warm-up draws too) is 3.8 GB. A free variable left out is kept only as its unconstrained
        value (``sigma_log__``), so the dose-response helpers that draw from the model (``posterior_predictive``,
        ``log_likelihood``, ``predict_curves``) refuse such a trace rather than draw it from the prior.
    nutpie_kwargs
        Passed to ``nutpie.sample``.
    """
    import nutpie

    _check_nuts_settings(draws, tune, chains, target_accept)
    _check_seed(seed)
    discrete = [v.name for v in model.discrete_value_vars] if hasattr(model, "discrete_value_vars") else []
    if discrete:
        raise ValueError(f"NUTS needs continuous variables; {discrete} are discrete (marginalise them out first)")
    if backend not in ("numba", "jax"):
        raise ValueError(f"backend must be 'numba' or 'jax', got {backend!r}")
    var_names = _check_var_names(model, var_names)
    progress = show_progress() if progress is None else bool(progress)
    start = time.perf_counter()
    compiled, reused = _compile(model, backend, reuse_compiled, var_names)
    compile_seconds = time.perf_counter() - start
    idata = nutpie.sample(
        compiled,
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        seed=seed,
        target_accept=target_accept,
        low_rank_modified_mass_matrix=low_rank,
        progress_bar=progress,
        **nutpie_kwargs,
    )
    seconds = time.perf_counter() - start
    return NutsFit(idata, seconds, 0.0 if reused else compile_seconds, int(chains), int(tune), int(draws), reused)


def sample_numpyro(
    model,
    *,
    seed: int,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    target_accept: float = 0.8,
    chain_method: str = "vectorized",
    progress: bool | None = None,
    **nuts_sampler_kwargs,
) -> NutsFit:
    """NUTS through JAX: PyMC's NumPyro sampler, with the chains vectorised (one batched log density per step).

    The path past one CPU: the same PyMC model, compiled to JAX, runs wherever JAX has a device (a GPU with
    ``pip install "jax[cuda12]"``; see the README). On a CPU nutpie (:func:`sample_nuts`) is usually faster. The call::

        idata = pm.sample(draws=draws, tune=tune, chains=chains, target_accept=target_accept, random_seed=seed,
                          nuts_sampler="numpyro", nuts_sampler_kwargs={"chain_method": chain_method},
                          progressbar=progress, model=model)

    ``chain_method="vectorized"`` steps all chains together (``jax.vmap``; the GPU choice), ``"parallel"`` one chain
    per device (``jax.pmap``). Returns a :class:`NutsFit` whose ``gradients`` counts kept draws only (NumPyro
    reports no warm-up statistics through PyMC) and whose ``compile_seconds`` is 0 (JAX compiles inside sampling).
    """
    import pymc as pm

    _check_nuts_settings(draws, tune, chains, target_accept)
    _check_seed(seed)
    if chain_method not in ("vectorized", "parallel"):
        raise ValueError(f"chain_method must be 'vectorized' or 'parallel', got {chain_method!r}")
    progress = show_progress() if progress is None else bool(progress)
    start = time.perf_counter()
    idata = pm.sample(
        draws=int(draws),
        tune=int(tune),
        chains=int(chains),
        target_accept=target_accept,
        random_seed=seed,
        nuts_sampler="numpyro",
        nuts_sampler_kwargs={"chain_method": chain_method, **nuts_sampler_kwargs},
        progressbar=progress,
        compute_convergence_checks=False,
        model=model,
    )
    seconds = time.perf_counter() - start
    return NutsFit(idata, seconds, 0.0, int(chains), int(tune), int(draws))
