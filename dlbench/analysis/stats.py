"""Robust statistics of step times: medians with bootstrap confidence intervals, jitter, ratios.

The repeats of a cell ran in separate processes, so their step times are not one homogeneous
sample (memory layout, thread placement and background load change from process to process).
The point estimate is the median of all timed steps pooled; its interval comes from a
hierarchical bootstrap that resamples the repeats, then the steps within each drawn repeat, so
it covers run-to-run variation as well as step-to-step jitter. With one repeat it is the plain
bootstrap of the median. Every resampling is seeded: the same records give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95
NOISY_CV = 0.10  # coefficient of variation above which a cell is flagged as noisy
SEED = 0
MAD_TO_SIGMA = 1.4826  # scales a MAD to the standard deviation of a normal distribution
_CHUNK_ELEMENTS = 4_000_000  # bounds the memory of one vectorised batch of resamples

Repeats = Sequence[Sequence[float]]


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class CellStats:
    """Step-time statistics of one cell (all its repeats), in seconds."""

    repeats: int
    steps: int
    median: float
    ci: Interval
    p10: float
    p90: float
    jitter: float  # MAD-based, relative to the median (robust counterpart of the CV)
    cv: float  # standard deviation / mean of all steps
    repeat_cv: float | None  # of the per-repeat medians; None with one repeat

    @property
    def noisy(self) -> bool:
        return self.cv > NOISY_CV or (self.repeat_cv is not None and self.repeat_cv > NOISY_CV)


@dataclass(frozen=True)
class Ratio:
    """``estimate`` = median(a) / median(b); not significant when the interval contains 1."""

    estimate: float
    ci: Interval

    @property
    def significant(self) -> bool:
        return 1.0 not in self.ci


def _arrays(repeats: Repeats) -> list[np.ndarray]:
    """The non-empty repeats in a canonical order, so that resampling does not depend on file order."""
    arrays = sorted((np.asarray(r, dtype=np.float64) for r in repeats if len(r)), key=lambda a: (a.size, a.tolist()))
    if not arrays:
        raise ValueError("no step times")
    return arrays


def bootstrap_medians(repeats: Repeats, resamples: int = RESAMPLES, rng: np.random.Generator | None = None) -> np.ndarray:
    """Medians of ``resamples`` hierarchical bootstrap samples of ``repeats`` (lists of step times)."""
    arrays = _arrays(repeats)
    rng = rng if rng is not None else np.random.default_rng(SEED)
    flat = np.concatenate(arrays)
    lengths = np.array([len(a) for a in arrays])
    offsets = np.cumsum(lengths) - lengths
    k, m = len(arrays), int(round(lengths.mean()))  # k repeats drawn, m steps from each
    out = np.empty(resamples)
    chunk = max(1, _CHUNK_ELEMENTS // (k * m))
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        which = rng.integers(k, size=(b, k))
        steps = (rng.random((b, k, m)) * lengths[which][..., None]).astype(np.int64)
        out[start:start + b] = np.median(flat[offsets[which][..., None] + steps].reshape(b, -1), axis=1)
    return out


def _interval(samples: np.ndarray, confidence: float) -> Interval:
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    return Interval(float(low), float(high))


def cell_stats(repeats: Repeats, confidence: float = CONFIDENCE, resamples: int = RESAMPLES) -> CellStats:
    """Statistics of one cell from the step times of each of its repeats."""
    arrays = _arrays(repeats)
    pooled = np.concatenate(arrays)
    median = float(np.median(pooled))
    p10, p90 = np.percentile(pooled, [10, 90])
    mad = float(np.median(np.abs(pooled - median)))
    cv = float(pooled.std(ddof=1) / pooled.mean()) if pooled.size > 1 else 0.0
    medians = np.array([np.median(a) for a in arrays])
    repeat_cv = float(medians.std(ddof=1) / medians.mean()) if len(arrays) > 1 else None
    return CellStats(
        repeats=len(arrays), steps=int(pooled.size), median=median,
        ci=_interval(bootstrap_medians(arrays, resamples), confidence),
        p10=float(p10), p90=float(p90), jitter=MAD_TO_SIGMA * mad / median, cv=cv, repeat_cv=repeat_cv,
    )


def ratio(a: Repeats, b: Repeats, confidence: float = CONFIDENCE, resamples: int = RESAMPLES) -> Ratio:
    """median(a) / median(b) with a bootstrap interval (a and b resampled independently).

    With step times, ``ratio(slow, fast)`` is how many times faster ``fast`` is: the speed-up.
    """
    a, b = _arrays(a), _arrays(b)
    rng = np.random.default_rng(SEED)
    boot = bootstrap_medians(a, resamples, rng) / bootstrap_medians(b, resamples, rng)
    estimate = float(np.median(np.concatenate(a)) / np.median(np.concatenate(b)))
    return Ratio(estimate, _interval(boot, confidence))
