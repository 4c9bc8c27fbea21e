"""Convergence checks that raise when a fit cannot be trusted.

The notebooks call these so that a run with a bad fit fails loudly, in ``make run`` and in the
test suite, instead of printing numbers nobody should believe.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

__all__ = ["ConvergenceError", "check_nuts"]


class ConvergenceError(AssertionError):
    """A sampler's diagnostics are outside the limits the recipe set."""


def check_nuts(
    idata,
    var_names=None,
    *,
    max_rhat: float = 1.01,
    min_ess_bulk: float = 400,
    min_ess_tail: float = 400,
    max_divergences: int = 0,
) -> pd.DataFrame:
    """Check a NUTS fit: r-hat, bulk and tail ESS of every parameter, and the divergence count.

    Parameters
    ----------
    idata
        An ``arviz.InferenceData`` with a ``posterior`` group and, for the divergence count,
        ``sample_stats.diverging``.
    var_names
        Variables to check; all posterior variables by default.

    Returns
    -------
    pandas.DataFrame
        ``arviz.summary`` of the checked variables (diagnostics only), for display.

    Raises
    ------
    ConvergenceError
        Listing every parameter outside the limits and the number of divergences.
    ValueError
        If there is a single chain (r-hat needs at least two) or no posterior.
    """
    if not hasattr(idata, "posterior"):
        raise ValueError("idata has no posterior group: pass the result of pm.sample / nutpie.sample")
    n_chains = idata.posterior.sizes.get("chain", 0)
    if n_chains < 2:
        raise ValueError(f"r-hat needs at least 2 chains, got {n_chains}")
    summary = az.summary(idata, var_names=var_names, kind="diagnostics")
    problems = []
    bad = summary[~(summary["r_hat"] <= max_rhat)]
    if len(bad):
        problems.append(f"r_hat > {max_rhat}: " + _fmt(bad["r_hat"]))
    bad = summary[~(summary["ess_bulk"] >= min_ess_bulk)]
    if len(bad):
        problems.append(f"ess_bulk < {min_ess_bulk}: " + _fmt(bad["ess_bulk"]))
    bad = summary[~(summary["ess_tail"] >= min_ess_tail)]
    if len(bad):
        problems.append(f"ess_tail < {min_ess_tail}: " + _fmt(bad["ess_tail"]))
    n_div = int(np.asarray(idata.sample_stats["diverging"]).sum()) if "sample_stats" in idata else 0
    if n_div > max_divergences:
        problems.append(f"{n_div} divergent transitions (at most {max_divergences} allowed)")
    if problems:
        raise ConvergenceError("NUTS fit failed its checks:\n- " + "\n- ".join(problems))
    return summary


def _fmt(series: pd.Series, limit: int = 8) -> str:
    items = [f"{k}={v:.3g}" for k, v in series.items()]
    more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
