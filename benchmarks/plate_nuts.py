"""Per-measurement NUTS on the hierarchical 4PL with plate effects: leapfrog steps per draw and ESS per gradient.

    .venv/bin/python benchmarks/plate_nuts.py [--obs 40000] [--groups 300] [--plates 50]
        [--configs centered:diag,centered:low_rank,decorrelated:diag] [--float32] [--maxdepth 10]
        [--target-accept 0.8] [--likelihood normal] [--backend numba] [--seed 1] [--store all] [--summary-dir DIR]

NUTS's cost is (gradients) x (cost of one gradient). ``benchmarks/plate_gradient.py`` measures the second; this
measures the first, for each ``parameterization:mass`` pair in ``--configs``. Mass matrices: nutpie's diagonal one
(the default) and its low-rank modified one, which learns the directions of strongly correlated parameters (a curve's
log EC50 and top are correlated). Parameterisations: ``centered`` and ``decorrelated`` (the centred model sampled in
each curve's own basis, fitted to the data by ``curve_preconditioner``; see ``hierarchical_four_pl``). ``--float32``
samples with PyTensor's floatX set to float32 (the model and gradient in single precision; the plate offsets
are then written out, see ``benchmarks/investigations/zerosum_float32_repro.py``). The data: ``simulate_dose_response`` with plates and 1% outliers; the model: ``hierarchical_four_pl(...,
plate="plate")``, Normal likelihood by default (the outliers stay in: the question is the sampler, not the fit;
``--likelihood student_t`` for the plates recipe's robust model, its degrees of freedom estimated).
``--curve-at`` chooses where the 4PL is evaluated (``hierarchical_four_pl``'s ``curve_at``, default here ``points``;
the CSV's rows up to the first two 400,000-row runs of 2026-12-02 are ``rows``). ``--backend jax`` compiles the log density and gradient with PyTensor's JAX backend instead of Numba (nutpie samples
either; rows before this option are Numba).
Reports wall time, mean leapfrog steps per kept draw, divergences, max r-hat, the smallest bulk ESS among the log
EC50s and the plate effects, that ESS per 1,000 gradients (over tuning and kept draws), the share of the true log EC50s
and plate offsets inside the 94% intervals, and the process's peak resident memory (GiB, Linux; rows before 2026-12-02
have no such columns), and which parameter had the largest r-hat (rows before the Student-t option have none). Appends to
benchmarks/results/plate_nuts.csv (one row per run).

Memory is mostly the trace. ``--store all`` (nutpie's default) keeps every variable and deterministic: 40,000
quantities per draw at 3,000 curves (the curves' unconstrained and constrained parameters, and each curve parameter
again as its own deterministic). ``--store parameters`` keeps the free variables (constrained; nutpie keeps the
unconstrained ones in any case) and the log EC50s: the same r-hat values less the per-parameter copies (``bottom``,
``top``, ``log_hill``, ``hill``). ``--store estimands`` keeps the curves' parameters in the sampler's coordinates only
(the unconstrained ``curve_affine_curve__``, which nutpie stores in any case), the log EC50s, the plate offsets and
every population-level variable: r-hat then covers every coordinate the sampler moves and the quantities the recipe
reports, not the curves' constrained parameters. ``peak_rss_sampling_gb`` is the peak when sampling has returned,
before the diagnostics (rows before 2026-12-04 have none, and no ``store``: ``all``).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import warnings
from pathlib import Path

import pandas as pd

from recipes_utils.measurements import stamp

OUT = Path(__file__).resolve().parent / "results" / "plate_nuts.csv"


def diagnostics_digest(summary, max_rhat=1.01):
    """Per variable of ``az.summary(kind="diagnostics")``: how many values, the largest, median and 99th-percentile
    r-hat, how many above ``max_rhat``, the smallest and median bulk ESS and the smallest and median tail ESS; then
    every value above ``max_rhat``."""
    by_var = summary.assign(variable=summary.index.str.split("[").str[0]).groupby("variable")
    table = pd.DataFrame({"n": by_var.size(), "max_r_hat": by_var["r_hat"].max(),
                          "n_above": by_var["r_hat"].apply(lambda r: int((r > max_rhat).sum())),
                          "min_ess_bulk": by_var["ess_bulk"].min(), "median_ess_bulk": by_var["ess_bulk"].median(),
                          "min_ess_tail": by_var["ess_tail"].min(), "median_ess_tail": by_var["ess_tail"].median(),
                          "median_r_hat": by_var["r_hat"].median(), "q99_r_hat": by_var["r_hat"].quantile(0.99)})  # fmt: skip
    above = summary.loc[summary["r_hat"] > max_rhat, ["r_hat", "ess_bulk", "ess_tail"]].rename(
        columns={"r_hat": "max_r_hat", "ess_bulk": "min_ess_bulk", "ess_tail": "min_ess_tail"}
    )
    return pd.concat([table, above.assign(n=1, n_above=1)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obs", type=int, default=40_000)
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--plates", type=int, default=50)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--configs", default="centered:diag,centered:low_rank,decorrelated:diag")
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--maxdepth", type=int, default=10, help="nutpie's cap on the tree depth (2**maxdepth steps)")
    parser.add_argument("--target-accept", type=float, default=0.8)
    parser.add_argument("--likelihood", choices=["normal", "student_t"], default="normal")
    parser.add_argument("--backend", choices=["numba", "jax"], default="numba")
    parser.add_argument(
        "--curve-at",
        choices=["rows", "points"],
        default="points",
        help="hierarchical_four_pl's curve_at: the 4PL once per measurement or once per (group, dose)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the sampler's seed (the simulated data keep seed 1)")
    parser.add_argument(
        "--store",
        choices=["all", "parameters", "estimands"],
        default="all",
        help="what the trace keeps: every variable and deterministic; the free variables and the log "
        "EC50s; or those less the curves' constrained parameters (see above)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--summary-dir",
        type=Path,
        default=None,
        help="also write each fit's per-parameter diagnostics (r-hat, ESS) to <dir>/<stem>.csv, "
        "and a digest (per variable, then every r-hat above 1.01) to <dir>/<stem>_digest.csv; "
        "stem: parameterization_mass_likelihood_targetaccept, then _seedN unless the seed is 1, "
        "then _<store> unless --store is all",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.float32:
        import pytensor

        pytensor.config.floatX = "float32"
    import arviz as az

    from recipes_utils.data import simulate_dose_response
    from recipes_utils.dose_response import SIMULATION_PRIORS, hierarchical_four_pl, interval_coverage
    from recipes_utils.inference import sample_nuts

    sim = simulate_dose_response(args.groups, args.obs, seed=1, n_plates=args.plates, outlier_fraction=0.01)
    priors = dataclasses.replace(SIMULATION_PRIORS, plate_sd=10.0)
    rows = []
    for config in args.configs.split(","):
        form, _, mass = config.partition(":")
        if form not in ("centered", "decorrelated") or mass not in ("diag", "low_rank"):
            raise SystemExit(f"unknown config {config!r}: centered or decorrelated, then :diag or :low_rank")
        model = hierarchical_four_pl(
            sim.data,
            priors=priors,
            parameterization=form,
            plate="plate",
            likelihood=args.likelihood,
            curve_at=args.curve_at,
        )
        # plate_effect by name: with --float32 it is a deterministic over plate_effect_free
        stored = {"all": None, "parameters": [v.name for v in model.free_RVs] + ["log_ec50", "plate_effect"],
                  "estimands": [v.name for v in model.free_RVs if v.name != "curve"] + ["log_ec50", "plate_effect"]
                  }[args.store]  # fmt: skip
        fit = sample_nuts(model, seed=args.seed, chains=args.chains, tune=args.tune, draws=args.draws,
                          low_rank=mass == "low_rank", progress=False, maxdepth=args.maxdepth,
                          target_accept=args.target_accept, backend=args.backend, var_names=stored)  # fmt: skip
        peak_sampling = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        summary = az.summary(fit.idata, kind="diagnostics", round_to="none")
        if args.summary_dir is not None:
            args.summary_dir.mkdir(parents=True, exist_ok=True)
            stem = f"{form}_{mass}_{args.likelihood}_{args.target_accept}"
            stem += f"_seed{args.seed}" if args.seed != 1 else ""
            stem += f"_{args.store}" if args.store != "all" else ""
            summary.to_csv(args.summary_dir / f"{stem}.csv")
            diagnostics_digest(summary).to_csv(args.summary_dir / f"{stem}_digest.csv")
        ess = az.ess(fit.idata, var_names=["log_ec50", "plate_effect"])
        min_ess = min(float(ess["log_ec50"].min()), float(ess["plate_effect"].min()))
        post = fit.idata.posterior
        offsets = sim.plate_effects.loc[sorted(sim.data["plate"].unique())].to_numpy(dtype=float)
        coverage = {
            "log_ec50": interval_coverage(post, sim.truth[["log_ec50"]], prob=0.94)["log_ec50"],
            "plates": interval_coverage(post[["plate_effect"]].rename({"plate": "group"}),  # zero-sum: centred truth
                                        pd.DataFrame({"plate_effect": offsets - offsets.mean()}), prob=0.94)["plate_effect"],
        }  # fmt: skip
        rows.append({"parameterization": form, "mass_matrix": mass, "backend": args.backend, "curve_at": args.curve_at,
                     "dtype": "float32" if args.float32 else "float64",
                     "maxdepth": args.maxdepth, "target_accept": args.target_accept, "likelihood": args.likelihood, "n_obs": args.obs, "n_groups": args.groups, "n_plates": args.plates,
                     "seed": args.seed, "chains": args.chains, "tune": args.tune, "draws": args.draws, "seconds": fit.seconds,
                     "compile_s": fit.compile_seconds, "steps_per_draw": fit.steps_per_draw,
                     "gradients": fit.gradients, "divergences": fit.divergences,
                     "max_rhat": float(summary["r_hat"].max()), "max_rhat_of": str(summary["r_hat"].idxmax()),
                     "min_ess_bulk_ec50_plates": min_ess,
                     "ess_per_1000_gradients": 1000 * min_ess / fit.gradients,
                     "coverage_log_ec50": coverage["log_ec50"], "coverage_plates": coverage["plates"],
                     "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                     "peak_rss_sampling_gb": peak_sampling, "store": args.store})  # fmt: skip
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table = stamp(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists():
        old = pd.read_csv(args.out)
        old = old.assign(
            **{
                k: old.get(k, v)
                for k, v in (
                    ("parameterization", "centered"),
                    ("dtype", "float64"),
                    ("maxdepth", 10),
                    ("target_accept", 0.8),
                    ("likelihood", "normal"),
                    ("backend", "numba"),
                    ("curve_at", "rows"),
                    ("seed", 1),
                    ("store", "all"),
                )
            }
        )
        table = pd.concat([old, table], ignore_index=True)[table.columns]
    table.to_csv(args.out, index=False)
    print(table.round(4).to_string(index=False))
    return table


if __name__ == "__main__":
    main()
