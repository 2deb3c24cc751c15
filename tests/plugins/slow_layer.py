"""A throwaway layer that sleeps in its forward pass (an identity otherwise), and a small model using
it: `dlbench explain` must show the sleep as that layer's time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from dlbench import hookimpl
from dlbench.graph import Activation, Conv2d, Dense, Flatten, Layer, sequential
from dlbench.registry import LayerInfo, ModelInfo

SLEEP_S = 0.2  # above what a busy machine adds to a small model's other ops


def _pause() -> np.ndarray:
    time.sleep(SLEEP_S)
    return np.zeros((), np.float32)


@dataclass(frozen=True)
class Sleep(Layer):
    kind: ClassVar[str] = "sleep"


def torch_sleep(layer: Sleep, input_shapes):
    import torch

    class SleepModule(torch.nn.Module):
        def forward(self, x):
            _pause()
            return x

    return SleepModule()


def tensorflow_sleep(layer: Sleep, input_shape, name: str, dtype):
    """A Python call inside the graph (TensorFlow without XLA: tf.py_function does not compile)."""
    import keras
    import tensorflow as tf

    class SleepLayer(keras.layers.Layer):
        def call(self, x):
            pause = tf.py_function(_pause, [], tf.float32)
            pause.set_shape(())
            return x + tf.stop_gradient(pause)

        def compute_output_shape(self, shape):
            return shape

    return SleepLayer(name=name, dtype=dtype)


def jax_sleep(layer: Sleep, name: str, precision, dtype):
    import flax.linen as nn
    import jax

    class SleepModule(nn.Module):
        @nn.compact
        def __call__(self, x):
            return x + jax.lax.stop_gradient(jax.pure_callback(_pause, jax.ShapeDtypeStruct((), np.float32)))

    return SleepModule(name=name)


def build(input_shape, num_classes):
    return sequential("slow_net", input_shape, [Conv2d(4, 3, padding=1), Activation("relu"), Sleep(), Flatten(),
                                                Dense(num_classes)])


@hookimpl
def register_layers(register):
    register(LayerInfo(Sleep, "an identity that sleeps in its forward pass (test plugin)",
                       {name: f"{__name__}:{name}_sleep" for name in ("torch", "tensorflow", "jax")}))


@hookimpl
def register_models(register):
    register(ModelInfo("slow_net", "conv, relu, a layer that sleeps, dense (test plugin)", build, (8, 8, 1)))
