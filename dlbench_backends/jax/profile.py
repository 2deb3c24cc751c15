"""``dlbench explain`` on JAX: ``jax.profiler.trace`` over the real step.

On the CPU the trace (``*.trace.json.gz``) has one event per executed thunk of the step's XLA
program, with ``args.hlo_op`` naming its instruction. The compiled program's HLO text says which
layers each instruction computes (:mod:`dlbench.explain.hlo`): Flax's module scopes carry the node
names, and for the layers that are functions rather than modules (activations, pooling, Add), the
profiled model is the backend's module with each node's ops in a ``jax.named_scope`` of its name,
which changes the program's metadata only. ``transpose(jvp(...))`` marks the backward pass; what
the step computes outside ``jvp`` is the optimizer's update (or the dropout keys' split).

The program's text comes from compiling the step's function again for the same arguments: the
worker's persistent compilation cache (a folder of this explain run) returns the executable the
step itself compiled, so the names are those of the program that ran.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import json
import os
import time

import jax

from dlbench.explain import hlo, timeline
from dlbench.explain.breakdown import OPTIMIZER, OUTSIDE, RANDOM
from dlbench_backends.jax.backend import make_train_fn
from dlbench_backends.jax.model import GraphModule
from dlbench_backends.jax.optim import make_optimizer

STEP = "dlbench.step"
UNKNOWN = "ops the program's text does not name (not attributable)"


class ScopedGraphModule(GraphModule):
    """The graph module with each node's ops in a named scope of the node's name."""

    def _apply(self, node, layer, xs, train, embeddings):
        with jax.named_scope(node.name):
            return super()._apply(node, layer, xs, train, embeddings)


def prepare(backend, model, graph, folder: str) -> None:
    """Name every node's ops (the module's metadata), and keep compiled programs in ``folder``."""
    jax.config.update("jax_compilation_cache_dir", os.path.join(folder, "xla-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if type(model.module) is GraphModule:
        m = model.module
        model.module = ScopedGraphModule(**{f.name: getattr(m, f.name) for f in dataclasses.fields(m)
                                            if f.init and f.name not in ("parent", "name")})


def _classifier(nodes: set[str]) -> hlo.Classify:
    def classify(op_name: str):
        if not op_name.startswith("jit("):  # a parameter's name, or an op XLA made up
            return None
        scopes = op_name.split("/")[:-1]
        node = next((s for s in scopes if s in nodes), None)
        phase = "backward" if any(s.startswith("transpose(") for s in scopes) else \
            "forward" if any(s.startswith("jvp(") for s in scopes) else None
        if node is not None:
            return node, phase or "forward"
        if phase is not None:
            return OUTSIDE, phase
        return (RANDOM, "other") if "threefry" in op_name or "random" in op_name else (OPTIMIZER, "optimizer")
    return classify


def profile(backend, model, graph, optimizer, step, batch, steps: int, folder: str) -> dict:
    x, y = batch
    program = make_train_fn(model.module, make_optimizer(optimizer), backend.loss_scaled).lower(
        model.params, model.batch_stats, model.opt_state, model.rng, x, y).compile()
    owners = hlo.Program(program.as_text()).attribute(_classifier({n.name for n in graph.nodes}))
    trace_dir = os.path.join(folder, "jax-trace")
    host = []
    jax.profiler.start_trace(trace_dir)
    try:
        for _ in range(steps):
            start = time.perf_counter()
            with jax.profiler.TraceAnnotation(STEP):
                backend.sync(step(x, y))
            host.append(time.perf_counter() - start)
    finally:
        jax.profiler.stop_trace()
    events = _events(trace_dir)
    windows = [(e["ts"] * 1e-6, (e["ts"] + e["dur"]) * 1e-6) for e in events if e["name"] == STEP]
    thunks, unknown = [], set()
    for e in events:
        name = (e.get("args") or {}).get("hlo_op")
        if name is None:
            continue
        at = owners.get(name)
        if at is None:
            unknown.add(name)
        key = (tuple(sorted(at.owners)), at.phase, at.inferred) if at else ((UNKNOWN,), "other", False)
        thunks.append((e["ts"] * 1e-6, (e["ts"] + e["dur"]) * 1e-6, e.get("tid"), key))
    ops = [(b, f, *key) for b, f, key in timeline.self_time(thunks)]
    note = "XLA instructions without metadata take the layer of their nearest consumers (inferred_s)"
    if unknown:
        note += f"; {len(unknown)} executed instructions are not in the program's text (e.g. {', '.join(sorted(unknown)[:3])})"
    return {"profiler": "jax.profiler trace of the executed thunks, mapped to nodes through the compiled HLO's "
                        "op_name metadata (Flax scopes, a named scope per node)",
            "attributable": True, "note": note, "steps": windows, "host_step_s": host, "ops": ops}


def _events(trace_dir: str) -> list[dict]:
    paths = sorted(glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True), key=os.path.getmtime)
    with gzip.open(paths[-1]) as f:
        return [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]


def isolated_steps(backend, model):
    """(forward(x), forward_backward(x, y)) in training mode, jitted, each waiting for its result; the
    backward takes the gradients of the parameters and of the input."""
    import optax

    module, stats, key = model.module, model.batch_stats, jax.random.key(0)

    def apply(params, x):
        return module.apply({"params": params, "batch_stats": stats}, x, train=True, rngs={"dropout": key},
                            mutable=["batch_stats"])

    def loss(params, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(apply(params, x)[0], y).mean()

    forward, grads = jax.jit(apply), jax.jit(jax.grad(loss, argnums=(0, 1)))
    return (lambda x: jax.block_until_ready(forward(model.params, x)),
            lambda x, y: jax.block_until_ready(grads(model.params, x, y)))
