"""The benchmarks on ``docs/benchmarks.md``: which CSV each script writes, and how the page shows it.

:data:`BENCHMARKS` lists every CSV of ``benchmarks/results/`` (a :class:`Benchmark` each): the script that writes it
and its command, the settings columns that make a configuration, the metric columns shown, or a summary function
(``_summary_*``) for a CSV of per-item rows. A new CSV needs an entry here. :mod:`recipes_utils.measurements` writes
the page from this list and re-exports its names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

__all__ = ["BENCHMARKS", "Benchmark"]


@dataclass(frozen=True)
class Benchmark:
    """One CSV on the page: which script writes it, with which command, and how to show it."""

    csv: str  # a file name in benchmarks/results/, or a glob for several files of one kind
    script: str  # the script's path from the repository root
    settings: tuple[str, ...] = ()  # the columns that make a configuration
    metrics: tuple[str, ...] | None = None  # the columns shown besides them (None: all but provenance)
    summary: Callable[[pd.DataFrame], pd.DataFrame] | None = None  # a summary of the latest rows instead of them
    command: str = ""  # the arguments after the script, when not its defaults
    note: str = ""  # a sentence under the table


def _summary_acid(rows: pd.DataFrame) -> pd.DataFrame:
    g = rows.groupby("target_accept", sort=True)
    return pd.DataFrame(
        {
            "fits": g.size(),
            "fits with divergences": g["divergences"].apply(lambda d: int((d > 0).sum())),
            "divergences": g["divergences"].sum(),
            "max r-hat": g["max_rhat"].max(),
            "min bulk ESS": g["min_ess_bulk"].min(),
            "median steps per draw": g["steps_per_draw"].median(),
            "median seconds": g["seconds"].median(),
        }
    ).reset_index()


def _summary_drc(rows: pd.DataFrame) -> pd.DataFrame:
    if "family" in rows:  # rows of the families sweep; the 4PL-only sweep's earlier rows stay in the CSV, not here
        rows = rows[rows["family"].notna()]
    g = rows.groupby(["data set", "fit"], sort=False)

    def inside(column):
        return g[column].apply(lambda s: f"{int(s.fillna(False).astype(bool).sum())} of {len(s)}")

    return pd.DataFrame(
        {
            "response": g["likelihood"].first(),
            "curves": g.size(),
            "family (LOO)": g["family"].apply(lambda f: ", ".join(dict.fromkeys(f.astype(str)))),
            "divergences": g["divergences"].max(),
            "max r-hat": g["max_rhat"].max(),
            "min bulk ESS": g["min_ess_bulk"].min(),
            "ML EC10 inside the 94% interval": inside("ml_ec10_inside"),
            "ML EC50 inside": inside("ml_ec50_inside"),
            # a hierarchical fit's curves share one comparison (and its time); one curve per group: one each
            "seconds": g.apply(
                lambda d: d["seconds"].max() if d.name[1] == "hierarchical" else d["seconds"].sum(),
                include_groups=False,
            ),
        }
    ).reset_index()


def _summary_rhat(rows: pd.DataFrame) -> pd.DataFrame:
    g = rows.groupby(["rho", "chains", "draws"], sort=True)
    out = {"repeats": g.size(), "max r-hat": g["max_rhat"].max(), "mean count above 1.01": g["n_above_1.01"].mean()}
    for column, label in (("median_ess_bulk", "median bulk ESS"), ("q99_rhat", "99th percentile r-hat")):
        if column in rows:
            out[label] = g[column].mean()
    return pd.DataFrame(out).reset_index()


def _summary_digests(rows: pd.DataFrame) -> pd.DataFrame:
    variables = rows[~rows["variable"].astype(str).str.contains(r"\[", regex=True)]
    g = variables.groupby("file", sort=True)
    return pd.DataFrame(
        {
            "values": g["n"].sum(),
            "max r-hat": g["max_r_hat"].max(),
            "values above 1.01": g["n_above"].sum(),
            "min bulk ESS": g["min_ess_bulk"].min(),
            "min tail ESS": g["min_ess_tail"].min(),
        }
    ).reset_index()


def _summary_sbc(rows: pd.DataFrame) -> pd.DataFrame:
    from recipes_utils.approximations import rank_uniformity

    # One value per data set per test: the scalar quantities and the first element of each vector, chosen in advance
    # (the elements of one data set share its fit, so pooling them is not a test).
    chosen = [p for p in dict.fromkeys(rows["parameter"]) if "[" not in p or p.endswith("[0]")]
    pvalues = rank_uniformity(rows, chosen).pivot(index="method", columns="parameter", values="p_value")
    per_fit = rows.drop_duplicates(["method", "dataset"])
    g = per_fit.groupby("method")
    fits = pd.DataFrame(
        {
            "data sets": g.size(),
            "failed fits": g["error"].apply(lambda e: int(e.notna().sum())),
            "median seconds per fit": g["seconds"].median(),
            "max seconds per fit": g["seconds"].max(),
        }
    )
    pvalues.columns = [f"p uniform ranks, {c}" for c in pvalues.columns]
    order = list(dict.fromkeys(rows["method"]))
    return fits.join(pvalues).loc[order].reset_index()


#: Every CSV of benchmarks/results/, in the order of the page: the recipes' benchmarks, then the investigations.
BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "acid_target_accept.csv",
        "benchmarks/acid_target_accept.py",
        ("target_accept", "seed"),
        summary=_summary_acid,
        note="One row per target acceptance, over its seeds' latest fits.",
    ),
    Benchmark(
        "approximations.csv",
        "benchmarks/approximations.py",
        ("n_obs", "n_groups", "method"),
        ("n_params", "seconds", "coverage_log_ec50", "sd_ratio_median", "mean_shift_median_nuts_sd", "note"),
    ),
    Benchmark(
        "sbc_approximations.csv",
        "benchmarks/sbc_approximations.py",
        ("dataset", "method", "parameter"),
        summary=_summary_sbc,
        note="One row per method over its data sets: the chi-square test of uniform ranks per variable (its p-value).",
    ),
    Benchmark(
        "bnn_architectures.csv",
        "benchmarks/bnn_covtype.py",
        ("hidden",),
        ("seconds", "iterations", "accuracy"),
        command="--search",
    ),
    Benchmark(
        "bnn_covtype.csv",
        "benchmarks/bnn_covtype.py",
        ("hidden",),
        ("seconds", "iterations", "accuracy"),
        command="--hidden 32 32",
    ),
    Benchmark(
        "covtype_softmax_advi.csv",
        "benchmarks/covtype_softmax_advi.py",
        ("n_train", "seed"),
        ("seconds", "iterations", "test_accuracy"),
    ),
    Benchmark(
        "softmax_full_data_sds.csv",
        "benchmarks/softmax_full_data_sds.py",
        ("features",),
    ),
    Benchmark(
        "dose_response_scaling.csv",
        "benchmarks/dose_response_scaling.py",
        ("method", "n_obs", "n_groups"),
        (
            "seconds",
            "max_rhat",
            "min_ess_bulk",
            "divergences",
            "steps_per_draw",
            "coverage_log_ec50",
            "sd_ratio_log_ec50",
            "grad_ms",
            "iterations",
        ),
    ),
    Benchmark(
        "minibatch_advi.csv",
        "benchmarks/minibatch_advi.py",
        ("fit", "n_obs", "n_groups"),
        (
            "batch_size",
            "steps",
            "seconds",
            "coverage_log_ec50",
            "sd_ratio_to_full_batch",
            "mean_shift_from_full_batch_in_sd",
            "error_from_truth_in_sd",
        ),
    ),
    Benchmark(
        "hierarchical_nuts_basis.csv",
        "benchmarks/hierarchical_nuts_basis.py",
        ("n_obs", "n_groups", "parameterization", "chains", "tune", "draws", "seed"),
        (
            "seconds",
            "steps_per_draw",
            "divergences",
            "max_rhat",
            "n_above_1_01",
            "min_ess_bulk",
            "min_ess_tail",
            "coverage_log_ec50",
            "peak_rss_gb",
        ),
    ),
    Benchmark(
        "drc_sweep.csv",
        "benchmarks/drc_sweep.py",
        ("data set", "fit", "curve"),
        summary=_summary_drc,
        note="One row per data set and fit, over its curves: the curve family ranked first by PSIS-LOO among the "
        "candidates, that fit's diagnostics, and whether drc's maximum-likelihood EC10 and EC50 lie inside its 94% "
        "intervals.",
    ),
    Benchmark(
        "ecx_coverage.csv",
        "benchmarks/ecx_coverage.py",
        ("curve", "likelihood", "kind"),
        (
            "datasets",
            "coverage_ec10",
            "coverage_ec10_low",
            "coverage_ec10_high",
            "coverage_ec50",
            "coverage_ec50_low",
            "coverage_ec50_high",
            "fits_with_divergences",
            "share_rhat_above_1_01",
            "median_seconds_per_fit",
        ),
        note="Coverage of the true EC10 and EC50 by 94% central intervals, with its 95% Clopper-Pearson interval; the "
        "target is [0.90, 0.98].",
    ),
    Benchmark(
        "binomial_scale.csv",
        "benchmarks/binomial_scale.py",
        ("curves", "chains", "tune", "draws", "seed"),
        (
            "cells",
            "fit_seconds",
            "compile_seconds",
            "steps_per_draw",
            "divergences",
            "max_rhat",
            "n_rhat_above_1_01",
            "min_ess_bulk",
            "min_ess_tail",
            "coverage_log_ec50",
            "coverage_log_ec10",
            "peak_rss_gb",
            "goal_met",
        ),
        note="Goal: r-hat <= 1.01 for every stored quantity, 0 divergences and a bulk and tail ESS of 400 in under 5 "
        "minutes (fit_seconds, compilation included) on 2 cores. With each cell's log C(N, Y) computed at every "
        "gradient (commit 78916b8, before it was precomputed), tune 1,000 and draws 1,000 took 677 s.",
    ),
    Benchmark(
        "gp_vs_sklearn.csv",
        "benchmarks/gp_vs_sklearn.py",
        ("n_train",),
        ("numpy_s", "sklearn_s", "ratio", "max_abs_diff"),
    ),
    Benchmark(
        "nutpie_backends.csv",
        "benchmarks/nutpie_backends.py",
        ("model", "backend"),
        ("n_dim", "compile_s", "sample_s", "gradient_us", "total_leapfrog_steps"),
    ),
    Benchmark(
        "plate_gradient.csv",
        "benchmarks/plate_gradient.py",
        ("likelihood", "n_obs", "n_groups", "n_plates", "implementation"),
        ("n_dim", "compile_s", "seconds_per_call", "ratio_to_float64_floor", "ratio_to_points_float64_floor"),
    ),
    Benchmark(
        "plate_nuts.csv",
        "benchmarks/plate_nuts.py",
        (
            "parameterization",
            "mass_matrix",
            "backend",
            "curve_at",
            "dtype",
            "maxdepth",
            "target_accept",
            "likelihood",
            "n_obs",
            "n_groups",
            "n_plates",
            "seed",
            "chains",
            "tune",
            "draws",
            "store",
        ),
        (
            "seconds",
            "steps_per_draw",
            "divergences",
            "max_rhat",
            "ess_per_1000_gradients",
            "coverage_log_ec50",
            "peak_rss_gb",
        ),
    ),
    Benchmark(
        "plate_nuts_rhat_digest_*.csv",
        "benchmarks/plate_nuts.py",
        ("file", "variable"),
        summary=_summary_digests,
        command="--summary-dir benchmarks/results (with the run's settings)",
        note="One row per digest file (per variable, then every r-hat above 1.01), over its variables.",
    ),
    Benchmark(
        "rhat_many_parameters.csv",
        "benchmarks/rhat_many_parameters.py",
        ("rho", "chains", "draws", "repeat"),
        summary=_summary_rhat,
        note="One row per autocorrelation and run length, over the repeats.",
    ),
    Benchmark(
        "rhat_many_parameters_12510.csv",
        "benchmarks/rhat_many_parameters.py",
        ("rho", "chains", "draws", "repeat"),
        summary=_summary_rhat,
        command="--params 12510 --out benchmarks/results/rhat_many_parameters_12510.csv",
        note="One row per autocorrelation and run length, over the repeats.",
    ),
    # Investigations: upstream problems (benchmarks/investigations/README.md)
    Benchmark(
        "bfgs_hess_inv_last_bits.csv",
        "benchmarks/investigations/bfgs_hess_inv_last_bits.py",
        ("dataset",),
        summary=lambda rows: (
            rows.drop(columns=["dataset"])
            .median(numeric_only=True)
            .to_frame("median over data sets")
            .T.reset_index(drop=True)
        ),
        note="Medians over the data sets of the latest run.",
    ),
    Benchmark(
        "compile_cache.csv",
        "benchmarks/investigations/compile_cache.py",
        ("part", "graph", "process"),
        ("logp_key", "compile_s", "callbacks_from_cache", "reference_0", "reference_1", "reference_2"),
    ),
    Benchmark(
        "nutpie_callback_cache.csv",
        "benchmarks/investigations/nutpie_callback_cache.py",
        ("model", "run"),
        ("n_dim", "compile_s", "callbacks_from_cache", "sample_s", "checksum"),
    ),
    Benchmark(
        "log1p_cost.csv",
        "benchmarks/investigations/log1p_cost.py",
        ("function", "n"),
        ("ms_per_pass", "ns_per_value"),
    ),
    Benchmark(
        "malloc_page_faults.csv",
        "benchmarks/investigations/malloc_page_faults.py",
        ("setting", "likelihood", "n_obs", "n_groups", "n_plates", "tune", "draws"),
        ("gradients", "sampling_s", "ms_per_gradient_per_core", "faults_per_gradient"),
    ),
)
