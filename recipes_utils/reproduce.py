"""Check that recipes are reproducible: run each twice, compare the headline figures within their tolerances.

``python -m recipes_utils.reproduce [--scale smoke|full] [NOTEBOOK ...]`` (``make reproducible``)

Each notebook (all of ``notebooks/*.ipynb`` by default) is executed twice in fresh kernels, as ``make run``
does: the first time with an empty PyTensor compile directory (everything compiled afresh), the second time with
the directory the first run filled (everything loaded from PyTensor's Numba disk cache), the two ways a reader's
runs happen. The headline figures each run records (:mod:`recipes_utils.book`) are then compared: a number may
drift by its tolerance (a multiple of its Monte Carlo standard error, or the band the recipe states), a string
must match exactly, wall times are skipped. A fresh and a cached compile can differ in the last bits of a
floating-point result (see the README), so draws from the same seed agree to Monte Carlo error, not bit for bit.
The exit status is 1 if any figure drifts outside its tolerance or a run fails; each drift is named with its two
values and the band.
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
    """Differences between two runs' headline records beyond their tolerances (timings skipped), as readable lines;
    empty if none."""
    a = {h["label"]: h for h in first if not h.get("timing")}
    b = {h["label"]: h for h in second if not h.get("timing")}
    problems = [
        f"{label!r} only in the {which} run"
        for which, x, y in (("first", a, b), ("second", b, a))
        for label in x
        if label not in y
    ]
    for label in (label for label in a if label in b):
        va, vb = a[label]["value"], b[label]["value"]
        if isinstance(va, str) or isinstance(vb, str):
            if va != vb:
                problems.append(f"{label!r}: {va!r} then {vb!r} (strings must match exactly)")
            continue
        band = max(float(a[label].get("tolerance", 0.0)), float(b[label].get("tolerance", 0.0)))
        drift = abs(float(va) - float(vb))
        if drift > band:
            problems.append(f"{label!r}: {va!r} then {vb!r}, a drift of {drift:.3g} outside the band ±{band:.3g}")
    if not a:
        problems.append("no headline figures to compare")
    return problems


def run_twice(path: Path, scale: str, workdir: Path) -> list:
    """Execute a notebook twice: with an empty PyTensor compile directory, then with the one that run filled."""
    compiledir = workdir / "pytensor"
    saved = os.environ.get("PYTENSOR_FLAGS")
    flags = [f for f in (saved or "").split(",") if f and not f.startswith(("base_compiledir=", "compiledir="))]
    os.environ["PYTENSOR_FLAGS"] = ",".join([*flags, f"base_compiledir={compiledir}"])
    try:
        return [execute_notebook(Path(path).resolve(), workdir / f"run{i}", scale) for i in (1, 2)]
    finally:
        if saved is None:
            os.environ.pop("PYTENSOR_FLAGS", None)
        else:
            os.environ["PYTENSOR_FLAGS"] = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--scale", default="smoke", help="full or smoke (default: smoke)")
    args = parser.parse_args(argv)
    os.environ[config.ENV_VAR] = args.scale
    scale = config.get_scale()
    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    failures = 0
    for path in notebooks:
        with tempfile.TemporaryDirectory() as tmp:
            runs = run_twice(Path(path), scale, Path(tmp))
        if not all(r.ok for r in runs):
            failures += 1
            print(f"{Path(path).name}: FAILED to run: {[r.status for r in runs]}")
            continue
        problems = compare(runs[0].headlines, runs[1].headlines)
        n = sum(not h.get("timing") for h in runs[0].headlines)
        if problems:
            failures += 1
            print(f"{Path(path).name}: NOT reproducible (fresh compile, then cached):\n  " + "\n  ".join(problems))
        else:
            print(
                f"{Path(path).name}: {n} headline figure(s) agree within their tolerances (fresh compile, then cached)"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
