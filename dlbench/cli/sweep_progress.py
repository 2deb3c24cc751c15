"""A sweep's progress on stderr: a tqdm bar on a terminal (current run, phase, runs left), one line
per run otherwise."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlbench.execution.sweep import PlannedRun
    from dlbench.result import Result


class SweepProgress:
    """A tqdm bar on a terminal (current run, phase, runs left); one line per run otherwise."""

    def __init__(self, total: int, enabled: bool = True):
        from tqdm import tqdm

        self.enabled, self.total, self.n, self.failed = enabled, total, 0, 0
        self.interactive = sys.stderr.isatty()
        self.bar = tqdm(total=total, unit="run", file=sys.stderr, dynamic_ncols=True,
                        disable=not (enabled and self.interactive))
        self.label = ""

    def start(self, run: PlannedRun) -> None:
        self.label = run.label
        self.bar.set_description_str(run.label, refresh=False)
        self._postfix("starting")
        if self.enabled and not self.interactive:
            print(f"sweep [{self.n + 1}/{self.total}] {run.label} ...", file=sys.stderr, flush=True)

    def event(self, event: dict) -> None:
        if event.get("event") == "phase":
            self._postfix(event["name"])
        elif event.get("event") == "step":
            self._postfix(f"step {event['done']}/{event['total']}")

    def done(self, run: PlannedRun, result: Result, path: Path) -> None:
        self.n += 1
        self.failed += not result.ok
        if result.ok:
            outcome = f"ok, median step {result.timing['step_time_s']['median'] * 1e3:,.2f} ms"
        else:
            outcome = f"FAILED ({result.error['kind']}): {result.error['message'].splitlines()[0][:200]}"
        if self.enabled and self.interactive:
            self.bar.write(f"sweep: {run.label}: {outcome}", file=sys.stderr)
        elif self.enabled:
            print(f"sweep [{self.n}/{self.total}] {run.label}: {outcome}", file=sys.stderr, flush=True)
        self.bar.update(1)

    def _postfix(self, phase: str) -> None:
        left = self.total - self.n - 1
        failed = f", {self.failed} failed" if self.failed else ""
        self.bar.set_postfix_str(f"{phase}; {left} left after this{failed}")

    def close(self) -> None:
        self.bar.close()
