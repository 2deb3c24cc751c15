"""Times candidates' steps (train steps, or served requests) side by side: round-robin, so a shared
machine's drift falls on all."""

from __future__ import annotations

import math
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

    first_s: float | None = None  # the first warm-up step: compilation included
    warm_times: list[float] = field(default_factory=list)  # the warm-up steps after the first
    times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def warm_s(self) -> float | None:
        """A first estimate of the step time, from the warm-up steps after the first."""
        return statistics.median(self.warm_times) if self.warm_times else None


class Interleaving:
    """Candidates' steps timed in turn. ``steps[i]()`` runs one synchronised step of candidate ``i``
    and returns its loss (None for a served request); a candidate that raises is recorded with its error
    and left out from then on.

    Progress is one ``tuning`` phase whose warm-up is the candidates' warm-up steps (compilation), so
    the display's rate, and its ETA, come from timed rounds only; the total follows the rounds expected.
    """

    def __init__(self, steps: list[Callable[[], float]], progress: Callable[..., None]):
        self.steps, self.progress = steps, progress
        self.timings = [Timing() for _ in steps]
        self.done, self.spent = 0, 0.0  # steps run; seconds of timed rounds
        self.rounds_done, self.rounds_expected = 0, MIN_ROUNDS
        self.started = time.perf_counter()
        progress("phase", name="tuning", total=self.total, warmup=len(steps) * WARMUP_STEPS)

    @property
    def total(self) -> int:
        return len(self.steps) * (WARMUP_STEPS + self.rounds_expected)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def _one(self, i: int) -> float | None:
        if self.timings[i].error is not None:
            return None
        start = time.perf_counter()
        try:
            loss = self.steps[i]()
        except Exception as e:  # a candidate the framework cannot run (e.g. no compiler) is out
            self.timings[i].error = f"{type(e).__name__}: {e}"
            return None
        elapsed = time.perf_counter() - start
        self.done += 1
        self.progress("step", done=self.done, total=self.total, loss=loss, epoch=0)
        return elapsed

    def warm(self, i: int, steps: int = WARMUP_STEPS) -> None:
        """Build candidate ``i`` (its ``prepare()``, untimed, where it has one), then its ``steps``
        warm-up steps: the first (compilation) is kept apart from the others."""
        try:
            getattr(self.steps[i], "prepare", lambda: None)()
        except Exception as e:  # a candidate that cannot be built is out, with the reason
            self.timings[i].error = f"{type(e).__name__}: {e}"
            return
        for w in range(steps):
            elapsed = self._one(i)
            if elapsed is None:
                return
            if w == 0:
                self.timings[i].first_s = elapsed
            else:
                self.timings[i].warm_times.append(elapsed)

    def expect_rounds(self) -> None:
        """After the warm-ups: the rounds BUDGET_S of timed steps will take, for the display's total."""
        per_round = sum(t.warm_s for t in self.timings if t.warm_s and t.error is None)
        if per_round:
            self.rounds_expected = max(MIN_ROUNDS, min(MAX_ROUNDS, math.ceil(BUDGET_S / per_round)))

    def rounds(self, deadline_s: float | None = None) -> None:
        """Time one step of each candidate per round, rotating who goes first: at least MIN_ROUNDS,
        then until the timed steps add up to BUDGET_S, MAX_ROUNDS pass, or tuning has taken
        ``deadline_s`` seconds in all."""
        n = len(self.steps)
        for r in range(MAX_ROUNDS):
            if r >= MIN_ROUNDS and (self.spent >= BUDGET_S or (deadline_s is not None and self.elapsed >= deadline_s)):
                break
            for i in [(r + k) % n for k in range(n)]:
                elapsed = self._one(i)
                if elapsed is not None:
                    self.timings[i].times.append(elapsed)
                    self.spent += elapsed
            self.rounds_done = r + 1
            per_round = self.spent / self.rounds_done  # revise the display's total from the rounds so far
            expected = math.ceil(BUDGET_S / per_round)
            if deadline_s is not None:
                expected = min(expected, self.rounds_done + math.ceil(max(0.0, deadline_s - self.elapsed) / per_round))
            self.rounds_expected = max(self.rounds_done, MIN_ROUNDS, min(MAX_ROUNDS, expected))
        self.rounds_expected = self.rounds_done
        self.progress("step", done=self.total, total=self.total, loss=None, epoch=0)
