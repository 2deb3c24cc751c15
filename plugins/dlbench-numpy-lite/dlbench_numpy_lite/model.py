"""The numerics of a model: each layer's forward and backward pass, and the loss, in numpy.

A model is the graph plus its weights, named as dlbench names them (``"dense1.kernel"``) and held in
the canonical layout, which is numpy's own: channels-last images, dense kernels ``(in, out)``.
``forward`` keeps on a tape what the backward pass needs; ``backward`` walks the tape in reverse.
A framework with automatic differentiation needs only the forward half of this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from dlbench.graph import Graph, Node

#: an activation: ``f(z)``, and ``f'(z)`` given its input ``z`` and output ``a``
Activation = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray, np.ndarray], np.ndarray]]

ACTIVATIONS: dict[str, Activation] = {"relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype))}


@dataclass
class Model:
    """What ``Backend.build`` returns, and the steps read and update in place."""

    graph: Graph
    weights: dict[str, np.ndarray]


def forward(model: Model, x: np.ndarray, activations: dict[str, Activation]):
    """The logits of a batch, and the tape: each node with its input and output."""
    tape = []
    for node in model.graph.nodes:
        out = layer_forward(node, x, model.weights, activations)
        tape.append((node, x, out))
        x = out
    return x, tape


def layer_forward(node: Node, x: np.ndarray, weights: dict, activations: dict[str, Activation]) -> np.ndarray:
    """One layer's output."""
    kind = node.layer.kind
    if kind == "flatten":
        return x.reshape(len(x), -1)  # visits (H, W, C) in that order, as the canonical layout does
    if kind == "dense":
        out = x @ weights[f"{node.name}.kernel"]
        return out + weights[f"{node.name}.bias"] if node.layer.use_bias else out
    return activations[kind][0](x)


def backward(model: Model, tape: list, grad: np.ndarray, activations: dict[str, Activation]) -> dict[str, np.ndarray]:
    """The gradient of the loss for every weight, from its gradient for the logits (backpropagation)."""
    grads: dict[str, np.ndarray] = {}
    for node, x, out in reversed(tape):
        grad = layer_backward(node, x, out, grad, model.weights, grads, activations)
    return grads


def layer_backward(node: Node, x: np.ndarray, out: np.ndarray, grad: np.ndarray, weights: dict, grads: dict,
                   activations: dict[str, Activation]) -> np.ndarray:
    """The gradient for one layer's input, from the gradient for its output; a dense layer adds its
    weights' gradients to ``grads``."""
    kind = node.layer.kind
    if kind == "flatten":
        return grad.reshape(x.shape)
    if kind == "dense":
        inputs, outputs = x.reshape(-1, x.shape[-1]), grad.reshape(-1, grad.shape[-1])  # a sequence: every step
        grads[f"{node.name}.kernel"] = inputs.T @ outputs
        if node.layer.use_bias:
            grads[f"{node.name}.bias"] = outputs.sum(0)
        return grad @ weights[f"{node.name}.kernel"].T
    return grad * activations[kind][1](x, out)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss every backend's train step returns, the mean softmax cross-entropy of the batch, and
    its gradient for the logits."""
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    rows = np.arange(len(labels))
    loss = -np.log(p[rows, labels]).mean()
    p[rows, labels] -= 1
    return loss, p / len(labels)
