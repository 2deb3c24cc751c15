"""What only the JAX backend does: Flax modules holding the canonical names, the LSTM as a
``lax.scan``, attention through ``jax.nn.dot_product_attention``, the tied output head as one
variable, token ids kept as integers, matmul precision, hand-written native modules, and why it sees
no GPU. What every backend promises is checked in tests/test_backend_contract.py."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402

import dataclasses  # noqa: E402
import functools  # noqa: E402

from dlbench import registry  # noqa: E402
from dlbench.errors import ConfigError  # noqa: E402
from dlbench.graph import LSTM, Dense, Graph, Reshape, TiedDense, init_weights, sequential  # noqa: E402
from dlbench.measure.metrics import cross_entropy_sum  # noqa: E402
from dlbench.optim import OptimizerSpec  # noqa: E402
from dlbench.zoo import gpt, perceptron  # noqa: E402
from dlbench_backends.jax import attention  # noqa: E402
from dlbench_backends.jax.backend import JaxBackend  # noqa: E402
from tests import numpy_reference as reference  # noqa: E402
from tests.backend_cases import batch, tiny_gpt, tiny_vit, with_random_statistics  # noqa: E402

pytestmark = pytest.mark.jax


@pytest.fixture(scope="module")
def backend() -> JaxBackend:
    return JaxBackend()


def lstm_graph() -> Graph:
    """An image (5, 3, 2) read as 5 steps of 6 features (channels-last rows), then an LSTM."""
    return sequential("lstm", (5, 3, 2), [Reshape((5, 6)), LSTM(4), Dense(3)])


def test_build_rejects_weights_of_the_wrong_shape(backend):
    graph = perceptron.build((4, 4, 1), 3)
    weights = init_weights(graph, 0)
    weights["dense1.kernel"] = weights["dense1.kernel"].T
    with pytest.raises(ConfigError, match="dense1.kernel"):
        backend.build(graph, weights)


def test_the_lstm_scan_holds_the_canonical_parameters_and_trains(backend):
    graph = lstm_graph()
    assert graph.macs() == 5 * 4 * 4 * (6 + 4) + 4 * 3
    model = backend.build(graph, init_weights(graph, 0))
    assert set(model.params["lstm1"]) == {"kernel", "recurrent_kernel", "bias"}  # canonical names, no conversion
    step = backend.train_step(model, OptimizerSpec.create("adam", 0.05), seed=0)
    rng = np.random.default_rng(0)
    xd, yd = backend.to_device(rng.standard_normal((16, 5, 3, 2)).astype(np.float32), rng.integers(0, 3, 16))
    losses = [float(backend.to_numpy(step(xd, yd))) for _ in range(30)]
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]
    exported = backend.export_weights(model)
    assert not np.array_equal(exported["lstm1.recurrent_kernel"], init_weights(graph, 0)["lstm1.recurrent_kernel"])


def _dot_precisions(jaxpr) -> list:
    """The precision of every dot_general and conv in a jaxpr, sub-jaxprs (scan bodies) included."""
    out = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("dot_general", "conv_general_dilated"):
            out.append(eqn.params["precision"])
        for v in eqn.params.values():
            for sub in v if isinstance(v, (list, tuple)) else [v]:
                sub = getattr(sub, "jaxpr", sub)
                if hasattr(sub, "eqns"):
                    out += _dot_precisions(sub)
    return out


_HIGHEST = (jax.lax.Precision.HIGHEST, jax.lax.Precision.HIGHEST)


@pytest.mark.parametrize(("precision", "expected"), [("float32", _HIGHEST), ("mixed-bfloat16", None)])
def test_lstm_honours_the_precision(precision, expected):
    backend = JaxBackend(precision=precision)
    graph = lstm_graph()
    model = backend.build(graph, init_weights(graph, 0))
    x = np.zeros((2, *graph.input_shape), np.float32)
    jaxpr = jax.make_jaxpr(lambda p, x: model.module.apply({"params": p}, x))(model.params, x).jaxpr
    # the input projection, the recurrent matmul inside the scan, the dense layer
    assert _dot_precisions(jaxpr) == [expected] * 3


def test_attention_matmuls_honour_the_precision_forward_and_backward(backend):
    """jax.nn.dot_product_attention takes no precision: it is traced under the float32 default."""
    graph = tiny_gpt()
    model = backend.build(graph, init_weights(graph, 0))
    x, _ = batch(graph)

    def loss(p, x):
        return model.module.apply({"params": p}, x).sum()

    jaxpr = jax.make_jaxpr(jax.grad(loss))(model.params, x).jaxpr
    precisions = _dot_precisions(jaxpr)
    # per block: projection, scores, weighted values, output, two MLP matmuls; then the tied head
    assert len(precisions) >= 3 * (6 * 2 + 1) and set(precisions) == {_HIGHEST}


def test_mixed_precision_runs_with_default_matmul_precision():
    backend = JaxBackend(precision="mixed-bfloat16")
    graph = perceptron.build((4, 4, 1), 3)
    model = backend.build(graph, init_weights(graph, 0))
    x, y = np.zeros((8, 4, 4, 1), np.float32), np.arange(8) % 3
    loss = backend.train_step(model, OptimizerSpec.create("sgd"), 0)(*backend.to_device(x, y))
    assert np.isfinite(backend.to_numpy(loss))
    assert backend.environment()["matmul_precision"] == "default"


def test_native_model(backend):
    class Tiny(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.Dense(3)(x.reshape(x.shape[0], -1))

    model = backend.build_native(lambda shape, classes: Tiny(), (2, 2, 1), 3, seed=0)
    assert backend.count_params(model) == (15, 0)
    step = backend.train_step(model, OptimizerSpec.create("sgd"), seed=0)
    backend.sync(step(*backend.to_device(np.ones((4, 2, 2, 1), np.float32), np.arange(4) % 3)))
    assert set(backend.export_weights(model)) == {"params.Dense_0.kernel", "params.Dense_0.bias"}


def test_the_environment_names_the_jax_platform_apart_from_the_os(backend):
    env = backend.environment()
    assert env["jax"] == jax.__version__ and env["jax_platform"] == "cpu"
    assert "platform" not in env  # "platform" is the OS (dlbench.environment)


def test_a_cuda_plugin_that_finds_no_gpu_says_so(monkeypatch, tmp_path):
    from dlbench import environment
    from dlbench_backends.jax import gpu

    monkeypatch.setattr(gpu, "gpu_plugins", lambda: ["jax-cuda12-plugin"])
    monkeypatch.setattr(environment, "NVIDIA_DRIVER_FILE", tmp_path / "version")
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    visible, why = JaxBackend.gpu_status()
    assert not visible and "jax-cuda12-plugin" in why and "no NVIDIA driver" in why and "no CUDA plugin" not in why


# -- transformers ---------------------------------------------------------------------------------
def _gpt(dropout: float = 0.0) -> Graph:
    return gpt.build_gpt("gpt", (6,), 11, context=8, width=16, depth=1, heads=2, gelu="gelu", dropout=dropout)


def _count_calls(monkeypatch, owner, name: str) -> list:
    calls, real = [], getattr(owner, name)

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def test_attention_is_jax_nn_dot_product_attention_and_flax_s_where_it_drops_weights(backend, monkeypatch):
    """jax.nn.dot_product_attention (causal through is_causal) in eval and in a training step
    without attention dropout; Flax's written-out attention, with a dropout key, where a training
    step drops attention weights, since jax.nn's has no dropout."""
    fused = _count_calls(monkeypatch, jax.nn, "dot_product_attention")
    written = _count_calls(monkeypatch, attention.nn, "dot_product_attention")
    for dropout in (0.0, 0.5):
        graph = _gpt(dropout)
        model = backend.build(graph, init_weights(graph, 0))
        xd, yd = backend.to_device(*batch(graph, 4))
        fused.clear()  # building traced the module once, for its variables' shapes
        backend.sync(backend.eval_step(model)(xd))
        assert [c["is_causal"] for c in fused] == [True] and not written
        fused.clear()
        backend.sync(backend.train_step(model, OptimizerSpec.create("sgd"), 0)(xd, yd))
        if dropout:
            assert not fused and len(written) == 1
            assert written[0]["dropout_rate"] == 0.5 and written[0]["dropout_rng"] is not None
            assert not written[0]["deterministic"] and not written[0]["broadcast_dropout"]
        else:
            assert len(fused) == 1 and not written
        fused.clear()


def test_the_attention_option_flax_runs_flax_s_attention_to_the_same_logits_and_training(backend, monkeypatch):
    """The tuned ``attention`` option changes the kernel, not what it computes (float32 round-off)."""
    written = _count_calls(monkeypatch, attention.nn, "dot_product_attention")
    flax_backend = JaxBackend(options={"attention": "flax"})
    assert flax_backend.environment()["attention_kernel"].startswith("flax")
    assert backend.environment()["attention_kernel"] == "jax.nn.dot_product_attention"
    graph = tiny_vit()
    weights = with_random_statistics(graph, 1)
    x, y = batch(graph, 4)
    results = []
    for b in (backend, flax_backend):
        model = b.build(graph, weights)
        xd, yd = b.to_device(x, y)
        # not adam: the keys' bias has a zero gradient (softmax ignores a shift of every score), whose
        # round-off adam would scale up to whole steps
        step = b.train_step(model, OptimizerSpec.create("sgd", lr=0.1), 0)
        losses = [float(b.to_numpy(step(xd, yd))) for _ in range(3)]
        results.append((b.to_numpy(b.eval_step(model)(xd)), losses, b.export_weights(model)))
    assert written  # traced by the flax backend's steps
    (logits, losses, weights_after), (flax_logits, flax_losses, flax_weights) = results
    np.testing.assert_allclose(flax_logits, logits, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(flax_losses, losses, rtol=1e-5)
    for k, v in weights_after.items():
        np.testing.assert_allclose(flax_weights[k], v, rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.mark.parametrize(("dtype", "platform", "expected"), [
    ("float32", "cpu", "jax"), ("bfloat16", "cpu", "jax"), ("float16", "gpu", "jax"),
    ("float64", "cpu", "flax"), ("float16", "cpu", "flax"),  # jax's softmax is float32; XLA:CPU lacks F16_F16_F32
])
def test_the_attention_kernel_is_jax_s_unless_it_cannot_compute_as_asked(dtype, platform, expected):
    assert attention.kernel_for("jax", dtype, platform) == expected


def test_the_tied_head_is_the_embedding_itself_and_both_gradients_add_up(backend):
    """One variable for the token embedding and the output head: counted once, and one SGD step
    moves it by the gradients of both uses, those of an untied copy (lookup plus head) summed."""
    graph = _gpt()
    weights = with_random_statistics(graph)
    model = backend.build(graph, weights)
    assert "lm_head" not in model.params and set(model.params["wte"]) == {"embedding"}
    assert backend.count_params(model) == graph.count_params()
    head = next(n for n in graph.nodes if isinstance(n.layer, TiedDense))
    untied = Graph("untied", graph.input_shape, [
        dataclasses.replace(n, layer=Dense(n.layer.vocab, use_bias=False)) if n is head else n for n in graph.nodes],
        graph.num_classes)
    untied_weights = {**weights, "lm_head.kernel": weights["wte.embedding"].T.copy()}
    x, y = batch(graph, 4)

    def moved(g, w):
        m = backend.build(g, w)
        backend.sync(backend.train_step(m, OptimizerSpec.create("sgd", lr=1.0), 0)(*backend.to_device(x, y)))
        return {k: v - w[k] for k, v in backend.export_weights(m).items()}

    tied, apart = moved(graph, weights), moved(untied, untied_weights)
    assert np.abs(apart["lm_head.kernel"]).max() > 0 and np.abs(apart["wte.embedding"]).max() > 0
    np.testing.assert_allclose(tied["wte.embedding"], apart["wte.embedding"] + apart["lm_head.kernel"].T,
                               rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("precision", ["float32", "mixed-bfloat16"])
def test_token_ids_stay_integers_and_the_loss_is_the_mean_over_every_position(precision):
    backend = JaxBackend(precision=precision)
    graph = _gpt()
    model = backend.build(graph, init_weights(graph, 0))
    x, y = batch(graph, 4)
    xd, yd = backend.to_device(x.astype(np.int64), y)
    assert xd.dtype == np.int32 and yd.dtype == np.int32 and yd.shape == (4, 6)
    assert backend.to_device(x.astype(np.float64))[0].dtype == np.float32  # images as before
    logits = np.asarray(backend.to_numpy(backend.eval_step(model)(xd)), np.float64)
    assert logits.shape == (4, 6, 11) and logits.dtype == np.float64
    loss = float(backend.to_numpy(backend.train_step(model, OptimizerSpec.create("sgd"), 0)(xd, yd)))
    assert loss == pytest.approx(cross_entropy_sum(logits, y) / y.size, rel=1e-5 if precision == "float32" else 1e-2)


@pytest.mark.parametrize("make_graph", [tiny_gpt, tiny_vit], ids=["gpt", "vit"])
def test_transformers_compute_in_float64_to_the_reference(make_graph, request):
    request.addfinalizer(functools.partial(jax.config.update, "jax_enable_x64", jax.config.jax_enable_x64))
    backend = JaxBackend(dtype="float64")
    graph = make_graph()
    weights = {k: v.astype(np.float64) for k, v in with_random_statistics(graph, 1).items()}
    x, _ = batch(graph)
    got = backend.to_numpy(backend.eval_step(backend.build(graph, weights))(backend.to_device(x)[0]))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, reference.forward(graph, weights, x), rtol=1e-10, atol=1e-12)


def test_mixed_float16_trains_a_transformer_on_the_cpu():
    """XLA:CPU has no float16 x float16 -> float32 matmul, which jax.nn's attention asks for."""
    backend = JaxBackend(precision="mixed-float16")
    graph = tiny_vit()
    model = backend.build(graph, init_weights(graph, 0))
    step = backend.train_step(model, OptimizerSpec.create("adam", 0.01), 0)
    xd, yd = backend.to_device(*batch(graph, 8))
    losses = [float(backend.to_numpy(step(xd, yd))) for _ in range(5)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_the_flop_probe_counts_a_language_model_s_training_step(backend):
    info = registry.get_model("gpt_char")
    graph = info.build(info.input_shape, info.num_classes)
    model = backend.build(graph, init_weights(graph, 0))
    x, y = backend.to_device(*batch(graph, 2))
    flops, method = backend.train_step_flops(model, OptimizerSpec.create("sgd"), x, y)
    assert "XLA" in method and 0.9 < flops / (6 * graph.macs() * 2) < 1.2
