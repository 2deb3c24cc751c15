"""The GPU JAX computes on: its identity, which keys tuning choices and calibration profiles, and why
JAX sees none (``dlbench doctor``)."""

from __future__ import annotations

import re
from importlib import metadata

import jax
import jaxlib

from dlbench import gpu_status


def runtime(device: jax.Device) -> str | None:
    """The CUDA or ROCm runtime of the plugin that drives ``device``, as its client names it."""
    version = getattr(getattr(device, "client", None), "platform_version", None)
    return str(version).strip() if version else None


def accelerator(device: jax.Device) -> dict:
    return {"model": device.device_kind, "count": len(jax.devices(device.platform)), "runtime": runtime(device)}


def gpu_plugins() -> list[str]:
    """The installed packages that give jaxlib a GPU (jax-cuda12-plugin, jax-cuda13-plugin, jax-rocm7-plugin...)."""
    names = {(d.metadata["Name"] or "").lower().replace("_", "-") for d in metadata.distributions()}
    return sorted(n for n in names if re.fullmatch(r"jax-(cuda|rocm)\d+-plugin", n))


def status() -> tuple[bool, str]:
    try:
        return gpu_status.visible(accelerator(jax.devices("gpu")[0]))
    except RuntimeError:  # no GPU platform
        pass
    plugins = gpu_plugins()
    if not plugins:
        return gpu_status.not_visible(f"jaxlib {jaxlib.__version__} has no CUDA plugin (jax-cuda12-plugin not "
                                      f"installed), so JAX runs on the CPU only: {gpu_status.INSTALL}",
                                      gpu_status.missing_driver())
    return gpu_status.not_visible(gpu_status.unseen(f"JAX with {', '.join(plugins)}",
                                                    nvidia=any("cuda" in p for p in plugins)))
