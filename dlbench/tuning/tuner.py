"""Chooses a backend's performance settings in the worker, before the timed run: for training, by
timing train steps; for inference, by timing what serves the requests (:mod:`dlbench.tuning.candidates`)."""

from __future__ import annotations

import gc
import sys
import time
from typing import Any, Callable

import numpy as np

from dlbench import environment, registry
from dlbench.config import RunConfig
from dlbench.optim import OptimizerSpec
from dlbench.tuning import budget, cache, decision
from dlbench.tuning.candidates import Rebuild, Served, Serving, Training
from dlbench.tuning.grid import Grid
from dlbench.tuning.timing import WARMUP_STEPS, Interleaving, Timing


def tune(config: RunConfig, prepared: Any, rebuild: Rebuild,
         sample: Callable[[], tuple[np.ndarray, np.ndarray | None]], progress: Callable[..., None],
         run_steps: int | None = None, served: Served | None = None, measure_missing: bool = True) -> tuple[Any, dict]:
    """(what the timed run uses, the record's ``tuning`` section).

    ``prepared`` was built with the user's options and the other settings' defaults; it is returned
    as it is unless another setting won, then ``rebuild`` makes a fresh model from the canonical
    weights. Candidates always run models of their own, so no tuning step reaches the timed run.
    ``config.tune`` None tunes only when it pays for itself over the run's ``run_steps`` steps
    (:mod:`dlbench.tuning.budget`); True always; False never. With ``served`` (an inference run) the
    candidates serve requests instead of training, and the run lasts ``served.seconds`` at least.
    Without ``measure_missing`` a choice not in the cache is not timed: the defaults run
    (``dlbench explain``: the settings a run would reuse, else the defaults).
    """
    start = time.perf_counter()
    workload = served.workload if served else "train"
    graph = prepared.graph
    kinds = None if graph is None else frozenset(node.layer.kind for node in graph.nodes)
    grid = Grid.of(type(prepared.backend), config.device, config.backend_options, workload, kinds)
    section: dict[str, Any] = {"mode": None, "performance_options": list(grid.performance),
                               "pinned": dict(config.backend_options), "candidates": [], "chosen": {},
                               "time_s": 0.0, "cache_path": None}
    if not grid.free:  # every performance setting pinned, or the backend declares none
        return prepared, {**section, "mode": "pinned"}
    if config.tune is False:
        return prepared, {**section, "mode": "off", "chosen": grid.plain()}
    processes = (getattr(prepared, "parallel", None) or {}).get("processes", 1)
    if processes > 1:  # each process would time alone, and could stop after a different round: a collective hangs
        return prepared, {**section, "mode": "off", "chosen": grid.plain(),
                          "note": f"not tuned: {processes} processes would each choose alone; pin settings with -o"}
    auto = config.tune is None and run_steps is not None
    counted = not (served and served.seconds)  # a run that lasts some seconds: its steps are not known yet
    if auto and counted and (why := budget.too_few_steps(run_steps, len(grid.candidates()))):
        return prepared, {**section, "mode": "skipped", "chosen": grid.plain(), "note": why}

    accelerator = prepared.backend.accelerator()
    key = cache.make_key(
        fingerprint=environment.machine_fingerprint(accelerator), accelerator=accelerator,
        backend=prepared.backend.name, model=config.model,
        versions=cache.framework_versions(registry.get_backend(config.backend).requires),
        input_shape=prepared.adapt.target, num_classes=prepared.dataset.num_classes, batch_size=config.batch_size,
        device=config.device, dtype=prepared.backend.dtype, precision=config.precision,
        optimizer=config.optimizer, replicas=config.replicas, grid=grid, workload=workload)
    entry, warning = cache.load(key, grid)
    warnings = [warning] if warning else []
    path = None
    if entry is not None:
        mode, chosen, candidates, path = "cached", entry["chosen"], entry["candidates"], cache.path_for(key)
        section.update(decision=entry.get("decision"))
    elif not measure_missing:
        return prepared, {**section, "mode": "skipped", "chosen": grid.plain(),
                          "note": "no tuned choice cached for this configuration: the framework defaults"}
    else:
        outcome = measure(config, grid, type(prepared.backend), rebuild, sample, progress, run_steps if auto else None,
                          served)
        mode, chosen, candidates = outcome["mode"], outcome["chosen"], outcome["candidates"]
        section.update({k: v for k, v in outcome.items() if k not in ("mode", "chosen", "candidates")})
        if mode == "tuned":
            try:
                path = cache.store(key, chosen, candidates, outcome["decision"])
            except OSError as e:
                warnings.append(f"could not write the tuning cache: {e}")
    for w in warnings:
        print(f"dlbench: warning: {w}", file=sys.stderr, flush=True)
    section.update(mode=mode, chosen=chosen, candidates=candidates, cache_path=str(path) if path else None,
                   time_s=time.perf_counter() - start, **({"warnings": warnings} if warnings else {}))
    if any(prepared.backend.settings[k] != v for k, v in chosen.items()):
        prepared = rebuild({**config.backend_options, **chosen})
    return prepared, section


def measure(config: RunConfig, grid: Grid, backend_cls: type, rebuild: Rebuild, sample, progress,
            run_steps: int | None, served: Served | None = None) -> dict:
    """Build every candidate, time them interleaved, and choose (:mod:`dlbench.tuning.decision`).
    With ``run_steps`` (auto), the default is timed first and the rest only if tuning pays
    (:mod:`dlbench.tuning.budget`). Returns the section's ``mode``, ``chosen``, ``candidates``,
    ``decision`` and, in auto mode, ``budget``."""
    settings = grid.candidates()
    compiling = [backend_cls.compiles(s) for s in settings]
    x, y = sample()
    options = [{**config.backend_options, **s} for s in settings]
    if served is None:
        optimizer = OptimizerSpec.create(config.optimizer, config.lr)
        steps = [Training(rebuild, o, optimizer, config.seed, x, y) for o in options]
    else:
        steps = [Serving(rebuild, o, served, x) for o in options]
    timed = Interleaving(steps, progress)
    # the plain default first: what the run will cost, and what tuning would (a few more steps than
    # the others' warm-up, since one step's time is a poor estimate on a busy machine)
    timed.warm(0, budget.PROBE_STEPS if run_steps is not None else WARMUP_STEPS)
    out: dict[str, Any] = {}
    deadline = None
    if run_steps is not None and timed.timings[0].error is None:
        estimate = budget.estimate(timed.timings[0], compiling, run_steps, cache.compile_history(backend_cls.name),
                                   served.seconds if served else 0.0)
        out["budget"] = estimate.record()
        if not estimate.pays:
            progress("step", done=timed.total, total=timed.total, loss=None, epoch=0)
            return {**out, "mode": "skipped", "chosen": settings[0], "note": estimate.note(),
                    "candidates": _figures(settings[:1], timed.timings[:1], compiling, [None])}
        deadline = estimate.run_s
    for i in range(1, len(steps)):
        timed.warm(i)
    timed.expect_rounds()
    timed.rounds(deadline)
    timings = timed.timings
    del steps, timed
    gc.collect()  # the candidates' models, before the timed run's is built
    best, comparisons = decision.choose(timings)
    candidates = _figures(settings, timings, compiling, comparisons)
    return {**out, "mode": "tuned", "chosen": settings[best], "candidates": candidates,
            "decision": _decision(settings, best, comparisons)}


def _figures(settings: list[dict], timings: list[Timing], compiling: list[bool],
             comparisons: list[decision.Comparison | None]) -> list[dict]:
    out = []
    for s, t, c, cmp in zip(settings, timings, compiling, comparisons):
        figures = {"settings": s, "median_s": t.median, "steps": len(t.times), "first_step_s": t.first_s,
                   "times_s": t.times, "compiles": c, **(cmp.record() if cmp else {})}
        out.append({**figures, "error": t.error} if t.error else figures)
    return out


def _decision(settings: list[dict], best: int, comparisons: list) -> str:
    """One line: what won and by how much, or that the default was kept."""
    if comparisons[best] is None:  # the baseline
        return f"default kept: no candidate significantly faster (by ≥ {decision.MIN_GAIN:.0%}, 95 % interval below 1)"
    c = comparisons[best]
    return (f"{', '.join(f'{k}={v}' for k, v in settings[best].items())}: {c.ratio:.2f}× the default's step time "
            f"[{c.ci.low:.2f}–{c.ci.high:.2f}] over {c.rounds} rounds")

