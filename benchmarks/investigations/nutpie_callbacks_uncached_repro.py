"""nutpie compiles its two Numba C callbacks afresh in every process, even when PyTensor's cache holds the model.

    .venv/bin/python benchmarks/investigations/nutpie_callbacks_uncached_repro.py
    REPRO_NUMBA_CACHE=1 .venv/bin/python benchmarks/investigations/nutpie_callbacks_uncached_repro.py

Three fresh processes share one new, empty PyTensor compile directory. Each builds the same small PyMC model and calls
``nutpie.compile_pymc_model(model, backend="numba")``, timing the whole call and, apart, the two ``numba.cfunc``
calls inside it (the log-density and expand callbacks). From the second process on, PyTensor loads its compiled
functions from its disk cache, yet the callbacks still compile, and they are most of the time. With
``REPRO_NUMBA_CACHE=1`` the processes pass ``cache=True``, which nutpie hands to ``numba.cfunc``.
Draft report: ``nutpie-callbacks-not-cached.md``.
"""

import os
import subprocess
import sys
import tempfile
import time


def child() -> None:
    import numba
    import numpy as np
    import nutpie
    import pymc as pm

    spent = []
    cfunc = numba.cfunc

    def timed_cfunc(*args, **kwargs):
        wrap = cfunc(*args, **kwargs)

        def apply(fn):
            start = time.perf_counter()
            out = wrap(fn)
            spent.append(time.perf_counter() - start)
            return out

        return apply

    numba.cfunc = timed_cfunc
    rng = np.random.default_rng(0)
    with pm.Model() as model:
        x = pm.Data("x", rng.normal(size=500))
        y = pm.Data("y", rng.normal(size=500))
        a = pm.Normal("a")
        b = pm.Normal("b")
        sigma = pm.HalfNormal("sigma")
        pm.Normal("obs", a + b * x, sigma, observed=y)
    kwargs = {"cache": True} if os.environ.get("REPRO_NUMBA_CACHE") == "1" else {}
    start = time.perf_counter()
    nutpie.compile_pymc_model(model, backend="numba", **kwargs)
    total = time.perf_counter() - start
    print(f"RESULT {total:.2f} {sum(spent):.2f}")


def main() -> None:
    with tempfile.TemporaryDirectory() as compiledir:
        env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir}")
        for process in (1, 2, 3):
            out = subprocess.run(
                [sys.executable, __file__, "child"], env=env, capture_output=True, text=True, check=True
            )
            total, callbacks = out.stdout.split("RESULT")[-1].split()
            print(
                f"process {process}: compile_pymc_model {total} s, of which the two numba.cfunc callbacks {callbacks} s"
            )


if __name__ == "__main__":
    child() if sys.argv[1:] == ["child"] else main()
