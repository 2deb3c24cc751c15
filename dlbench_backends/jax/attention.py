"""Multi-head self-attention as a Flax module holding dlbench's canonical parameters under their
canonical names: ``qkv_kernel`` (D, 3·H·hd) = [q | k | v], each head-major, ``qkv_bias``,
``out_kernel`` (H·hd, D) and ``out_bias``; so weights load without any permutation.

The projection is one einsum of the input with ``qkv_kernel`` viewed as (D, 3, H, hd) (a reshape,
no copy) straight into (3, N, T, H, hd): q, k and v come out contiguous, each in the (batch, time,
heads, features) layout ``jax.nn.dot_product_attention`` takes, and the output projection contracts
(H, hd) with ``out_kernel`` viewed as (H, hd, D), as Flax's ``MultiHeadDotProductAttention`` does.
On XLA:CPU that trained ``vit_tiny`` and ``gpt_char`` 5-10 % faster than a (N·T, D) x (D, 3·H·hd)
matmul whose output is reshaped and sliced (interleaved steps, 2-core reference CPU), whichever
attention kernel follows. Flax's written-out
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
        d = x.shape[-1]
        inner = self.heads * self.head_size
        init = nn.initializers.lecun_normal()  # never used: dlbench loads every weight
        qkv_kernel = self.param("qkv_kernel", init, (d, 3 * inner), jnp.float32)
        out_kernel = self.param("out_kernel", init, (inner, d), jnp.float32)
        heads = (self.heads, self.head_size)
        x, qkv_kernel, out_kernel = promote_dtype(x, qkv_kernel, out_kernel, dtype=self.dtype)
        qkv = jnp.einsum("ntd,dchk->cnthk", x, qkv_kernel.reshape(d, 3, *heads), precision=self.precision)
        out_bias = 0.0
        if self.use_bias:
            qkv_bias = self.param("qkv_bias", nn.initializers.zeros_init(), (3 * inner,), jnp.float32)
            out_bias = self.param("out_bias", nn.initializers.zeros_init(), (d,), jnp.float32).astype(x.dtype)
            qkv = qkv + qkv_bias.astype(x.dtype).reshape(3, 1, 1, *heads)
        q, k, v = qkv  # each (N, T, H, hd), contiguous
        y = self._attend(q, k, v, train)
        return jnp.einsum("nthk,hkd->ntd", y, out_kernel.reshape(*heads, d), precision=self.precision) + out_bias

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
