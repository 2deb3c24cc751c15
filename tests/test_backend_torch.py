"""The PyTorch backend against numpy references: layouts, forward maths, optimiser semantics."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dlbench import registry  # noqa: E402
from dlbench.graph import (  # noqa: E402
    LSTM, Activation, Add, AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, GlobalAvgPool2d, GraphBuilder, MaxPool2d,
    Reshape, init_weights, sequential,
)
from dlbench.optim import OPTIMIZERS, OptimizerSpec  # noqa: E402
from tests.plugins.numpy_backend import NumpyBackend  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def backend():
    from dlbench_backends.torch.backend import TorchBackend

    return TorchBackend()


def logits(backend, graph, weights, x):
    model = backend.build(graph, weights)
    return backend.to_numpy(backend.eval_step(model)(backend.to_device(x)[0]))


@pytest.mark.parametrize("name", ["perceptron", "mlp", "lenet5", "alexnet", "alvinn", "shallow_vgg", "resnet50",
                                  "mobilenet_v2", "lstm"])
def test_weights_round_trip_and_params_match_the_declaration(backend, name):
    info = registry.get_model(name)
    graph = info.build(info.input_shape or (28, 28, 1), info.num_classes)
    weights = init_weights(graph, 3)
    model = backend.build(graph, weights)
    assert backend.count_params(model) == graph.count_params()
    exported = backend.export_weights(model)
    assert exported.keys() == weights.keys()
    assert all(np.array_equal(exported[k], weights[k]) for k in weights)


def test_flatten_then_dense_uses_the_channels_last_order(backend):
    graph = sequential("f", (3, 4, 5), [Flatten(), Dense(7)])
    weights = init_weights(graph, 0)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    expected = x.reshape(2, -1) @ weights["dense1.kernel"] + weights["dense1.bias"]
    np.testing.assert_allclose(logits(backend, graph, weights, x), expected, rtol=1e-5, atol=1e-5)


def test_conv_matches_a_numpy_reference(backend):
    graph = sequential("c", (6, 6, 2), [Conv2d(3, 3, stride=2, padding=1), Flatten(), Dense(2)])
    weights = init_weights(graph, 1)
    x = np.random.default_rng(1).standard_normal((1, 6, 6, 2)).astype(np.float32)
    k, b = weights["conv1.kernel"], weights["conv1.bias"]
    padded = np.pad(x[0], ((1, 1), (1, 1), (0, 0)))
    conv = np.stack([[np.einsum("hwi,hwio->o", padded[2 * i : 2 * i + 3, 2 * j : 2 * j + 3], k) + b
                      for j in range(3)] for i in range(3)])
    expected = conv.reshape(1, -1) @ weights["dense1.kernel"] + weights["dense1.bias"]
    np.testing.assert_allclose(logits(backend, graph, weights, x), expected, rtol=1e-5, atol=1e-5)


def test_lstm_matches_a_numpy_reference(backend):
    graph = sequential("l", (5, 3, 2), [Reshape((5, 6)), LSTM(4), Dense(3)])
    weights = init_weights(graph, 1)
    x = np.random.default_rng(0).standard_normal((2, 5, 3, 2)).astype(np.float32)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    seq, h, c = x.reshape(2, 5, 6), np.zeros((2, 4)), np.zeros((2, 4))
    for t in range(5):
        z = seq[:, t] @ weights["lstm1.kernel"] + h @ weights["lstm1.recurrent_kernel"] + weights["lstm1.bias"]
        i, f, g, o = np.split(z, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
    expected = h @ weights["dense1.kernel"] + weights["dense1.bias"]
    np.testing.assert_allclose(logits(backend, graph, weights, x), expected, rtol=1e-5, atol=1e-6)


def test_padded_max_pool_ignores_the_padding(backend):
    graph = sequential("p", (2, 2, 1), [MaxPool2d(3, 1, padding=1), Flatten(), Dense(1, kernel_init="ones")])
    x = -np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1)  # all negative: zero padding would win
    assert logits(backend, graph, init_weights(graph, 0), x)[0, 0] == pytest.approx(4 * -1.0)


def test_residual_graph_with_batch_norm_and_pooling(backend):
    b = GraphBuilder("r", (8, 8, 3))
    x = b.chain(b.input, Conv2d(4, 3, padding=1), BatchNorm(), Activation("relu"))
    y = b.chain(x, Conv2d(4, 3, padding=1, use_bias=False), BatchNorm())
    z = b.chain(b(Add(), x, y), AvgPool2d(2), GlobalAvgPool2d(), Dense(5))
    graph = b.build(5)
    model = backend.build(graph, init_weights(graph, 0))
    assert backend.count_params(model) == graph.count_params()
    step = backend.train_step(model, OptimizerSpec.create("sgd"), 0)
    xb, yb = backend.to_device(np.random.default_rng(0).standard_normal((4, 8, 8, 3)).astype(np.float32), np.arange(4))
    step(xb, yb)
    stats = backend.export_weights(model)
    assert not np.allclose(stats["bn1.moving_mean"], 0)  # running statistics were updated in training
    assert z in graph.shapes


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimisers_follow_the_canonical_update_rules(backend, optimizer):
    graph = sequential("m", (6,), [Dense(8), Activation("tanh"), Dense(3)])
    weights = init_weights(graph, 0)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)) for _ in range(4)]
    spec = OptimizerSpec.create(optimizer, lr=0.05)
    ref, ours = NumpyBackend(), backend
    ref_model, model = ref.build(graph, weights), ours.build(graph, weights)
    ref_step, step = ref.train_step(ref_model, spec, 0), ours.train_step(model, spec, 0)
    for x, y in batches:
        expected = ref_step(x.astype(np.float64), y)
        assert float(step(*ours.to_device(x, y))) == pytest.approx(float(expected), rel=1e-5)
    exported = ours.export_weights(model)
    for k, v in ref.export_weights(ref_model).items():
        np.testing.assert_allclose(exported[k], v, rtol=1e-4, atol=1e-6)


def test_flop_counter_counts_a_training_step(backend):
    info = registry.get_model("lenet5")
    graph = info.build(info.input_shape, 10)
    model = backend.build(graph, init_weights(graph, 0))
    x, y = backend.to_device(np.zeros((4, 28, 28, 1), np.float32), np.zeros(4, np.int64))
    flops, method = backend.train_step_flops(model, OptimizerSpec.create("sgd"), x, y)
    analytic = 6 * graph.macs() * 4
    # The first conv needs no input gradient, so the framework counts a little less than 3x forward.
    assert 0.85 * analytic < flops <= analytic and "flop_counter" in method


def test_a_cpu_backend_has_no_accelerator(backend):
    assert backend.accelerator() is None  # so the CPU keys its tuning choices and profiles as before


def test_a_cuda_build_without_a_driver_says_so(monkeypatch, tmp_path):
    from dlbench import environment
    from dlbench_backends.torch.backend import TorchBackend

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(environment, "NVIDIA_DRIVER_FILE", tmp_path / "version")
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    visible, why = TorchBackend.gpu_status()
    assert not visible and "no NVIDIA driver" in why and "CPU-only" not in why, why
    (tmp_path / "version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 2025\n")
    visible, why = TorchBackend.gpu_status()
    assert not visible and "cuda 13.0" in why and "580.65.06" in why and "no NVIDIA driver" not in why, why


def test_gpu_without_cuda_is_a_clear_error():
    from dlbench.errors import ConfigError
    from dlbench_backends.torch.backend import TorchBackend

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="no CUDA device"):
        TorchBackend(device="gpu")


def test_batch_norm_running_variance_is_the_biased_estimate(backend):
    graph = sequential("bn", (4,), [BatchNorm(momentum=0.5), Dense(2)])
    model = backend.build(graph, init_weights(graph, 0))
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    backend.train_step(model, OptimizerSpec.create("sgd"), 0)(*backend.to_device(x, np.zeros(6, np.int64)))
    stats = backend.export_weights(model)
    np.testing.assert_allclose(stats["bn1.moving_var"], 0.5 * 1.0 + 0.5 * x.var(axis=0), rtol=1e-5)
    np.testing.assert_allclose(stats["bn1.moving_mean"], 0.5 * x.mean(axis=0), rtol=1e-5, atol=1e-7)


def test_exported_weights_are_copies(backend):
    graph = sequential("m", (3,), [Dense(2)])
    model = backend.build(graph, init_weights(graph, 0))
    before = backend.export_weights(model)
    snapshot = {k: v.copy() for k, v in before.items()}
    backend.train_step(model, OptimizerSpec.create("sgd", lr=1.0), 0)(*backend.to_device(np.ones((2, 3), np.float32), np.zeros(2, np.int64)))
    assert all(np.array_equal(before[k], snapshot[k]) for k in before)
