"""``--precision`` in TensorFlow: Keras mixed-precision policies (float32 variables, float16 or
bfloat16 compute; loss scaling for float16) and TensorFlow's TF32 switch."""

from __future__ import annotations

import tensorflow as tf

from dlbench.precision import AMPERE, LOSS_SCALED, refuse_tf32

POLICY = {"float32": "float32", "tf32": "float32", "mixed-float16": "mixed_float16",
          "mixed-bfloat16": "mixed_bfloat16"}


def policy(precision: str, dtype: str) -> str:
    """The Keras dtype policy of every layer (``float64`` for ``verify --dtype float64``)."""
    return dtype if dtype != "float32" else POLICY[precision]


def configure(backend) -> None:
    """TF32 on for tf32 and explicitly off otherwise: TensorFlow enables it by default on Ampere
    GPUs, so float32 would not be float32. Refuses tf32 on a GPU older than Ampere."""
    precision = backend.precision
    if backend.device == "gpu" and precision == "tf32":
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        capability = details.get("compute_capability") or (0, 0)
        if tuple(capability) < (AMPERE, 0):
            refuse_tf32("tensorflow", details.get("device_name", "this GPU"), f"compute capability {capability}")
    tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")


def describe(backend) -> dict:
    """How the precision is implemented, for the record's environment."""
    return {"keras_dtype_policy": backend.policy,
            "loss_scaling": "dynamic (LossScaleOptimizer)" if backend.precision == LOSS_SCALED else None}
