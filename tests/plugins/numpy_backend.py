"""The numpy test backend: the backend template (plugins/dlbench-numpy-lite) and what only the tests
need: tanh and sigmoid, a ``crash`` option that makes the worker misbehave on the first training step
(to test isolation), a compiler setting (off) for the record's ``backend.compilation``, and float32
only (to test that float64 is refused). Its optimisers are the reference for dlbench's update rules."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from dlbench import hookimpl
from dlbench.backend import Option
from dlbench.registry import BackendInfo
from dlbench_numpy_lite.backend import NumpyLiteBackend

ACT = {**NumpyLiteBackend.activations,
       "tanh": (np.tanh, lambda z, a: 1 - a**2),
       "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a))}

#: the layer kinds it builds (every plugin backend derived from it declares the same)
LAYERS = ("flatten", "dense", *ACT)


class NumpyBackend(NumpyLiteBackend):
    name = "numpy"
    options = {"crash": Option("none", "misbehave on the first step", ("none", "kill", "exception", "hang"))}
    fixed_settings = {"jit": False}
    compiler = "jit"
    dtypes = ("float32",)
    activations = ACT

    def train_step(self, model, optimizer, seed):
        step = super().train_step(model, optimizer, seed)

        def misbehaving(x, y):
            self._misbehave()
            return step(x, y)

        return misbehaving

    def _misbehave(self):
        crash = self.settings["crash"]
        if crash == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif crash == "exception":
            raise RuntimeError("numpy backend crashed on purpose")
        elif crash == "hang":
            time.sleep(3600)


@hookimpl
def register_backends(register):
    register(BackendInfo("numpy", "reference backend for tests (dense models only)", "tests.plugins.numpy_backend:NumpyBackend",
                         layers=LAYERS))
