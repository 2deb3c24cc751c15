"""A throwaway backend plugin in plain numpy (Flatten, Dense, relu/tanh/sigmoid), used to test the
core without any framework and as a reference for dlbench's optimiser semantics.

Its ``crash`` option makes the worker misbehave on the first training step, to test isolation.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from dlbench import hookimpl
from dlbench.backend import Backend, Option
from dlbench.graph import Activation, Dense, Flatten
from dlbench.registry import BackendInfo

ACT = {"relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(z.dtype)),
       "tanh": (np.tanh, lambda z, a: 1 - a**2),
       "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a))}


#: the layer kinds it builds (every plugin backend derived from it declares the same)
LAYERS = ("flatten", "dense", *ACT)


class NumpyOptimizer:
    """The canonical update rules of :mod:`dlbench.optim`, written out in numpy."""

    def __init__(self, spec, weights: dict):
        self.spec, self.t = spec, 0
        self.state = {k: [np.zeros_like(v), np.zeros_like(v)] for k, v in weights.items()}

    def update(self, weights: dict, grads: dict) -> None:
        s, self.t = self.spec, self.t + 1
        for k, g in grads.items():
            m, v = self.state[k]
            if s.name == "sgd":
                step = g
            elif s.name == "momentum":
                m[...] = s.momentum * m + g
                step = m
            elif s.name == "adagrad":
                v += g**2
                step = g / (np.sqrt(v) + s.eps)
            elif s.name == "rmsprop":
                v[...] = s.alpha * v + (1 - s.alpha) * g**2
                step = g / (np.sqrt(v) + s.eps)
            else:  # adam
                m[...] = s.beta1 * m + (1 - s.beta1) * g
                v[...] = s.beta2 * v + (1 - s.beta2) * g**2
                mhat, vhat = m / (1 - s.beta1**self.t), v / (1 - s.beta2**self.t)
                step = mhat / (np.sqrt(vhat) + s.eps)
            weights[k] -= (s.lr * step).astype(weights[k].dtype)


class NumpyBackend(Backend):
    name = "numpy"
    options = {"crash": Option("none", "misbehave on the first step", ("none", "kill", "exception", "hang"))}
    fixed_settings = {"jit": False}
    compiler = "jit"

    def environment(self):
        return {"framework": "numpy", "numpy": np.__version__, "device_name": "cpu", "precision": "float32"}

    def build(self, graph, weights):
        for node in graph.nodes:
            if not isinstance(node.layer, (Flatten, Dense, Activation)):
                raise NotImplementedError(f"numpy backend: no {node.layer.kind} layer")
        return {"graph": graph, "weights": {k: v.copy() for k, v in weights.items()}}

    def export_weights(self, model):
        return {k: v.copy() for k, v in model["weights"].items()}

    def count_params(self, model):
        return sum(v.size for v in model["weights"].values()), 0

    def to_device(self, x, y=None):
        return x, y

    def forward(self, model, x):
        w, tape = model["weights"], []
        for node in model["graph"].nodes:
            layer, inp = node.layer, x
            if isinstance(layer, Flatten):
                x = x.reshape(len(x), -1)
            elif isinstance(layer, Dense):
                x = x @ w[f"{node.name}.kernel"] + w[f"{node.name}.bias"]
            else:
                x = ACT[layer.fn][0](x)
            tape.append((node, inp, x))
        return x, tape

    def train_step(self, model, optimizer, seed):
        opt = NumpyOptimizer(optimizer, model["weights"])

        def step(x, y):
            self._misbehave()
            logits, tape = self.forward(model, x)
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            loss = -np.log(p[np.arange(len(y)), y]).mean()
            grad, grads = p, {}
            grad[np.arange(len(y)), y] -= 1
            grad /= len(y)
            for node, inp, out in reversed(tape):
                if isinstance(node.layer, Dense):
                    grads[f"{node.name}.kernel"] = inp.T @ grad
                    grads[f"{node.name}.bias"] = grad.sum(0)
                    grad = grad @ model["weights"][f"{node.name}.kernel"].T
                elif isinstance(node.layer, Activation):
                    grad = grad * ACT[node.layer.fn][1](inp, out)
                else:
                    grad = grad.reshape(inp.shape)
            opt.update(model["weights"], grads)
            return np.float32(loss)

        return step

    def _misbehave(self):
        crash = self.settings["crash"]
        if crash == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif crash == "exception":
            raise RuntimeError("numpy backend crashed on purpose")
        elif crash == "hang":
            time.sleep(3600)

    def eval_step(self, model):
        return lambda x: self.forward(model, x)[0]

    def sync(self, value):
        pass

    def to_numpy(self, value):
        return np.asarray(value)

    def peak_device_memory(self):
        return None

    def train_step_flops(self, model, optimizer, x, y):
        return None, "numpy backend counts no FLOPs"


@hookimpl
def register_backends(register):
    register(BackendInfo("numpy", "reference backend for tests (dense models only)", "tests.plugins.numpy_backend:NumpyBackend",
                         layers=LAYERS))
