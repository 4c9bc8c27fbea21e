"""What caching nutpie's C callbacks saves: nutpie.compile_pymc_model against recipes_utils.nutpie_cache.

    .venv/bin/python benchmarks/investigations/nutpie_callback_cache.py [--models template,hierarchical_3k]

For each model, in one new PyTensor compile directory, four fresh Python processes in a row, as notebook kernels
would be:

1. ``nutpie, empty cache``: ``nutpie.compile_pymc_model`` into the empty directory (everything compiled);
2. ``nutpie, warm cache``: the same again (PyTensor's part loaded from its cache, nutpie's callbacks compiled again:
   what every NUTS fit paid before);
3. ``cached callbacks, first``: ``recipes_utils.nutpie_cache.compile_pymc_model_numba`` (the callbacks compiled once
   more, and stored);
4. ``cached callbacks, warm``: the same again (everything loaded).

Each then samples 4 chains x (500 + 500) with seed 1 and reports the seconds to compile, the callbacks loaded from
the cache, the seconds to sample and a checksum of the draws (the sum of the first variable's), which shows whether
two runs drew the same numbers. The models are ``benchmarks/nutpie_backends.py``'s. Writes
benchmarks/results/nutpie_callback_cache.csv.
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

from recipes_utils.measurements import append_rows

OUT = Path(__file__).resolve().parents[1] / "results" / "nutpie_callback_cache.csv"
RUNS = ("nutpie, empty cache", "nutpie, warm cache", "cached callbacks, first", "cached callbacks, warm")


def one(name, run):
    """Run in a child process: compile, sample; print a JSON row."""
    import nutpie

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for nutpie_backends
    from nutpie_backends import build

    from recipes_utils.nutpie_cache import callback_cache_hits, compile_pymc_model_numba

    model = build(name)
    start = time.perf_counter()
    if run.startswith("nutpie"):
        compiled, hits = nutpie.compile_pymc_model(model, backend="numba"), 0
    else:
        compiled = compile_pymc_model_numba(model)
        hits = callback_cache_hits(compiled)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    idata = nutpie.sample(compiled, chains=4, tune=500, draws=500, seed=1, progress_bar=False)
    sample_s = time.perf_counter() - start
    first = next(iter(idata.posterior.data_vars))
    print("ROW " + json.dumps({
        "model": name, "run": run, "n_dim": int(compiled.n_dim), "compile_s": compile_s, "callbacks_from_cache": hits,
        "sample_s": sample_s, "checksum": repr(float(idata.posterior[first].sum())),
    }))  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="template,hierarchical_3k")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        one(*args.child)
        return
    rows = []
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory() as compiledir:
            for run in RUNS:
                env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir}", RECIPES_PROGRESS="0")
                out = subprocess.run(
                    [sys.executable, __file__, "--child", name, run], env=env, capture_output=True, text=True,
                    check=False,
                )  # fmt: skip
                line = [ln for ln in out.stdout.splitlines() if ln.startswith("ROW ")]
                if out.returncode or not line:
                    print(out.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{name} / {run} failed")
                rows.append(json.loads(line[0][4:]))
                r = rows[-1]
                print(f"{name:16} {run:24} compile {r['compile_s']:6.1f} s ({r['callbacks_from_cache']} from cache)  "
                      f"sample {r['sample_s']:5.1f} s  checksum {r['checksum']}", flush=True)  # fmt: skip
    df = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    append_rows(df, args.out)


if __name__ == "__main__":
    main()
