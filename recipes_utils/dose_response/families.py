"""Curve families of the dose-response builders: the shape of the curve between its two levels.

Every family here is written the same way, on the natural-log concentration ``x`` (``-inf`` for an untreated
control)::

    curve(x) = bottom + (top - bottom) * S(x - location)

``top`` is the level at zero dose (the untreated control), ``bottom`` the limit at high dose, either may be the larger
(a falling or a rising response), and the shape ``S`` goes from 1 at zero dose to 0 at high dose. The families, with
drc's names and the forms its documentation gives (``z = x - location``, ``u = exp(z)``):

======  ============================  ==========================================  ========================
name    drc                            S(z)                                        location, shapes
======  ============================  ==========================================  ========================
ll4     LL.4                           1 / (1 + u**hill)                           log_ec50; hill
ll3     LL.3 (one limit 0)             as ll4, with bottom = 0 (falling) or        log_ec50; hill
                                       top = 0 (rising)
ll5     LL.5                           (1 + u**hill) ** -asym                      log_e; hill, asym
w1      W1.4                           exp(-u**hill)                               log_e; hill
w2      W2.4                           1 - exp(-u**-hill)                          log_e; hill
bc5     BC.5 (Brain-Cousens)           (1 + hormesis * u) / (1 + u**hill)          log_e; hill > 1, hormesis
nec     NEC.4 (bayesnec nec4param)     exp(-rate * max(u - 1, 0))                  log_nec; rate
======  ============================  ==========================================  ========================

drc writes the Weibull and NEC forms with its own signs (``b < 0`` for a falling W2.4); here every slope is positive
and the direction of the curve is the sign of ``top - bottom``. The Brain-Cousens term ``f * dose`` is written
``(top - bottom) * hormesis * dose / exp(log_e)``, so ``hormesis`` has no units; its Hill slope must exceed 1 for the
curve to come back down to ``bottom`` (``hill = 1 + exp(log_hill_excess)``), and the shape rises above 1 (a bump
before the decline, in the direction opposite to the effect) by an amount that grows with ``hormesis``. The NEC
form is drc's ``NEC.4``, ``c + (d - c) exp(-b (dose - nec))`` above ``nec``, with its rate made unitless as
``rate = b * nec``. For ll5, w1, w2 and bc5 the location ``e`` is *not* the EC50: :meth:`CurveFamily.log_dose_at`
inverts each shape (in closed form, or for bc5 by vectorised bisection), and
:func:`~recipes_utils.dose_response.ecx_table` reports ECx measured from the control level ``top``, never from a
hormetic maximum (bayesnec issue 195).

Each family lists its free parameters with the transform that makes them unconstrained (``log_hill``, ``log_e``, ...)
and its default prior rule (:func:`family_prior_rule`), read from the data's scales as
:data:`~recipes_utils.dose_response.DEFAULT_PRIOR_RULE` is. Get one with :func:`curve_family`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from recipes_utils.models import _is_tensor, four_pl

#: The curve families, by name, as ``curve=`` takes them.
CURVE_NAMES = ("ll4", "ll3", "ll5", "w1", "w2", "bc5", "nec")


@dataclass(frozen=True)
class Shape:
    """A positive shape parameter ``name = lower + exp(free)``, and the default prior of ``free``: population mean
    ``Normal(mu, mu_sd)`` (one curve: the curve's own value), spread between curves ``HalfNormal(sd)``."""

    name: str
    free: str
    lower: float
    mu: float
    mu_sd: float
    sd: float
    meaning: str

    def natural(self, free_value):
        exp = _math(free_value).exp
        return self.lower + exp(free_value) if self.lower else exp(free_value)


@dataclass(frozen=True)
class CurveFamily:
    """One curve family: ``curve(x) = bottom + (top - bottom) * S(x - location)`` (see the module docs)."""

    name: str
    title: str
    location: str  # the free location parameter: log_ec50, log_e or log_nec
    shapes: tuple[Shape, ...]
    shape_fn: Callable = field(repr=False)  # (z, shapes, math) -> S
    inverse_fn: Callable | None = field(repr=False, default=None)  # (s in (0, 1), shapes) -> z, NumPy, closed form
    zero_level: str | None = None  # ll3: the level fixed at 0 ("bottom": falling, "top": rising)
    monotone: bool = True  # S decreases from 1 to 0 (False: bc5, which rises above 1 first)
    direction: str | None = None  # bc5 in a model: "falling" or "rising", fixed from the data (see curve_family)
    log_shape_fn: Callable | None = field(repr=False, default=None)  # (z, shapes, math) -> (log S, log(1 - S))

    @property
    def levels(self) -> tuple[str, ...]:
        """The curve's levels, of ``("bottom", "top")`` (ll3 has one; the other is 0)."""
        return tuple(name for name in ("bottom", "top") if name != self.zero_level)

    @property
    def free_levels(self) -> tuple[str, ...]:
        """The levels that are free parameters: :attr:`levels`, except for a bc5 with a direction, whose ``bottom``
        is ``top`` minus (falling) or plus (rising) ``exp(log_span)``."""
        return ("top",) if self.direction else self.levels

    def free_params(self, lik) -> tuple[str, ...]:
        """The free curve parameters under likelihood ``lik``: the free levels on their scale (``top``, ``logit_top``,
        ``log_top``), ``log_span`` (bc5), the location, the shapes' free parameters (``log_hill``, ...)."""
        span = ("log_span",) if self.direction else ()
        return (*(lik.level_name(lv) for lv in self.free_levels), *span, self.location, *self.free_shapes())

    def levels_on_scale(self, free: dict, lik) -> dict:
        """Each level on the scale the likelihood puts levels on (identity, logit, log), from the free values."""
        on_scale = {lv: free[lik.level_name(lv)] for lv in self.free_levels}
        if self.direction:
            exp = _math(free["log_span"]).exp
            sign = 1.0 if self.direction == "falling" else -1.0
            on_scale["bottom"] = on_scale["top"] - sign * exp(free["log_span"])
        return on_scale

    @property
    def params(self) -> tuple[str, ...]:
        """The curve's natural parameters: the free levels, the location, the shapes (``hill``, not ``log_hill``)."""
        return (*self.levels, self.location, *(s.name for s in self.shapes))

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def nec(self) -> str | None:
        """The parameter that is a no-effect concentration (on the log scale), if the family has one."""
        return self.location if self.location == "log_nec" else None

    def shape(self, z, shapes: dict):
        """``S(z)``, ``z = x - location`` (finite), for NumPy arrays or PyTensor variables."""
        return self.shape_fn(z, shapes, _math(z, *shapes.values()))

    def curve(self, log_conc, params: dict):
        """The curve at ``log_conc`` (``-inf``: a control, which gives ``top`` exactly), NumPy or PyTensor.

        ``params`` holds the natural parameters (:attr:`params`; a level fixed at 0 may be left out). Inside a graph
        the controls are masked before the shape is evaluated, so the gradient stays finite.
        """
        top = 0.0 if self.zero_level == "top" else params["top"]
        bottom = 0.0 if self.zero_level == "bottom" else params["bottom"]
        if self.name == "ll4":
            return four_pl(log_conc, bottom, top, params["log_ec50"], params["hill"])
        shapes = {s.name: params[s.name] for s in self.shapes}
        return bottom + (top - bottom) * self.shape_at(log_conc, params[self.location], shapes)

    def shape_at(self, log_conc, location, shapes: dict):
        """``S(log_conc - location)``, with ``S = 1`` at a control (``log_conc = -inf``), NumPy or PyTensor."""
        values = (log_conc, location, *shapes.values())
        if not any(_is_tensor(v) for v in values):
            x = np.asarray(log_conc, dtype=float)
            control = np.isneginf(x)
            with np.errstate(invalid="ignore", over="ignore"):
                s = self.shape(np.where(control, 0.0, x) - location, shapes)
            return np.where(control, 1.0, s)
        import pytensor.tensor as pt

        x = pt.as_tensor_variable(log_conc)
        if not _is_tensor(log_conc) and not np.isneginf(np.asarray(log_conc, dtype=float)).any():
            return self.shape(x - location, shapes)
        control = pt.isinf(x) & (x < 0)
        return pt.switch(control, 1.0, self.shape(pt.switch(control, 0.0, x) - location, shapes))

    def log_shape_at(self, log_conc, location, shapes: dict):
        """``log S`` and ``log(1 - S)`` at ``log_conc`` (``0`` and ``-inf`` at a control), each written so that it
        neither rounds to 0 nor underflows where ``S`` itself would (``log S = -softplus(hill z)`` for the
        log-logistic, ``-exp(hill z)`` for W1, ...); NumPy or PyTensor, with finite gradients. Monotone families
        only: :func:`~recipes_utils.dose_response.likelihoods.link_mean` builds the curve's logit or log from them."""
        if self.log_shape_fn is None:
            raise ValueError(f"curve={self.name!r} has no log shape (it is not monotone)")
        values = (log_conc, location, *shapes.values())
        if not any(_is_tensor(v) for v in values):
            x = np.asarray(log_conc, dtype=float)
            control = np.isneginf(x)
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                log_s, log_1m_s = self.log_shape_fn(np.where(control, 0.0, x) - location, shapes, _NUMPY)
            return np.where(control, 0.0, log_s), np.where(control, -np.inf, log_1m_s)
        import pytensor.tensor as pt

        x = pt.as_tensor_variable(log_conc)
        m = _math(x)
        control = pt.isinf(x) & (x < 0)
        log_s, log_1m_s = self.log_shape_fn(pt.switch(control, 0.0, x) - location, shapes, m)
        return pt.switch(control, 0.0, log_s), pt.switch(control, -np.inf, log_1m_s)

    def log_dose_at(self, s, location, shapes: dict) -> np.ndarray:
        """The log dose from which on the shape stays at or below ``s`` (NumPy, broadcast over draws and curves).

        For ``s`` in (0, 1) this is where ``S(x - location) = s``: the relative ECx with ``s = 1 - x / 100``. ``s <= 0``
        (a level at or beyond the high-dose limit, never reached) gives ``+inf``; ``s`` at or above the curve's
        largest value (1 for a monotone family: the level is on the control's side, passed at every dose) gives
        ``-inf``. For bc5 and ``s`` between 1 and the bump's height, the dose where the curve comes back down
        through ``s`` (the last crossing). A NaN ``s`` (no such level: a curve with ``top == bottom``) gives NaN.
        """
        s = np.asarray(s, dtype=float)
        location = np.asarray(location, dtype=float)
        shapes = {k: np.asarray(v, dtype=float) for k, v in shapes.items()}
        if not self.monotone:
            return np.where(np.isnan(s), np.nan, location + _bc5_inverse(np.where(np.isnan(s), 0.5, s), shapes))
        inside = (s > 0) & (s < 1)
        safe = np.where(inside, s, 0.5)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            z = self.inverse_fn(safe, shapes)
        return np.where(inside, location + z, np.where(s <= 0, np.inf, np.where(np.isnan(s), np.nan, -np.inf)))

    def free_shapes(self) -> tuple[str, ...]:
        return tuple(s.free for s in self.shapes)


class _Math:
    """The few functions the shapes use, from NumPy (SciPy) or PyTensor."""

    def __init__(self, tensor: bool):
        if tensor:
            import pytensor.tensor as pt

            self.exp, self.log, self.sigmoid, self.softplus = pt.exp, pt.log, pt.sigmoid, pt.softplus
            self.expm1, self.maximum, self.minimum, self.where = pt.expm1, pt.maximum, pt.minimum, pt.switch

            def log1mexp(v):  # log(1 - exp(v)), -inf at v = 0 with a zero (not NaN) gradient
                below = v < 0
                return pt.switch(below, pt.log1mexp(pt.switch(below, v, -1.0)), -np.inf)

            self.log1mexp = log1mexp
        else:
            self.exp, self.log, self.sigmoid = np.exp, np.log, expit
            self.softplus = lambda v: np.logaddexp(0.0, v)
            self.expm1, self.maximum, self.minimum, self.where = np.expm1, np.maximum, np.minimum, np.where

            def log1mexp(v):
                v = np.asarray(v, dtype=float)
                with np.errstate(divide="ignore"):
                    return np.where(v > -np.log(2), np.log(-np.expm1(v)), np.log1p(-np.exp(v)))

            self.log1mexp = log1mexp


_NUMPY, _TENSOR = _Math(False), None


def _math(*values) -> _Math:
    global _TENSOR
    if any(_is_tensor(v) for v in values):
        if _TENSOR is None:
            _TENSOR = _Math(True)
        return _TENSOR
    return _NUMPY


def _bc5_shape(z, p, m):
    # (1 + g u) / (1 + u**h) with u = exp(z), written so that neither term overflows: 1 / (1 + u**h) = sigmoid(-h z)
    # and u / (1 + u**h) = exp(z - softplus(h z)).
    return m.sigmoid(-p["hill"] * z) + p["hormesis"] * m.exp(z - m.softplus(p["hill"] * z))


_BC5_RANGE = 1000.0  # bc5's inverse searches log doses from -1000 to 1000 (e**709 is the largest float)


def _bc5_inverse(s, p, n_iter: int = 120) -> np.ndarray:
    """bc5's shape is 1 at zero dose, rises to one maximum (``hormesis > 0``, ``hill > 1``) and then falls to 0, so
    the last crossing of ``s`` lies on the falling branch: bisection for the maximum (the derivative's sign
    ``g - h u**(h-1) - g (h-1) u**h`` falls with ``u``), then bisection for ``S = s`` beyond it, within log doses of
    +-1000; a shape still above ``s`` at log dose 1000 (``hill`` barely above 1) never reaches it: ``inf``."""
    g, h = p["hormesis"], p["hill"]
    s, g, h = np.broadcast_arrays(s, g, h)
    lo, hi = np.full(s.shape, -_BC5_RANGE), np.full(s.shape, _BC5_RANGE)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n_iter):
            mid = (lo + hi) / 2
            rising = g - h * np.exp((h - 1) * mid) - g * (h - 1) * np.exp(h * mid) > 0
            lo, hi = np.where(rising, mid, lo), np.where(rising, hi, mid)
        peak = lo
        top_value = _bc5_shape(peak, {"hormesis": g, "hill": h}, _NUMPY)
        lo, hi = peak.copy(), np.full(s.shape, _BC5_RANGE)
        for _ in range(n_iter):
            mid = (lo + hi) / 2
            above = _bc5_shape(mid, {"hormesis": g, "hill": h}, _NUMPY) > s
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        # a curve that falls so slowly (hill barely above 1) that it is still above s at log dose 1000 (a dose of
        # e**1000, beyond any float) never reaches s: inf, not the end of the search range
        unreached = _bc5_shape(np.full(s.shape, _BC5_RANGE), {"hormesis": g, "hill": h}, _NUMPY) > s
    z = (lo + hi) / 2
    return np.where((s <= 0) | unreached, np.inf, np.where(s >= top_value, -np.inf, z))


_EXP_MAX = 700.0  # log shapes hold exp's argument here (exp(700) = 1e304): beyond it S is 0 to any precision, and
# an infinite log S would give a NaN gradient (0 * inf)


def _log_ll4(z, p, m):
    return -m.softplus(p["hill"] * z), -m.softplus(-p["hill"] * z)


def _log_ll5(z, p, m):
    hz = p["hill"] * z
    log_s = -p["asym"] * m.softplus(hz)
    # far below the location 1 - S = asym u**hill to working precision, where softplus(hz) underflows
    return log_s, m.where(hz < -_EXP_MAX, m.log(p["asym"]) + hz, m.log1mexp(log_s))


def _log_w1(z, p, m):
    hz = p["hill"] * z
    log_s = -m.exp(m.minimum(hz, _EXP_MAX))  # W1: S = exp(-u**hill)
    return log_s, m.where(hz < -_EXP_MAX, hz, m.log1mexp(log_s))  # 1 - S = u**hill where exp(hz) underflows


def _log_w2(z, p, m):
    log_t = -p["hill"] * z
    log_1m_s = -m.exp(m.minimum(log_t, _EXP_MAX))  # W2: 1 - S = exp(-u**-hill)
    return m.where(log_t < -_EXP_MAX, log_t, m.log1mexp(log_1m_s)), log_1m_s  # S = u**-hill where it underflows


def _log_nec(z, p, m):
    log_s = -p["rate"] * m.maximum(m.expm1(m.minimum(z, _EXP_MAX)), 0.0)  # exactly 0 below the NEC (S = 1)
    return log_s, m.log1mexp(log_s)


def _hill(lower=0.0, free="log_hill", mu=0.0, mu_sd=1.0, sd=0.5):
    meaning = "Hill slopes from 0.15 to 6.6 (94%), centred on 1" if not lower else (
        "slopes from 1.15 to 7.6 (94%): above 1, so the curve comes back down to bottom")  # fmt: skip
    return Shape("hill", free, lower, mu, mu_sd, sd, meaning)


_FAMILIES = {
    "ll4": CurveFamily(
        "ll4", "LL.4, four-parameter log-logistic", "log_ec50", (_hill(),),
        lambda z, p, m: m.sigmoid(-p["hill"] * z),
        lambda s, p: np.log((1 - s) / s) / p["hill"],
        log_shape_fn=_log_ll4,
    ),
    "ll5": CurveFamily(
        "ll5", "LL.5, five-parameter (asymmetric) log-logistic", "log_e",
        (_hill(), Shape("asym", "log_asym", 0.0, 0.0, 0.5, 0.25, "asymmetry from 0.39 to 2.6 (94%), centred on 1 "
                        "(the symmetric LL.4); the data rarely pin it down, so the prior keeps it from trading with "
                        "the slope")),
        lambda z, p, m: m.exp(-p["asym"] * m.softplus(p["hill"] * z)),
        lambda s, p: np.log(np.expm1(-np.log(s) / p["asym"])) / p["hill"],
        log_shape_fn=_log_ll5,
    ),
    "w1": CurveFamily(
        "w1", "W1.4, Weibull type 1 (steep at high doses)", "log_e", (_hill(),),
        lambda z, p, m: m.exp(-m.exp(p["hill"] * z)),
        lambda s, p: np.log(-np.log(s)) / p["hill"],
        log_shape_fn=_log_w1,
    ),
    "w2": CurveFamily(
        "w2", "W2.4, Weibull type 2 (steep at low doses)", "log_e", (_hill(),),
        lambda z, p, m: -m.expm1(-m.exp(-p["hill"] * z)),
        lambda s, p: -np.log(-np.log1p(-s)) / p["hill"],
        log_shape_fn=_log_w2,
    ),
    "bc5": CurveFamily(
        "bc5", "BC.5, Brain-Cousens hormesis", "log_e",
        (_hill(lower=1.0, free="log_hill_excess"),
         Shape("hormesis", "log_hormesis", 0.0, -1.0, 1.5, 1.0, "hormesis from 0.02 to 6.2 (94%): from no visible bump "
               "to one as large as the decline (the bump's height grows with hormesis and falls with hill)")),
        _bc5_shape, None, monotone=False,
    ),
    "nec": CurveFamily(
        "nec", "NEC.4, threshold (flat to the no-effect concentration, then exponential decline in dose)", "log_nec",
        (Shape("rate", "log_rate", 0.0, 0.0, 1.5, 0.5, "rates from 0.06 to 17 (94%): the EC50 from 1.04 to 13 times "
               "the NEC"),),
        lambda z, p, m: m.exp(-p["rate"] * m.maximum(m.expm1(z), 0.0)),
        lambda s, p: np.log1p(-np.log(s) / p["rate"]),
        log_shape_fn=_log_nec,
    ),
}  # fmt: skip


def curve_family(name, *, zero_limit: str | None = None, direction: str | None = None) -> CurveFamily:
    """The curve family called ``name`` (one of :data:`CURVE_NAMES`), or ``name`` itself if it is a
    :class:`CurveFamily`.

    ``"ll3"`` is LL.4 with its lower limit at 0: for a falling response ``bottom = 0`` (drc's LL.3), for a rising one
    ``top = 0`` (no response without the compound). Say which with ``zero_limit="bottom"`` or ``"top"``; the builders
    pass the direction they read off the data (:func:`data_direction`) when it is not given.

    ``"bc5"`` in a model has a ``direction`` (``"falling"`` or ``"rising"``, by default read off the data the same
    way), and its levels are ordered that way: ``bottom = top - exp(log_span)`` for a falling curve, ``top +
    exp(log_span)`` for a rising one. Why: a Brain-Cousens curve of the other direction can mimic a decline with its
    bump alone (``hormesis * dose`` growing, the decline itself beyond the tested doses), a second posterior mode
    of far lower density in which NUTS chains started there stay (seen: r-hat 1.5 on a clean simulated hormesis,
    one chain of four with ``bottom`` above every measurement). The bump stays free to rise against the effect.
    """
    if isinstance(name, CurveFamily):
        if zero_limit is not None or direction is not None:
            raise ValueError("zero_limit and direction apply to a curve given by name, not to a CurveFamily")
        return name
    if not isinstance(name, str) or name.lower() not in CURVE_NAMES:
        raise ValueError(f"unknown curve family {name!r}: choose one of {list(CURVE_NAMES)}")
    name = name.lower()
    if direction is not None:
        if name != "bc5":
            raise ValueError(f"direction applies to curve='bc5' only, not to {name!r}")
        if direction not in ("falling", "rising"):
            raise ValueError(f"direction must be 'falling' or 'rising', got {direction!r}")
        bc5 = _FAMILIES["bc5"]
        return CurveFamily("bc5", f"{bc5.title}, {direction}", bc5.location, bc5.shapes, bc5.shape_fn,
                           monotone=False, direction=direction)  # fmt: skip
    if name != "ll3":
        if zero_limit is not None:
            raise ValueError(f"zero_limit applies to curve='ll3' only, not to {name!r}")
        return _FAMILIES[name]
    if zero_limit not in ("bottom", "top"):
        raise ValueError(f"ll3 fixes one limit at 0: zero_limit must be 'bottom' (falling) or 'top' (rising), "
                         f"got {zero_limit!r}")  # fmt: skip
    ll4 = _FAMILIES["ll4"]
    kind = "falling to 0" if zero_limit == "bottom" else "rising from 0"
    return CurveFamily("ll3", f"LL.3, three-parameter log-logistic ({kind})", "log_ec50", ll4.shapes, ll4.shape_fn,
                       ll4.inverse_fn, zero_level=zero_limit, log_shape_fn=ll4.log_shape_fn)  # fmt: skip


def data_direction(log_conc, level) -> str:
    """``"falling"`` when the mean level at the lowest dose (the controls, if any) is at least the mean at the highest
    dose, else ``"rising"``: what ``curve="ll3"`` reads to choose which limit is 0."""
    x, y = np.asarray(log_conc, dtype=float), np.asarray(level, dtype=float)
    low, high = y[x == x.min()].mean(), y[x == x.max()].mean()
    return "falling" if low >= high else "rising"


def resolve_family(curve, log_conc=None, level=None) -> CurveFamily:
    """``curve`` as a :class:`CurveFamily` for a model: ``"ll3"`` by name gets its zero limit and ``"bc5"`` its
    direction from the data's direction (:func:`data_direction`)."""
    if isinstance(curve, str) and curve.lower() in ("ll3", "bc5"):
        direction = data_direction(log_conc, level)
        if curve.lower() == "bc5":
            return curve_family("bc5", direction=direction)
        return curve_family("ll3", zero_limit="bottom" if direction == "falling" else "top")
    return curve_family(curve)


_LEVEL_RULES = {
    "identity": (
        "Normal(c, R)",
        ("anywhere from 1.4 ranges below the data to 1.4 above (94%); the same for both levels, so either direction "
         "is as likely"),
        "HalfNormal(R / 2)",
        "groups may differ by up to about the data's range",
    ),
    "logit": (
        "Normal(c, min(R, 2.5))",
        ("c, R: the cells' empirical logits. On the probability scale (c = 0): 93% of the prior between 0.01 and "
         "0.99, 76% between 0.05 and 0.95; R alone (about 2 log(2N + 1) with cells at 0 or N of N) grows with the "
         "trials and piles the prior at 0 and 1. The same for both levels"),
        "HalfNormal(min(R / 2, 1))",
        "groups differ by up to about 2 on the logit scale (odds ratios up to about 7)",
    ),
    "log": (
        "Normal(c, min(R, max(R / 2, 2.5)))",
        ("c, R: the cells' log mean counts. The data's whole log range within one sd of c, and at least a factor "
         "of 110 either side of exp(c) (94%); the same for both levels"),
        "HalfNormal(min(R / 2, 1))",
        "groups' levels differ by a factor of about 7 or less",
    ),
}  # fmt: skip


def family_prior_rule(family, likelihood=None) -> list[tuple[str, str, str]]:
    """The default prior rule of a family's parameters, as (parameter, prior, what it allows) rows; ``c``, ``R``:
    midpoint and range of the response on the scale its levels live on (see
    :func:`~recipes_utils.dose_response.default_dose_response_priors`); ``m``, ``w``: midpoint and width of the
    tested log-dose range.

    ``likelihood`` (a name or a ``ResponseFamily``; default Normal) chooses the levels' rule: under a logit (binomial,
    Beta) or log link (counts) their scales are capped on that scale
    (:func:`~recipes_utils.dose_response.priors.level_scales`), and the rows say what the prior allows on the
    probability or count scale."""
    from recipes_utils.dose_response.likelihoods import response_family

    family = curve_family(family) if not isinstance(family, CurveFamily) else family
    link = "identity" if likelihood is None else response_family(likelihood).link
    level_prior, level_meaning, spread_prior, spread_meaning = _LEVEL_RULES[link]
    rows = []
    for level in family.free_levels:
        rows.append((f"{level} (population mean; one curve: its value)", level_prior, level_meaning))
        rows.append((f"{level} spread", spread_prior, spread_meaning))
    if family.direction:
        rows.append(
            (
                "log_span",
                "Normal(log R, 1)",
                "the drop (or rise) from top to bottom from 0.15 to 6.6 times the data's range (94%)",
            )
        )
        rows.append(("log_span spread", "HalfNormal(0.5)", "groups' spans differ by a factor of 2.7 or less"))
    where = "no-effect concentration" if family.nec else "location"
    middle = (f"the {where} in the middle of the tested doses; 94% within the tested range widened by about half "
              "its width on each side")  # fmt: skip
    rows.append((family.location, "Normal(m, w / 2)", middle))
    rows.append((f"{family.location} spread", "HalfNormal(w / 2)", "curves may differ by up to the tested range"))
    for s in family.shapes:
        rows.append((s.free, f"Normal({s.mu:g}, {s.mu_sd:g})", s.meaning))
        spread = f"{s.name} differs between groups by a factor of about {np.exp(2 * s.sd):.1f} or less"
        rows.append((f"{s.free} spread", f"HalfNormal({s.sd:g})", spread))
    return rows
