"""Hierarchical 4PL dose-response: ADVI and NUTS wall time and interval coverage against data size.

    .venv/bin/python benchmarks/dose_response_scaling.py [--sizes 3000:30,40000:300,400000:3000] [--raw-nuts-max 40000]

For each size (observations : groups) of `simulate_dose_response(seed=1)` data, in one run:

- ``advi``: mean-field ADVI, full batch on the replicate cells (``aggregate=True``), Adam 0.01, stopped when the
  ELBO no longer improves beyond 2 standard errors of its noise (windows of 1,000; at most 60,000 steps).
- ``advi_minibatch`` (largest size only): mean-field ADVI on minibatches of 1,024 raw rows (a quarter of them if fewer), Adam 0.01, the same
  stopping rule, at most 100,000 steps.
- ``nuts``: nutpie, centred group effects, the aggregated likelihood, 2 chains x (1,000 tuning + 1,000 draws).
- ``nuts_raw``: the same on the per-observation likelihood, up to ``--raw-nuts-max`` observations (it is slow).

Times include building and compiling the model. Every fit records the share of the true group parameters inside
its 94% intervals; NUTS fits record max r-hat, min bulk ESS, divergences and leapfrog steps per draw; ADVI fits
their sd / NUTS sd (median over groups, log EC50). Also one gradient evaluation of the log density, per-observation
against aggregated (median of 30, PyTensor C backend), which projects what NUTS on the raw rows would take.
Writes benchmarks/results/dose_response_scaling.csv and .png.

Goals (issue 3) on 2 cores at 400,000 / 3,000: ADVI converged in <= 2 minutes with compilation; NUTS, 2 chains of
1,000 + 1,000, in <= 60 minutes with r-hat <= 1.01.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import arviz as az
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import nutpie
import pandas as pd
import pymc as pm

from recipes_utils.data import simulate_dose_response
from recipes_utils.diagnostics import ELBOConvergence
from recipes_utils.dose_response import (
    CURVE_PARAMS,
    SIMULATION_PRIORS,
    hierarchical_four_pl,
    interval_coverage,
)
from recipes_utils.measurements import append_rows, read_rows

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_ADVI_S, GOAL_NUTS_S = 120, 3600


def build(data, **kw):
    return hierarchical_four_pl(data, priors=SIMULATION_PRIORS, log_concentration="log_concentration", **kw)


def fit_advi(data, truth, *, batch_size=None, max_iter=60_000, seed=1):
    start = time.perf_counter()
    model = build(data, aggregate=batch_size is None, batch_size=batch_size)
    conv = ELBOConvergence(window=1000, rtol=None, max_z=2)
    with model:
        approx = pm.fit(
            max_iter,
            method="advi",
            obj_optimizer=pm.adam(learning_rate=0.01),
            callbacks=[conv],
            random_seed=seed,
            progressbar=False,
        )
    seconds = time.perf_counter() - start
    idata = approx.sample(1000, random_seed=seed)
    row = {"seconds": seconds, "iterations": conv.converged_at or max_iter, "converged": conv.converged_at is not None}
    row.update({f"coverage_{k}": v for k, v in interval_coverage(idata.posterior, truth).items()})
    return row, idata


def fit_nuts(data, truth, *, aggregate=True, seed=1):
    start = time.perf_counter()
    model = build(data, aggregate=aggregate)
    compiled = nutpie.compile_pymc_model(model)
    compile_s = time.perf_counter() - start
    idata = nutpie.sample(compiled, chains=2, tune=1000, draws=1000, seed=seed, progress_bar=False)
    seconds = time.perf_counter() - start
    summary = az.summary(idata, kind="diagnostics", round_to="none")
    row = {
        "seconds": seconds,
        "compile_seconds": compile_s,
        "max_rhat": float(summary["r_hat"].max()),
        "worst_rhat_param": str(summary["r_hat"].idxmax()),
        "min_ess_bulk": float(summary["ess_bulk"].min()),
        "divergences": int(idata.sample_stats.diverging.sum()),
        "steps_per_draw": float(idata.sample_stats.n_steps.mean()),
    }
    row.update({f"coverage_{k}": v for k, v in interval_coverage(idata.posterior, truth).items()})
    return row, idata


def gradient_ms(data, aggregate, repeats=30):
    model = build(data, aggregate=aggregate)
    fn = model.logp_dlogp_function(ravel_inputs=True)
    fn.set_extra_values({})
    x = np.concatenate([np.ravel(v) for v in model.initial_point().values()])
    fn(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def sd_ratio(advi, nuts, name="log_ec50"):
    return float(np.median(advi.posterior[name].std(("chain", "draw")) / nuts.posterior[name].std(("chain", "draw"))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3000:30,40000:300,400000:3000")
    parser.add_argument("--raw-nuts-max", type=int, default=40_000, help="largest size to run NUTS on raw rows")
    parser.add_argument("--out", type=Path, default=RESULTS / "dose_response_scaling.csv")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    sizes = [tuple(int(v) for v in s.split(":")) for s in args.sizes.split(",")]

    rows = []
    previous = read_rows(args.out)  # earlier runs' rows: each save below writes them, then this run's

    def record(method, n_obs, n_groups, row):
        rows.append({"method": method, "n_obs": n_obs, "n_groups": n_groups, **row})
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
        print(f"{n_obs:>7} / {n_groups:<5} {method:<15} {shown}", flush=True)
        append_rows(pd.DataFrame(rows), args.out, previous=previous)  # kept if a later fit is interrupted

    for n_obs, n_groups in sizes:
        sim = simulate_dose_response(n_groups, n_obs, seed=1)
        truth = sim.truth[list(CURVE_PARAMS)]
        grad_raw, grad_agg = gradient_ms(sim.data, False), gradient_ms(sim.data, True)
        nuts_row, nuts_idata = fit_nuts(sim.data, truth)
        nuts_row.update({"grad_ms": grad_agg})
        record("nuts", n_obs, n_groups, nuts_row)
        advi_row, advi_idata = fit_advi(sim.data, truth)
        advi_row.update({"sd_ratio_log_ec50": sd_ratio(advi_idata, nuts_idata), "grad_ms": grad_agg})
        record("advi", n_obs, n_groups, advi_row)
        if n_obs <= args.raw_nuts_max:
            raw_row, _ = fit_nuts(sim.data, truth, aggregate=False)
            raw_row["grad_ms"] = grad_raw
            record("nuts_raw", n_obs, n_groups, raw_row)
        else:
            # Same posterior, same steps per draw: sampling time scales with the cost of one gradient.
            sampling = nuts_row["seconds"] - nuts_row["compile_seconds"]
            projected = nuts_row["compile_seconds"] + sampling * grad_raw / grad_agg
            record("nuts_raw_projected", n_obs, n_groups, {"seconds": projected, "grad_ms": grad_raw})
        if (n_obs, n_groups) == max(sizes):
            mb_row, mb_idata = fit_advi(sim.data, truth, batch_size=min(1024, n_obs // 4), max_iter=100_000)
            mb_row.update({"sd_ratio_log_ec50": sd_ratio(mb_idata, nuts_idata)})
            record("advi_minibatch", n_obs, n_groups, mb_row)

    df = pd.DataFrame(rows)
    append_rows(df, args.out, previous=previous)
    plot(df, args.out.with_suffix(".png"))

    big = df[df["n_obs"] == df["n_obs"].max()].set_index("method")
    advi_s, nuts_s = big.loc["advi", "seconds"], big.loc["nuts", "seconds"]
    print(
        f"\nADVI at the largest size: {advi_s:.0f} s; goal <= {GOAL_ADVI_S} s: "
        + ("met" if advi_s <= GOAL_ADVI_S else f"NOT met ({advi_s / GOAL_ADVI_S:.1f}x)")
    )
    rhat = big.loc["nuts", "max_rhat"]
    print(
        f"NUTS at the largest size: {nuts_s / 60:.1f} min, max r-hat {rhat:.4f} ({big.loc['nuts', 'worst_rhat_param']}); "
        f"goal <= {GOAL_NUTS_S / 60:.0f} min with r-hat <= 1.01: "
        + ("met" if nuts_s <= GOAL_NUTS_S and rhat <= 1.01 else "NOT met")
    )


def plot(df, path):
    fig, axs = plt.subplots(1, 2, figsize=(10, 3.8))
    styles = {
        "advi": ("C0", "o-", "ADVI, full batch (cells)"),
        "advi_minibatch": ("C0", "s", "ADVI, minibatch of rows"),
        "nuts": ("C1", "o-", "NUTS, aggregated likelihood"),
        "nuts_raw": ("C3", "o-", "NUTS, per-observation likelihood"),
        "nuts_raw_projected": ("C3", "x", "  (projected from gradient cost)"),
    }
    for method, (color, fmt, label) in styles.items():
        d = df[df["method"] == method]
        if len(d):
            axs[0].plot(d["n_obs"], d["seconds"] / 60, fmt, color=color, label=label)
            if "coverage_log_ec50" in d and d["coverage_log_ec50"].notna().any():
                axs[1].plot(d["n_obs"], d["coverage_log_ec50"], fmt, color=color, label=label)
    axs[0].set(
        xscale="log",
        yscale="log",
        xlabel="observations",
        ylabel="wall time (min, with compilation)",
        title="Time to a fit, 2 cores",
    )
    axs[0].legend(fontsize=7)
    axs[1].axhline(0.94, color="k", ls="--", lw=1, label="nominal 94%")
    axs[1].set(
        xscale="log",
        xlabel="observations",
        ylabel="share of true log EC50 inside",
        title="Coverage of 94% intervals",
        ylim=(0.5, 1.0),
    )
    axs[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
