"""dlbench's optimiser semantics (see :mod:`dlbench.optim`) as torch.optim optimisers."""

from __future__ import annotations

import torch

from dlbench.optim import OptimizerSpec


def make_optimizer(spec: OptimizerSpec, params) -> torch.optim.Optimizer:
    if spec.name == "sgd":
        return torch.optim.SGD(params, lr=spec.lr)
    if spec.name == "momentum":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum)
    if spec.name == "adagrad":
        return torch.optim.Adagrad(params, lr=spec.lr, eps=spec.eps, initial_accumulator_value=0.0)
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr, alpha=spec.alpha, eps=spec.eps)
    if spec.name == "adam":
        return torch.optim.Adam(params, lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps)
    raise ValueError(spec.name)
