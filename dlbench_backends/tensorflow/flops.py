"""FLOP statistics for ``Einsum``, which ``tf.compat.v1.profiler`` has none for: without them it counts
zero for Keras's EinsumDense projections and attention's einsums. Registered through TensorFlow's own
hook (``ops.RegisterStatistics``), counted as the profiler counts MatMul: 2 FLOPs per multiply-add."""

from __future__ import annotations

import math

from tensorflow.python.framework import graph_util, ops


def _einsum_flops(graph, node) -> ops.OpStats:
    operands = node.attr["equation"].s.decode().split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for operand, name in zip(operands, node.input):
        shape = graph_util.tensor_shape_from_node_def_name(graph, name)
        if "." in operand or not shape.is_fully_defined():  # an ellipsis, or an unknown size: not counted
            return ops.OpStats("flops")
        sizes.update(zip(operand, shape.as_list()))
    # every combination of the indices is one multiply-add of a contraction (one op of a transpose)
    return ops.OpStats("flops", (2 if len(operands) > 1 else 1) * math.prod(sizes.values()))


def register() -> None:
    """Registers the Einsum statistics once per process."""
    try:
        ops.RegisterStatistics("Einsum", "flops")(_einsum_flops)
    except KeyError:  # already registered
        pass
