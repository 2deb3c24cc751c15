"""Framework-neutral layers.

Tensors are channels-last: images are (H, W, C), vectors (F,); the batch axis is implicit.
Canonical parameter layouts (what :func:`dlbench.graph.init_weights` produces and every backend
loads, converting where its framework differs):

- ``Conv2d.kernel``: (kh, kw, in_channels // groups, filters)  -- HWIO, as in TF/JAX
- ``Dense.kernel``: (in_features, units), applied to the last axis (of a vector, or of each token of
  a (T, F) sequence); when the input comes from ``Flatten`` of an (H, W, C) tensor, row
  ``(h * W + w) * C + c`` multiplies pixel (h, w) channel c (channels-last order)
- ``bias``: (out,); ``BatchNorm``: ``gamma``, ``beta``, ``moving_mean``, ``moving_var`` of (C,);
  ``LayerNorm``: ``gamma``, ``beta`` of (D,)
- ``LSTM``: ``kernel`` (F, 4U), ``recurrent_kernel`` (U, 4U), ``bias`` (4U,), gates in the order
  input, forget, cell, output (PyTorch's and Keras's order); one bias, as Keras and Flax have

MACs count the multiply-accumulates of weight layers (conv, dense, attention's matmuls) per
sample, the convention behind the published figures (e.g. AlexNet's 714,188,480); pooling,
activations and normalisation are not counted. Token layers and attention: :mod:`dlbench.graph.tokens`,
:mod:`dlbench.graph.attention`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from dlbench.errors import ConfigError

Shape = tuple[int, ...]
#: gelu is exact (erf); gelu_tanh is its tanh approximation (GPT-2)
ACTIVATIONS = ("relu", "relu6", "tanh", "sigmoid", "softmax", "gelu", "gelu_tanh")


@dataclass(frozen=True)
class Param:
    """A parameter's canonical shape, initialiser and fans (for fan-scaled initialisers)."""

    shape: Shape
    init: str
    trainable: bool = True
    fan_in: int = 1
    fan_out: int = 1

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _spatial(shape: Shape, kind: str) -> Shape:
    if len(shape) != 3:
        raise ConfigError(f"{kind} needs an (H, W, C) input, got shape {shape}")
    return shape


def _window_out(size: int, k: int, s: int, p: int, kind: str) -> int:
    out = (size + 2 * p - k) // s + 1
    if out < 1:
        raise ConfigError(f"{kind}: input of size {size} is too small for window {k} (stride {s}, pad {p})")
    return out


class Layer:
    kind: ClassVar[str] = "layer"
    arity: ClassVar[int] = 1

    def output_shape(self, *inputs: Shape) -> Shape:
        return inputs[0]

    def params(self, *inputs: Shape) -> dict[str, Param]:
        return {}

    def macs(self, *inputs: Shape) -> int:
        return 0


@dataclass(frozen=True)
class Conv2d(Layer):
    filters: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    groups: int = 1
    use_bias: bool = True
    kernel_init: str = "he_normal"
    bias_init: str = "zeros"
    kind: ClassVar[str] = "conv"

    def output_shape(self, x: Shape) -> Shape:
        h, w, c = _spatial(x, "Conv2d")
        if c % self.groups or self.filters % self.groups:
            raise ConfigError(f"Conv2d: channels {c} and filters {self.filters} must divide by groups {self.groups}")
        (kh, kw), (sh, sw), (ph, pw) = _pair(self.kernel_size), _pair(self.stride), _pair(self.padding)
        return (_window_out(h, kh, sh, ph, "Conv2d"), _window_out(w, kw, sw, pw, "Conv2d"), self.filters)

    def params(self, x: Shape) -> dict[str, Param]:
        kh, kw = _pair(self.kernel_size)
        cin = x[2] // self.groups
        fan_in, fan_out = kh * kw * cin, kh * kw * self.filters // self.groups
        p = {"kernel": Param((kh, kw, cin, self.filters), self.kernel_init, True, fan_in, fan_out)}
        if self.use_bias:
            p["bias"] = Param((self.filters,), self.bias_init, True, fan_in, fan_out)
        return p

    def macs(self, x: Shape) -> int:
        oh, ow, oc = self.output_shape(x)
        kh, kw = _pair(self.kernel_size)
        return oh * ow * oc * kh * kw * (x[2] // self.groups)


@dataclass(frozen=True)
class Dense(Layer):
    units: int
    use_bias: bool = True
    kernel_init: str = "xavier_uniform"
    bias_init: str = "zeros"
    kind: ClassVar[str] = "dense"

    def output_shape(self, x: Shape) -> Shape:
        if len(x) not in (1, 2):
            raise ConfigError(f"Dense needs a flat (F,) input or a (T, F) sequence, got shape {x}; add Flatten() first")
        return (*x[:-1], self.units)

    def params(self, x: Shape) -> dict[str, Param]:
        fan_in, fan_out = x[-1], self.units
        p = {"kernel": Param((fan_in, fan_out), self.kernel_init, True, fan_in, fan_out)}
        if self.use_bias:
            p["bias"] = Param((fan_out,), self.bias_init, True, fan_in, fan_out)
        return p

    def macs(self, x: Shape) -> int:
        return math.prod(x) * self.units


@dataclass(frozen=True)
class _Pool2d(Layer):
    pool_size: int | tuple[int, int]
    stride: int | tuple[int, int] | None = None
    padding: int | tuple[int, int] = 0

    def output_shape(self, x: Shape) -> Shape:
        h, w, c = _spatial(x, type(self).__name__)
        (kh, kw), (ph, pw) = _pair(self.pool_size), _pair(self.padding)
        sh, sw = _pair(self.stride if self.stride is not None else self.pool_size)
        return (_window_out(h, kh, sh, ph, self.kind), _window_out(w, kw, sw, pw, self.kind), c)


@dataclass(frozen=True)
class MaxPool2d(_Pool2d):
    """Max pooling; padded positions never win (they count as -inf)."""

    kind: ClassVar[str] = "maxpool"


@dataclass(frozen=True)
class AvgPool2d(_Pool2d):
    """Average pooling without padding (frameworks disagree on averaging over padding)."""

    kind: ClassVar[str] = "avgpool"

    def __post_init__(self):
        if _pair(self.padding) != (0, 0):
            raise ConfigError("AvgPool2d supports padding=0 only")


@dataclass(frozen=True)
class GlobalAvgPool2d(Layer):
    kind: ClassVar[str] = "gap"

    def output_shape(self, x: Shape) -> Shape:
        return (_spatial(x, "GlobalAvgPool2d")[2],)


@dataclass(frozen=True)
class Flatten(Layer):
    """Flattens in channels-last order: (H, W, C) -> (H*W*C,)."""

    kind: ClassVar[str] = "flatten"

    def output_shape(self, x: Shape) -> Shape:
        return (math.prod(x),)


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch norm over the last axis. ``momentum`` weighs the old running value (Keras/Flax
    convention: running = momentum * running + (1 - momentum) * batch)."""

    momentum: float = 0.9
    eps: float = 1e-5
    kind: ClassVar[str] = "bn"

    def params(self, x: Shape) -> dict[str, Param]:
        c = (x[-1],)
        return {
            "gamma": Param(c, "ones"),
            "beta": Param(c, "zeros"),
            "moving_mean": Param(c, "zeros", trainable=False),
            "moving_var": Param(c, "ones", trainable=False),
        }


@dataclass(frozen=True)
class LayerNorm(Layer):
    """Normalisation over the last axis of each example (Ba et al., 2016), then ``gamma`` and ``beta``."""

    eps: float = 1e-5
    kind: ClassVar[str] = "ln"

    def params(self, x: Shape) -> dict[str, Param]:
        c = (x[-1],)
        return {"gamma": Param(c, "ones"), "beta": Param(c, "zeros")}


@dataclass(frozen=True)
class Dropout(Layer):
    rate: float
    kind: ClassVar[str] = "dropout"

    def __post_init__(self):
        if not 0.0 <= self.rate < 1.0:
            raise ConfigError(f"Dropout rate must be in [0, 1), got {self.rate}")


@dataclass(frozen=True)
class Activation(Layer):
    fn: str

    def __post_init__(self):
        if self.fn not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.fn!r}; choose one of: {', '.join(ACTIVATIONS)}")

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.fn


@dataclass(frozen=True)
class Reshape(Layer):
    """Reshape in channels-last order, e.g. (28, 28, 1) -> (28, 28): an image read row by row."""

    shape: tuple[int, ...]
    kind: ClassVar[str] = "reshape"

    def output_shape(self, x: Shape) -> Shape:
        if math.prod(x) != math.prod(self.shape):
            raise ConfigError(f"Reshape cannot turn {x} into {self.shape}")
        return tuple(self.shape)


@dataclass(frozen=True)
class LSTM(Layer):
    """Long short-term memory (Hochreiter and Schmidhuber, 1997) over a (T, F) sequence.

    Returns the last hidden state (U,), or every step's (T, U) with ``return_sequences``.
    MACs: 4U(F + U) per time step.
    """

    units: int
    return_sequences: bool = False
    kernel_init: str = "xavier_uniform"
    recurrent_init: str = "xavier_uniform"
    bias_init: str = "lstm_forget_one"
    kind: ClassVar[str] = "lstm"

    def output_shape(self, x: Shape) -> Shape:
        if len(x) != 2:
            raise ConfigError(f"LSTM needs a (T, F) sequence, got shape {x}; add Reshape first")
        return (x[0], self.units) if self.return_sequences else (self.units,)

    def params(self, x: Shape) -> dict[str, Param]:
        f, u = x[1], self.units
        return {
            "kernel": Param((f, 4 * u), self.kernel_init, True, f, 4 * u),
            "recurrent_kernel": Param((u, 4 * u), self.recurrent_init, True, u, 4 * u),
            "bias": Param((4 * u,), self.bias_init, True, f, 4 * u),
        }

    def macs(self, x: Shape) -> int:
        return x[0] * 4 * self.units * (x[1] + self.units)


@dataclass(frozen=True)
class Add(Layer):
    """Element-wise sum of two tensors of the same shape (residual connections)."""

    kind: ClassVar[str] = "add"
    arity: ClassVar[int] = 2

    def output_shape(self, a: Shape, b: Shape) -> Shape:
        if a != b:
            raise ConfigError(f"Add needs equal shapes, got {a} and {b}")
        return a


@dataclass(frozen=True)
class Concat(Layer):
    """Concatenation along the channel (last) axis."""

    kind: ClassVar[str] = "concat"
    arity: ClassVar[int] = 2

    def output_shape(self, a: Shape, b: Shape) -> Shape:
        if a[:-1] != b[:-1]:
            raise ConfigError(f"Concat needs equal shapes but for the last axis, got {a} and {b}")
        return (*a[:-1], a[-1] + b[-1])
