"""The TensorFlow backend's side of data parallelism: a MirroredStrategy over N devices, a train step
that all-reduces the replicas' gradients through the strategy, and the batch split between replicas."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

from dlbench.errors import ConfigError
from dlbench.optim import OptimizerSpec
from dlbench.precision import LOSS_SCALED
from dlbench.execution import launcher
from dlbench_backends.tensorflow import distributed
from dlbench_backends.tensorflow.distributed import ENGINE, MULTI_WORKER_ENGINE
from dlbench_backends.tensorflow.model import input_dtype
from dlbench_backends.tensorflow.optim import Optimizer, dense, make_optimizer

SUM = tf.distribute.ReduceOp.SUM


def replicate(backend, replicas: int) -> dict:
    if backend.precision == LOSS_SCALED:
        raise ConfigError("tensorflow: --replicas with float16 loss scaling is not supported yet")
    if distributed.joined() is not None:
        return _multi_worker(backend, replicas, distributed.joined())
    if backend.device == "cpu":
        cpu = tf.config.list_physical_devices("CPU")[0]
        if len(tf.config.get_logical_device_configuration(cpu) or ()) < replicas:  # once per process
            try:
                tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
            except RuntimeError as e:
                raise ConfigError(f"tensorflow: cannot split the CPU into {replicas} logical devices: {e}") from None
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:replicas]
        ops = tf.distribute.ReductionToOneDevice()
    else:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")][:replicas]
        ops = tf.distribute.NcclAllReduce()
    if len(devices) < replicas:
        raise ConfigError(f"tensorflow: --replicas {replicas} but TensorFlow sees {len(devices)} "
                          f"{backend.device.upper()} device(s)")
    backend.strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=ops)
    backend.replicas = replicas
    return {"engine": ENGINE.format(n=replicas, kind=backend.device.upper(), ops=type(ops).__name__),
            **launcher.group(replicas, 1).facts(), "collectives": type(ops).__name__, "devices": devices,
            "batch_norm": "per replica (Keras BatchNormalization is not synchronised under MirroredStrategy)",
            "threads_per_replica": "TensorFlow's inter/intra-op pools are shared by the logical CPU devices"
            if backend.device == "cpu" else None}


def _multi_worker(backend, replicas: int, strategy) -> dict:
    if strategy.num_replicas_in_sync != replicas:
        raise ConfigError(f"tensorflow: --replicas {replicas} but the worker processes hold "
                          f"{strategy.num_replicas_in_sync} replicas")
    backend.strategy, backend.replicas = strategy, replicas
    group = launcher.group(replicas, None)
    return {"engine": MULTI_WORKER_ENGINE.format(p=group.processes, n=replicas), **group.facts(),
            "collectives": distributed.collectives(), "devices": list(strategy.extended.worker_devices),
            "batch_norm": "per replica (Keras BatchNormalization is not synchronised across workers)",
            "threads_per_replica": "each worker process has TensorFlow's own inter/intra-op pools"
            if backend.device == "cpu" else None}


def mirrored_step(backend, net, spec: OptimizerSpec, loss_fn: Callable) -> Callable[[Any, Any], Any]:
    """``step(x, y)`` on per-replica batches: gradients per replica (XLA as configured), summed by
    the strategy, applied to every copy of the variables by the same update rule."""
    strategy, n = backend.strategy, backend.replicas
    params = [v.value for v in net.trainable_variables]
    with strategy.scope():
        opt = make_optimizer(spec, params)
    update = getattr(Optimizer, f"_{spec.name}")

    @tf.function(jit_compile=backend.settings["xla"])
    def gradients(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(net(x, training=True), y) / n  # this slice's share of the global mean
        return loss, dense(tape.gradient(loss, params))

    def apply(p, g, slots, t):
        update(p, tf.cast(g, p.dtype), slots, t, spec)

    def on_replica(x, y):
        # pinned to the replica's device: XLA otherwise places every replica's program on the first
        # device, away from the other replicas' variables
        replica = tf.get_static_value(tf.distribute.get_replica_context().replica_id_in_sync_group)
        local = strategy.extended.worker_devices  # this process's: the replica's id counts every worker's
        with tf.device(local[replica % len(local)]):
            return gradients(x, y)

    @tf.function
    def step(x, y):
        losses, grads = strategy.run(on_replica, args=(x, y))
        grads = strategy.extended.batch_reduce_to(SUM, list(zip(grads, params)))
        t = None if opt.step is None else opt.step.assign_add(1.0)
        for i, (p, g) in enumerate(zip(params, grads)):
            strategy.extended.update(p, apply, args=(g, [slot[i] for slot in opt.slots], t), group=False)
        return strategy.reduce(SUM, losses, axis=None)

    return step


def distribute(backend, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """Each replica's slice of the global batch, placed on its device."""
    per = len(x) // backend.replicas

    def part(a: np.ndarray, dtype) -> Callable:
        def fn(ctx):
            i = ctx.replica_id_in_sync_group
            return tf.identity(tf.convert_to_tensor(a[i * per:(i + 1) * per], dtype=dtype))
        return fn

    values = backend.strategy.experimental_distribute_values_from_function
    return values(part(x, input_dtype(x, backend.dtype))), values(part(y, tf.int64))
