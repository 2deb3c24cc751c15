"""Multi-head self-attention, two ways (the ``attention`` option):

- ``einsum`` (the default): one layer of our own holding the canonical variables as they are: one
  fused (D, 3·H·hd) projection, then einsums for the scores and the weighted values;
- ``keras``: Keras's own ``keras.layers.MultiHeadAttention``: three EinsumDense projections whose
  kernels (D, H, hd) are the canonical [q | k | v] columns reshaped, an output kernel (H, hd, D).

Both compute softmax(q kᵀ / sqrt(hd) + mask) v per head, equal up to round-off (the softmax in
float32 under a mixed policy); attention dropout drops the weights while training, through a
``keras.layers.Dropout`` that ``seed_dropout`` seeds.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from dlbench.graph import MultiHeadAttention

IMPLEMENTATIONS = ("einsum", "keras")
_QKV = ("query", "key", "value")


class KerasAttention(keras.layers.MultiHeadAttention):
    """Keras's MultiHeadAttention as a one-input self-attention layer, loading and exporting the
    canonical weights."""

    def __init__(self, heads: int, head_size: int, causal: bool, **kwargs):
        super().__init__(heads, head_size, **kwargs)
        self.causal = causal

    def build(self, shape):
        super().build(shape, shape)

    def call(self, x, training=None):
        return super().call(x, x, training=training, use_causal_mask=self.causal)

    def compute_output_spec(self, x, training=None):
        return super().compute_output_spec(x, x)

    def _parts(self, pname: str) -> list:
        """The Keras variables holding canonical ``pname``: q, k and v's for the fused projection."""
        if pname.startswith("qkv"):
            return [getattr(getattr(self, f"{p}_dense"), pname[4:]) for p in _QKV]
        return [getattr(self.output_dense, pname[4:])]

    def assign_canonical(self, pname: str, value: np.ndarray) -> None:
        parts = self._parts(pname)
        if pname.startswith("qkv"):  # (D, 3 * H * hd) -> three (D, H, hd); (3 * H * hd,) -> three (H, hd)
            value = np.split(value, 3, axis=-1)
        else:
            value = [value]
        for var, v in zip(parts, value):
            var.assign(np.asarray(v, var.dtype).reshape(var.shape))

    def canonical(self, pname: str) -> np.ndarray:
        """The variables of ``pname`` side by side, flat but for the kernel rows; the caller reshapes
        them to the canonical shape."""
        parts = [np.asarray(v.numpy()) for v in self._parts(pname)]
        return np.concatenate([p.reshape(len(p), -1) if pname == "qkv_kernel" else p.reshape(-1) for p in parts], -1)


class EinsumAttention(keras.layers.Layer):
    """Self-attention with the canonical variables: ``qkv_kernel`` (D, 3·H·hd), ``qkv_bias``,
    ``out_kernel`` (H·hd, D), ``out_bias``."""

    def __init__(self, heads: int, head_size: int, causal: bool, dropout: float, use_bias: bool, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.head_size, self.causal, self.use_bias = heads, head_size, causal, use_bias
        self.drop = keras.layers.Dropout(dropout, dtype=self.dtype_policy) if dropout else None

    def build(self, shape):
        d, inner = shape[-1], self.heads * self.head_size
        self.qkv_kernel = self.add_weight(name="qkv_kernel", shape=(d, 3 * inner), initializer="zeros")
        self.out_kernel = self.add_weight(name="out_kernel", shape=(inner, d), initializer="zeros")
        if self.use_bias:
            self.qkv_bias = self.add_weight(name="qkv_bias", shape=(3 * inner,), initializer="zeros")
            self.out_bias = self.add_weight(name="out_bias", shape=(d,), initializer="zeros")

    def call(self, x, training=None):
        t, h, hd = x.shape[1], self.heads, self.head_size
        qkv = tf.einsum("ntd,de->nte", x, self.qkv_kernel)
        if self.use_bias:
            qkv += self.qkv_bias
        q, k, v = tf.unstack(tf.reshape(qkv, [-1, t, 3, h, hd]), axis=2)
        scores = tf.einsum("nthd,nshd->nhts", q * tf.cast(1 / math.sqrt(hd), q.dtype), k)
        scores = tf.cast(scores, tf.float64 if scores.dtype == tf.float64 else tf.float32)
        if self.causal:
            scores = tf.where(tf.linalg.band_part(tf.ones((t, t), tf.bool), -1, 0), scores, float("-inf"))
        weights = tf.cast(tf.nn.softmax(scores, axis=-1), x.dtype)
        if self.drop is not None:
            weights = self.drop(weights, training=training)
        out = tf.reshape(tf.einsum("nhts,nshd->nthd", weights, v), [-1, t, h * hd])
        out = tf.einsum("nti,id->ntd", out, self.out_kernel)
        return out + self.out_bias if self.use_bias else out

    def assign_canonical(self, pname: str, value: np.ndarray) -> None:
        var = getattr(self, pname)
        var.assign(np.asarray(value, var.dtype).reshape(var.shape))

    def canonical(self, pname: str) -> np.ndarray:
        return np.asarray(getattr(self, pname).numpy())


def make(layer: MultiHeadAttention, in_shape, implementation: str, **kw) -> keras.layers.Layer:
    """The Keras layer of one attention node, in ``implementation`` (one of :data:`IMPLEMENTATIONS`)."""
    hd = layer.size(in_shape)
    if implementation == "keras":
        return KerasAttention(layer.heads, hd, layer.causal, value_dim=hd, dropout=layer.dropout,
                              use_bias=layer.use_bias, **kw)
    return EinsumAttention(layer.heads, hd, layer.causal, layer.dropout, layer.use_bias, **kw)
