"""dlbench's optimiser semantics (see :mod:`dlbench.optim`) as optax transformations.

optax's aliases differ from PyTorch in two places, so those are composed by hand: ``adagrad``
(optax starts the accumulator at 0.1 and adds eps inside the root) and ``rmsprop`` (eps inside
the root unless asked). ``sgd(momentum=)`` is ``v = m * v + g; p -= lr * v``, as in torch.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from dlbench.optim import OptimizerSpec


class AdagradState(NamedTuple):
    sum_of_squares: optax.Updates


def scale_by_adagrad(eps: float) -> optax.GradientTransformation:
    """``s += g**2; g / (sqrt(s) + eps)`` with the accumulator starting at zero (torch.optim.Adagrad)."""

    def init(params):
        return AdagradState(jax.tree.map(jnp.zeros_like, params))

    def update(updates, state, params=None):
        del params
        s = jax.tree.map(lambda g, a: a + g * g, updates, state.sum_of_squares)
        return jax.tree.map(lambda g, a: g / (jnp.sqrt(a) + eps), updates, s), AdagradState(s)

    return optax.GradientTransformation(init, update)


def make_optimizer(spec: OptimizerSpec) -> optax.GradientTransformation:
    if spec.name == "sgd":
        return optax.sgd(spec.lr)
    if spec.name == "momentum":
        return optax.sgd(spec.lr, momentum=spec.momentum)
    if spec.name == "adagrad":
        return optax.chain(scale_by_adagrad(spec.eps), optax.scale(-spec.lr))
    if spec.name == "rmsprop":
        return optax.chain(optax.scale_by_rms(decay=spec.alpha, eps=spec.eps, initial_scale=0.0, eps_in_sqrt=False),
                           optax.scale(-spec.lr))
    if spec.name == "adam":
        return optax.adam(spec.lr, b1=spec.beta1, b2=spec.beta2, eps=spec.eps, eps_root=0.0)
    raise ValueError(spec.name)
