"""TensorFlow's dense matmul, timed by ``dlbench calibrate`` for the machine's FLOP/s ceiling."""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from dlbench.errors import ConfigError
from dlbench.precision import gpu_gemm_precisions
from dlbench_backends.tensorflow import gpu

DTYPES = {"float32": tf.float32, "tf32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}


def precisions(backend) -> tuple[str, ...]:
    if backend.device != "gpu":
        return ("float32",)
    return gpu_gemm_precisions((gpu.details().get("compute_capability") or (0, 0))[0])


def gemm(backend, precision: str, n: int) -> Callable[[], None]:
    if precision not in DTYPES:
        raise ConfigError(f"tensorflow: no GEMM in {precision!r}; choose one of: {', '.join(DTYPES)}")
    where = backend.tf_device
    rng = np.random.default_rng(0)
    with tf.device(where):
        a = tf.constant(rng.standard_normal((n, n)), dtype=DTYPES[precision])
        b = tf.constant(rng.standard_normal((n, n)), dtype=DTYPES[precision])
    tf32 = precision == "tf32"

    @tf.function(jit_compile=False)
    def matmul(x, y):
        with tf.device(where):
            return tf.linalg.matmul(x, y)[0, 0]  # a scalar to read back: the sync, without copying the product

    def run() -> None:
        # TF enables TF32 by default on Ampere and later: float32 must switch it off to be float32
        tf.config.experimental.enable_tensor_float_32_execution(tf32)
        matmul(a, b).numpy()

    return run
