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
from dlbench.environment import cpu_model, usable_cores
from dlbench.errors import ConfigError
from dlbench.graph import LSTM, Graph
from dlbench.optim import OptimizerSpec
from dlbench.precision import FRAMEWORK_PRECISIONS, LOSS_SCALED
from dlbench_backends.jax import attention, gpu, replication
from dlbench_backends.jax import model as graph_model
from dlbench_backends.jax import precision as amp
from dlbench_backends.jax.optim import make_optimizer


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
    """The mean cross-entropy over every prediction: (N,) labels of (N, V) logits, or a next token per
    position, (N, T) of (N, T, V)."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_train_fn(module: nn.Module, tx: optax.GradientTransformation, loss_scale: bool = False) -> Callable:
    """``f(params, batch_stats, opt_state, key, x, y) -> (params, batch_stats, opt_state, key, loss)``,
    jitted, with the four state arguments donated. With ``loss_scale`` (float16) ``opt_state`` is
    ``(optimiser state, amp.LossScale)`` and a step whose gradients overflow updates nothing."""

    def train(params, batch_stats, opt_state, key, x, y):
        key, dropout_key = jax.random.split(key)
        inner, scaler = opt_state if loss_scale else (opt_state, None)

        def loss_fn(p):
            logits, updates = module.apply({"params": p, "batch_stats": batch_stats}, x, train=True,
                                           rngs={"dropout": dropout_key}, mutable=["batch_stats"])
            loss = _loss(logits, y)
            return (loss if scaler is None else loss * scaler.scale), (loss, updates)

        (_, (loss, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        if scaler is not None:
            grads = jax.tree.map(lambda g: g / scaler.scale, grads)
        steps, new_inner = tx.update(grads, inner, params)
        new_params = optax.apply_updates(params, steps)
        if scaler is None:
            return new_params, updates.get("batch_stats", batch_stats), new_inner, key, loss
        finite = amp.all_finite(grads)
        new_params, new_inner = amp.keep_if(finite, (new_params, new_inner), (params, inner))
        return new_params, updates.get("batch_stats", batch_stats), (new_inner, scaler.adjust(finite)), key, loss

    return jax.jit(train, donate_argnums=(0, 1, 2, 3))


def make_eval_fn(module: nn.Module) -> Callable:
    """``f(params, batch_stats, x) -> logits`` in inference mode, jitted."""
    return jax.jit(lambda params, batch_stats, x: module.apply(
        {"params": params, "batch_stats": batch_stats}, x, train=False))


class JaxBackend(Backend):
    name = "jax"
    # jax.jit with donated state is how JAX always runs (fixed_settings); the other knobs change numerics
    # (matmul precision follows --precision) or are process-wide XLA flags that cannot be timed side by
    # side in one process. The attention kernel changes speed only (float32 round-off apart).
    options = {
        "attention": Option("jax", "self-attention's kernel: jax.nn.dot_product_attention (jax) or Flax's "
                            "written-out nn.dot_product_attention (flax)", tuple(attention.KERNELS),
                            tune={"cpu": ("jax", "flax"), "gpu": ("jax", "flax")}, layers=("attention",)),
    }
    dtypes = ("float32", "float64")
    precisions = FRAMEWORK_PRECISIONS
    fixed_settings = {"jit": True}  # every step is a jax.jit-compiled XLA program
    compiler = "jit"
    calibration = "dlbench_backends.jax.calibrate"
    serving = "dlbench_backends.jax.serving"

    def __init__(self, device: str = "cpu", options=None, dtype: str = "float32", precision: str = "float32"):
        super().__init__(device, options, dtype, precision)
        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)  # this worker process only
        self.np_dtype = np.dtype(dtype)
        try:
            self.jax_device = jax.local_devices(backend="gpu" if device == "gpu" else "cpu")[0]  # this process's
        except RuntimeError:
            raise ConfigError(f"jax: --device {device} but JAX sees no {device.upper()} "
                              f"(devices: {', '.join(str(d) for d in jax.devices())}): {gpu.status()[1]}") from None
        amp.configure(self)
        self.matmul_precision, self.lax_precision = amp.MATMUL[precision]
        self.compute_dtype = amp.COMPUTE.get(precision)  # None: the inputs' dtype (float32 or float64)
        self.attention_kernel = attention.kernel_for(self.settings["attention"],
                                                     self.compute_dtype or self.np_dtype, self.jax_device.platform)
        self.batch_placement = self.state_placement = self.jax_device  # a mesh's shardings after replicate()

    def environment(self) -> dict:
        dev = self.jax_device
        env = {
            "framework": "jax",
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "jax_platform": dev.platform,  # not "platform": that key is the OS (dlbench.environment)
            "device_kind": dev.device_kind,
            "device_name": dev.device_kind if dev.platform != "cpu" else cpu_model(),
            "matmul_precision": self.matmul_precision,
            "attention_kernel": attention.KERNELS[self.attention_kernel],  # may differ from the option's: kernel_for
            "precision": self.precision_used,
            **amp.describe(self),
            "threads": usable_cores(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
        }
        with contextlib.suppress(Exception):
            env["platform_version"] = dev.client.platform_version
        return env

    def accelerator(self) -> dict | None:
        return None if self.jax_device.platform == "cpu" else gpu.accelerator(self.jax_device)

    @classmethod
    def gpu_status(cls) -> tuple[bool, str]:
        return gpu.status()

    def replicate(self, replicas: int) -> dict:
        return replication.replicate(self, replicas)

    # -- the model -------------------------------------------------------------------------
    def _wrap(self, module: nn.Module, graph: Graph | None, variables) -> JaxModel:
        variables = jax.device_put(dict(variables), self.state_placement)
        return JaxModel(module, graph, variables.get("params", {}), variables.get("batch_stats", {}))

    def build(self, graph: Graph, weights) -> JaxModel:
        module = graph_model.build_model(graph, self.lax_precision, self.compute_dtype, self.attention_kernel)
        return self._wrap(module, graph, graph_model.load_weights(module, graph, weights, self.np_dtype))

    def build_native(self, factory, input_shape, num_classes, seed) -> JaxModel:
        """``factory(input_shape, num_classes)`` returns a linen module called as ``module(x, train=...)``."""
        if self.compute_dtype is not None:  # a hand-written module fixes its own dtypes
            raise ConfigError(f"jax: --precision {self.precision} needs a declared model; a hand-written native "
                              "module computes in its own dtypes; accepted for it: float32, tf32")
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
        x = np.asarray(x, np.int32 if np.issubdtype(x.dtype, np.integer) else self.np_dtype)  # token ids stay ids
        xd = replication.place(self, x)
        return xd, (None if y is None else replication.place(self, np.asarray(y, np.int32)))

    def _scoped(self, model: JaxModel, fn: Callable) -> Callable:
        """``fn`` run under the matmul precision. Graph modules carry it on every conv and dense, so
        only a native module needs the (slightly slower) global context around each call."""
        if model.graph is not None or self.lax_precision is None:
            return fn
        name = self.matmul_precision

        def call(*args):
            with jax.default_matmul_precision(name):
                return fn(*args)

        return call

    @property
    def loss_scaled(self) -> bool:
        return self.precision == LOSS_SCALED

    def _init_opt_state(self, tx: optax.GradientTransformation, params) -> Any:
        return (tx.init(params), amp.LossScale.initial()) if self.loss_scaled else tx.init(params)

    def train_step(self, model: JaxModel, optimizer: OptimizerSpec, seed: int):
        tx = make_optimizer(optimizer)
        model.opt_state = jax.device_put(self._init_opt_state(tx, model.params), self.state_placement)
        model.rng = replication.key(self, seed)
        fn = make_train_fn(model.module, tx, self.loss_scaled)  # compiled lazily: the first step() call compiles
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
        return replication.gather(value)

    # -- probes ----------------------------------------------------------------------------
    def peak_device_memory(self) -> int | None:
        if self.jax_device.platform == "cpu":
            return None
        stats = self.jax_device.memory_stats()
        return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None

    def train_step_flops(self, model: JaxModel, optimizer: OptimizerSpec, x, y):
        try:
            tx = make_optimizer(optimizer)
            opt_state = jax.eval_shape(lambda p: self._init_opt_state(tx, p), model.params)
            key = jax.eval_shape(lambda: jax.random.key(0))
            lower = self._scoped(model, make_train_fn(model.module, tx, self.loss_scaled).lower)
            if model.graph is not None and any(isinstance(n.layer, LSTM) for n in model.graph.nodes):
                return None, ("XLA cost analysis counts the body of the LSTM's scan (a while loop) once, "
                              "not once per time step")
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
