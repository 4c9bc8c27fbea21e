"""Fitting a dose-response model with NUTS by the documented rule: :func:`fit_curves`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from recipes_utils.inference import NutsFit

#: :func:`fit_curves`'s first target acceptance, and the one of its single refit when the first fit diverged.
TARGET_ACCEPT, RETRY_TARGET_ACCEPT = 0.95, 0.99


@dataclass(frozen=True)
class CurveFit:
    """What :func:`fit_curves` returns: the fit it kept, the target acceptance that fit used, each fit's divergences
    and the convergence diagnostics."""

    fit: NutsFit  # the fit kept: the refit when there was one
    target_accept: float  # the target acceptance of ``fit``
    divergences: dict  # target acceptance -> divergent transitions, for each fit made, in order
    diagnostics: pd.DataFrame | None  # check_nuts's table (r-hat, ESS per parameter); None with check=False

    @property
    def idata(self):
        """The kept fit's ``InferenceData``."""
        return self.fit.idata

    @property
    def refitted(self) -> bool:
        """Whether the first fit diverged and the model was fitted again at the higher target acceptance."""
        return len(self.divergences) > 1

    def __str__(self) -> str:
        return "; ".join(f"target_accept {t:g}: {n} divergences" for t, n in self.divergences.items())


def fit_curves(
    model,
    *,
    seed: int,
    chains: int = 4,
    tune: int = 1000,
    draws: int = 1000,
    target_accept: float = TARGET_ACCEPT,
    retry_target_accept: float | None = RETRY_TARGET_ACCEPT,
    max_rhat: float = 1.01,
    min_ess: float = 400,
    check: bool = True,
    **sample_kwargs,
) -> CurveFit:
    """Fit a dose-response model with NUTS by the rule the recipes document, then check the fit.

    The rule: sample at ``target_accept`` 0.95; if any transition diverged, fit once more at
    ``retry_target_accept`` 0.99 (same seed, same settings; the compiled sampler is reused) and keep that fit.
    ``sample_nuts``'s general default, 0.8, is too bold for 4PL curves: on six real grouped tables from outside
    the repository it gave 35-80 divergences on three, where this rule gave 0-1. A higher target acceptance
    takes smaller steps, so a fit costs more gradients, and it still cannot fix a model the data contradict:
    divergences left at 0.99 fail the check, whose message says what to try next.

    Parameters
    ----------
    model
        A PyMC model, such as :func:`~recipes_utils.dose_response.four_pl_model`'s or
        :func:`~recipes_utils.dose_response.hierarchical_four_pl`'s.
    seed, chains, tune, draws
        As for :func:`recipes_utils.inference.sample_nuts`, which makes each fit; ``sample_kwargs`` go to it too.
    target_accept, retry_target_accept
        The first fit's target acceptance and the refit's; ``retry_target_accept=None`` never refits.
    max_rhat, min_ess, check
        With ``check=True`` (the default) the kept fit goes through :func:`recipes_utils.diagnostics.check_nuts`
        (r-hat at most ``max_rhat``, bulk and tail ESS at least ``min_ess`` for every stored variable, no
        divergences), which raises ``ConvergenceError`` naming what failed and what to try; the error's ``fit``
        attribute holds the :class:`CurveFit`, for a look at the trace.

    Returns
    -------
    CurveFit
        ``fit`` (the kept :class:`~recipes_utils.inference.NutsFit`; ``idata`` is its trace), ``target_accept`` (the
        one it used), ``divergences`` (target acceptance -> divergences of each fit made) and ``diagnostics`` (the
        check's table, or None).
    """
    from recipes_utils import inference
    from recipes_utils.diagnostics import ConvergenceError, check_nuts

    for name, value in (("target_accept", target_accept), ("retry_target_accept", retry_target_accept)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1):
            raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    if retry_target_accept is not None and retry_target_accept <= target_accept:
        raise ValueError(
            f"retry_target_accept ({retry_target_accept}) must be above target_accept ({target_accept}): the refit "
            "takes smaller steps to avoid the first fit's divergences (or pass None for no refit)"
        )
    if check:
        if isinstance(chains, int | np.integer) and not isinstance(chains, bool) and chains < 2:
            raise ValueError(f"the check needs r-hat, which needs at least 2 chains, got chains={chains}")
        if not max_rhat > 1:
            raise ValueError(f"max_rhat must be above 1, got {max_rhat}")
        if not min_ess > 0:
            raise ValueError(f"min_ess must be positive, got {min_ess}")
    settings = dict(seed=seed, chains=chains, tune=tune, draws=draws, **sample_kwargs)
    fit = inference.sample_nuts(model, target_accept=target_accept, **settings)
    used, divergences = target_accept, {target_accept: fit.divergences}
    if fit.divergences and retry_target_accept is not None:
        fit = inference.sample_nuts(model, target_accept=retry_target_accept, **settings)
        used = retry_target_accept
        divergences[retry_target_accept] = fit.divergences
    result = CurveFit(fit, used, divergences, None)
    if not check:
        return result
    try:
        table = check_nuts(fit.idata, max_rhat=max_rhat, min_ess_bulk=min_ess, min_ess_tail=min_ess)
    except ConvergenceError as err:
        error = ConvergenceError(f"{err}\nFits made: {result}.")
        error.fit = result
        raise error from None
    return CurveFit(fit, used, divergences, table)
