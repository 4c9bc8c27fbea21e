"""Benchmark measurements: how a benchmark records its rows, and the page generated from them.

A benchmark (``benchmarks/*.py``, ``benchmarks/investigations/*.py``) writes its rows with :func:`append_rows`. It
stamps each row with its provenance (:data:`PROVENANCE`: the date, the machine, the commit of the code) and appends
the rows to the benchmark's CSV in ``benchmarks/results/``, keeping the earlier runs.

``python -m recipes_utils.measurements`` (``make benchmarks-page``) writes ``docs/benchmarks.md`` from those CSVs
(:func:`render_page`). Each benchmark gets a heading (its script's docstring, first line), the command that produces
it, and a table of the latest row per configuration (:data:`BENCHMARKS` names each CSV's settings columns), with its
provenance. A CSV of per-item rows (ranks, curves, r-hat digests) gets a summary instead. ``tests/test_measurements.py``
fails when the page differs from what the CSVs give, so prose can cite a figure and link the page.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import math
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recipes_utils.config import REPO

RESULTS = REPO / "benchmarks" / "results"
PAGE = REPO / "docs" / "benchmarks.md"

#: The columns every row carries: when, where, and from which code it was measured.
PROVENANCE = ("date", "machine", "commit")
NOT_RECORDED = "—"


def machine() -> str:
    """``"x86_64, 2 cores"``: the processor architecture and the number of cores."""
    return f"{platform.machine()}, {os.cpu_count()} cores"


def commit(repo: Path = REPO) -> str:
    """The checked-out commit (short hash), with ``-dirty`` when tracked files differ from it; ``"unknown"`` outside a
    git repository."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)

    try:
        head = git("rev-parse", "--short=7", "HEAD")
    except OSError:  # no git
        return "unknown"
    if head.returncode:
        return "unknown"
    dirty = git("diff-index", "--quiet", "HEAD", "--").returncode == 1
    return head.stdout.strip() + ("-dirty" if dirty else "")


def stamp(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with today's date, this machine and the current commit in the :data:`PROVENANCE` columns."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    out = table.copy()
    out["date"] = datetime.date.today().isoformat()
    out["machine"] = machine()
    out["commit"] = commit()
    return out


def read_rows(path: Path) -> pd.DataFrame | None:
    """The rows stored in the CSV at ``path``, or None when there is none yet (read once before a run that saves as it
    goes, and pass as ``previous`` to :func:`append_rows`)."""
    path = Path(path)
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.exists() else None


def append_rows(table: pd.DataFrame, path: Path, *, previous: pd.DataFrame | None | str = "read") -> pd.DataFrame:
    """Stamp ``table`` (:func:`stamp`) and write it after the rows already in the CSV at ``path``; return all rows.

    ``previous``: the rows to keep before the new ones. By default they are read from ``path``; a run that saves its
    rows after every fit reads them once at its start (:func:`read_rows`) and passes them, so that each save replaces
    the run's own earlier save. Columns that only some rows have are left empty in the others.
    """
    path = Path(path)
    if isinstance(previous, str):
        if previous != "read":
            raise ValueError(f"previous must be a DataFrame, None or 'read', got {previous!r}")
        previous = read_rows(path)
    new = stamp(table)
    rows = new if previous is None or previous.empty else pd.concat([previous, new], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False)
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# The page


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
        ("curve", "likelihood"),
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
        note="Goal: r-hat <= 1.01 for every stored quantity and 0 divergences in under 5 minutes (fit_seconds, "
        "compilation included) on 2 cores.",
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


def script_title(script: Path) -> str:
    """The first line of a script's docstring."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")))
    if not doc:
        raise ValueError(f"{script} has no docstring: its first line is the page's heading for it")
    return doc.strip().splitlines()[0].replace("``", "`")


def read_benchmark(entry: Benchmark, results: Path) -> pd.DataFrame:
    """The rows of an entry's CSV (of all its files, with a ``file`` column, for a glob)."""
    if "*" in entry.csv:
        paths = sorted(results.glob(entry.csv))
        if not paths:
            raise FileNotFoundError(f"no file in {results} matches {entry.csv}")
        frames = []
        for path in paths:
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
            frame = (
                frame.rename(columns={frame.columns[0]: "variable"})
                if frame.columns[0].startswith("Unnamed")
                else frame
            )
            frames.append(frame.assign(file=path.name))
        return pd.concat(frames, ignore_index=True)
    path = results / entry.csv
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run {entry.script}, or remove its entry from BENCHMARKS")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def latest_rows(rows: pd.DataFrame, settings: tuple[str, ...], name: str = "") -> pd.DataFrame:
    """The latest row of each configuration (the values of ``settings``), in the order configurations first appear.

    Rows are ordered by date when there is a date column (a run's rows share one), else by their place in the file; a
    later row of the same configuration replaces an earlier one.
    """
    missing = [c for c in settings if c not in rows.columns]
    if missing:
        raise KeyError(f"{name or 'the CSV'} has no column {', '.join(map(repr, missing))} (a settings column)")
    if not settings:
        return rows
    rows = rows.reset_index(drop=True)
    group = rows.groupby(list(settings), sort=False, dropna=False).ngroup()
    date = rows["date"].fillna("").astype(str) if "date" in rows else pd.Series("", index=rows.index)
    ordered = rows.assign(_group=group, _date=date, _pos=rows.index).sort_values(["_date", "_pos"], kind="stable")
    latest = ordered.drop_duplicates("_group", keep="last").sort_values("_group")
    return latest.drop(columns=["_group", "_date", "_pos"]).reset_index(drop=True)


def format_value(value, column: str = "") -> str:
    """A table cell: thousands separated, 4 significant digits (r-hats to 4 decimals), long text cut."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if "checksum" in column:  # compared digit for digit
        return repr(value)
    if isinstance(value, int | float) and "seed" in column:
        return str(int(value))
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if "rhat" in column or "r_hat" in column or "r-hat" in column:
            return f"{value:.4f}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    text = " ".join(str(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def markdown_table(table: pd.DataFrame) -> str:
    def cell(value, column) -> str:
        if hasattr(value, "item") and not isinstance(value, str):
            value = value.item()
        return format_value(value, column).replace("|", "\\|")

    header = "| " + " | ".join(str(c).replace("_", " ") for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [header, rule]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v, c) for v, c in zip(row, table.columns)) + " |")
    return "\n".join(lines)


def _provenance(rows: pd.DataFrame) -> tuple[str, list[str]]:
    """A sentence for the provenance the rows share, and the provenance columns that differ between rows."""
    pieces, varying = [], []
    for column in PROVENANCE:
        values = rows[column].fillna(NOT_RECORDED).astype(str).unique() if column in rows else [NOT_RECORDED]
        if len(values) > 1:
            varying.append(column)
        elif values[0] == NOT_RECORDED:
            pieces.append(f"{column} not recorded")
        else:
            pieces.append({"date": "measured {}", "machine": "{}", "commit": "commit {}"}[column].format(values[0]))
    sentence = "Provenance" + (" of every row" if len(rows) > 1 else "") + ": " + "; ".join(pieces)
    return sentence + ("; the rest in the table." if varying else "."), varying


def render_benchmark(entry: Benchmark, results: Path, repo: Path) -> str:
    rows = read_benchmark(entry, results)
    latest = latest_rows(rows, entry.settings, entry.csv)
    lines = [f"#### `{entry.csv}`", ""]
    command = f"`.venv/bin/python {entry.script}{' ' + entry.command if entry.command else ''}`"
    lines.append(
        f"{command} ([source](../{entry.script})); {len(rows):,} row{'s' if len(rows) != 1 else ''} in the CSV."
    )
    lines.append("")
    if entry.summary is not None:
        table = entry.summary(latest)
        sentence, varying = _provenance(latest)
    else:
        constant = [c for c in entry.settings if latest[c].nunique(dropna=False) == 1 and len(latest) > 1]
        shown = [c for c in entry.settings if c not in constant]
        metrics = entry.metrics
        if metrics is None:
            metrics = tuple(c for c in latest.columns if c not in entry.settings and c not in PROVENANCE)
        missing = [c for c in metrics if c not in latest.columns]
        if missing:
            raise KeyError(f"{entry.csv} has no column {', '.join(map(repr, missing))} (a metric on the page)")
        sentence, varying = _provenance(latest)
        table = latest[[*shown, *metrics, *varying]]
        if constant:
            fixed = ", ".join(f"{c.replace('_', ' ')} {format_value(_item(latest[c].iloc[0]), c)}" for c in constant)
            lines += [f"Every row: {fixed}.", ""]
    lines.append(markdown_table(table))
    notes = " ".join(s for s in (entry.note, sentence) if s)
    if notes:
        lines += ["", notes]
    return "\n".join(lines)


def _item(value):
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


def render_page(results: Path = RESULTS, repo: Path = REPO) -> str:
    """The text of ``docs/benchmarks.md`` from the CSVs in ``results``.

    Raises
    ------
    ValueError
        A CSV in ``results`` that no entry of :data:`BENCHMARKS` covers, or a script without a docstring.
    KeyError
        A settings or metric column that the CSV lacks.
    """
    covered = set()
    for entry in BENCHMARKS:
        covered |= {p.name for p in results.glob(entry.csv)}
    stray = sorted(p.name for p in results.glob("*.csv") if p.name not in covered)
    if stray:
        raise ValueError(f"no entry in recipes_utils.measurements.BENCHMARKS for {', '.join(stray)}: add one")
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated from benchmarks/results/*.csv by `make benchmarks-page`; do not edit by hand. -->",
        "",
        "Every measurement behind a figure in the README, the notebooks and the engineering notes. Each benchmark",
        "appends its rows, with the date, the machine and the commit, to a CSV in `benchmarks/results/`; this page shows",
        "the latest row of each configuration. Rows measured before the commit was recorded show it as not recorded.",
        "Times are wall-clock seconds unless a column says otherwise.",
        "",
        "- [The recipes' benchmarks](#the-recipes-benchmarks)",
        "- [Investigations of upstream problems](#investigations-of-upstream-problems)",
    ]
    current_script, in_investigations = None, False
    lines += ["", "## The recipes' benchmarks"]
    for entry in BENCHMARKS:
        if entry.script.startswith("benchmarks/investigations/") and not in_investigations:
            in_investigations = True
            lines += [
                "",
                "## Investigations of upstream problems",
                "",
                "Reproducers and draft reports: [benchmarks/investigations/](../benchmarks/investigations/README.md).",
            ]
        if entry.script != current_script:
            current_script = entry.script
            lines += ["", f"### {script_title(repo / entry.script)}"]
        lines += ["", render_benchmark(entry, results, repo)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/benchmarks.md from benchmarks/results/*.csv.")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/benchmarks.md is not current")
    args = parser.parse_args(argv)
    text = render_page()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE.relative_to(REPO)} is out of date: run make benchmarks-page", file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
