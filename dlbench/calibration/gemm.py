"""Timing a backend's dense matmul: the peak FLOP/s one framework reaches on the device."""

from __future__ import annotations

import datetime as dt
import time
from typing import Callable

#: matrix sizes: large enough to reach the device's peak, small enough to take well under a second
SIZES = {"cpu": 2048, "gpu": 8192}
MIN_REPEATS = 3


def peak(run: Callable[[], None], n: int, seconds: float) -> dict:
    """Time ``run`` (one synced n x n @ n x n matmul) repeatedly for about ``seconds`` after two
    warm-up calls; the peak is 2 n^3 FLOPs over the fastest call."""
    for _ in range(2):
        run()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < MIN_REPEATS or time.perf_counter() < deadline:
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    flops = 2.0 * n**3
    times.sort()
    return {"flops_per_s": flops / times[0], "median_flops_per_s": flops / times[len(times) // 2],
            "size": n, "repeats": len(times),
            "measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
