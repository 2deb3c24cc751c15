"""Canonical initial weights, generated with numpy from the run's seed so every backend starts equal.

Each parameter draws from its own generator seeded by ``(seed, crc32(name))``: a parameter's
values do not depend on which other layers exist or the order they were declared in.
"""

from __future__ import annotations

import zlib

import numpy as np

from dlbench.errors import ConfigError
from dlbench.graph.graph import Graph
from dlbench.graph.layers import Param


def _normal(std):
    return lambda rng, shape: rng.normal(0.0, std, shape)


def _uniform(limit):
    return lambda rng, shape: rng.uniform(-limit, limit, shape)


# name -> (fan_in, fan_out) -> sampler(rng, shape)
INITIALIZERS = {
    "zeros": lambda fi, fo: lambda rng, shape: np.zeros(shape),
    "ones": lambda fi, fo: lambda rng, shape: np.ones(shape),
    "he_normal": lambda fi, fo: _normal(np.sqrt(2.0 / fi)),
    "he_uniform": lambda fi, fo: _uniform(np.sqrt(6.0 / fi)),
    "xavier_normal": lambda fi, fo: _normal(np.sqrt(2.0 / (fi + fo))),
    "xavier_uniform": lambda fi, fo: _uniform(np.sqrt(6.0 / (fi + fo))),
    "lecun_normal": lambda fi, fo: _normal(np.sqrt(1.0 / fi)),
    "lecun_uniform": lambda fi, fo: _uniform(np.sqrt(3.0 / fi)),
    # PyTorch's default for Linear and Conv weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    "torch_default": lambda fi, fo: _uniform(1.0 / np.sqrt(fi)),
    # Zero bias but 1 for the LSTM forget gate (Jozefowicz et al., 2015; Keras's unit_forget_bias).
    "lstm_forget_one": lambda fi, fo: lambda rng, shape: np.repeat(np.array([0.0, 1.0, 0.0, 0.0]), shape[0] // 4),
}


def initializer(name: str):
    """``INITIALIZERS[name]``, or ``normal_<std>`` for any standard deviation (GPT-2 scales its
    residual projections by 1/sqrt(2 x layers))."""
    if name in INITIALIZERS:
        return INITIALIZERS[name]
    prefix, _, std = name.partition("_")
    try:
        if prefix == "normal" and float(std) > 0:
            return lambda fi, fo: _normal(float(std))
    except ValueError:
        pass
    raise ConfigError(f"unknown initialiser {name!r}; choose one of: {', '.join(INITIALIZERS)}, normal_<std>")


def sample(param: Param, rng: np.random.Generator) -> np.ndarray:
    return initializer(param.init)(param.fan_in, param.fan_out)(rng, param.shape).astype(np.float32)


def init_weights(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """Every parameter of ``graph`` in canonical layout, float32, keyed ``"node.param"``."""
    return {
        name: sample(p, np.random.default_rng([seed, zlib.crc32(name.encode())]))
        for name, p in graph.params().items()
    }
