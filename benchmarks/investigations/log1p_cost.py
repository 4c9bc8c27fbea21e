"""What one ``log1p`` costs in Numba on this CPU, against ``log``, a division and a product.

    .venv/bin/python benchmarks/investigations/log1p_cost.py [--n 400000] [--calls 200] [--out CSV]

PyMC's ``StudentT`` density takes ``log1p(r**2 / (nu * sigma**2))`` per row; PyTensor's Numba backend compiles that to
a call of the C library's ``log1p`` per element (no vectorised ``log1p`` without Intel's SVML, which PyPI's llvmlite
lacks). This times Numba loops that sum each function over ``--n`` values in [0, 5) (the median of ``--calls``
calls): the reason :func:`recipes_utils.dose_response.student_t_logp` writes the same density with a ``log``
(``benchmarks/plate_gradient.py`` times the whole gradient both ways). Writes benchmarks/results/log1p_cost.csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from recipes_utils.measurements import append_rows

OUT = Path(__file__).resolve().parents[1] / "results" / "log1p_cost.csv"


@numba.njit(fastmath=True)
def sum_log1p(x):
    s = 0.0
    for v in x:
        s += np.log1p(v)
    return s


@numba.njit(fastmath=True)
def sum_log(x):
    s = 0.0
    for v in x:
        s += np.log(1.0 + v)
    return s


@numba.njit(fastmath=True)
def sum_reciprocal(x):
    s = 0.0
    for v in x:
        s += 1.0 / (1.0 + v)
    return s


@numba.njit(fastmath=True)
def sum_square(x):
    s = 0.0
    for v in x:
        s += v * v
    return s


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    x = np.random.default_rng(0).uniform(0.0, 5.0, args.n)
    rows = []
    for name, fn in (("log1p", sum_log1p), ("log", sum_log), ("1/(1+x)", sum_reciprocal), ("x*x", sum_square)):
        fn(x)  # compile
        times = []
        for _ in range(args.calls):
            start = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - start)
        ms = 1000 * float(np.median(times))
        rows.append({"function": name, "n": args.n, "ms_per_pass": ms, "ns_per_value": 1e6 * ms / args.n})
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    append_rows(table, args.out)
    print(table.round(3).to_string(index=False))
    return table


if __name__ == "__main__":
    main()
