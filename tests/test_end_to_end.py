"""`dlbench run` as a user types it, on every installed framework, and `dlbench report` built from
the records those real runs wrote (not hand-made ones): a small model, a few steps each."""

import json
import re
import statistics
from importlib import metadata

import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from tests.conftest import has

FRAMEWORKS = {"torch": "torch", "tensorflow": "tensorflow", "jax": "flax"}
INSTALLED = [b for b, module in FRAMEWORKS.items() if has(module)]
#: the distribution whose version each backend's record must carry
VERSION_OF = {"torch": "torch", "tensorflow": "tensorflow-cpu", "jax": "jax"}
STEPS, BATCH = 4, 16
LENET5_PARAMS = 61_706


def run(output, *args) -> dict:
    out = CliRunner().invoke(cli, ["run", "--output", str(output), "--json", "-q", "--timeout", "600", *args])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """One LeNet-5 run per installed framework on the real digits, framework defaults (no tuning)."""
    folder = tmp_path_factory.mktemp("records")
    return folder, {b: run(folder, "-b", b, "-m", "lenet5", "--steps", str(STEPS), "--batch-size", str(BATCH),
                           "--warmup", "1", "--no-tune") for b in INSTALLED}


def version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return metadata.version(distribution.removesuffix("-cpu"))


@pytest.mark.parametrize("backend", list(FRAMEWORKS))
def test_run_records_what_it_measured(records, backend):
    if backend not in INSTALLED:
        pytest.skip(f"{backend} is not installed")
    r = records[1][backend]
    assert r["status"] == "ok" and r["config"]["backend"] == backend
    assert (r["model"]["params_trainable"], r["model"]["params_non_trainable"]) == (LENET5_PARAMS, 0)
    t, times = r["timing"], r["timing"]["step_times_s"]
    assert t["steps_total"] == STEPS + 1 and t["steps_timed"] == len(times) == STEPS and t["warmup_steps"] == 1
    assert t["step_time_s"]["median"] == pytest.approx(statistics.median(times))
    assert t["throughput_samples_per_s"] == pytest.approx(BATCH / statistics.median(times))
    # training is the first (compiling) step, timed apart, and the timed steps: nothing lost, nothing twice
    assert t["train_time_s"] == pytest.approx(t["time_to_first_step_s"] + sum(times))
    assert len(r["loss"]["curve"]) == STEPS + 1  # the warm-up step's loss too
    assert r["flops"]["per_train_step_analytic"] == 6 * r["model"]["macs_per_sample"] * BATCH
    assert r["dataset"]["real"] and r["dataset"]["transforms"] == ["resize 8x8->28x28 (bilinear)"]
    assert 0 <= r["accuracy"]["top1"] <= r["accuracy"]["top5"] <= 1  # real data: a number, never n/a
    assert version(VERSION_OF[backend]).startswith(r["environment"][backend].split("+")[0])
    assert r["tuning"]["mode"] in ("off", "pinned")  # --no-tune: the framework's defaults


@pytest.mark.skipif(len(INSTALLED) < 2, reason="needs two frameworks installed")
def test_frameworks_train_the_same_from_the_same_start(records):
    """Same canonical weights, same batches in the same order: the loss curves agree to round-off."""
    curves = {b: r["loss"]["curve"] for b, r in records[1].items()}
    first, *others = curves
    for other in others:
        assert curves[other] == pytest.approx(curves[first], rel=1e-4), (first, other)


@pytest.mark.skipif(len(INSTALLED) < 3, reason="needs torch, tensorflow and jax installed")
def test_report_from_real_records_of_all_three(records, tmp_path):
    folder, recs = records
    out = CliRunner().invoke(cli, ["report", str(folder), "-o", str(tmp_path / "report.md")])
    assert out.exit_code == 0, out.output
    text = (tmp_path / "report.md").read_text()
    assert "from 3 records" in text and "(3 ok, 0 failed" in text
    for backend in INSTALLED:
        assert re.search(rf"^\| {backend} .*\| 61,706 ", text, re.M), f"{backend}: no row with its parameters"
    # the environment table reads each framework's version from its own record's keys
    env = text.split("## Environment", 1)[1].split("\n## ", 1)[0]
    for backend in INSTALLED:
        (line,) = [row for row in env.splitlines() if row.startswith("|") and row.split("|")[1].strip() == backend]
        assert recs[backend]["environment"][backend] in line
    fairness = text.split("## Fairness settings", 1)[1]
    assert "compile=False" in fairness and "xla=" in fairness and "jit=True" in fairness
    assert sorted(p.name for p in tmp_path.glob("*.png"))  # plots written beside the report


@pytest.mark.torch
@pytest.mark.skipif(not has("torch"), reason="torch is not installed")
def test_torch_compile_and_channels_last_train_like_eager(tmp_path):
    """torch.compile and the channels-last layout change how torch runs, never what it computes:
    the same seed and batches give the eager run's losses."""
    args = ("-b", "torch", "-m", "lenet5", "-d", "synthetic", "--steps", "3", "--warmup", "1", "--batch-size", "8",
            "--optimizer", "sgd")
    eager = run(tmp_path, *args, "--no-tune")
    fast = run(tmp_path, *args, "-o", "compile=true", "-o", "channels_last=true")
    assert fast["backend"]["settings"]["compile"] is True and fast["backend"]["settings"]["channels_last"] is True
    assert eager["backend"]["settings"]["compile"] is False
    assert fast["tuning"]["mode"] == "pinned"  # both performance settings given: nothing left to tune
    assert fast["loss"]["curve"] == pytest.approx(eager["loss"]["curve"], rel=1e-4)
    assert fast["timing"]["time_to_first_step_s"] > eager["timing"]["time_to_first_step_s"]  # it compiled
