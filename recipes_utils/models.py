"""Model pieces shared by the recipes."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

__all__ = ["curve_draws", "four_pl"]


def _is_tensor(x) -> bool:
    # Checked by module name so that importing this module does not import PyTensor.
    return type(x).__module__.startswith("pytensor")


def four_pl(log_conc, bottom, top, log_ec50, hill):
    """The 4-parameter logistic (4PL) dose-response curve, on the log-concentration scale.

    ``bottom + (top - bottom) / (1 + exp(hill * (log_conc - log_ec50)))``

    The response falls from ``top`` (no compound) to ``bottom`` (saturating dose) when ``hill > 0``,
    and is half-way between them at ``log_conc == log_ec50``. This is the ``LL.4`` model of the R
    package drc, with ``hill`` its ``b`` and ``exp(log_ec50)`` its ``e``. Written with the logistic
    sigmoid so that it never overflows.

    Works on NumPy arrays and on PyTensor variables (inside a PyMC model). A concentration of zero
    (an untreated control, ``log_conc == -inf``) gives ``top`` exactly; with PyTensor parameters,
    ``log_conc`` must then be a NumPy array so the controls can be masked out of the gradient
    (``0 * -inf`` would otherwise make it NaN).
    """
    args = (bottom, top, log_ec50, hill)
    if not any(_is_tensor(a) for a in (log_conc, *args)):
        return bottom + (top - bottom) * expit(-hill * (np.asarray(log_conc) - log_ec50))

    import pytensor.tensor as pt

    if _is_tensor(log_conc):
        return bottom + (top - bottom) * pt.sigmoid(-hill * (log_conc - log_ec50))
    log_conc = np.asarray(log_conc, dtype=float)
    if np.isnan(log_conc).any() or np.isposinf(log_conc).any():
        raise ValueError("log_conc must be finite or -inf (a zero concentration); got NaN or +inf")
    control = np.isneginf(log_conc)
    if not control.any():
        return bottom + (top - bottom) * pt.sigmoid(-hill * (log_conc - log_ec50))
    safe = np.where(control, 0.0, log_conc)
    curve = bottom + (top - bottom) * pt.sigmoid(-hill * (safe - log_ec50))
    return pt.switch(control, top, curve)


def curve_draws(posterior, log_conc, names=("bottom", "top", "log_ec50", "hill")):
    """4PL curves evaluated at ``log_conc`` for every posterior (or prior) draw.

    Parameters
    ----------
    posterior
        An xarray Dataset such as ``idata.posterior`` (dims chain, draw) holding scalar variables
        with the given ``names``.
    log_conc
        1-D grid of log concentrations.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_chains * n_draws, len(log_conc))``.
    """
    missing = [n for n in names if n not in posterior]
    if missing:
        raise KeyError(f"posterior lacks {missing}; it has {list(posterior.data_vars)}")
    params = [np.asarray(posterior[n]).reshape(-1, 1) for n in names]
    return four_pl(np.asarray(log_conc, dtype=float)[None, :], *params)
