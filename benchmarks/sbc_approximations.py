"""Simulation-based calibration of every inference method on a small hierarchical 4PL (100 data sets).

    .venv/bin/python benchmarks/sbc_approximations.py [--methods nuts,advi,...] [--datasets 100] [--jobs 2]

The approximations recipe's section 3 at its settings: the design of ``simulate_dose_response(10, 160, seed=2)``
(10 compounds x 8 doses x 2 replicates), the non-centred model with ``SIMULATION_PRIORS`` (49 parameters),
prior-predictive data sets from seed 3, NUTS 2 chains x (500 + 500) at ``target_accept=0.95``, every other method with
``make_fitter``'s defaults (``fit_method``'s settings), at most 99 draws per rank, thinned to the bulk ESS. The recipe
fits the fast methods live; this script fits any of them (all seven by default) and replaces those methods' rows in
benchmarks/results/sbc_approximations.csv (one row per data set, method and parameter element, with date, machine and
commit). It prints the chi-square test of uniform rank fractions for one value per data set: the population
parameters, sigma, and the first compound's log EC50 and top, chosen before looking.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

from recipes_utils.approximations import METHODS, rank_uniformity, sbc
from recipes_utils.data import simulate_dose_response
from recipes_utils.dose_response import SIMULATION_PRIORS, hierarchical_four_pl
from recipes_utils.measurements import read_rows, stamp

RESULTS = Path(__file__).resolve().parent / "results"
PARAMS = ["log_ec50_mu", "log_ec50_sd", "log_ec50", "top", "sigma"]
TESTED = ["log_ec50_mu", "log_ec50_sd", "sigma", "log_ec50[0]", "top[0]"]  # one value per data set each
SETTINGS = {"nuts": {"chains": 2, "tune": 500, "draws": 500, "target_accept": 0.95}}
DESIGN_SEED, SBC_SEED = 2, 3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS))
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
    ranks = stamp(ranks)
    old = read_rows(args.out)
    if old is not None and "u" in old:  # keep the other methods' rows (rows of the format before rank fractions go)
        ranks = pd.concat([old[~old["method"].isin(ranks["method"].unique())], ranks], ignore_index=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ranks.to_csv(args.out, index=False)
    print(f"{args.datasets} data sets in {seconds / 60:.1f} min; wrote {args.out}")
    print(rank_uniformity(ranks, TESTED).round(4).to_string())
    return ranks


if __name__ == "__main__":
    main()
