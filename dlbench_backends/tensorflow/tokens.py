"""The token-sequence layers Keras has no layer for, holding the canonical variables under their
canonical names (``embedding``, ``token``): position embeddings, the class token, token pooling and
the output head tied to a ``keras.layers.Embedding``. Token embeddings are Keras's ``Embedding``.

Variables are float32 under a mixed policy and cast to the compute dtype where they are read.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class PositionEmbedding(keras.layers.Layer):
    """Adds row ``t`` of ``embedding`` (max_len, D) to the token at position ``t``."""

    def __init__(self, max_len: int, **kwargs):
        super().__init__(**kwargs)
        self.max_len = max_len

    def build(self, shape):
        self.embedding = self.add_weight(name="embedding", shape=(self.max_len, shape[-1]), initializer="zeros")

    def call(self, x):
        return x + tf.cast(self.embedding[: x.shape[1]], x.dtype)


class ClassToken(keras.layers.Layer):
    """Prepends the learned ``token`` (D,): (N, T, D) to (N, T + 1, D)."""

    def build(self, shape):
        self.token = self.add_weight(name="token", shape=(shape[-1],), initializer="zeros")

    def call(self, x):
        token = tf.broadcast_to(tf.cast(self.token, x.dtype), [tf.shape(x)[0], 1, x.shape[-1]])
        return tf.concat([token, x], axis=1)

    def compute_output_shape(self, shape):
        return (shape[0], None if shape[1] is None else shape[1] + 1, shape[2])


class TokenPool(keras.layers.Layer):
    """A sequence to one vector: its first token (``"class"``) or the mean over tokens (``"mean"``)."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, x):
        return x[:, 0] if self.mode == "class" else tf.reduce_mean(x, axis=1)

    def compute_output_shape(self, shape):
        return (shape[0], shape[2])


class TiedDense(keras.layers.Layer):
    """logits = x @ embeddingᵀ with the embedding layer's own variable (not a copy): the gradients of
    the lookup and of the head add up in that one variable, and the weights count once."""

    def __init__(self, embedding: keras.layers.Embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding

    def call(self, x):
        table = tf.cast(self.embedding.embeddings, x.dtype)
        # one (N * T, D) x (D, V) GEMM: a MatMul the profiler counts, and oneDNN's fastest form
        logits = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), table, transpose_b=True)
        return tf.reshape(logits, [-1, *x.shape[1:-1], table.shape[0]])

    def compute_output_shape(self, shape):
        return (*shape[:-1], self.embedding.input_dim)
