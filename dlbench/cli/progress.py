"""Progress of a run in the worker, shown on stderr.

On a terminal: a live bar (steps, steps/s, loss, ETA) for every phase that announces a ``total``
(training, tuning, evaluating, ...). Elsewhere (a log file, CI): a status line at least every
``interval`` seconds. Both print, once the warm-up is over, the expected duration and finish time.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import time
from typing import TextIO

from tqdm import tqdm

HEARTBEAT_S = 10.0  # the longest a non-terminal goes without a line
ESTIMATE_AFTER = 3  # steps timed after the warm-up before the finish estimate is printed


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def terminal_size(stream: TextIO) -> tuple[int, int] | None:
    """None where the terminal reports its size (the bar follows it), else a fixed 100 x 24: a
    pseudo-terminal that was never sized reports 0 x 0, and tqdm then hides its bar."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return 100, 24
    return None if size.columns > 0 and size.lines > 0 else (100, 24)


class Phase:
    """One phase with a known number of steps: the step rate measured after its warm-up."""

    def __init__(self, name: str, total: int, warmup: int):
        self.name, self.total, self.warmup = name, total, warmup
        self.done, self.loss, self.epoch = 0, None, None
        self.started = time.monotonic()
        self.mark: tuple[int, float] | None = None  # (steps, time) when the warm-up ended
        self.estimated = False

    def step(self, done: int, loss: float | None, epoch: int | None) -> None:
        self.done, self.loss, self.epoch = done, loss, epoch
        if self.mark is None and done >= min(self.warmup, self.total - 1):
            self.mark = (done, time.monotonic())

    @property
    def rate(self) -> float | None:
        """Steps per second since the warm-up ended (the first steps include compilation)."""
        if self.mark is None or self.done <= self.mark[0]:
            return None
        return (self.done - self.mark[0]) / (time.monotonic() - self.mark[1])

    @property
    def eta(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate else None

    def estimate_due(self) -> bool:
        """True once, when enough steps after the warm-up were timed to predict the finish."""
        if self.estimated or self.mark is None or self.done >= self.total:
            return False
        if self.done < self.mark[0] + max(1, min(ESTIMATE_AFTER, (self.total - self.mark[0]) // 4)):
            return False
        self.estimated = True
        return True

    def status(self) -> str:
        parts = [f"{self.done}/{self.total} steps"]
        if self.rate:
            parts.append(f"{self.rate:.2f} steps/s")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        eta = self.eta
        parts.append(f"ETA {duration(eta)}" if eta is not None else f"elapsed {duration(time.monotonic() - self.started)}")
        return ", ".join(parts)


class ProgressDisplay:
    """Consumes the worker's progress events (called from the runner's reader thread)."""

    def __init__(self, label: str, enabled: bool = True, stream: TextIO | None = None,
                 interactive: bool | None = None, interval: float = HEARTBEAT_S):
        self.label, self.enabled = label, enabled
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.interval = interval
        self.bar: tqdm | None = None
        self.phase: Phase | None = None
        self.phase_name: str | None = None
        self.last_line = time.monotonic()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.heartbeat: threading.Thread | None = None

    def __call__(self, event: dict) -> None:
        if not self.enabled:
            return
        with self.lock:
            kind = event.get("event")
            if kind == "phase":
                self._phase(event)
            elif kind == "step" and self.phase is not None:
                self._step(event)
        self._ensure_heartbeat()

    def _print(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)
        self.last_line = time.monotonic()

    def _phase(self, event: dict) -> None:
        self._close_bar()
        self.phase, self.phase_name = None, event["name"]
        total = event.get("total")
        if not total:
            self._print(f"{self.label}: {self.phase_name}")
            return
        self.phase = Phase(self.phase_name, int(total), int(event.get("warmup", 1)))
        if self.interactive:
            size = terminal_size(self.stream)
            self.bar = tqdm(total=self.phase.total, desc=f"{self.label} {self.phase_name}", unit="step",
                            file=self.stream, leave=False, dynamic_ncols=size is None,
                            ncols=size and size[0], nrows=size and size[1])
        else:
            self._print(f"{self.label}: {self.phase_name} ({self.phase.total} steps)")

    def _step(self, event: dict) -> None:
        phase = self.phase
        if event.get("total") and int(event["total"]) != phase.total:  # a phase's expected length, revised
            phase.total = int(event["total"])
            if self.bar is not None:
                self.bar.total = phase.total
        phase.step(int(event["done"]), event.get("loss"), event.get("epoch"))
        if self.bar is not None:
            post = {"loss": f"{phase.loss:.4f}"} if phase.loss is not None else {}
            if phase.epoch is not None:
                post["epoch"] = phase.epoch + 1
            self.bar.set_postfix(post, refresh=False)
            self.bar.update(phase.done - self.bar.n)
        if phase.estimate_due() and phase.eta is not None:
            finish = dt.datetime.now() + dt.timedelta(seconds=phase.eta)
            self._print(f"{self.label}: {phase.name} at {phase.rate:.2f} steps/s after the warm-up: "
                        f"about {duration(phase.eta)} to go, done around {finish:%H:%M:%S}")
        elif not self.interactive and time.monotonic() - self.last_line >= self.interval:
            self._print(f"{self.label}: {phase.name} {phase.status()}")

    def _ensure_heartbeat(self) -> None:
        if self.heartbeat is None and not self.stopped.is_set():
            self.heartbeat = threading.Thread(target=self._beat, name="dlbench-progress", daemon=True)
            self.heartbeat.start()

    def _beat(self) -> None:
        """Keep a terminal bar's clock moving, and a log's lines coming, while a step takes long."""
        while not self.stopped.wait(1.0 if self.interactive else min(self.interval, 1.0)):
            with self.lock:
                if self.bar is not None:
                    self.bar.refresh()
                elif not self.interactive and time.monotonic() - self.last_line >= self.interval:
                    what = self.phase.status() if self.phase else "still running"
                    self._print(f"{self.label}: {self.phase_name or 'starting'} {what}")

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self.stopped.set()
        with self.lock:
            self._close_bar()
