"""dlbench's TensorFlow train step against a minimal hand-written Keras + tf.function loop.

Both with and without XLA (``jit_compile``), same architecture, batch and optimiser (SGD).
Run: pytest benchmarks/test_tensorflow_step.py --benchmark-only
"""

import os
from collections.abc import Callable

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402
from keras import layers  # noqa: E402

from benchmarks.conftest import OPTIMIZERS, interleave, tuned  # noqa: E402
from dlbench import registry  # noqa: E402
from dlbench.graph import init_weights  # noqa: E402
from dlbench.optim import OptimizerSpec  # noqa: E402

CASES = {"lenet5": 128, "alexnet": 16}
ROUNDS = {"lenet5": 150, "alexnet": 12}
INTERLEAVED_ROUNDS = {"lenet5": 300, "alexnet": 60}  # a paired ratio needs more AlexNet rounds
XLA = [True, False]


def handwritten(name: str) -> keras.Model:
    if name == "lenet5":
        return keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(6, 5, padding="same", activation="tanh"), layers.AveragePooling2D(2),
            layers.Conv2D(16, 5, activation="tanh"), layers.AveragePooling2D(2), layers.Flatten(),
            layers.Dense(120, activation="tanh"), layers.Dense(84, activation="tanh"), layers.Dense(10),
        ])
    return keras.Sequential([
        keras.Input((224, 224, 3)),
        layers.ZeroPadding2D(2), layers.Conv2D(64, 11, 4, activation="relu"), layers.MaxPooling2D(3, 2),
        layers.Conv2D(192, 5, padding="same", activation="relu"), layers.MaxPooling2D(3, 2),
        layers.Conv2D(384, 3, padding="same", activation="relu"),
        layers.Conv2D(256, 3, padding="same", activation="relu"),
        layers.Conv2D(256, 3, padding="same", activation="relu"), layers.MaxPooling2D(3, 2), layers.Flatten(),
        layers.Dropout(0.5), layers.Dense(4096, activation="relu"),
        layers.Dropout(0.5), layers.Dense(4096, activation="relu"),
        layers.Dense(1000),
    ])


def batch(name: str):
    info = registry.get_model(name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((CASES[name], *info.input_shape), dtype=np.float32)
    return x, rng.integers(0, info.num_classes, CASES[name])


def _label(xla: bool) -> str:
    return "xla" if xla else "noxla"


def dlbench_step(name: str, xla: bool) -> Callable[[], None]:
    """One timed step exactly as the runner times it."""
    from dlbench_backends.tensorflow.backend import TensorFlowBackend

    info = registry.get_model(name)
    graph = info.build(info.input_shape, info.num_classes)
    backend = TensorFlowBackend(options={"xla": xla})
    model = backend.build(graph, init_weights(graph, 0))
    step = backend.train_step(model, OptimizerSpec.create("sgd"), 0)
    x, y = backend.to_device(*batch(name))
    return lambda: backend.sync(step(x, y))


def hand_optimizer(optimizer: str) -> keras.optimizers.Optimizer:
    if optimizer == "momentum":
        return keras.optimizers.SGD(0.01, momentum=0.9)
    if optimizer == "adam":
        return keras.optimizers.Adam(1e-3, epsilon=1e-8)
    return keras.optimizers.SGD(0.01)


def handwritten_step(name: str, jit: bool, optimizer: str = "sgd") -> Callable[[], None]:
    keras.utils.set_random_seed(0)
    model = handwritten(name)
    opt = hand_optimizer(optimizer)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    xn, yn = batch(name)
    x, y = tf.constant(xn), tf.constant(yn)

    @tf.function(jit_compile=jit)
    def train(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return lambda: train(x, y).numpy()


@pytest.mark.parametrize("xla", XLA, ids=_label)
@pytest.mark.parametrize("name", CASES)
def test_dlbench_step(benchmark, name, xla):
    benchmark.group = f"tensorflow-{name}-b{CASES[name]}"
    benchmark.pedantic(dlbench_step(name, xla), rounds=ROUNDS[name], warmup_rounds=3)


@pytest.mark.parametrize("jit", XLA, ids=_label)
@pytest.mark.parametrize("name", CASES)
def test_handwritten_step(benchmark, name, jit):
    benchmark.group = f"tensorflow-{name}-b{CASES[name]}"
    benchmark.pedantic(handwritten_step(name, jit), rounds=ROUNDS[name], warmup_rounds=3)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("name", CASES)
def test_interleaved(benchmark, name, optimizer):
    """dlbench at the XLA setting its tuner picks against the better of the two hand-written
    loops, with and without XLA."""
    p, tuning = tuned("tensorflow", name, CASES[name], optimizer)
    step = p.backend.train_step(p.model, OptimizerSpec.create(optimizer), 0)
    x, y = p.backend.to_device(*batch(name))
    benchmark.group = f"tensorflow-{name}-b{CASES[name]}-{optimizer}-interleaved"
    benchmark.extra_info.update(settings={"xla": p.backend.settings["xla"]}, tuning=tuning["mode"])
    contenders = {"dlbench": lambda: p.backend.sync(step(x, y)),
                  "handwritten-xla": handwritten_step(name, True, optimizer),
                  "handwritten-noxla": handwritten_step(name, False, optimizer)}
    interleave(benchmark, contenders, INTERLEAVED_ROUNDS[name])
