"""What only the TensorFlow backend does: the XLA switch, Keras mixed-precision policies, and how it
builds the transformer layers (both attention implementations, the tied head's one variable, token
ids kept integers, attention dropout, the FLOP probe on attention). What every backend promises,
with XLA and without, is checked in tests/test_backend_contract.py."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from dlbench import registry  # noqa: E402
from dlbench.graph import GraphBuilder, MultiHeadAttention, TiedDense, TokenEmbedding, init_weights  # noqa: E402
from dlbench.measure.metrics import cross_entropy_sum  # noqa: E402
from dlbench.optim import OptimizerSpec  # noqa: E402
from dlbench_backends.tensorflow.attention import EinsumAttention, KerasAttention  # noqa: E402
from dlbench_backends.tensorflow.backend import TensorFlowBackend  # noqa: E402
from tests import numpy_reference as reference  # noqa: E402
from tests.backend_cases import batch, tiny_gpt, with_random_statistics  # noqa: E402

pytestmark = pytest.mark.tensorflow


def test_the_xla_switch_is_recorded_and_batches_are_placed_on_the_cpu():
    assert TensorFlowBackend().environment()["xla"] is True  # Keras 3's jit_compile="auto" default
    backend = TensorFlowBackend(options={"xla": False})
    env = backend.environment()
    assert env["xla"] is False and {"keras", "threads", "interop_threads"} <= env.keys()
    x, y = backend.to_device(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert x.dtype == tf.float32 and y.dtype == tf.int64 and "CPU" in x.device


@pytest.mark.parametrize(("precision", "policy", "loss_scaling"), [
    ("float32", "float32", None),
    ("mixed-bfloat16", "mixed_bfloat16", None),
    ("mixed-float16", "mixed_float16", "dynamic (LossScaleOptimizer)"),
])
def test_mixed_precision_is_a_keras_dtype_policy(precision, policy, loss_scaling):
    env = TensorFlowBackend(precision=precision).environment()
    assert (env["precision"], env["keras_dtype_policy"], env["loss_scaling"]) == (precision, policy, loss_scaling)


# -- the transformer layers -----------------------------------------------------------------------
def test_keras_attention_loads_the_canonical_qkv_columns_into_its_einsum_dense_kernels():
    graph = tiny_gpt()
    weights = with_random_statistics(graph, 1)
    layer = TensorFlowBackend(options={"attention": "keras"}).build(graph, weights).model.get_layer("attention1")
    assert isinstance(layer, keras.layers.MultiHeadAttention)
    qkv, heads, hd = weights["attention1.qkv_kernel"], 2, 8  # (16, 3 x 2 x 8): [q | k | v], each head-major
    for i, dense in enumerate((layer.query_dense, layer.key_dense, layer.value_dense)):
        kernel = dense.kernel.numpy()
        assert kernel.shape == (16, heads, hd)
        np.testing.assert_array_equal(kernel[:, 1, 3], qkv[:, i * heads * hd + 1 * hd + 3])  # head 1, feature 3
    np.testing.assert_array_equal(layer.output_dense.kernel.numpy()[1, 3], weights["attention1.out_kernel"][hd + 3])


def test_both_attention_implementations_train_alike():
    graph = tiny_gpt()
    weights = with_random_statistics(graph, 1)
    x, y = batch(graph, 4)
    results = []
    for impl in ("keras", "einsum"):
        backend = TensorFlowBackend(options={"attention": impl, "xla": False})
        model = backend.build(graph, weights)
        assert isinstance(model.model.get_layer("attention1"), {"keras": KerasAttention, "einsum": EinsumAttention}[impl])
        step = backend.train_step(model, OptimizerSpec.create("sgd", lr=0.5), 0)  # adam would magnify round-off
        losses = [float(step(*backend.to_device(x, y))) for _ in range(3)]
        results.append((losses, backend.export_weights(model)))
    (losses, trained), (other_losses, other) = results
    np.testing.assert_allclose(losses, other_losses, rtol=1e-5)
    for k, v in trained.items():
        np.testing.assert_allclose(other[k], v, rtol=1e-4, atol=1e-6, err_msg=k)


def test_token_ids_stay_integers_and_next_token_labels_keep_their_shape():
    x, y = batch(tiny_gpt(), 2)  # int32 (2, 6) ids, a next token per position
    xd, yd = TensorFlowBackend().to_device(x, y)
    assert xd.dtype == tf.int32 and yd.dtype == tf.int64 and tuple(yd.shape) == (2, 6)
    assert TensorFlowBackend(dtype="float64").to_device(x)[0].dtype == tf.int32


@pytest.mark.parametrize("impl", ["keras", "einsum"])
def test_the_tied_head_is_the_embeddings_variable_and_its_gradient_is_both_uses_summed(impl):
    """One SGD step of lr 1 in float64 takes away the gradient; along random directions it must be the
    derivative of the numpy reference's loss (central differences), the tied embedding's included."""
    backend = TensorFlowBackend(options={"attention": impl, "xla": False}, dtype="float64")
    graph = tiny_gpt()
    weights = {k: v.astype(np.float64) for k, v in with_random_statistics(graph, 1).items()}
    x, y = batch(graph, 3)
    model = backend.build(graph, weights)
    assert model.model.get_layer("lm_head").embedding.embeddings is model.model.get_layer("wte").embeddings
    assert backend.count_params(model) == graph.count_params()  # counted once
    backend.train_step(model, OptimizerSpec.create("sgd", lr=1.0), 0)(*backend.to_device(x, y))
    grad = {k: weights[k] - v for k, v in backend.export_weights(model).items()}

    def loss(w):
        return cross_entropy_sum(reference.forward(graph, w, x), y) / y.size

    rng, eps = np.random.default_rng(0), 1e-6
    for only in (None, "wte.embedding"):
        d = {k: rng.standard_normal(v.shape) * (only in (None, k)) for k, v in weights.items()}
        slope = (loss({k: v + eps * d[k] for k, v in weights.items()})
                 - loss({k: v - eps * d[k] for k, v in weights.items()})) / (2 * eps)
        assert sum((grad[k] * d[k]).sum() for k in weights) == pytest.approx(slope, rel=1e-7)


def test_attention_dropout_drops_while_training_only_and_follows_the_seed():
    b = GraphBuilder("attention_dropout", (6,))
    x = b(TokenEmbedding(11, 16), b.input, name="wte")
    b(TiedDense("wte", 11), b(MultiHeadAttention(2, causal=True, dropout=0.5), x), name="lm_head")
    graph = b.build(11)
    weights = init_weights(graph, 0)
    backend = TensorFlowBackend(options={"xla": False})
    xd, yd = backend.to_device(*batch(graph, 4))

    def losses(seed):
        step = backend.train_step(backend.build(graph, weights), OptimizerSpec.create("sgd", lr=1e-12), seed)  # masks, not updates, move the loss
        return [float(step(xd, yd)) for _ in range(2)]

    first = losses(1)
    assert losses(1) == first != losses(2) and first[0] != first[1]
    model = backend.build(graph, weights)
    np.testing.assert_allclose(backend.to_numpy(backend.eval_step(model)(xd)),
                               reference.forward(graph, weights, batch(graph, 4)[0]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("precision", ["mixed-bfloat16", "mixed-float16"])
def test_a_language_model_trains_under_mixed_precision(precision):
    backend = TensorFlowBackend(precision=precision, options={"xla": False})
    graph = tiny_gpt()
    model = backend.build(graph, init_weights(graph, 0))
    xd, yd = backend.to_device(*batch(graph, 4))
    step = backend.train_step(model, OptimizerSpec.create("adam", lr=0.01), 0)
    losses = [float(step(xd, yd)) for _ in range(5)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    logits = backend.eval_step(model)(xd)
    assert logits.dtype == tf.float32 and tuple(logits.shape) == (4, 6, 11)
    assert all(v.dtype == np.float32 for v in backend.export_weights(model).values())


@pytest.mark.parametrize("impl", ["keras", "einsum"])
def test_the_flop_probe_counts_attention_on_gpt_char(impl):
    """Keras's EinsumDense and the attention einsums count too (dlbench registers Einsum's FLOPs):
    gpt_char's step comes to the analytic 6 x MACs x batch and a little more (element-wise ops)."""
    info = registry.get_model("gpt_char")
    graph = info.build(info.input_shape, info.num_classes)
    backend = TensorFlowBackend(options={"attention": impl})
    model = backend.build(graph, init_weights(graph, 0))
    x, y = backend.to_device(*batch(graph, 2))
    flops, method = backend.train_step_flops(model, OptimizerSpec.create("adam"), x, y)
    analytic = 6 * graph.macs() * 2
    assert 1.0 < flops / analytic < 1.2 and "Einsum" in method, (flops / analytic, method)
