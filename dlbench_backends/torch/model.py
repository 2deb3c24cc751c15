"""Graph -> torch.nn.Module, and canonical weights in and out.

PyTorch is channels-first: images are (N, C, H, W) here, conv kernels OIHW (canonical HWIO) and
dense kernels (out, in). Flatten and Reshape visit an image in the canonical (H, W, C) order (a
permute first, free in channels-last memory), so whatever reaches a Dense (directly, or through a
Concat of flattened branches) is in the order its canonical kernel expects. Sequences (N, T, D) are
channels-last as they are, so the token layers and attention (``tokens.py``, ``attention.py``) keep
the canonical layout but for ``nn.Linear``'s transposed kernels. A plugin's layer keeps the canonical
layout of its weights.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlbench import registry
from dlbench.graph import (
    INPUT, LSTM, Activation, Add, AvgPool2d, BatchNorm, ClassToken, Concat, Conv2d, Dense, Dropout, Flatten,
    GlobalAvgPool2d, Graph, LayerNorm, MaxPool2d, MultiHeadAttention, Node, PositionEmbedding, Reshape, TiedDense,
    TokenEmbedding, TokenPool,
)
from dlbench_backends.torch import attention, tokens

_ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
                "gelu_tanh": functools.partial(nn.GELU, approximate="tanh")}


class AddModule(nn.Module):
    def forward(self, a, b):
        return a + b


def _last_axis(x) -> int:
    """The canonical last axis: the channels (dim 1) of a channels-first image, else the last."""
    return 1 if x.ndim == 4 else -1


class ConcatModule(nn.Module):
    def forward(self, a, b):
        return torch.cat([a, b], dim=_last_axis(a))


class SoftmaxModule(nn.Module):
    def forward(self, x):
        return torch.softmax(x, dim=_last_axis(x))


class LayerNormModule(nn.LayerNorm):
    def forward(self, x):
        if x.ndim == 4:  # over the channels of an image
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return super().forward(x)


class FlattenModule(nn.Module):
    """Flattens in the canonical (H, W, C) order."""

    def forward(self, x):
        return (x.permute(0, 2, 3, 1) if x.ndim == 4 else x).flatten(1)


class ReshapeModule(nn.Module):
    """Reshape in dlbench's channels-last order (images arrive here channels-first)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        if x.ndim == 4:
            x = x.permute(0, 2, 3, 1)
        return x.reshape(x.shape[0], *self.shape)


class LSTMModule(nn.Module):
    """nn.LSTM with dlbench's single bias: a constant-1 input column carries it inside weight_ih,
    so the parameter count and the maths equal Keras's and Flax's (torch's own LSTM has two biases)."""

    def __init__(self, features: int, units: int, return_sequences: bool):
        super().__init__()
        self.lstm = nn.LSTM(features + 1, units, bias=False, batch_first=True)
        self.return_sequences = return_sequences

    def forward(self, x):
        ones = torch.ones(*x.shape[:2], 1, dtype=x.dtype, device=x.device)
        out, _ = self.lstm(torch.cat([x, ones], dim=2))
        return out if self.return_sequences else out[:, -1]


class _BiasedRunningVar:
    """torch updates ``running_var`` with the unbiased batch variance; dlbench's BatchNorm (as
    Keras's and Flax's) uses the biased one. Undo the n/(n-1) factor after torch's own update:
    a few operations on C-element vectors, against a whole convolution's worth of work."""

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        updated = self.running_var.clone()  # autograd keeps what batch_norm was given: leave it be
        out = F.batch_norm(x, self.running_mean, updated, self.weight, self.bias, True, self.momentum, self.eps)
        n, keep = x.numel() // x.shape[1], 1.0 - self.momentum
        with torch.no_grad():  # torch: updated = keep * old + m * var * n / (n - 1)
            old = self.running_var
            old.copy_((updated - keep * old) * ((n - 1) / n) + keep * old)
        return out


class BatchNorm1d(_BiasedRunningVar, nn.BatchNorm1d):
    pass


class BatchNorm2d(_BiasedRunningVar, nn.BatchNorm2d):
    pass


def _module(layer, in_shapes, built: dict[str, nn.Module]) -> nn.Module:
    """The module of ``layer``; ``built``: the nodes' modules so far (a tied head's embedding)."""
    in_shape = in_shapes[0]
    if isinstance(layer, Conv2d):
        return nn.Conv2d(in_shape[2], layer.filters, layer.kernel_size, layer.stride, layer.padding,
                         groups=layer.groups, bias=layer.use_bias)
    if isinstance(layer, Dense):
        return nn.Linear(in_shape[-1], layer.units, bias=layer.use_bias)
    if isinstance(layer, MaxPool2d):
        return nn.MaxPool2d(layer.pool_size, layer.stride, layer.padding)
    if isinstance(layer, AvgPool2d):
        return nn.AvgPool2d(layer.pool_size, layer.stride)
    if isinstance(layer, GlobalAvgPool2d):
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if isinstance(layer, BatchNorm):
        cls = BatchNorm2d if len(in_shape) == 3 else BatchNorm1d
        return cls(in_shape[-1], eps=layer.eps, momentum=1.0 - layer.momentum)
    if isinstance(layer, Dropout):
        return nn.Dropout(layer.rate)
    if isinstance(layer, Flatten):
        return FlattenModule()
    if isinstance(layer, Activation):
        return SoftmaxModule() if layer.fn == "softmax" else _ACTIVATIONS[layer.fn]()
    if isinstance(layer, Reshape):
        if len(layer.shape) > 2:
            raise NotImplementedError("torch backend: Reshape to images (rank 3) is not supported")
        return ReshapeModule(layer.shape)
    if isinstance(layer, LSTM):
        return LSTMModule(in_shape[1], layer.units, layer.return_sequences)
    if isinstance(layer, Add):
        return AddModule()
    if isinstance(layer, Concat):
        return ConcatModule()
    if isinstance(layer, LayerNorm):
        return LayerNormModule(in_shape[-1], eps=layer.eps)
    if isinstance(layer, MultiHeadAttention):
        return attention.SelfAttention(layer, in_shape[1], layer.size(in_shape))
    if isinstance(layer, TokenEmbedding):
        return nn.Embedding(layer.vocab, layer.dim)
    if isinstance(layer, PositionEmbedding):
        return tokens.PositionEmbedding(layer.max_len, in_shape[1])
    if isinstance(layer, ClassToken):
        return tokens.ClassToken(in_shape[1])
    if isinstance(layer, TokenPool):
        return tokens.TokenPool(layer.mode)
    if isinstance(layer, TiedDense):
        return tokens.TiedDense(built[layer.tied_to])
    return registry.plugin_layer(layer, "torch")(layer, in_shapes)


class GraphModule(nn.Module):
    """Runs a non-sequential graph (residual Add, Concat) node by node."""

    def __init__(self, graph: Graph, layers: dict[str, nn.Module]):
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.plan = [(n.name, n.inputs) for n in graph.nodes]

    def forward(self, x):
        values = {INPUT: x}
        for name, inputs in self.plan:
            values[name] = self.layers[name](*(values[i] for i in inputs))
        return values[name]


def build_model(graph: Graph) -> nn.Module:
    layers: dict[str, nn.Module] = {}
    for n in graph.nodes:
        layers[n.name] = _module(n.layer, graph.input_shapes(n), layers)
    return nn.Sequential(OrderedDict(layers)) if graph.is_sequential else GraphModule(graph, layers)


def _modules(model: nn.Module, graph: Graph) -> dict[str, nn.Module]:
    return dict(model.layers) if isinstance(model, GraphModule) else dict(model.named_children())


#: canonical parameter -> (the module's tensor, whether torch keeps it transposed), where either differs
_PARAMS = {
    "conv": {"kernel": ("weight", True)},
    "dense": {"kernel": ("weight", True)},
    "bn": {"gamma": ("weight", False), "beta": ("bias", False), "moving_mean": ("running_mean", False),
           "moving_var": ("running_var", False)},
    "ln": {"gamma": ("weight", False), "beta": ("bias", False)},
    "token_embedding": {"embedding": ("weight", False)},
    "attention": attention.PARAMS,
}


def _torch_name(node: Node, pname: str) -> tuple[str, bool]:
    return _PARAMS.get(node.layer.kind, {}).get(pname, (pname, False))


def _to_torch(node: Node, pname: str, value: np.ndarray) -> np.ndarray:
    if isinstance(node.layer, LSTM):
        return value if pname == "bias" else value.T
    if not _torch_name(node, pname)[1]:
        return value
    return value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T  # HWIO -> OIHW; (in, out) -> (out, in)


def _from_torch(node: Node, pname: str, value: np.ndarray) -> np.ndarray:
    if value.ndim == 4 and _torch_name(node, pname)[1]:
        return value.transpose(2, 3, 1, 0)
    return _to_torch(node, pname, value)  # the other conversions are transposes, their own inverses


def _tensor(module: nn.Module, node: Node, pname: str) -> torch.Tensor:
    if isinstance(node.layer, LSTM):
        w_ih = module.lstm.weight_ih_l0
        return {"kernel": w_ih[:, :-1], "bias": w_ih[:, -1], "recurrent_kernel": module.lstm.weight_hh_l0}[pname]
    return functools.reduce(getattr, _torch_name(node, pname)[0].split("."), module)


@torch.no_grad()
def load_weights(model: nn.Module, graph: Graph, weights) -> None:
    modules = _modules(model, graph)
    for key, node, pname, _ in graph.named_params():
        t = _tensor(modules[node.name], node, pname)
        t.copy_(torch.from_numpy(np.ascontiguousarray(_to_torch(node, pname, weights[key]))))


@torch.no_grad()
def export_weights(model: nn.Module, graph: Graph) -> dict[str, np.ndarray]:
    modules = _modules(model, graph)
    out = {}
    for key, node, pname, _ in graph.named_params():
        value = _tensor(modules[node.name], node, pname).detach().cpu().numpy()
        out[key] = np.array(_from_torch(node, pname, value), order="C")  # a copy
    return out
