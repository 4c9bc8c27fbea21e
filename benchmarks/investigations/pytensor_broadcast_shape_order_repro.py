"""PyTensor 2.38 builds a different shape check for the same graph from one construction to the next.

    .venv/bin/python benchmarks/investigations/pytensor_broadcast_shape_order_repro.py

Pure PyTensor. ``broadcast_shape`` of three vectors of unknown length returns
``Assert(len_ref, all(len_ref == len_other, ...))``. PyTensor 2.38 picks ``len_ref`` by iterating a ``set`` of
variables, so the choice follows their memory addresses, not the order given. The script builds the shape 200 times
and counts which vector became the reference; every vector does, some of the time. The compiled graph, and so its
Numba cache key, changes with it: a model whose likelihood meets three data arrays of one length is compiled from
scratch in each new process. Draft report: ``pytensor-broadcast-shape-set-order.md``; what it cost the recipes:
``compile_cache.py`` (same folder).
"""

import collections

import pytensor
import pytensor.tensor as pt
from pytensor.graph.traversal import ancestors
from pytensor.tensor.extra_ops import broadcast_shape


def reference_index() -> int:
    """Which of three fresh vectors ``broadcast_shape`` compares the others against."""
    vs = [pt.vector(f"v{i}") for i in range(3)]
    (dim,) = broadcast_shape(*vs)
    ref = dim.owner.inputs[0]  # Assert(reference length, condition)
    return next(i for i, v in enumerate(vs) if v in set(ancestors([ref])))


if __name__ == "__main__":
    counts = collections.Counter(reference_index() for _ in range(200))
    print(f"PyTensor {pytensor.__version__}: reference length taken from vector 0 / 1 / 2 in", end=" ")
    print(f"{counts[0]} / {counts[1]} / {counts[2]} of 200 constructions")
    print("expected: always vector 0 (the order given)")
