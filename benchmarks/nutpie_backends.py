"""nutpie with PyTensor's Numba backend (cold and warm disk cache) against its JAX backend, on the recipes' models.

    .venv/bin/python benchmarks/nutpie_backends.py [--models template,hierarchical_3k,hierarchical_400k,softmax_2k]

Each (model, backend, cache) runs in a fresh Python process, as a notebook kernel would: ``numba-cold`` compiles into an
empty PyTensor compile directory, ``numba-warm`` compiles again into the directory the cold run filled, ``jax``
compiles with nutpie's ``backend="jax"`` (JAX's own compile cache off). Reports the seconds to compile
(``nutpie.compile_pymc_model``), the seconds to sample 4 chains x (500 + 500) on the machine's cores (the softmax
regression with the low-rank mass matrix its recipe uses), leapfrog steps, and the cost of one log density + gradient (median of timed calls through nutpie's compiled function, in µs).
Writes its rows into benchmarks/results/nutpie_backends.csv, replacing the rows of the models it ran and keeping the
others (each row has its date).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from recipes_utils.measurements import stamp

OUT = Path(__file__).resolve().parent / "results" / "nutpie_backends.csv"


def build(name):
    import numpy as np
    import pymc as pm

    from recipes_utils.data import load_drc, simulate_dose_response
    from recipes_utils.dose_response import SIMULATION_PRIORS, hierarchical_four_pl
    from recipes_utils.models import four_pl, softmax_regression

    if name == "template":
        data = load_drc("ryegrass")
        with np.errstate(divide="ignore"):
            lc = np.log(data["conc"].to_numpy())
        with pm.Model() as model:
            top = pm.Normal("top", 8, 4)
            bottom = pm.HalfNormal("bottom", 2)
            log_ec50 = pm.Normal("log_ec50", np.log(5), 1.5)
            hill = pm.LogNormal("hill", 0.5, 0.75)
            sigma = pm.HalfNormal("sigma", 2)
            pm.Normal("y", four_pl(lc, bottom, top, log_ec50, hill), sigma, observed=data["rootl"].to_numpy())
        return model
    if name.startswith("hierarchical"):
        n_obs, n_groups = {"hierarchical_3k": (3_000, 30), "hierarchical_400k": (400_000, 3_000)}[name]
        sim = simulate_dose_response(n_groups, n_obs, seed=1)
        return hierarchical_four_pl(sim.data, priors=SIMULATION_PRIORS, aggregate=True)
    if name == "softmax_2k":
        from recipes_utils.covtype import prepare_covtype

        split = prepare_covtype(seed=1999)
        X, y = split.subsample_train(2000, seed=1999)
        return softmax_regression(X, y, feature_names=split.feature_names, class_names=split.class_names)
    raise ValueError(name)


def one(name, backend):
    """Run in a child process: compile, time the gradient, sample; print a JSON row."""
    import ctypes

    import numpy as np
    import nutpie

    model = build(name)
    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model, backend="numba" if backend.startswith("numba") else "jax")
    compile_s = time.perf_counter() - start
    n = compiled.n_dim
    x = np.zeros(n)
    if backend.startswith("numba"):
        fn = compiled.compiled_logp_func.ctypes
        g, lp = np.zeros(n), np.zeros(())
        ptr = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

        def call():
            fn(n, ptr(x), ptr(g), ptr(lp), compiled.user_data.ctypes.data)

    else:
        logp_fn = compiled._make_logp_func()

        def call():
            logp_fn(x, **compiled._shared_data)

    call()
    times = []
    for _ in range(200 if "400k" not in name else 20):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    start = time.perf_counter()
    idata = nutpie.sample(
        compiled,
        chains=4,
        tune=500,
        draws=500,
        seed=1,
        progress_bar=False,
        low_rank_modified_mass_matrix=name.startswith("softmax"),
    )
    sample_s = time.perf_counter() - start
    steps = float(idata.sample_stats.n_steps.sum() + idata.warmup_sample_stats.n_steps.sum())
    print(
        "ROW "
        + json.dumps(
            {
                "model": name,
                "backend": backend,
                "n_dim": int(n),
                "compile_s": compile_s,
                "sample_s": sample_s,
                "gradient_us": 1e6 * float(np.median(times)),
                "total_leapfrog_steps": steps,
            }
        )
    )


def merge_rows(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """``old``'s rows of the models not in ``new``, then ``new``'s."""
    if old is None:
        return new.reset_index(drop=True)
    return pd.concat([old[~old["model"].isin(new["model"])], new], ignore_index=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="template,hierarchical_3k,softmax_2k,hierarchical_400k")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        one(*args.child)
        return
    rows = []
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory() as compiledir:
            for backend in ("numba-cold", "numba-warm", "jax"):
                env = dict(
                    os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir},numba__cache=True", JAX_ENABLE_X64="1"
                )
                out = subprocess.run(
                    [sys.executable, __file__, "--child", name, backend],
                    check=False,
                    env=env,
                    capture_output=True,
                    text=True,
                )
                line = [ln for ln in out.stdout.splitlines() if ln.startswith("ROW ")]
                if out.returncode or not line:
                    print(out.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{name} / {backend} failed")
                row = json.loads(line[0][4:])
                rows.append(row)
                print(
                    f"{name:18} {backend:11} compile {row['compile_s']:6.1f} s  sample {row['sample_s']:6.1f} s  "
                    f"gradient {row['gradient_us']:9.1f} us",
                    flush=True,
                )
    df = pd.DataFrame(rows)
    df = stamp(df)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    merge_rows(pd.read_csv(args.out) if args.out.exists() else None, df).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
