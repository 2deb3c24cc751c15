"""The isolated runner and the CLI, driven by the throwaway numpy backend (no framework needed)."""

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from dlbench.config import RunConfig
from dlbench.errors import ConfigError
from dlbench.result import SCHEMA, Result
from tests.conftest import alive, children, heavy_modules_after


#: every run here is bounded: a hung worker fails its test instead of hanging the suite
RUN_TIMEOUT = ("--timeout", "120")


def invoke(*args):
    """The CLI in-process; ``run`` gets the bound above unless the test gives its own --timeout."""
    if args and args[0] == "run" and "--help" not in args:
        args = ("run", *RUN_TIMEOUT, *args[1:])  # a later --timeout wins
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_numpy_run_records_every_metric(test_plugins, tmp_path):
    out = invoke("run", "-b", "numpy", "-m", "mlp", "-d", "digits", "--epochs", "3", "--batch-size", "32",
                 "--output", str(tmp_path), "--json", "-q")
    assert out.exit_code == 0, out.output
    record = json.loads(out.stdout)
    assert record["status"] == "ok" and record["schema"] == SCHEMA
    assert record["model"]["params_trainable"] == 8 * 8 * 512 + 512 + 512 * 10 + 10
    t = record["timing"]
    assert t["steps_total"] == 3 * (1437 // 32) and t["steps_timed"] == t["steps_total"] - 3
    assert len(t["step_times_s"]) == t["steps_timed"]
    assert t["step_time_s"]["p10"] <= t["step_time_s"]["median"] <= t["step_time_s"]["p90"]
    assert t["throughput_samples_per_s"] == pytest.approx(32 / t["step_time_s"]["median"])
    assert record["accuracy"]["top1"] > 0.8 and record["accuracy"]["top5"] >= record["accuracy"]["top1"]
    assert record["loss"]["final"] < record["loss"]["first"]
    mem = record["memory"]
    assert mem["training_bytes"] == mem["peak_rss_bytes"] - mem["baseline_rss_bytes"]
    assert mem["host_peak_rss_bytes"] >= mem["peak_rss_bytes"] >= mem["baseline_rss_bytes"]
    assert record["flops"]["per_train_step_analytic"] == 6 * record["model"]["macs_per_sample"] * 32
    assert record["backend"]["settings"] == {"jit": False, "crash": "none"}
    saved = list(tmp_path.glob("*.json"))
    assert len(saved) == 1 and Result.load(saved[0]).id == record["id"]


def test_synthetic_data_reports_no_accuracy(test_plugins, tmp_path):
    out = invoke("run", "-b", "numpy", "-m", "perceptron", "-d", "synthetic", "--steps", "4", "--output", str(tmp_path), "--json", "-q")
    record = json.loads(out.stdout)
    assert record["accuracy"]["top1"] is None and "not applicable" in record["accuracy"]["reason"]
    assert record["timing"]["steps_timed"] == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["-m", "resnet9000"], "unknown model 'resnet9000'; choose one of: alexnet, "),
        (["-b", "caffe"], "unknown backend 'caffe'; choose one of: jax, numpy, "),
        (["-d", "imagenet"], "unknown dataset 'imagenet'; choose one of: cifar10, cifar100, digits, fashion-mnist"),
        (["--batch-size", "0"], "batch size must be a positive integer, got 0"),
        (["--optimizer", "lbfgs"], "'lbfgs' is not one of"),
        (["-o", "compile"], "is not KEY=VALUE"),
    ],
)
def test_bad_input_is_a_clear_error_and_loses_nothing(test_plugins, tmp_path, args, message):
    earlier = tmp_path / "earlier.json"
    earlier.write_text("{}")
    out = invoke("run", "-b", "numpy", "--output", str(tmp_path), *args)
    assert out.exit_code == 2
    assert message in out.output and "Traceback" not in out.output
    assert [p.name for p in tmp_path.iterdir()] == ["earlier.json"]


def test_unknown_backend_option_lists_the_accepted_ones(test_plugins, tmp_path):
    out = invoke("run", "-b", "numpy", "-m", "mlp", "--steps", "2", "-o", "fast=yes", "--output", str(tmp_path), "-q")
    assert out.exit_code == 1
    assert "unknown option(s) fast; accepted: crash (default 'none')" in out.stderr


def test_missing_data_files_fail_clearly_and_keep_earlier_results(test_plugins, tmp_path):
    ok = invoke("run", "-b", "numpy", "-m", "mlp", "--steps", "2", "--output", str(tmp_path), "-q")
    assert ok.exit_code == 0
    out = invoke("run", "-b", "numpy", "-m", "mlp", "-d", "mnist", "--data-dir", str(tmp_path / "none"),
                 "--output", str(tmp_path), "-q")
    assert out.exit_code == 1
    assert "mnist files not found" in out.stderr and "Traceback" not in out.output
    records = sorted(Result.load(p).status for p in tmp_path.glob("*.json"))
    assert records == ["failed", "ok"]


def test_corrupt_idx_file_fails_clearly(test_plugins, tmp_path, mnist_dir):
    (mnist_dir / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x02\x58oops")
    out = invoke("run", "-b", "numpy", "-m", "mlp", "-d", "mnist", "--data-dir", str(mnist_dir),
                 "--output", str(tmp_path), "-q")
    assert out.exit_code == 1 and "is corrupt" in out.stderr and "Traceback" not in out.stderr


def test_mnist_format_data_trains(test_plugins, tmp_path, mnist_dir):
    out = invoke("run", "-b", "numpy", "-m", "mlp", "-d", "mnist", "--data-dir", str(mnist_dir), "--epochs", "2",
                 "--batch-size", "50", "--lr", "0.01", "--output", str(tmp_path), "--json", "-q")
    record = json.loads(out.stdout)
    assert record["dataset"]["train_size"] == 600 and record["accuracy"]["top1"] > 0.9


@pytest.mark.parametrize(
    "crash, kind, message",
    [
        ("kill", "killed", "worker killed by SIGKILL"),
        ("exception", "RuntimeError", "numpy backend crashed on purpose"),
    ],
)
def test_a_dying_worker_becomes_a_recorded_failure(test_plugins, tmp_path, crash, kind, message):
    out = invoke("run", "-b", "numpy", "-m", "mlp", "--steps", "2", "-o", f"crash={crash}", "--output", str(tmp_path), "-q")
    assert out.exit_code == 1 and message in out.stderr
    (path,) = tmp_path.glob("*.json")
    record = Result.load(path)
    assert record.status == "failed" and record.error["kind"] == kind and message in record.error["message"]
    assert record.config["backend_options"] == {"crash": crash}


def test_timeout_kills_the_worker_and_is_recorded(test_plugins, tmp_path):
    start = time.monotonic()
    out = invoke("run", "-b", "numpy", "-m", "mlp", "--steps", "2", "-o", "crash=hang", "--timeout", "3",
                 "--output", str(tmp_path), "-q")
    assert time.monotonic() - start < 30
    assert out.exit_code == 1 and "exceeded the timeout of 3 s" in out.stderr
    (path,) = tmp_path.glob("*.json")
    assert Result.load(path).error["kind"] == "timeout"


def test_json_output_is_only_json(test_plugins, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dlbench.cli", "run", "-b", "numpy", "-m", "perceptron", "--steps", "2",
                           "-d", "synthetic", "--output", str(tmp_path), "--json", *RUN_TIMEOUT],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "ok"
    assert "result saved to" in proc.stderr


def test_run_config_validates_itself():
    with pytest.raises(ConfigError, match="warmup must be a non-negative integer"):
        RunConfig(warmup=-1)
    with pytest.raises(ConfigError, match="unknown device 'tpu'; choose one of: cpu, gpu"):
        RunConfig(device="tpu")
    assert RunConfig(optimizer="sgd").learning_rate == 0.01
    assert RunConfig.from_dict(RunConfig(steps=5).to_dict()) == RunConfig(steps=5)


def test_an_unknown_optimiser_is_refused_with_the_accepted_ones():
    from dlbench.optim import OptimizerSpec

    with pytest.raises(ConfigError, match="unknown optimizer 'lamb'; choose one of: sgd, momentum"):
        OptimizerSpec.create("lamb")


def test_too_few_steps_for_the_warmup_is_explained(test_plugins, tmp_path):
    out = invoke("run", "-b", "numpy", "-m", "mlp", "--epochs", "1", "--batch-size", "512", "--warmup", "5",
                 "--output", str(tmp_path), "-q")
    assert out.exit_code == 1 and "leave none to time after 5 warm-up steps" in out.stderr


def test_list_imports_no_framework():
    """(How long it takes is a benchmark: benchmarks/test_cli_speed.py.)"""
    assert heavy_modules_after(["list"]) == []


def test_version_and_help():
    assert invoke("--version").output.startswith("dlbench, version ")
    helptext = invoke("run", "--help").output
    assert "Examples:" in helptext and "--timeout" in helptext and "--json" in helptext


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_a_killed_runner_takes_its_worker_down(test_plugins, tmp_path):
    runner = subprocess.Popen([sys.executable, "-m", "dlbench.cli", "run", "-b", "numpy", "-m", "mlp", "--steps", "2",
                               "-o", "crash=hang", "--timeout", "120", "--output", str(tmp_path), "-q"])
    try:
        deadline = time.monotonic() + 60
        while not (workers := children(runner.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert workers, "the runner started no worker"
        time.sleep(3)  # into the hang: a worker killed earlier dies anyway, on its first write to the closed pipe
    finally:
        runner.kill()
        runner.wait()
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, workers))
