"""Speed statistics with the run as the unit: per-run summaries, intervals across runs, caveats, ratios."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dlbench.analysis import stats
from dlbench.measure import inference, sections
from dlbench.measure.distribution import describe


def normal(median: float, rel_sd: float, n: int = 200, seed: int = 0) -> list[float]:
    return list(median * (1 + rel_sd * np.random.default_rng(seed).standard_normal(n)))


def runs(medians, rel_sd: float = 0.02, n: int = 200) -> list[stats.RunSummary]:
    return [stats.summarise(normal(m, rel_sd, n, seed=i)) for i, m in enumerate(medians)]


def test_a_run_is_summarised_robustly():
    steps = normal(0.010, 0.02, n=400)
    steps[:20] = [0.5] * 20  # 5 % of steps hit by something else on the machine
    s = stats.summarise(steps)
    assert s.median == pytest.approx(0.010, rel=0.01) and s.steps == 400
    assert s.jitter == pytest.approx(0.02, rel=0.3)  # the MAD ignores the outliers...
    assert s.cv > stats.NOISY_CV  # ...the CV does not
    assert s.p10 < s.median < s.p90


def test_interval_comes_from_the_runs_is_reproducible_and_order_free():
    r = runs([0.0100, 0.0102, 0.0098, 0.0101, 0.0099])
    a, b = stats.cell_stats(r), stats.cell_stats(r[::-1])
    assert a == b and a.runs == 5 and a.steps == 1000 and a.enough and a.caveat == ""
    assert a.ci.low < a.median < a.ci.high
    assert a.ci.low >= min(a.run_medians) and a.ci.high <= max(a.run_medians)


def test_more_steps_per_run_do_not_narrow_the_interval_but_disagreeing_runs_widen_it():
    medians = [0.0100, 0.0104, 0.0096, 0.0102, 0.0098]
    short, long = stats.cell_stats(runs(medians, n=50)), stats.cell_stats(runs(medians, n=5000))
    width = lambda s: s.ci.high - s.ci.low  # noqa: E731
    assert width(long) > 0.5 * width(short)  # pooling steps would shrink it tenfold
    apart = stats.cell_stats(runs([0.010, 0.013, 0.008, 0.012, 0.009]))
    assert width(apart) > 3 * width(long) and apart.noisy and apart.run_cv > stats.NOISY_CV


@pytest.mark.parametrize("n, caveat", [(1, "1 run: spread within the run only"), (2, "2 runs: too few for an interval")])
def test_a_cell_with_too_few_runs_has_no_interval_and_says_why(n, caveat):
    s = stats.cell_stats(runs([0.010, 0.011][:n], n=5000))  # thousands of steps do not make up for runs
    assert s.ci is None and not s.enough and s.caveat == caveat
    assert (s.run_cv is None) == (n == 1)


def test_ratio_of_a_real_difference_is_significant():
    r = stats.ratio(runs([0.020, 0.0202, 0.0198, 0.0201]), runs([0.010, 0.0101, 0.0099, 0.0100]))
    assert r.estimate == pytest.approx(2.0, rel=0.02)
    assert r.ci.low < r.estimate < r.ci.high and r.significant and r.caveat == ""


def test_ratio_of_the_same_runs_is_not_significant():
    same = runs([0.010, 0.0105, 0.0095, 0.0102, 0.0098])
    r = stats.ratio(same, same[::-1])
    assert r.estimate == pytest.approx(1.0) and 1.0 in r.ci and not r.significant


def test_a_one_run_ratio_is_never_significant_however_many_steps():
    r = stats.ratio(runs([0.020], rel_sd=0.001, n=5000), runs([0.010, 0.0101, 0.0099]))
    assert r.estimate == pytest.approx(2.0, rel=0.01)
    assert r.ci is None and not r.significant and r.caveat == "1 run: spread within the run only"


def test_spread_is_the_farthest_run_from_the_median():
    s = stats.cell_stats([stats.summarise([m]) for m in (1.0, 1.1, 0.8, 1.0, 1.0)])
    assert s.spread == pytest.approx(0.2)


@pytest.mark.parametrize("n", [1, 2, 7, 400])
def test_one_distribution_behind_the_record_the_latencies_and_the_run_summary(n):
    times = normal(0.010, 0.05, n=n, seed=n)
    d = describe(times)
    assert [d.p10, d.median, d.p90, d.p99] == pytest.approx(list(np.percentile(times, [10, 50, 90, 99])), rel=1e-12)
    assert d.std == (pytest.approx(np.std(times, ddof=1)) if n > 1 else 0.0)
    record, latency = sections.step_times(times, 8)["step_time_s"], inference.latency_stats(times)
    run = stats.summarise(times)
    assert record["median"] == latency["p50"] == run.median == d.median
    assert record["p90"] == latency["p90"] == run.p90 and record["p10"] == run.p10 and record["max"] == latency["max"]


def test_no_step_times_or_no_runs_is_an_error():
    with pytest.raises(ValueError):
        stats.summarise([])
    with pytest.raises(ValueError):
        stats.cell_stats([])


def test_thousands_of_cells_stay_fast():
    cells = [runs(np.full(5, 0.01) * (1 + 0.01 * np.arange(5)), n=20) for _ in range(20)]
    start = time.perf_counter()
    for i in range(300):
        a, b = cells[i % 20], cells[(i + 1) % 20]
        stats.cell_stats(a)
        stats.ratio(a, b)
    assert time.perf_counter() - start < 10  # well under a second on an idle machine: no step is resampled
