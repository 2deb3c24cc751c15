"""Training memory: baseline after the model is built, the high-water mark after it, their
difference; the portable sampler; and a run's record (numpy backend; torch sanity checks)."""

import sys
import time

import numpy as np
import pytest

from dlbench.config import RunConfig
from dlbench.execution import runner
from dlbench.measure import memory
from dlbench.measure.memory import MemoryTracker
from tests.conftest import has

MiB = 1 << 20
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux's")


def allocate(n_bytes: int) -> np.ndarray:
    a = np.ones(n_bytes // 8)  # written, so resident
    return a


@linux
def test_a_freed_allocation_still_counts_and_the_baseline_excludes_what_came_before():
    before = allocate(200 * MiB)  # part of the baseline, not of training
    tracker = MemoryTracker().start()
    assert tracker.method == "VmHWM after /proc/self/clear_refs"
    a = allocate(120 * MiB)
    tracker.first_step_done()
    del a  # freed before the end: the high-water mark keeps it
    tracker.stop()
    assert tracker.baseline >= 200 * MiB
    assert 110 * MiB <= tracker.training <= 200 * MiB
    assert tracker.first_step >= 110 * MiB
    rec = tracker.record(host_peak_rss_bytes=1, device_peak_bytes=None)
    assert rec["training_bytes"] == rec["peak_rss_bytes"] - rec["baseline_rss_bytes"]
    del before


def test_the_sampler_catches_a_held_allocation_where_the_kernel_counter_cannot_be_reset(monkeypatch):
    monkeypatch.setattr(memory, "reset_high_water_mark", lambda: False)
    with MemoryTracker() as tracker:
        assert tracker.method == "sampled every 10 ms"
        a = allocate(80 * MiB)
        time.sleep(0.1)
        del a
    assert 70 * MiB <= tracker.training <= 160 * MiB


def fresh_run(**settings):
    """A run in its own worker process, as the CLI runs it: memory freed by earlier tests in this
    process would otherwise be reused, and hide what training allocates."""
    base = dict(dataset="synthetic", batch_size=8, steps=2, warmup=1, tune=False, timeout=600)
    rec = runner.run(RunConfig(**{**base, **settings}))
    assert rec.ok, rec.error
    return rec


def test_a_run_records_training_memory_beside_its_baseline(test_plugins):
    m = fresh_run(backend="numpy", model="mlp").memory
    assert m["baseline_rss_bytes"] > 0 and m["peak_rss_bytes"] >= m["baseline_rss_bytes"]
    assert m["training_bytes"] == m["peak_rss_bytes"] - m["baseline_rss_bytes"]
    # numpy's Adam keeps two moments of the 407,050 parameters, created at the first step
    assert m["first_step_bytes"] is not None and m["first_step_bytes"] >= 2 * 407_050 * 4
    assert m["device_process_bytes"] is None and m["host_peak_rss_bytes"] >= m["peak_rss_bytes"]


@pytest.mark.skipif(not has("torch"), reason="torch is not installed")
def test_torch_training_memory_covers_gradients_and_adam_state():
    """Training memory >= gradients + Adam's two moments (3 x parameters x 4 bytes)."""
    rec = fresh_run(backend="torch", model="mlp")
    assert rec.memory["training_bytes"] >= 3 * rec.model["params_trainable"] * 4


@pytest.mark.slow
@pytest.mark.skipif(not has("torch"), reason="torch is not installed")
def test_torch_alexnet_with_adam_needs_at_least_its_weights_three_times_over():
    rec = fresh_run(backend="torch", model="alexnet", batch_size=4, steps=1)
    assert rec.memory["training_bytes"] >= 3 * 61_100_840 * 4  # 0.73 GB
