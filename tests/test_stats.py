"""Step-time statistics: bootstrap intervals, jitter, noise flags and ratios (numpy only)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dlbench.analysis import stats


def normal(median: float, rel_sd: float, n: int = 200, seed: int = 0) -> list[float]:
    return list(median * (1 + rel_sd * np.random.default_rng(seed).standard_normal(n)))


def test_interval_brackets_the_median_and_is_reproducible():
    steps = [normal(0.010, 0.02, seed=s) for s in range(3)]
    a, b = stats.cell_stats(steps), stats.cell_stats(steps)
    assert a == b == stats.cell_stats(steps[::-1])  # seeded, and independent of the order of the repeats
    assert a.ci.low < a.median < a.ci.high
    assert a.ci.high - a.ci.low < 0.02 * a.median
    assert a.repeats == 3 and a.steps == 600
    assert a.p10 < a.median < a.p90


def test_jitter_is_robust_to_outliers_and_cv_is_not():
    steps = normal(0.010, 0.02, n=400)
    steps[:20] = [0.5] * 20  # 5 % of steps hit by something else on the machine
    s = stats.cell_stats([steps])
    assert s.jitter == pytest.approx(0.02, rel=0.3)
    assert s.cv > stats.NOISY_CV and s.noisy


def test_quiet_cell_is_not_noisy():
    s = stats.cell_stats([normal(0.01, 0.01, seed=1), normal(0.01, 0.01, seed=2)])
    assert s.cv < 0.02 and s.repeat_cv < 0.02 and not s.noisy


def test_disagreeing_repeats_widen_the_interval_and_flag_noise():
    same = stats.cell_stats([normal(0.010, 0.01, seed=1), normal(0.010, 0.01, seed=2)])
    apart = stats.cell_stats([normal(0.010, 0.01, seed=1), normal(0.013, 0.01, seed=2)])
    assert apart.repeat_cv > stats.NOISY_CV and apart.noisy
    # pooling the steps alone would give a narrow interval; resampling the repeats does not
    assert (apart.ci.high - apart.ci.low) > 5 * (same.ci.high - same.ci.low)


def test_single_repeat_has_no_repeat_cv():
    s = stats.cell_stats([normal(0.01, 0.01)])
    assert s.repeat_cv is None and s.repeats == 1


def test_ratio_of_a_real_difference_is_significant():
    r = stats.ratio([normal(0.02, 0.02, seed=1)], [normal(0.01, 0.02, seed=2)])
    assert r.estimate == pytest.approx(2.0, rel=0.02)
    assert r.ci.low < r.estimate < r.ci.high
    assert r.significant


def test_ratio_of_the_same_distribution_is_not_significant():
    r = stats.ratio([normal(0.01, 0.05, seed=1)], [normal(0.01, 0.05, seed=2)])
    assert 1.0 in r.ci and not r.significant


def test_no_step_times_is_an_error():
    with pytest.raises(ValueError):
        stats.cell_stats([[], []])


def test_long_runs_stay_fast():
    steps = [normal(0.01, 0.05, n=5000, seed=s) for s in range(3)]
    start = time.perf_counter()
    stats.cell_stats(steps)
    assert time.perf_counter() - start < 10  # chunked resampling; about a second even on a busy machine
