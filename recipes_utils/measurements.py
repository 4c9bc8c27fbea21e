"""Benchmark measurements: how a benchmark records its rows, and the page generated from them.

A benchmark (``benchmarks/*.py``, ``benchmarks/investigations/*.py``) writes its rows with :func:`append_rows`. It
stamps each row with its provenance (:data:`PROVENANCE`: the date, the machine, the commit of the code) and appends
the rows to the benchmark's CSV in ``benchmarks/results/``, keeping the earlier runs.

``python -m recipes_utils.measurements`` (``make benchmarks-page``) writes ``docs/benchmarks.md`` from those CSVs
(:func:`render_page`). Each benchmark gets a heading (its script's docstring, first line), the command that produces
it, and a table of the latest row per configuration (:data:`BENCHMARKS` names each CSV's settings columns), with its
provenance. A CSV of per-item rows (ranks, curves, r-hat digests) gets a summary instead. ``tests/test_measurements.py``
fails when the page differs from what the CSVs give, so prose can cite a figure and link the page.

The list of benchmarks, :data:`BENCHMARKS` with its summaries, is in :mod:`recipes_utils.benchmark_registry` (a new
CSV gets its entry there); this module re-exports it.
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
from pathlib import Path

import pandas as pd

# The benchmarks on the page, re-exported: every name importable from here before they had their own module still is
from recipes_utils.benchmark_registry import (  # noqa: F401
    BENCHMARKS,
    Benchmark,
    _summary_acid,
    _summary_digests,
    _summary_drc,
    _summary_rhat,
    _summary_sbc,
)
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
    git("update-index", "-q", "--refresh")  # a file touched but unchanged is not a change (git's stat cache)
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
