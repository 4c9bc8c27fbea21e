"""A hierarchical binomial dose-response model at 3,000 curves: NUTS wall time, r-hat, divergences and coverage.

    .venv/bin/python benchmarks/binomial_scale.py [--curves 3000] [--chains 4] [--tune 400] [--draws 1000] [--seed 1]

The question: can NUTS fit a mortality screen of 3,000 compounds, each tested at 8 doses with a few hundred animals
per dose, with clean diagnostics in minutes on 2 cores? The goal: r-hat <= 1.01 for every stored quantity, 0
divergences and a bulk and tail ESS of at least 400 (the recipes' check) in under 5 minutes, compilation included.
The chains have nutpie's default lengths, 400 tuning steps and 1,000 draws. 500 draws were too few: of 21,000
quantities, 23 had an r-hat above 1.01 (benchmarks/results/binomial_scale.csv).

The data: ``--curves`` curves (compounds), an untreated control and 7 doses from 0.1 to 100 (geometric), 3 replicate
wells per dose of 60 to 100 animals each (about 240 per dose), dead of total. Each curve is a 4PL on the probability
of death, its parameters drawn from a population: control mortality ``logit(top) ~ Normal(logit 0.05, 0.4)``,
mortality at high dose ``logit(bottom) ~ Normal(logit 0.95, 0.4)``, ``log EC50 ~ Normal(log 3, 0.8)``, ``log hill
~ Normal(log 1.5, 0.25)``.

The model: :func:`recipes_utils.dose_response.hierarchical_dose_response` with ``likelihood="binomial"``,
``aggregate=True`` (the wells of a cell summed: successes and trials, exact) and the default priors and
parameterisation rule (``"auto"``: centred, as every curve has thousands of trials); NUTS by
:func:`~recipes_utils.dose_response.fit_curves`'s rule (target acceptance 0.95, one refit at 0.99 after a
divergence), nutpie, storing the curves' parameters and the population variables (not the cells' means). Reported:
the wall time of the fit (compilation included) and of the whole run, leapfrog steps per draw, divergences, the
largest r-hat and how many stored quantities exceed 1.01, the smallest bulk and tail ESS, the share of the true log
EC50s and EC10s inside their 94% central intervals, peak memory. Writes benchmarks/results/binomial_scale.csv.
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
DOSES = np.r_[0.0, np.geomspace(0.1, 100, 7)]
WELLS = 3
GOAL_SECONDS = 300
MIN_ESS = 400


def simulate(n_curves: int, seed: int):
    """The table (one row per well) and the true curve parameters (one row per curve)."""
    from scipy.special import expit, logit

    rng = np.random.default_rng(seed)
    truth = pd.DataFrame({
        "logit_top": rng.normal(logit(0.05), 0.4, n_curves), "logit_bottom": rng.normal(logit(0.95), 0.4, n_curves),
        "log_ec50": rng.normal(np.log(3.0), 0.8, n_curves), "log_hill": rng.normal(np.log(1.5), 0.25, n_curves),
    }, index=pd.Index([f"c{i:04d}" for i in range(n_curves)], name="group"))  # fmt: skip
    truth["top"], truth["bottom"] = expit(truth["logit_top"]), expit(truth["logit_bottom"])
    truth["hill"] = np.exp(truth["log_hill"])
    # relative EC10 of a 4PL: where S = 0.9, i.e. u**hill = 1/9
    truth["ec10"] = np.exp(truth["log_ec50"] - np.log(9.0) / truth["hill"])
    conc = np.tile(np.repeat(DOSES, WELLS), n_curves)
    group = np.repeat(truth.index.to_numpy(), DOSES.size * WELLS)
    t = truth.loc[group]
    with np.errstate(divide="ignore"):
        u = np.exp(t["hill"].to_numpy() * (np.log(conc) - t["log_ec50"].to_numpy()))
    p = t["bottom"].to_numpy() + (t["top"].to_numpy() - t["bottom"].to_numpy()) / (1.0 + u)
    trials = rng.integers(60, 101, conc.size)
    data = pd.DataFrame({"group": group, "concentration": conc, "dead": rng.binomial(trials, p), "total": trials})
    return data, truth


def main(argv=None):
    import arviz as az

    from recipes_utils.dose_response import fit_curves, hierarchical_dose_response, model_spec
    from recipes_utils.measurements import append_rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=int, default=3000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--tune", type=int, default=400)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "binomial_scale.csv")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    run_start = time.perf_counter()
    data, truth = simulate(args.curves, args.seed)
    build_start = time.perf_counter()
    model = hierarchical_dose_response(data, group="group", concentration="concentration", response="dead",
                                       trials="total", likelihood="binomial", zero_is_control=True,
                                       aggregate=True)  # fmt: skip
    build_seconds = time.perf_counter() - build_start
    forms = model_spec(model).forms
    store = [v.name for v in model.free_RVs] + ["top", "bottom", "hill"]
    fit_start = time.perf_counter()
    fit = fit_curves(model, seed=args.seed, chains=args.chains, tune=args.tune, draws=args.draws, check=False,
                     var_names=store, progress=False)  # fmt: skip
    fit_seconds = time.perf_counter() - fit_start
    posterior = fit.idata.posterior
    rhat = az.rhat(posterior)
    ess_bulk, ess_tail = az.ess(posterior), az.ess(posterior, method="tail")
    rhat_values = np.concatenate([np.ravel(rhat[v]) for v in rhat.data_vars])
    order = list(posterior["group"].values)
    lo, hi = 0.03, 0.97
    log_ec50 = posterior["log_ec50"].transpose("group", ...).to_numpy().reshape(len(order), -1)
    q = np.quantile(log_ec50, [lo, hi], axis=1)
    true_log_ec50 = truth.loc[order, "log_ec50"].to_numpy()
    hill = posterior["hill"].transpose("group", ...).to_numpy().reshape(len(order), -1)
    log_ec10 = log_ec50 - np.log(9.0) / hill
    q10 = np.quantile(log_ec10, [lo, hi], axis=1)
    true_log_ec10 = np.log(truth.loc[order, "ec10"].to_numpy())
    row = {
        "curves": args.curves, "rows": len(data), "cells": len(data) // WELLS, "chains": args.chains,
        "tune": args.tune, "draws": args.draws, "seed": args.seed,
        "parameterization": ",".join(sorted(set(forms.values()))) if forms else "",
        "fit_seconds": fit_seconds, "compile_seconds": fit.fit.compile_seconds, "build_seconds": build_seconds,
        "target_accept": fit.target_accept, "divergences": int(fit.fit.divergences),
        "divergences_first_fit": int(next(iter(fit.divergences.values()))),
        "steps_per_draw": fit.fit.steps_per_draw, "max_rhat": float(rhat_values.max()),
        "n_rhat_above_1_01": int((rhat_values > 1.01).sum()), "n_quantities": int(rhat_values.size),
        "min_ess_bulk": float(min(float(ess_bulk[v].min()) for v in ess_bulk.data_vars)),
        "min_ess_tail": float(min(float(ess_tail[v].min()) for v in ess_tail.data_vars)),
        "coverage_log_ec50": float(np.mean((q[0] <= true_log_ec50) & (true_log_ec50 <= q[1]))),
        "coverage_log_ec10": float(np.mean((q10[0] <= true_log_ec10) & (true_log_ec10 <= q10[1]))),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "run_seconds": time.perf_counter() - run_start,
        "goal_met": bool(fit_seconds <= GOAL_SECONDS and rhat_values.max() <= 1.01 and fit.fit.divergences == 0
                         and min(float(ess_bulk[v].min()) for v in ess_bulk.data_vars) >= MIN_ESS
                         and min(float(ess_tail[v].min()) for v in ess_tail.data_vars) >= MIN_ESS),
    }  # fmt: skip
    append_rows(pd.DataFrame([row]), args.out)
    for k, v in row.items():
        print(f"{k:22} {v}")
    print(f"wrote {args.out}")
    return row


if __name__ == "__main__":
    main()
