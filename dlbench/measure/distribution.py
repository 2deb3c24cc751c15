"""The distribution of a sample of times (steps, requests): percentiles, median, mean and spread,
computed one way for the worker's records and for the analysis (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

QUANTILES = np.array([0.1, 0.5, 0.9, 0.99])


@dataclass(frozen=True)
class Distribution:
    """Percentiles by linear interpolation between the sorted values (``np.percentile``'s default)."""

    n: int
    median: float
    p10: float
    p90: float
    p99: float
    mean: float
    std: float  # sample standard deviation; 0 for one value
    min: float
    max: float
    mad: float  # median absolute deviation from the median


def describe(values: Sequence[float]) -> Distribution:
    """The distribution of ``values`` (raises ValueError when there are none)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if x.size == 0:
        raise ValueError("no values")
    p10, median, p90, p99 = np.interp(QUANTILES * (x.size - 1), np.arange(x.size), x)  # sorted once, cheaper
    return Distribution(
        n=int(x.size), median=float(median), p10=float(p10), p90=float(p90), p99=float(p99),
        mean=float(x.mean()), std=float(x.std(ddof=1)) if x.size > 1 else 0.0,
        min=float(x[0]), max=float(x[-1]), mad=float(np.median(np.abs(x - median))),
    )
