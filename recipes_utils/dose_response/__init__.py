"""4-parameter logistic (4PL) dose-response models: one curve or many, from a tidy table.

Two lines take a grouped table of your own to a checked fit::

    model = hierarchical_four_pl(table, group="compound", concentration="dose", response="y")
    fit = fit_curves(model, seed=1)   # NUTS at target_accept 0.95, once more at 0.99 if it diverged; then checked
    fit.idata                         # the trace, for arviz

and one curve the same way, ``four_pl_model(table, concentration="dose", response="y")``.

Files
-----
table
    :func:`prepare_grouped` (the table's checks, into :class:`GroupedDoseResponse` arrays), :func:`one_curve_arrays`
    (one curve's data from a table or two arrays), :func:`replicate_cells` and :func:`curve_points` (rows regrouped
    into replicate cells and distinct doses).
priors
    :class:`CurvePriors`, :class:`FourPLPriors`, :data:`SIMULATION_PRIORS`, and the default rule scaled from the data
    (:data:`DEFAULT_PRIOR_RULE`, :func:`default_curve_priors`, :func:`default_priors`).
one_curve
    One curve: :func:`four_pl_model` (PyMC) and :func:`least_squares_four_pl` (drc's least-squares reference).
hierarchical
    Many curves: :func:`hierarchical_four_pl` and its parameterisation rule (:func:`auto_parameterization`).
basis
    The decorrelated parameterisation's per-curve basis (:func:`curve_preconditioner`).
likelihoods
    Observation densities beyond PyMC's own (:func:`student_t_logp`).
fit
    :func:`fit_curves` (NUTS by the documented target-acceptance rule, then the convergence checks) and the
    :class:`CurveFit` it returns.
predict
    :func:`log_likelihood` (for LOO), :func:`posterior_predictive`, :func:`predict_curves` (new doses, new groups).
checks
    Checks of a fit against known truth or its own approximation: :func:`interval_coverage`,
    :func:`advi_psis_khat`, :func:`group_psis_khat`.

Import from here: every public name (``__all__``) is re-exported, so ``from recipes_utils.dose_response import X``
needs no file name.
"""

from recipes_utils.dose_response.basis import curve_preconditioner
from recipes_utils.dose_response.checks import advi_psis_khat, group_psis_khat, interval_coverage
from recipes_utils.dose_response.fit import CurveFit, fit_curves
from recipes_utils.dose_response.hierarchical import (
    AUTO_MIN_GROUPS,
    AUTO_MIN_POINTS,
    CURVE_PARAMS,
    auto_parameterization,
    hierarchical_four_pl,
)

# Private helpers imported from here by tests (_zero_sum_normal) and benchmarks/plate_gradient.py (_student_t).
from recipes_utils.dose_response.hierarchical import _zero_sum_normal as _zero_sum_normal
from recipes_utils.dose_response.likelihoods import _student_t as _student_t
from recipes_utils.dose_response.likelihoods import student_t_logp
from recipes_utils.dose_response.one_curve import four_pl_model, least_squares_four_pl
from recipes_utils.dose_response.predict import log_likelihood, posterior_predictive, predict_curves
from recipes_utils.dose_response.priors import (
    DEFAULT_PRIOR_RULE,
    SIMULATION_PRIORS,
    CurvePriors,
    FourPLPriors,
    default_curve_priors,
    default_priors,
)
from recipes_utils.dose_response.table import (
    GroupedDoseResponse,
    curve_points,
    one_curve_arrays,
    prepare_grouped,
    replicate_cells,
)

__all__ = [
    "AUTO_MIN_GROUPS",
    "AUTO_MIN_POINTS",
    "CURVE_PARAMS",
    "DEFAULT_PRIOR_RULE",
    "SIMULATION_PRIORS",
    "CurveFit",
    "CurvePriors",
    "FourPLPriors",
    "GroupedDoseResponse",
    "advi_psis_khat",
    "auto_parameterization",
    "curve_points",
    "curve_preconditioner",
    "default_curve_priors",
    "default_priors",
    "fit_curves",
    "four_pl_model",
    "group_psis_khat",
    "hierarchical_four_pl",
    "interval_coverage",
    "least_squares_four_pl",
    "log_likelihood",
    "one_curve_arrays",
    "posterior_predictive",
    "predict_curves",
    "prepare_grouped",
    "replicate_cells",
    "student_t_logp",
]
