"""Prints dlbench's step time against the best hand-written loop's, per benchmark group.

Two figures per model. The separate benchmarks time each loop in its own block of rounds, which a
shared machine makes unfair: another tenant or a clock change between the blocks moves one loop
and not the other by tens of percent. The ``interleaved`` benchmark therefore runs the contenders
in turn, round after round, and compares them within each round; its ratio is the one to trust.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

TARGET = 1.03
OURS = "dlbench"
#: the interleaved comparisons cover these optimisers, each at dlbench's tuned settings
OPTIMIZERS = ("sgd", "momentum", "adam")


def tuned(backend: str, model: str, batch_size: int, optimizer: str):
    """``(prepared, tuning section)``: dlbench's backend and fresh model at the performance settings
    its tuner picks for this model, batch and optimiser (timed once, then cached per machine), built
    exactly as a ``dlbench run`` builds them."""
    from dataclasses import replace

    from dlbench.config import RunConfig
    from dlbench.data.batching import train_batches
    from dlbench.measure.prepare import load_data, prepare
    from dlbench.tuning import tune

    config = RunConfig(backend=backend, model=model, dataset="synthetic", batch_size=batch_size, steps=1,
                       optimizer=optimizer)
    data = load_data(config)
    dataset, adapt = data
    prepared = prepare(config, data=data)
    return tune(config, prepared, lambda options: prepare(replace(config, backend_options=options), data=data),
                lambda: next(train_batches(dataset.train, batch_size, config.seed, adapt))[1:],
                lambda event, **fields: None)


def interleave(benchmark, contenders: dict[str, Callable[[], None]], rounds: int, warmup: int = 3) -> None:
    """Times each contender once per round, rotating who goes first, and stores per-contender
    medians and the median per-round ratio of ``dlbench`` to the best hand-written loop (with a
    bootstrap 95 % interval) in ``benchmark.extra_info``."""
    names = list(contenders)
    assert OURS in names and len(names) > 1, names
    for fn in contenders.values():
        for _ in range(warmup):  # compilation, caches
            fn()
    times: dict[str, list[float]] = {n: [] for n in names}
    turns = itertools.count()

    def one_round():
        k = next(turns) % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)

    benchmark.pedantic(one_round, rounds=rounds)
    medians = {n: statistics.median(t) for n, t in times.items()}
    best = min((n for n in names if n != OURS), key=medians.get)
    ratios = np.array(times[OURS]) / np.array(times[best])
    resampled = np.random.default_rng(0).choice(ratios, (2000, len(ratios)))
    low, high = np.percentile(np.median(resampled, axis=1), [2.5, 97.5])
    benchmark.extra_info.update(medians_s=medians, best_handwritten=best, ratio=float(np.median(ratios)),
                                ratio_ci95=[float(low), float(high)])


def pytest_collection_modifyitems(items):
    """The step benchmarks tune, compile and time hundreds of rounds: a longer bound than the tests'
    (pyproject.toml), which still ends a hung one."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.timeout(3600))


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    terminalreporter.section(f"dlbench vs hand-written (ratio of median step times; < {TARGET} is the target)")
    groups: dict[str, dict[str, float]] = {}
    for bench in session.benchmarks:
        info = bench.extra_info
        if "ratio" in info:
            low, high = info["ratio_ci95"]
            settings = "".join(f" {k}={v}" for k, v in info.get("settings", {}).items())
            terminalreporter.write_line(
                f"{bench.group}: interleaved, {bench.stats.rounds} rounds: dlbench{settings}"
                f" {info['medians_s'][OURS] * 1e3:.3f} ms"
                f" vs {info['best_handwritten']} {info['medians_s'][info['best_handwritten']] * 1e3:.3f} ms"
                f" -> ratio {info['ratio']:.3f} (95 % CI {low:.3f}-{high:.3f})"
                f"{'' if high < TARGET else '  ABOVE TARGET' if low >= TARGET else '  (interval reaches the target)'}")
        elif bench.stats is not None and bench.stats.rounds:
            groups.setdefault(bench.group or "", {})[bench.name] = statistics.median(bench.stats.data)
    for group, medians in sorted(groups.items()):
        hand = {n: m for n, m in medians.items() if "handwritten" in n}
        ours = {n: m for n, m in medians.items() if "dlbench" in n}
        if not hand or not ours:
            continue
        best_name, best = min(hand.items(), key=lambda kv: kv[1])
        for name, median in sorted(ours.items()):
            terminalreporter.write_line(f"{group}: separate blocks: {name} {median * 1e3:.3f} ms vs {best_name}"
                                        f" {best * 1e3:.3f} ms -> ratio {median / best:.3f}")
