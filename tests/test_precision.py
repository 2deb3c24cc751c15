"""--precision: each backend honours float32 and mixed precision on the CPU, refuses TF32 there
with a clear error that loses nothing, records what it used, and verify compares bfloat16 runs."""

import importlib.util
import json

import numpy as np
import pytest
from click.testing import CliRunner

from dlbench import registry
from dlbench.cli import cli
from dlbench.errors import ConfigError
from dlbench.graph import init_weights
from dlbench.execution.verify import Tolerance
from dlbench.optim import OptimizerSpec

BACKENDS = {"torch": "torch", "tensorflow": "tensorflow", "jax": "flax"}
CPU_OK = ("float32", "mixed-float16", "mixed-bfloat16")


def backend_cls(name: str):
    pytest.importorskip(BACKENDS[name])
    return registry.get_backend(name).load()


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("name", BACKENDS)
def test_cpu_honours_float32_and_mixed_and_refuses_tf32(name):
    cls = backend_cls(name)
    assert cls.precisions["cpu"] == CPU_OK and "tf32" in cls.precisions["gpu"]
    for precision in CPU_OK:
        assert cls(precision=precision).environment()["precision"] == precision
    with pytest.raises(ConfigError, match=rf"{name}: cannot compute in tf32 on cpu: tf32 needs an NVIDIA GPU "
                                          r"\(Ampere or newer\); accepted on cpu: float32, mixed-float16"):
        cls(precision="tf32")
    with pytest.raises(ConfigError, match="contradicts computing in float64"):
        cls(precision="mixed-bfloat16", dtype="float64")


@pytest.mark.parametrize("name", BACKENDS)
def test_mixed_precision_computes_low_and_keeps_float32_state(name):
    """Logits move by the low format's rounding (so it really ran in it), no more; weights,
    logits and loss stay float32."""
    cls = backend_cls(name)
    info = registry.get_model("lenet5")
    graph = info.build(info.input_shape, 10)
    x = np.random.default_rng(0).standard_normal((8, 28, 28, 1)).astype(np.float32)
    y = np.arange(8) % 10
    logits, losses = {}, {}
    for precision, bound in (("float32", None), ("mixed-float16", 5e-3), ("mixed-bfloat16", 3e-2)):
        backend = cls(precision=precision)
        model = backend.build(graph, init_weights(graph, 0))
        xd, yd = backend.to_device(x, y)
        logits[precision] = backend.to_numpy(backend.eval_step(model)(xd))
        assert logits[precision].dtype == np.float32
        step = backend.train_step(model, OptimizerSpec.create("adam"), 0)
        losses[precision] = [backend.to_numpy(step(xd, yd)) for _ in range(3)]
        assert losses[precision][0].dtype == np.float32 and losses[precision][-1] < losses[precision][0]
        assert {str(w.dtype) for w in backend.export_weights(model).values()} == {"float32"}
        if bound is not None:
            rel = np.abs(logits[precision] - logits["float32"]).max() / np.abs(logits["float32"]).max()
            assert 1e-5 < rel < bound, (precision, rel)


def test_a_refused_precision_fails_clearly_and_loses_nothing(test_plugins, tmp_path):
    ok = invoke("run", "-b", "numpy", "-m", "mlp", "--steps", "2", "--timeout", "120", "--output", str(tmp_path), "-q")
    assert ok.exit_code == 0
    earlier = {p: p.read_bytes() for p in tmp_path.glob("*.json")}
    out = invoke("run", "-b", "numpy", "-m", "mlp", "--steps", "2", "--precision", "mixed-bfloat16",
                 "--timeout", "120", "--output", str(tmp_path), "-q")
    assert out.exit_code == 1 and "numpy: cannot compute in mixed-bfloat16 on cpu; accepted on cpu: float32" in out.stderr
    assert all(p.read_bytes() == data for p, data in earlier.items())


def test_tf32_on_the_cpu_exits_non_zero_and_keeps_earlier_records(tmp_path):
    backend_cls("torch")
    (tmp_path / "earlier.json").write_text('{"kept": true}')
    out = invoke("run", "-b", "torch", "-m", "perceptron", "-d", "synthetic", "--steps", "2", "--precision", "tf32",
                 "--no-tune", "--timeout", "600", "--output", str(tmp_path), "-q")
    assert out.exit_code == 1 and "tf32 needs an NVIDIA GPU (Ampere or newer)" in out.stderr
    assert (tmp_path / "earlier.json").read_text() == '{"kept": true}'


@pytest.mark.parametrize("name", BACKENDS)
def test_mixed_bfloat16_run_records_its_precision(name, tmp_path):
    backend_cls(name)
    out = invoke("run", "-b", name, "-m", "lenet5", "-d", "synthetic", "--steps", "3", "--warmup", "1",
                 "--batch-size", "16", "--precision", "mixed-bfloat16", "--no-tune", "--json", "-q",
                 "--timeout", "600", "--output", str(tmp_path))
    assert out.exit_code == 0, out.output
    record = json.loads(out.stdout)
    assert record["config"]["precision"] == record["environment"]["precision"] == "mixed-bfloat16"
    assert np.isfinite(record["loss"]["final"])


def test_bfloat16_tolerance_is_wider_than_float32():
    assert Tolerance.default("float32", "mixed-bfloat16") == Tolerance(2e-2, 5e-2)
    assert Tolerance.default("float32", "float32") == Tolerance()
    assert Tolerance.default("float64", "float32") == Tolerance(1e-10, 1e-8)


def test_verify_mixed_bfloat16_passes_across_backends():
    names = [n for n, module in BACKENDS.items() if importlib.util.find_spec(module)]
    if len(names) < 2:
        pytest.skip("needs two installed backends")
    out = invoke("verify", "-m", "lenet5", "-b", ",".join(names), "--steps", "3", "--precision", "mixed-bfloat16",
                 "--timeout", "600")
    assert out.exit_code == 0, out.output
    assert out.stdout.count("PASS") == len(names) * (len(names) - 1) // 2
