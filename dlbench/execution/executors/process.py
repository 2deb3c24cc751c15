"""The ``process`` executor: the plan's runs one after another on this machine, each in a fresh
worker process, so no run shares the machine with another."""

from __future__ import annotations

from pathlib import Path

from dlbench.execution.executors.contract import Hooks, SweepOutcome
from dlbench.execution.executors import output as out
from dlbench.execution.sweep import Plan


class ProcessExecutor:
    name = "process"

    def execute(self, plan: Plan, output: Path, hooks: Hooks) -> SweepOutcome:
        outcome, output = SweepOutcome(), Path(output)
        with out.locked(output):
            for old in plan.stale:
                old.unlink(missing_ok=True)
            for run in plan.todo:
                hooks.on_start(run)
                result = out.run(run.config, hooks.on_event)
                path = out.save(result, output, run.cell, run.repeat, plan.replaces.get((run.cell, run.repeat), []))
                outcome.finished.append((run, result))
                hooks.on_done(run, result, path)
        return outcome
