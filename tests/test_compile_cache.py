"""recipes_utils.compile_cache: the same compiled graph in every process, and a digamma PyTensor can cache."""

import subprocess
import sys
import textwrap

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.traversal import ancestors
from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS
from pytensor.tensor import extra_ops
from scipy import special

from recipes_utils import compile_cache
from recipes_utils.compile_cache import _version, cacheable_compiles, digamma, needs_shape_fix

shape_bug = pytest.mark.skipif(not needs_shape_fix(), reason="this PyTensor's broadcast_shape_iter is deterministic")


def reference_index(n=5) -> int:
    """Which of ``n`` vectors of unknown length broadcast_shape compares the others with."""
    vs = [pt.vector(f"v{i}") for i in range(n)]
    (dim,) = extra_ops.broadcast_shape(*vs)
    ref = dim.owner.inputs[0]  # Assert(reference length, condition)
    return next(i for i, v in enumerate(vs) if v in set(ancestors([ref])))


@shape_bug
def test_pytensors_own_choice_follows_memory_addresses():
    # The bug the module works around: if this fails, PyTensor has become deterministic and the module can go.
    assert len({reference_index() for _ in range(100)}) > 1


def test_inside_the_block_the_first_length_given_is_the_reference():
    with cacheable_compiles():
        assert {reference_index() for _ in range(100)} == {0}


def test_broadcasting_still_checks_the_lengths():
    x, y, z = pt.vectors("x", "y", "z")
    with cacheable_compiles():
        (dim,) = extra_ops.broadcast_shape(x, y, z)
        f = pytensor.function([x, y, z], dim, mode="FAST_COMPILE")
    assert f(np.zeros(3), np.zeros(3), np.zeros(3)) == 3
    with pytest.raises(AssertionError, match="Could not broadcast"):
        f(np.zeros(3), np.zeros(4), np.zeros(3))


@shape_bug
def test_pytensor_is_put_back_after_the_block_nested_or_failed():
    original = extra_ops.broadcast_shape_iter
    with cacheable_compiles():
        patched = extra_ops.broadcast_shape_iter
        assert patched is not original and patched.__wrapped__ is original
        with cacheable_compiles():
            assert extra_ops.broadcast_shape_iter is patched
        assert extra_ops.broadcast_shape_iter is patched  # the inner block does not restore early
    assert extra_ops.broadcast_shape_iter is original
    with pytest.raises(RuntimeError), cacheable_compiles():
        raise RuntimeError("a failed compile")
    assert extra_ops.broadcast_shape_iter is original


def test_a_fixed_pytensor_is_left_alone(monkeypatch):
    monkeypatch.setattr(compile_cache, "needs_shape_fix", lambda: False)
    original = extra_ops.broadcast_shape_iter
    with cacheable_compiles():
        assert extra_ops.broadcast_shape_iter is original


@pytest.mark.parametrize(("text", "expected"), [("2.38.3", (2, 38, 3)), ("3.0.3rc1", (3, 0, 3)), ("3.1", (3, 1, 0))])
def test_version(text, expected):
    assert _version(text) == expected


def test_version_refuses_what_is_not_one():
    with pytest.raises(ValueError, match="version number"):
        _version("main")


KEY_SCRIPT = textwrap.dedent("""
    from nutpie.compile_pymc import _make_functions
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    from recipes_utils.data import simulate_dose_response
    from recipes_utils.dose_response import hierarchical_four_pl
    from recipes_utils.compile_cache import cacheable_compiles

    # one row per measurement: three data arrays of the same unknown length meet in the likelihood
    model = hierarchical_four_pl(simulate_dose_response(4, 64, seed=1).data, parameterization="centered")
    with cacheable_compiles():
        fns = _make_functions(model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=None,
                              var_names=None)
    print("KEY", CACHED_SRC_FUNCTIONS.get(fns[2].vm.jit_fn.py_func))
""")


def key_in_a_new_process() -> str:
    out = subprocess.run([sys.executable, "-c", KEY_SCRIPT], capture_output=True, text=True, check=True).stdout
    return next(line for line in out.splitlines() if line.startswith("KEY")).split()[1]


def test_a_per_measurement_model_gets_the_same_cache_key_in_every_process():
    keys = {key_in_a_new_process() for _ in range(3)}
    assert None not in keys and "None" not in keys
    assert len(keys) == 1, keys


def test_digamma_is_scipys():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.exp(rng.uniform(-20, 20, 20_000)), np.linspace(0.01, 30, 3001), [0.5, 1.0, 2.0, 1e-300]])
    ours, theirs = np.array([digamma(v) for v in x]), special.psi(x)
    np.testing.assert_allclose(ours, theirs, rtol=2e-12, atol=1e-15)
    root = np.linspace(1.4606, 1.4626, 201)  # psi's one positive root, 1.46163...: absolute error there
    np.testing.assert_allclose([digamma(v) for v in root], special.psi(root), rtol=0, atol=2e-15)
    negative = -np.exp(rng.uniform(-10, 6, 5_000))  # between the poles, away from them: relative error grows near one
    negative = negative[np.abs(negative - np.round(negative)) > 1e-3]
    np.testing.assert_allclose([digamma(v) for v in negative], special.psi(negative), rtol=1e-11)
    for pole in [0.0, -0.0, -1.0, -7.0, -(2.0**52), -1e20, -1e300, np.nan, np.inf, -np.inf]:
        np.testing.assert_equal(digamma(pole), special.psi(pole))
    np.testing.assert_allclose(digamma(np.float32(2.5)), special.psi(2.5), rtol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_psi_of_other_dtypes_in_a_compiled_graph(dtype):
    x = pt.vector("x", dtype=dtype)
    with cacheable_compiles():
        f = pytensor.function([x], pt.psi(x) * 2, mode="NUMBA")
    assert CACHED_SRC_FUNCTIONS.get(f.vm.jit_fn.py_func) is not None
    values = np.array([1, 2, 7, 30], dtype=dtype)
    out = f(values)
    assert out.dtype == pt.psi(x).dtype
    np.testing.assert_allclose(out, 2 * special.psi(values.astype(float)), rtol=1e-6 if dtype == "float32" else 1e-12)


def student_t_model():
    with pm.Model() as m:
        nu = pm.Gamma("nu", 2.0, 0.1)
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.StudentT("y", nu=nu, mu=mu, sigma=1.0, observed=np.array([-1.0, 0.3, 2.0, 9.0]))
    return m


def numba_logp_and_grad(m):
    """PyMC's log density and gradient compiled with Numba, and PyTensor's cache key for it (None: uncacheable)."""
    fn = m.logp_dlogp_function(mode="NUMBA", ravel_inputs=True)
    fn.set_extra_values({})
    key = CACHED_SRC_FUNCTIONS.get(fn._pytensor_function.vm.jit_fn.py_func)
    return fn, key


def test_a_student_t_gradient_gets_a_cache_key_and_the_same_values():
    m = student_t_model()
    theirs, key_theirs = numba_logp_and_grad(m)
    with cacheable_compiles():
        ours, key_ours = numba_logp_and_grad(m)
    assert key_theirs is None  # PyTensor's digamma (a function pointer into SciPy) cannot be cached
    assert key_ours is not None
    for x in np.random.default_rng(1).normal(size=(5, 2)):
        (lp_ours, g_ours), (lp_theirs, g_theirs) = ours(x), theirs(x)
        np.testing.assert_allclose(lp_ours, lp_theirs, rtol=1e-12)
        np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-10, atol=1e-13)
    _, key_after = numba_logp_and_grad(m)
    assert key_after is None  # outside the block PyTensor compiles Psi its own way again
