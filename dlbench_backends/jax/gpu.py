"""The GPU JAX computes on: its identity, which keys tuning choices and calibration profiles."""

from __future__ import annotations

import jax


def runtime(device: jax.Device) -> str | None:
    """The CUDA or ROCm runtime of the plugin that drives ``device``, as its client names it."""
    version = getattr(getattr(device, "client", None), "platform_version", None)
    return str(version).strip() if version else None


def accelerator(device: jax.Device) -> dict:
    return {"model": device.device_kind, "count": len(jax.devices(device.platform)), "runtime": runtime(device)}
