"""`dlbench sweep`: the matrix, cell keys, resuming, retrying, failures, and a real kill-and-resume.

Also home of :func:`real_sweep_dir`, the session's one real torch sweep that other test files reuse.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlbench.execution import sweep
from dlbench.execution.executors import output
from dlbench.cli import cli
from dlbench.config import RunConfig
from dlbench.errors import ConfigError, DlbenchError, UnknownNameError
from dlbench.result import Result
from tests.conftest import alive, children, heavy_modules_after

# --no-tune: tuning would compile inductor candidates cold inside the wait for the first record
REAL_ARGS = ["-b", "torch", "-m", "perceptron,lenet5", "-d", "synthetic", "--batch-size", "8",
             "--steps", "5", "--warmup", "1", "--repeat", "1", "--no-tune", "--timeout", "120", "-q"]
_real: dict = {}


def dlbench(*args: object) -> list[str]:
    return [sys.executable, "-m", "dlbench.cli", *map(str, args)]


def real_sweep_dir(tmp_path_factory) -> Path:
    """Once per session: a real torch sweep of two cells, SIGKILLed while its second run is in
    flight (after the first record appeared), then rerun to completion."""
    if "dir" not in _real:
        pytest.importorskip("torch")
        if not Path("/proc/self/stat").exists():
            pytest.skip("needs Linux /proc to find the sweep's worker")
        out = tmp_path_factory.mktemp("real-sweep")
        proc = subprocess.Popen(dlbench("sweep", *REAL_ARGS, "--output", out), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not (list(out.glob("*.json")) and children(proc.pid)):  # first record saved, second run started
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep wrote no record in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGSTOP)  # no new worker between listing and killing
        workers = children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10  # the kernel kills the orphaned worker (dlbench.execution.worker.die_with_parent)
        while any(map(alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        _real["first"] = sorted(p.name for p in out.glob("*.json"))
        _real["rerun"] = subprocess.run(dlbench("sweep", *REAL_ARGS, "--output", out), capture_output=True,
                                        text=True, timeout=300)
        _real["dir"] = out
    return _real["dir"]


@pytest.fixture(scope="session")
def real_sweep(tmp_path_factory) -> Path:
    return real_sweep_dir(tmp_path_factory)


def test_killed_sweep_resumes_with_one_valid_record_per_cell(real_sweep):
    assert _real["rerun"].returncode == 0, _real["rerun"].stderr
    assert len(_real["first"]) == 1
    assert "1 recorded, 1 to run" in _real["rerun"].stderr
    records = sorted(real_sweep.glob("*.json"))
    assert _real["first"][0] in [p.name for p in records]  # kept, not redone
    loaded = [Result.load(p) for p in records]
    assert all(r.ok for r in loaded)
    assert {r.tuning["mode"] for r in loaded} == {"off"}
    tags = sorted(sweep.record_tag(r) for r in loaded)
    assert len(tags) == 2 and len(set(tags)) == 2 and {t[1] for t in tags} == {0}
    assert not list(real_sweep.glob(".tmp-*"))


def test_a_real_timeout_is_recorded_and_fails_the_sweep(tmp_path):
    pytest.importorskip("torch")
    done = subprocess.run(dlbench("sweep", "-b", "torch", "-m", "perceptron", "-d", "synthetic", "--steps", "5",
                                  "--timeout", "0.3", "--repeat", "1", "--output", tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "timeout" in done.stderr
    [record] = [Result.load(p) for p in tmp_path.glob("*.json")]
    assert record.status == "failed" and record.error["kind"] == "timeout"


# -- identity and the matrix ------------------------------------------------------------------
def key(**settings) -> str:
    return sweep.cell_key(RunConfig(**settings).to_dict())


def test_cell_key_ignores_how_a_run_is_executed_but_not_what_it_measures():
    base = key(steps=5)
    assert len(base) == 10 and base == key(steps=5)
    assert base == key(steps=5, lr=1e-3)  # adam's default made explicit
    assert base == key(steps=5, epochs=3)  # epochs are overridden by steps
    assert base == key(steps=5, timeout=10, data_dir="/elsewhere", download=True)
    assert len({base, key(steps=6), key(steps=5, batch_size=32), key(steps=5, backend_options={"compile": True}),
                key(steps=5, seed=1), key(steps=5, device="gpu")}) == 6


def test_expand_is_the_cartesian_product_with_aliases_resolved_and_duplicates_dropped():
    configs = sweep.expand({"backend": ["pytorch", "torch"], "model": ["lenet5", "mlp"], "batch_size": [8, 16],
                            "dataset": "synthetic", "steps": 5})
    assert [(c.backend, c.model, c.batch_size) for c in configs] == [
        ("torch", "lenet5", 8), ("torch", "lenet5", 16), ("torch", "mlp", 8), ("torch", "mlp", 16)]


def test_seeds_are_the_outermost_axis_so_every_backend_shares_the_drift():
    configs = sweep.expand({"backend": ["torch", "jax"], "seed": [0, 1, 2], "dataset": "synthetic", "steps": 5})
    assert [(c.seed, c.backend) for c in configs] == [
        (0, "torch"), (0, "jax"), (1, "torch"), (1, "jax"), (2, "torch"), (2, "jax")]


def test_options_apply_to_every_backend_or_the_one_named_and_lists_are_axes():
    configs = sweep.expand({"backend": ["torch", "jax"], "options": {"seedless": 1, "torch": {"compile": [False, True]}}})
    assert [(c.backend, c.backend_options) for c in configs] == [
        ("torch", {"compile": False, "seedless": 1}), ("torch", {"compile": True, "seedless": 1}), ("jax", {"seedless": 1})]


def test_matrix_entries_override_the_top_level():
    configs = sweep.expand({"model": "lenet5", "batch_size": 64, "matrix": [{}, {"model": "alexnet", "batch_size": [4, 8]}]})
    assert [(c.model, c.batch_size) for c in configs] == [("lenet5", 64), ("alexnet", 4), ("alexnet", 8)]


def test_unknown_names_are_clear_errors():
    with pytest.raises(UnknownNameError, match="unknown model 'resnet9000'"):
        sweep.expand({"model": ["lenet5", "resnet9000"]})
    with pytest.raises(UnknownNameError, match="unknown backend"):
        sweep.expand({"options": {"caffe": {"x": 1}}})
    with pytest.raises(ConfigError, match="batch size"):
        sweep.expand({"batch_size": [8, "big"]})


def test_sweep_file_toml(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('backend = "torch"\nmodel = ["lenet5", "perceptron"]\nsteps = 5\nrepeat = 2\n'
                    '[options.torch]\ncompile = false\n')
    spec = sweep.load_spec(path)
    assert spec["repeat"] == 2
    assert [c.model for c in sweep.expand(spec)] == ["lenet5", "perceptron"]


@pytest.mark.parametrize("name, text, match", [
    ("bad.toml", "model = [", "not valid TOML"),
    ("bad.toml", "modle = 'lenet5'", "unknown setting.*modle"),
    ("bad.json", "{}", "unknown sweep file type"),
    ("bad.toml", "options = 3", "options must be a table"),
])
def test_bad_sweep_files_are_clear_errors(tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=match):
        sweep.load_spec(tmp_path / name)


def test_sweep_file_yaml(tmp_path):
    pytest.importorskip("yaml")
    (tmp_path / "s.yaml").write_text("model: [lenet5, mlp]\nbatch_size: 8\n")
    assert [c.model for c in sweep.expand(sweep.load_spec(tmp_path / "s.yaml"))] == ["lenet5", "mlp"]


# -- resuming, retrying and failures, with a fake runner (no processes) ---------------------------
def fake_run(fail: set[str] = frozenset(), crash: set[str] = frozenset()):
    calls = []

    def run(config: RunConfig, on_event=None) -> Result:
        calls.append((config.model, config.batch_size))
        if config.model in crash:
            raise RuntimeError("the runner itself broke")
        if config.model in fail:
            return Result.failed(config.to_dict(), "crash", "worker exited with status 3 without a result")
        return Result(config=config.to_dict(), timing={"step_time_s": {"median": 0.01}, "step_times_s": [0.01]})

    run.calls = calls
    return run


ARGS = ["-m", "lenet5,perceptron", "-d", "synthetic", "--steps", "5", "--repeat", "1", "-q"]


def invoke(*args):
    return CliRunner().invoke(cli, ["sweep", *map(str, args)])


def test_rerun_skips_recorded_runs(tmp_path, monkeypatch):
    monkeypatch.setattr("dlbench.execution.runner.run", run := fake_run())
    assert invoke(*ARGS, "--repeat", 2, "--output", tmp_path).exit_code == 0
    assert run.calls == [("lenet5", 64), ("perceptron", 64)] * 2  # repeats interleaved
    monkeypatch.setattr("dlbench.execution.runner.run", again := fake_run())
    result = invoke(*ARGS, "--repeat", 3, "--output", tmp_path)
    assert result.exit_code == 0
    assert again.calls == [("lenet5", 64), ("perceptron", 64)]  # only the third repeat
    assert "4 recorded, 2 to run" in result.output
    assert sorted(sweep.record_tag(Result.load(p))[1] for p in tmp_path.glob("*.json")) == [0, 0, 1, 1, 2, 2]


def test_failures_do_not_stop_the_sweep_and_are_retried_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr("dlbench.execution.runner.run", run := fake_run(fail={"lenet5"}, crash={"perceptron"}))
    result = invoke(*ARGS, "-m", "lenet5,perceptron,mlp", "--output", tmp_path)
    assert result.exit_code == 1
    assert len(run.calls) == 3 and "2 failed" in result.output and "RuntimeError" in result.output
    assert sorted(Result.load(p).status for p in tmp_path.glob("*.json")) == ["failed", "failed", "ok"]

    monkeypatch.setattr("dlbench.execution.runner.run", skip := fake_run())
    result = invoke(*ARGS, "-m", "lenet5,perceptron,mlp", "--output", tmp_path)
    assert skip.calls == [] and result.exit_code == 1 and "--retry-failed" in result.output

    monkeypatch.setattr("dlbench.execution.runner.run", retry := fake_run())
    result = invoke(*ARGS, "-m", "lenet5,perceptron,mlp", "--output", tmp_path, "--retry-failed")
    assert result.exit_code == 0 and sorted(retry.calls) == [("lenet5", 64), ("perceptron", 64)]
    records = [Result.load(p) for p in tmp_path.glob("*.json")]
    assert len(records) == 3 and all(r.ok for r in records)  # the failed records were replaced


def test_a_failed_record_already_replaced_by_an_ok_one_is_removed(tmp_path, monkeypatch):
    config = RunConfig(model="lenet5", dataset="synthetic", steps=5)
    cell = sweep.cell_key(config.to_dict())
    for result in (Result(config=config.to_dict()), Result.failed(config.to_dict(), "crash", "boom")):
        result.id = f"{result.id}-{cell}-r0"
        result.save(tmp_path)  # as a sweep killed between saving a retry and deleting the failure leaves them
    monkeypatch.setattr("dlbench.execution.runner.run", run := fake_run())
    assert invoke("-m", "lenet5", "-d", "synthetic", "--steps", "5", "--repeat", "1", "-q", "--output", tmp_path).exit_code == 0
    assert run.calls == [] and [Result.load(p).status for p in tmp_path.glob("*.json")] == ["ok"]


def test_dry_run_lists_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("dlbench.execution.runner.run", run := fake_run())
    result = invoke(*ARGS, "--batch-size", "8,16", "--dry-run", "--output", tmp_path)
    assert result.exit_code == 0 and run.calls == []
    assert "torch/perceptron synthetic bs16" in result.output


def test_a_seed_list_is_the_replication_one_run_per_seed_unless_repeat_is_given(tmp_path):
    # the README's time-to-accuracy command, as written
    readme = ["-b", "torch,tensorflow,jax", "-m", "mlp", "-d", "fashion-mnist", "--target-accuracy", "0.87",
              "--eval-every", "0.5", "--max-epochs", "10", "--seeds", "0,1,2,3,4", "--output", tmp_path, "--dry-run"]
    result = invoke(*readme)
    assert result.exit_code == 0, result.output
    assert "15 configurations × 1 repeat = 15 runs" in result.output and "the seeds are the replicates" in result.output
    assert len([line for line in result.output.splitlines() if "/mlp " in line]) == 15
    assert "15 configurations × 2 repeats = 30 runs" in invoke(*readme, "--repeat", "2").output
    path = tmp_path / "seeds.toml"
    path.write_text('model = "mlp"\ndataset = "synthetic"\nsteps = 5\nseed = [0, 1]\n')
    assert "2 configurations × 1 repeat = 2 runs" in invoke("--config", path, "--dry-run", "--output", tmp_path).output
    assert "1 configuration × 5 repeats = 5 runs" in invoke("-m", "mlp", "-d", "synthetic", "--steps", "5", "--seed", "3",
                                                           "--dry-run", "--output", tmp_path).output


def test_stale_temp_files_are_cleared_and_a_second_sweep_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("dlbench.execution.runner.run", fake_run())
    stale, fresh = tmp_path / ".tmp-old.json", tmp_path / ".tmp-new.json"
    for f in (stale, fresh):
        f.write_text("{")
    os.utime(stale, (time.time() - 3600,) * 2)
    assert invoke(*ARGS, "--output", tmp_path).exit_code == 0
    assert not stale.exists() and fresh.exists()  # a fresh one may be a `dlbench run` writing
    with output.locked(tmp_path):
        with pytest.raises(DlbenchError, match="another sweep"):
            with output.locked(tmp_path):
                pass


def test_cli_overrides_the_sweep_file(tmp_path, monkeypatch):
    monkeypatch.setattr("dlbench.execution.runner.run", run := fake_run())
    path = tmp_path / "s.toml"
    path.write_text(f'model = ["lenet5", "mlp"]\nbatch_size = 8\nsteps = 5\noutput = "{tmp_path / "out"}"\n')
    result = CliRunner().invoke(cli, ["sweep", "--config", str(path), "--batch-size", "4", "-q"])
    assert result.exit_code == 0, result.output
    assert run.calls == [("lenet5", 4), ("mlp", 4)] * 5  # the default repeat count, interleaved
    assert len(list((tmp_path / "out").glob("*.json"))) == 10


def test_listing_a_sweep_and_its_status_imports_no_framework(tmp_path):
    from tests.test_compare import fake_record

    fake_record().save(tmp_path / "done")
    dry_run = ["sweep", "-b", "torch,tensorflow,jax", "-m", "lenet5,mlp", "-d", "synthetic",
               "-o", "torch.compile=true,false", "-o", "tensorflow.xla=true", "--dry-run", "--output", str(tmp_path / "out")]
    assert heavy_modules_after(dry_run, ["sweep", "--status", str(tmp_path / "done")]) == []
