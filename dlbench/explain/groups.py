"""Layer groups, defined from the declaration: a layer's kind plus what changes its cost's shape
(kernel, stride, groups), e.g. ``depthwise conv 3×3, stride 1`` or ``1×1 conv``."""

from __future__ import annotations

from dlbench.graph import Add, AvgPool2d, Conv2d, Graph, Layer, MaxPool2d, Node

Shape = tuple[int, ...]

#: readable names of layer kinds, where the kind alone is terse
KIND_NAMES = {"conv": "conv", "bn": "batch norm", "ln": "layer norm", "gap": "global avg pool", "add": "add",
              "maxpool": "max pool", "avgpool": "avg pool", "dense": "dense", "dropout": "dropout",
              "flatten": "flatten", "concat": "concat", "mha": "attention"}


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _window(size, stride) -> str:
    (kh, kw), (sh, sw) = _pair(size), _pair(stride if stride is not None else size)
    return f"{kh}×{kw}, stride {sh if sh == sw else f'{sh}×{sw}'}"


def _conv(layer: Conv2d, in_shape: Shape) -> str:
    (kh, kw), (sh, sw) = _pair(layer.kernel_size), _pair(layer.stride)
    stride = f", stride {sh if sh == sw else f'{sh}×{sw}'}"
    if layer.groups > 1 and layer.groups == in_shape[-1]:
        return f"depthwise conv {kh}×{kw}{stride}"
    grouped = f"grouped conv (groups {layer.groups}) " if layer.groups > 1 else "conv "
    if (kh, kw) == (1, 1):
        return f"1×1 {grouped.strip()}{stride if (sh, sw) != (1, 1) else ''}"
    return f"{grouped}{kh}×{kw}{stride}"


def group(layer: Layer, in_shapes: tuple[Shape, ...]) -> str:
    """The group of a layer with these input shapes."""
    if isinstance(layer, Conv2d):
        return _conv(layer, in_shapes[0])
    if isinstance(layer, (MaxPool2d, AvgPool2d)):
        return f"{KIND_NAMES[layer.kind]} {_window(layer.pool_size, layer.stride)}"
    if isinstance(layer, Add):
        return "add (residual)"
    return kind_name(layer)


def kind_name(layer: Layer) -> str:
    """The layer's kind in words (``batch norm``, ``relu6``), without its configuration."""
    return KIND_NAMES.get(layer.kind, layer.kind)


def node_groups(graph: Graph) -> dict[str, str]:
    """Every node's group, in declaration order."""
    return {n.name: group(n.layer, graph.input_shapes(n)) for n in graph.nodes}


def configuration(graph: Graph, node: Node) -> tuple:
    """What a layer's isolated timing depends on: the layer with its settings, and its input shapes.
    Nodes with the same configuration are timed once."""
    return (node.layer, graph.input_shapes(node))
