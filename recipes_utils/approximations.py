"""Every inference method of the approximations recipe behind one call, and simulation-based calibration (SBC).

``fit_method(name, model, seed=...)`` runs one of :data:`METHODS` on a PyMC model and returns its draws as
``InferenceData`` with the wall time (compilation included). The calls are the ones you would write yourself:

- ``"nuts"``: :func:`recipes_utils.inference.sample_nuts` (nutpie);
- ``"advi"`` / ``"fullrank_advi"``: :func:`recipes_utils.inference.fit_advi` (``pm.fit``, Adam, the recipes' stopping
  rule for mean-field; a fixed number of steps with a decaying rate for full-rank, which needs it to settle);
- ``"pathfinder"``: ``pymc_extras.fit_pathfinder`` (multi-path, PSIS resampling, one process);
- ``"dadvi"``: ``pymc_extras.inference.fit_dadvi`` (mean-field ADVI with fixed draws, optimised deterministically);
- ``"laplace"``: ``pymc_extras.fit_laplace`` (a Gaussian at the mode, the inverse Hessian as its covariance, on the
  unconstrained space).

SBC (Talts et al. 2018): draw parameters and data from the model's prior predictive, fit each data set, and record
the rank of every true value among the fit's draws. If the method is calibrated, ranks are uniform. A hundred data
sets make compilation the cost: the library calls above compile their functions on every call (3-20 s each on a
49-parameter model here, against well under a second of fitting). ``make_fitter`` compiles a method once for a model
and fits whatever data its ``pm.Data`` containers hold at each call, with the same algorithm and settings as
``fit_method``: nutpie's compiled sampler takes new data (``with_data``); ADVI re-runs its compiled step function from
its initial state (``Inference.refine``); Laplace, DADVI and Pathfinder are assembled from the pymc-extras pieces
their ``fit_*`` functions use (the compiled loss for SciPy's optimiser, the DADVI objective, the single-path
Pathfinder function), compiled once. ``sbc`` uses it.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor
from scipy import stats

from recipes_utils.compile_cache import cacheable_compiles
from recipes_utils.inference import _check_seed, fit_advi, sample_nuts, show_progress

METHODS = ("nuts", "advi", "fullrank_advi", "pathfinder", "dadvi", "laplace")
# fit_advi settings of the two ADVIs, shared by fit_method and make_fitter: mean-field stops by the recipes' rule;
# full-rank runs a fixed number of steps with a decaying rate (it needs it to settle).
ADVI_DEFAULTS = {"max_steps": 60_000}
FULLRANK_DEFAULTS = {"max_steps": 40_000, "learning_rate": 0.005, "decay_steps": 10_000, "stop": False, "check": False}


@dataclass(frozen=True)
class MethodFit:
    method: str
    idata: az.InferenceData
    seconds: float  # wall time, compilation included
    khat: float | None = None  # PSIS k-hat of the approximation (fit_method(..., khat=True)); None for NUTS


def gaussian_psis_khat(model: pm.Model, mean, *, sd=None, chol=None, n_draws: int = 1000, seed: int = 0) -> float:
    """PSIS k-hat (Yao et al. 2018) of a Gaussian approximation on the model's unconstrained space.

    ``mean`` and ``sd`` (diagonal) or ``chol`` (a lower Cholesky factor of the covariance) are in the order of
    ``DictToArrayBijection.map(model.initial_point())``, the order pymc-extras' Laplace and DADVI use. Draws from the
    Gaussian are weighted by the model's joint density (with the Jacobian of the transforms) over the Gaussian's.
    """
    from pymc.blocking import DictToArrayBijection, RaveledVars
    from scipy.linalg import solve_triangular

    if (sd is None) == (chol is None):
        raise ValueError("give exactly one of sd (mean-field) or chol (full covariance)")
    info = DictToArrayBijection.map(model.initial_point()).point_map_info
    mean = np.asarray(mean, dtype=float)
    z = np.random.default_rng(seed).standard_normal((n_draws, mean.size))
    if sd is not None:
        sd = np.asarray(sd, dtype=float)
        flat, log_det = mean + z * sd, np.log(sd).sum()
    else:
        chol = np.asarray(chol, dtype=float)
        flat, log_det = mean + z @ chol.T, np.log(np.abs(np.diag(chol))).sum()
        z = solve_triangular(chol, (flat - mean).T, lower=True).T
    logq = -0.5 * (z**2).sum(axis=1) - log_det - 0.5 * mean.size * np.log(2 * np.pi)
    logp_fn = model.compile_logp(jacobian=True)
    logp = np.array([logp_fn(DictToArrayBijection.rmap(RaveledVars(row, info))) for row in flat])
    _, khat = az.psislw(logp - logq)
    return float(khat)


def fit_method(
    method: str,
    model: pm.Model,
    *,
    seed: int,
    draws: int = 1000,
    nuts: dict | None = None,
    advi: dict | None = None,
    fullrank: dict | None = None,
    khat: bool = False,
) -> MethodFit:
    """Fit ``model`` with one of :data:`METHODS` and return ``draws`` draws (NUTS: per chain) with the wall time.

    ``nuts``, ``advi`` and ``fullrank`` are keyword arguments passed on to ``sample_nuts`` / ``fit_advi``. With
    ``khat=True`` the fit carries the approximation's PSIS k-hat (not timed): the two ADVIs', Laplace's and DADVI's
    from their Gaussian (:func:`gaussian_psis_khat`), Pathfinder's as pymc-extras reports it (over its resampled
    paths); NUTS has none. In hundreds of dimensions almost any inexact approximation scores above 0.7.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if not isinstance(model, pm.Model):
        raise TypeError(f"model must be a pymc.Model, got {type(model).__name__}")
    _check_seed(seed)
    import pymc_extras as pmx
    import pymc_extras.inference as pmx_inference

    start = time.perf_counter()
    approx = None
    if method == "nuts":
        kw = {"draws": draws, "tune": 1000, "chains": 4} | (nuts or {})
        idata = sample_nuts(model, seed=seed, **kw).idata
    elif method == "advi":
        approx = fit_advi(model, seed=seed, **ADVI_DEFAULTS | (advi or {}))
        idata = approx.sample(draws, seed=seed)
    elif method == "fullrank_advi":
        approx = fit_advi(model, seed=seed, method="fullrank_advi", **FULLRANK_DEFAULTS | (fullrank or {}))
        idata = approx.sample(draws, seed=seed)
    else:
        # Progress bars follow RECIPES_PROGRESS like sample_nuts' and fit_advi's; pymc-extras' notes on its defaults
        # (UserWarning) and overflow warnings inside its optimisers are silenced here only.
        progress = show_progress()
        with warnings.catch_warnings(), cacheable_compiles():
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            if method == "pathfinder":
                logging.getLogger("pymc_extras").setLevel(logging.ERROR)
                idata = pmx.fit_pathfinder(model=model, num_paths=4, num_draws=draws, random_seed=seed,
                                           progressbar=progress, concurrent=None, display_summary=False)  # fmt: skip
            elif method == "dadvi":
                idata = pmx_inference.fit_dadvi(model=model, n_draws=draws, random_seed=seed, progressbar=progress)
            else:
                idata = pmx.fit_laplace(model=model, draws=draws, random_seed=seed, progressbar=progress)
    seconds = time.perf_counter() - start
    k = _khat(method, model, idata, approx, seed) if khat else None
    return MethodFit(method, idata, seconds, k)


def _psd_cholesky(cov: np.ndarray) -> np.ndarray:
    """A Cholesky factor of ``cov`` symmetrised, its eigenvalues floored at 1e-10 of the largest if it is not positive
    definite (BFGS's inverse-Hessian estimate, Laplace's covariance in pymc-extras, can come out slightly indefinite)."""
    cov = (cov + cov.T) / 2
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(cov)
        w = np.maximum(w, 1e-10 * w.max())
        return np.linalg.cholesky((v * w) @ v.T + 1e-12 * w.max() * np.eye(len(w)))


def _khat(method, model, idata, approx, seed) -> float | None:
    if method == "nuts":
        return None
    if method == "pathfinder":
        return float(idata.sample_stats["pareto_k"])
    if approx is not None:
        from recipes_utils.dose_response import advi_psis_khat

        return advi_psis_khat(approx.approx, model, n_draws=1000, seed=seed)
    if method == "laplace":
        chol = _psd_cholesky(idata.fit["covariance_matrix"].to_numpy())
        return gaussian_psis_khat(model, idata.fit["mean_vector"].to_numpy(), chol=chol, seed=seed)
    mean, log_sd = np.split(idata.optimizer_result["x"].to_numpy(), 2)  # DADVI
    return gaussian_psis_khat(model, mean, sd=np.exp(log_sd), seed=seed)


class _Flat:
    """Unconstrained flat vectors (the optimisers' and Pathfinder's coordinates) to the model's variables, compiled once."""

    def __init__(self, model: pm.Model):
        from pymc.blocking import DictToArrayBijection

        self.model = model
        point = model.initial_point()
        self.info = DictToArrayBijection.map(point).point_map_info
        self.x0 = DictToArrayBijection.map(point).data
        self.names = [v.name for v in model.free_RVs] + [
            d.name for d in model.deterministics if model.observed_RVs[0] not in _ancestors(d)]  # fmt: skip
        outs = model.replace_rvs_by_values([model[n] for n in self.names])
        self.fn = pm.pytensorf.compile(model.value_vars, outs, on_unused_input="ignore")

    def idata(self, flat: np.ndarray) -> az.InferenceData:
        """Draws (rows of ``flat``, unconstrained) as a one-chain posterior of the free and deterministic variables."""
        from pymc.blocking import DictToArrayBijection, RaveledVars

        values = {n: [] for n in self.names}
        for row in np.atleast_2d(flat):
            point = DictToArrayBijection.rmap(RaveledVars(row, self.info))
            for n, v in zip(self.names, self.fn(*[point[v.name] for v in self.model.value_vars]), strict=True):
                values[n].append(v)
        coords = {k: np.asarray(v) for k, v in self.model.coords.items() if v is not None}
        dims = {n: list(self.model.named_vars_to_dims.get(n, ())) for n in self.names}
        return az.from_dict(posterior={n: np.asarray(v)[None] for n, v in values.items()}, coords=coords, dims=dims)


def _ancestors(var):
    from pytensor.graph.traversal import ancestors

    return set(ancestors([var]))


class Fitter:
    """One method compiled once for one model; each call fits the data the model's ``pm.Data`` containers hold now.

    Made by :func:`make_fitter`; ``fitter(seed)`` returns a :class:`MethodFit` like :func:`fit_method`'s.
    """

    def __init__(self, method: str, model: pm.Model, draws: int, settings: dict):
        self.method, self.model, self.draws, self.settings = method, model, draws, settings
        self.compiles = 0  # how many times this fitter compiled (1 after the first call, whatever the data sets)
        self._state = None

    def __call__(self, seed: int) -> MethodFit:
        _check_seed(seed)
        start = time.perf_counter()
        if self._state is None:
            with cacheable_compiles():
                self._state = getattr(self, f"_compile_{self.method}")()
            self.compiles += 1
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            idata = getattr(self, f"_fit_{self.method}")(seed)
        return MethodFit(self.method, idata, time.perf_counter() - start)

    # NUTS: nutpie's compiled sampler is kept by sample_nuts and takes the new data with ``with_data``.
    def _compile_nuts(self):
        return True

    def _fit_nuts(self, seed):
        kw = {"draws": self.draws, "tune": 1000, "chains": 4} | self.settings
        return sample_nuts(self.model, seed=seed, **kw).idata

    # ADVI: pm.fit's step function compiled once; each fit resets the approximation's parameters and Adam's state to
    # their initial values, reseeds the Monte Carlo draws and runs it again (Inference.refine) under the stopping rule.
    def _compile_advi(self, method="advi"):
        kw = self._advi_settings(method)
        lr = pytensor.shared(np.asarray(kw["learning_rate"], dtype=pytensor.config.floatX), name="learning_rate")
        with self.model:
            inference = pm.ADVI() if method == "advi" else pm.FullRankADVI()
        step = inference.objective.step_function(score=True, obj_optimizer=pm.adam(learning_rate=lr),
                                                 compile_kwargs={"mode": kw.get("mode", "NUMBA")})  # fmt: skip
        data = {id(v) for v in self.model.data_vars}
        shared = [v for v in step.get_shared() if id(v) not in data]
        rngs = [v for v in shared if isinstance(v.type, pytensor.tensor.random.type.RandomGeneratorType)]
        initial = [(v, v.get_value(borrow=False)) for v in shared if v not in rngs and v is not lr]
        return {"inference": inference, "step": step, "lr": lr, "rngs": rngs, "initial": initial, "kw": kw}

    def _advi_settings(self, method):
        # fit_advi's own defaults, then fit_method's for this method, then the caller's
        base = {"learning_rate": 0.01, "decay_steps": None, "stop": True, "check": True}
        return base | (ADVI_DEFAULTS if method == "advi" else FULLRANK_DEFAULTS) | self.settings

    def _fit_advi(self, seed):
        from pymc.variational.inference import State

        from recipes_utils.diagnostics import ELBOConvergence

        st = self._state
        kw = st["kw"]
        for var, value in st["initial"]:
            var.set_value(value.copy())
        for k, rng in enumerate(st["rngs"]):
            rng.set_value(np.random.default_rng([seed, k]))
        st["lr"].set_value(np.asarray(kw["learning_rate"], dtype=st["lr"].dtype))
        conv = ELBOConvergence(window=kw.get("window", 1000), rtol=kw.get("rtol"), max_z=kw.get("max_z", 2.0),
                               stop=kw["stop"])  # fmt: skip
        callbacks = [conv]
        if kw["decay_steps"] is not None:

            def decay(_approx, _losses, i):
                st["lr"].set_value(np.asarray(kw["learning_rate"] / (1 + i / kw["decay_steps"]), dtype=st["lr"].dtype))

            callbacks.append(decay)
        inference = st["inference"]
        inference.hist = np.asarray(())
        inference.state = State(0, step=st["step"], callbacks=callbacks, score=True)
        from recipes_utils.inference import _no_interrupted_message

        with _no_interrupted_message():
            inference.refine(int(kw["max_steps"]), progressbar=show_progress())
        if kw["check"]:
            conv.check()
        return inference.approx.sample(self.draws, random_seed=seed)

    def _compile_fullrank_advi(self):
        return self._compile_advi("fullrank_advi")

    _fit_fullrank_advi = _fit_advi

    # Laplace as pymc_extras.fit_laplace does it: BFGS to the mode of -logp (no Jacobian) on the unconstrained space,
    # BFGS's inverse-Hessian estimate as the covariance; the loss compiled once (the model's data stay shared).
    def _compile_laplace(self):
        from pymc.blocking import DictToArrayBijection
        from pymc_extras.inference.laplace_approx.scipy_interface import scipy_optimize_funcs_from_loss

        flat = _Flat(self.model)
        f_fused, _ = scipy_optimize_funcs_from_loss(
            loss=-self.model.logp(jacobian=False), inputs=self.model.continuous_value_vars,
            initial_point_dict=DictToArrayBijection.rmap(DictToArrayBijection.map(self.model.initial_point())),
            use_grad=True, use_hess=False, use_hessp=False)  # fmt: skip
        return {"flat": flat, "f": f_fused}

    def _fit_laplace(self, seed):
        from better_optimize import minimize

        st = self._state
        res = minimize(f=st["f"], x0=st["flat"].x0.copy(), method="BFGS", progressbar=False)
        chol = _psd_cholesky(np.asarray(res.hess_inv))
        z = res.x + np.random.default_rng(seed).standard_normal((self.draws, res.x.size)) @ chol.T
        return st["flat"].idata(z)

    # DADVI as pymc_extras.inference.fit_dadvi does it: a Gaussian mean-field objective over 30 fixed draws, minimised
    # with trust-ncg. Compiled once, so the fixed draws are the same for every data set (drawn from the seed of the
    # first call), which is DADVI's own premise: any fixed set of draws defines the objective.
    def _compile_dadvi(self):
        from pymc_extras.inference.dadvi.dadvi import create_dadvi_graph
        from pymc_extras.inference.laplace_approx.scipy_interface import scipy_optimize_funcs_from_loss

        flat = _Flat(self.model)
        n_draws = self.settings.get("n_fixed_draws", 30)
        var_params, objective = create_dadvi_graph(self.model, n_fixed_draws=n_draws, random_seed=0,
                                                   n_params=flat.x0.size)  # fmt: skip
        f_fused, f_hessp = scipy_optimize_funcs_from_loss(loss=objective, inputs=[var_params], initial_point_dict=None,
                                                          use_grad=True, use_hess=False, use_hessp=True,
                                                          inputs_are_flat=True)  # fmt: skip
        return {"flat": flat, "f": f_fused, "hessp": f_hessp}

    def _fit_dadvi(self, seed):
        from better_optimize import minimize

        st = self._state
        x0 = np.zeros(2 * st["flat"].x0.size)
        res = minimize(f=st["f"], x0=x0, method="trust-ncg", hessp=st["hessp"], progressbar=False)
        mean, log_sd = np.split(res.x, 2)
        z = mean + np.exp(log_sd) * np.random.default_rng(seed).standard_normal((self.draws, mean.size))
        return st["flat"].idata(z)

    # Pathfinder: pymc_extras' multi-path Pathfinder (4 paths, PSIS resampling, its defaults), with its single-path
    # function built and compiled once (each path copies it, so it sees the data the shared containers hold).
    def _compile_pathfinder(self):
        import inspect

        import pymc_extras.inference.pathfinder.pathfinder as pf

        defaults = {k: v.default for k, v in inspect.signature(pf.fit_pathfinder).parameters.items()}
        n = _Flat(self.model)
        kw = {k: defaults[k] for k in ("num_paths", "num_draws_per_path", "maxiter", "ftol", "gtol", "maxls",
                                       "num_elbo_draws", "jitter", "epsilon", "max_init_retries")}  # fmt: skip
        kw["maxcor"] = max(int(np.ceil(3 * np.log(n.x0.size))), 5)  # fit_pathfinder's default
        kw |= self.settings
        single = pf.make_single_pathfinder_fn(self.model, num_draws=kw["num_draws_per_path"], maxcor=kw["maxcor"],
                                              maxiter=kw["maxiter"], ftol=kw["ftol"], gtol=kw["gtol"],
                                              maxls=kw["maxls"], num_elbo_draws=kw["num_elbo_draws"],
                                              jitter=kw["jitter"], epsilon=kw["epsilon"],
                                              max_init_retries=kw["max_init_retries"])  # fmt: skip
        return {"flat": n, "single": single, "kw": kw, "pf": pf}

    def _fit_pathfinder(self, seed):
        st = self._state
        pf = st["pf"]
        original = pf.make_single_pathfinder_fn
        pf.make_single_pathfinder_fn = lambda *a, **k: st["single"]  # multipath_pathfinder's compile step, done once
        try:
            logging.getLogger("pymc_extras").setLevel(logging.ERROR)
            kw = dict(st["kw"])
            result = pf.multipath_pathfinder(self.model, num_draws=self.draws, importance_sampling="psis",
                                             progressbar=show_progress(), concurrent=None, random_seed=seed,
                                             display_summary=False, **kw)  # fmt: skip
        finally:
            pf.make_single_pathfinder_fn = original
        return st["flat"].idata(np.asarray(result.samples).reshape(-1, st["flat"].x0.size))


def make_fitter(method: str, model: pm.Model, *, draws: int = 1000, **settings) -> Fitter:
    """``method`` on ``model``, compiled at the first call and reused for every later one (new data, new seed).

    Put a data set in with ``pm.set_data`` and call the fitter with a seed; see the module's docstring for how each
    method reuses its compiled functions. ``settings`` go to the method: ``sample_nuts``'s arguments for ``"nuts"``,
    ``fit_advi``'s (``max_steps``, ``learning_rate``, ``decay_steps``, ``stop``, ``check``, ``window``, ``rtol``,
    ``max_z``) for the two ADVIs, ``n_fixed_draws`` for DADVI, ``fit_pathfinder``'s for Pathfinder.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if not isinstance(model, pm.Model):
        raise TypeError(f"model must be a pymc.Model, got {type(model).__name__}")
    if method != "nuts" and not all(v in model.continuous_value_vars for v in model.value_vars):
        raise ValueError(f"{method} needs every free variable to be continuous")
    return Fitter(method, model, draws, dict(settings))


def thin_draws(values: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws spread evenly over the (chain x draw) array ``values``, for ranks that are not autocorrelated."""
    flat = np.asarray(values).reshape(-1)
    if n > flat.size:
        raise ValueError(f"asked for {n} draws from {flat.size}")
    return flat[np.linspace(0, flat.size - 1, n).round().astype(int)]


def sbc(
    model: pm.Model,
    methods: Sequence[str],
    *,
    data_name: str,
    params: Sequence[str],
    n_datasets: int,
    seed: int,
    n_rank_draws: int = 99,
    fit_kwargs: dict | None = None,
    on_dataset: Callable[[int], None] | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Simulation-based calibration of each method on ``model``: one row per (data set, method, parameter element).

    Parameters and data sets come from the model's prior predictive (``pm.sample_prior_predictive``); each data set
    is put into the ``pm.Data`` container ``data_name`` (the observed variable's data) before the fits. Each method
    is compiled once (:func:`make_fitter`; ``fit_kwargs[method]`` are its settings, ``draws`` included). ``params``
    are the free or deterministic variables to rank (every element of a vector variable gets a row). The rank of a true value is the
    number of ``n_rank_draws`` thinned posterior draws below it (0 to ``n_rank_draws``). Returns the ranks, each
    fit's seconds, and NUTS's divergences, so a caller can see what a calibration failure coincides with. A fit that
    raises (ADVI not converged, every Pathfinder path failed, ...) is a result too: its rows have rank -1 and the
    error in ``error``.

    ``n_jobs`` > 1 spreads the data sets over that many worker processes (each compiles its own fitters once);
    ``on_dataset`` (called with each data set's index) is only called with ``n_jobs=1``. The ranks do not depend on
    ``n_jobs``: each data set's fits are seeded by its index.
    """
    if n_datasets < 1 or n_rank_draws < 1:
        raise ValueError("n_datasets and n_rank_draws must be at least 1")
    _check_seed(seed)  # data set i's fits take seed + i: a bad seed would be recorded as a failed fit per data set
    _check_seed(seed + n_datasets - 1)
    if data_name not in model.named_vars or not isinstance(model[data_name], pm.pytensorf.SharedVariable):
        raise ValueError(f"{data_name!r} is not a pm.Data container of the model")
    missing = [p for p in params if p not in model.named_vars]
    if missing:
        raise ValueError(f"unknown parameter(s) {missing}")
    observed = list(model.observed_RVs)
    if len(observed) != 1:
        raise ValueError(f"SBC here needs exactly one observed variable, the model has {len(observed)}")
    obs_name = observed[0].name
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be at least 1, got {n_jobs}")
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)  # not "Sampling: [every variable]"
    try:
        prior = pm.sample_prior_predictive(draws=n_datasets, model=model, random_seed=seed,
                                           var_names=[*params, obs_name])  # fmt: skip
    finally:
        pymc_log.setLevel(level)
    datasets = [(i, {p: np.asarray(prior.prior[p].isel(chain=0, draw=i)) for p in params},
                 np.asarray(prior.prior_predictive[obs_name].isel(chain=0, draw=i))) for i in range(n_datasets)]  # fmt: skip
    job = {"methods": list(methods), "data_name": data_name, "params": list(params), "seed": seed,
           "n_rank_draws": n_rank_draws, "fit_kwargs": fit_kwargs or {}}  # fmt: skip
    if n_jobs == 1:
        rows = _sbc_fits(model, datasets, on_dataset=on_dataset, **job)
    else:
        # Worker processes (spawned: a forked copy of a process running nutpie's threads could hang), each with a copy
        # of the model and its own compiled fitters, taking every n_jobs-th data set.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import cloudpickle

        blob = cloudpickle.dumps(model)
        with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = [pool.submit(_sbc_worker, blob, datasets[k::n_jobs], job) for k in range(n_jobs)]
            rows = [row for part in parts for row in part.result()]
    return pd.DataFrame(rows).sort_values(["dataset", "method", "parameter"], kind="stable").reset_index(drop=True)


def _sbc_worker(blob: bytes, datasets: list, job: dict) -> list[dict]:
    import os

    import cloudpickle

    os.environ["RECIPES_PROGRESS"] = "0"
    warnings.filterwarnings("ignore")
    return _sbc_fits(cloudpickle.loads(blob), datasets, **job)


def _sbc_fits(model, datasets, *, methods, data_name, params, seed, n_rank_draws, fit_kwargs, on_dataset=None):
    """Fit every method to each (index, truth, data) in ``datasets``, compiling each method once; rank the truth."""
    original = model[data_name].get_value()
    fitters = {method: make_fitter(method, model, **fit_kwargs.get(method, {})) for method in methods}
    rows = []
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)  # not PyMC's line per ADVI fit ("ELBO converged at ...", "Finished ...")
    try:
        for i, truth, y in datasets:
            with model:
                pm.set_data({data_name: y})
            for method in methods:
                try:
                    fit = fitters[method](seed + i)
                except Exception as e:  # noqa: BLE001  (a failed fit is a result of SBC: record it, go on)
                    for p in params:
                        n = int(np.prod(truth[p].shape))
                        rows += [{"dataset": i, "method": method, "parameter": p if n == 1 else f"{p}[{j}]",
                                  "variable": p, "rank": -1, "seconds": np.nan, "divergences": 0,
                                  "compiles": fitters[method].compiles, "error": f"{type(e).__name__}: {e}"[:200]}
                                 for j in range(n)]  # fmt: skip
                    continue
                post = fit.idata.posterior
                divergences = (int(fit.idata.sample_stats["diverging"].sum()) if method == "nuts" else 0)  # fmt: skip
                for p in params:
                    draws = post[p].to_numpy()
                    draws = draws.reshape(draws.shape[0] * draws.shape[1], -1)
                    true = truth[p].reshape(-1)
                    for j in range(true.size):
                        ranked = thin_draws(draws[:, j], n_rank_draws)
                        rows.append({"dataset": i, "method": method, "parameter": p if true.size == 1 else f"{p}[{j}]",
                                     "variable": p, "rank": int((ranked < true[j]).sum()), "seconds": fit.seconds,
                                     "divergences": divergences, "compiles": fitters[method].compiles,
                                     "error": ""})  # fmt: skip
            if on_dataset is not None:
                on_dataset(i)
    finally:
        pymc_log.setLevel(level)
        with model:
            pm.set_data({data_name: original})
    return rows


def rank_uniformity(ranks: pd.DataFrame, n_rank_draws: int = 99, n_bins: int = 10) -> pd.DataFrame:
    """Chi-square test of uniform ranks per method and variable (elements of a vector pooled), with its p-value.

    Ranks 0..``n_rank_draws`` are put into ``n_bins`` equal bins; under calibration each bin expects the same count.
    Fits that failed (rank -1 from :func:`sbc`) are left out of the test and counted in ``failed_fits``.
    """
    if (n_rank_draws + 1) % n_bins:
        raise ValueError(f"{n_rank_draws + 1} possible ranks do not split into {n_bins} equal bins")
    out = []
    for (method, variable), g in ranks.groupby(["method", "variable"], sort=False):
        failed = int((g["rank"] < 0).sum())
        g = g[g["rank"] >= 0]
        counts = np.bincount(g["rank"].to_numpy() * n_bins // (n_rank_draws + 1), minlength=n_bins)
        chi2, p = stats.chisquare(counts)
        frac_low, frac_high = (
            float((g["rank"] < (n_rank_draws + 1) * 0.05).mean()),
            float((g["rank"] >= (n_rank_draws + 1) * 0.95).mean()),
        )
        out.append({"method": method, "variable": variable, "n": len(g), "failed_fits": failed, "chi2": chi2,
                    "p_value": p,
                    "share_in_lowest_5%": frac_low, "share_in_highest_5%": frac_high})  # fmt: skip
    return pd.DataFrame(out)
