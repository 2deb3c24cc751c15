"""--timing step vs window: how often the clock syncs, what the record holds, and that both
modes measure the same step time within noise."""

import numpy as np

from dlbench.config import RunConfig
from dlbench.measure import loop
from dlbench.measure.clocks import StepClock, WindowClock, make_clock


def drive(clock: StepClock, total: int) -> tuple[list[int], list[tuple[int, float]]]:
    """Run ``total`` fake steps; returns the steps (1-based) that synced and the settled losses."""
    synced, settled = [], []
    feed = clock.feed(((0, np.zeros(1), np.zeros(1)) for _ in iter(int, 1)), lambda x, y: (x, y))
    for i in range(total):
        next(feed)
        with clock.step():
            clock.sync(lambda v: synced.append(i + 1), float(i))
        settled += clock.settle(i, float(i), float)
    return synced, settled


def test_window_mode_syncs_once_per_window_and_reads_every_loss_after_it():
    clock = make_clock("window", warmup=2, window=4, total=12)
    synced, settled = drive(clock, 12)
    assert synced == [1, 2, 6, 10, 12]  # warm-up one by one, then windows of 4, 4 and the last 2
    assert [d for d, _ in settled] == list(range(1, 13))
    assert clock.counts == [4, 4, 2] and len(clock.times) == 3 and len(clock.warmup_times) == 2
    assert clock.record() == {"mode": "window", "window": 4, "window_times_s": clock.times}


def test_windows_also_end_at_every_evaluation_break():
    clock = WindowClock(warmup=1, window=10, timed=11, breaks=5)
    synced, _ = drive(clock, 12)
    assert synced == [1, 5, 10, 12]  # breaks at steps 5 and 10 cut the windows short


def test_step_mode_syncs_every_step():
    clock = make_clock("step", warmup=1, window=10, total=5)
    synced, settled = drive(clock, 5)
    assert synced == [1, 2, 3, 4, 5] and len(settled) == 5 and clock.record()["mode"] == "step"


def numpy_run(**settings):
    base = dict(backend="numpy", model="mlp", dataset="synthetic", batch_size=16, steps=20, warmup=2, tune=False)
    return loop.run(RunConfig(**{**base, **settings}))


def test_a_window_run_records_its_windows_and_every_loss(test_plugins):
    rec = numpy_run(timing="window", window=8, steps=20)
    t = rec.timing
    assert t["mode"] == "window" and t["window"] == 8 and t["steps_timed"] == 20
    assert len(t["window_times_s"]) == 3 and t["step_times_s"] == t["window_times_s"]
    assert len(rec.loss["curve"]) == 22
    assert t["train_time_s"] > sum(w * n for w, n in zip(t["window_times_s"], (8, 8, 4)))  # plus the warm-up


def test_per_step_and_window_timing_agree_within_noise_on_a_mid_size_model(test_plugins):
    """MLP (407k parameters) at batch 16 in numpy: the two clocks, interleaved, agree within the
    spread of single steps (the machine is shared, so the bound is the measured noise)."""
    step_medians, window_medians, spreads = [], [], []
    for _ in range(3):
        s = numpy_run(timing="step", steps=12).timing["step_time_s"]
        w = numpy_run(timing="window", window=4, steps=12).timing["step_time_s"]
        step_medians.append(s["median"])
        window_medians.append(w["median"])
        spreads.append(s["p90"] - s["p10"])
    step_median, window_median = np.median(step_medians), np.median(window_medians)
    assert abs(window_median - step_median) <= max(np.median(spreads), 0.15 * step_median)
