"""The backend: dlbench's ``Backend`` contract (``dlbench/backend.py``), one method at a time.

numpy computes on the CPU, synchronously and in the canonical layout, so most methods here are a
line; a framework's backend does the same work with more to convert and to wait for. The numerics
sit beside it: :mod:`dlbench_numpy_lite.model` (layers and loss) and :mod:`dlbench_numpy_lite.optim`.
"""

from __future__ import annotations

import numpy as np

from dlbench.backend import Backend
from dlbench.environment import cpu_model
from dlbench.errors import ConfigError
from dlbench_numpy_lite.model import ACTIVATIONS, Model, backward, cross_entropy, forward
from dlbench_numpy_lite.optim import Optimizer


class NumpyLiteBackend(Backend):
    # ``name`` and ``tasks`` are not set here: BackendInfo.load() sets them from the registration.
    devices = ("cpu",)
    #: float32 is what runs are timed in; float64 lets ``dlbench verify --dtype float64`` compare
    #: training without round-off
    dtypes = ("float32", "float64")
    #: the activation kinds it computes; the registration's ``layers`` lists the same
    activations = ACTIVATIONS

    # -- describing ------------------------------------------------------------------------------
    def environment(self) -> dict:
        """Contract: the record's environment: the framework, its version under its own name, the
        device, the threads and the precision computed in."""
        return {"framework": "numpy", "numpy": np.__version__, "device_name": cpu_model(),
                "threads": "numpy's BLAS default", "precision": self.precision_used}

    # -- the model -------------------------------------------------------------------------------
    def build(self, graph, weights) -> Model:
        """Contract: a native model holding the canonical weights. numpy's layout is the canonical
        one, so the weights are copied, in the dtype computed in; a channels-first framework
        transposes its kernels here."""
        kinds = {node.layer.kind for node in graph.nodes}
        if missing := sorted(kinds - {"dense", "flatten", *self.activations}):
            raise ConfigError(f"{self.name}: cannot build {graph.name}: no {', '.join(missing)} layer")
        if not graph.is_sequential:
            raise ConfigError(f"{self.name}: cannot build {graph.name}: it branches, and {self.name} runs chains only")
        return Model(graph, {k: np.array(v, dtype=self.dtype) for k, v in weights.items()})

    def export_weights(self, model: Model) -> dict[str, np.ndarray]:
        """Contract: the current weights in canonical layout, as copies (the inverse of ``build``)."""
        return {k: v.copy() for k, v in model.weights.items()}

    def count_params(self, model: Model) -> tuple[int, int]:
        """Contract: (trainable, non-trainable) parameters; dense layers have only trainable ones."""
        return sum(v.size for v in model.weights.values()), 0

    # -- data and steps --------------------------------------------------------------------------
    def to_device(self, x, y=None):
        """Contract: a batch in the framework's layout and dtype, on its device, before the clock
        starts. Inputs arrive as float32 (N, H, W, C), labels as int64."""
        return x.astype(self.dtype, copy=False), y

    def train_step(self, model: Model, optimizer, seed: int):
        """Contract: ``step(x, y) -> loss`` that updates the model in place: forward, the loss and
        its gradient, backward, the optimiser's update. ``seed`` would seed dropout masks."""
        opt = Optimizer(optimizer, model.weights)

        def step(x, y):
            logits, tape = forward(model, x, self.activations)
            loss, grad = cross_entropy(logits, y)
            opt.update(model.weights, backward(model, tape, grad, self.activations))
            return loss

        return step

    def eval_step(self, model: Model):
        """Contract: ``step(x) -> logits`` in inference mode, reading the model's current weights."""
        return lambda x: forward(model, x, self.activations)[0]

    def sync(self, value) -> None:
        """Contract: wait until ``value`` is computed; numpy has finished when it returns."""

    def to_numpy(self, value) -> np.ndarray:
        """Contract: a device value as a numpy array."""
        return np.asarray(value)

    # -- probes ----------------------------------------------------------------------------------
    def peak_device_memory(self) -> None:
        """Contract: peak accelerator memory; None on the CPU."""
        return None

    def train_step_flops(self, model, optimizer, x, y):
        """Contract: FLOPs of one training step as the framework counts them, and how; numpy has no
        counter: None, and why."""
        return None, "numpy counts no FLOPs"
