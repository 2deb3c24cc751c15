"""PyTorch data parallelism: ``DistributedDataParallel``, one process per replica, started by
torch.distributed's elastic launcher (the machinery behind ``torchrun``) with its rendezvous on
``localhost:0``, so concurrent runs never collide on a port; gloo on the CPU, NCCL on GPUs.

Started as one replica of a larger group by an outer launcher (``torchrun`` on each machine, or
``srun`` under Slurm: ``WORLD_SIZE``/``RANK`` or ``SLURM_NTASKS``/``SLURM_PROCID`` in the
environment), the process joins that group instead of launching its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from dlbench.errors import DlbenchError
from dlbench.execution import launcher

ENGINE = "torch DistributedDataParallel ({comm}), one process per replica"
#: seconds a collective may wait for a peer before it fails the run (a hung or dead replica)
COLLECTIVE_TIMEOUT_S = 300.0
TIMEOUT_ENV = "DLBENCH_COLLECTIVE_TIMEOUT"


class ReplicaFailed(DlbenchError):
    """A replica died, hung past the collective timeout, or raised."""


def launch(job_ref: str, payload: dict, replicas: int, progress: Callable[..., None]) -> dict:
    from dlbench.execution.replicas import load

    timeout = payload.get("timeout") or COLLECTIVE_TIMEOUT_S
    os.environ[TIMEOUT_ENV] = str(min(timeout, COLLECTIVE_TIMEOUT_S))
    launch = launcher.detect()
    if launch.outer:
        _adopt(launch)
        return load(job_ref)(payload, progress if launch.rank == 0 else _quiet)

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=replicas, run_id=f"dlbench-{uuid.uuid4().hex[:8]}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.2,
                          start_method="spawn")
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

    die_with_parent(None)
    rank = int(os.environ["RANK"])
    return load(job_ref)(payload, _writer(events_path) if rank == 0 else _quiet)


def _adopt(launch: launcher.Launch) -> None:
    """torch's variables for a process started by ``srun`` (torchrun has set them already)."""
    if launch.launcher != "slurm":
        return
    os.environ.update(WORLD_SIZE=str(launch.world_size), RANK=str(launch.rank), LOCAL_RANK=str(launch.local_rank),
                      LOCAL_WORLD_SIZE=str(launch.local_world_size))
    os.environ.setdefault("MASTER_PORT", "29500")
    if "MASTER_ADDR" not in os.environ:
        raise ReplicaFailed("under Slurm, export MASTER_ADDR (the first node's host name) before srun; "
                            "see docs/clusters.md#across-machines")


def _describe(e: Exception) -> str:
    failures = getattr(e, "failures", {}) or {}
    parts = []
    for rank, failure in sorted(failures.items()):
        code = failure.exitcode
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        message = (failure.message or "").strip().splitlines()[-1:] if isinstance(failure.message, str) else []
        parts.append(f"replica {rank}: {how}" + (f": {message[0][:300]}" if message else ""))
    return "a data-parallel replica failed, so the run was stopped: " + ("; ".join(parts) or str(e))


def _quiet(event: str, **fields) -> None:
    pass


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
