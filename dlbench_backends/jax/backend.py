"""The JAX backend: a Flax linen module, one jitted train step with donated state; GPU with --device gpu."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flax
import flax.linen as nn
import jax
import jaxlib
import numpy as np
import optax
from flax import traverse_util

from dlbench.backend import Backend, Option
from dlbench.environment import cpu_model
from dlbench.errors import ConfigError
from dlbench.graph import Graph
from dlbench.optim import OptimizerSpec
from dlbench_backends.jax import model as graph_model
from dlbench_backends.jax.optim import make_optimizer

_PRECISION = {"highest": jax.lax.Precision.HIGHEST, "default": None}


@dataclass(eq=False)
class JaxModel:
    """A model's module and its current state; a train step replaces the state it donates."""

    module: nn.Module
    graph: Graph | None  # None for a plugin's hand-written native model
    params: Any
    batch_stats: Any
    opt_state: Any = None
    rng: Any = None  # the dropout key, split inside every train step


def _loss(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_train_fn(module: nn.Module, tx: optax.GradientTransformation) -> Callable:
    """``f(params, batch_stats, opt_state, key, x, y) -> (params, batch_stats, opt_state, key, loss)``,
    jitted, with the four state arguments donated."""

    def train(params, batch_stats, opt_state, key, x, y):
        key, dropout_key = jax.random.split(key)

        def loss_fn(p):
            logits, updates = module.apply({"params": p, "batch_stats": batch_stats}, x, train=True,
                                           rngs={"dropout": dropout_key}, mutable=["batch_stats"])
            return _loss(logits, y), updates

        (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        steps, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, steps)
        return params, updates.get("batch_stats", batch_stats), opt_state, key, loss

    return jax.jit(train, donate_argnums=(0, 1, 2, 3))


def make_eval_fn(module: nn.Module) -> Callable:
    """``f(params, batch_stats, x) -> logits`` in inference mode, jitted."""
    return jax.jit(lambda params, batch_stats, x: module.apply(
        {"params": params, "batch_stats": batch_stats}, x, train=False))


class JaxBackend(Backend):
    name = "jax"
    options = {
        "precision": Option("highest", "matmul/conv precision: highest is true float32; default lets XLA "
                            "use TF32/bf16 passes on GPUs", tuple(_PRECISION)),
    }
    dtypes = ("float32", "float64")
    fixed_settings = {"jit": True}  # every step is a jax.jit-compiled XLA program

    def __init__(self, device: str = "cpu", options=None, dtype: str = "float32"):
        super().__init__(device, options, dtype)
        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)  # this worker process only
        self.np_dtype = np.dtype(dtype)
        try:
            self.jax_device = jax.devices("gpu" if device == "gpu" else "cpu")[0]
        except RuntimeError:
            raise ConfigError(f"jax: --device {device} but JAX sees no {device.upper()} "
                              f"(devices: {', '.join(str(d) for d in jax.devices())}); install jax[cuda12]") from None
        self.precision = _PRECISION[self.settings["precision"]]

    def environment(self) -> dict:
        dev = self.jax_device
        true_f32 = self.precision is not None or dev.platform == "cpu"
        env = {
            "framework": "jax",
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "jax_platform": dev.platform,  # not "platform": that key is the OS (dlbench.environment)
            "device_kind": dev.device_kind,
            "device_name": dev.device_kind if dev.platform != "cpu" else cpu_model(),
            "matmul_precision": self.settings["precision"],
            "precision": self.dtype if true_f32 else "float32 storage, TF32/bf16 matmul passes allowed",
            "cpu_threads": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
        }
        with contextlib.suppress(Exception):
            env["platform_version"] = dev.client.platform_version
        return env

    # -- the model -------------------------------------------------------------------------
    def _wrap(self, module: nn.Module, graph: Graph | None, variables) -> JaxModel:
        variables = jax.device_put(dict(variables), self.jax_device)
        return JaxModel(module, graph, variables.get("params", {}), variables.get("batch_stats", {}))

    def build(self, graph: Graph, weights) -> JaxModel:
        module = graph_model.build_module(graph, self.precision)
        return self._wrap(module, graph, graph_model.load_weights(module, graph, weights, self.np_dtype))

    def build_native(self, factory, input_shape, num_classes, seed) -> JaxModel:
        """``factory(input_shape, num_classes)`` returns a linen module called as ``module(x, train=...)``."""
        module = factory(input_shape, num_classes)
        x = np.zeros((1, *input_shape), np.float32)
        with jax.default_device(self.jax_device):
            variables = module.init(jax.random.key(seed), x, train=False)
        return self._wrap(module, None, variables)

    def export_weights(self, model: JaxModel) -> dict[str, np.ndarray]:
        variables = {"params": model.params, "batch_stats": model.batch_stats}
        if model.graph is None:
            return {k: np.array(v) for k, v in traverse_util.flatten_dict(variables, sep=".").items()}
        return graph_model.export_weights(variables, model.graph)

    def count_params(self, model: JaxModel) -> tuple[int, int]:
        return _size(model.params), _size(model.batch_stats)

    # -- data and steps --------------------------------------------------------------------
    def to_device(self, x: np.ndarray, y: np.ndarray | None = None):
        xd = jax.device_put(np.asarray(x, self.np_dtype), self.jax_device)
        return xd, (None if y is None else jax.device_put(np.asarray(y, np.int32), self.jax_device))

    def _scoped(self, model: JaxModel, fn: Callable) -> Callable:
        """``fn`` run under the precision option. Graph modules carry it on every conv and dense, so
        only a native module needs the (slightly slower) global context around each call."""
        if model.graph is not None or self.precision is None:
            return fn
        name = self.settings["precision"]

        def call(*args):
            with jax.default_matmul_precision(name):
                return fn(*args)

        return call

    def train_step(self, model: JaxModel, optimizer: OptimizerSpec, seed: int):
        tx = make_optimizer(optimizer)
        model.opt_state = jax.device_put(tx.init(model.params), self.jax_device)
        model.rng = jax.device_put(jax.random.key(seed), self.jax_device)
        fn = make_train_fn(model.module, tx)  # compiled lazily: the first step() call compiles
        m = model  # a local: one attribute lookup less per access

        def step(x, y):
            m.params, m.batch_stats, m.opt_state, m.rng, loss = fn(m.params, m.batch_stats, m.opt_state, m.rng, x, y)
            return loss

        return self._scoped(model, step)

    def eval_step(self, model: JaxModel):
        fn = make_eval_fn(model.module)

        def step(x):
            return fn(model.params, model.batch_stats, x)

        return self._scoped(model, step)

    def sync(self, value) -> None:
        if isinstance(value, jax.Array):
            value.block_until_ready()  # skips the pytree walk: ~5 us less per step
        else:
            jax.block_until_ready(value)

    def to_numpy(self, value) -> np.ndarray:
        return np.asarray(value)

    # -- probes ----------------------------------------------------------------------------
    def peak_device_memory(self) -> int | None:
        if self.jax_device.platform == "cpu":
            return None
        stats = self.jax_device.memory_stats()
        return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None

    def train_step_flops(self, model: JaxModel, optimizer: OptimizerSpec, x, y):
        try:
            tx = make_optimizer(optimizer)
            opt_state = jax.eval_shape(tx.init, model.params)
            key = jax.eval_shape(lambda: jax.random.key(0))
            lower = self._scoped(model, make_train_fn(model.module, tx).lower)
            cost = lower(model.params, model.batch_stats, opt_state, key, x, y).compile().cost_analysis()
            if isinstance(cost, (list, tuple)):  # a list of per-computation dicts in older jax
                cost = cost[0] if cost else None
            flops = (cost or {}).get("flops")
            if flops is None or flops <= 0:
                return None, "XLA cost analysis reported no flops for the train step"
            return float(flops), "XLA cost analysis of the compiled train step"
        except Exception as e:  # a probe: never fail the run
            return None, f"XLA cost analysis unavailable: {type(e).__name__}: {e}"


def _size(tree) -> int:
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))
