"""A throwaway copy of the numpy backend whose optimiser can be made wrong on purpose: ``lr_scale``
multiplies the learning rate. At its default (1.0) it matches ``numpy`` exactly; any other value
leaves the initial logits identical and changes only training, which is what ``verify``'s training
comparison (and nothing else) must catch."""

from __future__ import annotations

import dataclasses

from dlbench import hookimpl
from dlbench.backend import Option
from dlbench.registry import BackendInfo
from tests.plugins.numpy_backend import LAYERS, NumpyBackend


class SkewedBackend(NumpyBackend):
    name = "skewed"
    options = {"lr_scale": Option(1.0, "multiplies the learning rate (a deliberate optimiser bug when not 1)")}

    def train_step(self, model, optimizer, seed):
        spec = dataclasses.replace(optimizer, lr=optimizer.lr * self.settings["lr_scale"])
        return super().train_step(model, spec, seed)

    def _misbehave(self):
        pass  # this backend has no crash option: only ``numpy`` crashes when asked to


@hookimpl
def register_backends(register):
    register(BackendInfo("skewed", "numpy backend with a scalable learning rate (test plugin)",
                         "tests.plugins.skewed_backend:SkewedBackend", layers=LAYERS))
