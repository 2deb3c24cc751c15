"""`dlbench verify`: backends compared pairwise, each in its own process.

Every check verify makes is shown to fail on a case built to break it, beside the case it passes:
initial logits (``compare`` on hand-made outputs), the training comparison (``numpy`` against the
``skewed`` copy with a wrong learning rate: identical initial logits, different training), a
crashing, hanging or unable backend. The cross-framework cases are heavy and marked ``slow``.
"""

import time

import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from dlbench.config import RunConfig
from dlbench.execution.verify import Tolerance, compare, verify
from tests.conftest import TEST_PLUGINS, has, registered_test_plugins

FRAMEWORKS = [b for b, module in (("torch", "torch"), ("tensorflow", "tensorflow"), ("jax", "flax")) if has(module)]
needs_two = pytest.mark.skipif(len(FRAMEWORKS) < 2, reason="verify needs two installed framework backends")
#: bound on every verify in this file, per backend worker: a hung worker fails the test instead of CI
TIMEOUT_S = "900"
#: a test's bound lies above its (up to three) workers' own, which report a hung one more clearly
pytestmark = pytest.mark.timeout(3 * int(TIMEOUT_S) + 300)
# (batch size, steps, learning rate). In float32 the deep models amplify round-off within a few SGD
# steps (one framework drifts ~1 % from its own float64 run in 20; batch norm over a batch of two
# amplifies most), so their float32 check is short, at a small learning rate, and the long one runs
# in float64, where the frameworks agree to ~1e-12 (see dlbench.measure.verify). Deep models whose
# float64 case below proves the same layers are not repeated in float32.
MODELS = {"perceptron": (8, 20, 0.01), "mlp": (8, 20, 0.01), "lenet5": (8, 20, 0.01), "alvinn": (8, 20, 0.01),
          "lstm": (8, 20, 0.01), "alexnet": (4, 3, 0.01)}
FLOAT64 = {"shallow_vgg": (8, 20), "alexnet": (2, 3), "mobilenet_v2": (2, 3), "resnet50": (2, 2), "vgg16": (1, 2)}


@pytest.fixture
def verify_plugins(monkeypatch):
    """The numpy reference backend, its ``skewed`` copy and the tiny model, here and in the workers."""
    with registered_test_plugins(monkeypatch, (*TEST_PLUGINS, "tests.plugins.skewed_backend")):
        yield


def run_cli(*args):
    return CliRunner().invoke(cli, ["verify", "--timeout", TIMEOUT_S, *args])


def output(logits, losses, params=(10, 0), after=None):
    return {"logits_before": logits, "logits_after": logits if after is None else after, "losses": losses,
            "params": list(params), "declared_params": list(params)}


# -- compare(): each criterion passes within its bound and fails beyond it ----------------------
def test_compare_passes_within_and_fails_beyond_tolerance():
    a = output([[1.0, -2.0]], [2.3, 2.1])
    close = output([[1.0 + 1e-6, -2.0]], [2.3, 2.1000001])
    far = output([[1.1, -2.0]], [2.3, 2.1])
    assert compare("a", a, "b", close, Tolerance())["ok"]
    row = compare("a", a, "c", far, Tolerance())
    assert not row["ok"] and row["logits rel"] == pytest.approx(0.05)
    assert not compare("a", a, "d", output([[1.0, -2.0]], [2.3, 2.1], params=(11, 0)), Tolerance())["ok"]


def test_compare_fails_on_training_alone():
    """Equal initial logits; only the trained logits, or only the losses, differ."""
    a = output([[1.0, -2.0]], [2.3, 2.1], after=[[0.5, -1.0]])
    trained_apart = output([[1.0, -2.0]], [2.3, 2.1], after=[[0.6, -1.0]])
    loss_apart = output([[1.0, -2.0]], [2.3, 2.2], after=[[0.5, -1.0]])
    for other in (trained_apart, loss_apart):
        row = compare("a", a, "b", other, Tolerance())
        assert row["logits rel"] == 0 and not row["ok"]
    assert compare("a", a, "b", trained_apart, Tolerance(trained=0.2))["ok"]  # within a looser bound


# -- the command, on the numpy reference and its skewed copy ------------------------------------
def test_needs_two_backends_and_known_names():
    out = CliRunner().invoke(cli, ["verify", "-m", "mlp", "-b", "torch"])
    assert out.exit_code == 2 and "need at least two backends" in out.output
    out = CliRunner().invoke(cli, ["verify", "-m", "mlp", "-b", "torch,caffe"])
    assert out.exit_code == 2 and "unknown backend 'caffe'" in out.output


def test_training_comparison_catches_an_optimiser_bug(verify_plugins):
    """Deleting verify's training comparison makes this test fail: the skewed run starts from the
    same logits (difference exactly 0) and differs only in how it trains."""
    base = dict(model="mlp", dataset="synthetic", batch_size=8, steps=10, optimizer="sgd", timeout=120)
    same, errors = verify(RunConfig(**base), ["numpy", "skewed"], Tolerance())
    assert not errors and same[0]["ok"] and same[0]["trained logits rel"] == 0 and same[0]["loss max rel"] == 0
    (row,), errors = verify(RunConfig(**base, backend_options={"lr_scale": 1.5}), ["numpy", "skewed"], Tolerance())
    assert not errors and row["logits rel"] == 0 and row["params equal"]
    assert row["trained logits rel"] > 1e-2 and row["loss max rel"] > 1e-3 and not row["ok"]

    out = run_cli("-m", "mlp", "-b", "numpy,skewed", "--steps", "10", "-o", "lr_scale=1.5")
    assert out.exit_code == 1 and "numpy vs skewed" in out.output and "FAIL" in out.output


def test_a_crashing_backend_fails_the_verification(verify_plugins):
    out = run_cli("-m", "mlp", "-b", "numpy,numpy", "-o", "crash=exception")
    assert out.exit_code == 2 and "need at least two backends" in out.output  # one backend twice is one
    out = run_cli("-m", "mlp", "-b", "numpy,skewed", "--steps", "2", "-o", "crash=exception")
    assert out.exit_code == 1
    assert "error: numpy: RuntimeError: numpy backend crashed on purpose" in out.output
    assert "error: skewed" not in out.output  # the other backend ran (it has no crash option)


def test_a_backend_that_cannot_build_the_model_is_refused_before_any_worker_runs(verify_plugins):
    out = run_cli("-m", "lenet5", "-b", "torch,numpy", "--steps", "2")
    assert out.exit_code == 2 and "backend 'numpy' cannot build model 'lenet5': no avgpool, conv layer" in out.output
    assert "verify: running" not in out.output  # torch did not run first


def test_a_hung_backend_is_killed_at_the_timeout(verify_plugins):
    start = time.monotonic()
    out = CliRunner().invoke(cli, ["verify", "-m", "mlp", "-b", "numpy,skewed", "--steps", "2", "-o", "crash=hang",
                                   "--timeout", "5"])
    assert time.monotonic() - start < 120  # the hang is an hour
    assert out.exit_code == 1 and "error: numpy: timeout: exceeded the timeout of 5 s and was killed" in out.output


def test_float64_needs_a_backend_that_computes_in_it(verify_plugins):
    out = run_cli("-m", "mlp", "-b", "numpy,skewed", "--dtype", "float64", "--steps", "2")
    assert out.exit_code == 1 and "numpy: cannot compute in float64; this backend supports: float32" in out.output


@pytest.mark.torch
@pytest.mark.skipif(not has("torch"), reason="torch is not installed")
def test_torch_agrees_with_the_numpy_reference(verify_plugins):
    out = run_cli("-m", "mlp", "-b", "numpy,torch", "--optimizer", "adam")
    assert out.exit_code == 0, out.output
    assert "numpy vs torch" in out.output and "PASS" in out.output


# -- across frameworks ----------------------------------------------------------------------------
@needs_two
@pytest.mark.parametrize("model", ["concat_net", "flatten_concat_net"])
def test_concat_agrees_across_frameworks(monkeypatch, model):
    """The Concat layer (no built-in model has one) through test models: two branches whose channel
    order matters to the dense layer after them, concatenated as images or already flattened (torch
    once read the second in its own channels-first order)."""
    with registered_test_plugins(monkeypatch, ("tests.plugins.concat_model",)):
        out = run_cli("-m", model, "-b", ",".join(FRAMEWORKS), "--steps", "5")
    assert out.exit_code == 0, out.output
    assert out.output.count("PASS") == len(FRAMEWORKS) * (len(FRAMEWORKS) - 1) // 2


@needs_two
def test_a_plugin_layer_agrees_across_frameworks():
    """The example plugin's Swish layer (with a learned weight) on the backends it implements."""
    pytest.importorskip("dlbench_example_plugin")
    out = run_cli("-m", "swish_net", "-b", ",".join(FRAMEWORKS), "--steps", "5")
    assert out.exit_code == 0, out.output
    assert out.output.count("PASS") == len(FRAMEWORKS) * (len(FRAMEWORKS) - 1) // 2


@pytest.mark.slow
@needs_two
@pytest.mark.parametrize("model", MODELS)
def test_every_model_agrees_across_frameworks(model):
    batch, steps, lr = MODELS[model]
    out = run_cli("-m", model, "-b", ",".join(FRAMEWORKS), "--batch-size", str(batch), "--steps", str(steps),
                  "--lr", str(lr))
    assert out.exit_code == 0, out.output
    assert out.output.count("PASS") == len(FRAMEWORKS) * (len(FRAMEWORKS) - 1) // 2


@pytest.mark.slow
@needs_two
@pytest.mark.parametrize("model", FLOAT64)
def test_deep_models_train_the_same_in_float64(model):
    batch, steps = FLOAT64[model]
    out = run_cli("-m", model, "-b", ",".join(FRAMEWORKS), "--batch-size", str(batch), "--steps", str(steps),
                  "--dtype", "float64", "--lr", "0.001")
    assert out.exit_code == 0, out.output
    assert out.output.count("PASS") == len(FRAMEWORKS) * (len(FRAMEWORKS) - 1) // 2


@pytest.mark.slow
@needs_two
@pytest.mark.parametrize("optimizer", ["momentum", "adagrad", "rmsprop", "adam"])
def test_every_optimiser_agrees_across_frameworks(optimizer):
    out = run_cli("-m", "lenet5", "-b", ",".join(FRAMEWORKS), "--optimizer", optimizer, "--steps", "10")
    assert out.exit_code == 0, out.output
