"""What only the JAX backend does: Flax modules holding the canonical names, the LSTM as a
``lax.scan``, matmul precision, hand-written native modules, and why it sees no GPU. What every
backend promises is checked in tests/test_backend_contract.py."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402

from dlbench.errors import ConfigError  # noqa: E402
from dlbench.graph import LSTM, Dense, Graph, Reshape, init_weights, sequential  # noqa: E402
from dlbench.optim import OptimizerSpec  # noqa: E402
from dlbench.zoo import perceptron  # noqa: E402
from dlbench_backends.jax.backend import JaxBackend  # noqa: E402

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
