"""A short A/A noise estimate: a fixed numpy workload timed repeatedly, with a verdict and concrete
advice; the latest one is stored for runs to record.

Two figures: the *jitter* (CV of single ~20 ms samples) and the *drift* (CV of the medians of
consecutive 0.25 s blocks). A run is summarised by its median step time, which averages the jitter
away but not the drift, so the verdict and the advice (repeats, ``compare --threshold``) follow the drift."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import numpy as np

from dlbench.environment import usable_cores
from dlbench.paths import cache_dir

#: (largest CV, verdict) from quiet to unusable
VERDICTS = ((0.02, "quiet: fit to benchmark"), (0.05, "fair: usable with repeats"),
            (0.15, "noisy: small differences are not measurable"), (float("inf"), "very noisy: unfit to benchmark"))
SAMPLE_S = 0.02  # aim for samples of about 20 ms: long against timer resolution, short against drift
BLOCK_S = 0.25


def _workload(a: np.ndarray, repeats: int) -> None:
    for _ in range(repeats):
        a = np.tanh(a @ a * 0.01)


def measure(seconds: float = 3.0) -> dict:
    """Time a fixed small workload (256 x 256 matmul and tanh) for about ``seconds``."""
    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    _workload(a, 3)  # BLAS threads and caches start cold: sized on cold calls, samples came out 10x short
    calls, start = 0, time.perf_counter()
    while calls < 5 or time.perf_counter() - start < 0.1:
        _workload(a, 1)
        calls += 1
    per_call = max((time.perf_counter() - start) / calls, 1e-6)
    repeats = max(1, round(SAMPLE_S / per_call))
    times: list[float] = []
    starts: list[float] = []
    began = time.perf_counter()
    while len(times) < 10 or time.perf_counter() < began + seconds:
        start = time.perf_counter()
        _workload(a, repeats)
        times.append(time.perf_counter() - start)
        starts.append(start - began)
    t = np.asarray(times)
    jitter = float(t.std(ddof=1) / t.mean())
    block = (np.asarray(starts) // BLOCK_S).astype(int)
    medians = np.array([np.median(t[block == b]) for b in np.unique(block)])
    cv = float(medians.std(ddof=1) / medians.mean()) if len(medians) >= 3 else jitter
    return {"cv": cv, "verdict": verdict(cv), "jitter_cv": jitter, "blocks": len(medians),
            "measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "samples": len(times), "sample_median_s": float(np.median(t)),
            "spread_p90_p10": float(np.percentile(t, 90) / np.percentile(t, 10))}


def verdict(cv: float) -> str:
    return next(text for bound, text in VERDICTS if cv < bound)


def threshold_percent(cv: float) -> int:
    """A ``compare --threshold`` that two runs of the same code rarely cross: about three CVs, at least 5 %."""
    return max(5, int(np.ceil(300 * cv)))


def repeats_for(cv: float, effect: float = 0.05) -> int:
    """Repeats per side to tell an ``effect`` (relative) apart at about 95 % confidence."""
    return max(1, int(np.ceil((2 * 1.96 * cv / effect) ** 2)))


def describe(estimate: dict) -> list[str]:
    cv = estimate["cv"]
    cores = usable_cores() or 1
    lines = [f"drift CV {cv:.1%} between the medians of {estimate.get('blocks', '?')} blocks of {BLOCK_S:g} s "
             "(what a run's median step time sees)",
             f"jitter CV {estimate.get('jitter_cv', cv):.1%} over {estimate['samples']} samples of "
             f"{estimate['sample_median_s'] * 1e3:.1f} ms (p90/p10 {estimate['spread_p90_p10']:.2f})"]
    if cv >= VERDICTS[2][0]:
        lines.append("advice: at this noise no repeat count makes small differences measurable: "
                     "stop the busy processes listed above, or benchmark when the machine is idle")
    if cv >= 0.02:
        lines += [
            f"advice: repeat each configuration (`dlbench sweep --repeat {max(3, repeats_for(cv))}`): "
            f"that many runs per side tell a 5 % change apart at this noise",
            f"advice: compare with `dlbench compare --threshold {threshold_percent(cv)}` (about three times the noise)",
            f"advice: pin the threads: `taskset -c 0-{cores - 1} env OMP_NUM_THREADS={cores} dlbench run ...`, "
            "and stop the busy processes listed above",
        ]
    return lines


def path() -> Path:
    return cache_dir() / "noise.json"


def save(estimate: dict) -> Path:
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(estimate, indent=2))
    os.replace(tmp, target)
    return target


def latest() -> dict | None:
    """The latest stored estimate as recorded in a run's ``environment.noise``, or None."""
    try:
        data = json.loads(path().read_text())
        return {"cv": float(data["cv"]), "verdict": str(data["verdict"]), "measured": str(data["measured"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recorded() -> dict:
    """``{"noise": latest}`` for a run's environment, or ``{}`` when ``dlbench doctor`` never ran."""
    found = latest()
    return {"noise": found} if found else {}
