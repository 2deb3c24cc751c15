"""The torch backend's side of data parallelism, inside each replica's process: join the process
group, wrap the module in ``DistributedDataParallel``, take this replica's slice of the batch."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import torch
import torch.distributed as dist

from dlbench.environment import usable_cores
from dlbench.errors import ConfigError
from dlbench_backends.torch.distributed import COLLECTIVE_TIMEOUT_S, ENGINE, TIMEOUT_ENV


def replicate(backend, replicas: int) -> dict:
    gpu = backend.device == "gpu"
    comm = "nccl" if gpu else "gloo"
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) != replicas:
            raise ConfigError(f"torch: --replicas {replicas} needs {replicas} processes started by torch.distributed's "
                              f"launcher, but WORLD_SIZE is {os.environ.get('WORLD_SIZE', 'unset')} (dlbench starts "
                              f"them itself; under torchrun, --nnodes x --nproc-per-node must equal --replicas)")
        timeout = float(os.environ.get(TIMEOUT_ENV, COLLECTIVE_TIMEOUT_S))
        dist.init_process_group(comm, timeout=dt.timedelta(seconds=timeout))
    backend.rank, backend.replicas = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", replicas))
    threads = None
    if gpu:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        backend.torch_device = torch.device("cuda", local_rank)
    else:  # replicas on one machine divide its cores between them
        threads = max(1, usable_cores() // local)
        torch.set_num_threads(threads)
    return {"engine": ENGINE.format(comm=comm), "processes": backend.replicas, "replicas_per_machine": local,
            "threads_per_replica": threads,
            "batch_norm": "per replica (batch statistics of each replica's slice; DDP broadcasts replica 0's "
                          "running statistics)",
            "loss": "mean over replicas (all_reduce of each replica's mean loss)"}


def data_parallel(backend, module: torch.nn.Module) -> torch.nn.Module:
    if backend.replicas == 1:
        return module
    ids = [backend.torch_device.index] if backend.device == "gpu" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def replica_slice(a: np.ndarray, rank: int, replicas: int) -> np.ndarray:
    per = len(a) // replicas
    return a[rank * per:(rank + 1) * per]


def mean_over_replicas(loss: torch.Tensor, replicas: int) -> torch.Tensor:
    """The global batch's mean loss, for the record (the gradients are DDP's business)."""
    if replicas > 1:
        dist.all_reduce(loss)
        loss = loss / replicas
    return loss
