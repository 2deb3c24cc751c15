"""`dlbench compare`: slower / faster / within noise, unmatched runs, environment warnings, exit codes.

Also home of :func:`fake_record`, the synthetic records the report tests use too.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from dlbench.analysis.compare import compare, render
from dlbench.config import RunConfig
from dlbench.errors import DlbenchError
from dlbench.result import Result
from dlbench.analysis.results import load_results
from dlbench.execution.sweep import cell_key


def fake_record(backend: str = "torch", model: str = "lenet5", *, dataset: str = "synthetic", batch_size: int = 16,
                step: float = 0.010, n: int = 40, seed: int = 0, repeat: int | None = 0, settings: dict | None = None,
                env: dict | None = None, options: dict | None = None, **config) -> Result:
    """A complete result record with ``n`` step times around ``step`` seconds (2 % noise), no run needed."""
    times = step * (1 + 0.02 * np.random.default_rng(seed).standard_normal(n))
    cfg = RunConfig(backend=backend, model=model, dataset=dataset, batch_size=batch_size, steps=n, warmup=1,
                    backend_options=options or {}, **config).to_dict()
    median = float(np.median(times))
    r = Result(
        config=cfg,
        backend={"name": backend, "device": "cpu", "settings": settings if settings is not None else {"compile": False}},
        model={"name": model, "params_trainable": 61706, "params_non_trainable": 0, "macs_per_sample": 416520},
        dataset={"name": dataset, "real": dataset != "synthetic"},
        timing={"steps_timed": n, "warmup_steps": 1, "step_time_s": {"median": median}, "step_times_s": list(times),
                "throughput_samples_per_s": batch_size / median, "time_to_first_step_s": 0.5, "wall_time_s": 3.0},
        flops={"per_train_step_analytic": 6 * 416520 * batch_size, "per_train_step_framework": 5.9 * 416520 * batch_size,
               "framework_method": "fake", "achieved_flops_per_s": 6 * 416520 * batch_size / median},
        memory={"host_peak_rss_bytes": 300 * 2**20, "device_peak_bytes": None},
        accuracy={"top1": None, "top5": None, "reason": "synthetic data: accuracy is not applicable"},
        loss={"curve": [2.3, 2.2, 2.1], "first": 2.3, "final": 2.1},
        environment={"python": "3.11.7", "cpu": "Test CPU", "logical_cores": 2, "usable_cores": 2, "dlbench": "0.1.0",
                     "framework": backend, backend: "1.0", "threads": 2, "precision": "float32", **(env or {})},
    )
    if repeat is not None:
        r.id = f"{r.id}-{cell_key(cfg)}-r{repeat}"
    return r


def failed_record(backend: str = "torch", model: str = "lenet5", repeat: int = 0, **config) -> Result:
    cfg = RunConfig(backend=backend, model=model, dataset="synthetic", batch_size=16, steps=40, warmup=1, **config).to_dict()
    r = Result.failed(cfg, "crash", "worker exited | with status 3", environment={"cpu": "Test CPU"})
    r.id = f"{r.id}-{cell_key(cfg)}-r{repeat}"
    return r


def save_all(directory: Path, records) -> Path:
    for r in records:
        r.save(directory)
    return directory


def copies(src: Path, dst: Path, factor: float = 1.0, jitter: float = 0.0, seed: int = 0,
           edit=lambda record: None) -> Path:
    """Copies of the records in ``src`` with step times × ``factor`` × (1 ± ``jitter``), new ids."""
    rng = np.random.default_rng(seed)
    dst.mkdir(parents=True, exist_ok=True)
    records = [json.loads(path.read_text()) for path in src.glob("*.json")]
    # in an order that does not depend on the random part of ids, so the jitter each gets is fixed
    for data in sorted(records, key=lambda d: (json.dumps(d["config"], sort_keys=True), d["id"][12:])):
        times = np.asarray(data["timing"].get("step_times_s") or [])
        data["timing"]["step_times_s"] = list(times * factor * (1 + rng.uniform(-jitter, jitter, times.size)))
        data["id"] = uuid.uuid4().hex[:12] + data["id"][12:]
        edit(data)
        Result.from_dict(data).save(dst)
    return dst


@pytest.fixture
def old(tmp_path) -> Path:
    return save_all(tmp_path / "old", [fake_record("torch", seed=1, repeat=0), fake_record("torch", seed=2, repeat=1),
                                       fake_record("torch", "perceptron", step=0.002, seed=3)])


def verdicts(old_dir: Path, new_dir: Path, threshold: float = 0.05) -> dict[str, str]:
    return {r.name.split()[0]: r.verdict for r in compare(load_results(old_dir), load_results(new_dir), threshold).rows}


def test_a_rerun_with_jitter_is_within_noise(old, tmp_path):
    new = copies(old, tmp_path / "new", jitter=0.03, seed=7)
    assert set(verdicts(old, new).values()) == {"within noise"}
    result = CliRunner().invoke(cli, ["compare", str(old), str(new)])
    assert result.exit_code == 0, result.output
    assert "0 regression(s)" in result.output


def test_a_slower_run_is_a_regression(old, tmp_path):
    new = copies(old, tmp_path / "new", factor=1.3, jitter=0.03)
    assert set(verdicts(old, new).values()) == {"slower"}
    result = CliRunner().invoke(cli, ["compare", str(old), str(new)])
    assert result.exit_code == 1
    assert "SLOWER" in result.output
    ratios = [r.ratio.estimate for r in compare(load_results(old), load_results(new)).rows]
    assert all(1.25 < x < 1.35 for x in ratios)


def test_a_faster_run_is_not_a_regression(old, tmp_path):
    new = copies(old, tmp_path / "new", factor=0.7)
    assert set(verdicts(old, new).values()) == {"faster"}
    assert CliRunner().invoke(cli, ["compare", str(old), str(new)]).exit_code == 0


def test_threshold_decides_small_but_significant_changes(old, tmp_path):
    new = copies(old, tmp_path / "new", factor=1.03)
    assert verdicts(old, new, threshold=0.05)["torch/lenet5"] == "within noise"
    assert verdicts(old, new, threshold=0.01)["torch/lenet5"] == "slower"
    assert CliRunner().invoke(cli, ["compare", str(old), str(new), "--threshold", "1"]).exit_code == 1


def test_unmatched_runs_are_listed_with_what_differs(old, tmp_path):
    new = save_all(tmp_path / "new", [fake_record("torch", seed=5), fake_record("torch", "perceptron", step=0.002, n=20)])
    c = compare(load_results(old), load_results(new))
    assert [r.name.split()[0] for r in c.rows] == ["torch/lenet5"]
    assert len(c.only_old) == 1 and "perceptron" in c.only_old[0] and "steps" in c.only_old[0]
    assert len(c.only_new) == 1
    assert "only in OLD" in render(c) and "only in NEW" in render(c)


def test_environment_differences_are_warned(old, tmp_path):
    def upgrade(data):
        data["environment"]["torch"] = "2.0"
        data["environment"]["threads"] = 4

    new = copies(old, tmp_path / "new", edit=upgrade)
    c = compare(load_results(old), load_results(new))
    text = render(c)
    assert "`torch` 1.0 → 2.0" in text and "`threads` 2 → 4" in text


def test_a_newly_failing_run_is_a_regression(old, tmp_path):
    new = save_all(tmp_path / "new", [failed_record(), fake_record("torch", "perceptron", step=0.002, seed=3)])
    c = compare(load_results(old), load_results(new))
    assert {r.name.split()[0]: r.verdict for r in c.rows} == {"torch/lenet5": "newly failing",
                                                              "torch/perceptron": "within noise"}
    assert CliRunner().invoke(cli, ["compare", str(old), str(new)]).exit_code == 1


def test_single_files_can_be_compared(old, tmp_path):
    new = copies(old, tmp_path / "new", factor=2.0)
    one_old = sorted(old.glob("torch-perceptron*.json"))[0]
    one_new = sorted(new.glob("torch-perceptron*.json"))[0]
    result = CliRunner().invoke(cli, ["compare", str(one_old), str(one_new)])
    assert result.exit_code == 1 and "SLOWER" in result.output


def test_missing_directory_is_a_clear_error(old, tmp_path):
    result = CliRunner().invoke(cli, ["compare", str(old), str(tmp_path / "nowhere")])
    assert isinstance(result.exception, DlbenchError)  # main() prints it as one line, exit status 2
    assert "no such results directory" in str(result.exception)


def test_real_records_slowed_on_purpose_are_flagged_and_jittered_reruns_are_not(real_sweep, tmp_path):
    times = np.concatenate(load_results(real_sweep)["timing.step_times_s"].tolist())
    # slower than the spread of the steps: every bootstrap ratio is then above 2, so this cannot flake
    slower = copies(real_sweep, tmp_path / "slower", factor=max(1.5, 2 * times.max() / times.min()))
    rerun = copies(real_sweep, tmp_path / "rerun", jitter=0.01, seed=3)
    assert set(verdicts(real_sweep, slower).values()) == {"slower"}
    assert set(verdicts(real_sweep, rerun).values()) == {"within noise"}


@pytest.fixture(scope="session")
def real_sweep(tmp_path_factory) -> Path:
    from tests.test_sweep import real_sweep_dir

    return real_sweep_dir(tmp_path_factory)
