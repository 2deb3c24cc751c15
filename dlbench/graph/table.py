"""A declaration as a table: each node's layer, output shape, parameters and MACs, as ``dlbench
describe`` prints it, computed from the declaration alone."""

from __future__ import annotations

import dataclasses

from dlbench.graph.graph import Graph
from dlbench.graph.layers import Layer


def layer_text(layer: Layer) -> str:
    """``conv(filters=64, kernel_size=7, stride=2, padding=3, use_bias=False)``: the kind and every
    setting that differs from its default."""
    settings = [f"{f.name}={getattr(layer, f.name)!r}" for f in dataclasses.fields(layer)
                if (f.default is dataclasses.MISSING or getattr(layer, f.name) != f.default)
                and getattr(layer, f.name) != layer.kind]  # an activation's kind is its function
    return f"{layer.kind}({', '.join(settings)})"


def rows(graph: Graph) -> list[dict]:
    """One row per node: ``node``, ``layer``, ``inputs``, ``output``, ``params``, ``macs``."""
    out = []
    for node, (_, _, _, params) in zip(graph.nodes, graph.summary()):
        out.append({"node": node.name, "layer": layer_text(node.layer), "inputs": ", ".join(node.inputs),
                    "output": "×".join(map(str, graph.shapes[node.name])), "params": params,
                    "macs": node.layer.macs(*graph.input_shapes(node))})
    return out
