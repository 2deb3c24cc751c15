"""The ``process`` executor: the plan's runs one after another on this machine, each in a fresh
worker process, so no run shares the machine with another."""

from __future__ import annotations

from pathlib import Path

from dlbench.execution import sweep
from dlbench.execution.executors import Hooks, Outcome


class ProcessExecutor:
    name = "process"

    def execute(self, plan: "sweep.Plan", output: Path, hooks: Hooks) -> Outcome:
        outcome = Outcome()
        with sweep.locked(Path(output)):
            for old in plan.stale:
                old.unlink(missing_ok=True)
            for job in plan.todo:
                hooks.on_start(job)
                result, path = sweep.run_job(job, Path(output), hooks.on_event,
                                             plan.replaces.get((job.cell, job.repeat), []))
                outcome.finished.append((job, result))
                hooks.on_done(job, result, path)
        return outcome
