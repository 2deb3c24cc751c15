"""Speed statistics with the run (one worker process) as the unit of replication.

Steps within one process are not independent draws: memory layout, thread placement, clock and
neighbours are fixed for a process and change between processes, by tens of percent on a shared
machine. So each record is summarised once (:func:`summarise`: its median step time, percentiles
and within-run jitter), and a configuration's interval comes from bootstrapping those per-run
medians across runs, never from resampling steps. With fewer than :data:`MIN_RUNS` runs there is
no interval and no significance: the cell says how many runs it has and that its spread is the
spread within a run. Every resampling is seeded and independent of record order.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlbench.measure.distribution import describe

RESAMPLES = 2000
CONFIDENCE = 0.95
MIN_RUNS = 3  # fewer runs: no interval, no significance mark
NOISY_CV = 0.10  # coefficient of variation above which a cell is flagged as noisy
SEED = 0
MAD_TO_SIGMA = 1.4826  # scales a MAD to the standard deviation of a normal distribution


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class RunSummary:
    """One run's step times, summarised once (seconds, except the relative ``jitter`` and ``cv``)."""

    median: float
    p10: float
    p90: float
    jitter: float  # 1.4826 × MAD / median: robust counterpart of the CV
    cv: float  # standard deviation / mean of the steps
    steps: int


def summarise(step_times: Sequence[float]) -> RunSummary:
    """The summary of one run's timed step times (raises ValueError when there are none)."""
    d = describe(step_times)
    return RunSummary(d.median, d.p10, d.p90, MAD_TO_SIGMA * d.mad / d.median, d.std / d.mean, d.n)


def caveat(runs: int) -> str:
    """What a cell with too few runs can and cannot say; empty with enough runs."""
    if runs >= MIN_RUNS:
        return ""
    if runs == 1:
        return "1 run: spread within the run only"
    return f"{runs} runs: too few for an interval"


@dataclass(frozen=True)
class CellStats:
    """Step-time statistics of one configuration across its runs, in seconds."""

    runs: int
    steps: int  # timed steps of all runs together
    median: float  # median of the per-run medians
    ci: Interval | None  # bootstrap across runs; None with fewer than MIN_RUNS runs
    run_medians: tuple[float, ...]  # sorted
    p10: float  # medians over the runs of each run's p10, p90, jitter and CV
    p90: float
    jitter: float
    cv: float
    run_cv: float | None  # CV of the per-run medians; None with one run

    @property
    def enough(self) -> bool:
        return self.ci is not None

    @property
    def caveat(self) -> str:
        return caveat(self.runs)

    @property
    def spread(self) -> float:
        """The farthest any run's median lies from the cell's median, relative (0 with one run)."""
        return max(abs(m / self.median - 1) for m in self.run_medians)

    @property
    def noisy(self) -> bool:
        return self.cv > NOISY_CV or (self.run_cv is not None and self.run_cv > NOISY_CV)


@dataclass(frozen=True)
class Ratio:
    """``estimate`` = median(a) / median(b) of per-run medians; ``ci`` None when either side has
    too few runs. Significant when the interval excludes 1."""

    estimate: float
    ci: Interval | None
    runs: tuple[int, int]

    @property
    def significant(self) -> bool:
        return self.ci is not None and 1.0 not in self.ci

    @property
    def caveat(self) -> str:
        return caveat(min(self.runs))


def _medians(runs: Sequence[RunSummary] | Sequence[float]) -> np.ndarray:
    """Per-run medians in a canonical (sorted) order, so resampling does not depend on file order."""
    values = [r.median if isinstance(r, RunSummary) else float(r) for r in runs]
    if not values:
        raise ValueError("no runs")
    return np.sort(np.asarray(values, dtype=np.float64))


def bootstrap_medians(medians: Sequence[float], resamples: int = RESAMPLES,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """Medians of ``resamples`` bootstrap samples of the per-run ``medians`` (one vectorised draw)."""
    m = np.asarray(medians, dtype=np.float64)
    rng = rng if rng is not None else np.random.default_rng(SEED)
    draws = np.sort(m[rng.integers(m.size, size=(resamples, m.size))], axis=1)  # sorting a few columns beats np.median
    half = m.size // 2
    return draws[:, half] if m.size % 2 else (draws[:, half - 1] + draws[:, half]) / 2


def _interval(samples: np.ndarray, confidence: float) -> Interval:
    """The central ``confidence`` interval of ``samples`` (np.quantile's linear method, cheaper)."""
    tail = (1 - confidence) / 2
    s = np.sort(samples)
    low, high = np.interp(np.array([tail, 1 - tail]) * (s.size - 1), np.arange(s.size), s)
    return Interval(float(low), float(high))


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE,
                    resamples: int = RESAMPLES) -> tuple[float, Interval | None]:
    """The median of ``values`` and its seeded bootstrap interval (None below :data:`MIN_RUNS` values)."""
    v = np.asarray(values, dtype=np.float64)
    median = statistics.median(v.tolist())
    return median, (_interval(bootstrap_medians(v, resamples), confidence) if v.size >= MIN_RUNS else None)


def cell_stats(runs: Sequence[RunSummary], confidence: float = CONFIDENCE, resamples: int = RESAMPLES) -> CellStats:
    """Statistics of one configuration from the summaries of its runs."""
    if not runs:
        raise ValueError("no runs")
    medians = _medians(runs)
    median = statistics.median(medians.tolist())
    ci = _interval(bootstrap_medians(medians, resamples), confidence) if medians.size >= MIN_RUNS else None
    run_cv = float(medians.std(ddof=1) / medians.mean()) if medians.size > 1 else None
    return CellStats(
        runs=len(runs), steps=sum(r.steps for r in runs), median=median, ci=ci, run_medians=tuple(medians.tolist()),
        p10=statistics.median(r.p10 for r in runs), p90=statistics.median(r.p90 for r in runs),
        jitter=statistics.median(r.jitter for r in runs), cv=statistics.median(r.cv for r in runs), run_cv=run_cv,
    )


def ratio(a: Sequence[RunSummary] | Sequence[float], b: Sequence[RunSummary] | Sequence[float],
          confidence: float = CONFIDENCE, resamples: int = RESAMPLES) -> Ratio:
    """median(a) / median(b) of per-run medians, with a bootstrap interval across runs (a and b
    resampled independently) when both have at least :data:`MIN_RUNS` runs.

    With step times, ``ratio(slow, fast)`` is how many times faster ``fast`` is: the speed-up.
    """
    ma, mb = _medians(a), _medians(b)
    estimate = statistics.median(ma.tolist()) / statistics.median(mb.tolist())
    ci = None
    if min(ma.size, mb.size) >= MIN_RUNS:
        rng = np.random.default_rng(SEED)
        ci = _interval(bootstrap_medians(ma, resamples, rng) / bootstrap_medians(mb, resamples, rng), confidence)
    return Ratio(estimate, ci, (int(ma.size), int(mb.size)))
