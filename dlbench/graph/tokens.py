"""Layers of token sequences: a sequence is (T, D), a token index and its features; the inputs of a
language model are (T,) integer token ids. Canonical layouts (what every backend loads and exports):

- ``TokenEmbedding.embedding``: (vocab, D); row ``i`` is token ``i``'s vector
- ``PositionEmbedding.embedding``: (max_len, D); row ``t`` is added to the token at position ``t``
- ``ClassToken.token``: (D,), prepended to the sequence (ViT's [class] token)
- ``TiedDense`` has no weights of its own: it multiplies by the transpose of the embedding it is
  tied to (GPT-2's output head), so logits = x @ embedding.T

MACs: an embedding lookup is none; a tied output head is T x D x vocab.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from dlbench.errors import ConfigError
from dlbench.graph.layers import Layer, Param, Shape


def _sequence(shape: Shape, kind: str) -> Shape:
    if len(shape) != 2:
        raise ConfigError(f"{kind} needs a (T, D) sequence, got shape {shape}")
    return shape


@dataclass(frozen=True)
class TokenEmbedding(Layer):
    """Token ids (T,) to vectors (T, D)."""

    vocab: int
    dim: int
    init: str = "normal_0.02"
    kind: ClassVar[str] = "token_embedding"

    def output_shape(self, x: Shape) -> Shape:
        if len(x) != 1:
            raise ConfigError(f"TokenEmbedding needs (T,) token ids, got shape {x}")
        return (x[0], self.dim)

    def params(self, x: Shape) -> dict[str, Param]:
        return {"embedding": Param((self.vocab, self.dim), self.init, True, self.vocab, self.dim)}


@dataclass(frozen=True)
class PositionEmbedding(Layer):
    """Adds a learned vector per position: (T, D) to (T, D), for T up to ``max_len``."""

    max_len: int
    init: str = "normal_0.02"
    kind: ClassVar[str] = "position_embedding"

    def output_shape(self, x: Shape) -> Shape:
        t, _ = _sequence(x, "PositionEmbedding")
        if t > self.max_len:
            raise ConfigError(f"PositionEmbedding: a sequence of {t} is longer than the {self.max_len} positions "
                              "it has; shorten the sequence or raise max_len")
        return x

    def params(self, x: Shape) -> dict[str, Param]:
        return {"embedding": Param((self.max_len, x[1]), self.init, True, self.max_len, x[1])}


@dataclass(frozen=True)
class ClassToken(Layer):
    """Prepends a learned token: (T, D) to (T + 1, D)."""

    init: str = "zeros"
    kind: ClassVar[str] = "class_token"

    def output_shape(self, x: Shape) -> Shape:
        t, d = _sequence(x, "ClassToken")
        return (t + 1, d)

    def params(self, x: Shape) -> dict[str, Param]:
        return {"token": Param((x[1],), self.init, True, x[1], x[1])}


@dataclass(frozen=True)
class TokenPool(Layer):
    """A sequence to one vector: its first token (``"class"``) or the mean over tokens (``"mean"``)."""

    mode: str = "class"
    kind: ClassVar[str] = "token_pool"

    def __post_init__(self):
        if self.mode not in ("class", "mean"):
            raise ConfigError(f"TokenPool mode {self.mode!r}; choose one of: class, mean")

    def output_shape(self, x: Shape) -> Shape:
        return (_sequence(x, "TokenPool")[1],)


@dataclass(frozen=True)
class TiedDense(Layer):
    """The output head tied to a ``TokenEmbedding`` node: (T, D) to (T, vocab) with the embedding's
    transpose as its kernel (no weights of its own, no bias)."""

    tied_to: str
    vocab: int
    kind: ClassVar[str] = "tied_dense"

    def output_shape(self, x: Shape) -> Shape:
        return (*x[:-1], self.vocab)

    def macs(self, x: Shape) -> int:
        return math.prod(x) * self.vocab
