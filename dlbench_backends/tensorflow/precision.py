"""``--precision`` in TensorFlow: Keras mixed-precision policies (float32 variables, float16 or
bfloat16 compute; loss scaling for float16) and TensorFlow's TF32 switch."""

from __future__ import annotations

import tensorflow as tf

from dlbench.errors import ConfigError

#: Keras runs both mixed policies on the CPU; TF32 is an NVIDIA tensor-core format
PRECISIONS = {"cpu": ("float32", "mixed-float16", "mixed-bfloat16"),
              "gpu": ("float32", "tf32", "mixed-float16", "mixed-bfloat16")}
POLICY = {"float32": "float32", "tf32": "float32", "mixed-float16": "mixed_float16",
          "mixed-bfloat16": "mixed_bfloat16"}
LOSS_SCALED = "mixed_float16"  # float16's 5 exponent bits flush small gradients; bfloat16 has float32's range


def policy(precision: str, dtype: str) -> str:
    """The Keras dtype policy of every layer (``float64`` for ``verify --dtype float64``)."""
    return dtype if dtype != "float32" else POLICY[precision]


def configure(device: str, precision: str) -> None:
    """TF32 on for tf32 and explicitly off otherwise: TensorFlow enables it by default on Ampere
    GPUs, so float32 would not be float32. Refuses tf32 on a GPU older than Ampere."""
    if device == "gpu" and precision == "tf32":
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        capability = details.get("compute_capability") or (0, 0)
        if tuple(capability) < (8, 0):
            raise ConfigError(f"tensorflow: cannot compute in tf32 on {details.get('device_name', 'this GPU')} "
                              f"(compute capability {capability}): tf32 needs an NVIDIA GPU (Ampere or newer); "
                              "accepted: float32, mixed-float16, mixed-bfloat16")
    tf.config.experimental.enable_tensor_float_32_execution(precision == "tf32")
