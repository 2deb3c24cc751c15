"""Utilisation against a measured ceiling: the datasheet table, the GEMM timing, the profile keyed
by the machine fingerprint, a run's share of it, and `dlbench calibrate` end to end."""

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

from dlbench import environment
from dlbench.calibration import datasheet, gemm, load_profile, profile_path, save_entries, utilisation
from dlbench.calibration.profile import entry_key
from dlbench.calibration.utilisation import NO_PROFILE
from dlbench.cli.main import cli
from tests.conftest import has, registered_test_plugins


@pytest.mark.parametrize("name, label", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200 SXM"), ("NVIDIA A100-SXM4-80GB", "A100"), ("NVIDIA A100-PCIE-40GB", "A100"),
    ("NVIDIA L40S", "L40S"), ("NVIDIA L4", "L4"), ("NVIDIA A10", "A10"), ("Tesla V100-SXM2-16GB", "V100 SXM2"),
    ("Tesla V100-PCIE-32GB", "V100 PCIe"), ("Tesla T4", "T4"),
])
def test_known_gpus_are_found_by_their_framework_names(name, label):
    assert datasheet.lookup(name)[0] == label


def test_datasheet_peaks_are_dense_and_absent_where_the_device_lacks_the_precision():
    assert datasheet.peak("NVIDIA H100 80GB HBM3", "float32") == ("H100 SXM", pytest.approx(66.9e12))
    assert datasheet.peak("NVIDIA H100 80GB HBM3", "bfloat16")[1] == pytest.approx(989.4e12)  # not 1979 (sparse)
    assert datasheet.peak("Tesla V100-SXM2-16GB", "tf32") is None
    assert datasheet.lookup("AMD EPYC 7B13") is None and datasheet.lookup(None) is None


def test_the_gemm_peak_is_two_n_cubed_over_the_fastest_call():
    n = 128
    a = np.ones((n, n), np.float32)
    entry = gemm.peak(lambda: a @ a, n, seconds=0.05)
    assert entry["repeats"] >= gemm.MIN_REPEATS and entry["size"] == n
    assert entry["flops_per_s"] >= entry["median_flops_per_s"] > 0


def entry(flops: float) -> dict:
    return {"flops_per_s": flops, "median_flops_per_s": flops, "size": 64, "repeats": 3,
            "measured": "2026-01-01T00:00:00+00:00", "device_name": "cpu"}


def test_a_run_without_a_profile_says_how_to_make_one():
    assert utilisation(1e9, "torch", "cpu", "float32", "cpu") == (None, NO_PROFILE)
    assert "dlbench calibrate" in NO_PROFILE


def test_the_share_is_of_this_backends_ceiling_and_the_profile_is_keyed_by_the_machine(private_cache):
    path = save_entries({entry_key("torch", "cpu", "float32"): entry(100e9),
                         entry_key("jax", "cpu", "float32"): entry(50e9)})
    assert path == profile_path() and path.parent == private_cache / "calibration"
    assert path.stem == environment.machine_fingerprint() and load_profile()["entries"]
    share, note = utilisation(40e9, "jax", "cpu", "float32", "cpu")
    assert share["share"] == pytest.approx(0.8) and "jax float32 GEMM" in share["ceiling_source"]
    assert share["datasheet_share"] is None and "GPUs only" in note
    # no tensorflow entry: the device's ceiling measured by another backend, and said so
    other, _ = utilisation(40e9, "tensorflow", "cpu", "float32", "cpu")
    assert other["ceiling_flops_per_s"] == 100e9 and other["ceiling_source"].startswith("torch")
    missing, note = utilisation(40e9, "torch", "gpu", "float32", "NVIDIA H100 PCIe")
    assert missing is None and "dlbench calibrate -b torch --device gpu" in note
    assert load_profile("someothermachine") is None


def test_a_gpu_run_also_gets_its_datasheet_share():
    save_entries({entry_key("torch", "gpu", "tf32"): entry(300e12)})
    share, note = utilisation(189e12, "torch", "gpu", "tf32", "NVIDIA H100 PCIe")
    assert share["share"] == pytest.approx(0.63) and share["datasheet_share"] == pytest.approx(0.5)
    assert note is None


def test_a_backend_that_cannot_time_a_matmul_fails_calibrate(test_plugins):
    result = CliRunner().invoke(cli, ["calibrate", "-b", "numpy", "--seconds", "0.1", "--timeout", "120"])
    assert result.exit_code == 1 and "cannot time a matmul" in result.output


def test_a_hung_backend_is_killed_at_the_timeout_and_the_others_still_calibrate(monkeypatch):
    with registered_test_plugins(monkeypatch, ("tests.plugins.gemm_backends",)):
        start = time.monotonic()
        result = CliRunner().invoke(cli, ["calibrate", "-b", "numpy-hang,numpy-gemm", "--seconds", "0.1",
                                          "--size", "64", "--timeout", "5"])
    assert time.monotonic() - start < 60
    assert result.exit_code == 1
    assert "error: numpy-hang: timeout: exceeded the timeout of 5 s and was killed" in result.output
    assert list(load_profile()["entries"]) == [entry_key("numpy-gemm", "cpu", "float32")]


def test_calibrate_has_a_default_timeout():
    assert "--timeout SECONDS" in (text := CliRunner().invoke(cli, ["calibrate", "--help"]).output)
    assert "[default: 600" in " ".join(text.split())


@pytest.mark.skipif(not has("torch"), reason="torch is not installed")
def test_calibrate_stores_the_torch_ceiling_and_a_run_reports_its_share(test_plugins):
    result = CliRunner().invoke(cli, ["calibrate", "-b", "torch", "--seconds", "0.2", "--size", "256", "--timeout", "600"])
    assert result.exit_code == 0, result.output
    stored = load_profile()["entries"][entry_key("torch", "cpu", "float32")]
    assert stored["size"] == 256 and stored["flops_per_s"] > 1e8
    from dlbench.config import RunConfig
    from dlbench.measure import loop

    rec = loop.run(RunConfig(backend="numpy", model="mlp", dataset="synthetic", batch_size=8, steps=2, tune=False))
    u = rec.flops["utilisation"]
    assert u["share"] == pytest.approx(rec.flops["achieved_flops_per_s"] / stored["flops_per_s"])
    json.dumps(rec.to_dict())
