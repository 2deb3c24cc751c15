"""JAX data parallelism: one process drives N devices; ``jax.jit`` partitions the train step over a
``Mesh`` whose ``data`` axis shards the batch (parameters replicated, gradients all-reduced by XLA).

On the CPU the N devices are host devices (``jax_num_cpu_devices``), which must be set before JAX
starts its CPU client: ``launch`` does it first. They share the process's cores.
Several processes (``jax.distributed.initialize``, one per machine) are not supported yet: the
batch would have to be assembled from per-process shards.
"""

from __future__ import annotations

from typing import Callable

ENGINE = "jax.jit over a Mesh of {n} devices: batch sharded along 'data', parameters replicated (NamedSharding)"


def launch(job_ref: str, payload: dict, replicas: int, progress: Callable[..., None]) -> dict:
    import jax

    from dlbench.execution.replicas import load

    if payload.get("device", "cpu") == "cpu":
        jax.config.update("jax_num_cpu_devices", replicas)
    return load(job_ref)(payload, progress)
