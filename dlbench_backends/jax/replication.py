"""The JAX backend's side of data parallelism: a ``Mesh`` over the N devices of every process, the
batch sharded along its ``data`` axis and the state replicated; ``jax.jit`` partitions the step.
In several processes each feeds its own part of the global batch and reads back what the others
computed through XLA's collectives."""

from __future__ import annotations

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dlbench.data.batching import shard
from dlbench.errors import ConfigError
from dlbench.execution import launcher
from dlbench_backends.jax.distributed import ENGINE


def replicate(backend, replicas: int) -> dict:
    platform = backend.jax_device.platform
    devices = jax.devices(platform)  # every process's, process 0's first
    if len(devices) < replicas:
        raise ConfigError(f"jax: --replicas {replicas} but JAX sees {len(devices)} {platform} "
                          f"device(s): {', '.join(str(d) for d in devices)}")
    mesh = Mesh(np.array(devices[:replicas]), ("data",))
    backend.batch_placement = NamedSharding(mesh, PartitionSpec("data"))
    backend.state_placement = NamedSharding(mesh, PartitionSpec())
    backend.replicas = replicas
    processes = jax.process_count()
    group = launcher.group(replicas, processes)
    return {"engine": ENGINE.format(n=replicas, p=processes), **group.facts(),
            "collectives": "XLA in-process" if processes == 1 else
            "gloo (jax_cpu_collectives_implementation)" if platform == "cpu" else "NCCL (XLA)",
            "devices": [str(d) for d in devices[:replicas]],
            "batch_norm": "synchronised: one SPMD program computes the global batch's statistics",
            "threads_per_replica": None if platform != "cpu" else "XLA:CPU host devices share the process's thread pool"
            if processes == 1 else "each process has XLA:CPU's own thread pool"}


def place(backend, a: np.ndarray) -> jax.Array:
    """A global batch on the mesh: in several processes, each gives only its own part."""
    if jax.process_count() == 1:
        return jax.device_put(a, backend.batch_placement)
    part = shard(a, jax.process_index(), jax.process_count())
    return jax.make_array_from_process_local_data(backend.batch_placement, part, a.shape)


def key(backend, seed: int) -> jax.Array:
    """A PRNG key on the state's placement. In several processes it is put there from host data:
    ``device_put`` takes no key array onto other processes' devices."""
    made = jax.random.key(seed)
    if jax.process_count() == 1:
        return jax.device_put(made, backend.state_placement)
    data = jax.device_put(np.asarray(jax.random.key_data(made)), backend.state_placement)
    return jax.random.wrap_key_data(data, impl=jax.random.key_impl(made))


def gather(value) -> np.ndarray:
    """The whole of an array that other processes hold parts of (every process calls this)."""
    if not isinstance(value, jax.Array) or value.is_fully_addressable or value.is_fully_replicated:
        return np.asarray(value)
    return np.asarray(multihost_utils.process_allgather(value, tiled=True))
