"""The GPU TensorFlow computes on: its identity, which keys tuning choices and calibration profiles, and
why TensorFlow sees none (``dlbench doctor``)."""

from __future__ import annotations

from importlib import metadata

import tensorflow as tf

from dlbench import gpu_status


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


def status() -> tuple[bool, str]:
    if tf.config.list_physical_devices("GPU"):
        return gpu_status.visible(accelerator())
    if not tf.test.is_built_with_gpu_support():
        return gpu_status.not_visible(f"{distribution()} can never use a GPU (TensorFlow {tf.__version__}, built "
                                      f"without CUDA): {gpu_status.INSTALL}", gpu_status.missing_driver())
    return gpu_status.not_visible(gpu_status.unseen(f"TensorFlow built for {runtime()}",
                                                    nvidia=not tf.test.is_built_with_rocm()))


def distribution() -> str:
    """The package a CPU-only TensorFlow came from, as users know it."""
    try:
        metadata.distribution("tensorflow-cpu")
    except metadata.PackageNotFoundError:
        return "this TensorFlow build"
    return "tensorflow-cpu"
