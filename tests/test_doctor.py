"""`dlbench doctor`: the machine checks, the A/A noise estimate and its advice, its storage for
runs to record, and the exit status."""

import shutil
import subprocess
import sys
import time
from importlib import metadata

import pytest
from click.testing import CliRunner

from dlbench.cli.main import cli
from dlbench.config import RunConfig
from dlbench.diagnostics import noise, system
from dlbench.environment import NVIDIA_DRIVER_FILE
from dlbench.measure import loop
from tests.conftest import has


def test_a_governor_other_than_performance_gets_advice(tmp_path):
    for i, governor in enumerate(("powersave", "powersave", "performance")):
        d = tmp_path / f"cpu{i}" / "cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_governor").write_text(governor + "\n")
    lines = system.frequency_scaling(tmp_path)
    assert lines[0] == "scaling governor: performance on 1 cores, powersave on 2 cores"
    assert "cpupower frequency-set -g performance" in lines[1]
    assert "not readable" in system.frequency_scaling(tmp_path / "absent")[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_a_busy_process_is_listed():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        found = system.busy_processes(0.5)
    finally:
        busy.kill()
        busy.wait()
    assert busy.pid in [pid for pid, _, _ in found]


def test_threads_names_the_usable_cores():
    assert "usable by this process" in system.threads()[0]


@pytest.mark.parametrize("cv, verdict", [(0.01, "quiet"), (0.03, "fair"), (0.10, "noisy"), (0.5, "very noisy")])
def test_verdicts_follow_the_noise(cv, verdict):
    assert noise.verdict(cv).startswith(verdict)


def test_noisy_machines_get_concrete_advice():
    estimate = {"cv": 0.08, "verdict": noise.verdict(0.08), "measured": "x", "samples": 100,
                "sample_median_s": 0.02, "spread_p90_p10": 1.3}
    text = "\n".join(noise.describe(estimate))
    assert "dlbench compare --threshold 24" in text and "--repeat" in text and "taskset -c 0-" in text
    assert "OMP_NUM_THREADS=" in text
    assert not [line for line in noise.describe({**estimate, "cv": 0.01}) if "advice" in line]  # quiet: no advice


def test_the_verdict_follows_the_drift_not_the_jitter(monkeypatch):
    # samples of 10, 20 and 30 ms mixed: large jitter, but every block's median is 20 ms
    durations = iter([0.02, 0.01, 0.02, 0.03] * 10_000)
    clock = [0.0]

    def fake_perf_counter():
        return clock[0]

    def fake_workload(a, repeats):
        clock[0] += next(durations)

    monkeypatch.setattr(noise.time, "perf_counter", fake_perf_counter)
    monkeypatch.setattr(noise, "_workload", fake_workload)
    estimate = noise.measure(2.0)
    assert estimate["jitter_cv"] > 0.3 and estimate["cv"] < 0.01 and estimate["verdict"].startswith("quiet")
    assert estimate["blocks"] >= 6


def test_the_estimate_is_measured_stored_and_recorded_by_later_runs(test_plugins):
    estimate = noise.measure(0.3)
    assert estimate["cv"] >= 0 and estimate["samples"] >= 10 and estimate["verdict"] == noise.verdict(estimate["cv"])
    assert noise.recorded() == {}
    noise.save(estimate)
    rec = loop.run(RunConfig(backend="numpy", model="tiny", dataset="synthetic", batch_size=8, steps=2, tune=False))
    assert rec.environment["noise"] == {k: estimate[k] for k in ("cv", "verdict", "measured")}


def test_doctor_prints_its_verdict_and_exits_0(test_plugins):
    result = CliRunner().invoke(cli, ["doctor", "-b", "numpy", "--seconds", "0.5"])
    assert result.exit_code == 0, result.output
    for heading in ("backends:", "threads and affinity:", "CPU frequency scaling:", "other busy processes:",
                    "noise (A/A):"):
        assert heading in result.output
    assert "numpy: numpy " in result.output and "verdict: " in result.output
    assert noise.latest() is not None


def test_doctor_exits_1_when_a_requested_backend_cannot_run(test_plugins):
    result = CliRunner().invoke(cli, ["doctor", "-b", "numpy,nosuchbackend", "--seconds", "0.5"])
    assert result.exit_code == 1 and "nosuchbackend" in result.output


def installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


#: per backend: its module, whether the installed build can never see a GPU (as on this project's
#: CPU machines), and what doctor must then say
CPU_BUILDS = {
    "torch": ("torch", lambda: metadata.version("torch").endswith("+cpu"), "CPU-only build of torch"),
    "tensorflow": ("tensorflow", lambda: installed("tensorflow-cpu") and not installed("tensorflow"),
                   "tensorflow-cpu can never use a GPU"),
    "jax": ("flax", lambda: not installed("jax-cuda12-plugin") and not installed("jax-cuda13-plugin"),
            "no CUDA plugin (jax-cuda12-plugin not installed)"),
}


@pytest.mark.parametrize("backend", [pytest.param(b, marks=getattr(pytest.mark, b)) for b in CPU_BUILDS])
def test_doctor_says_why_a_backend_sees_no_gpu(backend):
    module, cpu_build, reason = CPU_BUILDS[backend]
    if not has(module) or not cpu_build():
        pytest.skip(f"{backend}: not installed, or a build that may see a GPU")
    result = CliRunner().invoke(cli, ["doctor", "-b", backend, "--seconds", "0.5", "--timeout", "300"])
    assert result.exit_code == 0, result.output
    line = next(line.strip() for line in result.output.splitlines() if line.strip().startswith("gpu:"))
    assert line.startswith("gpu: not visible: ") and reason in line and "install dlbench[gpu]" in line, line
    if not NVIDIA_DRIVER_FILE.exists() and not shutil.which("nvidia-smi"):
        assert "no NVIDIA driver" in line, line
