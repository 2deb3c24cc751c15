"""`dlbench run` on the torch backend, through the isolated runner, as a user types it."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from tests.conftest import has

pytestmark = [pytest.mark.torch, pytest.mark.skipif(not has("torch"), reason="torch is not installed")]
FASHION = Path("/usr/share/datasets/fashion-mnist")


def run(tmp_path, *args) -> dict:
    """A bounded torch run at the framework's defaults (tuning is tested in test_tuning.py)."""
    out = CliRunner().invoke(cli, ["run", "-b", "torch", "--no-tune", "--timeout", "600", "--output", str(tmp_path),
                                   "--json", "-q", *args])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def test_alexnet_reports_published_counts_and_every_speed_metric(tmp_path):
    r = run(tmp_path, "-m", "alexnet", "-d", "synthetic", "--steps", "2", "--batch-size", "2", "--warmup", "1")
    assert r["model"]["params_trainable"] == 61_100_840 and r["model"]["macs_per_sample"] == 714_188_480
    assert r["flops"]["per_train_step_analytic"] == 6 * 714_188_480 * 2
    # torch's FlopCounterMode counts conv/matmul only: within 5 % of the analytic count (AlexNet: -3 %)
    assert r["flops"]["per_train_step_framework"] == pytest.approx(r["flops"]["per_train_step_analytic"], rel=0.05)
    median = r["timing"]["step_time_s"]["median"]
    assert r["flops"]["achieved_flops_per_s"] == pytest.approx(r["flops"]["per_train_step_analytic"] / median)
    assert r["timing"]["throughput_samples_per_s"] == pytest.approx(2 / median)
    assert r["memory"]["host_peak_rss_bytes"] > 61_100_840 * 4
    assert r["accuracy"]["top1"] is None
    assert r["environment"]["torch"].startswith("2.") and r["backend"]["settings"]["compile"] is False


def test_lenet5_learns_the_real_digits(tmp_path):
    r = run(tmp_path, "-m", "lenet5", "--epochs", "4")
    assert r["dataset"]["transforms"] == ["resize 8x8->28x28 (bilinear)"]
    assert r["accuracy"]["top1"] > 0.9 and r["accuracy"]["top5"] > 0.99


def test_same_seed_same_losses(tmp_path):
    a = run(tmp_path, "-m", "mlp", "--steps", "5", "--optimizer", "sgd", "--seed", "3")
    b = run(tmp_path, "-m", "mlp", "--steps", "5", "--optimizer", "sgd", "--seed", "3")
    assert a["loss"]["curve"] == b["loss"]["curve"]


def test_native_model_from_the_example_plugin(tmp_path):
    pytest.importorskip("dlbench_example_plugin")
    r = run(tmp_path, "-m", "backprop_mlp_torch", "--epochs", "1")
    assert r["model"]["macs_per_sample"] is None and r["model"]["params_trainable"] == 64 * 100 + 100 + 100 * 10 + 10


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
@pytest.mark.parametrize("model, floor", [("lenet5", 0.89), ("mlp", 0.87)])
def test_fashion_mnist_accuracy_as_in_the_literature(tmp_path, model, floor):
    r = run(tmp_path, "-m", model, "-d", "fashion-mnist", "--epochs", "5")
    assert r["dataset"]["train_size"] == 60_000 and r["dataset"]["test_size"] == 10_000
    assert r["accuracy"]["top1"] >= floor
