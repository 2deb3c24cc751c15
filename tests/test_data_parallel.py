"""Data parallelism on each framework's own engine: replicas record how they ran, compute what one
device computes, and a dead replica ends the run with a reason instead of a hang."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from dlbench.analysis.sections import scaling
from dlbench.cli import cli
from tests.conftest import ROOT, children, has

BACKENDS = [pytest.param(b, marks=[getattr(pytest.mark, b),
                                   pytest.mark.skipif(not has(m), reason=f"{m} not installed")])
            for b, m in (("torch", "torch"), ("tensorflow", "tensorflow"), ("jax", "jax"))]
ENGINES = {"torch": "DistributedDataParallel (gloo)", "tensorflow": "MirroredStrategy", "jax": "Mesh of 2 devices"}


def _dlbench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlbench.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_replicas_record_the_engine_the_batches_and_the_threads(backend, tmp_path):
    proc = _dlbench("run", "-b", backend, "-m", "lenet5", "-d", "synthetic", "--steps", "4", "--warmup", "1",
                    "--batch-size", "8", "--replicas", "2", "--no-tune", "--timeout", "240", "--json", "-q",
                    "--output", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(proc.stdout)
    d = record["distributed"]
    assert (d["replicas"], d["per_replica_batch"], d["global_batch"]) == (2, 8, 16)
    assert ENGINES[backend] in d["engine"]
    assert "threads_per_replica" in d and d["batch_norm"]
    assert record["timing"]["throughput_samples_per_s"] == pytest.approx(16 / record["timing"]["step_time_s"]["median"])


@pytest.mark.torch
@pytest.mark.skipif(not has("torch"), reason="torch not installed")
def test_a_strong_scaling_run_splits_the_global_batch(tmp_path):
    proc = _dlbench("run", "-b", "torch", "-m", "mlp", "-d", "synthetic", "--steps", "3", "--warmup", "1",
                    "--global-batch-size", "12", "--replicas", "2", "--no-tune", "--timeout", "240", "--json", "-q",
                    "--output", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    d = json.loads(proc.stdout)["distributed"]
    assert (d["per_replica_batch"], d["global_batch"], d["threads_per_replica"]) == (6, 12, max(1, len(os.sched_getaffinity(0)) // 2))
    assert d["batch_policy"].startswith("strong")


# TensorFlow's two workers take ~45 s to start and meet here: slow (its plain start runs in the quick set)
@pytest.mark.parametrize("backend", [p if p.values[0] != "tensorflow" else pytest.param(*p.values, marks=[*p.marks, pytest.mark.slow])
                                     for p in BACKENDS])
def test_two_srun_tasks_make_one_record(backend, tmp_path):
    """As ``srun --ntasks 2 dlbench run ... --replicas 2`` starts them: one process per task, told
    apart by Slurm's variables alone, meeting on the first node of the step; task 0 records, task 1
    says it does not."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "dlbench.cli", "run", "-b", backend, "-m", "mlp", "-d", "synthetic", "--steps", "3",
           "--warmup", "1", "--batch-size", "8", "--replicas", "2", "--no-tune", "--timeout", "120", "-q",
           "--output", str(tmp_path)]
    tasks = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "SLURM_PROCID": str(rank), "SLURM_NTASKS": "2", "SLURM_LOCALID": str(rank),
                                   "SLURM_NTASKS_PER_NODE": "2", "SLURM_STEP_NODELIST": "localhost",
                                   "SLURM_STEP_TASKS_PER_NODE": "2", "SLURM_STEP_NUM_TASKS": "2", "MASTER_PORT": str(port)})
             for rank in (0, 1)]
    try:
        outputs = [task.communicate(timeout=240) for task in tasks]
    finally:
        for task in tasks:
            task.kill()
    assert [task.returncode for task in tasks] == [0, 0], [err[-2000:] for _, err in outputs]
    assert "process 1 of 2 (slurm) of a 2-replica run: process 0 writes the record" in outputs[1][1]
    records = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert len(records) == 1 and records[0]["distributed"]["processes"] == 2
    assert records[0]["distributed"]["launcher"] == "slurm"


@pytest.mark.slow
@pytest.mark.skipif(not all(has(m) for m in ("torch", "tensorflow", "jax")), reason="needs all three frameworks")
def test_verify_proves_two_replicas_train_as_one_device_does():
    result = CliRunner().invoke(cli, ["verify", "-m", "mlp", "-b", "torch,tensorflow,jax", "--replicas", "2",
                                      "--dtype", "float64", "--steps", "5", "--timeout", "600"])
    assert result.exit_code == 0, result.output
    for pair in ("torch vs torch x2", "tensorflow vs tensorflow x2", "jax vs jax x2", "torch x2 vs jax x2"):
        assert pair in result.output
    assert "FAIL" not in result.output


def test_replicas_on_a_backend_without_an_engine_is_a_clear_error(test_plugins, tmp_path):
    result = CliRunner().invoke(cli, ["run", "-b", "numpy", "-m", "mlp", "-d", "synthetic", "--steps", "2",
                                      "--replicas", "2", "--timeout", "120", "-q", "--output", str(tmp_path)])
    assert result.exit_code == 1
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert "'numpy' has no data-parallel engine" in record["error"]["message"]
    assert "torch" in record["error"]["message"]  # names the backends that have one


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def kill_one_of_two(proc: subprocess.Popen, marker: str, settle: float) -> tuple[str, float]:
    """Wait for the two processes of ``proc``'s run (command lines holding ``marker``), let them train
    ``settle`` seconds, SIGKILL the second: (``proc``'s stderr, seconds from the kill to its end)."""
    try:
        deadline, found = time.monotonic() + 240, []
        while len(found) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            found = [p for p in _descendants(proc.pid) if marker in _cmdline(p)]
        assert len(found) == 2, "the two processes never started"
        time.sleep(settle)
        os.kill(found[-1], signal.SIGKILL)
        killed_at = time.monotonic()
        _, err = proc.communicate(timeout=120)
        return err, time.monotonic() - killed_at
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.torch
@pytest.mark.skipif(not has("torch") or not sys.platform.startswith("linux"), reason="torch on Linux")
def test_a_killed_replica_fails_the_run_with_its_reason_in_bounded_time(tmp_path):
    earlier = tmp_path / "earlier.json"
    earlier.write_text("{}")
    proc = subprocess.Popen([sys.executable, "-m", "dlbench.cli", "run", "-b", "torch", "-m", "mlp", "-d", "synthetic",
                             "--steps", "1000000", "--batch-size", "8", "--replicas", "2", "--no-tune", "--timeout", "600",
                             "--output", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    err, took = kill_one_of_two(proc, "spawn_main", settle=3)
    assert took < 120
    assert proc.returncode == 1
    assert "a data-parallel process failed, so the run was stopped: rank 1: killed by signal 9" in err, err[-2000:]
    records = [json.loads(p.read_text()) for p in tmp_path.glob("*.json") if p != earlier]
    assert len(records) == 1 and records[0]["status"] == "failed"
    assert earlier.read_text() == "{}"  # what was there before is untouched


def _record(backend: str, replicas: int, per: int, throughput: float, model: str = "lenet5", processes: int = 1,
            nodes: int = 1) -> dict:
    return {"status": "ok", "config.backend": backend, "config.model": model, "config.dataset": "synthetic",
            "config.device": "cpu", "config.precision": "float32", "config.batch_size": per,
            "config.backend_options": {}, "distributed.replicas": replicas, "distributed.per_replica_batch": per,
            "distributed.global_batch": per * replicas, "distributed.engine": f"{backend} engine",
            "distributed.processes": processes, "distributed.nodes": nodes,
            "timing.throughput_samples_per_s": throughput}


def test_scaling_efficiency_weak_and_strong():
    df = pd.DataFrame([_record("torch", 1, 32, 1000.0), _record("torch", 1, 32, 1100.0),  # median 1050
                       _record("torch", 2, 32, 1470.0),  # weak: 1470 / (2 * 1050) = 70 %
                       _record("torch", 1, 64, 1200.0),  # the strong baseline for a global batch of 64
                       ])
    eff = scaling.efficiencies(scaling.points(df))
    weak = eff[eff["policy"] == "weak"].iloc[0]
    strong = eff[eff["policy"] == "strong"].iloc[0]
    assert weak["efficiency"] == pytest.approx(1470 / (2 * 1050))
    assert strong["efficiency"] == pytest.approx(1470 / (2 * 1200))


def test_scaling_section_appears_only_with_replicated_records(tmp_path):
    single = pd.DataFrame([_record("jax", 1, 32, 900.0)])
    assert scaling.render(single, tmp_path / "r.md", plots=False) == []
    both = pd.DataFrame([_record("jax", 1, 32, 900.0), _record("jax", 2, 32, 1500.0)])
    lines = scaling.render(both, tmp_path / "r.md", plots=True)
    text = "\n".join(lines)
    assert "## Data-parallel scaling" in text and "83% (×1.67)" in text
    assert (tmp_path / "r-scaling.png").stat().st_size > 1000


def test_scaling_keeps_one_process_several_processes_and_nodes_apart(tmp_path):
    df = pd.DataFrame([_record("jax", 1, 32, 1000.0), _record("jax", 2, 32, 1800.0),
                       _record("jax", 2, 32, 1600.0, processes=2), _record("jax", 4, 32, 2000.0, processes=4, nodes=2)])
    eff = scaling.efficiencies(scaling.points(df)).query("policy == 'weak'")
    assert sorted(zip(eff["processes"], eff["nodes"], eff["efficiency"])) == [(1, 1, 0.9), (2, 1, 0.8), (4, 2, 0.5)]
    text = "\n".join(scaling.render(df, tmp_path / "r.md", plots=True))
    assert "| replicas | processes | nodes |" in " ".join(text.split())
    assert "90% (×1.80)" in text and "80% (×1.60)" in text and "50% (×2.00)" in text
    assert (tmp_path / "r-scaling.png").stat().st_size > 1000
