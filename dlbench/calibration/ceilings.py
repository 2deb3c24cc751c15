"""The worker's ``calibrate`` entry: one backend, in its own process, times its GEMM per precision."""

from __future__ import annotations

from typing import Any, Callable

from dlbench import registry
from dlbench.calibration.gemm import SIZES, peak
from dlbench.calibration.profile import entry_key


def time_gemms(payload: dict, progress: Callable[..., Any]) -> dict:
    """``{"backend", "device", "seconds", "size"}`` in; ``{"device_name", "accelerator", "entries": {key: entry}}``
    out, the accelerator keying the profile they go to."""
    backend_cls = registry.get_backend(payload["backend"]).load()
    device = payload.get("device", "cpu")
    backend = backend_cls(device=device)
    n = payload.get("size") or SIZES[device]
    device_name = backend.environment().get("device_name")
    precisions = backend.gemm_precisions()
    entries = {}
    progress("phase", name="timing GEMMs", total=len(precisions))
    for i, precision in enumerate(precisions):
        entry = peak(backend.gemm(precision, n), n, payload.get("seconds", 2.0))
        entries[entry_key(backend.name, device, precision)] = {**entry, "device_name": device_name}
        progress("step", done=i + 1, total=len(precisions), loss=None, epoch=0)
    return {"device_name": device_name, "accelerator": backend.accelerator(), "entries": entries}
