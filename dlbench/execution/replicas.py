"""Data-parallel runs: a worker entry run once, or as replicas on the backend's own distributed engine.

The engine is the backend's ``distributed`` module (``dlbench_backends/<framework>/distributed.py``):
``launch(entry, payload, replicas, progress) -> output`` runs the entry (``"module:function"``) as
the framework runs data parallelism (torch: one process per replica through its elastic launcher;
JAX and TensorFlow: one process driving several devices, or with ``--processes`` one process per
machine, started by dlbench's own launcher (:mod:`dlbench.execution.local_launch`)) and returns what
it returned on replica 0. Started by an outer launcher (``srun``, ``torchrun``, a plain start:
:mod:`dlbench.execution.launcher`), the engine joins that launch's processes instead.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from dlbench.errors import ConfigError

Entry = Callable[[dict, Callable[..., None]], dict]


def load(ref: str) -> Entry:
    """``"module:function"`` -> the function."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def engine(backend: str) -> Any:
    """The backend's distributed module, or a clear error naming the backends that have one."""
    from dlbench import registry

    info = registry.get_backend(backend)
    if info.distributed is None:
        able = ", ".join(name for name, i in registry.backends().items() if i.distributed) or "none"
        raise ConfigError(f"backend {info.name!r} has no data-parallel engine, so --replicas must be 1; "
                          f"backends with one: {able}")
    info.load()  # a clear error if the framework is not installed
    return importlib.import_module(info.distributed)


def run(entry: str, payload: dict, progress: Callable[..., None]) -> dict:
    """Run the entry (``"module:function"``) once, or as ``payload["replicas"]`` data-parallel replicas."""
    replicas = payload.get("replicas", 1)
    if replicas == 1:
        return load(entry)(payload, progress)
    return engine(payload["backend"]).launch(entry, payload, replicas, progress)
