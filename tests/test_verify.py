"""`dlbench verify`: backends compared pairwise, each in its own process."""

import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from dlbench.measure.verify import Tolerance, compare
from tests.conftest import has

FRAMEWORKS = [b for b, module in (("torch", "torch"), ("tensorflow", "tensorflow"), ("jax", "flax")) if has(module)]
needs_two = pytest.mark.skipif(len(FRAMEWORKS) < 2, reason="verify needs two installed framework backends")
# (batch size, steps, learning rate). In float32 the deep models amplify round-off within a few SGD
# steps (one framework drifts ~1 % from its own float64 run in 20; batch norm over a batch of two
# amplifies most), so their float32 check is short, at a small learning rate, and the long one runs
# in float64, where the frameworks agree to ~1e-12 (see dlbench.measure.verify).
MODELS = {"perceptron": (8, 20, 0.01), "mlp": (8, 20, 0.01), "lenet5": (8, 20, 0.01), "alvinn": (8, 20, 0.01),
          "lstm": (8, 20, 0.01), "alexnet": (4, 3, 0.01), "shallow_vgg": (4, 1, 0.01),
          "mobilenet_v2": (2, 1, 0.001), "resnet50": (2, 1, 0.001), "vgg16": (1, 1, 0.01)}
FLOAT64 = {"shallow_vgg": (8, 20), "alexnet": (2, 3), "mobilenet_v2": (2, 3), "resnet50": (2, 2), "vgg16": (1, 2)}


def output(logits, losses, params=(10, 0)):
    return {"logits_before": logits, "logits_after": logits, "losses": losses, "params": list(params),
            "declared_params": list(params)}


def test_compare_passes_within_and_fails_beyond_tolerance():
    a = output([[1.0, -2.0]], [2.3, 2.1])
    close = output([[1.0 + 1e-6, -2.0]], [2.3, 2.1000001])
    far = output([[1.1, -2.0]], [2.3, 2.1])
    assert compare("a", a, "b", close, Tolerance())["ok"]
    row = compare("a", a, "c", far, Tolerance())
    assert not row["ok"] and row["logits rel"] == pytest.approx(0.05)
    assert not compare("a", a, "d", output([[1.0, -2.0]], [2.3, 2.1], params=(11, 0)), Tolerance())["ok"]


def test_needs_two_backends_and_known_names():
    out = CliRunner().invoke(cli, ["verify", "-m", "mlp", "-b", "torch"])
    assert out.exit_code == 2 and "need at least two backends" in out.output
    out = CliRunner().invoke(cli, ["verify", "-m", "mlp", "-b", "torch,caffe"])
    assert out.exit_code == 2 and "unknown backend 'caffe'" in out.output


@pytest.mark.skipif(not has("torch"), reason="torch is not installed")
def test_torch_agrees_with_the_numpy_reference(test_plugins):
    out = CliRunner().invoke(cli, ["verify", "-m", "mlp", "-b", "numpy,torch", "--optimizer", "adam"])
    assert out.exit_code == 0, out.output
    assert "numpy vs torch" in out.output and "PASS" in out.output


def test_a_failing_backend_fails_the_verification(test_plugins):
    out = CliRunner().invoke(cli, ["verify", "-m", "mlp", "-b", "numpy,numpy", "-o", "crash=exception"])
    assert out.exit_code == 2  # one backend twice is one backend
    out = CliRunner().invoke(cli, ["verify", "-m", "lenet5", "-b", "numpy,torch" if has("torch") else "numpy,jax"])
    assert out.exit_code == 1 and "numpy backend: no conv layer" in out.output


@pytest.mark.skipif(not FRAMEWORKS, reason="needs one installed framework backend")
def test_float64_needs_a_backend_that_computes_in_it(test_plugins):
    out = CliRunner().invoke(cli, ["verify", "-m", "mlp", "-b", f"numpy,{FRAMEWORKS[0]}", "--dtype", "float64"])
    assert out.exit_code == 1 and "numpy: cannot compute in float64; this backend supports: float32" in out.output


@needs_two
@pytest.mark.parametrize("model", MODELS)
def test_every_model_agrees_across_frameworks(model):
    batch, steps, lr = MODELS[model]
    out = CliRunner().invoke(cli, ["verify", "-m", model, "-b", ",".join(FRAMEWORKS), "--batch-size", str(batch),
                                   "--steps", str(steps), "--lr", str(lr)])
    assert out.exit_code == 0, out.output
    assert out.output.count("PASS") == len(FRAMEWORKS) * (len(FRAMEWORKS) - 1) // 2


@needs_two
@pytest.mark.parametrize("model", FLOAT64)
def test_deep_models_train_the_same_in_float64(model):
    batch, steps = FLOAT64[model]
    out = CliRunner().invoke(cli, ["verify", "-m", model, "-b", ",".join(FRAMEWORKS), "--batch-size", str(batch),
                                   "--steps", str(steps), "--dtype", "float64", "--lr", "0.001"])
    assert out.exit_code == 0, out.output
    assert out.output.count("PASS") == len(FRAMEWORKS) * (len(FRAMEWORKS) - 1) // 2


@needs_two
@pytest.mark.parametrize("optimizer", ["momentum", "adagrad", "rmsprop", "adam"])
def test_every_optimiser_agrees_across_frameworks(optimizer):
    out = CliRunner().invoke(cli, ["verify", "-m", "lenet5", "-b", ",".join(FRAMEWORKS), "--optimizer", optimizer,
                                   "--steps", "10"])
    assert out.exit_code == 0, out.output
