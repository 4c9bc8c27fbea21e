"""Check that recipes are reproducible: run each twice, compare the headline figures.

``python -m recipes_utils.reproduce [--scale smoke|full] [NOTEBOOK ...]`` (``make reproducible``)

Each notebook (all of ``notebooks/*.ipynb`` by default) is executed twice in fresh kernels, as ``make run``
does, and the headline figures it records (:mod:`recipes_utils.book`) are compared, wall times excepted.
Every recipe fixes its seeds, so the two runs must agree exactly; the exit status is 1 if any figure differs
or a run fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from recipes_utils import config
from recipes_utils.runner import REPO, execute_notebook


def compare(first: list[dict], second: list[dict]) -> list[str]:
    """Differences between two runs' headline records (timings skipped), as readable lines; empty if none."""
    a = {h["label"]: h["value"] for h in first if not h.get("timing")}
    b = {h["label"]: h["value"] for h in second if not h.get("timing")}
    problems = [
        f"{label!r} only in the {which} run"
        for which, x, y in (("first", a, b), ("second", b, a))
        for label in x
        if label not in y
    ]
    problems += [f"{label!r}: {a[label]!r} then {b[label]!r}" for label in a if label in b and a[label] != b[label]]
    if not a:
        problems.append("no headline figures to compare")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--scale", default="smoke", help="full or smoke (default: smoke)")
    args = parser.parse_args(argv)
    os.environ[config.ENV_VAR] = args.scale
    scale = config.get_scale()
    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in notebooks:
            runs = [execute_notebook(Path(path).resolve(), Path(tmp) / f"run{i}", scale) for i in (1, 2)]
            if not all(r.ok for r in runs):
                failures += 1
                print(f"{Path(path).name}: FAILED to run: {[r.status for r in runs]}")
                continue
            problems = compare(runs[0].headlines, runs[1].headlines)
            n = sum(not h.get("timing") for h in runs[0].headlines)
            if problems:
                failures += 1
                print(f"{Path(path).name}: NOT reproducible:\n  " + "\n  ".join(problems))
            else:
                print(f"{Path(path).name}: {n} headline figure(s) identical in two runs")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
