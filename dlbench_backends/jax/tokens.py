"""Token layers as Flax modules holding dlbench's canonical parameters under their canonical names:
a token embedding (``embedding`` (vocab, D), Flax's own ``nn.Embed``), a position embedding
(``embedding`` (max_len, D)) and a class token (``token`` (D,)).

A tied output head calls ``attend`` on the very embedding module that looked the tokens up, so both
uses read one variable and autodiff adds up the gradients of both.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class Embed(nn.Embed):
    """``nn.Embed`` whose ``attend`` (x @ embeddingᵀ, the tied output head) takes the matmul precision."""

    precision: Any = None

    def attend(self, query):
        query, embedding = self.promote_dtype(query, self.embedding, dtype=self.dtype)
        return jnp.dot(query, embedding.T, precision=self.precision)


class PositionEmbed(nn.Module):
    """Adds row ``t`` of ``embedding`` (max_len, D) to the token at position ``t``."""

    max_len: int

    @nn.compact
    def __call__(self, x):
        table = self.param("embedding", nn.initializers.normal(0.02), (self.max_len, x.shape[-1]), jnp.float32)
        return x + table[: x.shape[1]].astype(x.dtype)


class PrependToken(nn.Module):
    """Prepends the learned ``token`` (D,) to every sequence: (N, T, D) to (N, T + 1, D)."""

    @nn.compact
    def __call__(self, x):
        token = self.param("token", nn.initializers.zeros_init(), (x.shape[-1],), jnp.float32).astype(x.dtype)
        return jnp.concatenate([jnp.broadcast_to(token, (x.shape[0], 1, x.shape[-1])), x], axis=1)
