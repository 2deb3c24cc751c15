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

CASES = {"lenet5": 128, "alexnet": 16, "gpt_char": 64, "vit_tiny": 64}
ROUNDS = {"lenet5": 150, "alexnet": 12, "gpt_char": 12, "vit_tiny": 60}
# a paired ratio needs more rounds of the larger steps
INTERLEAVED_ROUNDS = {"lenet5": 300, "alexnet": 60, "gpt_char": 60, "vit_tiny": 150}
XLA = [True, False]


class Block(layers.Layer):
    """Pre-LayerNorm: x + attention(ln(x)), then x + mlp(ln(x)), with Keras's MultiHeadAttention."""

    def __init__(self, width: int, heads: int, mlp: int, causal: bool, eps: float, **kwargs):
        super().__init__(**kwargs)
        self.causal = causal
        self.ln1 = layers.LayerNormalization(epsilon=eps)
        self.attn = layers.MultiHeadAttention(heads, width // heads)
        self.ln2 = layers.LayerNormalization(epsilon=eps)
        self.fc, self.proj = layers.Dense(mlp, activation="gelu"), layers.Dense(width)

    def call(self, x, training=None):
        y = self.ln1(x)
        x = x + self.attn(y, y, use_causal_mask=self.causal, training=training)
        return x + self.proj(self.fc(self.ln2(x)))


class GPT(keras.Model):
    """gpt_char: token and position embeddings (the Keras examples' TokenAndPositionEmbedding),
    blocks, a final LayerNorm, the head tied to the token embedding."""

    def __init__(self, vocab=84, context=64, width=128, depth=4, heads=4):
        super().__init__()
        self.wte, self.wpe = layers.Embedding(vocab, width), layers.Embedding(context, width)
        self.blocks = [Block(width, heads, 4 * width, True, 1e-5) for _ in range(depth)]
        self.ln_f = layers.LayerNormalization(epsilon=1e-5)

    def call(self, idx, training=None):
        x = self.wte(idx) + self.wpe(keras.ops.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x, training=training)
        return keras.ops.matmul(self.ln_f(x), keras.ops.transpose(self.wte.embeddings))  # tied head


class ClassTokenAndPosition(layers.Layer):
    def build(self, shape):
        self.cls = self.add_weight(shape=(1, 1, shape[-1]), initializer="zeros")
        self.pos = self.add_weight(shape=(1, shape[1] + 1, shape[-1]), initializer=keras.initializers.RandomNormal(0.0, 0.02))

    def call(self, x):
        cls = keras.ops.broadcast_to(self.cls, (keras.ops.shape(x)[0], 1, x.shape[-1]))
        return keras.ops.concatenate([cls, x], axis=1) + self.pos


def vit(image=(28, 28, 1), patch=4, width=64, depth=4, heads=4, mlp=128, classes=10) -> keras.Model:
    """vit_tiny: a strided-conv patch embedding, a class token, learned positions, encoder blocks,
    a final LayerNorm and the classifier on the class token."""
    x = inputs = keras.Input(image)
    x = layers.Conv2D(width, patch, patch)(x)
    x = ClassTokenAndPosition()(layers.Reshape((-1, width))(x))
    for _ in range(depth):
        x = Block(width, heads, mlp, False, 1e-6)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    return keras.Model(inputs, layers.Dense(classes)(x[:, 0]))


def handwritten(name: str) -> keras.Model:
    if name == "gpt_char":
        return GPT()
    if name == "vit_tiny":
        return vit()
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
    """Images and labels, or (as the runner feeds a language model) int32 token ids (N, T) and
    int64 next-token targets (N, T)."""
    info = registry.get_model(name)
    rng = np.random.default_rng(0)
    if info.inputs == "tokens":
        shape = (CASES[name], *info.input_shape)
        return rng.integers(0, info.num_classes, shape, dtype=np.int32), rng.integers(0, info.num_classes, shape)
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
    if not model.built:  # a subclassed model makes its variables at its first call: outside the tf.function
        model(x[:1])

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
