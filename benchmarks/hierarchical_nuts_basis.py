"""NUTS at 400,000 observations on the hierarchical recipe's model: centred against decorrelated curves.

    .venv/bin/python benchmarks/hierarchical_nuts_basis.py [--parameterization decorrelated] [--draws 1000]
        [--tune 1000] [--chains 4] [--seed 2018] [--size 400000:3000]

The hierarchical recipe's section 4 fit (the recipe: ``--draws 2000``), one run per call:
``simulate_dose_response(3000, 400_000, seed=2020)`` (the recipe's ``SEED + 2``), ``hierarchical_four_pl(..., priors=SIMULATION_PRIORS, aggregate=True)`` (the sufficient
statistics) with ``--parameterization`` ``centered`` or ``decorrelated`` (each curve sampled in a basis fitted to its
data: the same posterior, see ``hierarchical_four_pl``), NUTS with ``sample_nuts`` (nutpie, Numba). It stores what the
recipe stores: every variable except ``curve`` (the decorrelated model's copy of the four curve parameters, which are
stored under their own names), without the warm-up draws.

Reports the model's build (``build_seconds``: with the basis fit when decorrelated) and, apart, the wall time of
compilation and sampling (``seconds``), leapfrog steps per kept draw, divergences, the largest r-hat over every stored
value (``az.summary``, unrounded; the decorrelated model's values include the 12,000 sampler coordinates ``z``,
which nutpie always stores) and how many exceed 1.01, the smallest bulk and tail ESS, the share of the true log
EC50s inside the 94% intervals and the process's peak resident memory (GiB, Linux). Appends one row to
benchmarks/results/hierarchical_nuts_basis.csv.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import arviz as az
import pandas as pd

from recipes_utils.data import simulate_dose_response
from recipes_utils.dose_response import CURVE_PARAMS, SIMULATION_PRIORS, hierarchical_four_pl, interval_coverage
from recipes_utils.inference import sample_nuts
from recipes_utils.measurements import append_rows

OUT = Path(__file__).resolve().parent / "results" / "hierarchical_nuts_basis.csv"


def stored_names(model) -> list[str]:
    """Every free variable and deterministic except the decorrelated model's ``curve``."""
    return sorted({v.name for v in [*model.free_RVs, *model.deterministics]} - {"curve"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parameterization", choices=["centered", "decorrelated"], default="decorrelated")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2018, help="the sampler's seed (the recipe's SEED)")
    parser.add_argument("--size", default="400000:3000", help="observations:groups")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    n_obs, n_groups = (int(v) for v in args.size.split(":"))

    sim = simulate_dose_response(n_groups, n_obs, seed=2020)
    start = time.perf_counter()
    model = hierarchical_four_pl(sim.data, priors=SIMULATION_PRIORS, parameterization=args.parameterization,
                                 aggregate=True)  # fmt: skip
    build_seconds = time.perf_counter() - start
    fit = sample_nuts(model, chains=args.chains, tune=args.tune, draws=args.draws, seed=args.seed,
                      var_names=stored_names(model), save_warmup=False)  # fmt: skip
    summary = az.summary(fit.idata, kind="diagnostics", round_to="none")
    coverage = interval_coverage(fit.idata.posterior, sim.truth[list(CURVE_PARAMS)], prob=0.94)
    row = {
        "n_obs": n_obs, "n_groups": n_groups, "parameterization": args.parameterization,
        "chains": args.chains, "tune": args.tune, "draws": args.draws, "seed": args.seed,
        "build_seconds": build_seconds, "seconds": fit.seconds, "compile_seconds": fit.compile_seconds,
        "steps_per_draw": fit.steps_per_draw, "divergences": fit.divergences,
        "n_values": len(summary), "max_rhat": float(summary["r_hat"].max()),
        "worst_rhat_param": str(summary["r_hat"].idxmax()), "n_above_1_01": int((summary["r_hat"] > 1.01).sum()),
        "min_ess_bulk": float(summary["ess_bulk"].min()), "min_ess_tail": float(summary["ess_tail"].min()),
        "coverage_log_ec50": float(coverage["log_ec50"]),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }  # fmt: skip
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    append_rows(pd.DataFrame([row]), args.out)


if __name__ == "__main__":
    main()
