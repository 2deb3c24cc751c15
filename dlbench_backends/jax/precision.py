"""``--precision`` in JAX: the Flax modules' computation dtype (parameters stay float32), the
matmul/conv precision, and dynamic loss scaling for float16 (jmp's scheme, written out)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dlbench.precision import AMPERE, LOSS_SCALED, refuse_tf32

COMPUTE = {"mixed-float16": jnp.float16, "mixed-bfloat16": jnp.bfloat16}
#: float32 is true float32 (HIGHEST: XLA:GPU would otherwise use TF32 on Ampere); tf32 is XLA's
#: DEFAULT, which is TF32 on Ampere or newer; mixed inputs are already low-precision
MATMUL = {"float32": ("highest", jax.lax.Precision.HIGHEST), "tf32": ("tensorfloat32", None),
          "mixed-float16": ("default", None), "mixed-bfloat16": ("default", None)}


def configure(backend) -> None:
    """Refuse tf32 on a GPU older than Ampere; the rest is per module (dtype, precision), not global."""
    device = backend.jax_device
    capability = getattr(device, "compute_capability", None)
    if backend.precision == "tf32" and capability is not None and float(capability) < AMPERE:
        refuse_tf32("jax", device.device_kind, f"compute capability {capability}")


def describe(backend) -> dict:
    """How the precision is implemented, for the record's environment."""
    return {"compute_dtype": str(np.dtype(backend.compute_dtype or backend.np_dtype)),
            "loss_scaling": "dynamic (LossScale, written out)" if backend.precision == LOSS_SCALED else None}


class LossScale(NamedTuple):
    """Dynamic loss scale: steps with non-finite gradients are skipped and halve it; 2000 finite
    steps in a row double it (the scheme of Keras's LossScaleOptimizer and torch's GradScaler)."""

    scale: jax.Array
    good_steps: jax.Array

    @classmethod
    def initial(cls) -> "LossScale":
        return cls(jnp.asarray(2.0**15, jnp.float32), jnp.asarray(0, jnp.int32))

    def adjust(self, finite: jax.Array, growth_interval: int = 2000) -> "LossScale":
        grow = finite & (self.good_steps + 1 >= growth_interval)
        scale = jnp.where(finite, jnp.where(grow, self.scale * 2.0, self.scale), jnp.maximum(self.scale / 2.0, 1.0))
        return LossScale(scale, jnp.where(finite & ~grow, self.good_steps + 1, 0))


def all_finite(tree: Any) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def keep_if(finite: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where the gradients were finite, else ``old`` (the skipped step)."""
    return jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
