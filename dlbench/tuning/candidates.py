"""What one tuning candidate times: a train step, or a served request (the eval step, or an exported
model). Each builds a model of its own from the canonical weights in ``prepare()``, so a candidate
that is never timed costs nothing, its build time is no step's, and no tuning step reaches the run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from dlbench.optim import OptimizerSpec

Rebuild = Callable[[dict], Any]  # backend options -> a fresh Prepared (backend and model from the canonical weights)


@dataclass(frozen=True)
class Served:
    """An inference run to tune: ``path`` is ``--serve`` (``step`` or ``export``); ``make(prepared, x)``
    returns the callable that serves requests shaped as ``x`` (on the device); the run serves for at
    least ``seconds``."""

    path: str
    make: Callable[[Any, Any], Callable[[Any], Any]]
    seconds: float

    @property
    def workload(self) -> str:
        return "inference" if self.path == "step" else "export"


class Training:
    """One candidate's synchronised train step."""

    def __init__(self, rebuild: Rebuild, options: dict, optimizer: OptimizerSpec, seed: int, x, y):
        self.rebuild, self.options, self.optimizer, self.seed, self.sample = rebuild, options, optimizer, seed, (x, y)
        self.backend = self.step = self.batch = None

    def prepare(self) -> None:
        p = self.rebuild(self.options)
        self.backend = p.backend
        self.step = p.backend.train_step(p.model, self.optimizer, self.seed)
        self.batch = p.backend.to_device(*self.sample)

    def __call__(self) -> float:
        loss = self.step(*self.batch)
        self.backend.sync(loss)
        return float(self.backend.to_numpy(loss))


class Serving:
    """One candidate's request, the input already on the device, as the run's compute-only latency
    times it. What serves is made at the first call, so an export (like a compilation) is part of the
    candidate's first step: what tuning's cost estimate reads."""

    def __init__(self, rebuild: Rebuild, options: dict, served: Served, x):
        self.rebuild, self.options, self.served, self.x = rebuild, options, served, x
        self.prepared = self.xd = self.call = None

    def prepare(self) -> None:
        self.prepared = self.rebuild(self.options)
        self.xd = self.prepared.backend.to_device(self.x)[0]

    def __call__(self) -> None:
        if self.call is None:
            self.call = self.served.make(self.prepared, self.xd)
        self.prepared.backend.sync(self.call(self.xd))
