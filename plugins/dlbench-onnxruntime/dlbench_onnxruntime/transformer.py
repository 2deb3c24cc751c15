"""The transformer layers in ONNX: token and position embeddings, the class token, token pooling, the
tied output head, layer norm, GELU and multi-head self-attention, one function per layer kind.

Sequences are (N, T, D), channels-last as the canonical layout is, so every weight loads as it is
but for the attention's fused projection, cut into heads by Reshape and Transpose. Each function
takes the builder, the node, its input tensor's name, ``p`` (the node's canonical parameter by name)
and the input's shape without the batch axis, and returns its output tensor's name. The semantics
are the torch backend's (``dlbench_backends/torch/attention.py``, ``tokens.py``) and
``tests/numpy_reference.py``'s.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import numpy as np

from dlbench.graph import (
    ClassToken, LayerNorm, MultiHeadAttention, Node, PositionEmbedding, TiedDense, TokenEmbedding, TokenPool,
)
from dlbench.graph.layers import Shape

if TYPE_CHECKING:
    from dlbench_onnxruntime.convert import _Builder


def _ints(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def token_embedding(b: _Builder, node: Node, ids: str, p: Callable, shape: Shape) -> str:
    """Token ids (N, T) -> rows of the (vocab, D) embedding: a Gather."""
    table = b.shared(f"{node.name}.embedding")  # one initializer, read by a tied head too
    return b.op("Gather", [table, ids], node.name, axis=0)[0]


def position_embedding(b: _Builder, node: Node, x: str, p: Callable, shape: Shape) -> str:
    """The first T rows of the (max_len, D) embedding added to the (N, T, D) sequence."""
    return b.op("Add", [x, b.const(f"{node.name}.embedding", p("embedding")[:shape[0]])], node.name)[0]


def class_token(b: _Builder, node: Node, x: str, p: Callable, shape: Shape) -> str:
    """The (D,) token broadcast to (N, 1, D) and prepended along the token axis."""
    batch = b.op("Shape", [x], node.name, start=0, end=1)[0]
    size = b.op("Concat", [batch, b.const(f"{node.name}.size", _ints(1, shape[1]), np.int64)], node.name, axis=0)[0]
    tokens = b.op("Expand", [b.const(f"{node.name}.token", p("token").reshape(1, 1, -1)), size], node.name)[0]
    return b.op("Concat", [tokens, x], node.name, axis=1)[0]


def token_pool(b: _Builder, node: Node, x: str, p: Callable, shape: Shape) -> str:
    """(N, T, D) -> (N, D): the first (class) token, or the mean over tokens."""
    if node.layer.mode == "class":
        return b.op("Gather", [x, b.const(f"{node.name}.first", np.array(0), np.int64)], node.name, axis=1)[0]
    return b.op("ReduceMean", [x], node.name, axes=[1], keepdims=0)[0]


def tied_dense(b: _Builder, node: Node, x: str, p: Callable, shape: Shape) -> str:
    """logits = x @ embeddingᵀ with the tied embedding's own initializer (no copy in the file, no
    bias); ONNX Runtime folds the constant Transpose when it optimises the graph."""
    table = b.shared(f"{node.layer.tied_to}.embedding")
    return b.op("MatMul", [x, b.op("Transpose", [table], node.name, perm=[1, 0])[0]], node.name)[0]


def layer_norm(b: _Builder, node: Node, x: str, p: Callable, shape: Shape) -> str:
    """Over the last axis (opset 17's LayerNormalization), then ``gamma`` and ``beta``."""
    gamma, beta = b.const(f"{node.name}.gamma", p("gamma")), b.const(f"{node.name}.beta", p("beta"))
    return b.op("LayerNormalization", [x, gamma, beta], node.name, axis=-1, epsilon=node.layer.eps)[0]


def gelu(b: _Builder, x: str, hint: str, approximate: bool) -> str:
    """x · Φ(x) exactly, 0.5 x (1 + erf(x / √2)), or its tanh approximation (GPT-2's),
    0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))): the patterns ONNX Runtime fuses into one kernel."""
    c = lambda name, value: b.const(f"{hint}.{name}", np.array(value))  # noqa: E731
    if approximate:
        cube = b.op("Pow", [x, c("three", 3.0)], hint)[0]
        inner = b.op("Add", [x, b.op("Mul", [cube, c("k", 0.044715)], hint)[0]], hint)[0]
        phi = b.op("Tanh", [b.op("Mul", [inner, c("s", math.sqrt(2 / math.pi))], hint)[0]], hint)[0]
    else:
        phi = b.op("Erf", [b.op("Div", [x, c("s", math.sqrt(2))], hint)[0]], hint)[0]
    half = b.op("Mul", [x, c("half", 0.5)], hint)[0]
    return b.op("Mul", [half, b.op("Add", [phi, c("one", 1.0)], hint)[0]], hint)[0]


def attention(b: _Builder, node: Node, x: str, p: Callable, shape: Shape) -> str:
    """softmax(q kᵀ / √hd + mask) v per head, heads concatenated, then the output projection.

    The fused projection's output (N, T, 3·H·hd) viewed as (N, T, 3, H, hd) and transposed to
    (3, N, H, T, hd) is q, k and v by head, as the canonical [q | k | v], head-major kernel lays them
    out; a causal mask adds -inf above the diagonal ((T, T), constant: T is the graph's)."""
    layer: MultiHeadAttention = node.layer
    t, hd, hint = shape[0], layer.size(shape), node.name

    def linear(y: str, kernel: str, bias: str) -> str:
        y = b.op("MatMul", [y, b.const(f"{hint}.{kernel}", p(kernel))], hint)[0]
        return b.op("Add", [y, b.const(f"{hint}.{bias}", p(bias))], hint)[0] if layer.use_bias else y

    qkv = b.op("Reshape", [linear(x, "qkv_kernel", "qkv_bias"),
                           b.const(f"{hint}.heads", _ints(0, 0, 3, layer.heads, hd), np.int64)], hint)[0]
    qkv = b.op("Transpose", [qkv], hint, perm=[2, 0, 3, 1, 4])[0]
    q, k, v = (b.op("Gather", [qkv, b.const(f"{hint}.{i}", np.array(i), np.int64)], hint, axis=0)[0] for i in range(3))
    k_t = b.op("Transpose", [k], hint, perm=[0, 1, 3, 2])[0]  # (N, H, hd, T)
    scores = b.op("MatMul", [q, k_t], hint)[0]
    scores = b.op("Mul", [scores, b.const(f"{hint}.scale", np.array(1 / math.sqrt(hd)))], hint)[0]
    if layer.causal:
        mask = np.where(np.tril(np.ones((t, t), bool)), 0.0, -np.inf)
        scores = b.op("Add", [scores, b.const(f"{hint}.mask", mask)], hint)[0]
    weights = b.op("Softmax", [scores], hint, axis=-1)[0]  # dropout: none in inference
    heads = b.op("Transpose", [b.op("MatMul", [weights, v], hint)[0]], hint, perm=[0, 2, 1, 3])[0]  # (N, T, H, hd)
    heads = b.op("Reshape", [heads, b.const(f"{hint}.merge", _ints(0, 0, layer.heads * hd), np.int64)], hint)[0]
    return linear(heads, "out_kernel", "out_bias")


#: layer class -> its exporter
EXPORTERS = {TokenEmbedding: token_embedding, PositionEmbedding: position_embedding, ClassToken: class_token,
             TokenPool: token_pool, TiedDense: tied_dense, LayerNorm: layer_norm, MultiHeadAttention: attention}
