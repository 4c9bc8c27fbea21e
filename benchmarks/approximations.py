"""Which approximation can you trust? Every method on the hierarchical 4PL at three sizes, against NUTS and the truth.

    .venv/bin/python benchmarks/approximations.py [--sizes 3000:30,40000:300,400000:3000] [--methods ...]

The measurements behind the approximations recipe's section 2, on simulated data with a known truth
(``simulate_dose_response(seed=1)``, the hierarchical recipe's generator), aggregated likelihood, centred effects.
Every method runs through ``recipes_utils.approximations.fit_method``, as its authors recommend (see that module):
NUTS 4 chains x (1,000 + 1,000) (2 chains at the largest size); mean-field ADVI; full-rank ADVI started from
mean-field with averaged iterates, only up to ``--fullrank-max`` parameters (its Cholesky factor is dense); Pathfinder;
DADVI; DADVI + LRVB and Laplace with block-arrow Hessians (``group_dim="group"``).

Per method and size: wall time including compilation, whether the method reports convergence, coverage of the true
log EC50s by central 94% intervals, and against NUTS at the same size the median sd ratio and the median absolute
shift of the means in NUTS sds (log EC50). A method that raises is recorded with its error. Appends its rows to
benchmarks/results/approximations.csv.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from recipes_utils.approximations import METHODS, fit_method
from recipes_utils.data import simulate_dose_response
from recipes_utils.dose_response import CURVE_PARAMS, SIMULATION_PRIORS, hierarchical_four_pl, interval_coverage
from recipes_utils.measurements import append_rows, read_rows

RESULTS = Path(__file__).resolve().parent / "results"
SKIP_REASON = {"fullrank_advi": "a dense Cholesky factor, whose cost grows with the square of the parameters"}


def n_free(model) -> int:
    return int(sum(np.prod(v.shape.eval()) for v in model.free_RVs))


def fit(method: str, model, n_obs: int, seed: int = 1):  # -> MethodFit
    """The recipes' one call per method (``recipes_utils.approximations.fit_method``) with this benchmark's settings."""
    return fit_method(method, model, seed=seed, draws=1000, nuts={"chains": 2 if n_obs >= 400_000 else 4},
                      group_dim="group")  # fmt: skip


class TimeLimit(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds):
    """Raise TimeLimit in the main thread after ``seconds`` (None: no limit)."""
    if not seconds:
        yield
        return

    def stop(signum, frame):
        raise TimeLimit(f"stopped after {seconds:,} s (--max-seconds)")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3000:30,40000:300,400000:3000")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--fullrank-max", type=int, default=200, help="most parameters for full-rank ADVI")
    parser.add_argument("--out", type=Path, default=RESULTS / "approximations.csv")
    parser.add_argument(
        "--max-seconds",
        type=int,
        default=None,
        help="stop a fit after this many seconds and record it as stopped (Unix: SIGALRM)",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    methods = args.methods.split(",")
    rows = []
    previous = read_rows(args.out)

    def write():  # after every fit, so a long run can be stopped without losing rows
        return append_rows(pd.DataFrame(rows), args.out, previous=previous)

    for size in args.sizes.split(","):
        n_obs, n_groups = map(int, size.split(":"))
        sim = simulate_dose_response(n_groups, n_obs, seed=1)
        truth = sim.truth[list(CURVE_PARAMS)]
        reference = None
        # one model per size, so that DADVI + LRVB reuses DADVI's compiled objective and optimum (fit_method)
        model = hierarchical_four_pl(sim.data, priors=SIMULATION_PRIORS, parameterization="centered", aggregate=True)
        for method in methods:
            k = n_free(model)
            row = {"n_obs": n_obs, "n_groups": n_groups, "n_params": k, "method": method}
            limit = {"fullrank_advi": args.fullrank_max}.get(method)
            if limit is not None and k > limit:
                row["note"] = f"skipped: {k:,} parameters > {limit:,} ({SKIP_REASON[method]})"
                rows.append(row)
                write()
                print(f"{n_obs}:{n_groups} {method}: {row['note']}", flush=True)
                continue
            start = time.perf_counter()
            try:
                with time_limit(args.max_seconds):
                    result = fit(method, model, n_obs)
            except Exception as e:  # noqa: BLE001  (record any failure and go on: the table says which, where, how)
                seconds = time.perf_counter() - start
                # the time limit can land inside compiled code whose caller (better_optimize) swallows it: by the clock
                stopped = args.max_seconds and seconds >= args.max_seconds
                note = (
                    f"stopped after {args.max_seconds:,} s (--max-seconds)"
                    if stopped
                    else f"failed: {type(e).__name__}"
                )
                row.update(seconds=seconds, note=note if stopped else f"{note}: {str(e)[:200]}")
                traceback.print_exc()
                rows.append(row)
                write()
                print(f"{n_obs}:{n_groups} {method}: {row['note']}", flush=True)
                continue
            row["seconds"] = time.perf_counter() - start
            row["converged"] = result.converged
            post = result.idata.posterior
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
    print(f"appended {len(rows)} rows to {args.out}")
    return df


if __name__ == "__main__":
    main()
