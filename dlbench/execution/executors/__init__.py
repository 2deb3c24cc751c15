"""Executors: how a sweep's planned runs are carried out.

``process`` runs them one after another on this machine (each in its own worker process);
``slurm`` submits one job per run through submitit (a job array with a parallelism limit);
``local`` does the same with submitit's local executor, so the cluster path runs on one machine.
Every executor writes the same records, with the same ids, into the same output directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dlbench.execution.executors.settings import EXECUTORS, SPEC_KEYS, ExecutorSettings

if TYPE_CHECKING:
    from dlbench.execution.sweep import Job, Plan
    from dlbench.result import Result

__all__ = ["EXECUTORS", "SPEC_KEYS", "ExecutorSettings", "Executor", "Hooks", "Outcome", "get"]


def _ignore(*args) -> None:
    return None


@dataclass
class Hooks:
    """Callbacks to the display: a run starts (``process`` only), a worker event, a run's record
    is written, and a line of news (submissions, adopted jobs)."""

    on_start: Callable[["Job"], None] = _ignore
    on_event: Callable[[dict], None] | None = None
    on_done: Callable[["Job", "Result", Path], None] = _ignore
    notify: Callable[[str], None] = _ignore


@dataclass
class Outcome:
    """``finished``: runs recorded by this sweep, in the order they ended; ``pending``: runs still
    queued or running when the sweep stopped waiting, with what the scheduler said of them."""

    finished: list[tuple["Job", "Result"]] = field(default_factory=list)
    pending: list[tuple["Job", str]] = field(default_factory=list)


class Executor(Protocol):
    name: str

    def execute(self, plan: "Plan", output: Path, hooks: Hooks) -> Outcome:
        """Carry out ``plan.todo`` into ``output``; a failed run is recorded and the sweep goes on."""
        ...


def get(settings: ExecutorSettings) -> Executor:
    """The executor ``settings`` name (submitit is imported only when a scheduled one runs)."""
    if settings.executor == "process":
        from dlbench.execution.executors.process import ProcessExecutor

        return ProcessExecutor()
    from dlbench.execution.executors.slurm import SubmititExecutor

    return SubmititExecutor(settings)
