"""Compile the recipes' models so that PyTensor's Numba disk cache finds them again in the next process.

PyTensor caches a compiled function under a key made from its graph, node by node, and compiles afresh whenever the
key is new or missing. With PyTensor 2.38 (the last release for Python 3.11) two things defeated it for the recipes'
models, and :func:`cacheable_compiles` mends both for the duration of a ``with`` block:

A graph that changed from process to process.
    The shape inference that runs while a function is compiled (``pytensor.tensor.extra_ops.broadcast_shape_iter``)
    collects the lengths of two or more arrays that must broadcast together in a ``set`` of variables and takes the
    "first" one to compare the others with. A set of PyTensor variables iterates in the order of their memory
    addresses, which change from process to process; so did the compiled graph (``Eq(len_a, len_b)`` in one process,
    ``Eq(len_b, len_a)`` in the next), its key, and the cache missed. Every per-measurement model (three data arrays
    of the same unknown length meet in its likelihood) was compiled from scratch in every new process
    (``benchmarks/investigations/compile_cache.py``). PyTensor fixed it in 3.0.3 (pymc-devs/pytensor commit e0ea071,
    "Make broadcast_shape_iter deterministic"), which PyMC 5.28.5, the last PyMC for Python 3.11, cannot use (it
    requires PyTensor < 2.39). Inside the block the same function iterates its variables in the order they were given.
A digamma without a key.
    The gradient of a Student-t density with its degrees of freedom estimated needs the digamma function (``Psi``),
    which PyTensor's Numba backend takes from SciPy's compiled library through a function pointer and so declines to
    cache (a pointer is valid in one process only): any model containing it, the plates recipe's, had no key at all.
    Inside the block (and with PyTensor's Numba cache on, its default) ``Psi`` compiles to :func:`digamma`, written
    here in Numba (reflection for x < 0, recurrence to x >= 10, then the asymptotic series; against
    ``scipy.special.psi``, checked in ``tests/test_compile_cache.py``: within 2e-12 relative for x > 0, or 2e-15
    absolute near its root, and within 1e-11 relative for x < 0 away from the poles), which caches like any other scalar
    function. Its cache key includes a hash of its source, so an edit to it cannot load the old compiled code.

While a block is open the two changes hold for the whole process (every thread); when the last block closes PyTensor
behaves as before. Importing ``recipes_utils`` changes nothing in PyTensor: the digamma is registered with PyTensor's
Numba dispatcher on first use of the block and hands back to PyTensor's own outside it. ``recipes_utils.inference``,
``recipes_utils.nutpie_cache`` and ``recipes_utils.approximations`` compile inside it. For a model of your own, build
it and compile it inside the block (a few PyMC distributions already infer shapes while the model is built)::

    with cacheable_compiles():
        with pm.Model() as model:
            ...
        compiled = nutpie.compile_pymc_model(model)
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import re
import threading
import types

import numba

__all__ = ["FIXED_IN", "cacheable_compiles", "digamma", "needs_shape_fix"]

#: The first PyTensor release whose ``broadcast_shape_iter`` is deterministic.
FIXED_IN = (3, 0, 3)

_lock = threading.RLock()
_depth = 0
_original_shape_iter = None
_psi_registered = False


class _OrderedSet:
    """The part of ``set`` that ``broadcast_shape_iter`` uses (``add``, ``len``, iteration), in insertion order."""

    def __init__(self):
        self._items = {}

    def add(self, item) -> None:
        self._items[item] = None

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return iter(self._items)


def _version(text: str) -> tuple[int, ...]:
    """``"2.38.3"`` -> ``(2, 38, 3)``; a pre-release or local suffix is ignored (``"3.0.3rc1"`` -> ``(3, 0, 3)``)."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        raise ValueError(f"cannot read a version number from {text!r}")
    return tuple(int(p or 0) for p in match.groups())


def needs_shape_fix() -> bool:
    """Whether the installed PyTensor is older than :data:`FIXED_IN`."""
    import pytensor

    return _version(pytensor.__version__) < FIXED_IN


def _ordered(func):
    """``func`` with the builtin ``set`` in its globals replaced by :class:`_OrderedSet`."""
    env = dict(func.__globals__)
    env["set"] = _OrderedSet
    fixed = types.FunctionType(func.__code__, env, func.__name__, func.__defaults__, func.__closure__)
    fixed.__kwdefaults__ = func.__kwdefaults__
    fixed.__doc__, fixed.__wrapped__ = func.__doc__, func
    return fixed


@numba.njit
def digamma(x):
    """The digamma function, psi(x) = d log Gamma(x) / dx, for a float; ``scipy.special.psi``'s values at its poles."""
    if math.isnan(x) or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf
    if x == 0.0:
        return -math.inf if math.copysign(1.0, x) > 0 else math.inf
    if x <= -4503599627370496.0:  # -2**52 and below every float is an integer: a pole
        return math.nan
    result = 0.0
    if x < 0.0:
        n = float(round(x))
        if x == n:  # a pole
            return math.nan
        # reflection: psi(x) = psi(1 - x) - pi / tan(pi x), tan taken of the distance to the nearest integer (exact)
        result = -math.pi / math.tan(math.pi * (x - n))
        x = 1.0 - x
    while x < 10.0:  # recurrence: psi(x) = psi(x + 1) - 1 / x
        result -= 1.0 / x
        x += 1.0
    z = 1.0 / (x * x)  # asymptotic series (Bernoulli numbers) to z^7: below 1e-17 relative for x >= 10
    series = z * (1 / 12 - z * (1 / 120 - z * (1 / 252 - z * (1 / 240 - z * (1 / 132 - z * (691 / 32760 - z / 12))))))
    return result + math.log(x) - 0.5 / x - series


_DIGAMMA_HASH = hashlib.sha256(inspect.getsource(digamma.py_func).encode()).hexdigest()[:16]


def _register_psi() -> None:
    """Give PyTensor's Numba backend a cacheable ``Psi``, used inside :func:`cacheable_compiles` only."""
    global _psi_registered
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key, numba_njit
    from pytensor.link.numba.dispatch.scalar import numba_funcify_ScalarOp, scalar_op_cache_key
    from pytensor.scalar.math import Psi

    _psi_registered = True
    if numba_funcify_and_cache_key.dispatch(Psi) is not numba_funcify_ScalarOp:
        return  # this PyTensor compiles Psi its own way: leave it

    @numba_funcify_and_cache_key.register(Psi)
    def _psi(op, node, **kwargs):
        if not _depth:  # outside the block: PyTensor's own (SciPy's function through a pointer, not cached)
            return numba_funcify_ScalarOp(op, node=node, **kwargs)

        @numba_njit
        def psi(x):
            return digamma(x)

        return psi, scalar_op_cache_key(op, cache_version=f"recipes_utils.compile_cache.digamma {_DIGAMMA_HASH}")


@contextlib.contextmanager
def cacheable_compiles():
    """Inside the block, PyTensor compiles the same graph in every process, and a digamma it can cache.

    Re-entrant (the recipes' functions nest it); the changes hold for the whole process while any block is open, and
    leaving the last one restores PyTensor's own behaviour. The shape fix is skipped with PyTensor >= 3.0.3.
    """
    global _depth, _original_shape_iter
    from pytensor.tensor import extra_ops

    with _lock:
        if not _psi_registered:
            _register_psi()
        if _depth == 0 and needs_shape_fix():
            _original_shape_iter = extra_ops.broadcast_shape_iter
            extra_ops.broadcast_shape_iter = _ordered(_original_shape_iter)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _original_shape_iter is not None:
                extra_ops.broadcast_shape_iter = _original_shape_iter
                _original_shape_iter = None
