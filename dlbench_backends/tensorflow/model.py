"""Graph -> functional ``keras.Model`` (Keras 3 on TensorFlow), and canonical weights in and out.

TensorFlow is channels-last like the canonical layout: conv kernels are HWIO, dense kernels
(in, out), Flatten and Reshape visit (H, W, C), and Keras's LSTM has the canonical gate order, so
weights load as they are. The one reshape: a depthwise conv (groups == in_channels) becomes
``DepthwiseConv2D``, whose kernel is (kh, kw, C, multiplier) for the canonical (kh, kw, 1, C * multiplier).

Explicit padding is TF's ``same`` where that pads identically, else ``ZeroPadding2D`` before a
``valid`` conv; max-pool padding pads with -inf (as ``same`` pooling does), so padded cells never win.

Sequences are (N, T, D) as in the canonical layout: token embeddings are Keras's ``Embedding``
(variable ``embeddings``), LayerNorm Keras's ``LayerNormalization`` over the last axis, a Dense on a
sequence Keras's ``Dense`` (it multiplies the last axis); the other token layers are in
:mod:`.tokens`, attention in :mod:`.attention`. A language model's input is int32 token ids.
"""

from __future__ import annotations

from functools import partial
from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from dlbench import registry
from dlbench.graph import (
    INPUT, LSTM, Activation, Add, AvgPool2d, BatchNorm, ClassToken, Concat, Conv2d, Dense, Dropout, Flatten,
    GlobalAvgPool2d, Graph, Layer, LayerNorm, MaxPool2d, MultiHeadAttention, Node, PositionEmbedding, Reshape,
    TiedDense, TokenEmbedding, TokenPool,
)
from dlbench_backends.tensorflow import attention, tokens

Shape = tuple[int, ...]
_BN = {"gamma": "gamma", "beta": "beta", "moving_mean": "moving_mean", "moving_var": "moving_variance"}


def gelu(x, approximate: bool = False):
    """``tf.nn.gelu`` op for op (Keras's "gelu" calls it), with its constants in ``x``'s dtype:
    tf.nn.gelu casts two of them from float32, which puts float64 results 1e-9 off."""
    if approximate:
        inner = x + tf.constant(0.044715, x.dtype) * tf.pow(x, 3)
        return 0.5 * x * (1.0 + tf.tanh(tf.constant(0.7978845608028654, x.dtype) * inner))
    return 0.5 * x * tf.math.erfc(-x * tf.constant(0.7071067811865476, x.dtype))


_GELU = {"gelu": gelu, "gelu_tanh": partial(gelu, approximate=True)}


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


class NegInfPadding2D(keras.layers.Layer):
    """Symmetric spatial padding with -inf (for max pooling with explicit padding)."""

    def __init__(self, padding: tuple[int, int], **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(padding)

    def call(self, x):
        ph, pw = self.padding
        return tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]], constant_values=float("-inf"))

    def compute_output_shape(self, shape):
        ph, pw = self.padding
        grow = lambda n, p: None if n is None else n + 2 * p  # noqa: E731
        return (shape[0], grow(shape[1], ph), grow(shape[2], pw), shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def is_depthwise(layer: Layer, in_shape: Shape) -> bool:
    return isinstance(layer, Conv2d) and layer.groups > 1 and layer.groups == in_shape[-1]


def _is_same(in_shape: Shape, window, stride, padding) -> bool:
    """Whether TF's ``padding="same"`` pads exactly ``padding`` on both sides of each spatial axis."""
    for size, k, s, p in zip(in_shape[:2], _pair(window), _pair(stride), _pair(padding)):
        out = -(-size // s)
        if max((out - 1) * s + k - size, 0) != 2 * p or out != (size + 2 * p - k) // s + 1:
            return False
    return True


def _windowed(layer: Conv2d | MaxPool2d, in_shape: Shape, name: str, kw: dict) -> list[keras.layers.Layer]:
    pad = _pair(layer.padding)
    if isinstance(layer, Conv2d):
        window, stride = layer.kernel_size, layer.stride
    else:
        window, stride = layer.pool_size, layer.stride if layer.stride is not None else layer.pool_size
    same = pad != (0, 0) and _is_same(in_shape, window, stride, pad)
    padding = "same" if same else "valid"
    if isinstance(layer, MaxPool2d):
        pre, main = NegInfPadding2D, keras.layers.MaxPooling2D(window, stride, padding=padding, name=name, **kw)
    elif is_depthwise(layer, in_shape):
        pre, main = keras.layers.ZeroPadding2D, keras.layers.DepthwiseConv2D(
            window, stride, padding=padding, depth_multiplier=layer.filters // in_shape[-1],
            use_bias=layer.use_bias, name=name, **kw)
    else:
        pre, main = keras.layers.ZeroPadding2D, keras.layers.Conv2D(
            layer.filters, window, strides=stride, padding=padding, groups=layer.groups, use_bias=layer.use_bias,
            name=name, **kw)
    return ([pre(pad, name=f"{name}__pad", **kw)] if pad != (0, 0) and not same else []) + [main]


def _layers(layer: Layer, in_shape: Shape, name: str, dtype: str, built: Mapping[str, keras.layers.Layer],
            attention_impl: str) -> list[keras.layers.Layer]:
    """The Keras layers for one graph node; the last one carries the node's name and weights.
    ``built`` holds the layers of the nodes before it (a tied head's embedding)."""
    kw = {"name": name, "dtype": dtype}
    if isinstance(layer, (Conv2d, MaxPool2d)):
        return _windowed(layer, in_shape, name, {"dtype": dtype})
    if isinstance(layer, Dense):
        return [keras.layers.Dense(layer.units, use_bias=layer.use_bias, **kw)]
    if isinstance(layer, AvgPool2d):
        return [keras.layers.AveragePooling2D(layer.pool_size, layer.stride, padding="valid", **kw)]
    if isinstance(layer, GlobalAvgPool2d):
        return [keras.layers.GlobalAveragePooling2D(**kw)]
    if isinstance(layer, Flatten):
        return [keras.layers.Flatten(**kw)]
    if isinstance(layer, Reshape):
        return [keras.layers.Reshape(tuple(layer.shape), **kw)]
    if isinstance(layer, BatchNorm):
        return [keras.layers.BatchNormalization(axis=-1, momentum=layer.momentum, epsilon=layer.eps, **kw)]
    if isinstance(layer, Dropout):
        return [keras.layers.Dropout(layer.rate, **kw)]
    if isinstance(layer, LSTM):
        return [keras.layers.LSTM(layer.units, return_sequences=layer.return_sequences, **kw)]
    if isinstance(layer, Activation):
        if layer.fn == "relu6":
            return [keras.layers.ReLU(max_value=6.0, **kw)]
        return [keras.layers.Activation(_GELU.get(layer.fn, layer.fn), **kw)]
    if isinstance(layer, Add):
        return [keras.layers.Add(**kw)]
    if isinstance(layer, Concat):
        return [keras.layers.Concatenate(axis=-1, **kw)]
    if isinstance(layer, LayerNorm):
        return [keras.layers.LayerNormalization(axis=-1, epsilon=layer.eps, **kw)]
    if isinstance(layer, TokenEmbedding):
        return [keras.layers.Embedding(layer.vocab, layer.dim, **kw)]
    if isinstance(layer, PositionEmbedding):
        return [tokens.PositionEmbedding(layer.max_len, **kw)]
    if isinstance(layer, ClassToken):
        return [tokens.ClassToken(**kw)]
    if isinstance(layer, TokenPool):
        return [tokens.TokenPool(layer.mode, **kw)]
    if isinstance(layer, TiedDense):
        return [tokens.TiedDense(built[layer.tied_to], **kw)]
    if isinstance(layer, MultiHeadAttention):
        return [attention.make(layer, in_shape, attention_impl, **kw)]
    return [registry.plugin_layer(layer, "tensorflow")(layer, in_shape, **kw)]


def takes_tokens(graph: Graph) -> bool:
    """Whether the graph's input is token ids (it feeds a token embedding)."""
    return any(isinstance(n.layer, TokenEmbedding) and INPUT in n.inputs for n in graph.nodes)


def input_dtype(x: np.ndarray, dtype: str):
    """The dtype a batch goes to the device in: token ids stay integers (int32, what an embedding
    looks up), anything else takes the compute dtype."""
    return tf.int32 if np.issubdtype(x.dtype, np.integer) else dtype


def build_model(graph: Graph, dtype_policy: str = "float32", attention_impl: str = "einsum") -> keras.Model:
    """A functional Keras model of ``graph``; each node's (last) Keras layer is named after it.

    Under a mixed policy the logits are cast back to float32 by a final linear activation.
    """
    floats = "float64" if dtype_policy == "float64" else "float32"  # mixed policies take float32 inputs
    values = {INPUT: keras.Input(graph.input_shape, name=INPUT, dtype="int32" if takes_tokens(graph) else floats)}
    built: dict[str, keras.layers.Layer] = {}
    for node in graph.nodes:
        ins = [values[i] for i in node.inputs]
        x = ins if len(ins) > 1 else ins[0]
        for layer in _layers(node.layer, graph.input_shapes(node)[0], node.name, dtype_policy, built, attention_impl):
            x = layer(x)
        built[node.name] = layer
        values[node.name] = x
    out = values[graph.nodes[-1].name]
    if dtype_policy.startswith("mixed"):
        out = keras.layers.Activation("linear", dtype="float32", name="logits__float32")(out)
    return keras.Model(values[INPUT], out, name=graph.name)


def _variable(model: keras.Model, graph: Graph, node: Node, pname: str):
    layer = model.get_layer(node.name)
    if isinstance(node.layer, BatchNorm):
        return getattr(layer, _BN[pname])
    if isinstance(node.layer, LSTM):
        return getattr(layer.cell, pname)
    if isinstance(node.layer, TokenEmbedding):
        return layer.embeddings
    return getattr(layer, pname)


def load_weights(model: keras.Model, graph: Graph, weights: Mapping[str, np.ndarray]) -> None:
    for key, node, pname, _ in graph.named_params():
        if isinstance(node.layer, MultiHeadAttention):  # canonical in and out by the layer itself
            model.get_layer(node.name).assign_canonical(pname, np.asarray(weights[key]))
            continue
        var = _variable(model, graph, node, pname)
        value = np.asarray(weights[key], dtype=var.dtype)
        if pname == "kernel" and is_depthwise(node.layer, graph.input_shapes(node)[0]):
            value = value.reshape(var.shape)  # (kh, kw, 1, C * M) -> (kh, kw, C, M)
        if value.shape != tuple(var.shape):
            raise ValueError(f"{key}: canonical shape {value.shape} != keras {tuple(var.shape)}")
        var.assign(value)


def export_weights(model: keras.Model, graph: Graph) -> dict[str, np.ndarray]:
    out = {}
    for key, node, pname, p in graph.named_params():
        if isinstance(node.layer, MultiHeadAttention):
            value = model.get_layer(node.name).canonical(pname)
        else:
            value = _variable(model, graph, node, pname).numpy()
        out[key] = np.array(value).reshape(p.shape)  # depthwise: back to HWIO; attention's parts to canonical
    return out
