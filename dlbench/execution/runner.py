"""Runs each benchmark in a fresh worker process, so a crash, an out-of-memory kill or a timeout
becomes a recorded failed result instead of a lost one."""

from __future__ import annotations

from typing import Callable

from dlbench import environment, registry
from dlbench.config import RunConfig
from dlbench.execution import isolation, launcher
from dlbench.result import Result

#: how isolation says a worker ended without raising (see :mod:`dlbench.execution.isolation`)
PROCESS_ENDS = ("killed", "crash", "timeout")


def validate_names(config: RunConfig) -> None:
    """Fail fast, in the parent, on names no plugin registered (imports no framework)."""
    model = registry.usable_model(config.model)
    registry.check_inputs(model, registry.get_dataset(config.dataset), config.seq_len)
    registry.check_support(config.model, config.backend, config.task, config.optimizer)


def run(config: RunConfig, on_event: Callable[[dict], None] | None = None) -> Result:
    """Run ``config`` in a worker; always returns a Result, a failed one with its reason."""
    validate_names(config)
    outcome = isolation.run_in_worker("run", config.to_dict(), config.timeout, on_event)
    if outcome.output is not None:
        return Result.from_dict(outcome.output)
    return failed(config.to_dict(), outcome)


def failed(config: dict, outcome: isolation.WorkerOutcome) -> Result:
    """The failed record of a worker that returned no output: its error, stderr and traceback."""
    error = outcome.error
    launch = launcher.detect()
    text = f"{error['message']}\n{outcome.stderr_tail}"
    silent = launcher.silent_rank(text) is not None
    if config.get("replicas", 1) > 1 and launch.outer and (error["kind"] in PROCESS_ENDS or silent):
        # which process failed: this one, or the one the coordination service says stopped first
        error = {**error, "message": launcher.explain(launch.rank, error["message"], text)}
    result = Result.failed(config, error["kind"], error["message"], environment=environment.machine())
    result.error["stderr_tail"] = outcome.stderr_tail
    if error.get("traceback"):
        result.error["traceback"] = error["traceback"]
    return result
