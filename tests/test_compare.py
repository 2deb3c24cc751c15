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


def seed_run(backend: str = "torch", model: str = "lenet5", *, seed: int, **kwargs) -> Result:
    """One run of a seed sweep: ``seed`` in the record's config, the run in a sweep cell of its own."""
    r = fake_record(backend, model, seed=seed, repeat=None, **kwargs)
    r.config["seed"] = seed
    r.id = f"{r.id}-{cell_key(r.config)}-r0"
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


def run_set(backend: str = "torch", model: str = "lenet5", *, step: float = 0.010, spread: float = 0.002,
            runs: int = 5, seed: int = 0, **kwargs) -> list[Result]:
    """``runs`` records of one configuration (repeats 0..runs-1) whose medians lie evenly within
    ``step`` × (1 ± ``spread``): a controlled between-run variation."""
    factors = np.linspace(1 - spread, 1 + spread, runs) if runs > 1 else [1.0]
    return [fake_record(backend, model, step=step * f, seed=seed + i, repeat=i, **kwargs) for i, f in enumerate(factors)]


def copies(src: Path, dst: Path, factor: float = 1.0, jitter: float = 0.0, seed: int = 0,
           edit=lambda record: None, run_jitter: float = 0.0) -> Path:
    """Copies of the records in ``src`` with step times × ``factor`` × (1 ± ``jitter``) per step and
    × (1 ± ``run_jitter``) per record (as a rerun in a new process moves), new ids."""
    rng = np.random.default_rng(seed)
    dst.mkdir(parents=True, exist_ok=True)
    records = [json.loads(path.read_text()) for path in src.glob("*.json")]
    # in an order that does not depend on the random part of ids, so the jitter each gets is fixed
    for data in sorted(records, key=lambda d: (json.dumps(d["config"], sort_keys=True), d["id"][12:])):
        times = np.asarray(data["timing"].get("step_times_s") or [])
        run = 1 + rng.uniform(-run_jitter, run_jitter)
        data["timing"]["step_times_s"] = list(times * factor * run * (1 + rng.uniform(-jitter, jitter, times.size)))
        data["id"] = uuid.uuid4().hex[:12] + data["id"][12:]
        edit(data)
        Result.from_dict(data).save(dst)
    return dst


@pytest.fixture
def old(tmp_path) -> Path:
    return save_all(tmp_path / "old", run_set("torch", spread=0.002) + run_set("torch", "perceptron", step=0.002, seed=10))


def verdicts(old_dir: Path, new_dir: Path, threshold: float = 0.05) -> dict[str, str]:
    return {r.name.split()[0]: r.verdict for r in compare(load_results(old_dir), load_results(new_dir), threshold).rows}


def test_an_a_a_rerun_whose_runs_move_is_within_noise(old, tmp_path):
    new = copies(old, tmp_path / "new", jitter=0.03, run_jitter=0.04, seed=7)
    assert set(verdicts(old, new).values()) == {"within noise"}
    result = CliRunner().invoke(cli, ["compare", str(old), str(new)])
    assert result.exit_code == 0, result.output
    assert "0 regression(s)" in result.output and "| 5, ±" in result.output


def test_a_slower_run_is_a_regression(old, tmp_path):
    new = copies(old, tmp_path / "new", factor=1.3, jitter=0.03, run_jitter=0.01)
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


def test_a_change_within_the_between_run_variation_is_not_flagged(tmp_path):
    # significant (the medians of 7 runs barely move) but smaller than how far one run strayed: 15 %
    old_runs = run_set(spread=0.0005, runs=7)
    old_runs[0] = fake_record(step=0.0085, seed=50, repeat=0)
    old_runs[-1] = fake_record(step=0.0115, seed=51, repeat=6)
    old_dir = save_all(tmp_path / "old", old_runs)
    new_dir = save_all(tmp_path / "new", run_set(step=0.011, spread=0.0005, runs=7, seed=20))
    [row] = compare(load_results(old_dir), load_results(new_dir), 0.05).rows
    assert row.ratio.significant and row.ratio.estimate == pytest.approx(1.1, rel=0.01)
    assert row.verdict == "within noise" and "between-run variation" in row.note
    # the same shift against steady runs is a regression
    steady = save_all(tmp_path / "steady", run_set(spread=0.0005, runs=7))
    assert verdicts(steady, new_dir)["torch/lenet5"] == "slower"


def test_too_few_runs_decide_nothing_however_large_the_change(tmp_path):
    old_dir = save_all(tmp_path / "old", run_set(runs=1))
    new_dir = copies(old_dir, tmp_path / "new", factor=2.0)
    [row] = compare(load_results(old_dir), load_results(new_dir)).rows
    assert row.verdict == "too few runs" and row.ratio.ci is None and "at least 3 runs" in row.note
    result = CliRunner().invoke(cli, ["compare", str(old_dir), str(new_dir)])
    assert result.exit_code == 0 and "+100.0% (no interval)" in result.output


def test_seeds_are_replicates_of_one_configuration(tmp_path):
    def seeds(directory, step):
        return load_results(save_all(directory, [seed_run(step=step * (1 + 0.002 * s), seed=s) for s in range(5)]))

    [row] = compare(seeds(tmp_path / "old", 0.010), seeds(tmp_path / "new", 0.015)).rows
    assert row.old.runs == row.new.runs == 5 and row.verdict == "slower"


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
    new = save_all(tmp_path / "new", [failed_record(), *run_set("torch", "perceptron", step=0.002, seed=10)])
    c = compare(load_results(old), load_results(new))
    assert {r.name.split()[0]: r.verdict for r in c.rows} == {"torch/lenet5": "newly failing",
                                                              "torch/perceptron": "within noise"}
    assert CliRunner().invoke(cli, ["compare", str(old), str(new)]).exit_code == 1


def test_single_files_can_be_compared(old, tmp_path):
    new = copies(old, tmp_path / "new", factor=2.0)
    one_old = sorted(old.glob("torch-perceptron*.json"))[0]
    one_new = sorted(new.glob("torch-perceptron*.json"))[0]
    result = CliRunner().invoke(cli, ["compare", str(one_old), str(one_new)])
    assert result.exit_code == 0 and "too few runs" in result.output and "(no interval)" in result.output


def test_missing_directory_is_a_clear_error(old, tmp_path):
    result = CliRunner().invoke(cli, ["compare", str(old), str(tmp_path / "nowhere")])
    assert isinstance(result.exception, DlbenchError)  # main() prints it as one line, exit status 2
    assert "no such results directory" in str(result.exception)


def replicate(src: Path, dst: Path, runs: int = 3, spread: float = 0.02) -> Path:
    """``runs`` copies of each record in ``src`` as repeats 0..runs-1, their steps × (1 ± ``spread``)."""
    for r, factor in enumerate(np.linspace(1 - spread, 1 + spread, runs)):
        def as_repeat(data, r=r):
            data["id"] = data["id"].rsplit("-r", 1)[0] + f"-r{r}"
        copies(src, dst, factor=factor, edit=as_repeat, seed=r)
    return dst


def test_real_records_slowed_on_purpose_are_flagged_and_jittered_reruns_are_not(real_sweep, tmp_path):
    base = replicate(real_sweep, tmp_path / "base")
    medians = load_results(base)["timing.step_time_s.median"]
    assert len(medians) == 3 * len(list(real_sweep.glob("*.json")))
    slower = copies(base, tmp_path / "slower", factor=1.5)
    rerun = copies(base, tmp_path / "rerun", jitter=0.01, seed=3)
    assert set(verdicts(base, slower).values()) == {"slower"}
    assert set(verdicts(base, rerun).values()) == {"within noise"}


@pytest.fixture(scope="session")
def real_sweep(tmp_path_factory) -> Path:
    from tests.test_sweep import real_sweep_dir

    return real_sweep_dir(tmp_path_factory)
