"""Chooses a backend's performance settings in the worker, before the timed run."""

from __future__ import annotations

import gc
import sys
import time
from typing import Any, Callable

import numpy as np

from dlbench import environment, registry
from dlbench.config import RunConfig
from dlbench.optim import OptimizerSpec
from dlbench.tuning import cache
from dlbench.tuning.grid import Grid
from dlbench.tuning.timing import best, interleave

Rebuild = Callable[[dict], Any]  # backend options -> a fresh Prepared (backend and model from the canonical weights)


def tune(config: RunConfig, prepared: Any, rebuild: Rebuild, sample: Callable[[], tuple[np.ndarray, np.ndarray]],
         progress: Callable[..., None]) -> tuple[Any, dict]:
    """(what the timed run uses, the record's ``tuning`` section).

    ``prepared`` was built with the user's options and the other settings' defaults; it is returned
    as it is unless another setting won, then ``rebuild`` makes a fresh model from the canonical
    weights. Candidates always train models of their own, so no tuning step reaches the timed run.
    """
    start = time.perf_counter()
    grid = Grid.of(type(prepared.backend), config.device, config.backend_options)
    section: dict[str, Any] = {"mode": None, "performance_options": list(grid.performance),
                               "pinned": dict(config.backend_options), "candidates": [], "chosen": {},
                               "time_s": 0.0, "cache_path": None}
    if not grid.free:  # every performance setting pinned, or the backend declares none
        return prepared, {**section, "mode": "pinned"}
    if not config.tune:
        return prepared, {**section, "mode": "off", "chosen": grid.plain()}
    processes = (getattr(prepared, "parallel", None) or {}).get("processes", 1)
    if processes > 1:  # each process would time alone, and could stop after a different round: a collective hangs
        return prepared, {**section, "mode": "off", "chosen": grid.plain(),
                          "note": f"not tuned: {processes} processes would each choose alone; pin settings with -o"}

    accelerator = prepared.backend.accelerator()
    key = cache.make_key(
        fingerprint=environment.machine_fingerprint(accelerator), accelerator=accelerator,
        backend=prepared.backend.name, model=config.model,
        versions=cache.framework_versions(registry.get_backend(config.backend).requires),
        input_shape=prepared.adapt.target, num_classes=prepared.dataset.num_classes, batch_size=config.batch_size,
        device=config.device, dtype=prepared.backend.dtype, precision=config.precision,
        optimizer=config.optimizer, replicas=config.replicas, grid=grid)
    entry, warning = cache.load(key, grid)
    warnings = [warning] if warning else []
    if entry is not None:
        mode, chosen, candidates, path = "cached", entry["chosen"], entry["candidates"], cache.path_for(key)
    else:
        mode = "tuned"
        chosen, candidates = measure(config, grid, rebuild, sample, progress)
        try:
            path = cache.store(key, chosen, candidates)
        except OSError as e:
            path, warning = None, f"could not write the tuning cache: {e}"
            warnings.append(warning)
    for w in warnings:
        print(f"dlbench: warning: {w}", file=sys.stderr, flush=True)
    section.update(mode=mode, chosen=chosen, candidates=candidates, cache_path=str(path) if path else None,
                   time_s=time.perf_counter() - start, **({"warnings": warnings} if warnings else {}))
    if any(prepared.backend.settings[k] != v for k, v in chosen.items()):
        prepared = rebuild({**config.backend_options, **chosen})
    return prepared, section


def measure(config: RunConfig, grid: Grid, rebuild: Rebuild, sample, progress) -> tuple[dict, list[dict]]:
    """Build every candidate, time them interleaved; (the fastest's settings, every candidate's figures)."""
    settings = grid.candidates()
    x, y = sample()
    optimizer = OptimizerSpec.create(config.optimizer, config.lr)
    steps = [_candidate_step(rebuild, {**config.backend_options, **s}, optimizer, config.seed, x, y) for s in settings]
    timings = interleave(steps, progress)
    del steps
    gc.collect()  # the candidates' models, before the timed run's is built
    candidates = []
    for s, t in zip(settings, timings):
        c = {"settings": s, "median_s": t.median, "steps": len(t.times), "first_step_s": t.first_s, "times_s": t.times}
        candidates.append({**c, "error": t.error} if t.error else c)
    return settings[best(timings)], candidates


def _candidate_step(rebuild: Rebuild, options: dict, optimizer: OptimizerSpec, seed: int, x, y) -> Callable[[], float]:
    """One synchronised train step of a freshly built candidate; a candidate that cannot be built
    fails on its first step instead, so the interleaving records the reason."""
    try:
        p = rebuild(options)
        step = p.backend.train_step(p.model, optimizer, seed)
        xd, yd = p.backend.to_device(x, y)
    except Exception as e:
        error = e

        def failed() -> float:
            raise error

        return failed
    backend = p.backend

    def run() -> float:
        loss = step(xd, yd)
        backend.sync(loss)
        return float(backend.to_numpy(loss))

    return run
