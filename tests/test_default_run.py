"""A bare `dlbench run -m NAME`: small models train on the real digits, ImageNet-sized ones run a
short speed run on synthetic data, and the summary says which data was used and how to measure
accuracy instead."""

import pytest
from click.testing import CliRunner

from dlbench import registry
from dlbench.cli import cli, summary
from dlbench.result import Result

IMAGENET_SIZED = ["alexnet", "vgg16", "resnet50", "mobilenet_v2"]


def resolved(tmp_path, *args) -> dict:
    """The configuration ``dlbench run ARGS`` hands the runner (on torch, never started here)."""
    import pytest

    seen = {}

    def run(config, on_event=None):
        seen.update(config.to_dict())
        return Result.failed(config.to_dict(), "test", "not run")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("dlbench.execution.runner.run", run)
        CliRunner().invoke(cli, ["run", "-b", "torch", "-q", "--timeout", "120", "--output", str(tmp_path), *args])
    return seen


@pytest.mark.parametrize("model", IMAGENET_SIZED)
def test_imagenet_sized_models_default_to_a_short_synthetic_speed_run(model):
    run = registry.get_model(model).default_run
    assert run["dataset"] == "synthetic" and run["steps"] <= 10 and run["batch_size"] <= 16


@pytest.mark.parametrize("model", ["perceptron", "mlp", "lenet5", "alvinn", "shallow_vgg", "lstm"])
def test_small_models_keep_the_real_digits(model):
    assert registry.get_model(model).default_run == {}


def test_the_bare_run_applies_and_what_the_user_gives_wins(tmp_path):
    bare = resolved(tmp_path, "-m", "alexnet")
    assert (bare["dataset"], bare["steps"], bare["warmup"], bare["batch_size"]) == ("synthetic", 10, 2, 8)
    real = resolved(tmp_path, "-m", "alexnet", "-d", "digits", "--epochs", "2", "--batch-size", "32")
    assert (real["dataset"], real["steps"], real["epochs"], real["batch_size"]) == ("digits", None, 2, 32)
    assert bare["tune"] is None and real["tune"] is None  # tuned when it pays: the run decides (dlbench.tuning.budget)
    assert resolved(tmp_path, "-m", "alexnet", "--batch-size", "4", "--no-tune")["tune"] is False
    assert resolved(tmp_path, "-m", "alexnet", "--tune")["tune"] is True
    small = resolved(tmp_path, "-m", "lenet5")
    assert (small["dataset"], small["steps"], small["batch_size"]) == ("digits", None, 64)


def record(dataset: dict, model: str = "alexnet", num_classes: int = 1000) -> Result:
    config = {"backend": "torch", "model": model, "dataset": dataset["name"], "device": "cpu"}
    return Result(config=config, status="failed", error={"kind": "x", "message": "y"},
                  dataset=dataset, model={"num_classes": num_classes})


def test_the_summary_names_the_data_and_how_to_measure_accuracy():
    synthetic = dict(summary.rows(record({"name": "synthetic", "real": False})))["dataset"]
    assert synthetic == ("synthetic (random data: speed only; for accuracy: "
                         "dlbench run -b torch -m alexnet -d imagefolder --data-dir DIR --epochs 10)")
    small = dict(summary.rows(record({"name": "synthetic", "real": False}, "lenet5", 10)))["dataset"]
    assert small.endswith("for accuracy: dlbench run -b torch -m lenet5 -d digits)")
    language = dict(summary.rows(record({"name": "synthetic", "real": False}, "gpt_char", 84)))["dataset"]
    assert language.endswith("for accuracy: dlbench run -b torch -m gpt_char -d shakespeare --epochs 1)")
    real = dict(summary.rows(record({"name": "digits", "real": True, "train_size": 1437, "test_size": 360})))
    assert real["dataset"] == "digits (real data: 1,437 train / 360 test)"


def bare_torch_run(tmp_path, *args) -> dict:
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "dlbench.cli", "run", "-b", "torch", *args, "--json", "-q",
                           "--timeout", "300", "--output", str(tmp_path)], capture_output=True, text=True, timeout=360)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.torch
def test_a_one_step_run_is_not_tuned_and_says_why(tmp_path):
    """On an empty cache (each test has its own). Whether a longer short run repays tuning depends on
    the machine's speed, so that decision is tested with known step times (tests/test_tuning.py)."""
    pytest.importorskip("torch")
    rec = bare_torch_run(tmp_path, "-m", "resnet50", "-d", "synthetic", "--steps", "1", "--batch-size", "2")
    tuning = rec["tuning"]
    assert tuning["mode"] == "skipped" and tuning["time_s"] <= rec["timing"]["train_time_s"]
    assert tuning["note"] == ("not tuned: the run's 3 steps are fewer than the 20 that timing its 4 candidates takes "
                              "(--tune tunes regardless)")
    assert rec["backend"]["settings"] == {"compile": False, "channels_last": False}
