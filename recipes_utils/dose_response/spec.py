"""What a dose-response builder records on the model it returns (:class:`ModelSpec`, read with :func:`model_spec`):
the curve family, the likelihood, the priors and parameterisation it resolved, and each curve's tested doses, so that
predictions, ECx tables and refits (:mod:`~recipes_utils.dose_response.compare`) read the model the way it was
built."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recipes_utils.dose_response.families import CurveFamily
from recipes_utils.dose_response.likelihoods import ResponseFamily
from recipes_utils.dose_response.priors import DoseResponsePriors

_ATTRIBUTE = "_dose_response_spec"


@dataclass(frozen=True)
class ModelSpec:
    """How a dose-response model was built."""

    kind: str  # "hierarchical" or "one_curve"
    family: CurveFamily
    likelihood: ResponseFamily
    priors: DoseResponsePriors  # the priors used (the defaults resolved from the data, or the ones given)
    groups: list  # group labels (one curve: ["curve"])
    dose_range: np.ndarray  # (n_groups, 2): each curve's lowest and highest positive concentration tested
    forms: dict | None = None  # hierarchical: free parameter -> "centered", "noncentered" or "shared"
    options: dict = field(default_factory=dict)  # the builder's other arguments (columns, aggregate, ...)

    @property
    def link_curve(self) -> bool:
        """Whether the curve is drawn on the link scale (a non-monotone family under a bounded likelihood)."""
        return not self.family.monotone and self.likelihood.link != "identity"

    @property
    def free_params(self) -> tuple[str, ...]:
        return self.family.free_params(self.likelihood)

    def mean(self, log_conc, params: dict, on_scale: dict | None = None):
        """The mean response at ``log_conc`` from the natural curve parameters (``top``, ``bottom`` on the response
        scale), NumPy or PyTensor; under a link-scale curve the levels go through the link first (or are given on
        the link scale as ``on_scale``)."""
        if not self.link_curve:
            return self.family.curve(log_conc, params)
        on_link = dict(params)
        for level in self.family.levels:
            on_link[level] = _link(self.likelihood, params[level]) if on_scale is None else on_scale[level]
        return self.likelihood.to_response(self.family.curve(log_conc, on_link))


def _link(lik: ResponseFamily, value):
    from recipes_utils.models import _is_tensor

    if not _is_tensor(value):
        return lik.to_link(value)
    import pytensor.tensor as pt

    return pt.log(value) - pt.log1p(-value) if lik.link == "logit" else pt.log(value)


def model_spec(model) -> ModelSpec:
    """The :class:`ModelSpec` of a model built by ``dose_response_model``, ``four_pl_model``,
    ``hierarchical_dose_response`` or ``hierarchical_four_pl``."""
    spec = getattr(model, _ATTRIBUTE, None)
    if spec is None:
        raise ValueError(
            "this model was not built by the dose-response builders (dose_response_model, four_pl_model, "
            "hierarchical_dose_response, hierarchical_four_pl): it records no curve family or likelihood"
        )
    return spec


def attach_spec(model, spec: ModelSpec):
    setattr(model, _ATTRIBUTE, spec)
    return model


def dose_range(group_idx, log_conc, n_groups: int, shared=None) -> np.ndarray:
    """Each group's lowest and highest positive concentration (NaN for a group without one), from the log doses."""
    x = np.asarray(log_conc, dtype=float)
    keep = np.isfinite(x) if shared is None else np.isfinite(x) & ~np.asarray(shared, dtype=bool)
    out = np.full((n_groups, 2), np.nan)
    g = np.asarray(group_idx)[keep]
    x = x[keep]
    if len(x):
        lo = np.full(n_groups, np.inf)
        hi = np.full(n_groups, -np.inf)
        np.minimum.at(lo, g, x)
        np.maximum.at(hi, g, x)
        ok = np.isfinite(lo)
        out[ok, 0], out[ok, 1] = np.exp(lo[ok]), np.exp(hi[ok])
    # exp(log(0.1)) is 0.10000000000000002: 15 significant digits give the doses back as the table held them
    return np.vectorize(lambda v: float(f"{v:.15g}"), otypes=[float])(out)


def check_identifiable(family: CurveFamily, log_conc, what: str) -> None:
    """Refuse a family with more curve parameters than the data have distinct doses (an untreated control counts
    as one): such a curve passes through every dose's mean in many ways, and its extra parameters (the hormetic
    bump, the threshold, the asymmetry) are not informed by the data at all. The 4PL keeps its older rule (two
    positive doses), on which the recipes and the sweep rely."""
    if family.name == "ll4":
        return
    levels = len(np.unique(np.asarray(log_conc, dtype=float)))
    if levels < family.n_params:
        extra = {
            "bc5": " A hormesis curve also needs doses below the bump, where the response moves away from the control.",
            "nec": " A threshold curve also needs doses on both sides of the no-effect concentration.",
            "ll5": " The asymmetry is the fifth parameter: it needs doses along the whole decline.",
        }.get(family.name, "")
        raise ValueError(
            f"curve={family.name!r} ({family.title}) has {family.n_params} parameters, but {what} only "
            f"{levels} distinct dose(s) (an untreated control counts as one): too few to identify it.{extra} Choose "
            "a family with fewer parameters (ll4, ll3, w1, w2) or test more doses"
        )


def check_zero_level(family: CurveFamily, lik: ResponseFamily, log_conc, y) -> None:
    """Refuse ll3 where the likelihood cannot have the mean of 0 that it fixes: under Beta always (a Beta mean lies
    strictly inside (0, 1), so neither a rising curve's control level nor a falling one's high-dose limit can be 0);
    on rising data (control level 0) binomial or count controls with successes or counts above 0."""
    if family.zero_level is None or lik.link == "identity":
        return
    if lik.name == "beta":
        which = "control level (rising data)" if family.zero_level == "top" else "high-dose limit (falling data)"
        raise ValueError(
            f"curve='ll3' fixes the {which} at 0, but under likelihood='beta' the mean is a proportion strictly "
            "inside (0, 1) and can never be 0. Use curve='ll4', whose lower limit is estimated (and stays above 0)"
        )
    if family.zero_level != "top":
        return
    control = np.isneginf(np.asarray(log_conc, dtype=float))
    bad = control & (np.asarray(y, dtype=float) > 0)
    if bad.any():
        what = "successes" if lik.needs_trials else "counts"
        raise ValueError(
            f"curve='ll3' on rising data fixes the control level at 0, but {int(bad.sum())} untreated control row(s) "
            f"have {what} above 0: under likelihood={lik.name!r} that level is impossible. Use curve='ll4', whose top "
            "is the control level (the background rate, estimated with the rest)"
        )
