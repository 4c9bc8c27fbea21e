"""ADVI with PyMC, run the way every recipe runs it: :func:`fit_advi`, its stopping rules, what it returns.

:func:`fit_advi` is the few lines a reader would write themselves (``pm.fit`` with a convergence callback), plus what
the notebooks report: wall time with compilation, steps and convergence information. It stops by a rule that is
checked: ``ELBOConvergence`` (:mod:`recipes_utils.diagnostics`) on the loss, or iterate averaging
(:class:`IterateAverage`), which full-rank ADVI needs. It returns an :class:`AdviFit`. :func:`quiet_pymc` keeps
PyMC's informational log lines out of a notebook's outputs.

:mod:`recipes_utils.inference` re-exports every name here (``from recipes_utils.inference import fit_advi`` works) and
holds what a fit shares with NUTS: the progress switch (``show_progress``, ``RECIPES_PROGRESS``) and the seed check,
which the functions here import when they run (``inference`` imports this module).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from recipes_utils.compile_cache import cacheable_compiles
from recipes_utils.diagnostics import ELBOConvergence

__all__ = ["AdviFit", "IterateAverage", "fit_advi", "quiet_pymc"]


@dataclass
class AdviFit:
    """What :func:`fit_advi` returns."""

    approx: object  # the fitted pymc Approximation (mean-field or full-rank Gaussian)
    seconds: float  # wall time, compilation included
    steps: int  # optimisation steps run (a full-rank fit started from mean-field: the full-rank steps)
    converged_at: int | None  # step at which the convergence rule was met (None: it was not)
    convergence: object = field(repr=False)  # the rule: ELBOConvergence, or the iterate averaging's record
    method: str = "advi"

    @property
    def converged(self) -> bool:
        return self.converged_at is not None

    def sample(self, draws: int, seed: int):
        """``draws`` draws from the approximation, as an ``InferenceData`` (one chain)."""
        with quiet_pymc():
            return self.approx.sample(draws, random_seed=seed)


@contextlib.contextmanager
def quiet_pymc():
    """PyMC's informational log lines off for a block: "Sampling: [...]" from its forward samplers, "Finished [100%]:
    Average Loss = ...", "Interrupted at ..." and a stopping callback's message from ``pm.fit``. They are notes, not
    warnings, but they land on stderr, which a stored notebook shows in red. Warnings and errors still show."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class IterateAverage:
    """A ``pm.fit`` callback for iterate averaging (Polyak averaging; Dhaka et al. 2020) with a checked stop.

    Every ``every`` steps it adds the approximation's means and its Cholesky factor (its sds for mean-field) to the
    running sums of the current window of ``window`` steps. At each window's end it estimates the ELBO of the window's
    average precisely (the same ``n_draws`` standard-normal draws every time: common random numbers) and stops the fit
    when it improved by less than ``tol`` nats on the window before. The fit's approximation is then set to that
    average: a stochastic optimiser's last iterate rattles around the optimum, and in a full covariance that noise
    inflates every sd; the average does not.
    """

    def __init__(self, approx, model, *, window: int = 20_000, every: int = 10, tol: float = 0.5, n_draws: int = 2000,
                 seed: int = 0, stop: bool = True):  # fmt: skip
        import pytensor

        if window < 10 * every:
            raise ValueError(f"window must be at least 10 * every ({10 * every}), got {window}")
        if not tol > 0:
            raise ValueError(f"tol must be > 0, got {tol}")
        self.group = approx.groups[0]
        self.full_rank = "L_tril" in self.group.params_dict
        self.window, self.every, self.tol, self.stop = int(window), int(every), float(tol), bool(stop)
        self._scale = pytensor.function([], self.group.L if self.full_rank else self.group.std)
        self._mean = self.group.params_dict["mu"]
        d = self._mean.get_value().size
        self._z = np.random.default_rng(seed).standard_normal((int(n_draws), d))
        self._logp = _batched_logp(model)
        self.reset()

    def reset(self) -> None:
        """Forget every window (for a new fit with the same compiled functions)."""
        self._sum_mean, self._sum_scale, self._count = 0.0, 0.0, 0
        self.history: list[tuple[int, float]] = []  # (step, ELBO of the window's average)
        self.converged_at: int | None = None
        self.best: tuple | None = None

    def elbo(self, mean, scale) -> float:
        if self.full_rank:
            x, log_det = mean + self._z @ scale.T, np.log(np.abs(np.diag(scale))).sum()
        else:
            x, log_det = mean + self._z * scale, np.log(scale).sum()
        lp = self._logp(x)
        return float(np.mean(lp) + log_det + 0.5 * mean.size * (1 + np.log(2 * np.pi)))

    def __call__(self, approx, losses, i):
        if i % self.every == 0:
            self._sum_mean = self._sum_mean + self._mean.get_value()
            self._sum_scale = self._sum_scale + self._scale()
            self._count += 1
        if i % self.window or not self._count:
            return
        mean, scale = self._sum_mean / self._count, self._sum_scale / self._count
        self._sum_mean, self._sum_scale, self._count = 0.0, 0.0, 0
        elbo = self.elbo(mean, scale)
        improved = elbo - self.history[-1][1] if self.history else np.inf
        self.history.append((i, elbo))
        self.best = (mean, scale)
        if improved < self.tol and self.converged_at is None:
            self.converged_at = i
            if self.stop:
                raise StopIteration(f"the averaged ELBO improved by {improved:.2f} nats over {self.window} steps")

    def apply(self):
        """Set the approximation to the last window's average."""
        if self.best is None:
            return
        mean, scale = self.best
        self._mean.set_value(mean.astype(self._mean.dtype))
        if self.full_rank:
            n = mean.size
            rows, cols = np.tril_indices(n)
            values = scale[rows, cols].copy()
            diag = rows == cols
            values[diag] = _inverse_softplus(np.abs(values[diag]))
            self.group.params_dict["L_tril"].set_value(values.astype(self._mean.dtype))
        else:
            self.group.params_dict["rho"].set_value(_inverse_softplus(scale).astype(self._mean.dtype))

    def check(self):
        from recipes_utils.diagnostics import ConvergenceError

        if self.converged_at is None:
            last = ", ".join(f"{e:.1f}" for _, e in self.history[-3:])
            raise ConvergenceError(
                f"ADVI's averaged ELBO still improved by {self.tol} nats or more per {self.window} steps when it ran "
                f"out of steps (last window averages: {last}): run more steps"
            )
        return self.converged_at


def _inverse_softplus(x):
    x = np.asarray(x, dtype=float)
    return x + np.log(-np.expm1(-x))


def _batched_logp(model):
    """The model's log density (with the Jacobian) of a batch of flat unconstrained points, ``(n, d) -> (n,)``, compiled
    once (its graph vectorised over the batch, as pymc-extras' DADVI does)."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    [logp], flat = pm.join_nonshared_inputs(model.initial_point(), [model.logp()], model.value_vars)
    batch = pt.matrix("batch")
    with cacheable_compiles():
        fn = pm.pytensorf.compile([batch], pytensor.graph.vectorize_graph(logp, replace={flat: batch}), mode="NUMBA")
    return lambda x: np.asarray(fn(np.asarray(x, dtype=float)))


def _start_full_rank_from(inference, mean_field) -> None:
    """Put a mean-field fit's means and sds into a full-rank approximation (off-diagonal zero)."""
    group = inference.approx.groups[0]
    mean = mean_field.mean.eval()
    sd = mean_field.std.eval()
    n = mean.size
    rows, cols = np.tril_indices(n)
    values = np.zeros(rows.size)
    values[rows == cols] = _inverse_softplus(sd)
    group.params_dict["mu"].set_value(mean.astype(group.params_dict["mu"].dtype))
    group.params_dict["L_tril"].set_value(values.astype(group.params_dict["mu"].dtype))


def fit_advi(
    model,
    *,
    seed: int,
    max_steps: int = 60_000,
    learning_rate: float = 0.01,
    decay_steps: float | None = None,
    window: int = 1000,
    rtol: float | None = None,
    max_z: float | None = 2.0,
    method: str = "advi",
    mode: str | None = "NUMBA",
    progress: bool | None = None,
    stop: bool = True,
    check: bool = True,
    init: str | None = None,
    average_window: int | None = None,
    elbo_tol: float = 0.5,
) -> AdviFit:
    """ADVI with PyMC: Adam, stopped by a convergence rule that is checked, timed.

    The calls, as you would write them::

        conv = ELBOConvergence(window=window, rtol=rtol, max_z=max_z)
        with model:
            approx = pm.fit(max_steps, method=method, obj_optimizer=pm.adam(learning_rate=learning_rate),
                            callbacks=[conv], random_seed=seed, progressbar=progress,
                            compile_kwargs={"mode": mode})
        conv.check()

    Parameters
    ----------
    seed
        Seeds the Monte Carlo draws of the ELBO gradient and, for minibatch models, the batches.
    max_steps
        At most this many optimisation steps.
    learning_rate, decay_steps
        Adam's step size; with ``decay_steps`` it decays as ``learning_rate / (1 + step / decay_steps)`` (the
        Robbins-Monro condition for noisy gradients, such as minibatches', to settle).
    window, rtol, max_z
        The stopping rule without averaging (see ``ELBOConvergence``): every ``window`` steps compare the mean loss
        of the last ``window`` with the one before; stop when the relative change is below ``rtol`` and/or the
        improvement is within ``max_z`` standard errors of the losses' noise.
    method
        ``"advi"`` (mean-field) or ``"fullrank_advi"``.
    init
        ``"advi"`` starts a full-rank fit from a mean-field fit's means and sds (fitted first by this function's
        mean-field defaults, and timed with it) instead of PyMC's unit-scale start.
    average_window, elbo_tol
        Iterate averaging (:class:`IterateAverage`): average the iterates over windows of ``average_window`` steps
        and stop when the ELBO of a window's average, estimated precisely, improves by less than ``elbo_tol`` nats.
        The fit returned is that average. The rule full-rank ADVI needs: its last iterate's noise widens every sd.
    mode
        PyTensor compile mode of the step function: ``"NUMBA"`` (the default: PyTensor from pip has no BLAS for
        its C backend) or ``None`` for PyTensor's default.
    progress
        Show PyMC's progress bar; ``None`` follows :func:`show_progress`.
    stop
        Stop when the rule is met (the default); ``False`` runs all ``max_steps``.
    check
        Raise ``ConvergenceError`` if the rule was not met within ``max_steps``.
    """
    import pymc as pm

    from recipes_utils.inference import _check_seed, show_progress

    if method not in ("advi", "fullrank_advi"):
        raise ValueError(f"method must be 'advi' or 'fullrank_advi', got {method!r}")
    if init not in (None, "advi"):
        raise ValueError(f"init must be None or 'advi', got {init!r}")
    if init is not None and method != "fullrank_advi":
        raise ValueError("init='advi' starts a full-rank fit from mean-field: use it with method='fullrank_advi'")
    _check_seed(seed)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps < 2 * window:
        raise ValueError(f"max_steps must be an integer >= 2 * window ({2 * window}), got {max_steps!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if decay_steps is not None and not decay_steps > 0:
        raise ValueError(f"decay_steps must be > 0, got {decay_steps}")
    if average_window is not None and average_window * 2 > max_steps:
        raise ValueError(f"average_window must be at most max_steps / 2, got {average_window}")
    progress = show_progress() if progress is None else bool(progress)
    start = time.perf_counter()
    mean_field = None
    if init == "advi":
        mean_field = fit_advi(model, seed=seed, mode=mode, progress=progress)
    lr = learning_rate
    callbacks = []
    if decay_steps is not None:
        import pytensor

        lr = pytensor.shared(np.asarray(learning_rate, dtype=pytensor.config.floatX), name="learning_rate")

        def decay(_approx, _losses, i):
            lr.set_value(np.asarray(learning_rate / (1 + i / decay_steps), dtype=lr.dtype))

        callbacks.append(decay)
    compile_kwargs = {"mode": mode} if mode is not None else {}
    with model, quiet_pymc(), cacheable_compiles():
        inference = pm.ADVI(random_seed=seed) if method == "advi" else pm.FullRankADVI(random_seed=seed)
        if mean_field is not None:
            _start_full_rank_from(inference, mean_field.approx)
        if average_window is not None:
            conv = IterateAverage(inference.approx, model, window=average_window, tol=elbo_tol, seed=seed, stop=stop)
        else:
            conv = ELBOConvergence(window=window, rtol=rtol, max_z=max_z, stop=stop)
        approx = inference.fit(int(max_steps), obj_optimizer=pm.adam(learning_rate=lr), callbacks=[conv, *callbacks],
                               progressbar=progress, compile_kwargs=compile_kwargs)  # fmt: skip
    if average_window is not None:
        conv.apply()
    seconds = time.perf_counter() - start
    steps = conv.converged_at if (stop and conv.converged_at is not None) else len(approx.hist)
    if check:
        conv.check()
    return AdviFit(approx, seconds, steps, conv.converged_at, conv, method)


def _refine_advi(inference, step, lr, kw: dict, seed: int, rule) -> int:
    """Run a compiled ADVI step function again from the approximation's current parameters, under ``kw``'s rules (the
    same as :func:`fit_advi`'s; ``rule`` is the ELBOConvergence or IterateAverage to use, reset here). Returns the
    steps run. The SBC fitters' path: compiled once, refitted per data set."""
    from pymc.variational.inference import State

    from recipes_utils.inference import show_progress

    if isinstance(rule, IterateAverage):
        rule.reset()
    else:
        rule.converged_at, rule.changes, rule.z_scores = None, [], []
    callbacks = [rule]
    if kw.get("decay_steps") is not None:

        def decay(_approx, _losses, i):
            lr.set_value(np.asarray(kw["learning_rate"] / (1 + i / kw["decay_steps"]), dtype=lr.dtype))

        callbacks.append(decay)
    lr.set_value(np.asarray(kw["learning_rate"], dtype=lr.dtype))
    inference.hist = np.asarray(())
    inference.state = State(0, step=step, callbacks=callbacks, score=True)
    with quiet_pymc():
        inference.refine(int(kw["max_steps"]), progressbar=show_progress())
    if isinstance(rule, IterateAverage):
        rule.apply()
    if kw.get("check", True):
        rule.check()
    return rule.converged_at if rule.converged_at is not None else len(inference.hist)
