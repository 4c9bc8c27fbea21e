"""Why a fresh and a cached PyTensor/Numba compile draw different samples from the same seed: a reproducer.

    .venv/bin/python benchmarks/investigations/numba_cache_fastmath_repro.py
    REPRO_EXTRA_FLAGS=numba__fastmath=False .venv/bin/python benchmarks/investigations/numba_cache_fastmath_repro.py

Pure PyTensor, no PyMC. It runs itself twice in subprocesses that share a new, empty PyTensor compile directory:
the first compiles the function afresh, the second loads it from PyTensor's Numba disk cache. Same graph, same
inputs; it prints the elements of the output that differ. Measured here (PyTensor 2.38.3, Numba 0.65.1, x86_64):
9 of 24 elements differ by 1-2 units in the last place with PyTensor's default ``numba__fastmath=True``, none with
``numba__fastmath=False``.

The mechanism, traced by disassembling the code each process runs: Numba links every compiled function's library into
its callers' modules as ``linkonce_odr`` copies and optimises the caller's module again. Fresh, the process calls the
kernel as its own compile optimised it; after a cache load it calls the copy inside the cached caller, optimised a
second time, and fastmath's ``reassoc`` flag lets that second pass regroup the product ``(y - t*s) * t * s * (1-s) * h``
(the fused Composite Elemwise below). Both results are valid under fastmath; NUTS, being chaotic, turns a last-bit
difference in one gradient into a different trajectory, hence draws that agree only to Monte Carlo error. Neither a
PyTensor nor a nutpie correctness bug: a reproducibility caveat of fastmath with Numba's caching. The recipes accept it
and compare runs within Monte Carlo error (``make reproducible``); ``numba__fastmath=False`` removes it.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np


def compare() -> None:
    with tempfile.TemporaryDirectory() as compiledir:
        extra = os.environ.get("REPRO_EXTRA_FLAGS", "")
        flags = f"numba__cache=True,base_compiledir={compiledir}" + (f",{extra}" if extra else "")
        env = dict(os.environ, PYTENSOR_FLAGS=flags)
        runs = [
            subprocess.run(
                [sys.executable, __file__, label], env=env, capture_output=True, text=True, check=True
            ).stdout.split()[1:]
            for label in ("fresh", "cached")
        ]
    fresh, cached = (np.array([float.fromhex(v) for v in run]) for run in runs)
    differ = np.flatnonzero(fresh != cached)
    print(f"{len(differ)} of {fresh.size} elements differ between fresh and cached compile")
    for i in differ:
        ulps = abs(fresh[i].view(np.int64) - cached[i].view(np.int64))
        print(f"  [{i:2d}] fresh {float(fresh[i])!r:<20} cached {float(cached[i])!r:<20} ulps {ulps}")


def evaluate(label: str) -> None:
    import pytensor
    import pytensor.tensor as pt

    t, h, l = pt.dscalars("t", "h", "l")
    y, c = pt.dvectors("y", "c")
    s = pt.sigmoid(h * (c - l))
    out = (y - t * s) * t * s * (1 - s) * h  # fused by PyTensor into one Composite Elemwise
    f = pytensor.function([t, h, l, y, c], out, mode="NUMBA")
    rng = np.random.default_rng(0)
    yv, cv = rng.normal(4, 3, 24), rng.normal(1, 1, 24)
    res = f(8.319857446230163, 1.414367518948983, 0.6007652339198323, yv, cv)
    print(label, *[float(v).hex() for v in res])


if __name__ == "__main__":
    compare() if len(sys.argv) == 1 else evaluate(sys.argv[1])
