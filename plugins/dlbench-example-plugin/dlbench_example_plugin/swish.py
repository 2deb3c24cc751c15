"""A layer the core graph lacks, added by this plugin: Swish (Ramachandran et al., 2017),
x · sigmoid(β x) with a learned β per feature (per channel of an image).

The layer is declared once (its shape, parameter and MAC rules, its canonical weight ``beta`` of
shape (C,) and initialiser), and built natively by one small function per backend it supports;
each imports its framework only when called, so registering the layer imports none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dlbench.graph import Layer, Param


@dataclass(frozen=True)
class Swish(Layer):
    kind: ClassVar[str] = "swish"

    def params(self, x):
        return {"beta": Param((x[-1],), "ones")}


def torch_swish(layer: Swish, input_shapes):
    """torch sees images channels-first (N, C, H, W), vectors and sequences with features last."""
    import torch

    class SwishModule(torch.nn.Module):
        def __init__(self, features: int):
            super().__init__()
            self.beta = torch.nn.Parameter(torch.ones(features))  # canonical name and layout

        def forward(self, x):
            beta = self.beta.view(1, -1, 1, 1) if x.ndim == 4 else self.beta
            return x * torch.sigmoid(beta * x)

    return SwishModule(input_shapes[0][-1])


def tensorflow_swish(layer: Swish, input_shape, name: str, dtype):
    """Keras sees the canonical channels-last layout; the weight is named as the canonical one."""
    import keras

    class SwishLayer(keras.layers.Layer):
        def build(self, shape):
            self.beta = self.add_weight(shape=(shape[-1],), initializer="ones", name="beta")

        def call(self, x):
            return x * keras.ops.sigmoid(keras.ops.cast(self.beta, x.dtype) * x)

    return SwishLayer(name=name, dtype=dtype)


def jax_swish(layer: Swish, name: str, precision, dtype):
    """A Flax module whose parameter is named and shaped as the canonical one."""
    import flax.linen as nn
    import jax.numpy as jnp

    class SwishModule(nn.Module):
        @nn.compact
        def __call__(self, x):
            beta = self.param("beta", nn.initializers.ones, (x.shape[-1],), jnp.float32)
            return x * nn.sigmoid(beta.astype(x.dtype) * x)

    return SwishModule(name=name)
