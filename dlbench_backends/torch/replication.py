"""The torch backend's side of data parallelism, inside each replica's process (the group joined by
:mod:`dlbench_backends.torch.distributed`): wrap the module in ``DistributedDataParallel``, the
replica's threads and device, the loss over replicas."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from dlbench.environment import usable_cores
from dlbench.errors import ConfigError
from dlbench.execution import launcher
from dlbench_backends.torch.distributed import ENGINE


def replicate(backend, replicas: int) -> dict:
    gpu = backend.device == "gpu"
    if not dist.is_initialized() or dist.get_world_size() != replicas:
        raise ConfigError(f"torch: --replicas {replicas} needs {replicas} processes in torch.distributed's group "
                          f"(dlbench starts them itself; under torchrun, --nnodes x --nproc-per-node must equal --replicas)")
    backend.rank, backend.replicas = dist.get_rank(), dist.get_world_size()
    group = launcher.group(replicas, None, one_per_replica=True)
    local = group.launch.local_world_size
    threads = None
    if gpu:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        backend.torch_device = torch.device("cuda", local_rank)
    else:  # replicas on one machine divide its cores between them
        threads = max(1, usable_cores() // local)
        torch.set_num_threads(threads)
    comm = dist.get_backend()
    return {"engine": ENGINE.format(comm=comm), **group.facts(), "collectives": comm, "replicas_per_machine": local,
            "threads_per_replica": threads,
            "batch_norm": "per replica (batch statistics of each replica's slice; DDP broadcasts replica 0's "
                          "running statistics)",
            "loss": "mean over replicas (all_reduce of each replica's mean loss)"}


def data_parallel(backend, module: torch.nn.Module) -> torch.nn.Module:
    if backend.replicas == 1:
        return module
    ids = [backend.torch_device.index] if backend.device == "gpu" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def mean_over_replicas(loss: torch.Tensor, replicas: int) -> torch.Tensor:
    """The global batch's mean loss, for the record (the gradients are DDP's business)."""
    if replicas > 1:
        dist.all_reduce(loss)
        loss = loss / replicas
    return loss
