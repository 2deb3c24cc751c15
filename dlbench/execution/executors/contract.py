"""What every executor provides and is given: ``execute(plan, output, hooks) -> SweepOutcome``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dlbench.execution.sweep import Plan, PlannedRun
    from dlbench.result import Result


def _ignore(*args) -> None:
    return None


@dataclass
class Hooks:
    """Callbacks to the display: a run starts (``process`` only), a worker event, a run's record
    is written, and a line of news (submissions, adopted jobs)."""

    on_start: Callable[["PlannedRun"], None] = _ignore
    on_event: Callable[[dict], None] | None = None
    on_done: Callable[["PlannedRun", "Result", Path], None] = _ignore
    notify: Callable[[str], None] = _ignore


@dataclass
class SweepOutcome:
    """``finished``: runs recorded by this sweep, in the order they ended; ``pending``: runs still
    queued or running when the sweep stopped waiting, with what the scheduler said of them."""

    finished: list[tuple["PlannedRun", "Result"]] = field(default_factory=list)
    pending: list[tuple["PlannedRun", str]] = field(default_factory=list)


class Executor(Protocol):
    name: str

    def execute(self, plan: "Plan", output: Path, hooks: Hooks) -> SweepOutcome:
        """Carry out ``plan.todo`` into ``output``; a failed run is recorded and the sweep goes on."""
        ...
