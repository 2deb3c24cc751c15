"""The worker's ``probe`` entry: one backend, in its own process, reports its versions and devices."""

from __future__ import annotations

from typing import Any, Callable

from dlbench import registry
from dlbench.errors import DlbenchError


def probe_backend(payload: dict, progress: Callable[..., Any]) -> dict:
    """``{"cpu": environment, "gpu": environment or None, "gpu_visible", "gpu_reason"}``: the reason
    names the GPUs, or says why the framework sees none."""
    backend_cls = registry.get_backend(payload["backend"]).load()
    cpu = backend_cls(device="cpu")
    visible, reason = backend_cls.gpu_status()
    out = {"cpu": cpu.environment(), "gpu": None, "gpu_visible": visible, "gpu_reason": reason}
    if visible:
        try:
            out["gpu"] = backend_cls(device="gpu").environment()
        except DlbenchError as e:
            out.update(gpu_visible=False, gpu_reason=str(e))
    return out
