"""Scheduled sweeps (`dlbench sweep --executor slurm|local`, through submitit): settings, a local
sweep killed midway and resumed, and what would go to Slurm, checked with a stand-in ``sbatch``."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from dlbench.errors import ConfigError
from dlbench.execution import sweep
from dlbench.execution.executors import ExecutorSettings
from dlbench.execution.executors.ledger import JOBS_DIR, Ledger
from dlbench.execution.executors.settings import parse_slurm_options, parse_time_limit
from dlbench.result import Result

pytest.importorskip("submitit")

TINY = ["-m", "tiny,perceptron", "-d", "synthetic", "--steps", "3", "--warmup", "1", "--batch-size", "8",
        "--timeout", "120", "-q"]


def dlbench(*args: object) -> list[str]:
    return [sys.executable, "-m", "dlbench.cli", *map(str, args)]


def tags(out: Path) -> list[tuple[str, int | None]]:
    return sorted(sweep.record_tag(Result.load(p)) for p in out.glob("*.json"))


# -- settings -------------------------------------------------------------------------------
def test_settings_are_checked_with_one_line_errors():
    assert parse_time_limit(90) == 90 and parse_time_limit("1:30:00") == 90 and parse_time_limit("1-00:00") == 1440
    assert parse_time_limit("0:00:30") == 1  # rounded up to whole minutes
    with pytest.raises(ConfigError, match=r"not minutes .* or \[D-\]HH:MM"):
        parse_time_limit("an hour")
    with pytest.raises(ConfigError, match="choose one of: process, slurm, local"):
        ExecutorSettings(executor="pbs")
    with pytest.raises(ConfigError, match="partition applies to a scheduled sweep; add --executor slurm"):
        ExecutorSettings(partition="gpu")
    with pytest.raises(ConfigError, match="max parallel must be a positive integer"):
        ExecutorSettings(executor="slurm", max_parallel=0)
    assert parse_slurm_options(["account=proj", "exclusive=true"]) == {"account": "proj", "exclusive": True}
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        parse_slurm_options(["account"])
    with pytest.raises(ConfigError, match="a run on 2 nodes is one Slurm job: add --executor slurm"):
        ExecutorSettings(nodes=2)
    with pytest.raises(ConfigError, match="the local executor runs on this one machine: --nodes 2 needs --executor slurm"):
        ExecutorSettings(executor="local", nodes=2, tasks_per_node=2)
    with pytest.raises(ConfigError, match="tasks_per_node applies to a scheduled sweep"):
        ExecutorSettings(tasks_per_node=2)
    shape = ExecutorSettings(executor="slurm", nodes=2, tasks_per_node=4)
    assert shape.shape_runs({"replicas": [8, 16]}) == {"replicas": [8, 16], "processes": 8}
    assert shape.shape_runs({}) == {"replicas": 8, "processes": 8}
    s = ExecutorSettings(executor="slurm", time_limit=10)
    assert s.parallelism(8) == 8 and ExecutorSettings(executor="local").parallelism(8) == 1
    assert s.wait_limit_s(8) == 600 + 3600  # one wave of 10 minutes plus the queueing slack


def test_sweep_file_takes_the_scheduler_keys(tmp_path, test_plugins):
    good = tmp_path / "s.toml"
    good.write_text('backend = "numpy"\nmodel = "tiny"\nexecutor = "slurm"\npartition = "gpu"\ntime_limit = "2:00:00"\n'
                    'max_parallel = 4\n[slurm_options]\naccount = "proj"\n')
    spec = sweep.load_spec(good)
    settings = ExecutorSettings.from_spec(spec)
    assert (settings.executor, settings.time_limit, settings.slurm_options) == ("slurm", 120, {"account": "proj"})
    assert len(sweep.expand(spec)) == 1  # the scheduler keys are not run settings
    bad = tmp_path / "bad.toml"
    bad.write_text('backend = "numpy"\nexecutor = "slurm"\ntime_limit = "soon"\n')
    with pytest.raises(ConfigError, match="bad.toml: time limit 'soon'"):
        sweep.load_spec(bad)


@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("torch", "jax")), reason="needs torch and jax")
def test_a_local_sweep_runs_each_configuration_as_one_job_of_two_tasks(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(dlbench("sweep", "-b", "torch,jax", "-m", "mlp", "-d", "synthetic", "--steps", "3", "--warmup",
                                  "1", "--batch-size", "8", "--repeat", "1", "--no-tune", "--timeout", "120", "-q",
                                  "--executor", "local", "--nodes", "1", "--tasks-per-node", "2", "--output", out),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    records = [Result.load(p) for p in out.glob("*.json")]
    assert sorted(r.config["backend"] for r in records) == ["jax", "torch"]  # one record per configuration
    for r in records:
        assert r.ok, r.error
        assert (r.config["replicas"], r.config["processes"]) == (2, 2)
        assert (r.distributed["processes"], r.distributed["launcher"]) == (2, "submitit")


def in_flight(out: Path) -> bool:
    """Some submitted run has no record yet."""
    recorded = {sweep.record_tag(Result.load(p)) for p in out.glob("*.json")}
    return any(e.job_id and (e.cell, e.repeat) not in recorded for e in Ledger(out).submissions())


# -- local: killed midway, rerun --------------------------------------------------------------
@pytest.mark.parametrize("backends", ["numpy,numpy-twin", pytest.param("numpy,torch", marks=pytest.mark.slow)])
def test_killed_local_sweep_resumes_with_one_valid_record_per_run(tmp_path, test_plugins, monkeypatch, backends):
    if "torch" in backends:
        pytest.importorskip("torch")
    monkeypatch.setenv("DLBENCH_PLUGINS", os.environ["DLBENCH_PLUGINS"] + ",tests.plugins.twin_backend")
    out = tmp_path / "out"
    # --no-tune: torch's tuning would compile inductor candidates cold inside the wait for the first record
    args = ["sweep", "-b", backends, *TINY, "--repeat", "1", "--no-tune", "--executor", "local", "--max-parallel", "2",
            "--output", out]
    proc = subprocess.Popen(dlbench(*args), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (list(out.glob("*.json")) and in_flight(out)):  # a record written and a job still running
        assert proc.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline, "no record in time"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # the sweep, not its jobs: they go on and the rerun waits for them
    proc.wait()
    assert 1 <= len(list(out.glob("*.json"))) < 4
    rerun = subprocess.run(dlbench(*args), capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr
    records = [Result.load(p) for p in out.glob("*.json")]
    assert all(r.ok for r in records), [r.error for r in records]
    assert {r.tuning["mode"] for r in records} <= {"off", "pinned"}  # numpy has nothing to tune
    found = tags(out)
    assert len(found) == 4 and len(set(found)) == 4 and {t[1] for t in found} == {0}
    assert {r.config["backend"] for r in records} == set(backends.split(","))
    assert {r.config["model"] for r in records} == {"tiny", "perceptron"}
    assert not list(out.glob(".tmp-*"))
    jobs = [d for d in (out / JOBS_DIR / "logs").iterdir() if d.name != "%j"]
    assert len(jobs) == 4, jobs  # a job still running when the sweep was killed was waited for, not run again
    status = CliRunner().invoke(cli, ["sweep", "--status", str(out)])
    assert status.exit_code == 0 and "4 runs in" in status.output and "4 done" in status.output, status.output
    assert all(f"done   {e.job_id} " in status.output for e in Ledger(out).submissions()), status.output
    again = subprocess.run(dlbench(*args), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "4 recorded, 0 to run" in again.stderr


# -- slurm: a stand-in scheduler --------------------------------------------------------------
FAKE = {
    "sbatch": """\
        n=$(($(cat "$FAKE_SLURM/count" 2>/dev/null || echo 0) + 1)); echo $n > "$FAKE_SLURM/count"
        echo "$@" >> "$FAKE_SLURM/sbatch.args"
        for last; do :; done
        cp "$last" "$FAKE_SLURM/submitted-$n.sh"
        echo "Submitted batch job $((4241 + n))"
        """,
    "sacct": """\
        echo "$@" >> "$FAKE_SLURM/sacct.args"
        [ -f "$FAKE_SLURM/sacct.txt" ] || { echo "sacct: error: Slurm accounting storage is disabled" >&2; exit 1; }
        echo "JobID|State|ExitCode"; cat "$FAKE_SLURM/sacct.txt"
        """,
    "squeue": """echo "$@" >> "$FAKE_SLURM/squeue.args"; cat "$FAKE_SLURM/squeue.txt" 2>/dev/null; true""",
    "scancel": """echo "$@" >> "$FAKE_SLURM/scancel.args\"""",
    # runs the job step right here: the command after srun's own options
    "srun": """\
        while [ $# -gt 0 ]; do case "$1" in --unbuffered) shift;; --output|--error) shift 2;; *) break;; esac; done
        exec "$@"
        """,
}


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in FAKE.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(state))
    return state


def test_what_goes_to_slurm_and_what_the_scheduler_says_is_recorded(tmp_path, test_plugins, fake_slurm):
    out = tmp_path / "out"
    args = ["sweep", "-b", "numpy", *TINY[:-1], "--repeat", "2", "--executor", "slurm", "--partition", "gpu-a100",
            "--gpus-per-run", "1", "--cpus-per-run", "4", "--time-limit", "1:30:00", "--max-parallel", "2",
            "--slurm-option", "account=bench", "--slurm-option", "qos=high", "--slurm-option", "exclusive=true", "--wait-timeout", "1", "--output", out]
    (fake_slurm / "sacct.txt").write_text("4242_[0-3%2]|PENDING|0:0\n")
    first = subprocess.run(dlbench(*args), capture_output=True, text=True, timeout=120)
    assert first.returncode == 75, first.stderr  # still queued when the sweep stopped waiting
    assert "submitted 4 runs to slurm as job array 4242 of 4, at most 2 at a time " \
           "(partition gpu-a100, 4 CPUs, 1 GPUs, 90 min each)" in first.stderr, first.stderr
    assert "4 still queued or running" in first.stderr
    calls = (fake_slurm / "sbatch.args").read_text().splitlines()
    assert len(calls) == 1  # one array, not one sbatch per run
    script = (fake_slurm / "submitted-1.sh").read_text()
    for line in ("--partition=gpu-a100", "--gpus-per-node=1", "--cpus-per-task=4", "--time=90", "--array=0-3%2",
                 "--account=bench", "--qos=high", "--job-name=dlbench", "--nodes=1"):
        assert f"#SBATCH {line}\n" in script, script
    assert "#SBATCH --exclusive\n" in script
    assert "-m submitit.core._submit" in script and str(out / JOBS_DIR) in script
    assert sorted(e.job_id for e in Ledger(out).submissions()) == ["4242_0", "4242_1", "4242_2", "4242_3"]

    status = CliRunner().invoke(cli, ["sweep", "--status", str(out)])
    assert "4 queued" in status.output and "4242_3" in status.output, status.output

    # the scheduler timed one out, someone cancelled another, the rest run; job 4242_2 runs for real
    entries = {e.job_id: e for e in Ledger(out).submissions()}
    env = {**os.environ, "SLURM_JOB_ID": "4244", "SLURM_ARRAY_JOB_ID": "4242", "SLURM_ARRAY_TASK_ID": "2",
           "SLURM_NTASKS": "1", "SLURM_JOB_NUM_NODES": "1", "SLURM_NODEID": "0", "SLURM_PROCID": "0",
           "SLURM_LOCALID": "0"}
    job = subprocess.run(["bash", str(fake_slurm / "submitted-1.sh")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert job.returncode == 0, job.stderr
    (fake_slurm / "sacct.txt").write_text("4242_0|TIMEOUT|0:0\n4242_1|CANCELLED by 1000|0:15\n"
                                          "4242_2|COMPLETED|0:0\n4242_3|RUNNING|0:0\n")
    second = subprocess.run(dlbench(*args), capture_output=True, text=True, timeout=120)
    assert second.returncode == 1, second.stderr
    assert len(calls) == len((fake_slurm / "sbatch.args").read_text().splitlines())  # nothing resubmitted
    assert "1 of 4 runs ok, 2 failed, 1 still queued or running" in second.stderr, second.stderr
    job_of = {(e.cell, e.repeat): e.job_id for e in Ledger(out).submissions()}
    by_job = {job_of[sweep.record_tag(r)]: r for r in map(Result.load, out.glob("*.json"))}
    assert sorted(by_job) == ["4242_0", "4242_1", "4242_2"]
    assert by_job["4242_2"].ok and by_job["4242_2"].id.endswith(f"-{entries['4242_2'].cell}-r{entries['4242_2'].repeat}")
    timed_out, cancelled = by_job["4242_0"], by_job["4242_1"]
    assert timed_out.error["kind"] == "timeout" and timed_out.error["job"]["job_id"] == "4242_0"
    assert timed_out.error["message"] == ("slurm job 4242_0 ended TIMEOUT (exit code 0:0) before writing a record; "
                                          "its time limit was 90 min")
    assert cancelled.error["kind"] == "cancelled" and "ended CANCELLED by 1000 (exit code 0:15)" in cancelled.error["message"]
    status = CliRunner().invoke(cli, ["sweep", "--status", str(out)])
    assert "4 runs in" in status.output and "0 queued, 1 running, 1 done, 2 failed" in status.output, status.output


def test_a_multi_node_run_goes_to_slurm_as_one_job_with_a_task_per_process(tmp_path, test_plugins, fake_slurm):
    out = tmp_path / "out"
    (fake_slurm / "sacct.txt").write_text("4242|PENDING|0:0\n")
    args = ["sweep", "-b", "numpy", *TINY[:-1], "-m", "tiny", "--repeat", "1", "--executor", "slurm", "--nodes", "2",
            "--tasks-per-node", "4", "--gpus-per-task", "1", "--wait-timeout", "1", "--output", out]
    first = subprocess.run(dlbench(*args), capture_output=True, text=True, timeout=120)
    assert first.returncode == 75, first.stderr
    assert "(2 nodes x 4 tasks, 1 GPUs per task, 60 min each)" in first.stderr, first.stderr
    script = (fake_slurm / "submitted-1.sh").read_text()
    for line in ("--nodes=2", "--ntasks-per-node=4", "--gpus-per-task=1"):
        assert f"#SBATCH {line}\n" in script, script
    (submission,) = Ledger(out).submissions()
    assert (submission.config["replicas"], submission.config["processes"]) == (8, 8)


def test_no_slurm_here_is_a_one_line_error(tmp_path, test_plugins, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    result = CliRunner().invoke(cli, ["sweep", "-b", "numpy", "-m", "tiny", "-d", "synthetic", "--steps", "2",
                                      "--repeat", "1", "--executor", "slurm", "--output", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "cannot use --executor slurm here" in result.output + str(result.exception)


def test_a_job_the_scheduler_lost_is_recorded_as_failed(tmp_path, test_plugins, fake_slurm):
    out = tmp_path / "out"
    args = ["sweep", "-b", "numpy", *TINY, "--repeat", "1", "-m", "tiny", "--executor", "slurm", "--wait-timeout", "1",
            "--output", out]
    (fake_slurm / "sacct.txt").write_text("4242|PENDING|0:0\n")
    assert subprocess.run(dlbench(*args), capture_output=True, timeout=120).returncode == 75
    ledger = Ledger(out)
    (entry,) = ledger.submissions()
    entry.submitted -= 3600  # long past the grace for a job the scheduler has not listed yet
    ledger.put(entry)
    (fake_slurm / "sacct.txt").write_text("")  # neither sacct nor squeue knows job 4242 any more
    rerun = subprocess.run(dlbench(*args), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 1, rerun.stderr
    (record,) = [Result.load(p) for p in out.glob("*.json")]
    assert record.error["kind"] == "lost"
    assert record.error["message"] == ("slurm job 4242 was lost: the scheduler no longer knows it "
                                       "(not in sacct or squeue) and it wrote no record")
    assert sweep.record_tag(record) == (entry.cell, 0)


def test_without_accounting_squeue_tells_what_is_still_queued(fake_slurm):
    from dlbench.execution.executors import states

    (fake_slurm / "squeue.txt").write_text("4242_1|PENDING|Priority\n4242_2|RUNNING|None\n")  # no sacct.txt: sacct fails
    found = states.slurm_states(["4242_0", "4242_1", "4242_2"])
    assert found["4242_1"] == states.JobState("queued", "PENDING", "Priority")
    assert found["4242_2"].phase == "running"
    assert found["4242_0"].phase == "unknown" and found["4242_0"].detail == "not in sacct or squeue"
    assert "-j 4242" in (fake_slurm / "squeue.args").read_text()
