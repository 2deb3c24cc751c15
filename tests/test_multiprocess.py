"""Data parallelism across processes on JAX and TensorFlow (torch's in tests/test_data_parallel.py):
two processes on this machine, started by hand as on two machines or by dlbench as one command,
make one record; a killed or stopped process ends the run naming its rank; processes that
disagree, or lack a coordinator, stop with a one-line error."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from tests.conftest import ROOT, has
from tests.test_data_parallel import _cmdline, _descendants, kill_one_of_two

MULTI = [pytest.param(b, marks=[getattr(pytest.mark, b), pytest.mark.skipif(not has(b), reason=f"{b} not installed")])
         for b in ("jax", "tensorflow")]
JAX = pytest.mark.skipif(not has("jax"), reason="jax not installed")
TINY = ["-m", "mlp", "-d", "synthetic", "--steps", "3", "--warmup", "1", "--batch-size", "8", "--no-tune", "-q"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_by_hand(processes: list[tuple[list[str], dict]]) -> list[tuple[int, str]]:
    """``dlbench ARGS`` started once per process (ARGS, ENV), as the docs show for a plain start on
    localhost, ENV giving each its RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; (exit code, stderr) of each."""
    procs = [subprocess.Popen([sys.executable, "-m", "dlbench.cli", *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, **env})
             for args, env in processes]
    try:
        errs = [proc.communicate(timeout=240)[1] for proc in procs]
        return [(proc.returncode, err) for proc, err in zip(procs, errs)]
    finally:
        for proc in procs:
            proc.kill()


def plain(rank: int, port: int, world: int = 2) -> dict:
    return {"RANK": str(rank), "WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}


@pytest.mark.parametrize("backend", MULTI)
def test_two_processes_started_by_hand_make_one_record(backend, tmp_path):
    port = free_port()
    args = ["run", "-b", backend, "-m", "lenet5", "-d", "synthetic", "--steps", "30", "--replicas", "2", "--no-tune",
            "--timeout", "200", "-q", "--output", str(tmp_path)]
    ended = start_by_hand([(args, plain(rank, port)) for rank in (0, 1)])
    assert [code for code, _ in ended] == [0, 0], [err[-2000:] for _, err in ended]
    assert "process 1 of 2 (env) of a 2-replica run: process 0 writes the record" in ended[1][1]
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    d = record["distributed"]
    assert (d["replicas"], d["processes"], d["nodes"], d["devices_per_process"], d["launcher"]) == (2, 2, 1, 1, "env")
    assert d["collectives"] == {"jax": "gloo (jax_cpu_collectives_implementation)",
                                "tensorflow": "RING (CollectiveAllReduce)"}[backend]
    assert record["timing"]["steps_timed"] == 30 and record["config"]["processes"] is None


@pytest.mark.parametrize("backend", MULTI)
def test_a_killed_process_ends_the_run_naming_its_rank(backend, tmp_path):
    """Started as one command (``--processes 2``): dlbench's launcher watches its processes."""
    proc = subprocess.Popen([sys.executable, "-m", "dlbench.cli", "run", "-b", backend, *TINY[:4], "--steps", "1000000",
                             "--batch-size", "8", "--no-tune", "--replicas", "2", "--processes", "2", "--timeout", "300",
                             "--output", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    err, took = kill_one_of_two(proc, "dlbench.measure.entry:run", settle=8)  # joined and training
    assert took < 60
    assert proc.returncode == 1, err[-2000:]
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert record["status"] == "failed"
    assert record["error"]["message"] == "a data-parallel process failed, so the run was stopped: rank 1: killed by signal 9"


@JAX
@pytest.mark.jax
def test_a_process_gone_from_a_plain_start_fails_the_record_of_rank_0(tmp_path):
    """No launcher watches a plain start: rank 0 learns from JAX's coordination service that rank 1
    stopped sending heartbeats, and its record says so."""
    port = free_port()
    args = ["run", "-b", "jax", *TINY[:4], "--steps", "1000000", "--batch-size", "8", "--no-tune", "--replicas", "2",
            "--timeout", "300", "-q", "--output", str(tmp_path)]
    procs = [subprocess.Popen([sys.executable, "-m", "dlbench.cli", *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE if rank == 0 else subprocess.DEVNULL, text=True, cwd=ROOT,
                              env={**os.environ, **plain(rank, port)})
             for rank in (0, 1)]
    try:
        deadline, worker = time.monotonic() + 180, []
        while not worker and time.monotonic() < deadline:
            time.sleep(0.5)
            worker = [p for p in _descendants(procs[1].pid) if "dlbench.execution.worker" in _cmdline(p)]
        assert worker, "rank 1's worker never started"
        time.sleep(15)  # joined the coordination service and training
        os.kill(worker[0], signal.SIGSTOP)  # hung: alive, silent
        stopped_at = time.monotonic()
        procs[0].communicate(timeout=120)
    finally:
        for proc in procs:
            proc.kill()
        if worker:
            os.kill(worker[0], signal.SIGKILL)
    assert time.monotonic() - stopped_at < 60
    assert procs[0].returncode == 1
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert record["error"]["message"].startswith("a data-parallel process failed, so the run was stopped: rank 1: "
                                                 "stopped sending heartbeats (it died or hung), so rank 0 ended: "), record["error"]


@JAX
@pytest.mark.jax
def test_processes_that_disagree_or_lack_a_coordinator_stop_with_one_line_errors(tmp_path):
    port = free_port()
    args = ["run", "-b", "jax", "-m", "mlp", "-d", "synthetic", "--warmup", "1", "--replicas", "2", "--no-tune",
            "--timeout", "120", "-q", "--output", str(tmp_path)]
    ended = start_by_hand([([*args, "--steps", "3"], plain(0, port)), ([*args, "--steps", "4"], plain(1, port))])
    assert [code for code, _ in ended] == [1, 1]
    assert "error: the processes disagree on the run's configuration: process 1 differs from process 0; start every " \
           "process with the same command and options" in ended[0][1], ended[0][1][-2000:]
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert record["status"] == "failed" and record["error"]["kind"] == "ConfigError"

    lone = CliRunner().invoke(cli, ["run", "-b", "jax", *TINY, "--replicas", "2", "--timeout", "120",
                                    "--output", str(tmp_path / "lone")], env={"RANK": "0", "WORLD_SIZE": "2"})
    assert lone.exit_code == 1
    assert "error: process 0 of 2 (env): no coordinator address; set MASTER_ADDR" in lone.stderr


@pytest.mark.slow
@pytest.mark.skipif(not all(has(m) for m in ("torch", "tensorflow", "jax")), reason="needs all three frameworks")
def test_verify_proves_two_processes_train_as_one_process_does():
    result = CliRunner().invoke(cli, ["verify", "-m", "mlp", "-b", "torch,tensorflow,jax", "--replicas", "2",
                                      "--processes", "2", "--dtype", "float64", "--steps", "5", "--rtol-logits", "1e-12",
                                      "--rtol-trained", "1e-12", "--timeout", "300"])
    assert result.exit_code == 0, result.output
    for name in ("torch", "tensorflow", "jax"):
        assert f"{name} vs {name} x2 in 2 processes" in result.output
    assert "FAIL" not in result.output


def test_the_summary_says_how_the_replicas_ran():
    from dlbench.cli.summary import parallel_rows

    assert parallel_rows({"replicas": 1}) == []
    assert parallel_rows({"replicas": 8, "processes": 8, "nodes": 2, "collectives": "gloo", "global_batch": 256}) == [
        ("replicas", "8 in 8 processes on 2 nodes, gloo; global batch 256")]
