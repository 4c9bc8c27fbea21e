"""Every continuous dose-response data set of the R package drc, fitted with default priors and NUTS.

    .venv/bin/python benchmarks/drc_sweep.py [--smoke] [--sets ryegrass,acidiq] [--out ...]

The question: does the path a new user takes (a tidy table, default priors scaled from the data, the documented
parameterisation rule, nutpie) give clean fits on data the recipes were not written for? For each data set in
``data/drc`` that suits a 4PL curve (``SETS``; the others are in ``LEFT_OUT`` with the reason):

- one curve: :func:`recipes_utils.dose_response.four_pl_model` (default curve priors);
- three or more curves: :func:`recipes_utils.dose_response.hierarchical_four_pl` with default priors and
  ``parameterization="auto"``; untreated controls shared by all curves (drc's ``999`` or ``0`` labels) go in with
  ``shared_controls`` and a shared top, as drc's usual analyses share the upper limit;
- two curves: the hierarchy cannot learn a spread from two groups (its funnel gives divergences), so each curve is
  fitted on its own (the single-curve model, the shared controls in each), which is what a user should do; the
  hierarchical fit is reported beside it, so the table shows why.

Every fit: nutpie, 4 chains x (1,000 + 1,000) (smoke: 2 x (300 + 300)), target acceptance 0.95; a fit with any
divergence is refitted once at 0.99 (smaller steps: the usual first remedy; not the two-group hierarchies, which are
shown as they come). Reported per curve: divergences, max r-hat and min bulk ESS of the fit, the EC50's posterior
median and 94% equal-tailed interval, and drc-style least squares
(:func:`recipes_utils.dose_response.least_squares_four_pl`) with whether it lies inside the interval and inside the
tested doses (beyond them least squares extrapolates, and its EC50 means little).
Writes benchmarks/results/drc_sweep.csv (smoke: drc_sweep_smoke.csv).
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from recipes_utils.data import load_drc
from recipes_utils.dose_response import four_pl_model, hierarchical_four_pl, least_squares_four_pl
from recipes_utils.inference import sample_nuts
from recipes_utils.measurements import append_rows

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Spec:
    dose: str
    response: str
    group: str | None = None  # None: one curve
    shared_controls: object = None  # the group label of untreated controls shared by all curves
    controls_from_dose_zero: bool = False  # dose-0 rows are shared controls though labelled with a curve


SETS = {
    "ryegrass": Spec("conc", "rootl"),
    "M.bahia": Spec("conc", "dryweight"),
    "O.mykiss": Spec("conc", "weight"),
    "P.promelas": Spec("conc", "dryweight"),
    "S.capricornutum": Spec("conc", "count"),
    "algae": Spec("conc", "vol"),
    "heartrate": Spec("pressure", "rate"),
    "lepidium": Spec("conc", "weight"),
    "nasturtium": Spec("conc", "weight"),
    "secalonic": Spec("dose", "rootl"),
    "terbuthylazin": Spec("dose", "rgr"),
    "S.alba": Spec("Dose", "DryMatter", "Herbicide"),
    "G.aparine": Spec("dose", "drymatter", "treatment", controls_from_dose_zero=True),
    "methionine": Spec("dose", "gain", "product", shared_controls="control"),
    "acidiq": Spec("dose", "rgr", "pct", shared_controls=999),
    "auxins": Spec("dose", "y", "h", shared_controls=0),
    "etmotc": Spec("dose1", "rgr1", "pct1", shared_controls=999),
    "glymet": Spec("dose", "rgr", "pct", shared_controls=999),
    "mecter": Spec("dose", "rgr", "pct", shared_controls=999),
    "vinclozolin": Spec("conc", "effect", "exper"),
}
LEFT_OUT = {
    "H.virescens": "binomial counts (dead of total)",
    "daphnids": "binomial counts (immobile of total)",
    "deguelin": "binomial counts",
    "earthworms": "binomial counts",
    "finney71": "binomial counts",
    "selenium": "binomial counts",
    "decontaminants": "counts of colonies (a Poisson model, not Normal noise)",
    "chickweed": "germination times (event-time data)",
    "chickweed0": "germination times (event-time data)",
    "germination": "germination times (event-time data)",
    "lettuce": "hormesis: low doses raise the response above the controls (0.98 to 1.25), which a 4PL cannot follow",
    "leaflength": "hormesis: low doses double the response of the controls (9.3 to 20)",
    "RScompetition": "a competition experiment (biomass against two densities), not a dose-response curve",
}
TARGET_ACCEPT, RETRY_TARGET_ACCEPT = 0.95, 0.99
SMOKE_SETS = ["S.alba", "acidiq"]  # the two-curve path and the multi-curve path with shared controls


def tidy(name: str, spec: Spec) -> pd.DataFrame:
    d = load_drc(name)
    out = pd.DataFrame({"concentration": d[spec.dose].astype(float), "response": d[spec.response].astype(float)})
    out["group"] = d[spec.group].astype(str) if spec.group else "all"
    if spec.controls_from_dose_zero:
        out.loc[out["concentration"] == 0, "group"] = "control"
    elif spec.shared_controls is not None:
        out.loc[d[spec.group] == spec.shared_controls, "group"] = "control"
    missing = out["response"].isna()  # O.mykiss: 9 fish without a weight; the builders refuse NaN, so say it here
    if missing.any():
        print(f"{name}: {int(missing.sum())} of {len(out)} rows have no response and are left out", flush=True)
    out = out[~missing].reset_index(drop=True)
    out.attrs["rows_missing_response"] = int(missing.sum())
    return out


def lsq_ec50(concentration, response) -> float:
    """Least squares' EC50 for one curve, NaN where it has none: fewer than two distinct positive doses (a group the
    hierarchical fit still carries through its prior; least_squares_four_pl refuses it) or a fit that does not
    converge. Any other error is raised."""
    conc = np.asarray(concentration, dtype=float)
    if np.unique(conc[conc > 0]).size < 2:
        return np.nan
    try:
        return float(np.exp(least_squares_four_pl(concentration, response).loc["log_ec50", "estimate"]))
    except RuntimeError:
        return np.nan


def ec50_rows(name, label, idata, groups, data, fit_kind, fit, target_accept):
    summary = az.summary(idata, kind="diagnostics", round_to="none")
    rows = []
    for g in groups:
        draws = np.exp(idata.posterior["log_ec50"].sel(group=g) if "group" in idata.posterior["log_ec50"].dims
                       else idata.posterior["log_ec50"]).to_numpy().ravel()  # fmt: skip
        lo, med, hi = np.quantile(draws, [0.03, 0.5, 0.97])
        d = data[data["group"].isin([g, "control"])]
        doses = d.loc[d["concentration"] > 0, "concentration"]
        lsq = lsq_ec50(d["concentration"], d["response"])
        rows.append({
            "data set": name, "fit": fit_kind, "curve": label if label else g, "groups": len(groups),
            "divergences": fit.divergences, "max_rhat": float(summary["r_hat"].max()),
            "min_ess_bulk": float(summary["ess_bulk"].min()), "ec50_median": med, "ec50_low": lo, "ec50_high": hi,
            "lsq_ec50": lsq, "lsq_inside": bool(lo <= lsq <= hi) if np.isfinite(lsq) else False,
            "dose_min": float(doses.min()), "dose_max": float(doses.max()),
            # least squares beyond the tested doses is an extrapolation the data cannot check (drc warns likewise)
            "lsq_in_dose_range": bool(doses.min() <= lsq <= doses.max()) if np.isfinite(lsq) else False,
            "target_accept": target_accept,
            "rows_missing_response": data.attrs.get("rows_missing_response", 0), "seconds": fit.seconds,
        })  # fmt: skip
    return rows


def sample(model, kw, retry: bool = True):
    """NUTS at target acceptance 0.95; a fit with divergences is refitted once at 0.99 (smaller steps), the usual remedy."""
    fit = sample_nuts(model, **kw, target_accept=TARGET_ACCEPT)
    if retry and fit.divergences > 0:
        fit = sample_nuts(model, **kw, target_accept=RETRY_TARGET_ACCEPT)
        return fit, RETRY_TARGET_ACCEPT
    return fit, TARGET_ACCEPT


def fit_set(name: str, spec: Spec, draws: int, tune: int, chains: int) -> list[dict]:
    data = tidy(name, spec)
    curves = [g for g in data["group"].unique() if g != "control"]
    kw = {"draws": draws, "tune": tune, "chains": chains, "seed": 1, "progress": False}
    rows = []
    if len(curves) >= 2:
        has_controls = (data["group"] == "control").any()
        model = hierarchical_four_pl(
            data, zero_is_control=True, shared_controls="control" if has_controls else None,
            parameterization={"top": "shared"} if has_controls else "auto",
        )  # fmt: skip
        kind = "hierarchical" if len(curves) >= 3 else "hierarchical (2 groups: not recommended)"
        fit, target = sample(model, kw, retry=len(curves) >= 3)  # the 2-group fit is shown as it comes
        rows += ec50_rows(name, None, fit.idata, list(model.coords["group"]), data, kind, fit, target)
    if len(curves) <= 2:
        for g in curves:
            d = data[data["group"].isin([g, "control"])]
            fit, target = sample(four_pl_model(d["concentration"], d["response"]), kw)
            rows += ec50_rows(name, g, fit.idata, [g], data, "single curve" if len(curves) == 1 else
                              "single curve per group", fit, target)  # fmt: skip
    return rows


def markdown_table(df: pd.DataFrame) -> str:
    """One row per data set and fit, for the README (``--table``: printed from the CSV, not retyped)."""
    header = ("| data set | fit | curves | divergences | max r-hat | min bulk ESS | least-squares EC50 inside the 94% "
              "interval | ... and inside the tested doses |")  # fmt: skip
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for (name, fit), g in df.groupby(["data set", "fit"], sort=False):
        target = g["target_accept"].iloc[0]
        lines.append(
            f"| {name} | {fit}{' (target 0.99)' if target > TARGET_ACCEPT else ''} | {len(g)} | "
            f"{g['divergences'].max()} | {g['max_rhat'].max():.3f} | {g['min_ess_bulk'].min():.0f} | "
            f"{g['lsq_inside'].sum()} of {len(g)} | {g['lsq_in_dose_range'].sum()} of {len(g)} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"only {SMOKE_SETS}, fewer draws")
    parser.add_argument("--sets", default=None, help="comma-separated data set names (default: all in SETS)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--table", type=Path, default=None, help="print the README table from this CSV and stop")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(pd.read_csv(args.table)))
        return None
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    names = args.sets.split(",") if args.sets else (SMOKE_SETS if args.smoke else list(SETS))
    unknown = [n for n in names if n not in SETS]
    if unknown:
        raise SystemExit(f"unknown data set(s) {unknown}; the sweep covers {list(SETS)}")
    draws, tune, chains = (300, 300, 2) if args.smoke else (1000, 1000, 4)
    out = args.out or RESULTS / ("drc_sweep_smoke.csv" if args.smoke else "drc_sweep.csv")
    rows = []
    for name in names:
        new = fit_set(name, SETS[name], draws, tune, chains)
        rows += new
        for r in new:
            print(f"{name:16} {r['fit']:40} {r['curve']!s:>10}: {r['divergences']:3d} div, r-hat {r['max_rhat']:.3f}, "
                  f"ESS {r['min_ess_bulk']:6.0f}; EC50 {r['ec50_median']:.4g} [{r['ec50_low']:.4g}, "
                  f"{r['ec50_high']:.4g}], least squares {r['lsq_ec50']:.4g} {'inside' if r['lsq_inside'] else 'OUTSIDE'}",
                  flush=True)  # fmt: skip
    df = pd.DataFrame(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    append_rows(df, out)
    print(f"wrote {out}")
    return df


if __name__ == "__main__":
    main()
