"""Observation models of the dose-response builders: the response families (``likelihood=``) and a cheaper Student-t.

================  ===================================  ==========  =============  ==================================
likelihood        response                             levels on   noise          exact aggregation (``aggregate``)
================  ===================================  ==========  =============  ==================================
normal            any real number                      identity    sigma          cell mean, count, sum of squares
student_t         any real number                      identity    sigma, nu      none (not sufficient)
binomial          successes of ``trials=`` (integer)   logit       none           summed successes and trials
poisson           counts (integers >= 0)               log         none           summed counts, n * mean
negative_binomial counts (integers >= 0)               log         dispersion     none (its shape is not sufficient)
beta              proportions strictly inside (0, 1)   logit       dispersion     none here (see below)
================  ===================================  ==========  =============  ==================================

"levels on" is the scale on which a curve's levels ``top`` and ``bottom`` are free parameters: for a bounded
response they are ``top = sigmoid(logit_top)`` (binomial, Beta) or ``top = exp(log_top)`` (counts), so every value
NUTS visits is a valid probability or rate and the hierarchy over groups lives on that scale; the curve between
them (a weighted mean of the two levels with weight ``S`` in [0, 1]) stays inside. Brain-Cousens (``bc5``), whose
shape rises above 1, is drawn on the link scale instead for those families (``logit(mu) = logit(bottom) +
(logit(top) - logit(bottom)) * S``), which keeps its bump inside too.

Parameterisations: ``Binomial(n=trials, p=mu)`` (PyMC's; where the curve's logit is at hand, with plates or a
link-scale curve, :func:`binomial_logit_logp` on that logit, so that a level of ``sigmoid(38)``, which is 1.0 in
floating point, keeps its finite density); ``Poisson(mu)``; ``NegativeBinomial(mu, alpha)``, variance ``mu + mu**2 /
alpha``, with ``dispersion = 1 / sqrt(alpha)`` (``HalfNormal(1)`` by default; 0 is the Poisson limit), its density
written in ``mu`` and ``alpha`` (:func:`negative_binomial_logp`: PyMC's takes ``p = alpha / (mu + alpha)``, which
rounds to 1 for ``mu`` below about ``1e-16 alpha``, where it gives ``-inf``), forward draws PyMC's;
``Beta(mu=mu, nu=kappa)``, mean ``mu``, variance ``mu (1 - mu) / (1 + kappa)``, with ``dispersion = 1 /
sqrt(kappa)`` (``HalfNormal(1)``); ``StudentT(nu, mu, sigma)`` with ``nu ~ Gamma(2, 0.1)`` (brms's default). The
binomial's background rate is the curve's control level ``top`` (no separate Abbott correction): with ``top`` free, a
control mortality of 5% is simply ``top = 0.05``.

Aggregation is exact where the replicates of a (group, dose) cell have a sufficient statistic whose density differs
from the rows' only by a constant: binomial rows sum to ``Binomial(sum trials, mu)``, Poisson rows to
``Poisson(n * mu)``; the constant (the combinatorial terms) is added as a ``Potential`` so the log density equals the
per-row one exactly. The negative binomial's sum is not sufficient for ``alpha``, nor Student-t's anything; Beta
rows have the sufficient statistics ``sum log y``, ``sum log(1 - y)``, which this module does not use yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The response families, as ``likelihood=`` takes them.
LIKELIHOOD_NAMES = ("normal", "student_t", "binomial", "poisson", "negative_binomial", "beta")


@dataclass(frozen=True)
class ResponseFamily:
    """One response family: its name, the scale its curve levels live on, and what aggregation it allows."""

    name: str
    link: str  # "identity", "logit" or "log"
    aggregates: bool  # exact aggregation of replicate cells exists (and is implemented)
    counts: bool  # the response holds whole numbers

    @property
    def needs_trials(self) -> bool:
        return self.name == "binomial"

    def level_name(self, level: str) -> str:
        """The free parameter behind a curve level: ``top``, ``logit_top`` or ``log_top``."""
        return level if self.link == "identity" else f"{self.link}_{level}"

    def to_response(self, value):
        """The inverse link, NumPy or PyTensor."""
        if self.link == "identity":
            return value
        from recipes_utils.models import _is_tensor

        if _is_tensor(value):
            import pytensor.tensor as pt

            return pt.sigmoid(value) if self.link == "logit" else pt.exp(value)
        from scipy.special import expit

        return expit(value) if self.link == "logit" else np.exp(value)

    def to_link(self, value):
        """The link, NumPy (for reading posterior draws)."""
        value = np.asarray(value, dtype=float)
        if self.link == "identity":
            return value
        with np.errstate(divide="ignore"):
            return np.log(value / (1 - value)) if self.link == "logit" else np.log(value)


_RESPONSES = {
    "normal": ResponseFamily("normal", "identity", True, False),
    "student_t": ResponseFamily("student_t", "identity", False, False),
    "binomial": ResponseFamily("binomial", "logit", True, True),
    "poisson": ResponseFamily("poisson", "log", True, True),
    "negative_binomial": ResponseFamily("negative_binomial", "log", False, True),
    "beta": ResponseFamily("beta", "logit", False, False),
}


def response_family(name) -> ResponseFamily:
    """The response family called ``name`` (one of :data:`LIKELIHOOD_NAMES`)."""
    if isinstance(name, ResponseFamily):
        return name
    if not isinstance(name, str) or name not in _RESPONSES:
        raise ValueError(f"unknown likelihood {name!r}: choose one of {list(LIKELIHOOD_NAMES)}")
    return _RESPONSES[name]


def _rows(mask, at_most=3) -> str:
    rows = np.flatnonzero(mask)
    return f"{len(rows)} row(s), first at positions {rows[:at_most].tolist()}"


def check_observations(lik: ResponseFamily, y, trials=None, *, response="response", trials_name="trials") -> None:
    """Refuse responses the likelihood cannot have produced, naming the column and the rows at fault: counts that
    are negative, not whole, or above their trials; a missing or a superfluous trials column; proportions at or
    outside 0 and 1 under Beta."""
    y = np.asarray(y, dtype=float)
    if lik.needs_trials and trials is None:
        raise ValueError(
            "likelihood='binomial' needs trials=: the column holding each row's number of trials (animals, seeds, "
            f"...), of which {response!r} counts the successes (dead, germinated, ...)"
        )
    if not lik.needs_trials and trials is not None:
        raise ValueError(f"trials= is for likelihood='binomial' only, not {lik.name!r}")
    if lik.counts:
        what = "successes" if lik.needs_trials else "counts"
        if (y < 0).any():
            raise ValueError(f"column {response!r} holds {what}, which cannot be negative: {_rows(y < 0)}")
        if (y != np.round(y)).any():
            hint = ""
            if lik.needs_trials and ((y >= 0) & (y <= 1)).all():
                hint = (f". If these are proportions, multiply them by the trials ({response!r} times "
                        f"{trials_name!r}, rounded) to give the model counts of successes")  # fmt: skip
            raise ValueError(
                f"column {response!r} holds {what}, which must be whole numbers: {_rows(y != np.round(y))}{hint}"
            )
    if trials is not None:
        n = np.asarray(trials, dtype=float)
        if not np.isfinite(n).all():
            raise ValueError(f"column {trials_name!r} has missing or infinite values: {_rows(~np.isfinite(n))}")
        if (n != np.round(n)).any() or (n < 1).any():
            raise ValueError(f"column {trials_name!r} must hold whole numbers of trials >= 1: "
                             f"{_rows((n != np.round(n)) | (n < 1))}")  # fmt: skip
        if (y > n).any():
            raise ValueError(f"column {response!r} has more successes than trials ({trials_name!r}) in "
                             f"{_rows(y > n)}: each row counts the successes out of its own trials")  # fmt: skip
    if lik.name == "beta":
        bad = (y <= 0) | (y >= 1)
        if bad.any():
            raise ValueError(
                f"likelihood='beta' needs proportions strictly inside (0, 1); column {response!r} has values at or "
                f"beyond 0 or 1 in {_rows(bad)}. Proportions of counted successes belong to a binomial model "
                "(likelihood='binomial' with trials=); otherwise squeeze them, (y * (n - 1) + 0.5) / n (Smithson "
                "and Verkuilen 2006)"
            )


def empirical_levels(lik: ResponseFamily, group_idx, log_conc, y, trials=None) -> np.ndarray:
    """The response of each (group, dose) cell on the scale the curve's levels live on: the empirical logit
    ``log((Y + 0.5) / (N - Y + 0.5))`` of its summed successes (binomial), ``log(mean count + 0.5 / n)`` (counts),
    the logit of its mean proportion (Beta), its rows' values (identity)."""
    if lik.link == "identity":
        return np.asarray(y, dtype=float)
    frame = pd.DataFrame({"g": group_idx, "x": log_conc, "y": y, "n": 1.0 if trials is None else trials})
    cells = frame.groupby(["g", "x"], sort=True).agg(y=("y", "sum"), n=("n", "sum"), rows=("y", "size"))
    if lik.name == "binomial":
        return np.log((cells["y"] + 0.5) / (cells["n"] - cells["y"] + 0.5)).to_numpy()
    if lik.link == "log":
        return np.log((cells["y"] + 0.5) / cells["rows"]).to_numpy()
    mean = cells["y"] / cells["rows"]
    return np.log(mean / (1 - mean)).to_numpy()


def noise_variables(lik: ResponseFamily, priors, include_nu: bool = True) -> dict:
    """The likelihood's noise variables, created in the current model: ``sigma`` (and ``nu``, unless the caller
    makes it later), or ``dispersion`` with ``alpha`` (negative binomial) or ``kappa`` (Beta) as Deterministics; none
    for binomial and Poisson."""
    import pymc as pm

    if lik.name in ("normal", "student_t"):
        noise = {"sigma": pm.HalfNormal("sigma", sigma=priors.sigma)}
        if lik.name == "student_t" and include_nu:
            noise["nu"] = pm.Gamma("nu", alpha=2.0, beta=0.1)
        return noise
    if lik.name in ("negative_binomial", "beta"):
        dispersion = pm.HalfNormal("dispersion", sigma=priors.dispersion)
        name = "alpha" if lik.name == "negative_binomial" else "kappa"
        return {name: pm.Deterministic(name, 1.0 / dispersion**2)}
    return {}


def _safe(lik: ResponseFamily, mu):
    """The mean as the distribution takes it, kept inside its domain against the last bit of rounding: a binomial
    probability clipped to [0, 1] (a curve at a level of exactly 1 can round to 1 + 1e-16), a Beta mean to
    [1e-12, 1 - 1e-12] (a curve that underflows to 0 would give ``alpha = 0``). Both only change values a curve
    reaches by rounding or underflow, where the gradient is already 0."""
    import pytensor.tensor as pt

    if lik.name == "binomial":
        return pt.clip(mu, 0.0, 1.0)
    if lik.name == "beta":
        return pt.clip(mu, 1e-12, 1.0 - 1e-12)
    return mu


def _nb_p(mu, alpha):
    """The negative binomial's ``p = alpha / (mu + alpha)`` for PyMC's forward draws, held at most 1: computed as
    ``alpha * (1 / (mu + alpha))`` it can round to 1 + 2e-16 where ``mu`` underflows to 0 (a curve falling to 0),
    which SciPy's sampler refuses."""
    import pytensor.tensor as pt

    return pt.minimum(alpha / (mu + alpha), 1.0)


def negative_binomial_logp(value, mu, alpha):
    """The negative binomial's log density in its mean ``mu`` (>= 0) and shape ``alpha`` (> 0)::

        gammaln(y + alpha) - gammaln(alpha) - gammaln(y + 1)
            - alpha * log1p(mu / alpha) + y * (log mu - log(alpha + mu))

    PyMC's ``NegativeBinomial.logp`` takes ``p = alpha / (mu + alpha)`` and rebuilds ``mu = alpha (1 - p) / p``,
    which needs ``mu > 0``: for ``mu`` below about ``1e-16 alpha`` ``p`` rounds to 1 and the density is ``-inf``
    (a rising ll3 curve is exactly 0 at its controls; a steep falling one underflows). Written in ``mu`` it is exact
    down to ``mu = 0`` (where a count of 0 has density 1), with a finite gradient there. As PyMC does, above
    ``alpha = 1e10`` it is the Poisson limit (``gammaln(y + alpha) - gammaln(alpha)`` loses its digits there).
    """
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import check_parameters

    y = value
    # y log(mu) is 0 for y = 0 whatever mu; log(1) in its place keeps the gradient finite at mu = 0
    log_mu = pt.log(pt.switch(pt.eq(y, 0), 1.0, mu))
    nb = (
        pt.gammaln(y + alpha) - pt.gammaln(alpha) - pt.gammaln(y + 1.0)
        - alpha * pt.log1p(mu / alpha) + y * (log_mu - pt.log(alpha + mu))
    )  # fmt: skip
    poisson = y * log_mu - mu - pt.gammaln(y + 1.0)
    res = pt.switch(pt.lt(y, 0), -np.inf, pt.switch(pt.gt(alpha, 1e10), poisson, nb))
    return check_parameters(res, mu >= 0, alpha > 0, msg="mu >= 0, alpha > 0")


def _negative_binomial_dist(mu, alpha, size=None):
    import pymc as pm

    return pm.NegativeBinomial.dist(n=alpha, p=_nb_p(mu, alpha), size=size)


def _negative_binomial(name, mu, alpha, **kwargs):
    """A negative binomial observed variable with :func:`negative_binomial_logp` as its density; forward draws are
    ``pm.NegativeBinomial``'s (``name=None``: the ``.dist``)."""
    import pymc as pm

    if name is None:
        return pm.CustomDist.dist(mu, alpha, dist=_negative_binomial_dist, logp=negative_binomial_logp,
                                  class_name="NegativeBinomialMu", **kwargs)  # fmt: skip
    return pm.CustomDist(name, mu, alpha, dist=_negative_binomial_dist, logp=negative_binomial_logp, **kwargs)


def binomial_logit_logp(value, n, logit_p, log_coef=None):
    """The binomial log density on the log odds ``logit_p``: ``log C(n, y) - y softplus(-logit_p) - (n - y)
    softplus(logit_p)``. PyMC's ``Binomial(logit_p=...)`` takes ``p = sigmoid(logit_p)``, which is 1.0 from a logit
    of about 37 on and then gives ``-inf`` for any failure; this stays finite, and is exact at ``logit_p = -inf``
    (a level of exactly 0) for ``y = 0``. ``log_coef``: ``log C(n, y)`` precomputed (:func:`log_choose`), as in
    :func:`binomial_logp`."""
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import binomln, check_parameters

    y = value
    successes = pt.switch(pt.eq(y, 0), 0.0, -y * pt.softplus(-logit_p))
    failures = pt.switch(pt.eq(n - y, 0), 0.0, -(n - y) * pt.softplus(logit_p))
    coef = binomln(n, y) if log_coef is None else log_coef
    res = pt.switch(pt.lt(y, 0) | pt.gt(y, n), -np.inf, coef + successes + failures)
    return check_parameters(res, n >= 0, msg="n >= 0")


def log_choose(n, k):
    """``log C(n, k)`` in NumPy, for a binomial's data: :func:`binomial_logp` takes it precomputed."""
    from scipy.special import gammaln

    n, k = np.asarray(n, dtype=float), np.asarray(k, dtype=float)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def binomial_logp(value, n, p, log_coef):
    """PyMC's ``Binomial(n, p)`` log density with its coefficient ``log C(n, y)`` given (``log_coef``, from
    :func:`log_choose`) instead of computed: the same value, without three log-gamma functions per cell at every
    gradient. At 24,000 cells they were 40% of a gradient's cost (1.76 against 1.07 ms, PyTensor's C backend;
    benchmarks/binomial_scale.py)."""
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import check_parameters, logpow

    y = value
    res = pt.switch(pt.lt(y, 0) | pt.gt(y, n), -np.inf, log_coef + logpow(p, y) + logpow(1 - p, n - y))
    return check_parameters(res, n >= 0, 0 <= p, p <= 1, msg="n >= 0, 0 <= p <= 1")


def _binomial_dist(n, p, log_coef, size=None):
    import pymc as pm

    return pm.Binomial.dist(n=n, p=p, size=size)


def _binomial_logit_dist(n, logit_p, log_coef=None, size=None):
    import pymc as pm
    import pytensor.tensor as pt

    return pm.Binomial.dist(n=n, p=pt.sigmoid(logit_p), size=size)


def _binomial_logit(name, n, logit_p, log_coef=None, **kwargs):
    """A binomial observed variable on the log odds (:func:`binomial_logit_logp`, with ``log_coef`` if given);
    forward draws are ``pm.Binomial``'s (``name=None``: the ``.dist``)."""
    import pymc as pm

    params = (n, logit_p) if log_coef is None else (n, logit_p, log_coef)
    if name is None:
        return pm.CustomDist.dist(*params, dist=_binomial_logit_dist, logp=binomial_logit_logp,
                                  class_name="BinomialLogit", **kwargs)  # fmt: skip
    return pm.CustomDist(name, *params, dist=_binomial_logit_dist, logp=binomial_logit_logp, **kwargs)


def _logaddexp(a, b):
    """``log(exp(a) + exp(b))`` with finite values and gradients wherever one or both are ``-inf``."""
    import pytensor.tensor as pt

    both = pt.isinf(a) & pt.isinf(b) & (a < 0) & (b < 0)
    a_safe, b_safe = pt.switch(both, 0.0, a), pt.switch(both, 0.0, b)
    out = pt.maximum(a_safe, b_safe) + pt.log1p(pt.exp(-pt.abs(a_safe - b_safe)))
    return pt.switch(both, -np.inf, out)


def link_mean(lik: ResponseFamily, on_scale: dict, log_s, log_1m_s):
    """The monotone curve ``bottom + (top - bottom) S`` on the likelihood's link scale (logit or log), computed in
    logs from the levels on that scale (``on_scale``: ``top``, ``bottom``; a level absent is fixed at 0) and the
    shape's ``log S`` and ``log(1 - S)`` (:meth:`~recipes_utils.dose_response.families.CurveFamily.log_shape_at`).

    ``log mu = logaddexp(log top + log S, log bottom + log(1 - S))`` and, for the logit, ``log(1 - mu)`` the same with
    ``1 - top`` and ``1 - bottom``: exact where ``log(mu) - log1p(-mu)`` of the curve is not, at a level that
    rounds to 1 (``sigmoid(38)``) or a mean that underflows to 0, and with a finite gradient there. PyTensor.
    """
    import pytensor.tensor as pt

    if lik.link == "identity":
        raise ValueError("link_mean is for the logit and log links, not the identity")
    levels = {lv: on_scale.get(lv) for lv in ("top", "bottom")}
    if lik.link == "log":
        logs = {lv: -np.inf if v is None else v for lv, v in levels.items()}
        return _logaddexp(logs["top"] + log_s, logs["bottom"] + log_1m_s)
    log_p = {lv: -np.inf if v is None else -pt.softplus(-v) for lv, v in levels.items()}
    log_q = {lv: 0.0 if v is None else -pt.softplus(v) for lv, v in levels.items()}
    log_mu = _logaddexp(log_p["top"] + log_s, log_p["bottom"] + log_1m_s)
    log_1m_mu = _logaddexp(log_q["top"] + log_s, log_q["bottom"] + log_1m_s)
    return log_mu - log_1m_mu


def observation(lik: ResponseFamily, mu, noise: dict, trials=None, *, eta=None):
    """The distribution of one observation with mean ``mu`` (a PyMC ``.dist``), for log densities and forward draws;
    a binomial with ``eta`` (the mean's logit) takes that instead (:func:`binomial_logit_logp`)."""
    import pymc as pm

    if lik.name == "binomial" and eta is not None:
        return _binomial_logit(None, trials, eta)
    mu = _safe(lik, mu)

    if lik.name == "normal":
        return pm.Normal.dist(mu, noise["sigma"])
    if lik.name == "student_t":
        return pm.StudentT.dist(nu=noise["nu"], mu=mu, sigma=noise["sigma"])
    if lik.name == "binomial":
        return pm.Binomial.dist(n=trials, p=mu)
    if lik.name == "poisson":
        return pm.Poisson.dist(mu)
    if lik.name == "negative_binomial":
        return _negative_binomial(None, mu, noise["alpha"])
    return pm.Beta.dist(mu=mu, nu=noise["kappa"])


def observe(lik: ResponseFamily, name, mu, noise: dict, observed, trials=None, *, eta=None, log_coef=None, **kwargs):
    """The observed variable ``name`` of the likelihood (Student-t through :func:`student_t_logp`, the negative
    binomial through :func:`negative_binomial_logp`; a binomial given ``eta``, the mean's logit, through
    :func:`binomial_logit_logp`, and one given ``log_coef``, its data's ``log C(n, y)``, through
    :func:`binomial_logp`)."""
    import pymc as pm

    if lik.name == "normal":
        return pm.Normal(name, mu=mu, sigma=noise["sigma"], observed=observed, **kwargs)
    if lik.name == "student_t":
        return _student_t(name, noise["nu"], mu, noise["sigma"], observed=observed, **kwargs)
    if lik.name == "binomial" and eta is not None:
        return _binomial_logit(name, trials, eta, log_coef, observed=observed, **kwargs)
    mu = _safe(lik, mu)
    if lik.name == "binomial" and log_coef is not None:
        return pm.CustomDist(name, trials, mu, log_coef, dist=_binomial_dist, logp=binomial_logp,
                             observed=observed, **kwargs)  # fmt: skip
    if lik.name == "binomial":
        return pm.Binomial(name, n=trials, p=mu, observed=observed, **kwargs)
    if lik.name == "poisson":
        return pm.Poisson(name, mu=mu, observed=observed, **kwargs)
    if lik.name == "negative_binomial":
        return _negative_binomial(name, mu, noise["alpha"], observed=observed, **kwargs)
    return pm.Beta(name, mu=mu, nu=noise["kappa"], observed=observed, **kwargs)


def count_cells(lik: ResponseFamily, group_idx, log_conc, y, trials=None) -> tuple[pd.DataFrame, float]:
    """Binomial or Poisson rows summed per (group, dose) cell, and the constant that makes the cells' log density
    the rows' exactly.

    Returns one row per cell (sorted by group, then log concentration) with ``group_idx``, ``log_conc``, ``n`` (rows),
    ``total`` (summed successes or counts) and ``trials`` (summed trials; binomial), and the constant
    ``sum over rows log C(n_i, y_i) - sum over cells log C(N, Y)`` (binomial) or
    ``sum over cells [log Y! - Y log n] - sum over rows log y_i!`` (Poisson).
    """
    from scipy.special import gammaln

    y = np.asarray(y, dtype=float)
    n_i = np.ones_like(y) if trials is None else np.asarray(trials, dtype=float)
    frame = pd.DataFrame({"group_idx": group_idx, "log_conc": log_conc, "y": y, "trials": n_i})
    cells = frame.groupby(["group_idx", "log_conc"], sort=True).agg(
        n=("y", "size"), total=("y", "sum"), trials=("trials", "sum")
    ).reset_index()  # fmt: skip
    big_y, big_n = cells["total"].to_numpy(), cells["trials"].to_numpy()
    if lik.name == "binomial":
        constant = log_choose(n_i, y).sum() - log_choose(big_n, big_y).sum()
    elif lik.name == "poisson":
        constant = (gammaln(big_y + 1) - big_y * np.log(cells["n"].to_numpy())).sum() - gammaln(y + 1).sum()
    else:
        raise ValueError(f"no exact aggregation of {lik.name!r} rows into cells")
    return cells, float(constant)


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
