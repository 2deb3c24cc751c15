"""dlbench's JAX train step against a minimal hand-written Flax + optax loop (pytest-benchmark).

Run: ``pytest benchmarks/test_jax_step.py --benchmark-only``. Each model is one group; dlbench
should be within a few percent of the hand-written loop (both compile to the same XLA program).
The overhead group times dlbench's ``step`` against calling the very same jitted function directly.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from benchmarks.conftest import OPTIMIZERS, interleave, tuned  # noqa: E402
from dlbench import registry  # noqa: E402
from dlbench.graph import init_weights  # noqa: E402
from dlbench.optim import OptimizerSpec  # noqa: E402
from dlbench_backends.jax.backend import JaxBackend, make_train_fn  # noqa: E402

pytestmark = pytest.mark.jax

P = jax.lax.Precision.HIGHEST  # what dlbench uses by default
LR = 0.01
CASES = {"lenet5": 128, "alexnet": 16, "gpt_char": 64, "vit_tiny": 64}
ROUNDS = {"lenet5": 300, "alexnet": 20, "gpt_char": 20, "vit_tiny": 100}
# a paired ratio needs more rounds of the larger steps
INTERLEAVED_ROUNDS = {"lenet5": 300, "alexnet": 60, "gpt_char": 60, "vit_tiny": 150}
WARMUP = 3  # the first includes compilation
#: the transformers' hand-written attention, two ways (the better one is compared): Flax's
#: ``nn.MultiHeadDotProductAttention`` (its written-out ``nn.dot_product_attention``), or nanoGPT's
#: fused [q | k | v] projection and ``jax.nn.dot_product_attention``
ATTENTION = ("flax", "jax")
TRANSFORMERS = ("gpt_char", "vit_tiny")


class LeNet5(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.avg_pool(jnp.tanh(nn.Conv(6, (5, 5), padding=((2, 2), (2, 2)), precision=P)(x)), (2, 2), (2, 2))
        x = nn.avg_pool(jnp.tanh(nn.Conv(16, (5, 5), padding="VALID", precision=P)(x)), (2, 2), (2, 2))
        x = x.reshape(x.shape[0], -1)
        x = jnp.tanh(nn.Dense(120, precision=P)(x))
        x = jnp.tanh(nn.Dense(84, precision=P)(x))
        return nn.Dense(10, precision=P)(x)


class AlexNet(nn.Module):
    num_classes: int = 1000

    @nn.compact
    def __call__(self, x, train: bool = False):
        def conv(x, f, k, s=1, p=0):
            return nn.relu(nn.Conv(f, (k, k), (s, s), ((p, p), (p, p)), precision=P)(x))

        pool = partial(nn.max_pool, window_shape=(3, 3), strides=(2, 2))
        x = pool(conv(x, 64, 11, 4, 2))
        x = pool(conv(x, 192, 5, p=2))
        x = pool(conv(conv(conv(x, 384, 3, p=1), 256, 3, p=1), 256, 3, p=1))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(4096, precision=P)(nn.Dropout(0.5, deterministic=not train)(x)))
        x = nn.relu(nn.Dense(4096, precision=P)(nn.Dropout(0.5, deterministic=not train)(x)))
        return nn.Dense(self.num_classes, precision=P)(x)


class FusedAttention(nn.Module):
    """nanoGPT's attention: one Dense to [q | k | v], then ``jax.nn.dot_product_attention``."""

    heads: int
    causal: bool

    @nn.compact
    def __call__(self, x):
        n, t, d = x.shape
        q, k, v = jnp.split(nn.Dense(3 * d, precision=P)(x).reshape(n, t, 3 * self.heads, d // self.heads), 3, axis=2)
        with jax.default_matmul_precision("highest"):  # P: jax.nn's attention has no precision argument
            y = jax.nn.dot_product_attention(q, k, v, is_causal=self.causal)
        return nn.Dense(d, precision=P)(y.reshape(n, t, d))


class Block(nn.Module):
    """Pre-LayerNorm: x + attention(ln(x)), then x + mlp(ln(x))."""

    heads: int
    mlp: int
    causal: bool
    eps: float
    attention: str = "flax"

    @nn.compact
    def __call__(self, x):
        y = nn.LayerNorm(self.eps)(x)
        if self.attention == "flax":
            mask = nn.make_causal_mask(jnp.ones(x.shape[:2])) if self.causal else None
            y = nn.MultiHeadDotProductAttention(self.heads, precision=P)(y, mask=mask)
        else:
            y = FusedAttention(self.heads, self.causal)(y)
        x = x + y
        y = nn.Dense(self.mlp, precision=P)(nn.LayerNorm(self.eps)(x))
        return x + nn.Dense(x.shape[-1], precision=P)(nn.gelu(y, approximate=False))


class GPT(nn.Module):
    """gpt_char: token and position embeddings, blocks, a final LayerNorm, the head tied to the
    token embedding (``nn.Embed.attend``)."""

    attention: str = "flax"
    vocab: int = 84
    context: int = 64
    width: int = 128
    depth: int = 4
    heads: int = 4

    @nn.compact
    def __call__(self, idx, train: bool = False):
        wte = nn.Embed(self.vocab, self.width)
        x = wte(idx) + nn.Embed(self.context, self.width)(jnp.arange(idx.shape[1]))
        for _ in range(self.depth):
            x = Block(self.heads, 4 * self.width, True, 1e-5, self.attention)(x)
        return wte.attend(nn.LayerNorm(1e-5)(x))


class ViT(nn.Module):
    """vit_tiny: a strided-conv patch embedding, a class token, learned positions, encoder blocks,
    a final LayerNorm and the classifier on the class token."""

    attention: str = "flax"
    patch: int = 4
    width: int = 64
    depth: int = 4
    heads: int = 4
    mlp: int = 128
    classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool = False):
        p = self.patch
        x = nn.Conv(self.width, (p, p), (p, p), "VALID", precision=P)(x)
        x = x.reshape(x.shape[0], -1, self.width)
        cls = self.param("cls", nn.initializers.zeros_init(), (1, 1, self.width))
        x = jnp.concatenate([jnp.broadcast_to(cls, (x.shape[0], 1, self.width)), x], axis=1)
        x = x + self.param("pos", nn.initializers.normal(0.02), (1, x.shape[1], self.width))
        for _ in range(self.depth):
            x = Block(self.heads, self.mlp, False, 1e-6, self.attention)(x)
        return nn.Dense(self.classes, precision=P)(nn.LayerNorm(1e-6)(x)[:, 0])


def hand_written_step(module: nn.Module, tx: optax.GradientTransformation):
    @partial(jax.jit, donate_argnums=(0, 1, 2))
    def step(params, opt_state, key, x, y):
        key, dropout_key = jax.random.split(key)

        def loss_fn(p):
            logits = module.apply({"params": p}, x, train=True, rngs={"dropout": dropout_key})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, key, loss

    return step


def batch(name: str, size: int | None = None, shape=None):
    """Images and labels, or (as the runner feeds a language model) int32 token ids (N, T) and
    next-token targets (N, T)."""
    info = registry.get_model(name)
    size, shape = size or CASES[name], shape or info.input_shape
    rng = np.random.default_rng(0)
    if info.inputs == "tokens":
        tokens = (size, *shape)
        return rng.integers(0, info.num_classes, tokens, dtype=np.int32), rng.integers(0, info.num_classes, tokens)
    x = rng.standard_normal((size, *shape), dtype=np.float32)
    return x, rng.integers(0, info.num_classes, size)


def dlbench_step(name: str) -> Callable[[], None]:
    """One timed step exactly as the runner times it."""
    info = registry.get_model(name)
    graph = info.build(info.input_shape, info.num_classes)
    backend = JaxBackend()
    model = backend.build(graph, init_weights(graph, 0))
    step = backend.train_step(model, OptimizerSpec.create("sgd", LR), 0)
    x, y = backend.to_device(*batch(name))
    return lambda: backend.sync(step(x, y))


def hand_optimizer(optimizer: str) -> optax.GradientTransformation:
    if optimizer == "momentum":
        return optax.sgd(LR, momentum=0.9)
    if optimizer == "adam":
        return optax.adam(1e-3, eps=1e-8)
    return optax.sgd(LR)


def handwritten(name: str, attention: str = "flax") -> nn.Module:
    if name == "gpt_char":
        return GPT(attention)
    if name == "vit_tiny":
        return ViT(attention)
    return LeNet5() if name == "lenet5" else AlexNet(registry.get_model(name).num_classes)


def handwritten_step(name: str, optimizer: str = "sgd", attention: str = "flax") -> Callable[[], None]:
    net = handwritten(name, attention)
    tx = hand_optimizer(optimizer)
    x, y = (jax.device_put(a) for a in batch(name))
    params = net.init(jax.random.key(0), x[:1])["params"]
    state = [params, tx.init(params), jax.random.key(0)]
    step = hand_written_step(net, tx)

    def timed():
        *state[:], loss = step(*state, x, y)
        loss.block_until_ready()

    return timed


@pytest.mark.parametrize("name", CASES)
def test_dlbench_step(benchmark, name):
    benchmark.group = f"jax-{name}-b{CASES[name]}"
    benchmark.pedantic(dlbench_step(name), rounds=ROUNDS[name], warmup_rounds=WARMUP)


@pytest.mark.parametrize(("name", "attention"), [
    pytest.param(name, a, id=f"{name}-{a}" if name in TRANSFORMERS else name)
    for name in CASES for a in (ATTENTION if name in TRANSFORMERS else ATTENTION[:1])])
def test_handwritten_step(benchmark, name, attention):
    benchmark.group = f"jax-{name}-b{CASES[name]}"
    benchmark.pedantic(handwritten_step(name, attention=attention), rounds=ROUNDS[name], warmup_rounds=WARMUP)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("name", CASES)
def test_interleaved(benchmark, name, optimizer):
    """dlbench at the attention kernel its tuner picks (tuned only for models with attention: the
    tuner returns the one build it has for the others) against the better of the hand-written
    loops with Flax's and jax.nn's attention."""
    p, tuning = tuned("jax", name, CASES[name], optimizer)
    step = p.backend.train_step(p.model, OptimizerSpec.create(optimizer), 0)  # default lr: sgd 0.01 = LR
    x, y = p.backend.to_device(*batch(name))
    benchmark.group = f"jax-{name}-b{CASES[name]}-{optimizer}-interleaved"
    benchmark.extra_info.update(settings={"attention": p.backend.settings["attention"]} if name in TRANSFORMERS else {},
                                tuning=tuning["mode"])
    contenders = {"dlbench": lambda: p.backend.sync(step(x, y))}
    if name in TRANSFORMERS:
        contenders.update({f"handwritten-{a}": handwritten_step(name, optimizer, a) for a in ATTENTION})
    else:
        contenders["handwritten"] = handwritten_step(name, optimizer)
    interleave(benchmark, contenders, INTERLEAVED_ROUNDS[name], WARMUP)


@pytest.mark.parametrize("call", ["step", "raw-jit"])
def test_overhead(benchmark, call):
    """Python overhead of dlbench's ``step`` wrapper: a tiny model, so dispatch dominates."""
    backend = JaxBackend()
    graph = registry.get_model("perceptron").build((8, 8, 1), 10)
    handle = backend.build(graph, init_weights(graph, 0))
    spec = OptimizerSpec.create("sgd", LR)
    x, y = backend.to_device(*batch("perceptron", 32, graph.input_shape))
    step = backend.train_step(handle, spec, seed=0)
    if call == "raw-jit":
        from dlbench_backends.jax.optim import make_optimizer

        fn = make_train_fn(handle.module, make_optimizer(spec))
        state = [handle.params, handle.batch_stats, handle.opt_state, handle.rng]

        def run():
            *state[:], loss = fn(*state, x, y)
            loss.block_until_ready()
    else:
        def run():
            backend.sync(step(x, y))

    benchmark.group = "jax-overhead-perceptron-b32"
    benchmark.pedantic(run, rounds=3000, warmup_rounds=100)
