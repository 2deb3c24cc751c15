"""dlbench's optimisers (:mod:`dlbench.optim`), their update rules written out in numpy.

Every backend must reproduce these exactly, with the hyperparameters of the ``OptimizerSpec`` it is
given: frameworks' own defaults differ (Keras' RMSprop has rho 0.9, optax's Adagrad puts eps inside
the root), so a backend on a framework passes each value explicitly rather than trusting them.
Each rule takes the spec, a gradient, the parameter's two state arrays (updated in place) and the
step count, and returns the step that is scaled by the learning rate and subtracted.
"""

from __future__ import annotations

import numpy as np

from dlbench.optim import OptimizerSpec


def sgd(s: OptimizerSpec, g, m, v, t):
    """p -= lr * g"""
    return g


def momentum(s: OptimizerSpec, g, m, v, t):
    """m = momentum * m + g;  p -= lr * m  (torch.optim.SGD, no dampening)"""
    m[...] = s.momentum * m + g
    return m


def adagrad(s: OptimizerSpec, g, m, v, t):
    """v += g**2;  p -= lr * g / (sqrt(v) + eps)  (the sum starts at 0)"""
    v += g**2
    return g / (np.sqrt(v) + s.eps)


def rmsprop(s: OptimizerSpec, g, m, v, t):
    """v = alpha * v + (1 - alpha) * g**2;  p -= lr * g / (sqrt(v) + eps)"""
    v[...] = s.alpha * v + (1 - s.alpha) * g**2
    return g / (np.sqrt(v) + s.eps)


def adam(s: OptimizerSpec, g, m, v, t):
    """Both moments bias-corrected; eps added outside the square root."""
    m[...] = s.beta1 * m + (1 - s.beta1) * g
    v[...] = s.beta2 * v + (1 - s.beta2) * g**2
    return (m / (1 - s.beta1**t)) / (np.sqrt(v / (1 - s.beta2**t)) + s.eps)


RULES = {"sgd": sgd, "momentum": momentum, "adagrad": adagrad, "rmsprop": rmsprop, "adam": adam}


class Optimizer:
    """One optimiser's state for one model's weights; ``update`` applies one step."""

    def __init__(self, spec: OptimizerSpec, weights: dict[str, np.ndarray]):
        self.spec, self.rule, self.t = spec, RULES[spec.name], 0
        self.state = {k: (np.zeros_like(w), np.zeros_like(w)) for k, w in weights.items()}

    def update(self, weights: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update ``weights`` in place from their gradients."""
        self.t += 1
        for k, g in grads.items():
            weights[k] -= (self.spec.lr * self.rule(self.spec, g, *self.state[k], self.t)).astype(weights[k].dtype)
