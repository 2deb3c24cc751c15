"""How a sweep's runs are executed and, on a cluster, what each run's job asks the scheduler for.

The same keys work in a sweep file and (with dashes) on the command line; ``slurm_options`` is a
table of extra ``sbatch`` options there, ``--slurm-option KEY=VALUE`` here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from dlbench.errors import ConfigError

EXECUTORS = ("process", "slurm", "local")
#: the sweep-file keys of these settings (the command-line options are the same with dashes)
SPEC_KEYS = ("executor", "cpus_per_run", "gpus_per_run", "partition", "time_limit", "max_parallel",
             "slurm_options", "wait_timeout", "nodes", "tasks_per_node", "gpus_per_task")
DEFAULT_TIME_LIMIT_MIN = 60
#: slack for time spent waiting in the queue, on top of the runs' own time limits
QUEUE_SLACK_S = {"slurm": 3600.0, "local": 60.0}
_TIME = re.compile(r"^(?:(?P<days>\d+)-)?(?P<h>\d+):(?P<m>\d{1,2})(?::(?P<s>\d{1,2}))?$")


@dataclass(frozen=True)
class ExecutorSettings:
    """``executor``: ``process`` (one run after another here), ``slurm`` or ``local`` (submitit)."""

    executor: str = "process"
    cpus_per_run: int | None = None
    gpus_per_run: int | None = None
    partition: str | None = None
    time_limit: int | None = None  # minutes
    max_parallel: int | None = None
    slurm_options: dict[str, Any] = field(default_factory=dict)
    wait_timeout: float | None = None  # seconds
    #: the shape of each run's job: nodes, a task (process) per replica on each, GPUs of each task
    nodes: int | None = None
    tasks_per_node: int | None = None
    gpus_per_task: int | None = None

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}; choose one of: {', '.join(EXECUTORS)}")
        for name in ("cpus_per_run", "max_parallel", "nodes", "tasks_per_node"):
            _positive_int(name, getattr(self, name))
        for name in ("gpus_per_run", "gpus_per_task"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 0):
                raise ConfigError(f"{name.replace('_', ' ')} must be a non-negative integer, got {value!r}")
        if self.executor == "local" and (self.nodes or 1) > 1:
            raise ConfigError(f"the local executor runs on this one machine: --nodes {self.nodes} needs --executor slurm")
        if self.wait_timeout is not None and not (isinstance(self.wait_timeout, (int, float)) and self.wait_timeout > 0):
            raise ConfigError(f"wait timeout must be positive seconds, got {self.wait_timeout!r}")
        if not isinstance(self.slurm_options, dict):
            raise ConfigError("slurm_options must be a table of sbatch OPTION = VALUE (e.g. account = \"proj\")")
        if self.executor == "process" and (self.nodes or 1) > 1:
            raise ConfigError(f"a run on {self.nodes} nodes is one Slurm job: add --executor slurm (the process "
                              "executor runs every run on this machine)")
        if self.executor == "process":
            given = [k for k in SPEC_KEYS[1:] if getattr(self, k) not in (None, {})]
            if given:
                raise ConfigError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to a scheduled sweep; "
                                  "add --executor slurm (or local)")

    @classmethod
    def from_spec(cls, spec: dict) -> "ExecutorSettings":
        """The settings named in a sweep spec (other keys ignored); ``time_limit`` may be text."""
        values = {k: spec[k] for k in SPEC_KEYS if spec.get(k) is not None}
        if "time_limit" in values:
            values["time_limit"] = parse_time_limit(values["time_limit"])
        return cls(**values)

    @property
    def tasks(self) -> int:
        """Processes of each run's job: nodes x tasks per node."""
        return (self.nodes or 1) * (self.tasks_per_node or 1)

    def shape_runs(self, spec: dict) -> dict:
        """The sweep spec with every run in :attr:`tasks` processes (one job, a task per process)
        and, unless the spec says, as many replicas."""
        if self.tasks == 1:
            return spec
        if spec.get("processes") not in (None, self.tasks):
            raise ConfigError(f"processes = {spec['processes']}, but each job has {self.tasks} tasks "
                              f"(--nodes {self.nodes or 1} x --tasks-per-node {self.tasks_per_node or 1})")
        return {**spec, "processes": self.tasks, "replicas": spec.get("replicas", self.tasks)}

    @property
    def time_limit_min(self) -> int:
        return self.time_limit or DEFAULT_TIME_LIMIT_MIN

    def parallelism(self, runs: int) -> int:
        """Runs at once: ``max_parallel``; otherwise all of them on Slurm, one at a time locally
        (runs sharing one machine would measure each other)."""
        if self.max_parallel:
            return min(self.max_parallel, max(runs, 1))
        return max(runs, 1) if self.executor == "slurm" else 1

    def wait_limit_s(self, runs: int) -> float:
        """How long the sweep waits for its jobs before it stops waiting (they go on)."""
        if self.wait_timeout is not None:
            return float(self.wait_timeout)
        waves = math.ceil(max(runs, 1) / self.parallelism(runs))
        return waves * self.time_limit_min * 60.0 + QUEUE_SLACK_S.get(self.executor, 0.0)


def parse_time_limit(value: Any) -> int:
    """Minutes (an integer) or Slurm's ``[D-]HH:MM[:SS]``, as whole minutes (rounded up)."""
    if _is_int(value) and value > 0:
        return int(value)
    text = str(value).strip()
    if text.isdigit() and int(text) > 0:
        return int(text)
    m = _TIME.match(text)
    if m:
        seconds = ((int(m["days"] or 0) * 24 + int(m["h"])) * 60 + int(m["m"])) * 60 + int(m["s"] or 0)
        if seconds > 0:
            return math.ceil(seconds / 60)
    raise ConfigError(f"time limit {value!r} is not minutes (e.g. 90) or [D-]HH:MM[:SS] (e.g. 1:30:00)")


def parse_slurm_options(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (sbatch's long option names, e.g. ``account=proj``, ``mem=32G``;
    ``exclusive=true`` gives a bare flag)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key or not value:
            raise ConfigError(f"slurm option {pair!r} is not KEY=VALUE (e.g. account=proj, mem=32G, exclusive=true)")
        out[key] = True if value.lower() == "true" else value
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(name: str, value: Any) -> None:
    if value is not None and (not _is_int(value) or value < 1):
        raise ConfigError(f"{name.replace('_', ' ')} must be a positive integer, got {value!r}")
