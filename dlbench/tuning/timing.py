"""Times candidate train steps side by side: round-robin, so a shared machine's drift falls on all."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

#: untimed steps per candidate first: the first compiles (XLA, torch.compile), the second settles caches
WARMUP_STEPS = 2
#: timed rounds: at least MIN_ROUNDS; then stop once the timed steps add up to BUDGET_S, or at MAX_ROUNDS
MIN_ROUNDS, MAX_ROUNDS, BUDGET_S = 3, 30, 10.0


@dataclass
class Timing:
    """One candidate's step times; ``error`` when it could not run (it then drops out)."""

    first_s: float | None = None
    times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def interleave(steps: list[Callable[[], float]], progress: Callable[..., None]) -> list[Timing]:
    """Warm up every candidate, then time one step of each per round, rotating who goes first.

    ``steps[i]()`` runs one synchronised step of candidate ``i`` and returns its loss. A candidate
    that raises is recorded with its error and left out of later rounds.
    """
    n = len(steps)
    timings = [Timing() for _ in steps]
    total = n * (WARMUP_STEPS + MAX_ROUNDS)
    done = 0
    progress("phase", name="tuning", total=total)

    def one(i: int) -> float | None:
        nonlocal done
        if timings[i].error is not None:
            return None
        start = time.perf_counter()
        try:
            loss = steps[i]()
        except Exception as e:  # a candidate the framework cannot run (e.g. no compiler) is skipped
            timings[i].error = f"{type(e).__name__}: {e}"
            return None
        elapsed = time.perf_counter() - start
        done += 1
        progress("step", done=done, total=total, loss=loss, epoch=0)
        return elapsed

    for w in range(WARMUP_STEPS):
        for i in range(n):
            elapsed = one(i)
            if w == 0 and elapsed is not None:
                timings[i].first_s = elapsed
    spent = 0.0
    for r in range(MAX_ROUNDS):
        if r >= MIN_ROUNDS and spent >= BUDGET_S:
            break
        for i in [(r + k) % n for k in range(n)]:
            elapsed = one(i)
            if elapsed is not None:
                timings[i].times.append(elapsed)
                spent += elapsed
    progress("step", done=total, total=total, loss=None, epoch=0)
    return timings


def best(timings: list[Timing]) -> int:
    """The index of the fastest candidate by median step time (the earliest on a tie)."""
    ran = [i for i, t in enumerate(timings) if t.times]
    if not ran:
        raise RuntimeError("no tuning candidate ran: " + "; ".join(t.error or "?" for t in timings))
    return min(ran, key=lambda i: timings[i].median)
