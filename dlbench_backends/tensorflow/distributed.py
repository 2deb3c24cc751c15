"""TensorFlow data parallelism: ``tf.distribute.MirroredStrategy`` in one process driving N devices
(on the CPU, N logical CPU devices split from the physical one), or
``tf.distribute.MultiWorkerMirroredStrategy`` over several worker processes. Variables are mirrored,
each replica computes its slice's gradients, the strategy all-reduces them and updates every copy.

Several processes (``--processes``, or one per task of ``srun``, ``torchrun``, a plain start or a
``TF_CONFIG`` given by hand) form the strategy's cluster here, before anything else touches
TensorFlow's runtime, as the strategy requires: under ``srun`` from Slurm's variables
(``SlurmClusterResolver``), else workers on the coordinator's host at consecutive ports from
:attr:`dlbench.execution.launcher.Launch.port`. Started as one command, dlbench starts the worker
processes itself (:mod:`dlbench.execution.local_launch`).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable

from dlbench.errors import ConfigError
from dlbench.execution import launcher, local_launch

ENGINE = "tf.distribute.MirroredStrategy over {n} {kind} devices ({ops})"
MULTI_WORKER_ENGINE = "tf.distribute.MultiWorkerMirroredStrategy over {p} worker processes, {n} replicas"

#: seconds without a heartbeat after which the coordination service declares a worker dead
HEARTBEAT_TIMEOUT_S = 20

_joined: dict[str, Any] = {}  # the strategy of the workers this process joined


def launch(job_ref: str, payload: dict, replicas: int, progress: Callable[..., None]) -> dict:
    from dlbench.execution.replicas import load
    from dlbench.measure.prepare import quiet

    group = launcher.group(replicas, payload.get("processes"))
    if group.to_start:
        return local_launch.start(job_ref, payload, group.processes, progress)
    if group.processes > 1:
        _join(group, payload)
    return load(job_ref)(payload, progress if group.rank == 0 else quiet)


def joined() -> Any:
    """The MultiWorkerMirroredStrategy this process joined, None in a one-process run."""
    return _joined.get("strategy")


def collectives() -> str | None:
    """How the joined workers all-reduce, for the record."""
    return _joined.get("collectives")


def _join(group: launcher.Group, payload: dict) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    cpu = payload.get("device", "cpu") == "cpu"
    if cpu and group.local_replicas != 1:
        raise ConfigError(f"tensorflow: on the CPU each worker process is one replica; --replicas {group.replicas} "
                          f"needs --processes {group.replicas}, not {group.processes}")
    implementation = tf.distribute.experimental.CommunicationImplementation.RING if cpu else \
        tf.distribute.experimental.CommunicationImplementation.NCCL
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=implementation, timeout_seconds=launcher.collective_timeout(payload))
    _heartbeats()
    strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=_resolver(group.launch),
                                                         communication_options=options)
    _joined.update(strategy=strategy, collectives=f"{implementation.name} (CollectiveAllReduce)")
    _agree(strategy, payload, group.local_replicas)


def _heartbeats() -> None:
    """The coordination service the strategy starts, as it would configure it, but declaring a process
    dead after :data:`HEARTBEAT_TIMEOUT_S` without heartbeats (a hung one, too) rather than TensorFlow's
    default of minutes. Only a private call sets it: where it is missing, the default stays."""
    from tensorflow.python.eager import context

    with contextlib.suppress(AttributeError, TypeError):
        context.context().configure_coordination_service(
            service_type="standalone", service_leader="/job:worker/replica:0/task:0",
            heartbeat_timeout_in_ms=HEARTBEAT_TIMEOUT_S * 1000)


def _resolver(launch: launcher.Launch) -> Any:
    import tensorflow as tf

    resolvers = tf.distribute.cluster_resolver
    if launch.launcher == "tf_config":
        return resolvers.TFConfigClusterResolver()
    if launch.launcher == "slurm":  # the hosts from SLURM_STEP_NODELIST; GPUs as Slurm assigned them
        per_node = launch.local_world_size
        return resolvers.SlurmClusterResolver(jobs={"worker": launch.world_size}, port_base=launch.port,
                                              tasks_per_node=per_node, gpus_per_node=per_node, gpus_per_task=1,
                                              auto_set_gpu=False)
    if launch.nodes > 1:
        raise ConfigError(f"tensorflow: {launch.nodes} machines under {launch.launcher} need TF_CONFIG (every "
                          "worker's host:port) or srun; see docs/clusters.md#across-processes-and-machines")
    workers = [f"{launch.coordinator.rpartition(':')[0]}:{launch.port + i}" for i in range(launch.world_size)]
    return resolvers.SimpleClusterResolver(tf.train.ClusterSpec({"worker": workers}), task_type="worker",
                                           task_id=launch.rank, rpc_layer="grpc")


def _agree(strategy: Any, payload: dict, local_replicas: int) -> None:
    import numpy as np
    import tensorflow as tf

    mine = np.frombuffer(launcher.digest(payload), np.int64)
    gathered = strategy.gather(strategy.run(lambda: tf.constant(mine)[None]), axis=0).numpy()
    launcher.check_agreement([row.tobytes() for row in gathered[::local_replicas]])  # one row per process
