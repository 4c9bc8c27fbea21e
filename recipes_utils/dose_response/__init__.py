"""Dose-response models: one curve or many, of seven curve families and six response families, from a tidy table.

Two lines take a grouped table of your own to a checked fit::

    model = hierarchical_dose_response(table, group="compound", concentration="dose", response="y")
    fit = fit_curves(model, seed=1)   # NUTS at target_accept 0.95, once more at 0.99 if it diverged; then checked
    ecx_table(model, fit.idata, x=(10, 50))   # EC10 and EC50 per curve, with intervals and a flag

and one curve the same way, ``dose_response_model(table, concentration="dose", response="y")``. ``curve=`` chooses
the family (``"ll4"``, the default, ``"ll3"``, ``"ll5"``, ``"w1"``, ``"w2"``, ``"bc5"``, ``"nec"``), ``likelihood=``
the response (``"normal"``, the default, ``"student_t"``, ``"binomial"`` with ``trials=``, ``"poisson"``,
``"negative_binomial"``, ``"beta"``); ``hierarchical_four_pl`` and ``four_pl_model`` are the same builders, named for
their defaults. :func:`compare_curves` fits several families to one data set and compares them by PSIS-LOO.

Files
-----
table
    :func:`prepare_grouped` (the table's checks, into :class:`GroupedDoseResponse` arrays), :func:`one_curve_arrays`
    (one curve's data from a table or two arrays), :func:`replicate_cells` and :func:`curve_points` (rows regrouped
    into replicate cells and distinct doses).
families
    The curve families (:func:`curve_family`, :class:`CurveFamily`): each curve, its inverse (the ECx) and its prior
    rule (:func:`family_prior_rule`).
likelihoods
    The response families (:func:`response_family`): their checks, link, noise, exact aggregation; a cheaper
    Student-t density (:func:`student_t_logp`), the negative binomial's in its mean (:func:`negative_binomial_logp`)
    and the binomial's on the logit (:func:`binomial_logit_logp`).
priors
    :class:`CurvePriors`, :class:`FourPLPriors` (the 4PL's), :class:`DoseResponsePriors` (any family),
    :data:`SIMULATION_PRIORS`, and the default rules scaled from the data (:data:`DEFAULT_PRIOR_RULE`,
    :func:`default_curve_priors`, :func:`default_priors`, :func:`family_priors`, :func:`default_dose_response_priors`;
    :func:`level_scales`, the levels' scales capped on a logit or log scale).
one_curve
    One curve: :func:`dose_response_model` (= :func:`four_pl_model`) and :func:`least_squares_four_pl` (drc's
    least-squares 4PL reference).
hierarchical
    Many curves: :func:`hierarchical_dose_response` (= :func:`hierarchical_four_pl`).
parameterization
    The pooling rule (:func:`auto_parameterization`, counting :func:`effective_measurements`) and the per-parameter
    forms.
basis
    The decorrelated parameterisation's per-curve basis (:func:`curve_preconditioner`; the 4PL only).
spec
    What a builder records on its model (:func:`model_spec`, :class:`ModelSpec`).
fit
    :func:`fit_curves` (NUTS by the documented target-acceptance rule, then the convergence checks) and the
    :class:`CurveFit` it returns.
predict
    :func:`log_likelihood` (for LOO), :func:`posterior_predictive`, :func:`predict_curves` (new doses, new groups).
ecx
    :func:`ecx_table` (ECx and NEC with intervals, and whether they lie beyond the tested doses), :func:`ecx_ratio`
    (relative potency), :func:`ecx_draws`.
compare
    :func:`compare_curves`: several families on one data set, PSIS-LOO, stacking weights, model-averaged ECx.
ml
    :func:`maximum_likelihood`: drc's estimate of a one-curve model of any family and likelihood (SciPy).
checks
    Checks of a fit against known truth or its own approximation: :func:`interval_coverage`,
    :func:`advi_psis_khat`, :func:`group_psis_khat`.

Import from here: every public name (``__all__``) is re-exported, so ``from recipes_utils.dose_response import X``
needs no file name.
"""

from recipes_utils.dose_response.basis import curve_preconditioner
from recipes_utils.dose_response.checks import advi_psis_khat, group_psis_khat, interval_coverage
from recipes_utils.dose_response.compare import CurveComparison, compare_curves
from recipes_utils.dose_response.ecx import ECX_KINDS, ecx_draws, ecx_ratio, ecx_table
from recipes_utils.dose_response.families import (
    CURVE_NAMES,
    CurveFamily,
    curve_family,
    data_direction,
    family_prior_rule,
)
from recipes_utils.dose_response.fit import CurveFit, fit_curves
from recipes_utils.dose_response.hierarchical import (
    CURVE_PARAMS,
    hierarchical_dose_response,
    hierarchical_four_pl,
)
from recipes_utils.dose_response.likelihoods import (
    LIKELIHOOD_NAMES,
    ResponseFamily,
    binomial_logit_logp,
    negative_binomial_logp,
    response_family,
    student_t_logp,
)

# Private helpers imported from here by tests (_zero_sum_normal) and benchmarks/plate_gradient.py (_student_t).
from recipes_utils.dose_response.likelihoods import _student_t as _student_t
from recipes_utils.dose_response.ml import MaximumLikelihood, maximum_likelihood
from recipes_utils.dose_response.one_curve import dose_response_model, four_pl_model, least_squares_four_pl
from recipes_utils.dose_response.parameterization import (
    AUTO_MIN_GROUPS,
    AUTO_MIN_POINTS,
    auto_parameterization,
    effective_measurements,
)
from recipes_utils.dose_response.parameterization import _zero_sum_normal as _zero_sum_normal
from recipes_utils.dose_response.predict import log_likelihood, posterior_predictive, predict_curves
from recipes_utils.dose_response.priors import (
    DEFAULT_PRIOR_RULE,
    SIMULATION_PRIORS,
    CurvePriors,
    DoseResponsePriors,
    FourPLPriors,
    ParameterPrior,
    default_curve_priors,
    default_dose_response_priors,
    default_priors,
    family_priors,
    level_scales,
)
from recipes_utils.dose_response.spec import ModelSpec, model_spec
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
    "CURVE_NAMES",
    "CURVE_PARAMS",
    "DEFAULT_PRIOR_RULE",
    "ECX_KINDS",
    "LIKELIHOOD_NAMES",
    "SIMULATION_PRIORS",
    "CurveComparison",
    "CurveFamily",
    "CurveFit",
    "CurvePriors",
    "DoseResponsePriors",
    "FourPLPriors",
    "GroupedDoseResponse",
    "MaximumLikelihood",
    "ModelSpec",
    "ParameterPrior",
    "ResponseFamily",
    "advi_psis_khat",
    "auto_parameterization",
    "binomial_logit_logp",
    "compare_curves",
    "curve_family",
    "curve_points",
    "curve_preconditioner",
    "data_direction",
    "default_curve_priors",
    "default_dose_response_priors",
    "default_priors",
    "dose_response_model",
    "ecx_draws",
    "ecx_ratio",
    "ecx_table",
    "effective_measurements",
    "family_prior_rule",
    "family_priors",
    "fit_curves",
    "four_pl_model",
    "group_psis_khat",
    "hierarchical_dose_response",
    "hierarchical_four_pl",
    "interval_coverage",
    "least_squares_four_pl",
    "level_scales",
    "log_likelihood",
    "maximum_likelihood",
    "model_spec",
    "negative_binomial_logp",
    "one_curve_arrays",
    "posterior_predictive",
    "predict_curves",
    "prepare_grouped",
    "replicate_cells",
    "response_family",
    "student_t_logp",
]
