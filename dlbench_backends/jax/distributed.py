"""JAX data parallelism: ``jax.jit`` partitions the train step over a ``Mesh`` whose ``data`` axis
shards the batch (parameters replicated, gradients all-reduced by XLA).

In one process the mesh spans its N devices (on the CPU, host devices: ``jax_num_cpu_devices``,
set before JAX starts its CPU client, here). In several processes (``--processes``, or one per task
of ``srun``, ``torchrun`` or a plain start) each process first joins the others with
``jax.distributed.initialize`` at the coordinator :mod:`dlbench.execution.launcher` names, and the
mesh spans every process's devices; the CPU's cross-process collectives run over gloo. Started as
one command, dlbench starts the processes itself (:mod:`dlbench.execution.local_launch`).
"""

from __future__ import annotations

from typing import Callable

from dlbench.execution import launcher, local_launch

ENGINE = "jax.jit over a Mesh of {n} devices in {p} process(es): batch sharded along 'data', parameters replicated (NamedSharding)"
#: seconds without a heartbeat after which the coordination service declares a process dead and
#: stops the others; and the most the processes wait for each other at the start
HEARTBEAT_TIMEOUT_S = 20
INITIALIZATION_TIMEOUT_S = 120


def launch(job_ref: str, payload: dict, replicas: int, progress: Callable[..., None]) -> dict:
    import jax

    from dlbench.execution.replicas import load
    from dlbench.measure.prepare import quiet

    group = launcher.group(replicas, payload.get("processes"))
    if group.to_start:
        return local_launch.start(job_ref, payload, group.processes, progress)
    cpu = payload.get("device", "cpu") == "cpu"
    if cpu:
        jax.config.update("jax_num_cpu_devices", group.local_replicas)
    if group.processes > 1:
        if cpu:
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(group.launch.coordinator, group.processes, group.rank,
                                   initialization_timeout=INITIALIZATION_TIMEOUT_S,
                                   heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_S)
        _agree(payload)
    return load(job_ref)(payload, progress if group.rank == 0 else quiet)


def _agree(payload: dict) -> None:
    import numpy as np
    from jax.experimental import multihost_utils

    mine = np.frombuffer(launcher.digest(payload), np.int32)
    launcher.check_agreement([row.tobytes() for row in np.asarray(multihost_utils.process_allgather(mine))])
