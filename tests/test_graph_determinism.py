"""recipes_utils.graph_determinism: the same compiled graph, so the same PyTensor cache key, in every process."""

import subprocess
import sys
import textwrap

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.traversal import ancestors
from pytensor.tensor import extra_ops

from recipes_utils import graph_determinism
from recipes_utils.graph_determinism import _version, deterministic_shapes, needs_fix

pytestmark = pytest.mark.skipif(not needs_fix(), reason="this PyTensor's broadcast_shape_iter is deterministic")


def reference_index(n=5) -> int:
    """Which of ``n`` vectors of unknown length broadcast_shape compares the others with."""
    vs = [pt.vector(f"v{i}") for i in range(n)]
    (dim,) = extra_ops.broadcast_shape(*vs)
    ref = dim.owner.inputs[0]  # Assert(reference length, condition)
    return next(i for i, v in enumerate(vs) if v in set(ancestors([ref])))


def test_pytensors_own_choice_follows_memory_addresses():
    # The bug the module works around: if this fails, PyTensor has become deterministic and the module can go.
    assert len({reference_index() for _ in range(100)}) > 1


def test_inside_the_block_the_first_length_given_is_the_reference():
    with deterministic_shapes():
        assert {reference_index() for _ in range(100)} == {0}


def test_broadcasting_still_checks_the_lengths():
    x, y, z = pt.vectors("x", "y", "z")
    with deterministic_shapes():
        (dim,) = extra_ops.broadcast_shape(x, y, z)
        f = pytensor.function([x, y, z], dim, mode="FAST_COMPILE")
    assert f(np.zeros(3), np.zeros(3), np.zeros(3)) == 3
    with pytest.raises(AssertionError, match="Could not broadcast"):
        f(np.zeros(3), np.zeros(4), np.zeros(3))


def test_pytensor_is_put_back_after_the_block_nested_or_failed():
    original = extra_ops.broadcast_shape_iter
    with deterministic_shapes():
        patched = extra_ops.broadcast_shape_iter
        assert patched is not original and patched.__wrapped__ is original
        with deterministic_shapes():
            assert extra_ops.broadcast_shape_iter is patched
        assert extra_ops.broadcast_shape_iter is patched  # the inner block does not restore early
    assert extra_ops.broadcast_shape_iter is original
    with pytest.raises(RuntimeError), deterministic_shapes():
        raise RuntimeError("a failed compile")
    assert extra_ops.broadcast_shape_iter is original


def test_a_fixed_pytensor_is_left_alone(monkeypatch):
    monkeypatch.setattr(graph_determinism, "needs_fix", lambda: False)
    original = extra_ops.broadcast_shape_iter
    with deterministic_shapes():
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
    from recipes_utils.graph_determinism import deterministic_shapes

    # one row per measurement: three data arrays of the same unknown length meet in the likelihood
    model = hierarchical_four_pl(simulate_dose_response(4, 64, seed=1).data, parameterization="centered")
    with deterministic_shapes():
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
