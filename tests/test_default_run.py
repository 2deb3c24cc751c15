"""A bare `dlbench run -m NAME`: small models train on the real digits, ImageNet-sized ones run a
short speed run on synthetic data, and the summary says which data was used and how to measure
accuracy instead. The numpy test backend cannot build a convolution, so these runs fail in the
worker, after the configuration they resolved has been recorded: that is all they check."""

import pytest
from click.testing import CliRunner

from dlbench import registry
from dlbench.cli import cli, summary
from dlbench.result import Result

IMAGENET_SIZED = ["alexnet", "vgg16", "resnet50", "mobilenet_v2"]


def resolved(tmp_path, *args) -> dict:
    CliRunner().invoke(cli, ["run", "-b", "numpy", "-q", "--timeout", "120", "--output", str(tmp_path), *args])
    (path,) = tmp_path.glob("*.json")
    path.rename(path.with_suffix(".seen"))
    return Result.load(path.with_suffix(".seen")).config


@pytest.mark.parametrize("model", IMAGENET_SIZED)
def test_imagenet_sized_models_default_to_a_short_synthetic_speed_run(model):
    run = registry.get_model(model).default_run
    assert run["dataset"] == "synthetic" and run["steps"] <= 10 and run["batch_size"] <= 16


@pytest.mark.parametrize("model", ["perceptron", "mlp", "lenet5", "alvinn", "shallow_vgg", "lstm"])
def test_small_models_keep_the_real_digits(model):
    assert registry.get_model(model).default_run == {}


def test_the_bare_run_applies_and_what_the_user_gives_wins(test_plugins, tmp_path):
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
@pytest.mark.parametrize("args", [(), ("-m", "resnet50", "-d", "synthetic", "--steps", "1", "--batch-size", "2")],
                         ids=["bare", "resnet50-one-step"])
def test_a_short_run_does_not_spend_longer_tuning_than_training(tmp_path, args):
    """On an empty cache (each test has its own), as the README's first command runs it. On a quiet
    machine the bare run skips tuning (about 1 s of training against 20 s of tuning); on a busy one
    its predicted steps are slower and tuning may pay, but must still not outlast the training."""
    pytest.importorskip("torch")
    rec = bare_torch_run(tmp_path, *args)
    tuning = rec["tuning"]
    assert tuning["time_s"] <= rec["timing"]["train_time_s"]
    if args or tuning["mode"] != "tuned":  # one timed step is too few to tune, whatever the machine
        assert tuning["mode"] == "skipped" and tuning["note"].startswith("not tuned: the run")
        assert rec["backend"]["settings"] == {"compile": False, "channels_last": False}
