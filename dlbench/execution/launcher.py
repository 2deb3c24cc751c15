"""Which process of an outer launch this is: the one place that reads the launchers' variables.

A data-parallel run in several processes is started once per process, by ``torchrun`` (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE`` and ``TORCHELASTIC_RUN_ID``) or by Slurm's
``srun`` (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``, ``SLURM_NTASKS_PER_NODE``). Every
process runs the same command; process 0 alone writes the record. A lone ``RANK`` left in a shell
is not a launch: without ``WORLD_SIZE`` (or torchrun's run id) it is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Launch:
    """``launcher``: ``"torchrun"``, ``"slurm"``, or None for a process started on its own."""

    launcher: str | None = None
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def outer(self) -> bool:
        """True when several processes were started by a launcher, this one among them."""
        return self.launcher is not None and self.world_size > 1

    def describe(self) -> str:
        return f"process {self.rank} of {self.world_size} ({self.launcher})"


def _tasks_per_node(value: str) -> int:
    """``SLURM_NTASKS_PER_NODE`` is e.g. ``4`` or ``4(x2)`` (4 tasks on each of 2 nodes)."""
    return int(value.split("(")[0].split(",")[0])


def detect(environ: Mapping[str, str] | None = None) -> Launch:
    """The launch this process belongs to, from torchrun's variables, else Slurm's."""
    env = os.environ if environ is None else environ
    if "RANK" in env and ("WORLD_SIZE" in env or "TORCHELASTIC_RUN_ID" in env):
        world = int(env.get("WORLD_SIZE", "1"))
        return Launch("torchrun", int(env["RANK"]), world, int(env.get("LOCAL_RANK", "0")),
                      int(env.get("LOCAL_WORLD_SIZE", world)))
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        world = int(env["SLURM_NTASKS"])
        return Launch("slurm", int(env["SLURM_PROCID"]), world, int(env.get("SLURM_LOCALID", "0")),
                      _tasks_per_node(env.get("SLURM_NTASKS_PER_NODE", str(world))))
    return Launch()


def writes_record(replicas: int, launch: Launch | None = None) -> bool:
    """Whether this process writes the run's record: always for a one-replica run (each process of
    a launch is then a run of its own), else only process 0 of the launch."""
    launch = launch or detect()
    return replicas == 1 or not launch.outer or launch.rank == 0
