"""Multi-head self-attention as a Flax module holding dlbench's canonical parameters under their
canonical names: ``qkv_kernel`` (D, 3·H·hd) = [q | k | v], each head-major, ``qkv_bias``,
``out_kernel`` (H·hd, D) and ``out_bias``; so weights load without any permutation.

The projection's (N, T, 3·H·hd) output reshapes to (N, T, 3, H, hd), which is already the
(batch, time, heads, features) layout ``jax.nn.dot_product_attention`` takes. Flax's written-out
``nn.dot_product_attention`` computes the same (the same scale 1/sqrt(hd), applied to q instead of
the scores, the same causal mask; float32 round-off apart) and, on XLA:CPU, trains faster at some
shapes: jax.nn's vmaps over query groups, which costs transposes. Which one runs is the backend's
``attention`` option, a tuned performance setting (:func:`kernel_for`). A training step that drops
attention weights always takes Flax's: jax.nn's has no dropout.
"""

from __future__ import annotations

import contextlib
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype

#: lax.Precision -> the name jax.default_matmul_precision takes (jax.nn.dot_product_attention has no
#: precision argument; its matmuls take the default in force while it is traced)
_PRECISION_NAMES = {jax.lax.Precision.HIGHEST: "highest", jax.lax.Precision.HIGH: "high",
                    jax.lax.Precision.DEFAULT: "default"}


def matmul_precision(precision: Any):
    """A context under which the matmuls traced get ``precision`` (None: leave the default)."""
    return contextlib.nullcontext() if precision is None else jax.default_matmul_precision(_PRECISION_NAMES[precision])


KERNELS = {"jax": "jax.nn.dot_product_attention", "flax": "flax.linen.dot_product_attention (written out)"}


def kernel_for(preferred: str, dtype, platform: str) -> str:
    """The kernel that computes in ``dtype`` on ``platform``: ``preferred`` (``"jax"`` or ``"flax"``),
    but Flax's where jax.nn's cannot compute as asked: it casts its softmax to float32, so not
    float64 (``verify --dtype float64``); and it asks float16 matmuls for the F16_F16_F32 algorithm,
    which XLA:CPU lacks."""
    dtype = jnp.dtype(dtype)
    return "flax" if dtype == jnp.float64 or (dtype == jnp.float16 and platform == "cpu") else preferred


class SelfAttention(nn.Module):
    """Self-attention over a (N, T, D) batch: (N, T, D) out."""

    heads: int
    head_size: int
    use_bias: bool = True
    causal: bool = False
    dropout: float = 0.0
    precision: Any = None
    dtype: Any = None  # the computation dtype (None: the inputs'); parameters stay float32
    kernel: str = "jax"  # see KERNELS

    @nn.compact
    def __call__(self, x, train: bool = False):
        n, t, d = x.shape
        inner = self.heads * self.head_size
        init = nn.initializers.lecun_normal()  # never used: dlbench loads every weight
        qkv_kernel = self.param("qkv_kernel", init, (d, 3 * inner), jnp.float32)
        out_kernel = self.param("out_kernel", init, (inner, d), jnp.float32)
        biases = ((self.param("qkv_bias", nn.initializers.zeros_init(), (3 * inner,), jnp.float32),
                   self.param("out_bias", nn.initializers.zeros_init(), (d,), jnp.float32))
                  if self.use_bias else (0.0, 0.0))
        x, qkv_kernel, out_kernel = promote_dtype(x, qkv_kernel, out_kernel, dtype=self.dtype)
        qkv_bias, out_bias = (jnp.asarray(b, x.dtype) for b in biases)
        qkv = (jnp.dot(x, qkv_kernel, precision=self.precision) + qkv_bias).reshape(n, t, 3, self.heads,
                                                                                      self.head_size)
        y = self._attend(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], train)
        return jnp.dot(y.reshape(n, t, inner), out_kernel, precision=self.precision) + out_bias

    def _attend(self, q, k, v, train: bool):
        dropout = train and self.dropout > 0
        if not dropout and self.kernel == "jax":
            with matmul_precision(self.precision):
                return jax.nn.dot_product_attention(q, k, v, is_causal=self.causal)
        t = q.shape[1]
        return nn.dot_product_attention(
            q, k, v, mask=jnp.tril(jnp.ones((t, t), bool)) if self.causal else None,
            dropout_rng=self.make_rng("dropout") if dropout else None, dropout_rate=self.dropout,
            broadcast_dropout=False,  # a mask of its own for every example and head, as torch's and Keras's
            deterministic=not dropout, precision=self.precision,
            force_fp32_for_softmax=self.dtype is not None)  # mixed precision; float64 keeps its softmax
