"""Simulation-based calibration of every inference method on a small hierarchical 4PL (100 data sets).

    .venv/bin/python benchmarks/sbc_approximations.py [--methods nuts,advi,...] [--datasets 100] [--jobs 2]

The approximations recipe fits NUTS (the control) and Laplace (a check that this CSV is what the code gives) live
and reads the other four methods' ranks from this script's CSV. Measured here on 2 workers: NUTS, DADVI and Laplace
14.3 minutes for 100 data sets (medians of 2.1, 2.9 and 0.2 s per fit, but slow tails: NUTS up to 40 s, one DADVI fit
309 s), mean-field ADVI and Pathfinder 9.4 minutes (means of 5.2 and 5.9 s per fit), full-rank ADVI (40,000 steps)
a mean of 21 s per fit. Without ``--methods`` it fits all six: their fits here add up to 78 worker-minutes. ``--methods``
replaces those methods' rows in the CSV and keeps the others'.
The settings are the recipe's (``notebooks/approximate-inference.ipynb``): the
design of ``simulate_dose_response(10, 160, seed=2)`` (10 compounds x 8 doses x 2 replicates), the non-centred model
with ``SIMULATION_PRIORS``, prior-predictive data sets from seed 3, NUTS 2 chains x (500 + 500) at
``target_accept=0.95``, every other method
with ``make_fitter``'s defaults (``fit_method``'s settings), 99 thinned draws per rank. Writes
benchmarks/results/sbc_approximations.csv (one row per data set, method and parameter element) and prints the
chi-square test of uniform ranks per method and variable.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import pandas as pd

from recipes_utils.approximations import rank_uniformity, sbc
from recipes_utils.data import simulate_dose_response
from recipes_utils.dose_response import SIMULATION_PRIORS, hierarchical_four_pl

RESULTS = Path(__file__).resolve().parent / "results"
PARAMS = ["log_ec50_mu", "log_ec50_sd", "log_ec50", "top", "sigma"]
SETTINGS = {"nuts": {"chains": 2, "tune": 500, "draws": 500, "target_accept": 0.95}}
DESIGN_SEED, SBC_SEED = 2, 3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="nuts,advi,fullrank_advi,pathfinder,dadvi,laplace")
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "sbc_approximations.csv")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    design = simulate_dose_response(10, 160, seed=DESIGN_SEED).data
    model = hierarchical_four_pl(design, priors=SIMULATION_PRIORS, parameterization="noncentered")
    start = time.perf_counter()
    ranks = sbc(model, args.methods.split(","), data_name="y", params=PARAMS, n_datasets=args.datasets,
                seed=SBC_SEED, fit_kwargs=SETTINGS, n_jobs=args.jobs)  # fmt: skip
    seconds = time.perf_counter() - start
    ranks["date"] = time.strftime("%Y-%m-%d")
    ranks["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists():  # keep the other methods' rows
        old = pd.read_csv(args.out, keep_default_na=False)
        ranks = pd.concat([old[~old["method"].isin(ranks["method"].unique())], ranks], ignore_index=True)
    ranks.to_csv(args.out, index=False)
    print(f"{args.datasets} data sets in {seconds / 60:.1f} min; wrote {args.out}")
    print(rank_uniformity(ranks).round(4).to_string())
    return ranks


if __name__ == "__main__":
    main()
