"""``nutpie.compile_pymc_model(model, backend="numba")`` with nutpie's two C callbacks cached on disk.

Why this exists. nutpie's Numba path wraps PyTensor's compiled log density (and the function that expands a draw into
the stored variables) in a ``numba.cfunc`` that its Rust sampler calls. PyTensor's part comes from PyTensor's disk
cache, but nutpie compiles the wrappers afresh on every call and never asks Numba to cache them, and that is the
expensive part: Numba links the whole compiled log density into each wrapper and optimises the result again. Caching
them as they are would not work either: they hold the model's data arrays as globals, used only for their types (the
data themselves reach the sampler through a pointer at every call), and Numba bakes a small global array into the code
(tying a cache entry to the data) and refuses to cache one over 1 MB ("dynamic globals"). So every NUTS fit paid this
compile, even of a model compiled minutes before in another process, and re-running a notebook paid it for every fit.

:func:`compile_pymc_model_numba` builds the same two wrappers, with nutpie's code, from tiny stand-in arrays of each
data variable's dtype and rank, and registers them in PyTensor's Numba cache (its directory, its key scheme) under a
key made of the wrapper's source, PyTensor's own key for the function it wraps (the log density, or the expand
function), the sizes, the data variables' names, dtypes and ranks, and the nutpie, Numba, llvmlite, PyTensor and NumPy
versions. A model compiled before, in any process, then loads both wrappers from disk.
``benchmarks/investigations/nutpie_callback_cache.py`` measures what it saves; ``tests/test_nutpie_cache.py`` checks
that the density, the gradient and the draws are nutpie's, and that a second process loads the wrappers from the cache
and computes the same density with them.

Where PyTensor gives no cache key (its Numba cache switched off, or an Op it cannot cache), or a cache entry cannot be
read, the wrappers are compiled without caching, as nutpie does. The rest copies nutpie's ``compile_pymc_model`` with
its defaults (initial points, shared data) and calls its own functions for shapes, coordinates and ``with_data``. It
relies on functions private to nutpie, so it is used only with the nutpie version it was written and tested against
(:data:`TESTED_NUTPIE`); with any other, :func:`compile_pymc_model_numba` is plain ``nutpie.compile_pymc_model``.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np

from recipes_utils.compile_cache import cacheable_compiles

__all__ = ["TESTED_NUTPIE", "callback_cache_hits", "compile_pymc_model_numba"]

#: The nutpie version whose private functions and callback source this module uses.
TESTED_NUTPIE = "0.16.8"

# The two wrappers, as nutpie 0.16.8 writes them (``nutpie.compile_pymc._make_c_logp_func`` and
# ``_make_c_expand_func``), with the sizes as globals instead of closure variables: Numba keys its cache on the
# function's bytecode and closure, and the sizes are part of this module's own key instead.
_LOGP_SRC = """
def logp_numba(dim, x_, out_, logp_, user_data_):
    if dim != N_DIM:
        return -1
    try:
        x = numba.carray(x_, (N_DIM,))
        out = numba.carray(out_, (N_DIM,))
        logp = numba.carray(logp_, ())
        logp_val, grad = extract(x, user_data_)
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""

_EXPAND_SRC = """
def expand_numba(dim, expanded, x_, out_, user_data_):
    if dim != N_DIM:
        return -1
    if expanded != N_EXPANDED:
        return -1
    try:
        x = numba.carray(x_, (N_DIM,))
        out = numba.carray(out_, (N_EXPANDED,))
        (values,) = extract(x, user_data_)
        out[...] = values
    except Exception:
        return -2
    return 0
"""


def _signatures():
    import numba

    ptr = numba.types.CPointer(numba.types.double)
    logp = numba.types.int64(numba.types.uint64, ptr, ptr, ptr, numba.types.voidptr)
    expand = numba.types.int64(numba.types.uint64, numba.types.uint64, ptr, ptr, numba.types.voidptr)
    return logp, expand


def _callback(src: str, name: str, signature, inner, shared_names, shared_data: dict, user_data, sizes: dict):
    """One C callback around PyTensor's compiled function ``inner``."""
    import llvmlite
    import numba
    import nutpie
    import pytensor
    from nutpie.compile_pymc import make_extraction_fn
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    # Stand-ins of each data variable's dtype and rank (read-only, like nutpie's copies): the wrapper needs only their
    # types; the data arrive through ``user_data`` at every call. Small arrays are constants Numba can cache.
    stand_ins = {}
    for n in shared_names:
        stand_in = np.zeros((1,) * shared_data[n].ndim, dtype=shared_data[n].dtype)
        stand_in.flags.writeable = False
        stand_ins[n] = stand_in
    extract = make_extraction_fn(inner, stand_ins, shared_names, user_data.dtype)
    # __name__: Numba pickles the wrapper's environment with the module it names, and imports it when loading
    global_env = {"__name__": __name__, "numba": numba, "np": np, "extract": extract, **sizes}
    fn = compile_numba_function_src(src, name, global_env=global_env)
    inner_key = CACHED_SRC_FUNCTIONS.get(inner.py_func)
    if inner_key is None:  # PyTensor could not cache the function: neither can we
        return _cfunc(signature, fn, cache=False)
    key = (
        "recipes_utils.nutpie_cache v2", src, inner_key, sorted(sizes.items()),
        [(n, shared_data[n].ndim, str(shared_data[n].dtype)) for n in shared_names], str(user_data.dtype),
        nutpie.__version__, numba.__version__, llvmlite.__version__, pytensor.__version__, np.__version__,
    )  # fmt: skip
    CACHED_SRC_FUNCTIONS[fn] = hashlib.sha256(repr(key).encode()).hexdigest()
    try:
        return _cfunc(signature, fn, cache=True)
    except Exception as err:  # noqa: BLE001 (an unreadable cache entry must not stop a fit: compile as nutpie does)
        warnings.warn(f"nutpie callback cache: {type(err).__name__}: {err}; compiling without the cache", stacklevel=3)
        del CACHED_SRC_FUNCTIONS[fn]
        return _cfunc(signature, fn, cache=False)


def _cfunc(signature, fn, *, cache: bool):
    import numba

    with warnings.catch_warnings():
        # As nutpie: a model whose compiled code embeds an array over 1 MB (data given as a NumPy constant rather than
        # pm.Data) cannot be cached; Numba warns at every compile, and the wrapper is compiled as nutpie compiles it.
        warnings.filterwarnings("ignore", message="Cannot cache compiled function .* as it uses dynamic globals",
                                category=numba.NumbaWarning)  # fmt: skip
        return numba.cfunc(signature, cache=cache)(fn)


def compile_pymc_model_numba(model, var_names=None):
    """``nutpie.compile_pymc_model(model, backend="numba", var_names=var_names)`` with its other defaults, the C
    callbacks cached on disk. ``var_names`` (nutpie's): the variables stored in the trace besides the unconstrained
    free variables, which nutpie always stores; ``None`` stores every one.

    Returns nutpie's ``CompiledPyMCModel``; sample it with ``nutpie.sample`` as usual.
    :func:`callback_cache_hits` says how many of its two callbacks were loaded from the disk cache. With a nutpie
    other than :data:`TESTED_NUTPIE` it is ``nutpie.compile_pymc_model(model, backend="numba", var_names=var_names)``.
    """
    import nutpie

    if nutpie.__version__ != TESTED_NUTPIE:
        with cacheable_compiles():
            return nutpie.compile_pymc_model(model, backend="numba", var_names=var_names)
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _make_functions,
        _prepare_dims_and_coords,
        _wrap_with_lock,
        make_user_data,
    )
    from pymc.initial_point import make_initial_point_fn

    # nutpie.compile_pymc_model's defaults for the Numba backend: support points, jittered
    with cacheable_compiles():  # the same graph, so the same PyTensor cache key, in every process
        initial_point_fn = _wrap_with_lock(
            make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)
        )
        n_dim, n_expanded, logp_fn_pt, expand_fn_pt, initial_point_fn, shape_info = _make_functions(
            model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=initial_point_fn,
            var_names=var_names,
        )  # fmt: skip

    # As nutpie: one read-only copy of each data variable, reached through user_data.
    shared_data, shared_vars, seen = {}, {}, set()
    for var in [*logp_fn_pt.get_shared(), *expand_fn_pt.get_shared()]:
        if var.name in shared_data and var not in seen:
            raise ValueError(f"Shared variables must have unique names: {var.name}")
        shared_data[var.name] = np.array(var.get_value(), order="C", copy=True)
        shared_vars[var.name] = var
        seen.add(var)
    for value in shared_data.values():
        value.flags.writeable = False
    user_data = make_user_data(shared_vars, shared_data)

    logp_sig, expand_sig = _signatures()
    logp_cfunc = _callback(
        _LOGP_SRC, "logp_numba", logp_sig, logp_fn_pt.vm.jit_fn, [v.name for v in logp_fn_pt.get_shared()],
        shared_data, user_data, {"N_DIM": n_dim},
    )  # fmt: skip
    expand_cfunc = _callback(
        _EXPAND_SRC, "expand_numba", expand_sig, expand_fn_pt.vm.jit_fn, [v.name for v in expand_fn_pt.get_shared()],
        shared_data, user_data, {"N_DIM": n_dim, "N_EXPANDED": n_expanded},
    )  # fmt: skip

    dims, coords = _prepare_dims_and_coords(model, shape_info)
    return CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=logp_cfunc,
        compiled_expand_func=expand_cfunc,
        initial_point_func=initial_point_fn,
        shared_data=shared_data,
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_fn_pt,
        expand_func=expand_fn_pt,
    )


def callback_cache_hits(compiled) -> int:
    """How many of a compiled model's two C callbacks were loaded from the disk cache (0, 1 or 2)."""
    return sum(int(getattr(f, "cache_hits", 0)) for f in (compiled.compiled_logp_func, compiled.compiled_expand_func))
