"""Which approximation can you trust? Every method on the hierarchical 4PL at three sizes, against NUTS and the truth.

    .venv/bin/python benchmarks/approximations.py [--sizes 3000:30,40000:300,400000:3000] [--methods ...]

The measurements behind the approximations recipe (issue 14), run on simulated data with a known truth
(``simulate_dose_response(seed=1)``, the hierarchical recipe's generator), aggregated likelihood, centred effects:

- ``nuts``: nutpie, 4 chains x (1,000 + 1,000) at the two smaller sizes, 2 x (1,000 + 1,000) at the largest;
- ``advi``: mean-field ADVI (``fit_advi``: Adam 0.01, the recipes' ELBO stopping rule);
- ``fullrank``: full-rank ADVI (Adam 0.005 decaying, 40,000 steps, no early stop), only up to ``--fullrank-max``
  parameters (its Cholesky factor is dense);
- ``pathfinder``: ``pymc_extras.fit_pathfinder`` (4 paths, 1,000 draws, PSIS resampling), single process;
- ``dadvi``: ``pymc_extras.inference.fit_dadvi`` (30 fixed draws, trust-ncg), only up to ``--dadvi-max`` parameters;
- ``laplace``: ``pymc_extras.fit_laplace`` (BFGS to the mode, the Hessian there), only up to ``--laplace-max``
  parameters (a dense Hessian).

Per method and size: wall time including compilation, coverage of the true log EC50s by central 94% intervals,
and against NUTS at the same size: the median sd ratio and the median absolute shift of the means in NUTS sds
(log EC50). A method that raises is recorded with its error. Writes benchmarks/results/approximations.csv.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from recipes_utils.approximations import fit_method
from recipes_utils.data import simulate_dose_response
from recipes_utils.dose_response import CURVE_PARAMS, SIMULATION_PRIORS, hierarchical_four_pl, interval_coverage

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("nuts", "advi", "fullrank", "pathfinder", "dadvi", "laplace")
SKIP_REASON = {  # measured on the prototype (129 parameters) on 2 cores, 2026-11-23
    "fullrank": "a dense Cholesky factor; 40,000 steps took 29 s at 129 parameters and the cost grows with its square",
    "dadvi": "211 s at 1,209 parameters; trust-ncg's Hessian-vector products over 30 draws grow with the parameters",
    "laplace": "a dense Hessian to compute and invert",
}


def n_free(model) -> int:
    return int(sum(np.prod(v.shape.eval()) for v in model.free_RVs))


def fit(method: str, model, n_obs: int, seed: int = 1):
    """The recipes' one call per method (``recipes_utils.approximations.fit_method``) with this benchmark's settings."""
    name = "fullrank_advi" if method == "fullrank" else method
    return fit_method(name, model, seed=seed, draws=1000, nuts={"chains": 2 if n_obs >= 400_000 else 4},
                      fullrank={"decay_steps": 20_000}).idata  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3000:30,40000:300,400000:3000")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--fullrank-max", type=int, default=200, help="most parameters for full-rank ADVI")
    parser.add_argument("--dadvi-max", type=int, default=2000, help="most parameters for DADVI")
    parser.add_argument("--laplace-max", type=int, default=2000, help="most parameters for the Laplace approximation")
    parser.add_argument("--out", type=Path, default=RESULTS / "approximations.csv")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    methods = args.methods.split(",")
    rows = []

    def write():
        df = pd.DataFrame(rows)
        df["date"] = time.strftime("%Y-%m-%d")
        df["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
        args.out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.out, index=False)  # after every fit, so a long run can be stopped without losing rows
        return df

    for size in args.sizes.split(","):
        n_obs, n_groups = map(int, size.split(":"))
        sim = simulate_dose_response(n_groups, n_obs, seed=1)
        truth = sim.truth[list(CURVE_PARAMS)]
        reference = None
        for method in methods:
            model = hierarchical_four_pl(sim.data, priors=SIMULATION_PRIORS, parameterization="centered",
                                         aggregate=True)  # fmt: skip
            k = n_free(model)
            row = {"n_obs": n_obs, "n_groups": n_groups, "n_params": k, "method": method}
            limit = {"fullrank": args.fullrank_max, "dadvi": args.dadvi_max, "laplace": args.laplace_max}.get(method)
            if limit is not None and k > limit:
                row["note"] = f"skipped: {k:,} parameters > {limit:,} ({SKIP_REASON[method]})"
                rows.append(row)
                write()
                print(f"{n_obs}:{n_groups} {method}: {row['note']}", flush=True)
                continue
            start = time.perf_counter()
            try:
                idata = fit(method, model, n_obs)
            except Exception as e:  # noqa: BLE001  (record any failure and go on: the table says which, where, how)
                row.update(seconds=time.perf_counter() - start, note=f"failed: {type(e).__name__}: {str(e)[:200]}")
                traceback.print_exc()
                rows.append(row)
                write()
                print(f"{n_obs}:{n_groups} {method}: {row['note']}", flush=True)
                continue
            row["seconds"] = time.perf_counter() - start
            post = idata.posterior
            row["coverage_log_ec50"] = float(interval_coverage(post, truth)["log_ec50"])
            le = post["log_ec50"].stack(s=("chain", "draw"))
            mean, sd = le.mean("s").to_numpy(), le.std("s").to_numpy()
            if method == "nuts":
                reference = (mean, sd)
            elif reference is not None:
                row["sd_ratio_median"] = float(np.median(sd / reference[1]))
                row["mean_shift_median_nuts_sd"] = float(np.median(np.abs(mean - reference[0]) / reference[1]))
            rows.append(row)
            write()
            print(f"{n_obs}:{n_groups} {method}: {row['seconds']:.1f} s, coverage {row['coverage_log_ec50']:.3f}, "
                  f"sd ratio {row.get('sd_ratio_median', np.nan):.2f}, "
                  f"shift {row.get('mean_shift_median_nuts_sd', np.nan):.2f}", flush=True)  # fmt: skip
    df = write()
    print(f"wrote {args.out}")
    return df


if __name__ == "__main__":
    main()
