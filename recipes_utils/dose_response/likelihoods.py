"""Observation models of the dose-response builders beyond PyMC's own: a cheaper Student-t density."""

from __future__ import annotations

import numpy as np


def student_t_logp(value, nu, mu, sigma):
    """PyMC's ``StudentT`` log density, written with ``log`` where PyMC uses ``log1p``: the same density, cheaper.

    PyMC computes each row's ``-(nu + 1) / 2 * log1p(r**2 / (nu * sigma**2))``, ``r = value - mu``. Without SVML,
    Numba's code calls the C library for both ``log1p`` and ``log``, once per row, and on this 2-core CPU 400,000
    ``log1p`` took 4.9 ms against 1.9 ms for ``log`` (``benchmarks/log1p_cost.py``): at 400,000 rows the plates
    recipe's gradient took 7.9 ms with PyMC's ``StudentT`` and 4.8 ms with this (``benchmarks/plate_gradient.py``).
    Here the row term is ``log(nu * sigma**2 + r**2) - log(nu * sigma**2)``, the second ``log`` computed once. For
    ``r**2`` far below ``nu * sigma**2`` that difference loses relative precision, not absolute: its error is a few
    units in the last place of ``log(nu * sigma**2)``, far below what NUTS's energy error or a log density sum can
    feel.
    ``tests/test_dose_response.py`` checks value and gradient against ``pm.StudentT`` and SciPy.
    """
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import check_parameters

    scale2 = nu * sigma**2
    res = (
        pt.gammaln((nu + 1.0) / 2.0) - pt.gammaln(nu / 2.0) - 0.5 * pt.log(np.pi * scale2)
        - (nu + 1.0) / 2.0 * (pt.log(scale2 + (value - mu) ** 2) - pt.log(scale2))
    )  # fmt: skip
    return check_parameters(res, sigma > 0, nu > 0, msg="sigma > 0, nu > 0")


def _student_t(name, nu, mu, sigma, **kwargs):
    """A Student-t observed variable with :func:`student_t_logp` as its density; forward draws (prior and posterior
    predictive) are ``pm.StudentT``'s own."""
    import pymc as pm

    def dist(nu, mu, sigma, size):
        return pm.StudentT.dist(nu=nu, mu=mu, sigma=sigma, size=size)

    return pm.CustomDist(name, nu, mu, sigma, dist=dist, logp=student_t_logp, **kwargs)
