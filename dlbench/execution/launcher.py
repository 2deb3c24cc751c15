"""Which process of a multi-process launch this is: the one place that reads the launchers' variables.

A data-parallel run in several processes is started once per process, every process running the
same command, by one of:

- ``torchrun``: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``,
  ``MASTER_PORT`` and ``TORCHELASTIC_RUN_ID``;
- a plain start by hand (``env``): the same variables, set for each process, without a run id;
- dlbench itself (``dlbench``, :mod:`dlbench.execution.local_launch`): the same, and
  ``DLBENCH_LAUNCHER=dlbench``;
- Slurm's ``srun``: ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``, ``SLURM_NTASKS_PER_NODE``,
  the first node of ``SLURM_STEP_NODELIST`` as the coordinator's host unless ``MASTER_ADDR`` says;
- submitit's local executor (``submitit``): ``SUBMITIT_LOCAL_GLOBALID``, ``SUBMITIT_LOCAL_NTASKS``;
- TensorFlow's ``TF_CONFIG`` (``tf_config``), given by hand: its workers, this process's task index;
  the first worker is the coordinator.

Process 0 alone writes the record. A lone ``RANK`` left in a shell is not a launch: without
``WORLD_SIZE`` (or torchrun's run id) it is ignored.

The engines meet at a coordinator on the first node: torch's store on ``MASTER_PORT``, JAX's
coordination service and TensorFlow's workers from :attr:`Launch.port` on (under torchrun one
above ``MASTER_PORT``, which torchrun's own store holds).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dlbench.errors import ConfigError

DEFAULT_PORT = 29500
#: set by dlbench's own launcher in the processes it starts
LAUNCHER_ENV = "DLBENCH_LAUNCHER"
#: the most a collective waits for a peer (a hung or dead process) before it fails the run
COLLECTIVE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Launch:
    """``launcher``: ``"torchrun"``, ``"env"``, ``"dlbench"``, ``"slurm"``, ``"submitit"``, ``"tf_config"``, or None
    for a process started on its own. ``host``: the coordinator's (the first node's), None if unknown;
    ``port``: the first port the engines may listen on there."""

    launcher: str | None = None
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    host: str | None = None
    port: int = DEFAULT_PORT

    @property
    def outer(self) -> bool:
        """True when several processes were started by a launcher, this one among them."""
        return self.launcher is not None and self.world_size > 1

    @property
    def nodes(self) -> int:
        return math.ceil(self.world_size / max(self.local_world_size, 1))

    @property
    def coordinator(self) -> str:
        """``host:port`` of the coordinator, or a clear error when no variable names its host."""
        if self.host is None:
            raise ConfigError(f"{self.describe()}: no coordinator address; set MASTER_ADDR (the first "
                              "node's host name) and MASTER_PORT for every process (see docs/clusters.md#across-processes-and-machines)")
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        return f"process {self.rank} of {self.world_size} ({self.launcher})"


def _tasks_per_node(value: str) -> int:
    """``SLURM_NTASKS_PER_NODE`` is e.g. ``4`` or ``4(x2)`` (4 tasks on each of 2 nodes)."""
    return int(value.split("(")[0].split(",")[0])


def first_host(nodelist: str | None) -> str | None:
    """The first host of a Slurm node list: ``node[03-05,9],gpu1`` -> ``node03``."""
    m = re.match(r"([^,\[]+)(?:\[([^\],]+))?", nodelist or "")
    if not m:
        return None
    return m[1] + (m[2].split("-")[0] if m[2] else "")


def _job_port(env: Mapping[str, str], job_var: str) -> int:
    """``MASTER_PORT``, else a port derived from the job id (as submitit's helpers do), so that jobs
    sharing a node do not meet on one port."""
    if "MASTER_PORT" in env:
        return int(env["MASTER_PORT"])
    job = re.sub(r"\D", "", env.get(job_var, ""))
    return 20000 + int(job) % 20000 if job else DEFAULT_PORT


def _tf_config(env: Mapping[str, str]) -> dict:
    try:
        return json.loads(env.get("TF_CONFIG") or "{}")
    except ValueError:
        raise ConfigError("TF_CONFIG is not JSON (see docs/clusters.md#across-processes-and-machines)") from None


def detect(environ: Mapping[str, str] | None = None) -> Launch:
    """The launch this process belongs to, from torchrun's variables, else submitit's, else Slurm's."""
    env = os.environ if environ is None else environ
    if "RANK" in env and ("WORLD_SIZE" in env or "TORCHELASTIC_RUN_ID" in env):
        world = int(env.get("WORLD_SIZE", "1"))
        kind = env.get(LAUNCHER_ENV) or ("torchrun" if "TORCHELASTIC_RUN_ID" in env else "env")
        port = int(env.get("MASTER_PORT", DEFAULT_PORT)) + (kind == "torchrun")
        return Launch(kind, int(env["RANK"]), world, int(env.get("LOCAL_RANK", "0")),
                      int(env.get("LOCAL_WORLD_SIZE", world)), env.get("MASTER_ADDR"), port)
    if workers := _tf_config(env).get("cluster", {}).get("worker", []):
        task = _tf_config(env).get("task", {})
        host, _, port = workers[0].rpartition(":")
        if len(workers) > 1 and task.get("type", "worker") == "worker":
            return Launch("tf_config", int(task.get("index", 0)), len(workers), int(task.get("index", 0)), len(workers),
                          host, int(port))
    if "SUBMITIT_LOCAL_GLOBALID" in env and int(env.get("SUBMITIT_LOCAL_NTASKS", "1")) > 1:
        world = int(env["SUBMITIT_LOCAL_NTASKS"])
        return Launch("submitit", int(env["SUBMITIT_LOCAL_GLOBALID"]), world, int(env.get("SUBMITIT_LOCAL_LOCALID", "0")),
                      world, env.get("MASTER_ADDR", "127.0.0.1"), _job_port(env, "SUBMITIT_LOCAL_JOB_ID"))
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        world = int(env["SLURM_NTASKS"])
        host = env.get("MASTER_ADDR") or first_host(env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST"))
        return Launch("slurm", int(env["SLURM_PROCID"]), world, int(env.get("SLURM_LOCALID", "0")),
                      _tasks_per_node(env.get("SLURM_NTASKS_PER_NODE", str(world))), host,
                      _job_port(env, "SLURM_JOB_ID"))
    return Launch()


def writes_record(replicas: int, launch: Launch | None = None) -> bool:
    """Whether this process writes the run's record: always for a one-replica run (each process of
    a launch is then a run of its own), else only process 0 of the launch."""
    launch = launch or detect()
    return replicas == 1 or not launch.outer or launch.rank == 0


@dataclass(frozen=True)
class Group:
    """The processes of one data-parallel run, seen from this process."""

    launch: Launch
    processes: int
    replicas: int

    @property
    def local_replicas(self) -> int:
        return self.replicas // self.processes

    @property
    def to_start(self) -> bool:
        """Several processes asked for and none started yet: dlbench starts them on this machine."""
        return self.processes > 1 and not self.launch.outer

    @property
    def rank(self) -> int:
        return self.launch.rank if self.launch.outer else 0

    def facts(self) -> dict:
        """The record's account of the launch (its ``distributed`` section)."""
        nodes = self.launch.nodes if self.launch.outer else 1
        return {"processes": self.processes, "nodes": nodes, "devices_per_process": self.local_replicas,
                "launcher": self.launch.launcher if self.launch.outer else None}


def group(replicas: int, processes: int | None, one_per_replica: bool = False, launch: Launch | None = None) -> Group:
    """The run's processes: those of the launch this process is part of, else ``processes``
    (``--processes``; None: one per replica for an engine that runs ``one_per_replica``, else one).
    Raises ConfigError where the launch, ``--processes`` and ``--replicas`` disagree."""
    launch = launch or detect()
    if launch.outer:
        if processes not in (None, launch.world_size):
            raise ConfigError(f"--processes {processes}, but {launch.launcher} started {launch.world_size} processes")
        processes = launch.world_size
    elif processes is None:
        processes = replicas if one_per_replica else 1
    if replicas % processes:
        raise ConfigError(f"--replicas {replicas} does not divide over {processes} processes")
    if one_per_replica and processes != replicas:
        raise ConfigError(f"this engine runs one process per replica: --replicas {replicas} needs {replicas} "
                          f"processes, not {processes}")
    return Group(launch, processes, replicas)


def ended(code: int, message: str | None = None) -> str:
    """How a process ended (its exit code, negative for a signal), in words."""
    how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    return how + (f": {message[:300]}" if message else "")


def failure(rank: int, code: int, message: str | None = None) -> str:
    return f"rank {rank}: {ended(code, message)}"


FAILED = "a data-parallel process failed, so the run was stopped: "
#: what the coordination service of JAX's and TensorFlow's multi-process runtimes (TSL's) reports
#: when a process stops sending heartbeats: the task, as a rank or ``/job:worker/replica:0/task:N``
_UNHEALTHY = re.compile(r"tasks are unhealthy \(stopped sending heartbeats\):\s*(?:/job:\w+/replica:\d+/task:)?(\d+)")


def silent_rank(text: str) -> int | None:
    """The process a coordination service declared dead in ``text`` (an error, a stderr tail), if any."""
    m = _UNHEALTHY.search(text or "")
    return int(m[1]) if m else None


def explain(rank: int, how: str, text: str) -> str:
    """Why process ``rank`` ended (``how``), blaming the process whose heartbeats stopped where the
    coordination service named one: the others then end too, and are not the cause."""
    silent = silent_rank(text)
    if silent is None or silent == rank:
        return FAILED + f"rank {rank}: {how}"
    return FAILED + f"rank {silent}: stopped sending heartbeats (it died or hung), so rank {rank} ended: {how}"


def collective_timeout(payload: Mapping) -> float:
    """Seconds a collective (or the start) waits for a peer before it fails the run: the run's
    ``--timeout``, at most :data:`COLLECTIVE_TIMEOUT_S`."""
    return min(payload.get("timeout") or COLLECTIVE_TIMEOUT_S, COLLECTIVE_TIMEOUT_S)


def digest(payload: Mapping) -> bytes:
    """16 bytes that differ between any two configurations."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).digest()[:16]


def check_agreement(digests: Sequence[bytes]) -> None:
    """Every process's :func:`digest`, gathered by the engine: a clear error unless all are process 0's."""
    differ = [rank for rank, d in enumerate(digests) if bytes(d) != bytes(digests[0])]
    if differ:
        which = ", ".join(map(str, differ))
        raise ConfigError(f"the processes disagree on the run's configuration: process {which} differs from "
                          "process 0; start every process with the same command and options")
