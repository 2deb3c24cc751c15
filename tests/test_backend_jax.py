"""The JAX backend against numpy references: layouts, layer semantics, optimisers, state handling."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402

from dlbench import registry  # noqa: E402
from dlbench.errors import ConfigError  # noqa: E402
from dlbench.graph import (  # noqa: E402
    INPUT, LSTM, Activation, Add, AvgPool2d, BatchNorm, Concat, Conv2d, Dense, Dropout, Flatten, GlobalAvgPool2d,
    Graph, GraphBuilder, MaxPool2d, Reshape, init_weights, sequential,
)
from dlbench.optim import OPTIMIZERS, OptimizerSpec  # noqa: E402
from dlbench.zoo import alexnet, lenet5, mlp, perceptron  # noqa: E402
from dlbench_backends.jax.backend import JaxBackend  # noqa: E402

pytestmark = pytest.mark.jax


@pytest.fixture(scope="module")
def backend() -> JaxBackend:
    return JaxBackend()


def _batch(graph: Graph, n: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *graph.input_shape)).astype(np.float32), rng.integers(0, graph.num_classes, n)


# -- numpy references (eval mode) -------------------------------------------------------------
def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def np_conv(x, kernel, bias, stride, padding, groups):
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    kh, kw, cin, cout = kernel.shape
    oh, ow, og = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1, cout // groups
    out = np.zeros((x.shape[0], oh, ow, cout))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            for g in range(groups):
                out[:, i, j, g * og:(g + 1) * og] = np.einsum(
                    "nhwc,hwco->no", patch[..., g * cin:(g + 1) * cin], kernel[..., g * og:(g + 1) * og])
    return out if bias is None else out + bias


def np_pool(x, size, stride, padding, op):
    (kh, kw), (ph, pw) = _pair(size), _pair(padding)
    sh, sw = _pair(stride if stride is not None else size)
    x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=-np.inf)
    oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    return np.stack([np.stack([op(x[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :], axis=(1, 2))
                               for j in range(ow)], 1) for i in range(oh)], 1)


def np_flatten_dense(x, kernel, bias):
    """Dense over a Flatten of (H, W, C), written with the canonical row index (h * W + w) * C + c."""
    n, h, w, c = x.shape
    out = np.zeros((n, kernel.shape[1])) + bias
    for i in range(h):
        for j in range(w):
            for k in range(c):
                out += x[:, i, j, k, None] * kernel[(i * w + j) * c + k]
    return out


def np_activation(fn: str, a):
    if fn == "softmax":
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    return {"relu": lambda: np.maximum(a, 0), "relu6": lambda: np.clip(a, 0, 6), "tanh": lambda: np.tanh(a),
            "sigmoid": lambda: 1 / (1 + np.exp(-a))}[fn]()


def np_lstm(seq, kernel, recurrent, bias, return_sequences=False):
    """The canonical LSTM, step by step: gates i, f, g, o; one bias; h0 = c0 = 0."""
    def sig(z):
        return 1 / (1 + np.exp(-z))

    h = c = np.zeros((seq.shape[0], recurrent.shape[0]))
    hs = []
    for t in range(seq.shape[1]):
        i, f, g, o = np.split(seq[:, t] @ kernel + h @ recurrent + bias, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        hs.append(h)
    return np.stack(hs, axis=1) if return_sequences else h


def np_forward(graph: Graph, weights, x):
    v = {INPUT: x.astype(np.float64)}
    for node in graph.nodes:
        layer, xs = node.layer, [v[i] for i in node.inputs]
        p = {k.split(".", 1)[1]: w for k, w in weights.items() if k.split(".", 1)[0] == node.name}.get
        if isinstance(layer, Conv2d):
            y = np_conv(xs[0], p("kernel"), p("bias"), layer.stride, layer.padding, layer.groups)
        elif isinstance(layer, Dense):
            y = xs[0] @ p("kernel") + (p("bias") if layer.use_bias else 0)
        elif isinstance(layer, MaxPool2d):
            y = np_pool(xs[0], layer.pool_size, layer.stride, layer.padding, np.max)
        elif isinstance(layer, AvgPool2d):
            y = np_pool(xs[0], layer.pool_size, layer.stride, 0, np.mean)
        elif isinstance(layer, GlobalAvgPool2d):
            y = xs[0].mean(axis=(1, 2))
        elif isinstance(layer, Flatten):
            y = xs[0].reshape(len(x), -1)
        elif isinstance(layer, Reshape):
            y = xs[0].reshape(len(x), *layer.shape)
        elif isinstance(layer, LSTM):
            y = np_lstm(xs[0], p("kernel"), p("recurrent_kernel"), p("bias"), layer.return_sequences)
        elif isinstance(layer, BatchNorm):
            y = (xs[0] - p("moving_mean")) / np.sqrt(p("moving_var") + layer.eps) * p("gamma") + p("beta")
        elif isinstance(layer, Dropout):
            y = xs[0]
        elif isinstance(layer, Activation):
            y = np_activation(layer.fn, xs[0])
        elif isinstance(layer, Add):
            y = xs[0] + xs[1]
        elif isinstance(layer, Concat):
            y = np.concatenate(xs, axis=-1)
        v[node.name] = y
    return v[graph.nodes[-1].name]


def residual_graph() -> Graph:
    """Every layer kind, with a residual Add and a Concat branch."""
    b = GraphBuilder("residual", (9, 9, 4))
    x = b.chain(b.input, Conv2d(8, 3, padding=1, groups=2), BatchNorm(), Activation("relu6"))
    y = b.chain(x, Conv2d(8, (3, 1), padding=(1, 0), use_bias=False), Activation("sigmoid"))
    x = b(Add(), x, y)
    z = b.chain(x, MaxPool2d(3, 2, padding=1))  # 5x5
    w = b.chain(x, Conv2d(4, 3, stride=2, padding=1), Activation("tanh"))  # 5x5
    x = b(Concat(), z, w)
    g = b.chain(x, GlobalAvgPool2d())
    h = b.chain(x, AvgPool2d(2, 1), Flatten(), Dropout(0.3), Dense(12), Activation("softmax"))
    x = b.chain(b(Concat(), g, h), Dense(5))
    return b.build(5)


def _with_random_stats(graph: Graph, seed: int = 0):
    w = init_weights(graph, seed)
    rng = np.random.default_rng(seed)
    for k in w:
        if k.endswith(("moving_mean", "gamma", "beta", "bias")):
            w[k] = rng.normal(0, 0.5, w[k].shape).astype(np.float32)
        elif k.endswith("moving_var"):
            w[k] = rng.uniform(0.5, 2.0, w[k].shape).astype(np.float32)
    return w


# -- weights and layout ----------------------------------------------------------------------
@pytest.mark.parametrize(("module", "shape", "classes", "expected"), [
    (perceptron, (28, 28, 1), 10, 7850), (mlp, (28, 28, 1), 10, 407050),
    (lenet5, (28, 28, 1), 10, 61706), (alexnet, (224, 224, 3), 1000, 61_100_840),
])
def test_param_counts(backend, module, shape, classes, expected):
    graph = module.build(shape, classes)
    zeros = {k: np.zeros(p.shape, np.float32) for k, p in graph.params().items()}  # fast for alexnet
    model = backend.build(graph, zeros)
    assert backend.count_params(model) == graph.count_params() == (expected, 0)


# (trainable, batch-norm statistics) as the declarations document them; vgg16 (138M) is left out for memory
@pytest.mark.parametrize(("name", "expected"), [
    ("alvinn", (3994, 0)), ("shallow_vgg", (1_677_674, 1408)), ("lstm", (81_674, 0)),
    ("resnet50", (25_557_032, 53_120)), ("mobilenet_v2", (3_504_872, 34_112)),
])
def test_zoo_models_build_with_declared_params_and_round_trip(backend, name, expected):
    info = registry.get_model(name)
    graph = info.build(info.input_shape, info.num_classes)
    weights = init_weights(graph, 3)
    model = backend.build(graph, weights)
    assert backend.count_params(model) == graph.count_params() == expected
    exported = backend.export_weights(model)
    assert exported.keys() == weights.keys()
    assert all(exported[k].dtype == np.float32 and np.array_equal(exported[k], weights[k]) for k in weights)


@pytest.mark.parametrize("graph", [lenet5.build((28, 28, 1), 10), residual_graph()], ids=["lenet5", "residual"])
def test_weight_round_trip_is_bit_identical(backend, graph):
    weights = _with_random_stats(graph)
    exported = backend.export_weights(backend.build(graph, weights))
    assert exported.keys() == weights.keys()
    for k, v in weights.items():
        assert exported[k].dtype == np.float32 and np.array_equal(exported[k], v), k


def test_build_rejects_wrong_shapes(backend):
    graph = perceptron.build((4, 4, 1), 3)
    weights = init_weights(graph, 0)
    weights["dense1.kernel"] = weights["dense1.kernel"].T
    with pytest.raises(ConfigError, match="dense1.kernel"):
        backend.build(graph, weights)


def test_flatten_dense_uses_channels_last_rows(backend):
    graph = sequential("fd", (3, 4, 2), [Flatten(), Dense(5)])
    weights = _with_random_stats(graph)
    x, _ = _batch(graph)
    logits = backend.to_numpy(backend.eval_step(backend.build(graph, weights))(backend.to_device(x)[0]))
    np.testing.assert_allclose(logits, np_flatten_dense(x, weights["dense1.kernel"], weights["dense1.bias"]),
                               rtol=1e-5, atol=1e-5)


def test_conv_matches_numpy(backend):
    graph = sequential("conv", (7, 8, 4), [Conv2d(6, (3, 2), stride=(2, 1), padding=(1, 2), groups=2), Flatten(),
                                           Dense(3)])
    weights = _with_random_stats(graph)
    x, _ = _batch(graph)
    got = backend.to_numpy(backend.eval_step(backend.build(graph, weights))(backend.to_device(x)[0]))
    conv = np_conv(x, weights["conv1.kernel"], weights["conv1.bias"], (2, 1), (1, 2), 2)
    np.testing.assert_allclose(got, np_flatten_dense(conv, weights["dense1.kernel"], weights["dense1.bias"]),
                               rtol=1e-4, atol=1e-4)


def test_padded_max_pool_never_picks_padding(backend):
    graph = sequential("pool", (5, 5, 2), [MaxPool2d(3, 2, padding=1), Flatten(), Dense(2, kernel_init="ones")])
    module_out = backend.build(graph, {"dense1.kernel": np.eye(18, 2, dtype=np.float32),
                                       "dense1.bias": np.zeros(2, np.float32)})
    x = -1.0 - np.random.default_rng(0).random((2, 5, 5, 2)).astype(np.float32)  # all negative: 0-padding would win
    got = backend.to_numpy(backend.eval_step(module_out)(backend.to_device(x)[0]))
    pooled = np_pool(x, 3, 2, 1, np.max)
    assert (pooled < 0).all()
    np.testing.assert_allclose(got, pooled.reshape(2, -1)[:, :2], rtol=1e-6)


def test_depthwise_conv_matches_numpy(backend):
    """groups == channels, as in MobileNetV2: the canonical kernel is (kh, kw, 1, C)."""
    graph = sequential("dw", (6, 6, 4), [Conv2d(4, 3, stride=2, padding=1, groups=4, use_bias=False),
                                         BatchNorm(), Activation("relu6"), Flatten(), Dense(3)])
    weights = _with_random_stats(graph)
    assert weights["conv1.kernel"].shape == (3, 3, 1, 4)
    x, _ = _batch(graph, 4)
    got = backend.to_numpy(backend.eval_step(backend.build(graph, weights))(backend.to_device(x)[0]))
    np.testing.assert_allclose(got, np_forward(graph, weights, x), rtol=1e-4, atol=1e-5)


def lstm_graph(return_sequences: bool) -> Graph:
    """An image (5, 3, 2) read as 5 steps of 6 features (channels-last rows), then an LSTM."""
    tail = [Flatten(), Dense(3)] if return_sequences else [Dense(3)]
    return sequential("lstm", (5, 3, 2), [Reshape((5, 6)), LSTM(4, return_sequences=return_sequences), *tail])


@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
def test_lstm_matches_a_numpy_reference(backend, return_sequences):
    graph = lstm_graph(return_sequences)
    weights = _with_random_stats(graph, 1)  # a random bias: every gate's slice matters
    model = backend.build(graph, weights)
    assert backend.count_params(model) == graph.count_params() == (6 * 16 + 4 * 16 + 16 + (20 if return_sequences else 4) * 3 + 3, 0)
    assert set(model.params["lstm1"]) == {"kernel", "recurrent_kernel", "bias"}  # canonical names, no conversion
    x, _ = _batch(graph, 2)
    got = backend.to_numpy(backend.eval_step(model)(backend.to_device(x)[0]))
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    seq, h, c, hs = x.reshape(2, 5, 6).astype(np.float64), np.zeros((2, 4)), np.zeros((2, 4)), []
    for t in range(5):
        z = seq[:, t] @ weights["lstm1.kernel"] + h @ weights["lstm1.recurrent_kernel"] + weights["lstm1.bias"]
        i, f, g, o = np.split(z, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        hs.append(h)
    features = np.stack(hs, 1).reshape(2, -1) if return_sequences else h
    expected = features @ weights["dense1.kernel"] + weights["dense1.bias"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, np_forward(graph, weights, x), rtol=1e-5, atol=1e-6)


def test_lstm_trains_and_macs_match_the_declaration(backend):
    graph = lstm_graph(False)
    assert graph.macs() == 5 * 4 * 4 * (6 + 4) + 4 * 3
    model = backend.build(graph, init_weights(graph, 0))
    step = backend.train_step(model, OptimizerSpec.create("adam", 0.05), seed=0)
    xd, yd = backend.to_device(*_batch(graph, 16))
    losses = [float(backend.to_numpy(step(xd, yd))) for _ in range(30)]
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]
    exported = backend.export_weights(model)
    assert not np.array_equal(exported["lstm1.recurrent_kernel"], init_weights(graph, 0)["lstm1.recurrent_kernel"])


def test_reshape_is_channels_last(backend):
    """Reshape((H, W*C)) reads pixel (h, w) channel c at feature w * C + c, as numpy's reshape of NHWC."""
    graph = sequential("rs", (3, 4, 2), [Reshape((3, 8)), LSTM(2, return_sequences=True), Reshape((6,)), Dense(2)])
    assert graph.shapes["reshape2"] == (6,)
    weights = _with_random_stats(graph)
    x, _ = _batch(graph, 3)
    got = backend.to_numpy(backend.eval_step(backend.build(graph, weights))(backend.to_device(x)[0]))
    hs = np_lstm(x.reshape(3, 3, 8).astype(np.float64), weights["lstm1.kernel"], weights["lstm1.recurrent_kernel"],
                 weights["lstm1.bias"], return_sequences=True)
    np.testing.assert_allclose(got, hs.reshape(3, 6) @ weights["dense1.kernel"] + weights["dense1.bias"],
                               rtol=1e-5, atol=1e-6)


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
    graph = lstm_graph(False)
    model = backend.build(graph, init_weights(graph, 0))
    x = np.zeros((2, *graph.input_shape), np.float32)
    jaxpr = jax.make_jaxpr(lambda p, x: model.module.apply({"params": p}, x))(model.params, x).jaxpr
    # the input projection, the recurrent matmul inside the scan, the dense layer
    assert _dot_precisions(jaxpr) == [expected] * 3


@pytest.mark.parametrize("name", ["lenet5", "residual"])
def test_eval_matches_numpy_forward(backend, name):
    graph = lenet5.build((28, 28, 1), 10) if name == "lenet5" else residual_graph()
    weights = _with_random_stats(graph)
    x, _ = _batch(graph, 4)
    got = backend.to_numpy(backend.eval_step(backend.build(graph, weights))(backend.to_device(x)[0]))
    np.testing.assert_allclose(got, np_forward(graph, weights, x), rtol=1e-4, atol=1e-5)


# -- optimisers ------------------------------------------------------------------------------
def np_updates(spec: OptimizerSpec, x, y, w, b, steps: int):
    """(kernel, bias) after each step of the canonical update of a linear softmax classifier."""
    params, state, out = [w.astype(np.float64), b.astype(np.float64)], {}, []
    for t in range(1, steps + 1):
        logits = x @ params[0] + params[1]
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        d = (p - np.eye(w.shape[1])[y]) / len(x)
        for i, g in enumerate((x.T @ d, d.sum(0))):
            s = state.setdefault(i, {"v": np.zeros_like(g), "s": np.zeros_like(g)})
            if spec.name == "sgd":
                step = g
            elif spec.name == "momentum":
                s["v"] = spec.momentum * s["v"] + g
                step = s["v"]
            elif spec.name == "adagrad":
                s["s"] += g * g
                step = g / (np.sqrt(s["s"]) + spec.eps)
            elif spec.name == "rmsprop":
                s["s"] = spec.alpha * s["s"] + (1 - spec.alpha) * g * g
                step = g / (np.sqrt(s["s"]) + spec.eps)
            else:
                s["v"] = spec.beta1 * s["v"] + (1 - spec.beta1) * g
                s["s"] = spec.beta2 * s["s"] + (1 - spec.beta2) * g * g
                step = (s["v"] / (1 - spec.beta1**t)) / (np.sqrt(s["s"] / (1 - spec.beta2**t)) + spec.eps)
            params[i] = params[i] - spec.lr * step
        out.append(tuple(params))
    return out


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_matches_canonical_update(backend, name):
    graph = sequential("linear", (6,), [Dense(4)])
    weights = _with_random_stats(graph)
    x, y = _batch(graph, 16)
    spec = OptimizerSpec.create(name, lr=0.05)
    model = backend.build(graph, weights)
    step = backend.train_step(model, spec, seed=0)
    expected = np_updates(spec, x.astype(np.float64), y, weights["dense1.kernel"], weights["dense1.bias"], 3)
    xd, yd = backend.to_device(x, y)
    for kernel, bias in expected:
        backend.sync(step(xd, yd))
        got = backend.export_weights(model)
        np.testing.assert_allclose(got["dense1.kernel"], kernel, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["dense1.bias"], bias, rtol=1e-5, atol=1e-6)


def test_unknown_optimizer_is_rejected():
    with pytest.raises(ConfigError):
        OptimizerSpec.create("lamb")


# -- training state --------------------------------------------------------------------------
def test_train_loss_decreases(backend):
    graph = mlp.build((8, 8, 1), 10)
    model = backend.build(graph, init_weights(graph, 0))
    step = backend.train_step(model, OptimizerSpec.create("adam", 0.01), seed=0)
    xd, yd = backend.to_device(*_batch(graph, 32))
    losses = [float(backend.to_numpy(step(xd, yd))) for _ in range(25)]
    assert losses[-1] < 0.5 * losses[0]
    assert np.isfinite(losses).all()


def test_batch_norm_statistics_update_and_are_used_in_eval(backend):
    b = GraphBuilder("bn", (3, 3, 2))
    b.chain(b.input, BatchNorm(momentum=0.8, eps=1e-3), Flatten(), Dense(3))
    graph = b.build(3)
    weights = _with_random_stats(graph)
    model = backend.build(graph, weights)
    assert backend.count_params(model) == (2 * 2 + 18 * 3 + 3, 2 * 2)
    x, y = _batch(graph, 16)
    x = x * 3 + 1
    backend.sync(backend.train_step(model, OptimizerSpec.create("sgd"), seed=0)(*backend.to_device(x, y)))
    got = backend.export_weights(model)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # Flax: biased batch variance
    np.testing.assert_allclose(got["bn1.moving_mean"], 0.8 * weights["bn1.moving_mean"] + 0.2 * mean, rtol=1e-5)
    np.testing.assert_allclose(got["bn1.moving_var"], 0.8 * weights["bn1.moving_var"] + 0.2 * var, rtol=1e-5)
    logits = backend.to_numpy(backend.eval_step(model)(backend.to_device(x)[0]))
    np.testing.assert_allclose(logits, np_forward(graph, got, x), rtol=1e-4, atol=1e-5)


def test_donation_keeps_the_handle_usable(backend):
    graph = residual_graph()
    weights = _with_random_stats(graph)
    original = {k: v.copy() for k, v in weights.items()}
    model = backend.build(graph, weights)
    xd, yd = backend.to_device(*_batch(graph))
    evaluate = backend.eval_step(model)
    before = backend.to_numpy(evaluate(xd)).copy()
    step = backend.train_step(model, OptimizerSpec.create("momentum"), seed=0)
    for _ in range(3):
        loss = step(xd, yd)
    backend.sync(loss)
    after = backend.to_numpy(evaluate(xd))  # the same eval step sees the new parameters
    assert not np.allclose(before, after)
    assert all(np.array_equal(weights[k], original[k]) for k in weights)  # the caller's arrays stay untouched
    trained = backend.export_weights(model)
    again = backend.train_step(model, OptimizerSpec.create("adam"), seed=1)
    backend.sync(again(xd, yd))
    assert any(not np.array_equal(trained[k], v) for k, v in backend.export_weights(model).items())
    assert backend.count_params(model) == graph.count_params()


def test_dropout_follows_the_seed(backend):
    graph = sequential("drop", (16,), [Dense(32), Dropout(0.5), Dense(4)])
    weights = init_weights(graph, 0)
    xd, yd = backend.to_device(*_batch(graph))

    def losses(seed):
        step = backend.train_step(backend.build(graph, weights), OptimizerSpec.create("sgd"), seed)
        return [float(backend.to_numpy(step(xd, yd))) for _ in range(3)]

    assert losses(0) == losses(0)
    assert losses(0) != losses(1)
    evaluate = backend.eval_step(backend.build(graph, weights))
    np.testing.assert_array_equal(backend.to_numpy(evaluate(xd)), backend.to_numpy(evaluate(xd)))


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


# -- probes and options ----------------------------------------------------------------------
def test_flops_and_environment(backend):
    graph = lenet5.build((28, 28, 1), 10)
    model = backend.build(graph, init_weights(graph, 0))
    xd, yd = backend.to_device(*_batch(graph, 16))
    flops, how = backend.train_step_flops(model, OptimizerSpec.create("adam"), xd, yd)
    assert "XLA" in how and 2 * 2 * graph.macs() * 16 < flops < 4 * 2 * graph.macs() * 16
    env = backend.environment()
    assert env["precision"] == "float32" and env["jax"] == jax.__version__
    assert env["jax_platform"] == "cpu" and "platform" not in env  # "platform" is the OS
    assert backend.peak_device_memory() is None


def test_mixed_precision_runs_with_default_matmul_precision():
    backend = JaxBackend(precision="mixed-bfloat16")
    graph = perceptron.build((4, 4, 1), 3)
    model = backend.build(graph, init_weights(graph, 0))
    loss = backend.train_step(model, OptimizerSpec.create("sgd"), 0)(*backend.to_device(*_batch(graph)))
    assert np.isfinite(backend.to_numpy(loss))
    assert backend.environment()["matmul_precision"] == "default"


@pytest.mark.parametrize(("device", "options", "match"), [
    ("cpu", {"precision": "highest"}, "unknown option"),  # numerics follow --precision, not an option
    ("cpu", {"xla": True}, "unknown option"),
    ("tpu", {}, "unknown device"),
])
def test_invalid_settings(device, options, match):
    with pytest.raises(ConfigError, match=match):
        JaxBackend(device, options)


def test_a_cpu_backend_has_no_accelerator(backend):
    assert backend.accelerator() is None  # so the CPU keys its tuning choices and profiles as before


def test_a_cuda_plugin_that_finds_no_gpu_says_so(monkeypatch, tmp_path):
    from dlbench import environment
    from dlbench_backends.jax import gpu

    monkeypatch.setattr(gpu, "gpu_plugins", lambda: ["jax-cuda12-plugin"])
    monkeypatch.setattr(environment, "NVIDIA_DRIVER_FILE", tmp_path / "version")
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    visible, why = JaxBackend.gpu_status()
    assert not visible and "jax-cuda12-plugin" in why and "no NVIDIA driver" in why and "no CUDA plugin" not in why


def test_gpu_without_gpu_is_a_config_error():
    try:
        jax.devices("gpu")
        pytest.skip("a GPU is visible")
    except RuntimeError:
        pass
    with pytest.raises(ConfigError, match="gpu"):
        JaxBackend("gpu")
