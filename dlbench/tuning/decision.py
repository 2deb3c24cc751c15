"""Which candidate runs: the plain default, unless another is faster beyond the measured noise.

Candidates are timed in interleaved rounds, so round ``r`` of every candidate shared the machine's
state; each candidate's step time is compared with the default's round by round. A candidate wins
only when the median of those ratios is at least :data:`MIN_GAIN` below 1 *and* its bootstrap 95 %
interval excludes 1: a difference inside the noise is no difference, and the default stays. A
candidate that raised at any point is out, whatever it timed before.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlbench.analysis import stats
from dlbench.tuning.timing import Timing

MIN_GAIN = 0.03  # a candidate must take at most 97 % of the default's step time


@dataclass(frozen=True)
class Comparison:
    """A candidate's step time over the default's: the median of the per-round ratios, its interval."""

    ratio: float
    ci: stats.Interval | None  # None with fewer than stats.MIN_RUNS rounds
    rounds: int

    @property
    def faster(self) -> bool:
        return self.ci is not None and self.ci.high < 1 and self.ratio <= 1 - MIN_GAIN

    def record(self) -> dict:
        return {"ratio_to_default": self.ratio, "ratio_ci95": [self.ci.low, self.ci.high] if self.ci else None,
                "rounds": self.rounds, "significantly_faster": self.faster}


def compare(candidate: Timing, default: Timing) -> Comparison | None:
    """None when either has no timed round (or ``candidate`` raised)."""
    if candidate.error is not None:
        return None
    pairs = list(zip(candidate.times, default.times))
    if not pairs:
        return None
    median, ci = stats.median_interval([c / d for c, d in pairs])
    return Comparison(median, ci, len(pairs))


def choose(timings: list[Timing]) -> tuple[int, list[Comparison | None]]:
    """(the index of the candidate to run, each one's comparison with the baseline). The baseline
    is the default (index 0), or the first candidate that ran if the default raised; it is kept
    unless a candidate is significantly faster, then the fastest of those wins."""
    ran = [i for i, t in enumerate(timings) if t.error is None and t.times]
    if not ran:
        raise RuntimeError("no tuning candidate ran: " + "; ".join(t.error or "no step timed" for t in timings))
    base = ran[0]
    comparisons = [compare(t, timings[base]) if i != base else None for i, t in enumerate(timings)]
    faster = [i for i, c in enumerate(comparisons) if c is not None and c.faster]
    return (min(faster, key=lambda i: comparisons[i].ratio) if faster else base), comparisons
