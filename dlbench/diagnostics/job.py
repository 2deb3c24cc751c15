"""The worker's ``describe`` job: one backend, in its own process, reports its versions and devices."""

from __future__ import annotations

from typing import Any, Callable

from dlbench import registry
from dlbench.errors import DlbenchError


def describe_job(payload: dict, progress: Callable[..., Any]) -> dict:
    backend_cls = registry.get_backend(payload["backend"]).load()
    cpu = backend_cls(device="cpu")
    out = {"cpu": cpu.environment(), "gpu": None, "gpu_error": None}
    if "gpu" in backend_cls.devices:
        try:
            out["gpu"] = backend_cls(device="gpu").environment()
        except DlbenchError as e:
            out["gpu_error"] = str(e)
    return out
