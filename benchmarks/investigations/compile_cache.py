"""Why PyTensor's Numba disk cache missed the per-measurement and Student-t models, and what the fixes save.

    .venv/bin/python benchmarks/investigations/compile_cache.py

1. The mechanism, in one process, pure PyTensor. ``broadcast_shape`` of three vectors of unknown length builds
   ``Assert(len_ref, all(len_ref == len_other, ...))``, and PyTensor 2.38 picks ``len_ref`` by iterating a ``set`` of
   variables: the order of their memory addresses, not the order given. The script builds the shape 200 times and
   counts which vector became the reference; with ``recipes_utils.compile_cache.cacheable_compiles`` it is
   always the first. PyTensor 3.0.3 fixed this (pymc-devs/pytensor commit e0ea071).
2. The consequence. Each of three new processes, sharing one new compile directory, builds a model and compiles it
   for nutpie (``recipes_utils.nutpie_cache.compile_pymc_model_numba``), once with ``cacheable_compiles``' two fixes
   switched off (PyTensor 2.38 as it is), once with them. It records PyTensor's cache key for the log density (None:
   not cacheable), the compile time and how many of nutpie's two callbacks came from the disk cache. Two models: the
   hierarchical 4PL with one row per measurement (3,000 rows, 30 compounds: three data arrays of the same length
   meet in the likelihood; without the fix its key can change from process to process) and the plates recipe's model
   (Student-t noise with its degrees of freedom estimated, plate offsets, decorrelated; 4,000 rows, 40 compounds, 10
   plates: without the fix its gradient's digamma leaves it no key at all).

Results go to ``benchmarks/results/compile_cache.csv``.
"""

import collections
import csv
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "results" / "compile_cache.csv"
N_PROCESSES = 3
MODELS = ("per-measurement 4PL", "plates, Student-t")


def mechanism(trials: int = 200) -> dict:
    import pytensor.tensor as pt
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor import extra_ops

    from recipes_utils.compile_cache import cacheable_compiles

    def reference_index() -> int:
        vs = [pt.vector(f"v{i}") for i in range(3)]
        (dim,) = extra_ops.broadcast_shape(*vs)
        ref = dim.owner.inputs[0]  # Assert(reference length, condition)
        return next(i for i, v in enumerate(vs) if v in set(ancestors([ref])))

    counts = {"pytensor 2.38": collections.Counter(reference_index() for _ in range(trials))}
    with cacheable_compiles():
        counts["cacheable_compiles"] = collections.Counter(reference_index() for _ in range(trials))
    for label, c in counts.items():
        print(f"{label:>22}: reference length taken from vector 0 / 1 / 2: {c[0]} / {c[1]} / {c[2]} of {trials}")
    return counts


def child(mode: str, model_name: str) -> None:
    """One process: build the model, compile it for nutpie, print key, seconds and cache hits."""
    import time

    import recipes_utils.compile_cache as cc

    if mode == "off":  # cacheable_compiles() then leaves PyTensor as it is
        cc.needs_shape_fix = lambda: False
        cc._psi_registered = True
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    from recipes_utils.data import simulate_dose_response
    from recipes_utils.dose_response import hierarchical_four_pl
    from recipes_utils.nutpie_cache import callback_cache_hits, compile_pymc_model_numba

    if model_name == "per-measurement 4PL":
        sim = simulate_dose_response(30, 3_000, seed=2018)
        model = hierarchical_four_pl(sim.data, parameterization="centered")  # one row per measurement
    else:
        sim = simulate_dose_response(40, 4_000, seed=1, n_plates=10, outlier_fraction=0.01)
        model = hierarchical_four_pl(sim.data, parameterization="decorrelated", plate="plate", likelihood="student_t",
                                     curve_at="points")  # fmt: skip
    start = time.perf_counter()
    compiled = compile_pymc_model_numba(model)
    seconds = time.perf_counter() - start
    key = CACHED_SRC_FUNCTIONS.get(compiled.logp_func.vm.jit_fn.py_func)
    print("RESULT", key[:16] if key else None, seconds, callback_cache_hits(compiled))


def consequence() -> list[dict]:
    rows = []
    for model_name in MODELS:
        for mode, label in [("off", "pytensor 2.38"), ("on", "cacheable_compiles")]:
            with tempfile.TemporaryDirectory() as compiledir:
                env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir}")
                for process in range(1, N_PROCESSES + 1):
                    out = subprocess.run([sys.executable, __file__, mode, model_name], env=env, capture_output=True,
                                         text=True, check=True).stdout  # fmt: skip
                    result = next(line for line in out.splitlines() if line.startswith("RESULT"))
                    key, seconds, hits = result.split()[1:]
                    rows.append({"part": model_name, "graph": label, "process": process, "logp_key": key,
                                 "compile_s": float(seconds), "callbacks_from_cache": int(hits)})  # fmt: skip
                    print(f"{model_name}, {label}, process {process}: key {key}, compile {float(seconds):5.1f} s, "
                          f"callbacks from the cache {hits}")  # fmt: skip
    return rows


def main() -> None:
    counts = mechanism()
    rows = consequence()
    meta = {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    OUT.parent.mkdir(exist_ok=True)
    with OUT.open("w", newline="") as fh:
        fields = ["part", "graph", "process", "logp_key", "compile_s", "callbacks_from_cache", "reference_0",
                  "reference_1", "reference_2", "date", "machine"]  # fmt: skip
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for label, c in counts.items():
            w.writerow({"part": "mechanism", "graph": label, **{f"reference_{i}": c[i] for i in range(3)}, **meta})
        for row in rows:
            w.writerow({**row, **meta})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main() if len(sys.argv) == 1 else child(sys.argv[1], sys.argv[2])
