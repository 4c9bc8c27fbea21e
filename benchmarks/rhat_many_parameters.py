"""How large does the largest r-hat get when thousands of parameters are sampled by chains that mix well?

    .venv/bin/python benchmarks/rhat_many_parameters.py [--params 12009] [--repeats 3] [--rhos 0,0.3333]
        [--runs 2x1000,2x2000,4x1000] [--out CSV]

The hierarchical dose-response model at 400,000 observations / 3,000 groups has 12,009 parameters (4 per group,
8 population, sigma). `check_nuts` asks every one of them for r-hat <= 1.01. This script draws chains that are
stationary by construction (independent AR(1) series with lag-1 autocorrelation 0 and 1/3, the latter giving a bulk
effective sample size of half the draws, about what NUTS achieved on that model), computes ArviZ's rank-normalised
split r-hat for each parameter, and reports the largest and how many exceed 1.01, for 2 chains x 1,000 draws,
2 chains x 2,000 and 4 chains x 1,000. ``--rhos`` and ``--runs`` choose others (lag-1 autocorrelation 0.5: a bulk ESS
of a third of the draws). Each row also has the median and 99th-percentile r-hat (over all parameters) and the
median bulk and tail ESS (over the first 2,000). Writes benchmarks/results/rhat_many_parameters.csv (``--out``
another file).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from recipes_utils.measurements import append_rows

OUT = Path(__file__).resolve().parent / "results" / "rhat_many_parameters.csv"


def stationary_chains(rng, chains, draws, params, rho):
    x = np.empty((chains, draws, params))
    x[:, 0] = rng.standard_normal((chains, params))  # the stationary distribution from the first draw
    innovation_sd = np.sqrt(1 - rho**2)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + innovation_sd * rng.standard_normal((chains, params))
    return x


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=12_009)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rhos", default="0,0.3333", help="lag-1 autocorrelations, comma-separated")
    parser.add_argument("--runs", default="2x1000,2x2000,4x1000", help="chains x draws, comma-separated")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    rhos = [1 / 3 if r == "0.3333" else float(r) for r in args.rhos.split(",")]
    runs = [tuple(int(v) for v in run.split("x")) for run in args.runs.split(",")]
    for rho in rhos:
        for chains, draws in runs:
            for rep in range(args.repeats):
                x = stationary_chains(rng, chains, draws, args.params, rho)
                rhat = az.rhat(az.convert_to_dataset({"x": x}))["x"].to_numpy()
                sub = az.convert_to_dataset({"x": x[:, :, :2000]})  # ESS medians from 2,000 of the parameters
                ess_bulk = float(np.median(az.ess(sub)["x"]))
                ess_tail = float(np.median(az.ess(sub, method="tail")["x"]))
                rows.append(
                    {
                        "rho": round(rho, 3),
                        "chains": chains,
                        "draws": draws,
                        "repeat": rep,
                        "max_rhat": float(rhat.max()),
                        "median_rhat": float(np.median(rhat)),
                        "q99_rhat": float(np.quantile(rhat, 0.99)),
                        "median_ess_bulk": ess_bulk,
                        "median_ess_tail": ess_tail,
                        "n_above_1.01": int((rhat > 1.01).sum()),
                    }
                )
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    append_rows(df, args.out)
    print(df.groupby(["rho", "chains", "draws"])[["max_rhat", "n_above_1.01"]].agg(["min", "max"]).round(4))


if __name__ == "__main__":
    main()
