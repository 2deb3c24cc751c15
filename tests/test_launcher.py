"""Rank is decided in one place, from torchrun's and Slurm's variables alike; replica 0 alone records."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from dlbench.execution.launcher import Launch, detect, writes_record
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
