"""Multi-head self-attention as one layer (Vaswani et al., 2017): (T, D) to (T, D).

softmax(q kᵀ / sqrt(head_size) + mask) v per head, heads concatenated, then the output projection.
``causal`` masks every position after the query's (a decoder, GPT); ``dropout`` drops attention
weights while training.

Canonical layout: ``qkv_kernel`` (D, 3·H·hd) and ``qkv_bias`` (3·H·hd,) hold the query, key and
value projections side by side, [q | k | v], each head-major (column ``h·hd + j`` is head ``h``'s
feature ``j``), as GPT-2's ``c_attn`` stores them; ``out_kernel`` (H·hd, D) and ``out_bias`` (D,).

MACs, the exact matmul count of the full computation (a causal mask hides half of the scores, but
they are computed): projections T·D·3·H·hd, scores T·T·H·hd, weighted values T·T·H·hd, output
T·H·hd·D.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dlbench.errors import ConfigError
from dlbench.graph.layers import Layer, Param, Shape


@dataclass(frozen=True)
class MultiHeadAttention(Layer):
    heads: int
    head_size: int | None = None  # default: D // heads
    use_bias: bool = True
    causal: bool = False
    dropout: float = 0.0
    kernel_init: str = "xavier_uniform"
    out_init: str = "xavier_uniform"
    bias_init: str = "zeros"
    kind: ClassVar[str] = "attention"

    def __post_init__(self):
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"attention dropout must be in [0, 1), got {self.dropout}")

    def size(self, x: Shape) -> int:
        """hd, the features per head."""
        if self.head_size is not None:
            return self.head_size
        if x[1] % self.heads:
            raise ConfigError(f"attention: width {x[1]} does not divide into {self.heads} heads; give head_size")
        return x[1] // self.heads

    def output_shape(self, x: Shape) -> Shape:
        if len(x) != 2:
            raise ConfigError(f"attention needs a (T, D) sequence, got shape {x}")
        self.size(x)
        return x

    def params(self, x: Shape) -> dict[str, Param]:
        d, inner = x[1], self.heads * self.size(x)
        p = {"qkv_kernel": Param((d, 3 * inner), self.kernel_init, True, d, 3 * inner),
             "out_kernel": Param((inner, d), self.out_init, True, inner, d)}
        if self.use_bias:
            p["qkv_bias"] = Param((3 * inner,), self.bias_init, True, d, 3 * inner)
            p["out_bias"] = Param((d,), self.bias_init, True, inner, d)
        return p

    def macs(self, x: Shape) -> int:
        t, d = x
        inner = self.heads * self.size(x)
        return t * d * 3 * inner + 2 * t * t * inner + t * inner * d
