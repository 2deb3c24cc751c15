"""The TensorFlow backend: Keras 3 layers, tf.function steps (XLA unless ``-o xla=false``); /GPU:0 when --device gpu."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from dataclasses import dataclass  # noqa: E402
from typing import Any, Callable  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dlbench.backend import Backend, Option  # noqa: E402
from dlbench.environment import cpu_model, usable_cores  # noqa: E402
from dlbench.errors import ConfigError  # noqa: E402
from dlbench.graph import Graph  # noqa: E402
from dlbench.optim import OptimizerSpec  # noqa: E402
from dlbench.precision import FRAMEWORK_PRECISIONS, LOSS_SCALED  # noqa: E402
from dlbench_backends.tensorflow import attention, flops, gpu, replication  # noqa: E402
from dlbench_backends.tensorflow import model as graph_model  # noqa: E402
from dlbench_backends.tensorflow import precision as amp  # noqa: E402
from dlbench_backends.tensorflow.optim import LossScaleOptimizer, dense, make_optimizer  # noqa: E402


@dataclass
class TFModel:
    model: keras.Model
    graph: Graph | None  # None for a plugin's hand-written native model


def cross_entropy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Mean sparse softmax cross-entropy, computed in float32 (float64 for float64 logits)."""
    if logits.dtype != tf.float64:
        logits = tf.cast(logits, tf.float32)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def _dropout_layers(model: keras.Model):
    # every layer, nested ones too (attention's dropout on its weights), each once
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.Dropout)]


def seed_dropout(model: keras.Model, seed: int) -> None:
    """Reset every Dropout's (stateless) seed generator to a state derived from ``seed``."""
    for i, layer in enumerate(_dropout_layers(model)):
        generator = getattr(layer, "seed_generator", None)  # absent when rate == 0
        if generator is not None:
            derived = int(np.random.SeedSequence([seed, i]).generate_state(1)[0]) % (2**31 - 1)
            generator.state.assign(np.array([derived, 0], dtype=np.int64))


class TensorFlowBackend(Backend):
    name = "tensorflow"
    options = {
        # a performance setting, tuned per model: XLA:CPU is fast on LeNet-5 and AlexNet, and the slow path
        # on MobileNetV2's depthwise convolutions. Default on, as Keras 3's jit_compile="auto" does.
        "xla": Option(True, "compile the train and eval tf.functions with XLA (jit_compile)", (True, False),
                      tune={"cpu": (True, False), "gpu": (True, False)}, compiles=(True,)),
        # not tuned: interleaved train steps on the 2-core reference CPU found einsum never slower beyond the noise
        # (gpt_char: 0.91 [0.85, 1.04] of keras's step without XLA, 0.98 [0.93, 1.05] with; vit_tiny: 0.99
        # [0.96, 1.03] and 0.95 [0.92, 0.98]) and quicker to compile; a tuned option would double every
        # model's tuning candidates, convolutional ones included, for no model that Keras's layer wins
        "attention": Option("einsum", "multi-head attention: one layer of einsums over the fused [q | k | v] "
                            "projection (einsum) or Keras's MultiHeadAttention layer (keras)", attention.IMPLEMENTATIONS),
    }
    dtypes = ("float32", "float64")
    precisions = FRAMEWORK_PRECISIONS
    calibration = "dlbench_backends.tensorflow.calibrate"
    serving = "dlbench_backends.tensorflow.serving"

    def __init__(self, device: str = "cpu", options=None, dtype: str = "float32", precision: str = "float32"):
        super().__init__(device, options, dtype, precision)
        if keras.backend.backend() != "tensorflow":
            raise ConfigError(f"tensorflow: Keras is running on the {keras.backend.backend()!r} backend; "
                              "set KERAS_BACKEND=tensorflow")
        if device == "gpu":
            gpus = tf.config.list_physical_devices("GPU")
            if not gpus:
                raise ConfigError(f"tensorflow: --device gpu but TensorFlow sees no GPU: {gpu.status()[1]}")
            for physical in gpus:
                try:
                    tf.config.experimental.set_memory_growth(physical, True)
                except RuntimeError:  # the runtime is already initialised
                    pass
        self.tf_device = "/GPU:0" if device == "gpu" else "/CPU:0"
        amp.configure(self)
        self.policy = amp.policy(precision, dtype)

    def environment(self) -> dict:
        threads = tf.config.threading.get_intra_op_parallelism_threads()
        interop = tf.config.threading.get_inter_op_parallelism_threads()
        cores = usable_cores()
        env = {
            "framework": "tensorflow",
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "device_name": cpu_model(),
            "threads": threads or cores,  # 0 means TF's default: one per schedulable core
            "interop_threads": interop or cores,
            "xla": self.settings["xla"],
            "precision": self.precision_used,
            **amp.describe(self),
        }
        if self.device == "gpu":
            build = tf.sysconfig.get_build_info()
            env.update(device_name=gpu.details().get("device_name", "GPU"), cuda=build.get("cuda_version"),
                       cudnn=build.get("cudnn_version"))
        return env

    def accelerator(self) -> dict | None:
        return gpu.accelerator() if self.device == "gpu" else None

    @classmethod
    def gpu_status(cls) -> tuple[bool, str]:
        return gpu.status()

    strategy = None  # a MirroredStrategy after replicate()

    def replicate(self, replicas: int) -> dict:
        return replication.replicate(self, replicas)

    def _scope(self):
        return self.strategy.scope() if self.strategy is not None else tf.device(self.tf_device)

    # -- the model -------------------------------------------------------------------------
    def _reset_memory(self) -> None:
        if self.device == "gpu":
            tf.config.experimental.reset_memory_stats("GPU:0")

    def build(self, graph: Graph, weights) -> TFModel:
        with self._scope():
            model = graph_model.build_model(graph, self.policy, self.settings["attention"])
            graph_model.load_weights(model, graph, weights)
        self._reset_memory()
        return TFModel(model, graph)

    def build_native(self, factory, input_shape, num_classes, seed) -> TFModel:
        keras.utils.set_random_seed(seed)
        default_policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.policy)  # the layers a native factory builds take the global policy
        try:
            with self._scope():
                model = factory(input_shape, num_classes)
        finally:
            keras.config.set_dtype_policy(default_policy)
        self._reset_memory()
        return TFModel(model, None)

    def export_weights(self, model: TFModel) -> dict[str, np.ndarray]:
        if model.graph is None:
            return {v.path: v.numpy() for v in model.model.weights}
        return graph_model.export_weights(model.model, model.graph)

    def count_params(self, model: TFModel) -> tuple[int, int]:
        def size(variables) -> int:
            return sum(int(np.prod(v.shape)) for v in variables)

        return size(model.model.trainable_weights), size(model.model.non_trainable_weights)

    # -- data and steps --------------------------------------------------------------------
    def to_device(self, x: np.ndarray, y: np.ndarray | None = None):
        if y is not None and self.strategy is not None:
            return replication.distribute(self, x, y)
        with tf.device(self.tf_device):
            # identity forces the copy onto the device now, not at the first step
            xt = tf.identity(tf.convert_to_tensor(x, dtype=graph_model.input_dtype(x, self.dtype)))
            yt = None if y is None else tf.identity(tf.convert_to_tensor(y, dtype=tf.int64))
        return xt, yt

    def _make_step(self, model: TFModel, spec: OptimizerSpec) -> Callable[[Any, Any], Any]:
        net, device = model.model, self.tf_device
        if self.strategy is not None:
            return replication.mirrored_step(self, net, spec, cross_entropy)
        params = [v.value for v in net.trainable_variables]  # the tf.Variables under Keras's wrappers
        with tf.device(device):
            opt = make_optimizer(spec, params)
            scaler = LossScaleOptimizer(opt) if self.precision == LOSS_SCALED else None

        @tf.function(jit_compile=self.settings["xla"])
        def step(x, y):
            with tf.device(device):
                with tf.GradientTape() as tape:
                    loss = cross_entropy(net(x, training=True), y)
                    target = loss if scaler is None else scaler.scale_loss(loss)
                grads = dense(tape.gradient(target, params))
                (opt if scaler is None else scaler).apply(grads)
            return loss

        return step

    def train_step(self, model: TFModel, optimizer: OptimizerSpec, seed: int):
        if model.graph is None:
            keras.utils.set_random_seed(seed)
        seed_dropout(model.model, seed)
        return self._make_step(model, optimizer)

    def eval_step(self, model: TFModel):
        net, device = model.model, self.tf_device
        out_dtype = self.dtype  # float32 under the mixed policy too

        @tf.function(jit_compile=self.settings["xla"])
        def step(x):
            with tf.device(device):
                return tf.cast(net(x, training=False), out_dtype)

        return step

    def sync(self, value) -> None:
        value.numpy()  # blocks until the value, and so the work before it, is computed

    def to_numpy(self, value) -> np.ndarray:
        return np.asarray(value.numpy())

    # -- probes ----------------------------------------------------------------------------
    def peak_device_memory(self) -> int | None:
        if self.device != "gpu":
            return None
        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])

    def train_step_flops(self, model: TFModel, optimizer: OptimizerSpec, x, y):
        profiler, logger = tf.compat.v1.profiler, tf.get_logger()
        flops.register()
        level = logger.level
        logger.setLevel("ERROR")  # the v1 profiler logs deprecation notices
        try:
            graph = self._make_step(model, optimizer).get_concrete_function(x, y).graph
            kinds = {op.type for op in graph.get_operations()}
            if kinds & {"While", "StatelessWhile"}:
                return None, ("tf.compat.v1.profiler sees only top-level ops, not the body of the step's while loop "
                              "(e.g. an LSTM's recurrence)")
            opts = profiler.ProfileOptionBuilder(profiler.ProfileOptionBuilder.float_operation()).with_empty_output()
            stats = profiler.profile(graph=graph, cmd="op", options=opts.build())
        except Exception as e:  # legacy API: never fail a run over it
            return None, f"tf.compat.v1.profiler unavailable: {type(e).__name__}: {e}"
        finally:
            logger.setLevel(level)
        method = ("tf.compat.v1.profiler float_operation() on the traced step graph "
                  "(fwd, bwd and update ops with flops stats; Einsum counted from its equation by dlbench)")
        if kinds & {"If", "StatelessIf"}:
            method += "; the loss-scaled update inside tf.cond is not counted"
        return float(stats.total_float_ops), method
