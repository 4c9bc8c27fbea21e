"""Every inference method of the approximations recipe behind one call, and simulation-based calibration (SBC).

``fit_method(name, model, seed=...)`` runs one of :data:`METHODS` on a PyMC model and returns its draws as
``InferenceData`` with the wall time (compilation included), each method run as its authors recommend.

Files
-----
methods
    :func:`fit_method`, :data:`METHODS`, :class:`MethodFit`, :func:`psis_khat` (Yao et al. 2018's diagnostic).
gaussian
    The two methods built on exact second derivatives: the Laplace approximation (:func:`laplace`) and DADVI with its
    linear-response covariance (:func:`dadvi_lrvb`); dense or block-arrow Hessians from Hessian-vector products.
fitters
    :func:`make_fitter`: a method compiled once for a model and refitted to new data (what SBC needs).
sbc
    :func:`sbc` (ranks of the truth over data sets from the prior predictive, thinned to the effective sample size,
    ties broken at random) and :func:`rank_uniformity` (one value per data set per test).
"""

from recipes_utils.approximations.fitters import METHODS, Fitter, Flat, make_fitter
from recipes_utils.approximations.gaussian import GaussianFit, dadvi, dadvi_lrvb, laplace, lrvb
from recipes_utils.approximations.methods import (
    ADVI_DEFAULTS,
    FULLRANK_DEFAULTS,
    MethodFit,
    fit_method,
    psis_khat,
)
from recipes_utils.approximations.sbc import rank_fraction, rank_uniformity, sbc, thin_to_ess

__all__ = [
    "ADVI_DEFAULTS",
    "FULLRANK_DEFAULTS",
    "METHODS",
    "Fitter",
    "Flat",
    "GaussianFit",
    "MethodFit",
    "dadvi",
    "dadvi_lrvb",
    "fit_method",
    "laplace",
    "lrvb",
    "make_fitter",
    "psis_khat",
    "rank_fraction",
    "rank_uniformity",
    "sbc",
    "thin_to_ess",
]
