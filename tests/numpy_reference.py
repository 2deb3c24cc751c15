"""The one numpy reference of dlbench's layer semantics: eval-mode logits of any graph, written out
loop by loop in float64 from the canonical weights (channels-last, HWIO kernels, one LSTM bias).

Training is referenced by the numpy test backend (:mod:`tests.plugins.numpy_backend`), whose
optimisers write out :mod:`dlbench.optim`'s update rules.
"""

from __future__ import annotations

import numpy as np

from math import erf

from dlbench.graph import (
    INPUT, LSTM, Activation, Add, AvgPool2d, BatchNorm, ClassToken, Concat, Conv2d, Dense, Dropout, Flatten,
    GlobalAvgPool2d, Graph, LayerNorm, MaxPool2d, MultiHeadAttention, PositionEmbedding, Reshape, TiedDense,
    TokenEmbedding, TokenPool,
)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv(x, kernel, bias, stride, padding, groups):
    """Grouped NHWC convolution with symmetric zero padding."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    kh, kw, cin, cout = kernel.shape
    oh, ow, og = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1, cout // groups
    out = np.zeros((x.shape[0], oh, ow, cout))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            for g in range(groups):
                out[:, i, j, g * og:(g + 1) * og] = np.einsum(
                    "nhwc,hwco->no", patch[..., g * cin:(g + 1) * cin], kernel[..., g * og:(g + 1) * og])
    return out if bias is None else out + bias


def pool(x, size, stride, padding, op):
    """Max or average pooling; padded cells are -inf, so they never win a max."""
    (kh, kw), (ph, pw) = _pair(size), _pair(padding)
    sh, sw = _pair(stride if stride is not None else size)
    x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=-np.inf)
    oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    return np.stack([np.stack([op(x[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :], axis=(1, 2))
                               for j in range(ow)], 1) for i in range(oh)], 1)


def activation(fn: str, a):
    if fn == "softmax":  # over the last (channels-last: the channel) axis
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    return {"relu": lambda: np.maximum(a, 0), "relu6": lambda: np.clip(a, 0, 6), "tanh": lambda: np.tanh(a),
            "sigmoid": lambda: 1 / (1 + np.exp(-a)),
            "gelu": lambda: a * 0.5 * (1 + np.vectorize(erf)(a / np.sqrt(2))),
            "gelu_tanh": lambda: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a**3)))}[fn]()


def layer_norm(x, gamma, beta, eps):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def attention(x, layer: MultiHeadAttention, p):
    """Multi-head self-attention, head by head: the canonical [q | k | v] projection, each head-major."""
    n, t, d = x.shape
    hd = layer.size((t, d))
    inner = layer.heads * hd
    qkv = x @ p("qkv_kernel") + (p("qkv_bias") if layer.use_bias else 0)
    q, k, v = (qkv[..., i * inner:(i + 1) * inner].reshape(n, t, layer.heads, hd) for i in range(3))
    scores = np.einsum("nthd,nshd->nhts", q, k) / np.sqrt(hd)
    if layer.causal:
        scores = np.where(np.tril(np.ones((t, t), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    heads = np.einsum("nhts,nshd->nthd", weights, v).reshape(n, t, inner)
    return heads @ p("out_kernel") + (p("out_bias") if layer.use_bias else 0)


def lstm(seq, kernel, recurrent, bias, return_sequences=False):
    """The canonical LSTM, step by step: gates i, f, g, o; one bias; h0 = c0 = 0."""
    def sig(z):
        return 1 / (1 + np.exp(-z))

    h = c = np.zeros((seq.shape[0], recurrent.shape[0]))
    hs = []
    for t in range(seq.shape[1]):
        i, f, g, o = np.split(seq[:, t] @ kernel + h @ recurrent + bias, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        hs.append(h)
    return np.stack(hs, axis=1) if return_sequences else h


def batch_norm(x, mean, var, gamma, beta, eps):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def forward(graph: Graph, weights, x) -> np.ndarray:
    """Eval-mode logits (dropout off, batch norm on its running statistics), in float64."""
    v = {INPUT: np.asarray(x) if np.issubdtype(np.asarray(x).dtype, np.integer) else np.asarray(x, np.float64)}
    for node in graph.nodes:
        layer, xs = node.layer, [v[i] for i in node.inputs]

        def p(name):
            return np.asarray(weights[f"{node.name}.{name}"], np.float64)

        if isinstance(layer, Conv2d):
            y = conv(xs[0], p("kernel"), p("bias") if layer.use_bias else None, layer.stride, layer.padding,
                     layer.groups)
        elif isinstance(layer, Dense):
            y = xs[0] @ p("kernel") + (p("bias") if layer.use_bias else 0)
        elif isinstance(layer, MaxPool2d):
            y = pool(xs[0], layer.pool_size, layer.stride, layer.padding, np.max)
        elif isinstance(layer, AvgPool2d):
            y = pool(xs[0], layer.pool_size, layer.stride, 0, np.mean)
        elif isinstance(layer, GlobalAvgPool2d):
            y = xs[0].mean(axis=(1, 2))
        elif isinstance(layer, Flatten):  # (H, W, C) order: row (h * W + w) * C + c of the next Dense
            y = xs[0].reshape(len(xs[0]), -1)
        elif isinstance(layer, Reshape):
            y = xs[0].reshape(len(xs[0]), *layer.shape)
        elif isinstance(layer, LSTM):
            y = lstm(xs[0], p("kernel"), p("recurrent_kernel"), p("bias"), layer.return_sequences)
        elif isinstance(layer, BatchNorm):
            y = batch_norm(xs[0], p("moving_mean"), p("moving_var"), p("gamma"), p("beta"), layer.eps)
        elif isinstance(layer, Dropout):
            y = xs[0]
        elif isinstance(layer, Activation):
            y = activation(layer.fn, xs[0])
        elif isinstance(layer, Add):
            y = xs[0] + xs[1]
        elif isinstance(layer, Concat):
            y = np.concatenate(xs, axis=-1)
        elif isinstance(layer, LayerNorm):
            y = layer_norm(xs[0], p("gamma"), p("beta"), layer.eps)
        elif isinstance(layer, TokenEmbedding):
            y = p("embedding")[xs[0]]
        elif isinstance(layer, PositionEmbedding):
            y = xs[0] + p("embedding")[: xs[0].shape[1]]
        elif isinstance(layer, ClassToken):
            y = np.concatenate([np.broadcast_to(p("token"), (len(xs[0]), 1, xs[0].shape[-1])), xs[0]], axis=1)
        elif isinstance(layer, TokenPool):
            y = xs[0][:, 0] if layer.mode == "class" else xs[0].mean(axis=1)
        elif isinstance(layer, MultiHeadAttention):
            y = attention(xs[0], layer, p)
        elif isinstance(layer, TiedDense):
            y = xs[0] @ np.asarray(weights[f"{layer.tied_to}.embedding"], np.float64).T
        else:
            raise NotImplementedError(f"no numpy reference for {layer.kind}")
        v[node.name] = y
    return v[graph.nodes[-1].name]
