"""PyTorch data parallelism: ``DistributedDataParallel``, one process per replica, started by
torch.distributed's elastic launcher (the machinery behind ``torchrun``) with its rendezvous on
``localhost:0``, so concurrent runs never collide on a port; gloo on the CPU, NCCL on GPUs.

Started as one process of a larger group by an outer launcher (``torchrun`` on each machine, ``srun``
under Slurm, a plain start: see :mod:`dlbench.execution.launcher`), the process joins that group
instead of launching its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from dlbench.errors import ReplicaFailed
from dlbench.execution import launcher

ENGINE = "torch DistributedDataParallel ({comm}), one process per replica"


def launch(job_ref: str, payload: dict, replicas: int, progress: Callable[..., None]) -> dict:
    from dlbench.execution.replicas import load
    from dlbench.measure.prepare import quiet

    group = launcher.group(replicas, payload.get("processes"), one_per_replica=True)
    if not group.to_start:
        _adopt(group.launch)
        _join(payload)
        return load(job_ref)(payload, progress if group.rank == 0 else quiet)

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=replicas, run_id=f"dlbench-{uuid.uuid4().hex[:8]}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.2,
                          start_method="spawn")
    os.environ[launcher.LAUNCHER_ENV] = "dlbench"  # what the replicas' processes record as their launcher
    with tempfile.TemporaryDirectory(prefix="dlbench-ddp-") as tmp, _forwarded(Path(tmp, "events.jsonl"), progress) as events:
        try:
            outputs = elastic_launch(config, _replica)(job_ref, payload, str(events))
        except ChildFailedError as e:
            raise ReplicaFailed(_describe(e)) from None
    return outputs[0]


def _replica(job_ref: str, payload: dict, events_path: str) -> dict:
    """One replica's process: rank 0 reports progress; every rank runs the same job."""
    from dlbench.execution.replicas import load
    from dlbench.execution.worker import die_with_parent
    from dlbench.measure.prepare import quiet

    die_with_parent(None)
    _join(payload)
    rank = int(os.environ["RANK"])
    return load(job_ref)(payload, _writer(events_path) if rank == 0 else quiet)


def _adopt(launch: launcher.Launch) -> None:
    """torch's variables for a process started by ``srun``, submitit or a ``TF_CONFIG`` (torchrun and
    a plain start have set them already); a clear error where nothing names the coordinator."""
    host, _, port = launch.coordinator.rpartition(":")
    if "RANK" not in os.environ:
        os.environ.update(WORLD_SIZE=str(launch.world_size), RANK=str(launch.rank), LOCAL_RANK=str(launch.local_rank),
                          LOCAL_WORLD_SIZE=str(launch.local_world_size), **{launcher.LAUNCHER_ENV: launch.launcher})
        os.environ.setdefault("MASTER_ADDR", host)
        os.environ.setdefault("MASTER_PORT", port)


def _join(payload: dict) -> None:
    """Join the process group (gloo on the CPU, NCCL on GPUs) and check that every process runs the
    same configuration."""
    import torch.distributed as dist

    comm = "nccl" if payload.get("device") == "gpu" else "gloo"
    dist.init_process_group(comm, timeout=dt.timedelta(seconds=launcher.collective_timeout(payload)))
    digests: list = [None] * dist.get_world_size()
    dist.all_gather_object(digests, launcher.digest(payload))
    launcher.check_agreement(digests)


def _describe(e: Exception) -> str:
    failures = getattr(e, "failures", {}) or {}
    parts = []
    for rank, failure in sorted(failures.items()):
        message = (failure.message or "").strip().splitlines()[-1:] if isinstance(failure.message, str) else []
        parts.append(launcher.failure(rank, failure.exitcode, message[0] if message else None))
    return launcher.FAILED + ("; ".join(parts) or str(e))


def _writer(path: str) -> Callable[..., None]:
    f = open(path, "a", buffering=1)

    def write(event: str, **fields) -> None:
        f.write(json.dumps({"event": event, **fields}) + "\n")

    return write


@contextlib.contextmanager
def _forwarded(path: Path, progress: Callable[..., None]):
    """Forward the events rank 0 appends to ``path`` to this process's progress."""
    path.touch()
    stop = threading.Event()

    def pump():
        with open(path) as f:
            while True:
                line = f.readline()
                if line:
                    with contextlib.suppress(json.JSONDecodeError):
                        event = json.loads(line)
                        progress(event.pop("event"), **event)
                elif stop.is_set():
                    return
                else:
                    time.sleep(0.05)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join(timeout=2)
