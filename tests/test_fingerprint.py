"""The machine fingerprint: unchanged on a CPU, so existing caches keep their keys; with an
accelerator its identity keys tuning choices and calibration profiles, so two nodes with the same
CPU and different GPUs share neither. No GPU needed: a stand-in backend claims one."""

import json
import os
import platform

import pytest
from click.testing import CliRunner

from dlbench import environment
from dlbench.calibration import load_profile
from dlbench.calibration.utilisation import NO_PROFILE
from dlbench.cli.main import cli
from dlbench.config import RunConfig
from dlbench.measure import loop
from dlbench.tuning import cache, timing
from dlbench.tuning.grid import Grid
from tests.conftest import registered_test_plugins
from tests.plugins.accelerated_backend import VARIABLE

H100 = {"model": "NVIDIA H100 80GB HBM3", "count": 1, "runtime": "cuda 12.8"}
A100 = {"model": "NVIDIA A100-SXM4-80GB", "count": 1, "runtime": "cuda 12.8"}
L4 = {"model": "NVIDIA L4", "count": 1, "runtime": "cuda 12.8"}


@pytest.fixture
def machine(monkeypatch):
    """A fixed CPU identity."""
    monkeypatch.setattr(environment, "cpu_model", lambda: "Test CPU @ 2.00GHz")
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")


@pytest.fixture
def accelerated(monkeypatch, tmp_path):
    """The stand-in backend registered here and in workers, a private cache, short tuning."""
    monkeypatch.setenv("DLBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.setattr(timing, "MAX_ROUNDS", 3)
    with registered_test_plugins(monkeypatch, ("tests.plugins.accelerated_backend", "tests.plugins.tiny_model")):
        yield tmp_path / "cache"


def test_the_cpu_fingerprint_and_tuning_key_are_what_they_were(machine):
    # computed before accelerators joined the fingerprint: existing caches and records keep their keys
    assert environment.machine_fingerprint() == "06d1ac4aea95"
    grid = Grid({"compile": (False, True)}, {"channels_last": True}, {"compile": False, "channels_last": False})
    key = cache.make_key(fingerprint="06d1ac4aea95", backend="torch", versions={"torch": "2.13.0"}, model="lenet5",
                         input_shape=(28, 28, 1), num_classes=10, batch_size=64, device="cpu", dtype="float32",
                         precision="float32", optimizer="sgd", replicas=1, grid=grid)
    assert cache.path_for(key).name == "torch-lenet5-78cd6c5666086e69.json"


def test_the_accelerator_changes_the_fingerprint(machine, monkeypatch, tmp_path):
    cpu = environment.machine_fingerprint()
    assert environment.machine_fingerprint(None) == cpu
    prints = {environment.machine_fingerprint(a) for a in (H100, A100, {**H100, "count": 8})}
    assert len(prints) == 3 and cpu not in prints
    driver = tmp_path / "version"
    driver.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n")
    monkeypatch.setattr(environment, "NVIDIA_DRIVER_FILE", driver)
    assert environment.nvidia_driver() == "550.54.15"
    assert environment.machine_fingerprint(H100) not in prints  # another driver, another fingerprint


def run(**options):
    config = RunConfig(backend="accelerated", model="tiny", dataset="synthetic", batch_size=8, steps=1, warmup=1,
                       optimizer="sgd", tune=True, backend_options={"layout": "plain", **options})
    return loop.run(config)


def test_a_tuned_choice_is_kept_per_accelerator(accelerated, monkeypatch):
    tuning = {}
    for name, accelerator in (("h100", H100), ("a100", A100), ("cuda 13", {**H100, "runtime": "cuda 13.0"}),
                              ("h100 again", H100)):
        monkeypatch.setenv(VARIABLE, json.dumps(accelerator))
        tuning[name] = run().tuning
    assert {k: t["mode"] for k, t in tuning.items()} == {"h100": "tuned", "a100": "tuned", "cuda 13": "tuned",
                                                          "h100 again": "cached"}
    assert len({t["cache_path"] for t in tuning.values()}) == 3
    assert json.loads(open(tuning["a100"]["cache_path"]).read())["key"]["accelerator"] == A100


def test_a_ceiling_is_kept_per_accelerator_and_read_by_runs_on_it(accelerated, monkeypatch):
    for accelerator in (H100, A100):
        monkeypatch.setenv(VARIABLE, json.dumps(accelerator))
        result = CliRunner().invoke(cli, ["calibrate", "-b", "accelerated", "--seconds", "0.1", "--size", "64"])
        assert result.exit_code == 0, result.output
    profiles = sorted((accelerated / "calibration").glob("*.json"))
    assert len(profiles) == 2, profiles
    assert {json.loads(p.read_text())["accelerator"]["model"] for p in profiles} == {H100["model"], A100["model"]}
    monkeypatch.setenv(VARIABLE, json.dumps(H100))
    h100 = load_profile(environment.machine_fingerprint(H100))["entries"]["accelerated/cpu/float32"]
    flops = run(delay_ms=2).flops
    assert flops["utilisation"]["ceiling_flops_per_s"] == h100["flops_per_s"]
    monkeypatch.setenv(VARIABLE, json.dumps(L4))  # same CPU, a GPU never calibrated
    flops = run(delay_ms=2).flops
    assert flops["utilisation"] is None and flops["utilisation_note"] == NO_PROFILE
