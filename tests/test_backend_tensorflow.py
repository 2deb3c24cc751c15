"""The TensorFlow backend against numpy references: layouts, forward maths, optimiser semantics."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from dlbench import registry  # noqa: E402
from dlbench.errors import ConfigError  # noqa: E402
from dlbench.graph import (  # noqa: E402
    LSTM, Activation, Add, AvgPool2d, BatchNorm, Concat, Conv2d, Dense, Dropout, Flatten, GlobalAvgPool2d,
    GraphBuilder, MaxPool2d, Reshape, init_weights, sequential,
)
from dlbench.optim import OPTIMIZERS, OptimizerSpec  # noqa: E402
from tests.plugins.numpy_backend import NumpyBackend  # noqa: E402

pytestmark = pytest.mark.tensorflow


def make(**options):
    from dlbench_backends.tensorflow.backend import TensorFlowBackend

    return TensorFlowBackend(options=options)


@pytest.fixture(scope="module", params=[True, False], ids=["xla", "noxla"])
def backend(request):
    return make(xla=request.param)


def logits(backend, graph, weights, x):
    model = backend.build(graph, weights)
    return backend.to_numpy(backend.eval_step(model)(backend.to_device(x)[0]))


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def np_conv(x, kernel, bias, stride, padding, groups=1, pad_value=0.0):
    """Grouped NHWC convolution with symmetric explicit padding, written out in numpy."""
    (sh, sw), (ph, pw) = stride, padding
    x = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=pad_value)
    kh, kw, cin_g, cout = kernel.shape
    oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, cout), np.float64)
    per_group = cout // groups
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * sh : i * sh + kh, j * sw : j * sw + kw]
            for o in range(cout):
                g = o // per_group
                out[:, i, j, o] = np.einsum("nhwc,hwc->n", patch[..., g * cin_g : (g + 1) * cin_g], kernel[..., o])
    return out + (0 if bias is None else bias)


@pytest.mark.parametrize("name", ["perceptron", "mlp", "lenet5", "alexnet", "alvinn", "lstm", "shallow_vgg"])
def test_weights_round_trip_and_params_match_the_declaration(name):
    info = registry.get_model(name)
    graph = info.build(info.input_shape or (28, 28, 1), info.num_classes)
    weights = init_weights(graph, 3)
    backend = make()
    model = backend.build(graph, weights)
    assert backend.count_params(model) == graph.count_params()
    exported = backend.export_weights(model)
    assert exported.keys() == weights.keys()
    assert all(exported[k].dtype == np.float32 and np.array_equal(exported[k], weights[k]) for k in weights)


def test_alexnet_has_the_published_parameter_count():
    info = registry.get_model("alexnet")
    graph = info.build(info.input_shape, info.num_classes)
    backend = make()
    assert backend.count_params(backend.build(graph, init_weights(graph, 0))) == (61_100_840, 0)


def test_flatten_then_dense_uses_the_channels_last_order(backend):
    graph = sequential("f", (3, 4, 5), [Flatten(), Dense(7)])
    weights = init_weights(graph, 0)
    x = rand(2, 3, 4, 5)
    expected = x.reshape(2, -1) @ weights["dense1.kernel"] + weights["dense1.bias"]
    np.testing.assert_allclose(logits(backend, graph, weights, x), expected, rtol=1e-5, atol=1e-5)


# (input size, kernel, stride, padding, groups, filters): "same"-equivalent and explicit padding,
# asymmetric kernels, grouped and depthwise (with a channel multiplier) convolutions
CONVS = [
    ((6, 6, 2), 3, 2, 1, 1, 3),  # TF "same" would pad 0/1 here: explicit padding
    ((5, 7, 2), 3, 1, 1, 1, 3),  # "same"-equivalent
    ((6, 8, 2), (3, 5), (1, 2), (1, 2), 1, 3),
    ((5, 5, 4), 3, 1, 1, 2, 6),  # grouped
    ((6, 6, 3), 3, 2, 1, 3, 6),  # depthwise, multiplier 2
]


@pytest.mark.parametrize("shape,k,stride,pad,groups,filters", CONVS)
def test_conv_matches_a_numpy_reference(backend, shape, k, stride, pad, groups, filters):
    graph = sequential("c", shape, [Conv2d(filters, k, stride=stride, padding=pad, groups=groups), Flatten(), Dense(2)])
    weights = init_weights(graph, 1)
    x = rand(2, *shape, seed=1)
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    conv = np_conv(x, weights["conv1.kernel"], weights["conv1.bias"], pair(stride), pair(pad), groups)
    expected = conv.reshape(2, -1) @ weights["dense1.kernel"] + weights["dense1.bias"]
    np.testing.assert_allclose(logits(backend, graph, weights, x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [5, 6])  # 5: TF "same" pooling is equivalent; 6: explicit -inf padding
def test_padded_max_pool_ignores_the_padding(backend, size):
    graph = sequential("p", (size, size, 1), [MaxPool2d(3, 2, padding=1), Flatten(), Dense(1, kernel_init="ones")])
    x = -1.0 - np.abs(rand(1, size, size, 1))  # all negative: zero padding would win at the borders
    padded = np.pad(x[0, ..., 0], 1, constant_values=-np.inf)
    out = (size + 2 - 3) // 2 + 1
    pooled = [padded[2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max() for i in range(out) for j in range(out)]
    assert logits(backend, graph, init_weights(graph, 0), x)[0, 0] == pytest.approx(sum(pooled), rel=1e-5)


def test_lstm_matches_a_numpy_reference(backend):
    graph = sequential("l", (5, 3, 2), [Reshape((5, 6)), LSTM(4), Dense(3)])
    weights = init_weights(graph, 1)
    x = rand(2, 5, 3, 2)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    seq, h, c = x.reshape(2, 5, 6), np.zeros((2, 4)), np.zeros((2, 4))
    for t in range(5):
        z = seq[:, t] @ weights["lstm1.kernel"] + h @ weights["lstm1.recurrent_kernel"] + weights["lstm1.bias"]
        i, f, g, o = np.split(z, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
    expected = h @ weights["dense1.kernel"] + weights["dense1.bias"]
    np.testing.assert_allclose(logits(backend, graph, weights, x), expected, rtol=1e-5, atol=1e-6)


def test_residual_concat_and_pooling_match_a_numpy_reference(backend):
    b = GraphBuilder("r", (4, 6, 2))
    y = b(Conv2d(2, 1), b.input)
    s = b(Add(), b.input, y)
    z = b.chain(b(Concat(), s, b.input), AvgPool2d(2), GlobalAvgPool2d(), Dense(3))
    graph = b.build(3)
    w = init_weights(graph, 2)
    x = rand(2, 4, 6, 2)
    s_ = x + np.einsum("nhwc,co->nhwo", x, w["conv1.kernel"][0, 0]) + w["conv1.bias"]
    cat = np.concatenate([s_, x], axis=-1)
    pooled = cat.reshape(2, 2, 2, 3, 2, 4).mean(axis=(2, 4)).mean(axis=(1, 2))
    expected = pooled @ w["dense1.kernel"] + w["dense1.bias"]
    assert z in graph.shapes
    np.testing.assert_allclose(logits(backend, graph, w, x), expected, rtol=1e-5, atol=1e-5)


def test_batch_norm_uses_running_stats_in_eval_and_updates_them_keras_style(backend):
    graph = sequential("bn", (3, 3, 4), [BatchNorm(momentum=0.8, eps=1e-3), GlobalAvgPool2d(), Dense(2)])
    w = init_weights(graph, 0)
    rng = np.random.default_rng(0)
    for name, value in [("moving_mean", rng.normal(size=4)), ("moving_var", rng.uniform(0.5, 2, 4)),
                        ("gamma", rng.normal(size=4)), ("beta", rng.normal(size=4))]:
        w[f"bn1.{name}"] = value.astype(np.float32)
    x = rand(5, 3, 3, 4)
    norm = (x - w["bn1.moving_mean"]) / np.sqrt(w["bn1.moving_var"] + 1e-3) * w["bn1.gamma"] + w["bn1.beta"]
    expected = norm.mean(axis=(1, 2)) @ w["dense1.kernel"] + w["dense1.bias"]
    model = backend.build(graph, w)
    np.testing.assert_allclose(backend.to_numpy(backend.eval_step(model)(backend.to_device(x)[0])), expected,
                               rtol=1e-5, atol=1e-5)
    backend.train_step(model, OptimizerSpec.create("sgd"), 0)(*backend.to_device(x, np.arange(5) % 2))
    # momentum weighs the old value: running = m * running + (1 - m) * batch
    np.testing.assert_allclose(backend.export_weights(model)["bn1.moving_mean"],
                               0.8 * w["bn1.moving_mean"] + 0.2 * x.mean(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimisers_follow_the_canonical_update_rules(backend, optimizer):
    graph = sequential("m", (6,), [Dense(8), Activation("tanh"), Dense(3)])
    weights = init_weights(graph, 0)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)) for _ in range(3)]
    spec = OptimizerSpec.create(optimizer, lr=0.05)
    ref = NumpyBackend()
    ref_model, model = ref.build(graph, weights), backend.build(graph, weights)
    ref_step, step = ref.train_step(ref_model, spec, 0), backend.train_step(model, spec, 0)
    for x, y in batches:
        expected = ref_step(x.astype(np.float64), y)
        assert float(step(*backend.to_device(x, y))) == pytest.approx(float(expected), rel=1e-5)
        exported = backend.export_weights(model)
        for k, v in ref.export_weights(ref_model).items():
            np.testing.assert_allclose(exported[k], v, rtol=1e-4, atol=1e-6)


def test_training_lowers_the_loss(backend):
    info = registry.get_model("mlp")
    graph = info.build((8, 8, 1), 10)
    model = backend.build(graph, init_weights(graph, 0))
    step = backend.train_step(model, OptimizerSpec.create("sgd", lr=0.1), 0)
    x, y = backend.to_device(rand(32, 8, 8, 1), np.arange(32) % 10)
    losses = [float(backend.to_numpy(step(x, y))) for _ in range(15)]
    assert losses[-1] < 0.5 * losses[0]


def test_dropout_is_seeded_and_off_in_eval(backend):
    graph = sequential("d", (16,), [Dense(32), Dropout(0.5), Dense(4)])
    w = init_weights(graph, 0)
    x, y = backend.to_device(rand(8, 16), np.arange(8) % 4)

    def first_losses(seed, g=graph):
        model = backend.build(g, w)
        step = backend.train_step(model, OptimizerSpec.create("sgd"), seed)
        return [float(backend.to_numpy(step(x, y))) for _ in range(2)]

    assert first_losses(1) == first_losses(1)
    assert first_losses(1) != first_losses(2)
    assert first_losses(1) != first_losses(1, graph.without_dropout())
    model = backend.build(graph, w)
    evaluate = backend.eval_step(model)
    np.testing.assert_array_equal(backend.to_numpy(evaluate(x)), backend.to_numpy(evaluate(x)))
    np.testing.assert_allclose(backend.to_numpy(evaluate(x)), logits(backend, graph.without_dropout(), w, x.numpy()),
                               rtol=1e-6)


@pytest.mark.parametrize("precision", ["mixed-float16", "mixed-bfloat16"])
def test_mixed_precision_keeps_float32_variables_and_loss(precision):
    from dlbench_backends.tensorflow.backend import TensorFlowBackend

    backend = TensorFlowBackend(precision=precision)
    info = registry.get_model("lenet5")
    graph = info.build(info.input_shape, 10)
    model = backend.build(graph, init_weights(graph, 0))
    step = backend.train_step(model, OptimizerSpec.create("adam"), 0)
    x, y = backend.to_device(rand(16, 28, 28, 1), np.arange(16) % 10)
    losses = [step(x, y) for _ in range(10)]
    assert losses[0].dtype == tf.float32 and float(losses[-1]) < float(losses[0])
    assert backend.to_numpy(backend.eval_step(model)(x)).dtype == np.float32
    assert all(v.dtype == np.float32 for v in backend.export_weights(model).values())
    assert backend.environment()["precision"] == precision
    assert backend.environment()["keras_dtype_policy"] == precision.replace("-", "_")


def test_flop_count_covers_a_training_step():
    backend = make()
    info = registry.get_model("lenet5")
    graph = info.build(info.input_shape, 10)
    model = backend.build(graph, init_weights(graph, 0))
    x, y = backend.to_device(np.zeros((4, 28, 28, 1), np.float32), np.zeros(4, np.int64))
    flops, method = backend.train_step_flops(model, OptimizerSpec.create("sgd"), x, y)
    analytic = 6 * graph.macs() * 4
    # TF's statistics count element-wise ops too, and its conv backprop ops generously: LeNet-5's step
    # comes to 1.38x the analytic count. A step counted twice, or its backward missed, falls outside.
    assert analytic < flops < 1.5 * analytic and "profiler" in method


def test_environment_and_device_placement():
    backend = make(xla=False)
    env = backend.environment()
    assert env["framework"] == "tensorflow" and env["xla"] is False and env["precision"] == "float32"
    assert {"tensorflow", "keras", "device_name", "threads", "interop_threads"} <= env.keys()
    x, y = backend.to_device(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert x.dtype == tf.float32 and y.dtype == tf.int64 and "CPU" in x.device
    assert backend.peak_device_memory() is None


def test_options_are_validated():
    assert make().settings == {"xla": True}
    with pytest.raises(ConfigError, match="unknown option"):
        make(jit=True)
    with pytest.raises(ConfigError, match="xla"):
        make(xla="sometimes")


def test_a_cpu_backend_has_no_accelerator():
    assert make().accelerator() is None  # so the CPU keys its tuning choices and profiles as before


def test_gpu_without_a_visible_gpu_is_a_clear_error():
    from dlbench_backends.tensorflow.backend import TensorFlowBackend

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="sees no GPU"):
        TensorFlowBackend(device="gpu")
