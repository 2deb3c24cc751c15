"""JAX's dense matmul (XLA dot), timed by ``dlbench calibrate`` for the machine's FLOP/s ceiling."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from dlbench.errors import ConfigError
from dlbench.precision import gpu_gemm_precisions

#: precision -> (array dtype, jax matmul precision)
MODES = {"float32": (jnp.float32, "highest"), "tf32": (jnp.float32, "tensorfloat32"),
         "bfloat16": (jnp.bfloat16, "default"), "float16": (jnp.float16, "default")}


def precisions(backend) -> tuple[str, ...]:
    device = backend.jax_device
    if device.platform != "gpu":
        return ("float32",)
    return gpu_gemm_precisions(int(str(getattr(device, "compute_capability", "0")).split(".")[0] or 0))


def gemm(backend, precision: str, n: int) -> Callable[[], None]:
    device = backend.jax_device
    if precision not in MODES:
        raise ConfigError(f"jax: no GEMM in {precision!r}; choose one of: {', '.join(MODES)}")
    dtype, mode = MODES[precision]
    rng = np.random.default_rng(0)
    a = jax.device_put(jnp.asarray(rng.standard_normal((n, n)), dtype), device)
    b = jax.device_put(jnp.asarray(rng.standard_normal((n, n)), dtype), device)
    with jax.default_matmul_precision(mode):
        matmul = jax.jit(jnp.matmul).lower(a, b).compile()

    def run() -> None:
        matmul(a, b).block_until_ready()

    return run
