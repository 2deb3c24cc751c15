"""A model declared once as a small graph of framework-neutral layers."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from dlbench.errors import ConfigError
from dlbench.graph.layers import Dense, Dropout, Flatten, Layer, Param, Shape

INPUT = "input"


@dataclass(frozen=True)
class Node:
    name: str
    layer: Layer
    inputs: tuple[str, ...]


class Graph:
    """Nodes in topological order; the last node is the output (logits, no softmax).

    Shapes, parameters and MACs are computed from the declaration alone.
    """

    def __init__(self, name: str, input_shape: Shape, nodes: list[Node], num_classes: int):
        self.name, self.input_shape, self.nodes, self.num_classes = name, tuple(input_shape), list(nodes), num_classes
        self.shapes: dict[str, Shape] = {INPUT: self.input_shape}
        for node in self.nodes:
            if len(node.inputs) != node.layer.arity:
                raise ConfigError(f"{name}: node {node.name} takes {node.layer.arity} input(s), got {len(node.inputs)}")
            try:
                self.shapes[node.name] = node.layer.output_shape(*(self.shapes[i] for i in node.inputs))
            except ConfigError as e:
                raise ConfigError(f"{name}: node {node.name}: {e}") from None
        per_token = (self.input_shape[0], num_classes) if len(self.input_shape) == 1 else None
        if self.output_shape not in ((num_classes,), per_token):
            raise ConfigError(f"{name}: output shape {self.output_shape} is not ({num_classes},), nor "
                              f"({self.input_shape[0]}, {num_classes}) for a next-token prediction per position")

    @property
    def output_shape(self) -> Shape:
        return self.shapes[self.nodes[-1].name]

    @property
    def is_sequential(self) -> bool:
        """True when each node reads only the node before it (a plain chain)."""
        prev = INPUT
        for node in self.nodes:
            if node.inputs != (prev,):
                return False
            prev = node.name
        return True

    def input_shapes(self, node: Node) -> tuple[Shape, ...]:
        return tuple(self.shapes[i] for i in node.inputs)

    def named_params(self) -> Iterator[tuple[str, Node, str, Param]]:
        """Every parameter as ``("node.param", node, param name, Param)``, in declaration order:
        the one walk over the canonical parameters that counts, initialises and converts them."""
        for node in self.nodes:
            for pname, p in node.layer.params(*self.input_shapes(node)).items():
                yield f"{node.name}.{pname}", node, pname, p

    def params(self) -> dict[str, Param]:
        """Every parameter as ``"node.param" -> Param``, in declaration order."""
        return {key: p for key, _, _, p in self.named_params()}

    def count_params(self) -> tuple[int, int]:
        """(trainable, non-trainable) parameter counts; batch-norm statistics are non-trainable."""
        counts = [0, 0]
        for _, _, _, p in self.named_params():
            counts[not p.trainable] += p.size
        return counts[0], counts[1]

    def macs(self) -> int:
        """Forward multiply-accumulates per sample (weight layers only)."""
        return sum(node.layer.macs(*self.input_shapes(node)) for node in self.nodes)

    def flatten_source(self, node: Node) -> Shape | None:
        """For a Dense node fed (through dropouts) by a Flatten of an (H, W, C) tensor, that shape.

        Backends that flatten channels-first (PyTorch) must permute this Dense's kernel rows.
        """
        by_name = {n.name: n for n in self.nodes}
        src = node.inputs[0]
        while src in by_name and isinstance(by_name[src].layer, Dropout):
            src = by_name[src].inputs[0]
        if src in by_name and isinstance(by_name[src].layer, Flatten):
            shape = self.shapes[by_name[src].inputs[0]]
            return shape if len(shape) == 3 else None
        return None

    def without_dropout(self) -> "Graph":
        """The same graph with every dropout rate set to 0 (for exact cross-backend checks): Dropout
        layers, and the dropout inside a layer that has its own (attention's, on its weights)."""
        nodes = [dataclasses.replace(n, layer=_without_dropout(n.layer)) for n in self.nodes]
        return Graph(self.name, self.input_shape, nodes, self.num_classes)

    def summary(self) -> list[tuple[str, str, Shape, int]]:
        """(node, layer kind, output shape, parameter count) per node."""
        sizes = Counter()
        for _, node, _, p in self.named_params():
            sizes[node.name] += p.size
        return [(node.name, node.layer.kind, self.shapes[node.name], sizes[node.name]) for node in self.nodes]


def _without_dropout(layer):
    if isinstance(layer, Dropout):
        return Dropout(0.0)
    if dataclasses.is_dataclass(layer) and any(f.name == "dropout" for f in dataclasses.fields(layer)):
        return dataclasses.replace(layer, dropout=0.0)
    return layer


class GraphBuilder:
    """Builds a :class:`Graph`; ``x = b(Conv2d(...), x)`` adds a node and returns its name."""

    def __init__(self, name: str, input_shape: Shape):
        self.name, self.input_shape = name, tuple(input_shape)
        self.nodes: list[Node] = []
        self._counts: Counter[str] = Counter()

    @property
    def input(self) -> str:
        return INPUT

    def __call__(self, layer: Layer, *inputs: str, name: str | None = None) -> str:
        if name is None:
            self._counts[layer.kind] += 1
            name = f"{layer.kind}{self._counts[layer.kind]}"
        if name == INPUT or any(n.name == name for n in self.nodes):
            raise ConfigError(f"{self.name}: duplicate node name {name!r}")
        self.nodes.append(Node(name, layer, tuple(inputs)))
        return name

    def chain(self, x: str, *layers: Layer) -> str:
        for layer in layers:
            x = self(layer, x)
        return x

    def build(self, num_classes: int) -> Graph:
        return Graph(self.name, self.input_shape, self.nodes, num_classes)


def sequential(name: str, input_shape: Shape, layers: list[Layer]) -> Graph:
    """A plain chain of layers; the last one must produce ``num_classes`` logits."""
    b = GraphBuilder(name, input_shape)
    b.chain(b.input, *layers)
    last = layers[-1]
    if not isinstance(last, Dense):
        raise ConfigError(f"{name}: a sequential classifier must end with Dense, not {last.kind}")
    return b.build(last.units)
