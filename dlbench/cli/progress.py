"""Progress of a run in the worker, shown on stderr (a bar on a terminal, phase lines otherwise)."""

from __future__ import annotations

import sys

from tqdm import tqdm


class ProgressDisplay:
    def __init__(self, label: str, enabled: bool = True):
        self.label, self.enabled = label, enabled
        self.bar: tqdm | None = None
        self.interactive = sys.stderr.isatty()

    def __call__(self, event: dict) -> None:
        if not self.enabled:
            return
        kind = event.get("event")
        if kind == "phase":
            self._phase(event)
        elif kind == "step" and self.bar is not None:
            self.bar.update(event["done"] - self.bar.n)
            self.bar.set_postfix(loss=f"{event['loss']:.4f}", epoch=event["epoch"] + 1, refresh=False)

    def _phase(self, event: dict) -> None:
        self.close()
        name = event["name"]
        if name == "training" and self.interactive:
            self.bar = tqdm(total=event["total"], desc=f"{self.label} training", unit="step", file=sys.stderr, leave=False)
        else:
            suffix = f" ({event['total']} steps)" if "total" in event else ""
            print(f"{self.label}: {name}{suffix}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
