"""Every dose-response data set of the R package drc, fitted with default priors: the curve family chosen by PSIS-LOO.

    .venv/bin/python benchmarks/drc_sweep.py [--smoke] [--sets ryegrass,daphnids] [--out ...] [--table CSV]

The question: does the path a new user takes (a tidy table, default priors scaled from the data, the documented
parameterisation rule, NUTS by ``fit_curves``'s rule) give clean fits on data the recipes were not written for,
whatever the response: measurements, dead or immobile of a total (binomial), counts, or a hormetic rise before the
decline? Every data set of ``data/drc`` that holds a dose-response curve is in ``SETS``; the others, in ``LEFT_OUT``,
are event-time data (germination times, which need a time-to-event model, not a curve of the dose) and a competition
experiment (biomass against two plant densities, no dose).

Per data set, with its likelihood (``Spec.likelihood``: Normal for measurements, binomial with the trials column for
dead-of-total counts, negative binomial for the colony counts, whose variance is two to three times their mean):

- the candidate curve families (``Spec.families``: LL.4 and the two Weibulls, and Brain-Cousens hormesis besides for
  the two hormesis sets) are fitted and compared by PSIS-LOO with
  :func:`recipes_utils.dose_response.compare_curves` (stacking weights; up to ``REFIT`` observations with a Pareto k
  above ArviZ's threshold refitted exactly per family, more flagged as an unreliable LOO); the family ranked first is
  the one reported. A family whose fit fails ``fit_curves``'s check (r-hat <= 1.01, bulk and tail ESS >= 400, no
  divergence after the refit at target acceptance 0.99) is left out of the comparison and named in
  ``failed_families``. When fewer than two families pass, the comparison is run once more with twice the draws (the
  check's own advice for a low ESS or a high r-hat; ``draws`` says which);
- one curve: the one-curve model; three or more curves: the hierarchical model with ``parameterization="auto"``, with
  untreated controls shared by all curves (drc's ``999`` or ``0`` labels) through ``shared_controls`` and a shared
  top; two curves: one comparison per curve (the hierarchy cannot learn a spread from two groups), the shared
  controls in each;
- each curve's EC10 and EC50 (relative, from the control level) with 94% central intervals
  (:func:`~recipes_utils.dose_response.ecx_table`, whose flag says where an ECx lies beyond the tested doses), beside
  the maximum-likelihood ECx of the same family and likelihood on that curve's rows
  (:func:`~recipes_utils.dose_response.maximum_likelihood`, drc's estimate), and whether it lies inside the interval.

Every fit: nutpie, 4 chains x (1,000 + 1,000) (smoke: 2 x (300 + 300), with r-hat <= 1.05 and ESS >= 50).
Writes benchmarks/results/drc_sweep.csv, one row per curve (smoke: a file in the temporary folder).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recipes_utils.data import load_drc

RESULTS = Path(__file__).resolve().parent / "results"
MONOTONE = ("ll4", "w1", "w2")
HORMESIS = ("ll4", "w1", "w2", "bc5")
REFIT = 2  # observations with a high Pareto k refitted exactly per family; more: the family's LOO is flagged
PROB = 0.94


@dataclass(frozen=True)
class Spec:
    dose: str
    response: str
    group: str | None = None  # None: one curve
    shared_controls: object = None  # the group label of untreated controls shared by all curves
    controls_from_dose_zero: bool = False  # dose-0 rows are shared controls though labelled with a curve
    likelihood: str = "normal"
    trials: str | None = None  # binomial: the column of trials (animals, insects) of which ``response`` counts events
    families: tuple = MONOTONE


_BIN = {"likelihood": "binomial"}
SETS = {
    # measurements, one curve
    "ryegrass": Spec("conc", "rootl"),
    "M.bahia": Spec("conc", "dryweight"),
    "O.mykiss": Spec("conc", "weight"),
    "P.promelas": Spec("conc", "dryweight"),
    "S.capricornutum": Spec("conc", "count"),  # algal cell density (10^4 cells / ml), a measurement
    "algae": Spec("conc", "vol"),
    "heartrate": Spec("pressure", "rate"),
    "lepidium": Spec("conc", "weight"),
    "nasturtium": Spec("conc", "weight"),
    "secalonic": Spec("dose", "rootl"),
    "terbuthylazin": Spec("dose", "rgr"),
    # hormesis: low doses raise the response above the controls (lettuce 0.98 to 1.25, leaflength 9.3 to 20)
    "lettuce": Spec("conc", "weight", families=HORMESIS),
    "leaflength": Spec("Dose", "DW", families=HORMESIS),
    # measurements, several curves
    "S.alba": Spec("Dose", "DryMatter", "Herbicide"),
    "G.aparine": Spec("dose", "drymatter", "treatment", controls_from_dose_zero=True),
    "methionine": Spec("dose", "gain", "product", shared_controls="control"),
    "acidiq": Spec("dose", "rgr", "pct", shared_controls=999),
    "auxins": Spec("dose", "y", "h", shared_controls=0),
    "etmotc": Spec("dose1", "rgr1", "pct1", shared_controls=999),
    "glymet": Spec("dose", "rgr", "pct", shared_controls=999),
    "mecter": Spec("dose", "rgr", "pct", shared_controls=999),
    "vinclozolin": Spec("conc", "effect", "exper"),
    # dead (or immobile, or affected) of a total: binomial
    "deguelin": Spec("dose", "r", trials="n", **_BIN),
    "earthworms": Spec("dose", "number", trials="total", **_BIN),  # worms staying in the contaminated half
    "finney71": Spec("dose", "affected", trials="total", **_BIN),
    "H.virescens": Spec("dose", "numdead", "sex", trials="total", **_BIN),
    "daphnids": Spec("dose", "no", "time", trials="total", **_BIN),  # immobile after 24 h and after 48 h
    "selenium": Spec("conc", "dead", "type", trials="total", **_BIN),  # each selenium form with its own controls
    # counts of colonies: negative binomial (the variance is 2-3 times the mean within a dose)
    "decontaminants": Spec("conc", "count", "group", likelihood="negative_binomial"),
}
LEFT_OUT = {
    "chickweed": "germination times (event-time data: a time-to-event model, not a dose-response curve)",
    "chickweed0": "germination times (event-time data: a time-to-event model, not a dose-response curve)",
    "germination": "germination times at several temperatures (event-time data, not a dose-response curve)",
    "RScompetition": "a competition experiment (biomass against the densities of two biotypes), not a dose-response "
    "curve",
}
SMOKE_SETS = ["finney71", "mecter"]  # a one-curve binomial comparison and a hierarchy with shared controls


def tidy(name: str, spec: Spec) -> pd.DataFrame:
    """The set as the builders read it: ``concentration``, ``response``, ``group`` (``"control"`` for shared
    controls), and ``trials`` for a binomial response; rows without a response are left out (said)."""
    d = load_drc(name)
    out = pd.DataFrame({"concentration": d[spec.dose].astype(float), "response": d[spec.response].astype(float)})
    if spec.trials:
        out["trials"] = d[spec.trials].astype(float)
    out["group"] = d[spec.group].astype(str) if spec.group else "all"
    if spec.group and pd.api.types.is_float_dtype(d[spec.group]):  # selenium's types 1.0, 2.0: label them 1, 2
        out["group"] = d[spec.group].astype(int).astype(str)
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


def ml_ecx(rows: pd.DataFrame, spec: Spec, family: str) -> tuple[float, float]:
    """The maximum-likelihood EC10 and EC50 of one curve's rows (its shared controls included) under ``family``;
    NaN where the one-curve model refuses the rows (too few doses for the family) or no start converges."""
    from recipes_utils.dose_response import dose_response_model, maximum_likelihood

    try:
        model = dose_response_model(rows, concentration="concentration", response="response", zero_is_control=True,
                                    curve=family, likelihood=spec.likelihood,
                                    trials="trials" if spec.trials else None)  # fmt: skip
        ml = maximum_likelihood(model, starts=10, seed=1)
    except (ValueError, RuntimeError) as err:
        print(f"  maximum likelihood not available: {err}", flush=True)
        return np.nan, np.nan
    ecx = ml.ecx((10, 50)).set_index("x")["ecx"]
    return float(ecx.loc[10.0]), float(ecx.loc[50.0])


def compare(data: pd.DataFrame, spec: Spec, group: str | None, fit_kwargs: dict, refit: int):
    from recipes_utils.dose_response import compare_curves

    columns = {"concentration": "concentration", "response": "response", "zero_is_control": True}
    if spec.trials:
        columns["trials"] = "trials"
    if group is not None:
        has_controls = (data["group"] == "control").any()
        columns["shared_controls"] = "control" if has_controls else None
        columns["parameterization"] = {"top": "shared"} if has_controls else "auto"
    with warnings.catch_warnings():  # ArviZ warns of each high Pareto k; compare_curves reads and acts on them
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        return compare_curves(data, spec.families, seed=1, likelihood=spec.likelihood, group=group, refit=refit,
                              fit_kwargs=fit_kwargs, **columns)  # fmt: skip


def curve_rows(name, spec, data, cmp, kind, curves, seconds) -> list[dict]:
    """One row per curve of a comparison: the family ranked first, its diagnostics and ECx, and ML beside them."""
    from recipes_utils.dose_response import ecx_table

    family = cmp.table.index[0]
    fit, model = cmp.fits[family], cmp.models[family]
    diag = fit.diagnostics
    second = cmp.table.iloc[1] if len(cmp.table) > 1 else None
    table = ecx_table(model, fit.idata, (10, 50), prob=PROB)
    rows = []
    for curve in curves:
        own = data[data["group"].isin([curve, "control"])]
        ml10, ml50 = ml_ecx(own, spec, family)
        row = {
            "data set": name, "likelihood": spec.likelihood, "fit": kind, "curve": curve,
            "curves": len(curves) if kind == "hierarchical" else 1, "rows": len(own),
            "families": " ".join(spec.families), "family": family, "weight": float(cmp.weights[family]),
            "elpd_diff_second": float(second["elpd_diff"]) if second is not None else np.nan,
            "dse_second": float(second["dse"]) if second is not None else np.nan,
            "loo_reliable": bool(cmp.table.loc[family, "loo_reliable"]),
            "high_k": int(cmp.table.loc[family, "n_high_k"]), "refitted": int(cmp.table.loc[family, "refitted"]),
            "failed_families": " ".join(cmp.failed) if cmp.failed else "",
            "divergences": int(fit.fit.divergences), "target_accept": fit.target_accept,
            "max_rhat": float(diag["r_hat"].max()), "min_ess_bulk": float(diag["ess_bulk"].min()),
            "min_ess_tail": float(diag["ess_tail"].min()),
        }  # fmt: skip
        group_label = "curve" if kind != "hierarchical" else curve
        for x, ml in ((10, ml10), (50, ml50)):
            t = table[(table["group"] == group_label) & (table["x"] == x)].iloc[0]
            row |= {
                f"ec{x}": t["ecx"], f"ec{x}_low": t["ecx_lower"], f"ec{x}_high": t["ecx_upper"], f"ml_ec{x}": ml,
                f"ml_ec{x}_inside": bool(t["ecx_lower"] <= ml <= t["ecx_upper"]) if np.isfinite(ml) else False,
                f"ec{x}_flag": t["flag"],
            }  # fmt: skip
        row |= {"dose_min": float(t["lowest_dose"]), "dose_max": float(t["highest_dose"]),
                "rows_missing_response": data.attrs.get("rows_missing_response", 0), "seconds": seconds}  # fmt: skip
        rows.append(row)
    return rows


def failed_rows(name, spec, kind, curves, err, seconds) -> list[dict]:
    return [{"data set": name, "likelihood": spec.likelihood, "fit": kind, "curve": c, "families": " ".join(
        spec.families), "family": "none", "failed_families": str(err).splitlines()[0][:300], "seconds": seconds}
        for c in curves]  # fmt: skip


def fit_set(name: str, spec: Spec, fit_kwargs: dict, refit: int = REFIT) -> list[dict]:
    data = tidy(name, spec)
    curves = [g for g in data["group"].unique() if g != "control"]
    jobs = [("hierarchical", data, "group", curves)] if len(curves) >= 3 else [
        ("one curve" if len(curves) == 1 else "one curve per group", data[data["group"].isin([c, "control"])], None,
         [c]) for c in curves]  # fmt: skip
    rows = []
    for kind, rows_in, group, these in jobs:
        start = time.perf_counter()
        kwargs = dict(fit_kwargs)
        for attempt in range(2):
            try:
                cmp = compare(rows_in, spec, group, kwargs, refit)
                break
            except ValueError as err:  # fewer than two families passed the check: the check's advice, once
                if attempt == 0 and "fewer than two families" in str(err):
                    print(f"{name}: {str(err).splitlines()[0][:200]}...; again with twice the draws", flush=True)
                    kwargs["draws"] = 2 * kwargs.get("draws", 1000)
                    continue
                cmp = err
        if isinstance(cmp, Exception):  # still fewer than two: say so, with the reasons
            rows += [r | {"draws": kwargs["draws"]} for r in failed_rows(name, spec, kind, these, cmp,
                                                                         time.perf_counter() - start)]  # fmt: skip
            continue
        new = curve_rows(name, spec, rows_in, cmp, kind, these, time.perf_counter() - start)
        rows += [r | {"draws": kwargs["draws"]} for r in new]
    return rows


def markdown_table(df: pd.DataFrame) -> str:
    """One row per data set and fit, from the latest row of each curve in ``df`` (``--table``: printed from the CSV,
    not retyped)."""
    from recipes_utils.measurements import latest_rows

    if "family" in df:  # rows of the families sweep (the 4PL-only sweep's earlier rows have no family)
        df = df[df["family"].notna()]
    df = latest_rows(df, ("data set", "fit", "curve"))
    header = ("| data set | response | fit | curves | family (LOO) | divergences | max r-hat | min bulk ESS | "
              "ML EC10 inside the 94% interval | ML EC50 inside |")  # fmt: skip
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    for (name, fit), g in df.groupby(["data set", "fit"], sort=False):
        families = ", ".join(dict.fromkeys(g["family"].astype(str)))
        lines.append(
            f"| {name} | {g['likelihood'].iloc[0]} | {fit} | {len(g)} | {families} | {g['divergences'].max():.0f} | "
            f"{g['max_rhat'].max():.3f} | {g['min_ess_bulk'].min():.0f} | {int(g['ml_ec10_inside'].sum())} of "
            f"{len(g)} | {int(g['ml_ec50_inside'].sum())} of {len(g)} |"
        )
    return "\n".join(lines)


def main(argv=None):
    from recipes_utils.measurements import append_rows, read_rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"only {SMOKE_SETS}, fewer draws")
    parser.add_argument("--sets", default=None, help="comma-separated data set names (default: all in SETS)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--table", type=Path, default=None, help="print the markdown table from this CSV and stop")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(pd.read_csv(args.table)))
        return None
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    names = args.sets.split(",") if args.sets else (SMOKE_SETS if args.smoke else list(SETS))
    unknown = [n for n in names if n not in SETS]
    if unknown:
        raise SystemExit(f"unknown data set(s) {unknown}; the sweep covers {list(SETS)}")
    if args.smoke:
        fit_kwargs = {"chains": 2, "tune": 300, "draws": 300, "max_rhat": 1.05, "min_ess": 50}
    else:
        fit_kwargs = {"chains": 4, "tune": 1000, "draws": 1000}
    out = args.out or (Path(tempfile.gettempdir()) / "drc_sweep_smoke.csv" if args.smoke
                       else RESULTS / "drc_sweep.csv")  # fmt: skip
    previous = read_rows(out)
    rows = []
    for name in names:
        new = fit_set(name, SETS[name], fit_kwargs)
        rows += new
        for r in new:
            if r["family"] == "none":
                print(f"{name:16} {r['curve']!s:>10}: NO FAMILY CONVERGED: {r['failed_families']}", flush=True)
                continue
            print(f"{name:16} {r['fit']:20} {r['curve']!s:>10}: {r['family']:4} (weight {r['weight']:.2f}) "
                  f"{r['divergences']} div, r-hat {r['max_rhat']:.3f}, ESS {r['min_ess_bulk']:5.0f}; "
                  f"EC10 {r['ec10']:.4g} [{r['ec10_low']:.4g}, {r['ec10_high']:.4g}] ML {r['ml_ec10']:.4g}; "
                  f"EC50 {r['ec50']:.4g} [{r['ec50_low']:.4g}, {r['ec50_high']:.4g}] ML {r['ml_ec50']:.4g}; "
                  f"{r['seconds']:.0f} s", flush=True)  # fmt: skip
        append_rows(pd.DataFrame(rows), out, previous=previous)  # saved after every set
    print(f"wrote {out}")
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
