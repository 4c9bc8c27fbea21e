"""``nutpie.compile_pymc_model(model, backend="numba")`` with nutpie's two C callbacks cached on disk.

Why this exists. nutpie's Numba path wraps PyTensor's compiled log density (and the function that expands a draw into
the stored variables) in a ``numba.cfunc`` that its Rust sampler calls. PyTensor's part comes from PyTensor's disk
cache, but the wrappers are compiled afresh on every call, and that is the expensive part: Numba links the whole
compiled log density into each wrapper and optimises the result again. Numba cannot cache them because they hold the
model's data arrays as globals ("dynamic globals"; nutpie silences the warning), used only for their types: the data
themselves reach the sampler through a pointer at every call. So every NUTS fit paid this compile, even of a model
compiled minutes before in another process, and re-running a notebook paid it for every fit.

:func:`compile_pymc_model_numba` builds the same two wrappers, with the same code, from tiny stand-in arrays of each
data variable's dtype and rank, and registers them in PyTensor's Numba cache (its directory, its key scheme) under a
key made of PyTensor's own key for the compiled log density, the variables' names, dtypes and ranks, and the nutpie
and Numba versions. A model compiled before, in any process, then loads both wrappers from disk.
``benchmarks/nutpie_callback_cache.py`` measures what it saves; ``tests/test_nutpie_cache.py`` checks that the
density, the gradient and the draws are nutpie's, and that a second process loads the wrappers from the cache.

Where PyTensor gives no cache key (its Numba cache switched off, or an Op it cannot cache) the wrappers are compiled
without caching, exactly as nutpie does. The rest (initial points, shapes, coordinates, ``with_data``) is nutpie's own
code; only the two wrappers differ. It uses functions private to nutpie 0.16 (``requirements.lock`` pins the
version), so a nutpie upgrade must pass ``tests/test_nutpie_cache.py``.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np

__all__ = ["callback_cache_hits", "compile_pymc_model_numba"]

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
    """One C callback around PyTensor's compiled function ``inner``: ``(cfunc, cached)``."""
    import numba
    import nutpie
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
    if inner_key is None:  # PyTensor could not cache the log density: neither can we
        return numba.cfunc(signature)(fn), False
    key = (
        "recipes_utils.nutpie_cache v2", src, inner_key, sorted(sizes.items()), nutpie.__version__, numba.__version__,
        [(n, shared_data[n].ndim, str(shared_data[n].dtype)) for n in shared_names], str(user_data.dtype),
    )  # fmt: skip
    CACHED_SRC_FUNCTIONS[fn] = hashlib.sha256(repr(key).encode()).hexdigest()
    try:
        return numba.cfunc(signature, cache=True)(fn), True
    except Exception as err:  # noqa: BLE001 (an unreadable cache entry must not stop a fit: compile as nutpie does)
        warnings.warn(f"nutpie callback cache: {type(err).__name__}: {err}; compiling without the cache", stacklevel=3)
        del CACHED_SRC_FUNCTIONS[fn]
        return numba.cfunc(signature)(fn), False


def compile_pymc_model_numba(model):
    """``nutpie.compile_pymc_model(model, backend="numba")`` with its defaults, the C callbacks cached on disk.

    Returns nutpie's ``CompiledPyMCModel``; sample it with ``nutpie.sample`` as usual.
    :func:`callback_cache_hits` says how many of its two callbacks were loaded from the disk cache.
    """
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _make_functions,
        _prepare_dims_and_coords,
        _wrap_with_lock,
        make_user_data,
    )
    from pymc.initial_point import make_initial_point_fn

    # nutpie.compile_pymc_model's defaults for the Numba backend: support points, jittered
    initial_point_fn = _wrap_with_lock(
        make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs), return_transformed=True)
    )
    n_dim, n_expanded, logp_fn_pt, expand_fn_pt, initial_point_fn, shape_info = _make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=initial_point_fn,
        var_names=None,
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
    logp_cfunc, _ = _callback(
        _LOGP_SRC, "logp_numba", logp_sig, logp_fn_pt.vm.jit_fn, [v.name for v in logp_fn_pt.get_shared()],
        shared_data, user_data, {"N_DIM": n_dim},
    )  # fmt: skip
    expand_cfunc, _ = _callback(
        _EXPAND_SRC, "expand_numba", expand_sig, expand_fn_pt.vm.jit_fn, [v.name for v in expand_fn_pt.get_shared()],
        shared_data, user_data, {"N_DIM": n_dim, "N_EXPANDED": n_expanded},
    )  # fmt: skip

    dims, coords = _prepare_dims_and_coords(model, shape_info)
    compiled = CompiledPyMCModel(
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
    return compiled


def callback_cache_hits(compiled) -> int:
    """How many of a compiled model's two C callbacks were loaded from the disk cache (0, 1 or 2)."""
    return int(compiled.compiled_logp_func.cache_hits) + int(compiled.compiled_expand_func.cache_hits)
