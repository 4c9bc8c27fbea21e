"""Coverage of the 94% intervals of EC10 and EC50, for every curve family, on data simulated from a known curve.

    .venv/bin/python benchmarks/ecx_coverage.py [--smoke] [--datasets 300] [--configs ll4/normal,bc5/binomial]
        [--kind relative|control]

The question: when :func:`recipes_utils.dose_response.ecx_table` says "EC10 lies in [a, b] with 94% probability", does
the true EC10 lie there in about 94% of experiments? For each configuration (a curve family and a likelihood:
every family of ``CURVE_NAMES`` with Normal noise, the 4PL under every other likelihood, and Brain-Cousens under the
binomial, whose curve is drawn on the logit scale) this script fixes a true curve, simulates ``--datasets``
experiments from it and fits each with the library's one-curve model, then counts how often the central 94% interval
of each ECx holds the truth. ``--kind`` chooses the ECx (``ecx_table``'s ``kind``): ``relative`` (the default), a
share of the way from the control level to the high-dose limit, or ``control``, a share below (above, rising) the
control level, the kind the families recipe reports for hormesis and averages over families.

The design, the same for every configuration: an untreated control and 8 doses from 0.1 to 100 (geometric), 3
replicates each (27 rows; binomial rows of 20 trials). The truths (``TRUTHS``) put the EC10 and EC50 inside the
tested doses. The true ECx are computed here by root finding on curves written out from drc's formulas (``SHAPES``),
not by the library's inversion, so a wrong curve or inverse in the library shows as lost coverage.

Each fit: :func:`~recipes_utils.dose_response.dose_response_model` with the default prior rule, NUTS by
:func:`~recipes_utils.dose_response.fit_curves`'s rule (target acceptance 0.95, one refit at 0.99 after a divergence),
2 chains x (300 + 300) draws, no convergence check (every data set counts; divergences and r-hat are reported).
The priors are the default rule read off the configuration's expected data (the noiseless curve), kept for all its
data sets: one compiled sampler then serves them all (the response is a shared variable, swapped in with nutpie's
``with_data``), a few tenths of a second per fit instead of seconds of compiling. Per-data-set priors would differ
only through the noise's effect on the response's range and midpoint.

Writes one row per configuration and kind to benchmarks/results/ecx_coverage.csv: the coverage of EC10 and EC50 with
a 95% Clopper-Pearson interval for each (the binomial uncertainty of a coverage from ``--datasets`` data sets), whether
the coverage lies in the target [0.90, 0.98], the fits with divergences, the largest r-hat and the share above 1.01,
the median seconds per fit, and the truth. With 300 data sets a coverage of exactly 0.94 is observed within about +-0.027
(95%), so the target is wide enough that a calibrated configuration falls outside it by chance rarely (about 0.5% per
figure).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = (0.90, 0.98)
PROB = 0.94
DOSES = np.r_[0.0, np.geomspace(0.1, 100, 8)]
REPLICATES, TRIALS = 3, 20
CHAINS, TUNE, DRAWS = 2, 300, 300


def _ll4(u, p):
    return 1.0 / (1.0 + u ** p["hill"])


# drc's shapes S(u), u = dose / e (e the location): 1 at zero dose, 0 at high dose (bc5 first rises above 1)
SHAPES = {
    "ll4": _ll4,
    "ll3": _ll4,
    "ll5": lambda u, p: (1.0 + u ** p["hill"]) ** -p["asym"],
    "w1": lambda u, p: np.exp(-(u ** p["hill"])),
    "w2": lambda u, p: 1.0 - np.exp(-(u ** -p["hill"])),
    "bc5": lambda u, p: (1.0 + p["hormesis"] * u) / (1.0 + u ** p["hill"]),
    "nec": lambda u, p: np.exp(-p["rate"] * np.maximum(u - 1.0, 0.0)),
}


@dataclass(frozen=True)
class Truth:
    curve: str
    likelihood: str
    top: float
    bottom: float
    e: float  # the location: EC50 (ll4, ll3), e (ll5, w1, w2, bc5) or the NEC
    shapes: dict
    noise: dict = field(default_factory=dict)  # sigma (normal, student_t with nu), alpha (NB), kappa (beta)

    @property
    def name(self) -> str:
        return f"{self.curve}/{self.likelihood}"

    def mean(self, conc) -> np.ndarray:
        """The mean response at each concentration (0: the control, at ``top``)."""
        conc = np.asarray(conc, dtype=float)
        u = conc / self.e
        with np.errstate(divide="ignore", over="ignore"):
            s = np.where(conc > 0, SHAPES[self.curve](np.where(conc > 0, u, 1.0), self.shapes), 1.0)
        if self.curve == "bc5" and self.likelihood in ("binomial", "beta"):  # drawn on the logit scale
            lt, lb = np.log(self.top / (1 - self.top)), np.log(self.bottom / (1 - self.bottom))
            return 1.0 / (1.0 + np.exp(-(lb + (lt - lb) * s)))
        return self.bottom + (self.top - self.bottom) * s

    def ecx(self, x: float, kind: str = "relative") -> float:
        """The true ECx: the dose beyond which the mean stays past its level (for bc5 the last crossing, after the
        bump), by bracketing on a fine grid and Brent's method. The level: ``top + x/100 (bottom - top)`` (relative),
        ``top (1 - x/100)`` for a falling curve or ``top (1 + x/100)`` for a rising one (control)."""
        from scipy.optimize import brentq

        sign = np.sign(self.top - self.bottom)
        if kind == "relative":
            level = self.top + x / 100 * (self.bottom - self.top)
        elif kind == "control":
            level = self.top * (1 - sign * x / 100)
        else:
            raise ValueError(f"kind must be 'relative' or 'control', got {kind!r}")

        def past(log_dose):  # > 0 while the curve has not yet passed the level
            return sign * (self.mean(np.exp(log_dose)) - level)

        grid = np.linspace(np.log(self.e) - 15, np.log(self.e) + 15, 30_001)
        values = past(grid)
        last = np.flatnonzero(values > 0)[-1]  # the last grid point before the curve passes the level for good
        return float(np.exp(brentq(past, grid[last], grid[last + 1], xtol=1e-12)))

    def simulate(self, conc, rng) -> np.ndarray:
        mu = self.mean(conc)
        if self.likelihood == "normal":
            return mu + rng.normal(0.0, self.noise["sigma"], mu.size)
        if self.likelihood == "student_t":
            return mu + self.noise["sigma"] * rng.standard_t(self.noise["nu"], mu.size)
        if self.likelihood == "binomial":
            return rng.binomial(TRIALS, mu).astype(float)
        if self.likelihood == "poisson":
            return rng.poisson(mu).astype(float)
        if self.likelihood == "negative_binomial":
            a = self.noise["alpha"]
            return rng.negative_binomial(a, a / (a + mu)).astype(float)
        if self.likelihood == "beta":
            k = self.noise["kappa"]
            return rng.beta(mu * k, (1 - mu) * k)
        raise ValueError(self.likelihood)

    def expected(self, conc) -> np.ndarray:
        """The noiseless data the priors are read from (whole numbers for the count likelihoods)."""
        mu = self.mean(conc)
        if self.likelihood == "binomial":
            return np.round(mu * TRIALS)
        if self.likelihood in ("poisson", "negative_binomial"):
            return np.round(mu)
        return mu


_NORMAL = {"sigma": 8.0}
_SLOPE = {"hill": 1.5}
TRUTHS = [
    Truth("ll4", "normal", 100.0, 10.0, 3.0, _SLOPE, _NORMAL),
    Truth("ll3", "normal", 100.0, 0.0, 3.0, _SLOPE, _NORMAL),
    Truth("ll5", "normal", 100.0, 10.0, 3.0, {"hill": 1.5, "asym": 0.6}, _NORMAL),
    Truth("w1", "normal", 100.0, 10.0, 3.0, {"hill": 1.2}, _NORMAL),
    Truth("w2", "normal", 100.0, 10.0, 3.0, {"hill": 1.2}, _NORMAL),
    Truth("bc5", "normal", 100.0, 10.0, 5.0, {"hill": 2.5, "hormesis": 1.0}, _NORMAL),
    Truth("nec", "normal", 100.0, 10.0, 1.0, {"rate": 0.5}, _NORMAL),
    Truth("ll4", "student_t", 100.0, 10.0, 3.0, _SLOPE, {"sigma": 6.0, "nu": 4.0}),
    Truth("ll4", "binomial", 0.05, 0.95, 3.0, _SLOPE),  # mortality with 5% in the controls
    Truth("bc5", "binomial", 0.9, 0.05, 5.0, {"hill": 2.5, "hormesis": 1.0}),  # survival, hormetic
    Truth("ll4", "poisson", 50.0, 2.0, 3.0, _SLOPE),
    Truth("ll4", "negative_binomial", 50.0, 2.0, 3.0, _SLOPE, {"alpha": 5.0}),
    Truth("ll4", "beta", 0.9, 0.1, 3.0, _SLOPE, {"kappa": 30.0}),
]
SMOKE_CONFIGS = ["ll4/binomial", "bc5/normal"]


def clopper_pearson(k: int, n: int, prob: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a binomial proportion ``k / n``."""
    from scipy.stats import beta

    a = (1 - prob) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def _observed_model(truth: Truth, conc):
    """The library's one-curve model with the default priors of the expected data, and a copy whose response is a
    shared variable (for one compiled sampler over every data set)."""
    import pymc as pm
    import pytensor

    from recipes_utils.dose_response import dose_response_model

    trials = np.full(conc.size, TRIALS) if truth.likelihood == "binomial" else None
    base = dose_response_model(conc, truth.expected(conc), zero_is_control=True, curve=truth.curve,
                               likelihood=truth.likelihood, trials=trials)  # fmt: skip
    dtype = "int64" if truth.likelihood in ("binomial", "poisson", "negative_binomial") else "float64"
    shared = pytensor.shared(truth.expected(conc).astype(dtype), name="response_data")
    return base, pm.observe(base, {"response": shared}), shared


def run_config(truth: Truth, n_datasets: int, seed: int, kind: str = "relative") -> dict:
    import arviz as az

    from recipes_utils.dose_response import ecx_draws, fit_curves

    conc = np.repeat(DOSES, REPLICATES)
    base, model, shared = _observed_model(truth, conc)
    true = {x: truth.ecx(x, kind) for x in (10, 50)}
    rng = np.random.default_rng(seed)
    hits = {10: 0, 50: 0}
    diverged, rhats, seconds = 0, [], []
    lo_q, hi_q = (1 - PROB) / 2, (1 + PROB) / 2
    for i in range(n_datasets):
        y = truth.simulate(conc, rng)
        shared.set_value(y.astype(shared.dtype))
        start = time.perf_counter()
        fit = fit_curves(model, seed=i, chains=CHAINS, tune=TUNE, draws=DRAWS, check=False, progress=False)
        seconds.append(time.perf_counter() - start)
        diverged += fit.fit.divergences > 0
        rhats.append(float(az.rhat(fit.idata).to_array().max()))
        draws = ecx_draws(base, fit.idata, (10, 50), kind=kind).isel(group=0)
        for j, x in enumerate((10, 50)):
            d = np.asarray(draws.isel(effect=j)).ravel()
            lo, hi = np.quantile(np.where(np.isposinf(d), 1e300, d), [lo_q, hi_q])
            hits[x] += bool(lo <= true[x] <= hi)
    row = {"curve": truth.curve, "likelihood": truth.likelihood, "kind": kind, "datasets": n_datasets}
    for x in (10, 50):
        cov = hits[x] / n_datasets
        lo, hi = clopper_pearson(hits[x], n_datasets)
        row |= {f"coverage_ec{x}": cov, f"coverage_ec{x}_low": lo, f"coverage_ec{x}_high": hi,
                f"ec{x}_in_target": bool(TARGET[0] <= cov <= TARGET[1])}  # fmt: skip
    row |= {
        "fits_with_divergences": int(diverged), "max_rhat": float(np.max(rhats)),
        "share_rhat_above_1_01": float(np.mean(np.asarray(rhats) > 1.01)),
        "median_seconds_per_fit": float(np.median(seconds)), "true_ec10": true[10], "true_ec50": true[50],
        "truth": f"top {truth.top:g}, bottom {truth.bottom:g}, e {truth.e:g}, "
                 + ", ".join(f"{k} {v:g}" for k, v in {**truth.shapes, **truth.noise}.items()),
        "chains": CHAINS, "tune": TUNE, "draws": DRAWS, "prob": PROB,
    }  # fmt: skip
    return row


def main(argv=None):
    from recipes_utils.measurements import append_rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"only {SMOKE_CONFIGS}, 8 data sets each")
    parser.add_argument("--datasets", type=int, default=None, help="data sets per configuration (default 300)")
    parser.add_argument("--configs", default=None, help="comma-separated curve/likelihood (default: all)")
    parser.add_argument("--kind", choices=["relative", "control"], default="relative", help="which ECx")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    known = {t.name: t for t in TRUTHS}
    names = args.configs.split(",") if args.configs else (SMOKE_CONFIGS if args.smoke else list(known))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown configuration(s) {unknown}; choose from {list(known)}")
    n = args.datasets or (8 if args.smoke else 300)
    out = args.out or (Path(tempfile.gettempdir()) / "ecx_coverage_smoke.csv" if args.smoke
                       else RESULTS / "ecx_coverage.csv")  # fmt: skip
    rows = []
    for k, name in enumerate(names):
        start = time.perf_counter()
        row = run_config(known[name], n, seed=1000 + list(known).index(name), kind=args.kind)
        rows.append(row)
        print(f"{name + ' ' + args.kind:26} EC10 {row['coverage_ec10']:.3f} [{row['coverage_ec10_low']:.3f}, "
              f"{row['coverage_ec10_high']:.3f}]  EC50 {row['coverage_ec50']:.3f} [{row['coverage_ec50_low']:.3f}, "
              f"{row['coverage_ec50_high']:.3f}]  {row['fits_with_divergences']} fits with divergences, max r-hat "
              f"{row['max_rhat']:.3f}; {time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
    df = pd.DataFrame(rows)
    append_rows(df, out)
    print(f"wrote {out}")
    return df


if __name__ == "__main__":
    main()
