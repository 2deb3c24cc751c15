"""Executors: how a sweep's planned runs are carried out.

``process`` runs them one after another on this machine (each in its own worker process);
``slurm`` submits one job per run through submitit (a job array with a parallelism limit);
``local`` does the same with submitit's local executor, so the cluster path runs on one machine.
Every executor writes the same records, with the same ids, into the same output directory.
"""

from __future__ import annotations

from dlbench.execution.executors.contract import Executor, Hooks, SweepOutcome
from dlbench.execution.executors.settings import EXECUTORS, SPEC_KEYS, ExecutorSettings

__all__ = ["EXECUTORS", "SPEC_KEYS", "ExecutorSettings", "Executor", "Hooks", "SweepOutcome", "get"]


def get(settings: ExecutorSettings) -> Executor:
    """The executor ``settings`` name (submitit is imported only when a scheduled one runs)."""
    if settings.executor == "process":
        from dlbench.execution.executors.process import ProcessExecutor

        return ProcessExecutor()
    from dlbench.execution.executors.slurm import SubmititExecutor

    return SubmititExecutor(settings)
