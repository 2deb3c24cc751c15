"""JAX's export path (``--serve export``): the jitted eval function exported with ``jax.export``
(StableHLO, serialised) and the weights serialised beside it with Flax; both are read back, the
program deserialised and called with the loaded weights, as a deployment without the model's
Python code would."""

from __future__ import annotations

from pathlib import Path

import jax
from flax import serialization
from jax import export as jax_export

from dlbench_backends.jax.backend import make_eval_fn

LABEL = "jax.export"
DESCRIPTION = ("the jitted eval function exported with jax.export (serialised StableHLO) and the weights "
               "serialised with flax.serialization, read back and called with jax.jit(Exported.call)")


def export(backend, model, x, folder: Path):
    variables = {"params": model.params, "batch_stats": model.batch_stats}
    spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
    exported = backend._scoped(model, lambda: jax_export.export(make_eval_fn(model.module))(
        model.params, model.batch_stats, spec))()  # under a native module's matmul precision
    (folder / "model.stablehlo").write_bytes(exported.serialize())
    (folder / "weights.msgpack").write_bytes(serialization.to_bytes(variables))

    program = jax_export.deserialize(bytearray((folder / "model.stablehlo").read_bytes()))
    loaded = serialization.from_bytes(variables, (folder / "weights.msgpack").read_bytes())
    params, batch_stats = jax.device_put((loaded["params"], loaded["batch_stats"]), backend.state_placement)
    call = jax.jit(program.call)

    def step(x):
        return call(params, batch_stats, x)

    return step
