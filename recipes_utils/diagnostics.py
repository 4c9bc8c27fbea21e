"""Convergence checks that raise when a fit cannot be trusted.

The notebooks call these so that a run with a bad fit fails loudly, in ``make run`` and in the
test suite, instead of printing numbers nobody should believe.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

__all__ = ["ConvergenceError", "ELBOConvergence", "check_nuts"]


class ConvergenceError(AssertionError):
    """A sampler's diagnostics are outside the limits the recipe set."""


def check_nuts(
    idata,
    var_names=None,
    *,
    max_rhat: float = 1.01,
    min_ess_bulk: float = 400,
    min_ess_tail: float = 400,
    max_divergences: int | None = 0,
) -> pd.DataFrame:
    """Check a NUTS fit: r-hat, bulk and tail ESS of every parameter, and the divergence count.

    Parameters
    ----------
    idata
        An ``arviz.InferenceData`` with a ``posterior`` group and, for the divergence count,
        ``sample_stats.diverging``.
    var_names
        Variables to check; all posterior variables by default.
    max_divergences
        Divergent transitions allowed, counted from ``sample_stats.diverging``; ``None`` skips that check (for draws
        that did not come from NUTS). A trace without ``sample_stats.diverging`` is an error otherwise.

    Returns
    -------
    pandas.DataFrame
        ``arviz.summary`` of the checked variables (diagnostics only), for display.

    Raises
    ------
    ConvergenceError
        Listing every parameter outside the limits and the number of divergences, then what to try for each kind
        of failure (divergences, r-hat, ESS).
    ValueError
        If there is a single chain (r-hat needs at least two), no posterior, or no divergence record to check.
    """
    if not hasattr(idata, "posterior"):
        raise ValueError("idata has no posterior group: pass the result of pm.sample / nutpie.sample")
    n_chains = idata.posterior.sizes.get("chain", 0)
    if n_chains < 2:
        raise ValueError(f"r-hat needs at least 2 chains, got {n_chains}")
    has_divergences = "sample_stats" in idata and "diverging" in idata.sample_stats
    if max_divergences is not None and not has_divergences:
        raise ValueError(
            "idata has no sample_stats.diverging, so the divergences cannot be counted: pass the sampler's own "
            "InferenceData (nutpie's and pm.sample's have it), or max_divergences=None to skip that check"
        )
    # Unrounded: az.summary rounds to 2 decimals by default, which would let an r-hat of 1.014 pass as 1.01.
    summary = az.summary(idata, var_names=var_names, kind="diagnostics", round_to="none")
    problems, advice = [], {}
    bad = summary[~(summary["r_hat"] <= max_rhat)]
    if len(bad):
        problems.append(f"r_hat > {max_rhat}: " + _fmt(bad["r_hat"]))
        advice["r_hat"] = _ADVICE["r_hat"]
    bad = summary[~(summary["ess_bulk"] >= min_ess_bulk)]
    if len(bad):
        problems.append(f"ess_bulk < {min_ess_bulk}: " + _fmt(bad["ess_bulk"]))
        advice["ess"] = _ADVICE["ess"]
    bad = summary[~(summary["ess_tail"] >= min_ess_tail)]
    if len(bad):
        problems.append(f"ess_tail < {min_ess_tail}: " + _fmt(bad["ess_tail"]))
        advice["ess"] = _ADVICE["ess"]
    n_div = int(np.asarray(idata.sample_stats["diverging"]).sum()) if has_divergences else 0
    if max_divergences is not None and n_div > max_divergences:
        problems.append(f"{n_div} divergent transitions (at most {max_divergences} allowed)")
        advice = {"divergences": _ADVICE["divergences"], **advice}  # first: the other numbers are suspect until fixed
    if problems:
        raise ConvergenceError(
            "NUTS fit failed its checks:\n- "
            + "\n- ".join(problems)
            + "\nWhat to try:\n- "
            + "\n- ".join(advice.values())
        )
    return summary


#: What :func:`check_nuts`'s error suggests, per kind of failure.
_ADVICE = {
    "divergences": (
        "divergences: raise target_accept (0.95, then 0.99); for a hierarchical model, switch the parameterisation "
        "(non-centred for few points per curve, centred for many: hierarchical_four_pl(..., parameterization=...)); "
        "or check the data for a shape the model cannot follow"
    ),
    "r_hat": (
        "r_hat: run longer chains (more draws); look at the trace and rank plots of the parameters named above "
        "(az.plot_trace, az.plot_rank); chains that settle in different places mean several modes"
    ),
    "ess": "low ESS: more draws, or a reparameterisation that makes the named parameters less correlated",
}


def _fmt(series: pd.Series, limit: int = 8) -> str:
    items = [f"{k}={v:.3g}" for k, v in series.items()]
    more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


class ELBOConvergence:
    """A ``pm.fit`` callback that stops ADVI once the ELBO has flattened.

    Every ``window`` iterations it compares the mean loss (negative ELBO) of the last ``window`` iterations
    with that of the ``window`` before. Two criteria, each used when given; the fit stops when all the
    given ones hold:

    - ``rtol``: the relative change of the window means is below ``rtol``. Simple, but the right value
      depends on the size of the loss, which grows with the number of observations.
    - ``max_z``: the improvement is within ``max_z`` standard errors of the difference of the window
      means (from the spread of the losses in each window), i.e. the ELBO no longer improves beyond its
      own Monte Carlo noise. Scale-free: the same value works for 3,000 and 400,000 observations.

    It records the iteration in ``converged_at`` and stops the fit (with ``stop=False`` it only records it and the
    fit runs on). Averaging over a window makes both
    criteria work with the noisy losses of ADVI (one Monte Carlo draw per step, or minibatches).

    Examples
    --------
    >>> conv = ELBOConvergence(window=1000, rtol=1e-3)
    >>> approx = pm.fit(50_000, callbacks=[conv])
    >>> conv.check()  # raises ConvergenceError if the fit ran out of iterations first
    """

    def __init__(self, window: int = 1000, rtol: float | None = 1e-3, *, max_z: float | None = None, stop: bool = True):
        if int(window) < 10:
            raise ValueError(f"window must be >= 10, got {window}")
        if rtol is None and max_z is None:
            raise ValueError("give rtol, max_z or both")
        if rtol is not None and not 0 < rtol < 1:
            raise ValueError(f"rtol must lie in (0, 1), got {rtol}")
        if max_z is not None and not max_z > 0:
            raise ValueError(f"max_z must be > 0, got {max_z}")
        self.window = int(window)
        self.stop = bool(stop)
        self.rtol = None if rtol is None else float(rtol)
        self.max_z = None if max_z is None else float(max_z)
        self.converged_at: int | None = None
        self.changes: list[tuple[int, float]] = []  # (iteration, relative change)
        self.z_scores: list[tuple[int, float]] = []  # (iteration, improvement / its standard error)

    def __call__(self, approx, losses, i):
        if i % self.window or len(losses) < 2 * self.window:
            return
        last_w = np.asarray(losses[-self.window :])
        prev_w = np.asarray(losses[-2 * self.window : -self.window])
        last, prev = last_w.mean(), prev_w.mean()
        change = abs(last - prev) / abs(prev)
        se = np.sqrt((last_w.var(ddof=1) + prev_w.var(ddof=1)) / self.window)
        z = (prev - last) / se if se > 0 else (0.0 if prev == last else np.inf)
        self.changes.append((i, float(change)))
        self.z_scores.append((i, float(z)))
        met = []
        if self.rtol is not None:
            met.append(change < self.rtol)
        if self.max_z is not None:
            met.append(z < self.max_z)
        if all(met) and self.converged_at is None:
            self.converged_at = i
            if not self.stop:
                return
            raise StopIteration(
                f"ELBO converged at iteration {i}: relative change {change:.2e}, improvement {z:.1f} standard errors"
            )

    def check(self):
        """Raise :class:`ConvergenceError` unless the criterion was met."""
        if self.converged_at is None:
            last = (
                f"; last relative change {self.changes[-1][1]:.2e}, improvement {self.z_scores[-1][1]:.1f} standard errors"
                if self.changes
                else ""
            )
            raise ConvergenceError(
                f"ADVI stopped before the ELBO flattened (rtol {self.rtol}, max_z {self.max_z}){last}: run more iterations"
            )
        return self.converged_at
