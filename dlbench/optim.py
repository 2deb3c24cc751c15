"""Optimisers with one set of semantics (PyTorch's) that every backend reproduces exactly.

- ``sgd``:      p -= lr * g
- ``momentum``: v = momentum * v + g;  p -= lr * v                      (torch.optim.SGD, no dampening)
- ``adagrad``:  s += g**2;  p -= lr * g / (sqrt(s) + eps)              (initial accumulator 0, eps 1e-10)
- ``rmsprop``:  s = alpha * s + (1 - alpha) * g**2;  p -= lr * g / (sqrt(s) + eps)   (alpha 0.99, eps 1e-8)
- ``adam``:     bias-corrected moments, eps added outside the square root (betas 0.9/0.999, eps 1e-8)

Frameworks disagree on several defaults (Keras: RMSprop rho 0.9, eps 1e-7, Adagrad initial
accumulator 0.1; optax: Adagrad eps 1e-7 inside the root); backends must pass these values explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlbench.errors import ConfigError

DEFAULT_LR = {"sgd": 0.01, "momentum": 0.01, "adagrad": 0.01, "rmsprop": 0.001, "adam": 0.001}
DEFAULT_EPS = {"sgd": 0.0, "momentum": 0.0, "adagrad": 1e-10, "rmsprop": 1e-8, "adam": 1e-8}
OPTIMIZERS = tuple(DEFAULT_LR)


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    lr: float
    momentum: float = 0.9
    alpha: float = 0.99
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 0.0

    def __post_init__(self):
        if self.name not in DEFAULT_LR:
            raise ConfigError(f"unknown optimizer {self.name!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}")

    @classmethod
    def create(cls, name: str, lr: float | None = None) -> "OptimizerSpec":
        if name not in DEFAULT_LR:
            raise ConfigError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
        return cls(name, DEFAULT_LR[name] if lr is None else lr, eps=DEFAULT_EPS[name])
