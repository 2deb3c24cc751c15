"""Graph -> Flax linen module, and canonical weights in and out.

Flax shares the canonical layout: conv kernels are HWIO (a depthwise conv's (kh, kw, 1, C) too),
dense kernels (in, out), a reshape of NHWC flattens in (H, W, C) order, and the LSTM is a small
module of our own holding the canonical ``kernel``, ``recurrent_kernel`` and ``bias``, as are the
attention (:mod:`.attention`), the token layers (:mod:`.tokens`) and LayerNorm (:mod:`.norm`: Flax's
parameter names, a hand-written backward pass), so weights load without any permutation; batch and
layer norm rename only (``gamma`` is Flax's ``scale``). Variables are
``{"params": {node: {...}}, "batch_stats": {node: {"mean", "var"}}}``, one entry per node. A tied
output head has no entry: it reads its embedding's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from dlbench.errors import ConfigError
from dlbench import registry
from dlbench.graph import (
    INPUT, LSTM, Activation, Add, AvgPool2d, BatchNorm, ClassToken, Concat, Conv2d, Dense, Dropout, Flatten,
    GlobalAvgPool2d, Graph, Layer, LayerNorm, MaxPool2d, MultiHeadAttention, Node, PositionEmbedding, Reshape,
    TiedDense, TokenEmbedding, TokenPool,
)
from dlbench_backends.jax import norm
from dlbench_backends.jax.attention import SelfAttention
from dlbench_backends.jax.tokens import Embed, PositionEmbed, PrependToken

Variables = dict[str, dict[str, dict[str, Any]]]

_ACTIVATIONS = {
    "relu": nn.relu, "relu6": nn.relu6, "tanh": jnp.tanh, "sigmoid": nn.sigmoid,
    "softmax": lambda x: nn.softmax(x, axis=-1),
    "gelu": lambda x: nn.gelu(x, approximate=False), "gelu_tanh": lambda x: nn.gelu(x, approximate=True),
}
# canonical parameter name -> (Flax collection, Flax name), for the layers Flax names differently
_LN = {"gamma": ("params", "scale"), "beta": ("params", "bias")}
_RENAMED = {BatchNorm: {**_LN, "moving_mean": ("batch_stats", "mean"), "moving_var": ("batch_stats", "var")},
            LayerNorm: _LN}


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _window(layer) -> tuple[tuple[int, int], tuple[int, int]]:
    size = _pair(layer.pool_size)
    return size, _pair(layer.stride if layer.stride is not None else layer.pool_size)


class LSTMLayer(nn.Module):
    """An LSTM over a (N, T, F) batch with dlbench's canonical parameters, stored under their
    canonical names: ``kernel`` (F, 4U), ``recurrent_kernel`` (U, 4U), one ``bias`` (4U,); gates
    in the order input, forget, cell, output. h0 = c0 = 0.

    The input projection of every step is one (N*T, F) x (F, 4U) matmul; ``lax.scan`` then runs
    only the recurrent (N, U) x (U, 4U) matmul and the gates per step.
    """

    units: int
    return_sequences: bool = False
    precision: Any = None
    dtype: Any = None  # the computation dtype (None: the inputs'); parameters stay float32

    @nn.compact
    def __call__(self, x):
        n, u = x.shape[0], self.units
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], 4 * u), jnp.float32)
        recurrent = self.param("recurrent_kernel", nn.initializers.orthogonal(), (u, 4 * u), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (4 * u,), jnp.float32)
        if self.dtype is not None:
            x, kernel, recurrent, bias = (a.astype(self.dtype) for a in (x, kernel, recurrent, bias))
        xz = jnp.dot(x, kernel, precision=self.precision) + bias  # (N, T, 4U)

        def step(carry, z_t):
            h, c = carry
            z = z_t + jnp.dot(h, recurrent, precision=self.precision)
            i, f, g, o = jnp.split(z, 4, axis=-1)
            c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
            h = nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), (h if self.return_sequences else None)

        zeros = jnp.zeros((n, u), xz.dtype)
        (h, _), hs = jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(xz, 0, 1))
        return jnp.swapaxes(hs, 0, 1) if self.return_sequences else h


class GraphModule(nn.Module):
    """Runs a :class:`~dlbench.graph.Graph` node by node; ``__call__(x, train)`` returns logits."""

    graph: Graph
    precision: Any = None  # a jax.lax.Precision for convs and matmuls, None for the default
    #: mixed precision: compute in this dtype (bfloat16, float16) with float32 parameters and logits
    dtype: Any = None
    attention: str = "jax"  # the dot-product attention kernel: attention.KERNELS

    def _apply(self, node: Node, layer: Layer, xs: list, train: bool, embeddings: dict):
        x = xs[0]
        if isinstance(layer, Conv2d):
            (ph, pw) = _pair(layer.padding)
            return nn.Conv(layer.filters, _pair(layer.kernel_size), _pair(layer.stride), ((ph, ph), (pw, pw)),
                           feature_group_count=layer.groups, use_bias=layer.use_bias,
                           precision=self.precision, dtype=self.dtype, name=node.name)(x)
        if isinstance(layer, Dense):
            return nn.Dense(layer.units, use_bias=layer.use_bias, precision=self.precision, dtype=self.dtype,
                            name=node.name)(x)
        if isinstance(layer, MaxPool2d):
            (ph, pw) = _pair(layer.padding)
            return nn.max_pool(x, *_window(layer), padding=((ph, ph), (pw, pw)))  # pads with -inf
        if isinstance(layer, AvgPool2d):
            return nn.avg_pool(x, *_window(layer), padding="VALID")
        if isinstance(layer, GlobalAvgPool2d):
            return jnp.mean(x, axis=(1, 2))
        if isinstance(layer, Flatten):
            return x.reshape(x.shape[0], -1)
        if isinstance(layer, Reshape):  # NHWC is already the canonical channels-last order
            return x.reshape(x.shape[0], *layer.shape)
        if isinstance(layer, LSTM):
            return LSTMLayer(layer.units, layer.return_sequences, self.precision, self.dtype, name=node.name)(x)
        if isinstance(layer, BatchNorm):  # statistics are reduced in float32 under mixed precision too
            return nn.BatchNorm(use_running_average=not train, momentum=layer.momentum, epsilon=layer.eps,
                                use_fast_variance=False, dtype=self.dtype, name=node.name)(x)
        if isinstance(layer, LayerNorm):  # two-pass variance, as the reference; statistics in float32 when mixed
            return norm.LayerNorm(layer.eps, self.dtype, name=node.name)(x)
        if isinstance(layer, Dropout):
            return nn.Dropout(layer.rate, deterministic=not train, name=node.name)(x)
        if isinstance(layer, Activation):
            return _ACTIVATIONS[layer.fn](x)
        if isinstance(layer, Add):
            return xs[0] + xs[1]
        if isinstance(layer, Concat):
            return jnp.concatenate(xs, axis=-1)
        if isinstance(layer, TokenEmbedding):
            embed = embeddings[node.name] = Embed(layer.vocab, layer.dim, dtype=self.dtype, precision=self.precision,
                                                  name=node.name)
            return embed(x)
        if isinstance(layer, TiedDense):
            return embeddings[layer.tied_to].attend(x)
        if isinstance(layer, PositionEmbedding):
            return PositionEmbed(layer.max_len, name=node.name)(x)
        if isinstance(layer, ClassToken):
            return PrependToken(name=node.name)(x)
        if isinstance(layer, TokenPool):
            return x[:, 0] if layer.mode == "class" else jnp.mean(x, axis=1)
        if isinstance(layer, MultiHeadAttention):
            return SelfAttention(layer.heads, layer.size(x.shape[1:]), layer.use_bias, layer.causal, layer.dropout,
                                 self.precision, self.dtype, self.attention, name=node.name)(x, train)
        return registry.plugin_layer(layer, "jax")(layer, name=node.name, precision=self.precision, dtype=self.dtype)(*xs)

    @nn.compact
    def __call__(self, x, train: bool = False):
        tokens = jnp.issubdtype(x.dtype, jnp.integer)  # token ids stay integers
        values = {INPUT: x if self.dtype is None or tokens else x.astype(self.dtype)}
        embeddings: dict[str, Embed] = {}  # node -> its module, for the output head tied to it
        for node in self.graph.nodes:
            values[node.name] = self._apply(node, node.layer, [values[i] for i in node.inputs], train, embeddings)
        logits = values[self.graph.nodes[-1].name]
        return logits if self.dtype is None else logits.astype(jnp.float32)  # the loss is computed in float32


def build_model(graph: Graph, precision: Any = None, dtype: Any = None, attention: str = "jax") -> GraphModule:
    return GraphModule(graph, precision, dtype, attention)


def _location(node: Node, pname: str) -> tuple[str, str]:
    return _RENAMED.get(type(node.layer), {}).get(pname, ("params", pname))


def input_dtype(graph: Graph):
    """int32 for token ids (a graph whose input feeds a token embedding), else float32."""
    tokens = any(isinstance(n.layer, TokenEmbedding) and INPUT in n.inputs for n in graph.nodes)
    return jnp.int32 if tokens else jnp.float32


def abstract_variables(module: nn.Module, graph: Graph) -> Variables:
    """The variables' shapes and dtypes, traced without compiling or running anything."""
    x = jax.ShapeDtypeStruct((1, *graph.input_shape), input_dtype(graph))
    return jax.eval_shape(lambda x: module.init(jax.random.key(0), x, train=False), x)


def load_weights(module: GraphModule, graph: Graph, weights: Mapping[str, np.ndarray], dtype=np.float32) -> Variables:
    """Flax variables (numpy arrays of ``dtype``) holding the canonical ``weights``; shapes are
    checked against what the module itself declares."""
    expected = abstract_variables(module, graph)
    variables: Variables = {c: {} for c in expected}
    for key, node, pname, _ in graph.named_params():
        col, fname = _location(node, pname)
        if key not in weights:
            raise ConfigError(f"jax: weights lack {key!r}")
        value = np.array(weights[key], dtype=dtype)  # a private copy: state buffers are donated
        want = expected[col][node.name][fname].shape
        if value.shape != want:
            raise ConfigError(f"jax: weight {key!r} has shape {value.shape}, the module expects {want}")
        variables[col].setdefault(node.name, {})[fname] = value
    return variables


def export_weights(variables: Mapping[str, Any], graph: Graph) -> dict[str, np.ndarray]:
    out = {}
    for key, node, pname, _ in graph.named_params():
        col, fname = _location(node, pname)
        out[key] = np.array(variables[col][node.name][fname], copy=True)
    return out
