"""Compile PyTensor graphs that are the same in every process, so PyTensor's Numba disk cache finds them again.

Why this exists. PyTensor keys its Numba disk cache on the compiled graph, node by node. In PyTensor 2.38 (the last
release for Python 3.11), the shape inference that runs while a function is compiled
(``pytensor.tensor.extra_ops.broadcast_shape_iter``) collects the lengths of two or more arrays that must broadcast
together in a ``set`` of variables and takes the "first" one to compare the others with. A set of PyTensor variables
iterates in the order of their memory addresses, which change from process to process; so does the compiled graph
(``Eq(len_a, len_b)`` in one process, ``Eq(len_b, len_a)`` in the next), its cache key, and the cache misses. Every
per-measurement model (the hierarchical 4PL with one row per measurement, the plates recipe's models: two data
arrays of the same unknown length meet in one expression) was compiled from scratch in every new process:
``benchmarks/graph_determinism_repro.py`` shows it, and what it costs. PyTensor fixed it in 3.0.3
(pymc-devs/pytensor commit e0ea071, "Make broadcast_shape_iter deterministic"), which needs Python 3.12.

:func:`deterministic_shapes` makes that one function iterate its variables in the order they were given, for the
duration of a ``with`` block, and puts PyTensor back as it was when the block ends: importing ``recipes_utils``
changes nothing in PyTensor. ``recipes_utils.inference`` and ``recipes_utils.approximations`` compile inside it. To
get the same for a model you compile yourself::

    with deterministic_shapes():
        compiled = nutpie.compile_pymc_model(model)

With a PyTensor that has the fix, it does nothing.
"""

from __future__ import annotations

import contextlib
import re
import threading
import types

__all__ = ["FIXED_IN", "deterministic_shapes", "needs_fix"]

#: The first PyTensor release whose ``broadcast_shape_iter`` is deterministic.
FIXED_IN = (3, 0, 3)

_lock = threading.RLock()
_depth = 0
_original = None


class _OrderedSet:
    """The part of ``set`` that ``broadcast_shape_iter`` uses (``add``, ``len``, iteration), in insertion order."""

    def __init__(self, items=()):
        self._items = dict.fromkeys(items)

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


def needs_fix() -> bool:
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


@contextlib.contextmanager
def deterministic_shapes():
    """Inside the block, PyTensor's broadcast shape inference builds the same graph in every process.

    Re-entrant (the recipes' functions nest it) and thread-safe; on leaving the outermost block PyTensor's own function
    is restored. A no-op with PyTensor >= 3.0.3.
    """
    global _depth, _original
    if not needs_fix():
        yield
        return
    from pytensor.tensor import extra_ops

    with _lock:
        if _depth == 0:
            _original = extra_ops.broadcast_shape_iter
            extra_ops.broadcast_shape_iter = _ordered(_original)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                extra_ops.broadcast_shape_iter = _original
                _original = None
