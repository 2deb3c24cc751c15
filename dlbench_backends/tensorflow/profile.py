"""``dlbench explain`` on TensorFlow: ``tf.profiler.experimental`` over the real step, read from the
XPlane it writes (``xplane_pb2``, shipped with TensorFlow).

Without XLA, each executed op is an event ``scope/op:Type`` whose scopes carry the Keras layer's
name (the node's; TensorFlow may append ``_1``), ``gradient_tape/`` marks the backward pass, and
the optimizer's ops are those computed from the gradients (found in the step's traced graph). Where
grappler fused a layer's op into the next layer's (a matmul into the activation after it), the
fused op's inputs in the traced graph name the layers it holds. With XLA, each executed thunk names
its HLO instruction, mapped to layers through the program's metadata (:mod:`dlbench.explain.hlo`),
whose op names are the same TensorFlow op names.
"""

from __future__ import annotations

import glob
import os
import re
import time

import tensorflow as tf

from dlbench.explain import hlo, timeline
from dlbench.explain.breakdown import OPTIMIZER, OUTSIDE

STEP = "dlbench.step"
BACKWARD = "gradient_tape/"
#: what grappler fuses into a conv or a matmul: walked back from a fused op to the conv or matmul
_FUSABLE = {"BiasAdd", "BiasAddV1", "Add", "AddV2", "Relu", "Relu6", "Tanh", "Sigmoid", "Elu", "LeakyRelu", "Selu",
            "Softplus", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "Mul", "Cast", "Identity"}
_CONTRACTIONS = {"Conv2D", "MatMul", "BatchMatMulV2", "DepthwiseConv2dNative", "Conv3D"}


def prepare(backend, model, graph, folder: str) -> None:
    """Nothing to change: Keras layers carry the nodes' names."""


def _node(op_name: str, nodes: set[str]) -> str | None:
    for scope in op_name.split("/")[:-1]:
        scope = scope.split("__")[0]  # a padding layer before a conv: "conv1__pad"
        if scope in nodes:
            return scope
        base = re.sub(r"_\d+$", "", scope)
        if base in nodes:
            return base
    return None


def _graph_facts(step, x, y, nodes: set[str]) -> tuple[set[str], dict]:
    """(the optimizer's op names: computed from gradients, not gradients themselves; the traced graph's ops)."""
    ops = {op.name: op for op in step.get_concrete_function(x, y).graph.get_operations()}
    seen, frontier = set(), [op for name, op in ops.items() if name.startswith(BACKWARD)]
    while frontier:
        op = frontier.pop()
        for out in op.outputs:
            for consumer in out.consumers():
                if consumer.name not in seen:
                    seen.add(consumer.name)
                    frontier.append(consumer)
        for consumer in op._control_outputs:
            if consumer.name not in seen:
                seen.add(consumer.name)
                frontier.append(consumer)
    return {n for n in seen if not n.startswith(BACKWARD)}, ops


def _classifier(nodes: set[str], optimizer: set[str]) -> hlo.Classify:
    def classify(op_name: str):
        node = _node(op_name, nodes)
        phase = "backward" if op_name.startswith(BACKWARD) else "forward"
        if node is not None:
            return node, phase
        if op_name in optimizer or op_name.split("/")[0] in optimizer:
            return OPTIMIZER, "optimizer"
        return OUTSIDE, phase
    return classify


def _fused_nodes(op, nodes: set[str]) -> set[str]:
    """The nodes of the ops grappler fused into ``op`` (named after the last of them)."""
    found = set()
    for _ in range(6):
        if (n := _node(op.name, nodes)) is not None:
            found.add(n)
        if op.type in _CONTRACTIONS or op.type not in _FUSABLE or not op.inputs:
            break
        op = op.inputs[0].op
    return found


def profile(backend, model, graph, optimizer, step, batch, steps: int, folder: str) -> dict:
    x, y = batch
    nodes = {n.name for n in graph.nodes}
    optimizer_ops, traced = _graph_facts(step, x, y, nodes)
    classify = _classifier(nodes, optimizer_ops)
    xla = bool(backend.settings.get("xla"))
    owners = hlo.Program(step.experimental_get_compiler_ir(x, y)(stage="optimized_hlo")).attribute(classify) \
        if xla else None
    logdir = os.path.join(folder, "tf-trace")
    host = []
    tf.profiler.experimental.start(logdir)
    try:
        for _ in range(steps):
            start = time.perf_counter()
            with tf.profiler.experimental.Trace(STEP):
                backend.sync(step(x, y))
            host.append(time.perf_counter() - start)
    finally:
        tf.profiler.experimental.stop()
    windows, events = _events(logdir)
    ops = []
    for begin, end, thread, name, op_type, hlo_op in events:
        if xla and hlo_op is not None:
            at = owners.get(hlo_op)
            key = (tuple(sorted(at.owners)), at.phase, at.inferred) if at else ((OUTSIDE,), "other", False)
        elif not xla and op_type:
            owner, phase = classify(name)
            held = _fused_nodes(traced[name], nodes) if "Fused" in op_type and name in traced else set()
            key = (tuple(sorted(held | ({owner} if owner in nodes else set()))) or (owner,), phase, False)
        else:
            continue
        ops.append((begin, end, thread, key))
    method = ("the compiled HLO's op_name metadata (TensorFlow op names)" if xla else
              "the op names' Keras scopes, and the traced graph for fused ops and the optimizer")
    return {"profiler": f"tf.profiler.experimental XPlane ({'XLA thunks' if xla else 'executed ops'}), mapped to "
                        f"nodes through {method}",
            "attributable": True, "note": "XLA instructions without metadata take the layer of their nearest "
                                          "consumers (inferred_s)" if xla else None,
            "steps": windows, "host_step_s": host,
            "ops": [(b, f, *key) for b, f, key in timeline.self_time(ops)]}


def _events(logdir: str):
    """(the step windows, every event as (begin, end, thread, name, op type or None, hlo_op or None)), seconds."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True), key=os.path.getmtime)[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    windows, events = [], []
    for plane in space.planes:
        if not plane.name.startswith("/host:"):
            continue
        stat_names = {k: v.name for k, v in plane.stat_metadata.items()}
        for line in plane.lines:
            for e in line.events:
                meta = plane.event_metadata[e.metadata_id]
                begin = line.timestamp_ns * 1e-9 + e.offset_ps * 1e-12
                end = begin + e.duration_ps * 1e-12
                if meta.name == STEP:
                    windows.append((begin, end))
                    continue
                hlo_op = next((s.str_value or stat_names.get(s.ref_value) for s in e.stats
                               if stat_names.get(s.metadata_id) == "hlo_op"), None)
                op_type = meta.display_name if meta.name.endswith(":" + meta.display_name) and meta.display_name else None
                if hlo_op or op_type:
                    events.append((begin, end, line.id, meta.name.rpartition(":")[0] if op_type else meta.name,
                                   op_type, hlo_op))
    return sorted(windows), events


def isolated_steps(backend, model):
    """(forward(x), forward_backward(x, y)) in training mode, as ``tf.function`` (with XLA where the run
    uses it), each waiting for its result; the backward takes the gradients of the parameters and of
    the input."""
    from dlbench_backends.tensorflow.backend import cross_entropy

    net, xla = model.model, bool(backend.settings.get("xla"))
    params = [v.value for v in net.trainable_variables]

    @tf.function(jit_compile=xla)
    def forward(x):
        return tf.reduce_sum(net(x, training=True))

    @tf.function(jit_compile=xla)
    def grads(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = cross_entropy(net(x, training=True), y)
        with tf.control_dependencies(tape.gradient(loss, [*params, x])):
            return tf.identity(loss)

    return lambda x: backend.sync(forward(x)), lambda x, y: backend.sync(grads(x, y))
