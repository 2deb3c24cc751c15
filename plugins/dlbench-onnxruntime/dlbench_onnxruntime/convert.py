"""The framework-neutral layer graph with canonical weights -> an ONNX model (``onnx.helper``).

dlbench is channels-last (images (N, H, W, C), HWIO conv kernels, a ``Flatten`` visiting
(H, W, C)); ONNX's Conv and pooling operators are channels-first. Every image tensor therefore
carries its layout, and a ``Transpose`` is inserted only where an operator needs the other one:
into NCHW before Conv, pooling and batch norm, back to NHWC before ``Flatten`` and ``Reshape``
(so dense kernels load unpermuted). ONNX Runtime's optimiser removes transposes that cancel.
The input is the canonical (N, *input_shape) array, int64 token ids for a language model; the batch
axis is symbolic. The transformer layers (sequences (N, T, D)): :mod:`dlbench_onnxruntime.transformer`.

A model of more than 2 GB does not fit one protobuf message: :func:`save` then writes its weights
next to the ``.onnx`` file as external data, and the session reads it from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dlbench.graph import (
    INPUT, LSTM, Activation, Add, AvgPool2d, BatchNorm, Concat, Conv2d, Dense, Dropout, Flatten,
    GlobalAvgPool2d, Graph, MaxPool2d, Node, Reshape, TokenEmbedding,
)
from dlbench_onnxruntime import transformer

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "logits"
TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
#: canonical LSTM gates are (input, forget, cell, output); ONNX orders them (input, output, forget, cell)
ONNX_GATES = (0, 3, 1, 2)
_UNARY = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}
#: protobuf's limit on one serialised message: a larger model keeps its weights in an external file
PROTOBUF_LIMIT = 2**31 - 1


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


@dataclass
class Value:
    """An ONNX tensor name; ``nchw`` for an image tensor currently held channels-first."""

    name: str
    nchw: bool = False


@dataclass
class _Builder:
    dtype: np.dtype
    weights: Mapping[str, np.ndarray] = field(default_factory=dict)
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    _count: int = 0
    _shared: dict = field(default_factory=dict)

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}__{self._count}"

    def const(self, hint: str, value: np.ndarray, dtype=None) -> str:
        name = self.fresh(hint)
        array = np.array(value, dtype=dtype or self.dtype, order="C")  # a scalar stays 0-d
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def shared(self, key: str) -> str:
        """The initializer of canonical weight ``key``, made once for every node that reads it (an
        embedding and the output head tied to it)."""
        if key not in self._shared:
            self._shared[key] = self.const(key, self.weights[key])
        return self._shared[key]

    def op(self, op_type: str, inputs: list[str], hint: str, outputs: int = 1, **attrs) -> list[str]:
        names = [self.fresh(f"{hint}_{op_type}") for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=names[0], **attrs))
        return names

    def layout(self, v: Value, nchw: bool, rank: int) -> Value:
        """``v`` in the wanted layout (only image tensors, rank 3 without the batch, have two)."""
        if rank != 3 or v.nchw == nchw:
            return v
        perm = TO_NCHW if nchw else TO_NHWC
        return Value(self.op("Transpose", [v.name], "layout", perm=list(perm))[0], nchw)


def _lstm_gates(matrix: np.ndarray, units: int) -> np.ndarray:
    """Canonical (X, 4U) -> ONNX (4U, X) with the gate blocks reordered."""
    blocks = matrix.T.reshape(4, units, -1)
    return blocks[list(ONNX_GATES)].reshape(4 * units, -1)


def _layer(b: _Builder, graph: Graph, node: Node, args: list[Value], w: Mapping[str, np.ndarray]) -> Value:
    layer, shapes, hint = node.layer, graph.input_shapes(node), node.name
    rank = len(shapes[0])
    p = lambda name: w[f"{node.name}.{name}"]  # noqa: E731
    if isinstance(layer, Conv2d):
        x = b.layout(args[0], True, rank)
        (kh, kw), (sh, sw), (ph, pw) = _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding)
        inputs = [x.name, b.const(f"{hint}.kernel", p("kernel").transpose(3, 2, 0, 1))]  # HWIO -> OIHW
        if layer.use_bias:
            inputs.append(b.const(f"{hint}.bias", p("bias")))
        return Value(b.op("Conv", inputs, hint, kernel_shape=[kh, kw], strides=[sh, sw],
                          pads=[ph, pw, ph, pw], group=layer.groups)[0], True)
    if isinstance(layer, Dense):
        kernel = b.const(f"{hint}.kernel", p("kernel"))  # (in, out): ONNX's own orientation
        if not layer.use_bias:
            return Value(b.op("MatMul", [args[0].name, kernel], hint)[0])
        if rank == 1:  # Gemm takes matrices only
            return Value(b.op("Gemm", [args[0].name, kernel, b.const(f"{hint}.bias", p("bias"))], hint)[0])
        y = b.op("MatMul", [args[0].name, kernel], hint)[0]  # each token of a (T, F) sequence
        return Value(b.op("Add", [y, b.const(f"{hint}.bias", p("bias"))], hint)[0])
    if isinstance(layer, (MaxPool2d, AvgPool2d)):
        x = b.layout(args[0], True, rank)
        (kh, kw), (ph, pw) = _pair(layer.pool_size), _pair(layer.padding)
        sh, sw = _pair(layer.stride if layer.stride is not None else layer.pool_size)
        op = "MaxPool" if isinstance(layer, MaxPool2d) else "AveragePool"  # ONNX pads never win a max
        return Value(b.op(op, [x.name], hint, kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw])[0], True)
    if isinstance(layer, GlobalAvgPool2d):
        x = args[0]
        if x.nchw:
            pooled = b.op("GlobalAveragePool", [x.name], hint)[0]
            return Value(b.op("Flatten", [pooled], hint, axis=1)[0])
        return Value(b.op("ReduceMean", [x.name], hint, axes=[1, 2], keepdims=0)[0])
    if isinstance(layer, BatchNorm):  # inference: the running statistics
        if rank == 3:
            x = b.layout(args[0], True, rank)
            stats = [b.const(f"{hint}.{k}", p(k)) for k in ("gamma", "beta", "moving_mean", "moving_var")]
            return Value(b.op("BatchNormalization", [x.name, *stats], hint, epsilon=layer.eps)[0], True)
        # over the last axis of (N, F) or (N, T, F): one multiply-add, folded in float64
        scale = p("gamma").astype(np.float64) / np.sqrt(p("moving_var").astype(np.float64) + layer.eps)
        shift = p("beta") - p("moving_mean") * scale
        scaled = b.op("Mul", [args[0].name, b.const(f"{hint}.scale", scale)], hint)[0]
        return Value(b.op("Add", [scaled, b.const(f"{hint}.shift", shift)], hint)[0])
    if isinstance(layer, Dropout):  # inference: the identity
        return args[0]
    if isinstance(layer, Flatten):
        x = b.layout(args[0], False, rank)  # dlbench flattens (H, W, C)
        return Value(b.op("Flatten", [x.name], hint, axis=1)[0])
    if isinstance(layer, Reshape):
        x = b.layout(args[0], False, rank)
        shape = b.const(f"{hint}.shape", np.array([0, *layer.shape]), np.int64)  # 0: keep the batch axis
        return Value(b.op("Reshape", [x.name, shape], hint)[0])
    if isinstance(layer, Activation):
        x = args[0]
        if layer.fn == "relu6":
            lo, hi = b.const(f"{hint}.min", np.array(0.0)), b.const(f"{hint}.max", np.array(6.0))
            return Value(b.op("Clip", [x.name, lo, hi], hint)[0], x.nchw)
        if layer.fn == "softmax":
            axis = 1 if x.nchw else -1  # dlbench's softmax runs over the channel (last) axis
            return Value(b.op("Softmax", [x.name], hint, axis=axis)[0], x.nchw)
        if layer.fn in ("gelu", "gelu_tanh"):
            return Value(transformer.gelu(b, x.name, hint, approximate=layer.fn == "gelu_tanh"), x.nchw)
        return Value(b.op(_UNARY[layer.fn], [x.name], hint)[0], x.nchw)
    if isinstance(layer, LSTM):
        units = layer.units
        seq = b.op("Transpose", [args[0].name], hint, perm=[1, 0, 2])[0]  # (N, T, F) -> ONNX's (T, N, F)
        weights = b.const(f"{hint}.W", _lstm_gates(p("kernel"), units)[None])
        recurrent = b.const(f"{hint}.R", _lstm_gates(p("recurrent_kernel"), units)[None])
        # one canonical bias: ONNX adds Wb + Rb, so Rb is zero
        bias = np.concatenate([p("bias").reshape(4, units)[list(ONNX_GATES)].ravel(), np.zeros(4 * units)])
        y, y_h = b.op("LSTM", [seq, weights, recurrent, b.const(f"{hint}.B", bias[None])], hint, outputs=2,
                      hidden_size=units)
        if layer.return_sequences:  # Y is (T, 1, N, U)
            squeezed = b.op("Squeeze", [y, b.const(f"{hint}.axis", np.array([1]), np.int64)], hint)[0]
            return Value(b.op("Transpose", [squeezed], hint, perm=[1, 0, 2])[0])
        return Value(b.op("Squeeze", [y_h, b.const(f"{hint}.axis", np.array([0]), np.int64)], hint)[0])
    if isinstance(layer, Add):
        a, c = args[0], b.layout(args[1], args[0].nchw, rank)
        return Value(b.op("Add", [a.name, c.name], hint)[0], a.nchw)
    if isinstance(layer, Concat):
        a, c = args[0], b.layout(args[1], args[0].nchw, rank)
        return Value(b.op("Concat", [a.name, c.name], hint, axis=1 if a.nchw else -1)[0], a.nchw)
    if export := transformer.EXPORTERS.get(type(layer)):
        x = b.layout(args[0], False, rank)  # over the last axis: an image's channels (a layer norm's)
        return Value(export(b, node, x.name, p, shapes[0]))
    raise NotImplementedError(f"onnxruntime backend cannot export layer {type(layer).__name__}")


def takes_tokens(graph: Graph) -> bool:
    """Whether the input is token ids (a token embedding reads it), not features."""
    return any(isinstance(n.layer, TokenEmbedding) and INPUT in n.inputs for n in graph.nodes)


def to_onnx(graph: Graph, weights: Mapping[str, np.ndarray], dtype: str = "float32") -> onnx.ModelProto:
    """An ONNX model computing ``graph``'s eval-mode logits from a canonical (N, *input_shape) batch."""
    b = _Builder(np.dtype(dtype), weights)
    values: dict[str, Value] = {INPUT: Value(INPUT_NAME)}
    for node in graph.nodes:
        values[node.name] = _layer(b, graph, node, [values[i] for i in node.inputs], weights)
    out = values[graph.nodes[-1].name]
    b.nodes.append(helper.make_node("Identity", [out.name], [OUTPUT_NAME], name=OUTPUT_NAME))
    elem = helper.np_dtype_to_tensor_dtype(b.dtype) if hasattr(helper, "np_dtype_to_tensor_dtype") else TensorProto.FLOAT
    onnx_graph = helper.make_graph(
        b.nodes, graph.name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.INT64 if takes_tokens(graph) else elem,
                                       ["N", *graph.input_shape])],
        [helper.make_tensor_value_info(OUTPUT_NAME, elem, ["N", *graph.output_shape])],
        b.initializers,
    )
    model = helper.make_model(onnx_graph, producer_name="dlbench-onnxruntime",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = min(model.ir_version, 8)  # IR 8 is what opset 17 shipped with; older runtimes read it
    if fits(model):  # the checker takes a larger model only as a file
        onnx.checker.check_model(model)
    return model


def fits(model: onnx.ModelProto) -> bool:
    """Whether ``model`` serialises as one protobuf message (under 2 GB): its weights, tensor by tensor
    (each under the limit), and a margin for the graph."""
    return sum(t.ByteSize() for t in model.graph.initializer) < PROTOBUF_LIMIT - 2**26


def save(model: onnx.ModelProto, path: Path) -> Path:
    """``model`` written to ``path``; one over 2 GB with its weights in ``<path>.data`` beside it
    (external data, which the session reads from the folder). ``model`` itself is left as it is."""
    if fits(model):
        path.write_bytes(model.SerializeToString())
    else:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        onnx.save_model(copy, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f"{path.name}.data", size_threshold=1024)
    return path
