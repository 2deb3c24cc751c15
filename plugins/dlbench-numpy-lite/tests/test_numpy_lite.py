"""The template's own tests: the weights in and out, a training step and the update rules against
hand computations, and the two commands a user runs first (``dlbench run``, ``dlbench verify``)
through the command line. Renaming the backend: change NAME."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from dlbench import registry
from dlbench.errors import ConfigError
from dlbench.graph import Activation, Dense, Flatten, init_weights, sequential
from dlbench.optim import OPTIMIZERS, OptimizerSpec

NAME = "numpy_lite"


@pytest.fixture(scope="module")
def backend_cls():
    """The class as dlbench finds it: through the installed entry point."""
    if NAME not in registry.list_backends():
        pytest.fail(f"dlbench finds no backend {NAME!r}: install this package (pip install -e PATH) so that its "
                    f"entry point registers it")
    return registry.get_backend(NAME).load()


def dlbench(*args, tmp_path) -> subprocess.CompletedProcess:
    """``dlbench ARGS`` in a fresh process, bounded, with a cache of its own."""
    env = {**os.environ, "DLBENCH_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "dlbench.cli", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_canonical_weights_go_in_and_come_back_as_copies(backend_cls, dtype):
    backend = backend_cls(dtype=dtype)
    graph = registry.get_model("mlp").build((8, 8, 1), 10)
    weights = {k: v.astype(dtype) for k, v in init_weights(graph, 0).items()}
    model = backend.build(graph, weights)
    exported = backend.export_weights(model)
    assert exported.keys() == weights.keys() and backend.count_params(model) == graph.count_params()
    for k, v in weights.items():
        assert exported[k].dtype == dtype and np.array_equal(exported[k], v), k
    exported["dense1.kernel"][:] = 0
    weights["dense1.bias"][:] = 7
    assert np.array_equal(backend.export_weights(model)["dense1.kernel"], init_weights(graph, 0)["dense1.kernel"])
    assert not backend.export_weights(model)["dense1.bias"].any()


def test_a_training_step_equals_the_hand_computation(backend_cls):
    """x = (1, 2) through Dense [[1, 0], [0, -1]] -> relu -> Dense (identity), label 0, sgd with lr 0.5.

    Forward: z = (1, -2), a = relu(z) = (1, 0), logits = (1, 0); softmax p = (1 - q, q) with
    q = 1 / (1 + e); loss = -ln(1 - q) = ln(1 + 1/e). Backward: dlogits = p - (1, 0) = (-q, q);
    dK2 = a^T dlogits = [[-q, q], [0, 0]], db2 = (-q, q); da = dlogits K2^T = (-q, q), dz = da *
    relu'(z) = (-q, 0); dK1 = x^T dz = [[-q, 0], [-2q, 0]], db1 = (-q, 0). Each weight moves by -0.5 x
    its gradient."""
    backend = backend_cls(dtype="float64")
    graph = sequential("hand", (1, 2, 1), [Flatten(), Dense(2), Activation("relu"), Dense(2)])
    weights = {"dense1.kernel": np.array([[1.0, 0.0], [0.0, -1.0]]), "dense1.bias": np.zeros(2),
               "dense2.kernel": np.eye(2), "dense2.bias": np.zeros(2)}
    model = backend.build(graph, weights)
    x, y = backend.to_device(np.array([[[[1.0], [2.0]]]], np.float32), np.array([0]))
    np.testing.assert_allclose(backend.to_numpy(backend.eval_step(model)(x)), [[1.0, 0.0]])

    loss = backend.train_step(model, OptimizerSpec.create("sgd", lr=0.5), 0)(x, y)

    q = 1 / (1 + math.e)
    assert float(backend.to_numpy(loss)) == pytest.approx(math.log(1 + 1 / math.e), rel=1e-12)
    expected = {"dense1.kernel": [[1 + q / 2, 0], [q, -1]], "dense1.bias": [q / 2, 0],
                "dense2.kernel": [[1 + q / 2, -q / 2], [0, 1]], "dense2.bias": [q / 2, -q / 2]}
    trained = backend.export_weights(model)
    for k, v in expected.items():
        np.testing.assert_allclose(trained[k], v, rtol=1e-12, atol=1e-15, err_msg=k)


#: a parameter at 1.0 given the gradients 0.5, then -0.25, with lr 0.1: its value after each step,
#: worked out from dlbench.optim's rules with their default hyperparameters
BY_HAND = {
    "sgd": (1 - 0.05, 0.95 + 0.025),
    # m = 0.5, then 0.9 * 0.5 - 0.25 = 0.2
    "momentum": (0.95, 0.95 - 0.02),
    # v = 0.25, then 0.3125; each step lr * g / sqrt(v)
    "adagrad": (1 - 0.1, 0.9 + 0.025 / math.sqrt(0.3125)),
    # v = 0.01 * 0.25 = 0.0025, then 0.99 * 0.0025 + 0.01 * 0.0625 = 0.0031
    "rmsprop": (1 - 0.05 / 0.05, 0.025 / math.sqrt(0.0031)),
    # first step: m-hat = 0.5, v-hat = 0.25; second: m = 0.02 and v = 0.00031225, corrected by
    # 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999
    "adam": (0.9, 0.9 - 0.1 * (0.02 / 0.19) / math.sqrt(0.00031225 / 0.001999)),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimiser_follows_its_update_rule_by_hand(name):
    from dlbench_numpy_lite.optim import Optimizer

    weights = {"p": np.array([1.0])}
    optimizer = Optimizer(OptimizerSpec.create(name, lr=0.1), weights)
    for gradient, expected in zip((0.5, -0.25), BY_HAND[name]):
        optimizer.update(weights, {"p": np.array([gradient])})
        assert weights["p"][0] == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_dlbench_run_trains_an_epoch_and_writes_its_record(backend_cls, tmp_path):
    ran = dlbench("run", "-b", NAME, "-m", "perceptron", "-d", "digits", "--epochs", "1", "--timeout", "120",
                  "--output", str(tmp_path / "out"), tmp_path=tmp_path)
    assert ran.returncode == 0, ran.stderr
    (path,) = (tmp_path / "out").glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "ok" and record["config"]["backend"] == NAME
    assert record["environment"]["framework"] == "numpy"


def test_dlbench_verify_agrees_with_torch(backend_cls, tmp_path):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    verified = dlbench("verify", "-m", "perceptron", "-b", f"torch,{NAME}", "--timeout", "240", tmp_path=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "PASS" in verified.stdout and "FAIL" not in verified.stdout


def test_a_model_with_other_layers_is_refused_before_any_worker_naming_them(backend_cls, tmp_path):
    ran = dlbench("run", "-b", NAME, "-m", "lenet5", "--timeout", "60", "--output", str(tmp_path / "out"),
                  tmp_path=tmp_path)
    assert ran.returncode == 2 and f"backend {NAME!r} cannot build model 'lenet5': no avgpool, conv, tanh layer" in ran.stderr
    assert not (tmp_path / "out").exists()  # no worker started, so no record
    lenet5 = registry.get_model("lenet5").build((28, 28, 1), 10)
    with pytest.raises(ConfigError, match=f"{NAME}: cannot build lenet5: no avgpool, conv, tanh layer"):
        backend_cls().build(lenet5, init_weights(lenet5, 0))
