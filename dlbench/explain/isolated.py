"""Each distinct layer configuration timed alone, forward and forward + backward, at the run's
batch size, in the style of the convnet-benchmarks layer tables: a one-layer graph plus a minimal
head (global average pool and dense, or dense), minus the head alone, the two timed in turn round
by round. Gradients are taken with respect to the parameters and the input, as a layer inside a
network computes them. Fusion is absent, so the layers' sum is not the step."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from dlbench.explain.groups import configuration, group
from dlbench.graph import INPUT, Dense, Flatten, GlobalAvgPool2d, Graph, Node, init_weights

Progress = Callable[..., None]


def _head(shape: tuple[int, ...], num_classes: int) -> list:
    pool = [GlobalAvgPool2d()] if len(shape) == 3 else [Flatten()] if len(shape) == 2 else []
    return [*pool, Dense(num_classes)]


def _graph(name: str, input_shape, layer, arity: int, num_classes: int, out_shape) -> Graph:
    nodes = [Node("layer", layer, (INPUT,) * arity)] if layer is not None else []
    previous = "layer" if layer is not None else INPUT
    for i, head in enumerate(_head(out_shape, num_classes)):
        nodes.append(Node(f"head{i}", head, (previous,)))
        previous = f"head{i}"
    return Graph(name, input_shape, nodes, num_classes)


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class _Steps:
    """A graph's forward and forward + backward on random inputs, built by the backend."""

    def __init__(self, backend, profiler, graph: Graph, batch: int, seed: int):
        rng = np.random.default_rng(seed)
        model = backend.build(graph, init_weights(graph, seed))
        x = rng.standard_normal((batch, *graph.input_shape)).astype(np.float32)
        y = rng.integers(0, graph.num_classes, batch)
        self.x, self.y = backend.to_device(x, y)
        self.forward, self.backward = profiler.isolated_steps(backend, model)

    def times(self) -> tuple[float, float]:
        return _timed(lambda: self.forward(self.x)), _timed(lambda: self.backward(self.x, self.y))


def measure(graph: Graph, backend, profiler, batch: int, rounds: int, seed: int, progress: Progress) -> dict:
    """The record's ``breakdown.isolated``: per configuration and per group, seconds per step."""
    configs: dict[tuple, list[str]] = {}
    for node in graph.nodes:
        configs.setdefault(configuration(graph, node), []).append(node.name)
    heads: dict[tuple, _Steps] = {}
    timed = []
    progress("phase", name="timing layers alone", total=len(configs))
    for i, ((layer, in_shapes), names) in enumerate(configs.items()):
        out = graph.shapes[names[0]]
        entry = {"group": group(layer, in_shapes), "layer": repr(layer), "input_shape": list(in_shapes[0]),
                 "nodes": names}
        try:
            if len(set(in_shapes)) > 1:
                raise ValueError("its inputs differ in shape; one input cannot feed both")
            alone = _Steps(backend, profiler, _graph("isolated", in_shapes[0], layer, len(in_shapes),
                                                      graph.num_classes, out), batch, seed)
            if out not in heads:
                heads[out] = _Steps(backend, profiler, _graph("head", out, None, 1, graph.num_classes, out), batch, seed)
            entry.update(_difference(alone, heads[out], rounds))
        except Exception as e:  # one layer that cannot stand alone must not lose the others
            entry["error"] = f"{type(e).__name__}: {e}"
        timed.append(entry)
        progress("step", done=i + 1, total=len(configs), loss=None, epoch=0)
    return {"rounds": rounds, "configurations": timed, "rows": _rows(timed)}


def _difference(alone: _Steps, head: _Steps, rounds: int) -> dict:
    """Medians over rounds, each round timing the layer with its head and the head alone in turn."""
    alone.times(), head.times()  # warm-up: compilation, allocator
    pairs = [(alone.times(), head.times()) for _ in range(rounds)]
    fwd = float(np.median([a[0] for a, _ in pairs]) - np.median([h[0] for _, h in pairs]))
    both = float(np.median([a[1] for a, _ in pairs]) - np.median([h[1] for _, h in pairs]))
    return {"forward_s": fwd, "backward_s": both - fwd}


def _rows(timed: list[dict]) -> list[dict]:
    """Per group: each node's configuration time, summed over the group's nodes."""
    rows: dict[str, dict] = {}
    for entry in timed:
        row = rows.setdefault(entry["group"], {"group": entry["group"], "layers": 0, "forward_s": 0.0,
                                               "backward_s": 0.0, "untimed": 0})
        if "error" in entry:
            row["untimed"] += len(entry["nodes"])
            continue
        row["layers"] += len(entry["nodes"])
        row["forward_s"] += entry["forward_s"] * len(entry["nodes"])
        row["backward_s"] += entry["backward_s"] * len(entry["nodes"])
    return sorted(rows.values(), key=lambda r: -(r["forward_s"] + r["backward_s"]))
