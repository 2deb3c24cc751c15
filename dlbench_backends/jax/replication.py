"""The JAX backend's side of data parallelism: a ``Mesh`` over N devices of one process, the batch
sharded along its ``data`` axis and the state replicated; ``jax.jit`` partitions the step."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dlbench.errors import ConfigError
from dlbench_backends.jax.distributed import ENGINE


def replicate(backend, replicas: int) -> dict:
    platform = backend.jax_device.platform
    devices = jax.devices(platform)
    if len(devices) < replicas:
        raise ConfigError(f"jax: --replicas {replicas} but JAX sees {len(devices)} {platform} "
                          f"device(s): {', '.join(str(d) for d in devices)}")
    mesh = Mesh(np.array(devices[:replicas]), ("data",))
    backend.batch_placement = NamedSharding(mesh, PartitionSpec("data"))
    backend.state_placement = NamedSharding(mesh, PartitionSpec())
    backend.replicas = replicas
    return {"engine": ENGINE.format(n=replicas), "processes": 1,
            "devices": [str(d) for d in devices[:replicas]],
            "batch_norm": "synchronised: one SPMD program computes the global batch's statistics",
            "threads_per_replica": "XLA:CPU host devices share the process's thread pool"
            if platform == "cpu" else None}
