"""``dlbench explain``, in the parent: each backend profiled in a worker of its own
(:mod:`dlbench.explain.entry`); a worker that fails becomes a failed record, as a run's does."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from dlbench.config import RunConfig
from dlbench.execution import isolation, runner
from dlbench.result import Result


def explain(config: RunConfig, backends: list[str], isolated: bool, rounds: int,
            announce: Callable[[str], None] | None = None,
            on_event: Callable[[str], Callable[[dict], None] | None] | None = None) -> list[Result]:
    """One record per backend, in the order given; ``on_event(backend)`` gives that worker's progress sink."""
    results = []
    for name in backends:
        if announce is not None:
            announce(name)
        run_config = replace(config, backend=name)
        payload = {**run_config.to_dict(), "isolated": isolated, "rounds": rounds}
        outcome = isolation.run_in_worker("explain", payload, config.timeout, on_event(name) if on_event else None)
        results.append(Result.from_dict(outcome.output) if outcome.output is not None
                       else runner.failed(run_config.to_dict(), outcome))
    return results
