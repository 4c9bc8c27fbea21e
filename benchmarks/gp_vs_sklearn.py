"""Fit-and-predict time of recipes_utils.gp against scikit-learn, same data, fixed hyperparameters.

    .venv/bin/python benchmarks/gp_vs_sklearn.py [--sizes 500 2000 5000] [--repeats 3]

3-D inputs, a squared-exponential ARD kernel, 1,000 prediction points with standard deviations. Both sides
get the same hyperparameters (scikit-learn with ``optimizer=None``), so the timing is the linear algebra:
kernel matrix, Cholesky, solves. Reports the median of ``--repeats`` runs per size and the ratio
numpy / scikit-learn (below 1: ours is faster), checks that the two agree, and writes
benchmarks/results/gp_vs_sklearn.csv. Goal (issue 4): ratio <= 1 at n = 5,000.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel

from recipes_utils import gp
from recipes_utils.measurements import append_rows

OUT = Path(__file__).resolve().parent / "results" / "gp_vs_sklearn.csv"


def median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 5000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    variance, ls, noise_sd = 1.0, np.array([0.8, 1.2, 2.0]), 0.1
    kernel = gp.Kernel("rbf", variance, ls)
    rows = []
    for n in args.sizes:
        X = rng.uniform(-3, 3, size=(n, 3))
        y = np.sin(X).sum(axis=1) + noise_sd * rng.standard_normal(n)
        X_new = rng.uniform(-3, 3, size=(args.n_test, 3))

        def ours(X=X, y=y, X_new=X_new):
            post = gp.posterior(X, y, X_new, kernel, noise_sd)
            return post.mean, post.sd

        def sklearn(X=X, y=y, X_new=X_new):
            k = ConstantKernel(variance, "fixed") * RBF(ls, "fixed")
            model = GaussianProcessRegressor(k, alpha=noise_sd**2, optimizer=None, copy_X_train=False).fit(X, y)
            return model.predict(X_new, return_std=True)

        t_np, (m1, s1) = median_time(ours, args.repeats)
        t_sk, (m2, s2) = median_time(sklearn, args.repeats)
        agree = float(max(np.abs(m1 - m2).max(), np.abs(s1 - s2).max()))
        rows.append({"n_train": n, "numpy_s": t_np, "sklearn_s": t_sk, "ratio": t_np / t_sk, "max_abs_diff": agree})
        print(
            f"n={n:>5}: numpy {t_np:.3f} s, scikit-learn {t_sk:.3f} s, ratio {t_np / t_sk:.2f}, max |diff| {agree:.1e}"
        )

    df = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    append_rows(df, args.out)
    largest = df.iloc[-1]
    verdict = "met" if largest["ratio"] <= 1 else f"NOT met ({largest['ratio']:.2f}x scikit-learn's time)"
    print(f"goal (no slower than scikit-learn at n={int(largest['n_train'])}): {verdict}")
    print(f"wrote {args.out.relative_to(Path.cwd()) if args.out.is_relative_to(Path.cwd()) else args.out}")


if __name__ == "__main__":
    main()
