"""Rank is decided in one place, from every launcher's variables alike (torchrun, a plain start,
dlbench's own, srun, submitit, TF_CONFIG); replica 0 alone records; the processes agree or stop."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from dlbench.config import RunConfig
from dlbench.errors import ConfigError
from dlbench.execution.launcher import (Launch, check_agreement, detect, digest, explain, first_host, group, silent_rank,
                                        writes_record)
from dlbench.result import Result

TORCHRUN = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "x"}
SRUN = {"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "2(x4)"}


def test_both_launchers_give_rank_and_world():
    assert detect(TORCHRUN) == Launch("torchrun", 1, 2, 1, 2, None, 29501)  # torchrun's store holds MASTER_PORT
    assert detect(SRUN) == Launch("slurm", 3, 8, 1, 2)
    assert detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) == Launch()  # a one-task job step
    assert detect({"RANK": "3"}) == Launch()  # a stray RANK in the shell is not a launch


@pytest.mark.parametrize("env, replicas, writes", [
    (TORCHRUN, 2, False), (SRUN, 8, False), ({**SRUN, "SLURM_PROCID": "0"}, 8, True),
    (SRUN, 1, True),  # each task of a one-replica run is a run of its own
    ({"RANK": "3"}, 2, True),
])
def test_only_process_0_of_a_launch_writes_the_record(env, replicas, writes):
    assert writes_record(replicas, detect(env)) is writes


@pytest.fixture
def fake_runner(monkeypatch):
    def run(config, on_event=None):
        return Result(config=config.to_dict(), timing={"step_time_s": {"median": 0.01}})

    monkeypatch.setattr("dlbench.execution.runner.run", run)
    monkeypatch.setattr("dlbench.cli.summary.table", lambda result: "summary")


@pytest.mark.parametrize("launch, says", [(TORCHRUN, "process 1 of 2 (torchrun)"), (SRUN, "process 3 of 8 (slurm)")])
def test_a_non_zero_replica_says_so_and_writes_no_record(fake_runner, monkeypatch, tmp_path, launch, says):
    for key, value in launch.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["run", "-b", "torch", "-m", "mlp", "-d", "synthetic", "--steps", "2",
                                      "--replicas", launch.get("WORLD_SIZE", launch.get("SLURM_NTASKS")),
                                      "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert says in result.stderr and "process 0 writes the record" in result.stderr
    assert list(tmp_path.glob("*.json")) == []


def test_a_stray_rank_in_the_shell_still_records(fake_runner, monkeypatch, tmp_path):
    monkeypatch.setenv("RANK", "3")
    result = CliRunner().invoke(cli, ["run", "-b", "torch", "-m", "mlp", "-d", "synthetic", "--steps", "2",
                                      "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("*.json"))) == 1


# -- every launcher, one place -------------------------------------------------------------------
PLAIN = {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29400"}


def test_a_plain_start_dlbench_submitit_and_tf_config_are_launches_too():
    assert detect(PLAIN) == Launch("env", 1, 2, 0, 2, "127.0.0.1", 29400)
    assert detect({**PLAIN, "DLBENCH_LAUNCHER": "dlbench"}).launcher == "dlbench"
    local = detect({"SUBMITIT_LOCAL_GLOBALID": "1", "SUBMITIT_LOCAL_LOCALID": "1", "SUBMITIT_LOCAL_NTASKS": "2",
                    "SUBMITIT_LOCAL_JOB_ID": "4321"})
    assert local == Launch("submitit", 1, 2, 1, 2, "127.0.0.1", 20000 + 4321 % 20000)
    tf_config = '{"cluster": {"worker": ["hostA:2222", "hostB:2222"]}, "task": {"type": "worker", "index": 1}}'
    assert detect({"TF_CONFIG": tf_config}) == Launch("tf_config", 1, 2, 1, 2, "hostA", 2222)
    assert detect({"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"index": 0}}'}) == Launch()


def test_under_srun_the_coordinator_is_the_first_node_on_a_port_of_the_job():
    srun = detect({**SRUN, "SLURM_STEP_NODELIST": "gpu[07-10,12],cpu1", "SLURM_JOB_ID": "123456"})
    assert (srun.host, srun.port, srun.nodes) == ("gpu07", 20000 + 123456 % 20000, 4)
    assert srun.coordinator == f"gpu07:{srun.port}"
    assert detect({**SRUN, "SLURM_JOB_NODELIST": "n1", "MASTER_ADDR": "head", "MASTER_PORT": "1234"}).coordinator == "head:1234"
    assert first_host("node003") == "node003" and first_host("a[1-2],b") == "a1" and first_host("") is None


def test_a_missing_coordinator_address_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"process 1 of 2 \(env\): no coordinator address; set MASTER_ADDR"):
        detect({"RANK": "1", "WORLD_SIZE": "2"}).coordinator


def test_the_run_s_processes_are_decided_once_and_checked():
    alone = Launch()
    assert group(4, None, launch=alone).processes == 1  # JAX, TensorFlow: one process unless asked
    assert group(4, None, one_per_replica=True, launch=alone).processes == 4  # torch
    assert group(4, 2, launch=alone).to_start and group(4, 2, launch=alone).local_replicas == 2
    launched = detect(PLAIN)
    assert group(2, None, launch=launched).processes == 2 and not group(2, None, launch=launched).to_start
    with pytest.raises(ConfigError, match="--processes 4, but env started 2 processes"):
        group(4, 4, launch=launched)
    with pytest.raises(ConfigError, match="--replicas 3 does not divide over 2 processes"):
        group(3, None, launch=launched)
    with pytest.raises(ConfigError, match="one process per replica: --replicas 4 needs 4 processes, not 2"):
        group(4, 2, one_per_replica=True, launch=alone)
    with pytest.raises(ConfigError, match="2 replicas do not divide over 3 processes"):
        RunConfig(replicas=2, processes=3)


def test_processes_that_disagree_on_the_configuration_are_named():
    same = digest({"steps": 3, "model": "mlp"})
    assert same == digest({"model": "mlp", "steps": 3})
    check_agreement([same, same])
    with pytest.raises(ConfigError, match="the processes disagree on the run's configuration: process 1 differs"):
        check_agreement([same, digest({"steps": 4, "model": "mlp"})])


def test_the_process_whose_heartbeats_stopped_is_blamed():
    jax_log = "E1206 ... The following tasks are unhealthy (stopped sending heartbeats):\n1\nThe tasks have crashed."
    tf_error = "The following tasks are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:3\n"
    assert silent_rank(jax_log) == 1 and silent_rank(tf_error) == 3 and silent_rank("oom") is None
    assert explain(0, "killed by signal 6", jax_log) == (
        "a data-parallel process failed, so the run was stopped: rank 1: stopped sending heartbeats (it died or hung), "
        "so rank 0 ended: killed by signal 6")
    assert explain(2, "killed by signal 9", "") == "a data-parallel process failed, so the run was stopped: rank 2: killed by signal 9"
