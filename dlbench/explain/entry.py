"""The worker's ``explain`` entry: one backend's training step profiled layer by layer, as a record
with a ``breakdown`` section.

The step is the one ``dlbench run`` times (the backend's ``train_step``, at the settings a run would
reuse: the cached tuned choice, else the framework defaults; ``--tune`` times them first), on one
batch held on the device. After the warm-up, unprofiled steps bracket the profiled ones, so the
profiler's overhead is measured against steps of the same process around it.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from dataclasses import replace
from types import ModuleType

import numpy as np

from dlbench.config import RunConfig
from dlbench.data.batching import train_batches
from dlbench.errors import ConfigError
from dlbench.explain import breakdown, isolated
from dlbench.measure import sections
from dlbench.measure.memory import MemoryTracker
from dlbench.measure.prepare import Progress, own_options, prepare
from dlbench.optim import OptimizerSpec
from dlbench.result import Result
from dlbench.tuning import tune

DEFAULT_STEPS, DEFAULT_ROUNDS = 3, 5


def profiler_of(backend) -> ModuleType:
    """The backend's ``profile`` module: the one beside its class (``dlbench_backends.torch.profile``)."""
    name = f"{type(backend).__module__.rpartition('.')[0]}.profile"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        raise ConfigError(f"{backend.name}: no profile module ({name}), so `dlbench explain` cannot profile it") from None


def explain(payload: dict, progress: Progress) -> dict:
    with tempfile.TemporaryDirectory(prefix="dlbench-explain-") as folder:  # traces, compiled programs
        return _explain(payload, progress, folder)


def _explain(payload: dict, progress: Progress, folder: str) -> dict:
    wanted = bool(payload.pop("isolated", False))
    rounds = int(payload.pop("rounds", DEFAULT_ROUNDS))
    config = own_options(RunConfig.from_dict(payload))
    if config.replicas > 1:
        raise ConfigError("explain profiles one process: use --replicas 1")
    wall = time.perf_counter()
    p = prepare(config, progress)
    if p.graph is None:
        raise ConfigError(f"model {config.model!r} is hand-written for {config.backend}: explain needs a declared model")
    profiler = profiler_of(p.backend)
    batch = lambda: next(train_batches(p.dataset.train, config.batch_size, config.seed, p.adapt))[1:]  # noqa: E731
    profiler.prepare(p.backend, p.model, p.graph, folder)
    p, tuning = tune(config, p, lambda options: _rebuilt(config, options, p, profiler, folder), batch, progress,
                     measure_missing=config.tune is True)
    tracker = MemoryTracker().start()
    optimizer = OptimizerSpec.create(config.optimizer, config.lr)
    step = p.backend.train_step(p.model, optimizer, config.seed)
    xy = p.backend.to_device(*batch())
    n = config.steps or DEFAULT_STEPS
    timed = lambda count: [_step_time(p.backend, step, xy) for _ in range(count)]  # noqa: E731
    progress("phase", name="warming up")
    timed(config.warmup)
    progress("phase", name="profiling")
    before = timed((n + 1) // 2)
    trace = profiler.profile(p.backend, p.model, p.graph, optimizer, step, xy, n, folder)
    unprofiled = before + timed(n // 2)
    tracker.stop()
    figures = breakdown.build(p.graph, trace) if trace["steps"] else {"rows": [], "sum": {}}
    section = {
        "profiler": trace["profiler"], "attributable": trace["attributable"], "note": trace.get("note"),
        "steps_profiled": len(trace["host_step_s"]), "profiled_steps_s": trace["host_step_s"],
        "unprofiled_steps_s": unprofiled, "overhead": _overhead(trace["host_step_s"], unprofiled), **figures,
        "isolated": None,
    }
    if wanted or not trace["attributable"]:
        section["isolated"] = isolated.measure(p.graph, p.backend, profiler, config.batch_size, rounds, config.seed,
                                               progress)
    common = sections.shared(config, p, tracker, "none")
    return Result(config=config.to_dict(), **common, tuning=tuning, breakdown=section,
                  timing={"steps_timed": len(unprofiled), "warmup_steps": config.warmup,
                          **sections.step_times(unprofiled, config.batch_size),
                          "wall_time_s": time.perf_counter() - wall}).to_dict()


def _rebuilt(config: RunConfig, options: dict, p, profiler: ModuleType, folder: str):
    rebuilt = prepare(replace(config, backend_options=options), data=(p.dataset, p.adapt))
    profiler.prepare(rebuilt.backend, rebuilt.model, rebuilt.graph, folder)
    return rebuilt


def _step_time(backend, step, xy) -> float:
    start = time.perf_counter()
    backend.sync(step(*xy))
    return time.perf_counter() - start


def _overhead(profiled: list[float], unprofiled: list[float]) -> dict:
    """The profiled step's median against the unprofiled steps' (the profiler's own cost)."""
    a, b = float(np.median(profiled)), float(np.median(unprofiled))
    return {"profiled_s": a, "unprofiled_s": b, "ratio": a / b}
