"""Clocks for the timed steps: ``step`` (a device sync after every step, the distribution of single
steps) and ``window`` (one sync per window of K steps, as a real training loop runs: on a GPU the
per-step host round trip is gone, and small models stop measuring launch latency).

Both share one interface, driven by the training loop::

    feed = timer.feed(batches, backend.to_device)
    for i in range(total):
        epoch, xd, yd = next(feed)
        with timer.step():
            loss = step(xd, yd)
            timer.sync(backend.sync, loss)
        for done, value in timer.settle(i, loss, backend.to_numpy): ...

Warm-up steps are always synced one by one (the first includes compilation). In window mode a
window's batches are all placed on the device *before* its clock starts, so neither mode times
the host-to-device copies, and the losses of a window are read only after its sync.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from dlbench.measure.metrics import StepTimer


class StepClock(StepTimer):
    """Today's clock: every step synced and timed on its own."""

    mode = "step"
    window: int | None = None

    def feed(self, batches: Iterator, to_device: Callable) -> Iterator[tuple[int, Any, Any]]:
        for epoch, x, y in batches:
            yield (epoch, *to_device(x, y))

    def sync(self, sync: Callable[[Any], None], value: Any) -> None:
        sync(value)

    def settle(self, i: int, loss: Any, to_numpy: Callable) -> list[tuple[int, float]]:
        return [(i + 1, float(to_numpy(loss)))]

    @property
    def total_time(self) -> float:
        return sum(self.warmup_times) + sum(self.times)

    @property
    def steps_timed(self) -> int:
        return len(self.times)

    def record(self) -> dict:
        return {"mode": self.mode, "window": None, "window_times_s": None}


class WindowClock(StepClock):
    """One sync per window of ``window`` timed steps; ``times`` holds each window's mean step time.
    A window also ends with the run and at every multiple of ``breaks`` (1-based step numbers, e.g.
    the evaluation interval of a time-to-accuracy run), so no evaluation falls inside a window."""

    mode = "window"

    def __init__(self, warmup: int, window: int, timed: int, breaks: int | None = None):
        super().__init__(warmup)
        self.window, self.timed, self.breaks = window, timed, breaks
        self.counts: list[int] = []  # steps in each window
        self._index = 0  # steps entered so far
        self._in_window = 0  # steps of the open window
        self._size = 0  # steps the open window will have
        self._window_start: float | None = None
        self._pending: list[tuple[int, Any]] = []
        self._synced = True

    def _window_size(self, index: int) -> int:
        """Steps in the window that starts at step ``index`` (0-based, over all steps)."""
        size = min(self.window, self.warmup + self.timed - index)
        if self.breaks:
            size = min(size, self.breaks - index % self.breaks)
        return size

    def feed(self, batches: Iterator, to_device: Callable) -> Iterator[tuple[int, Any, Any]]:
        for _ in range(self.warmup):
            epoch, x, y = next(batches)
            yield (epoch, *to_device(x, y))
        index = self.warmup
        while index < self.warmup + self.timed:
            size = self._window_size(index)
            staged = [(epoch, *to_device(x, y)) for epoch, x, y in (next(batches) for _ in range(size))]
            yield from staged
            index += size

    @contextmanager
    def step(self):
        index = self._index
        self._index += 1
        if index < self.warmup:
            with super().step():
                yield
            return
        if self._window_start is None:
            self._size = self._window_size(index)
            self._window_start = time.perf_counter()
        self._in_window += 1
        self._synced = False
        yield
        if self._in_window == self._size:
            elapsed = time.perf_counter() - self._window_start
            self.times.append(elapsed / self._in_window)
            self.counts.append(self._in_window)
            self._window_start, self._in_window = None, 0
            if self.first is None:
                self.first = self.times[-1]

    def sync(self, sync: Callable[[Any], None], value: Any) -> None:
        if self._index <= self.warmup or self._in_window == self._size:  # a warm-up step, or a window's last
            sync(value)
            self._synced = True

    def settle(self, i: int, loss: Any, to_numpy: Callable) -> list[tuple[int, float]]:
        """The (steps done, loss) pairs now readable without an extra sync: all of a window's at its end."""
        self._pending.append((i + 1, loss))
        if not self._synced:
            return []
        out = [(done, float(to_numpy(value))) for done, value in self._pending]
        self._pending.clear()
        return out

    @property
    def total_time(self) -> float:
        return sum(self.warmup_times) + sum(t * n for t, n in zip(self.times, self.counts))

    @property
    def steps_timed(self) -> int:
        return sum(self.counts)

    def record(self) -> dict:
        return {"mode": self.mode, "window": self.window, "window_times_s": list(self.times)}


def make_clock(mode: str, warmup: int, window: int, total: int, breaks: int | None = None) -> StepClock:
    """The clock for ``config.timing``: ``step`` or ``window`` (``window`` steps per sync)."""
    if mode == "window":
        return WindowClock(warmup, window, total - warmup, breaks)
    return StepClock(warmup)
