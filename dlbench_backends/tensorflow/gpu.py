"""The GPU TensorFlow computes on: its identity, which keys tuning choices and calibration profiles."""

from __future__ import annotations

import tensorflow as tf


def details() -> dict:
    """The first GPU's details (``device_name``, ``compute_capability``)."""
    return tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])


def runtime() -> str | None:
    """The CUDA or ROCm version this build of TensorFlow was made for; None for a CPU-only build."""
    build = tf.sysconfig.get_build_info()
    if build.get("cuda_version"):
        return f"cuda {build['cuda_version']}"
    if build.get("rocm_version"):
        return f"rocm {build['rocm_version']}"
    return None


def accelerator() -> dict:
    return {"model": details().get("device_name", "GPU"), "count": len(tf.config.list_physical_devices("GPU")),
            "runtime": runtime()}
