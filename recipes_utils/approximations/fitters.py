"""Each method compiled once for a model, refitted to whatever data its ``pm.Data`` containers hold (for SBC).

``make_fitter(method, model, **settings)`` returns a :class:`Fitter`; ``fitter(seed)`` fits the model's current data
with the same algorithm and settings as :func:`~recipes_utils.approximations.fit_method`, compiling only at the first
call. How each method reuses its compiled functions:

- NUTS: nutpie's compiled sampler takes new data (``with_data``; :func:`recipes_utils.inference.sample_nuts` keeps it).
- ADVI (both): PyMC's compiled step function is re-run from the initial state (``Inference.refine``).
- Laplace, DADVI and DADVI + LRVB: the model's loss, gradient and Hessian-vector product compiled once for all three
  (:func:`~recipes_utils.approximations.gaussian.model_functions`); the model's data stay shared variables.
- Pathfinder: pymc-extras' single-path function compiled once; each path copies it.
"""

from __future__ import annotations

import logging
import time
import warnings
import weakref

import arviz as az
import numpy as np
import pymc as pm
import pytensor

from recipes_utils.approximations import gaussian
from recipes_utils.compile_cache import cacheable_compiles
from recipes_utils.inference import _check_seed, sample_nuts, show_progress

METHODS = ("nuts", "advi", "fullrank_advi", "pathfinder", "dadvi", "dadvi_lrvb", "laplace")


class Flat:
    """Flat unconstrained vectors (the optimisers' coordinates) to the model's free and deterministic variables."""

    def __init__(self, model: pm.Model):
        from pymc.blocking import DictToArrayBijection

        self.model = model
        point = model.initial_point()
        self.info = DictToArrayBijection.map(point).point_map_info
        self.x0 = DictToArrayBijection.map(point).data
        observed = set(model.observed_RVs)
        self.names = [v.name for v in model.free_RVs] + [
            d.name for d in model.deterministics if not observed & _ancestors(d)]  # fmt: skip
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


def _ancestors(var) -> set:
    from pytensor.graph.traversal import ancestors

    return set(ancestors([var]))


class Fitter:
    """One method compiled once for one model; each call fits the data the model's ``pm.Data`` containers hold now.

    Made by :func:`make_fitter`; ``fitter(seed)`` returns ``(idata, seconds)``. ``compiles`` counts compilations (1
    after the first call, whatever the number of data sets).
    """

    def __init__(self, method: str, model: pm.Model, draws: int, settings: dict):
        self.method, self.model, self.draws, self.settings = method, model, draws, settings
        self.compiles = 0
        self._state = None

    def __call__(self, seed: int):
        from recipes_utils.approximations.methods import MethodFit

        _check_seed(seed)
        start = time.perf_counter()
        if self._state is None:
            with cacheable_compiles():
                self._state = getattr(self, f"_compile_{self.method}")()
            self.compiles += 1
            funcs = self._state.get("funcs") if isinstance(self._state, dict) else None
            if funcs is not None:  # compiled here or earlier (for another method or fitter): counted either way
                start = min(start, time.perf_counter() - funcs.compile_seconds)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            idata, info = getattr(self, f"_fit_{self.method}")(seed)
        seconds = time.perf_counter() - start + info.pop("reused_seconds", 0.0)  # an optimum shared with DADVI's fitter
        return MethodFit(self.method, idata, seconds, info=info)

    # NUTS: sample_nuts keeps nutpie's compiled sampler and swaps the new data in.
    def _compile_nuts(self):
        return True

    def _fit_nuts(self, seed):
        kw = {"draws": self.draws, "tune": 1000, "chains": 4} | self.settings
        return sample_nuts(self.model, seed=seed, **kw).idata, {}

    # ADVI: pm.fit's step function compiled once; each fit resets the approximation and Adam's state to their initial
    # values, reseeds the Monte Carlo draws and runs it again (Inference.refine) under the same rules as fit_advi.
    # Full-rank ADVI started from mean-field (init="advi") keeps a compiled mean-field fitter for its start.
    def _compile_advi(self, method="advi", settings=None):
        from recipes_utils.advi import IterateAverage
        from recipes_utils.approximations.methods import advi_settings
        from recipes_utils.diagnostics import ELBOConvergence

        kw = advi_settings(method, self.settings if settings is None else settings)
        lr = pytensor.shared(np.asarray(kw["learning_rate"], dtype=pytensor.config.floatX), name="learning_rate")
        with self.model:
            inference = pm.ADVI() if method == "advi" else pm.FullRankADVI()
        step = inference.objective.step_function(score=True, obj_optimizer=pm.adam(learning_rate=lr),
                                                 compile_kwargs={"mode": kw.get("mode", "NUMBA")})  # fmt: skip
        data = {id(v) for v in self.model.data_vars}
        shared = [v for v in step.get_shared() if id(v) not in data]
        rngs = [v for v in shared if isinstance(v.type, pytensor.tensor.random.type.RandomGeneratorType)]
        initial = [(v, v.get_value(borrow=False)) for v in shared if v not in rngs and v is not lr]
        if kw.get("average_window"):
            rule = IterateAverage(inference.approx, self.model, window=kw["average_window"], tol=kw["elbo_tol"],
                                  stop=kw["stop"])  # fmt: skip
        else:
            rule = ELBOConvergence(window=kw.get("window", 1000), rtol=kw.get("rtol"), max_z=kw.get("max_z", 2.0),
                                   stop=kw["stop"])  # fmt: skip
        state = {"inference": inference, "step": step, "lr": lr, "rngs": rngs, "initial": initial, "kw": kw,
                 "rule": rule}  # fmt: skip
        if method == "fullrank_advi" and kw.get("init") == "advi":
            state["start"] = self._compile_advi("advi", settings={})
        return state

    @staticmethod
    def _run_advi(st, seed):
        from recipes_utils.advi import _refine_advi

        for var, value in st["initial"]:
            var.set_value(value.copy())
        for k, rng in enumerate(st["rngs"]):
            rng.set_value(np.random.default_rng([seed, k]))
        return _refine_advi(st["inference"], st["step"], st["lr"], st["kw"], seed, st["rule"])

    def _fit_advi(self, seed):
        from recipes_utils.advi import _start_full_rank_from

        st = self._state
        if "start" in st:
            self._run_advi(st["start"], seed)
            for var, value in st["initial"]:  # the full-rank state afresh, then mean-field's fit as its start
                var.set_value(value.copy())
            _start_full_rank_from(st["inference"], st["start"]["inference"].approx)
            st = {**st, "initial": []}
        steps = self._run_advi(st, seed)
        return st["inference"].approx.sample(self.draws, random_seed=seed), {"steps": steps}

    def _compile_fullrank_advi(self):
        return self._compile_advi("fullrank_advi")

    _fit_fullrank_advi = _fit_advi

    # Laplace: trust-region Newton to the mode, the exact Hessian there (gaussian.laplace), functions compiled once.
    def _compile_laplace(self):
        kw = self.settings
        return {
            "flat": Flat(self.model),
            "funcs": gaussian.model_functions(self.model, jacobian=kw.get("jacobian", True)),
        }

    def _fit_laplace(self, seed):
        st = self._state
        g = gaussian.laplace(self.model, funcs=st["funcs"], group_dim=self.settings.get("group_dim"))
        return st["flat"].idata(g.draws(self.draws, seed)[0]), _gaussian_info(g)

    # DADVI, and DADVI + LRVB: the objective over fixed draws compiled once; the same fixed draws for every data set
    # (DADVI's premise: any fixed set of draws defines the objective). The two fitters of one model share the compiled
    # functions and DADVI's optimum for the data the model holds, so SBC of both optimises once per data set (each
    # fit's seconds still count the optimisation).
    def _compile_dadvi(self):
        n_fixed = self.settings.get("n_fixed_draws", 30)
        shared = _DADVI_SHARED.setdefault(self.model, {})
        if n_fixed not in shared:
            shared[n_fixed] = {"flat": Flat(self.model), "funcs": gaussian.DadviFunctions(self.model,
                               n_fixed_draws=n_fixed), "last": None}  # fmt: skip
        return shared[n_fixed]

    _compile_dadvi_lrvb = _compile_dadvi

    def _dadvi_optimum(self):
        st = self._state
        digest = _data_digest(self.model)
        if st["last"] is not None and st["last"][0] == digest:
            return st["last"][1], st["last"][1].seconds
        fit = gaussian.dadvi(self.model, funcs=st["funcs"])
        st["last"] = (digest, fit)
        return fit, 0.0

    def _fit_dadvi(self, seed):
        mf, reused = self._dadvi_optimum()
        return self._state["flat"].idata(mf.draws(self.draws, seed)[0]), _gaussian_info(mf) | {"reused_seconds": reused}

    def _fit_dadvi_lrvb(self, seed):
        mf, reused = self._dadvi_optimum()
        lr = gaussian.lrvb(self.model, mf, self._state["funcs"], group_dim=self.settings.get("group_dim"))
        info = _gaussian_info(lr) | {"reused_seconds": reused}
        return self._state["flat"].idata(lr.draws(self.draws, seed)[0]), info

    # Pathfinder: pymc-extras' multi-path Pathfinder (its defaults), its single-path function compiled once.
    def _compile_pathfinder(self):
        import inspect

        import pymc_extras.inference.pathfinder.pathfinder as pf

        defaults = {k: v.default for k, v in inspect.signature(pf.fit_pathfinder).parameters.items()}
        n = Flat(self.model)
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
            result = pf.multipath_pathfinder(self.model, num_draws=self.draws, importance_sampling="psis",
                                             progressbar=show_progress(), concurrent=None, random_seed=seed,
                                             display_summary=False, **st["kw"])  # fmt: skip
        finally:
            pf.make_single_pathfinder_fn = original
        return st["flat"].idata(np.asarray(result.samples).reshape(-1, st["flat"].x0.size)), {}


# model -> {n_fixed_draws: the compiled DADVI objective and the last optimum}, forgotten with the model
_DADVI_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _data_digest(model) -> tuple:
    import hashlib

    return tuple(hashlib.sha1(np.ascontiguousarray(v.get_value()).tobytes()).hexdigest() for v in model.data_vars)


def _gaussian_info(g: gaussian.GaussianFit) -> dict:
    return {"converged": g.converged, "iterations": g.iterations, "grad_norm": g.grad_norm,
            "floored_eigenvalues": g.floored_eigenvalues}  # fmt: skip


def make_fitter(method: str, model: pm.Model, *, draws: int = 1000, **settings) -> Fitter:
    """``method`` on ``model``, compiled at the first call and reused for every later one (new data, new seed).

    Put a data set in with ``pm.set_data`` and call the fitter with a seed. ``settings`` go to the method:
    ``sample_nuts``'s arguments for ``"nuts"``; ``fit_advi``'s for the two ADVIs; ``jacobian`` and ``group_dim`` for
    Laplace; ``n_fixed_draws`` (and ``group_dim`` for LRVB) for DADVI; ``fit_pathfinder``'s for Pathfinder.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if not isinstance(model, pm.Model):
        raise TypeError(f"model must be a pymc.Model, got {type(model).__name__}")
    if method != "nuts" and not all(v in model.continuous_value_vars for v in model.value_vars):
        raise ValueError(f"{method} needs every free variable to be continuous")
    return Fitter(method, model, draws, dict(settings))
