"""PyTensor's Numba backend gives any graph containing ``digamma`` no cache key, so it is compiled in every process.

    .venv/bin/python benchmarks/investigations/pytensor_digamma_no_cache_key_repro.py

Pure PyTensor. It compiles ``log(x)``, ``gammaln(x)`` and ``digamma(x)`` with ``mode="NUMBA"`` and prints the key
under which PyTensor stores each compiled function in its disk cache (``None``: not cached). PyTensor 2.38 compiles
a scalar Op whose ``nfunc_spec`` names a ``scipy.special`` function through a pointer into
``scipy.special.cython_special`` and returns no cache key for it (``pytensor/link/numba/dispatch/scalar.py``:
``cache_key = None if cython_func else ...``). The gradient of a Student-t density with estimated degrees of freedom
contains digamma, so such a model has no key at all. Draft report: ``pytensor-digamma-no-cache-key.md``.
"""

import pytensor
import pytensor.tensor as pt
from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

if __name__ == "__main__":
    x = pt.dvector("x")
    print(f"PyTensor {pytensor.__version__}, numba__cache={pytensor.config.numba__cache}")
    for name, out in [("log", pt.log(x)), ("gammaln", pt.gammaln(x)), ("digamma", pt.digamma(x))]:
        f = pytensor.function([x], out, mode="NUMBA")
        key = CACHED_SRC_FUNCTIONS.get(f.vm.jit_fn.py_func)
        print(f"{name:>8}: cache key {key[:16] + '...' if key else None}")
