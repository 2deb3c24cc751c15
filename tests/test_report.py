"""`dlbench report` and the results DataFrame: tables, fairness warnings, failures, plots, CSV."""

from __future__ import annotations

import re
import sys
import types
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from dlbench.errors import DlbenchError
from dlbench.execution.sweep import cell_key
from dlbench.analysis.report import write_report
from dlbench.analysis.results import load_results, to_csv
from tests.test_compare import failed_record, fake_record, run_set, save_all, seed_run
from tests.test_sweep import real_sweep_dir


@pytest.fixture(scope="session")
def real_sweep(tmp_path_factory) -> Path:
    return real_sweep_dir(tmp_path_factory)


@pytest.fixture
def mixed(tmp_path) -> Path:
    """Three backends on one model (3 runs each), one of them failing elsewhere, plus one-run cells
    and a file that is not a record."""
    digits = fake_record("torch", "mlp", dataset="digits", seed=9)
    digits.accuracy = {"top1": 0.9523, "top5": 0.9987, "reason": None}
    noisy = fake_record("torch", "perceptron", n=60, seed=5)
    noisy.timing["step_times_s"] = [0.001, 0.003] * 30  # bimodal
    records = [
        *run_set("torch", step=0.010, spread=0.01),
        *run_set("tensorflow", step=0.005, spread=0.03, runs=3, seed=10, settings={"xla": True},
                 env={"precision": "mixed_float16"}),
        *run_set("jax", step=0.005, spread=0.03, runs=3, seed=20, settings={"precision": "highest"}, env={"threads": 4}),
        noisy, digits,
        failed_record("tensorflow", "perceptron"),
    ]
    directory = save_all(tmp_path / "results", records)
    (directory / "notes.json").write_text('{"not": "a record"}')
    return directory


def section(text: str, heading: str) -> str:
    return text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]


def table_rows(block: str, which: int = 0) -> dict[str, str]:
    """The rows of the ``which``-th markdown table in ``block``, by their first cell."""
    tables = [t for t in block.split("\n\n") if t.startswith("| ")]
    return {line.split("|")[1].strip(): line for line in tables[which].splitlines()[2:]}


def test_results_frame_has_one_row_per_record_with_failures_and_flat_columns(mixed):
    df = load_results(mixed)
    assert len(df) == 14 and (df["status"] == "failed").sum() == 1
    assert {"config.backend", "timing.step_time_s.median", "error.message", "backend.settings", "cell", "repeat"} <= set(df.columns)
    assert df.loc[df["status"] == "failed", "error.message"].item().startswith("worker exited")
    assert df["repeat"].dtype == "Int64"
    ok = df[df["status"] == "ok"]
    assert all(r.median == m for r, m in zip(ok["run"], ok["timing.step_times_s"].map(np.median)))  # summarised once
    assert df.loc[df["status"] == "failed", "run"].isna().all()
    assert [Path(p).name for p, _ in df.attrs["skipped"]] == ["notes.json"]


def test_csv_leaves_out_per_step_series(mixed, tmp_path):
    path = to_csv(load_results(mixed), tmp_path / "out" / "all.csv")
    back = pd.read_csv(path)
    assert len(back) == 14 and "timing.step_times_s" not in back and "loss.curve" not in back
    assert "timing.step_time_s.median" in back
    assert not list(path.parent.glob(".tmp-*"))


@pytest.mark.parametrize("make, match", [
    (lambda d: d / "missing", "no such results directory"),
    (lambda d: d, "no result records"),
])
def test_missing_or_empty_results_are_clear_errors(tmp_path, make, match):
    with pytest.raises(DlbenchError, match=match):
        load_results(make(tmp_path))


def test_report_compares_backends_and_warns_about_unfair_settings(mixed, tmp_path):
    out = write_report(load_results(mixed), tmp_path / "rep" / "report.md", command="dlbench report x", plots=False)
    text = out.read_text()
    rows = {name.split()[0]: line for name, line in table_rows(section(text, "lenet5")).items()}
    assert "2.0" in rows["torch"] and "× slower [" in rows["torch"] and "n.s." not in rows["torch"]
    assert {"tensorflow", "jax"} <= set(rows) and "5 × 40 steps" in rows["torch"]
    # the two 5 ms backends: one is fastest, the other not significantly slower
    assert sum("fastest" in rows[b] for b in ("tensorflow", "jax")) == 1
    assert sum(" n.s." in rows[b] for b in ("tensorflow", "jax")) == 1
    assert "graph compilation differs" in text and "precision differs" in text and "threads differs" in text
    assert "ran different precisions" in text
    assert "⚠ noisy" in section(text, "perceptron")
    assert "0.9523" in text and "n/a: synthetic data" in text
    failures = section(text, "Failures")
    assert "worker exited \\| with status 3" in failures  # pipes escaped inside the table
    assert "skipped" in text and "notes.json" in text
    assert f"with dlbench {metadata.version('dlbench')}" in text and "`dlbench report x`" in text


def test_a_one_run_cell_says_so_and_carries_no_significance_mark(tmp_path):
    directory = save_all(tmp_path / "r", [fake_record("torch", step=0.020, seed=1), fake_record("jax", step=0.010, seed=2)])
    text = write_report(load_results(directory), tmp_path / "report.md", plots=False).read_text()
    verdict = table_rows(section(text, "Verdict"))["lenet5"]
    assert "**jax** 10.0" in verdict and "1 run: spread within the run only" in verdict
    assert "torch 2.0" in verdict and "n.s." not in verdict and "[" not in verdict  # no interval, no mark
    rows = table_rows(section(text, "lenet5"))
    torch_row = next(line for name, line in rows.items() if name.startswith("torch"))
    assert "(1 run: spread within the run only)" in torch_row and "× slower (1 run" in torch_row
    assert "n.s." not in torch_row and "[" not in torch_row.split("|")[7]  # the step-time column


def test_runs_that_differ_only_in_their_seed_are_replicates_of_one_configuration(tmp_path):
    records = [seed_run(backend, step=step * (1 + 0.01 * s), seed=s, dataset="digits")  # a time-to-accuracy sweep
               for backend, step in (("torch", 0.020), ("jax", 0.010)) for s in range(5)]
    df = load_results(save_all(tmp_path / "r", records))
    assert df["cell"].nunique() == 10 and df["configuration"].nunique() == 2
    text = write_report(df, tmp_path / "report.md", plots=False).read_text()
    verdict = table_rows(section(text, "Verdict"))["lenet5"]
    assert "| 5 " in verdict and re.search(r"torch 2\.\d\d× \[", verdict) and "1 run" not in verdict
    assert len(table_rows(section(text, "lenet5"))) == 2  # one row per backend, not per seed


def _without_tune(record):
    del record.config["tune"]  # as written before tuning existed, so in a cell of its own
    uid, _, repeat = record.id.split("-")
    record.id = f"{uid}-{cell_key(record.config)}-{repeat}"
    return record


def test_the_report_opens_with_the_verdict_tuned_and_defaults_side_by_side(tmp_path):
    tuning = {"mode": "tuned", "performance_options": ["compile"], "pinned": {}, "chosen": {"compile": True},
              "candidates": [], "time_s": 3.0, "cache_path": None}
    tuned_torch = run_set("torch", step=0.005, settings={"compile": True}, tune=True)
    for r in tuned_torch:
        r.tuning = tuning
    records = [*tuned_torch,
               *run_set("jax", step=0.010, spread=0.01, seed=10, settings={"jit": True}, tune=True),
               *run_set("torch", step=0.012, seed=20, tune=False),
               *map(_without_tune, run_set("jax", step=0.010, seed=30))]  # an old record: untuned defaults
    text = write_report(load_results(save_all(tmp_path / "r", records)), tmp_path / "report.md", plots=False).read_text()
    assert text.split("\n## ")[1].startswith("Verdict")
    verdict = section(text, "Verdict")
    header = verdict.splitlines()[[i for i, l in enumerate(verdict.splitlines()) if l.startswith("| model")][0]]
    assert "fastest, tuned" in header and "fastest, framework defaults" in header and "precision" in header
    row = table_rows(verdict)["lenet5"].split("|")
    tuned_fastest, tuned_others, default_fastest, default_others = (c.strip() for c in row[7:11])
    assert tuned_fastest.startswith("**torch** 5.0") and "compile=True" in tuned_fastest
    assert tuned_others.startswith("jax 2.0") and "[" in tuned_others and "n.s." not in tuned_others
    assert default_fastest.startswith("**jax** 10.0") and re.match(r"torch 1\.(19|2\d)× \[", default_others)
    assert "(tuned)" in section(text, "lenet5") and "(defaults)" in section(text, "lenet5")


def test_fairness_lists_each_tuned_choice_with_its_models_and_warns_only_about_untuned_ones(tmp_path):
    def tuned(backend, model, settings, seed):
        records = run_set(backend, model, settings=settings, seed=seed, runs=1)
        for r in records:
            r.tuning = {"mode": "tuned", "chosen": settings}
        return records

    records = [*tuned("torch", "lenet5", {"compile": True}, 0), *tuned("torch", "mlp", {"compile": False}, 1),
               *tuned("tensorflow", "lenet5", {"xla": True}, 2), *tuned("tensorflow", "mlp", {"xla": True}, 3)]
    fairness = section(write_report(load_results(save_all(tmp_path / "tuned", records)), tmp_path / "t.md",
                                    plots=False).read_text(), "Fairness settings")
    assert "compile=True (lenet5); compile=False (mlp)" in fairness and "| xla=True " in fairness
    assert "graph compilation differs" not in fairness and "batch sizes differs" not in fairness

    defaults = [*run_set("torch", seed=4, runs=1, tune=False), *run_set("tensorflow", settings={"xla": True}, seed=5,
                                                                         runs=1, tune=False, batch_size=32)]
    text = write_report(load_results(save_all(tmp_path / "all", [*records, *defaults])), tmp_path / "a.md",
                        plots=False).read_text()
    fairness = section(text, "Fairness settings")
    assert "graph compilation differs where no tuner chose it (tensorflow xla=True, torch compile=False)" in fairness
    assert "batch sizes differs between backends: tensorflow 16, 32, torch 16" in fairness


def test_the_doctor_noise_a_record_carries_is_shown_as_a_percentage(tmp_path):
    records = run_set("torch", runs=2, env={"noise": {"cv": 0.0179416, "verdict": "quiet", "measured": "t"}})
    env = section(write_report(load_results(save_all(tmp_path / "r", records)), tmp_path / "r.md",
                               plots=False).read_text(), "Environment")
    assert re.search(r"^\| noise\.cv +\| 1\.8% +\|", env, re.M), env


def test_memory_of_a_configuration_is_one_runs_and_adds_up(tmp_path):
    from dlbench.analysis.report import cell_table

    records = run_set("tensorflow", runs=3)
    for r, (baseline, training) in zip(records, ((1026, 173), (790, 288), (796, 378))):  # MiB, as published
        r.memory.update(baseline_rss_bytes=baseline * 2**20, training_bytes=training * 2**20,
                        peak_rss_bytes=(baseline + training) * 2**20)
    [cell] = cell_table(load_results(save_all(tmp_path / "r", records))).to_dict("records")
    assert (cell["baseline_bytes"], cell["training_bytes"], cell["peak_bytes"]) == (796 * 2**20, 378 * 2**20,
                                                                                     1174 * 2**20)


def test_new_record_fields_are_shown(tmp_path):
    new = run_set("torch", runs=3, precision="float32", timing="window", window=4)
    for r in new:
        r.memory.update(baseline_rss_bytes=200 * 2**20, peak_rss_bytes=300 * 2**20, training_bytes=100 * 2**20)
        r.flops.update(per_train_step_framework=None, framework_note="LSTM not counted by the framework",
                       utilisation={"ceiling_flops_per_s": 1.6e10, "share": 0.9, "ceiling_source": "dlbench calibrate matmul",
                                    "datasheet_flops_per_s": None, "datasheet_share": None})
        r.timing.update(mode="window", window=4)
    old = run_set("jax", runs=3, seed=10, env={"precision": "mixed-bfloat16"})
    for r in old:
        r.flops["per_train_step_framework"] = 2 * r.flops["per_train_step_analytic"]
        r.flops["utilisation_note"] = "no machine profile: run `dlbench calibrate`"
    text = write_report(load_results(save_all(tmp_path / "r", [*new, *old])), tmp_path / "report.md",
                        plots=False).read_text()
    speed, resources = table_rows(section(text, "lenet5")), table_rows(section(text, "lenet5"), 1)
    speed_torch, resources_torch = [next(v for k, v in t.items() if k.startswith("torch")) for t in (speed, resources)]
    resources_jax = next(v for k, v in resources.items() if k.startswith("jax"))
    assert "windows of 4 steps" in speed_torch
    assert "100.0 MiB / 200.0 MiB / 300.0 MiB" in resources_torch
    # the cell's share follows the cell's median (about 4.0 GFLOP/s achieved), not one record's own share
    assert re.search(r"\| 2[45]\.\d% of 16\.000 GFLOP/s \(dlbench calibrate matmul\)", resources_torch)
    assert "n/a: LSTM not counted by the framework" in resources_torch
    assert "(older record: peak only)" in resources_jax and "n/a: no machine profile" in resources_jax
    assert "⚠ +100% vs analytic" in resources_jax
    precision = table_rows(section(text, "Verdict"))["lenet5"].split("|")[5]
    assert "ran different precisions" in text and "mixed-bfloat16" in precision and "float32" in precision and "⚠" in precision


@pytest.fixture
def broken_section(monkeypatch):
    """A good report section and one that raises."""
    from dlbench.analysis import sections

    good, bad = types.ModuleType("good"), types.ModuleType("bad")
    good.render = lambda df, out, plots: ["## Extra section", "", f"{len(df)} records", ""]
    bad.render = lambda df, out, plots: 1 / 0
    monkeypatch.setitem(sys.modules, "dlbench.analysis.sections.test_good", good)
    monkeypatch.setitem(sys.modules, "dlbench.analysis.sections.test_bad", bad)
    monkeypatch.setattr(sections, "SECTIONS", ("test_good", "test_bad"))


def test_section_modules_are_rendered_after_the_model_tables_and_a_broken_one_is_reported(tmp_path, broken_section):
    directory = save_all(tmp_path / "r", run_set("torch", runs=3))
    text = write_report(load_results(directory), tmp_path / "report.md", plots=False, keep_going=True).read_text()
    assert text.index("## lenet5") < text.index("## Extra section\n\n3 records")
    assert "section `test_bad` failed: ZeroDivisionError" in text


def test_a_failing_section_fails_the_report_loudly_unless_told_to_keep_going(tmp_path, broken_section):
    directory = save_all(tmp_path / "r", run_set("torch", runs=3))
    out = tmp_path / "report.md"
    out.write_text("the published report")
    failed = CliRunner().invoke(cli, ["report", str(directory), "-o", str(out), "--no-plots"])
    assert failed.exit_code == 1
    assert "report section `test_bad` failed: ZeroDivisionError" in failed.stderr
    assert "Traceback" in failed.stderr and "1 / 0" in failed.stderr
    assert "--keep-going" in failed.stderr and out.read_text() == "the published report"  # nothing lost
    kept = CliRunner().invoke(cli, ["report", str(directory), "-o", str(out), "--no-plots", "--keep-going"])
    assert kept.exit_code == 0 and "report section `test_bad` failed" in kept.stderr
    assert "section `test_bad` failed: ZeroDivisionError" in out.read_text()


def test_learning_curves_are_drawn_for_real_data_only(tmp_path):
    synthetic = save_all(tmp_path / "s", run_set("torch", runs=3) + run_set("jax", runs=3, seed=10))
    text = write_report(load_results(synthetic), tmp_path / "s-report" / "report.md").read_text()
    assert "No learning curves" in text and not (tmp_path / "s-report" / "report-learning.png").exists()
    assert (tmp_path / "s-report" / "report-speed.png").read_bytes()[:4] == b"\x89PNG"
    real = fake_record("torch", "mlp", dataset="digits", seed=9)
    real.loss["curve"] = list(np.linspace(2.3, 0.2, 90))
    real.timing["epochs_run"] = 3.0
    text = write_report(load_results(save_all(tmp_path / "d", [real])), tmp_path / "d-report" / "report.md").read_text()
    assert "![learning](report-learning.png)" in text and "No speed plot" in text


def test_the_learning_curve_of_a_seed_sweep_is_its_lowest_seed_on_every_backend(tmp_path):
    from dlbench.analysis.report import cell_table

    records = [seed_run(backend, "mlp", dataset="digits", seed=s)  # record order differs between backends
               for backend, seeds in (("torch", (2, 0, 1)), ("jax", (1, 0))) for s in seeds]
    for r in records:
        r.loss["curve"], r.timing["epochs_run"] = [float(r.config["seed"])] * 30, 1.0 + r.config["seed"]
    cells = cell_table(load_results(save_all(tmp_path / "r", records)))
    assert [c for c in cells["loss_curve"]] == [([0.0] * 30, 1.0)] * 2


def test_per_epoch_means_of_a_loss_curve():
    from dlbench.analysis.report.plots import epoch_curve

    x, smooth, epochs, means = epoch_curve([3.0] * 10 + [1.0] * 10, 2.0)
    assert list(epochs) == [0.5, 1.5] and list(means) == [3.0, 1.0]
    assert x[-1] == pytest.approx(2.0) and len(x) == len(smooth)


def test_a_run_shorter_than_an_epoch_keeps_its_learning_curve():
    from dlbench.analysis.report.plots import epoch_curve

    curve = list(np.linspace(4.5, 2.8, 33))  # 33 steps of 4,445 per epoch, as gpt_char on shakespeare at batch 16
    x, smooth, epochs, means = epoch_curve(curve, 33 / 4445)
    assert len(epochs) == 0 and len(x) == len(smooth) >= 30 and x[-1] == 33  # against steps, a short moving average
    assert smooth[0] > 4.3 and smooth[-1] < 3.0  # the fall, not one average of everything


def test_report_of_a_real_sweep_with_plots_and_csv(real_sweep, tmp_path):
    out, csv = tmp_path / "rep" / "report.md", tmp_path / "rep" / "all.csv"
    result = CliRunner().invoke(cli, ["report", str(real_sweep), "-o", str(out), "--csv", str(csv)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for section in ("## Environment", "## Fairness settings", "## lenet5", "## perceptron", "## Plots"):
        assert section in text
    assert f"Generated by `dlbench report {real_sweep} -o {out} --csv {csv}`" in text
    assert metadata.version("torch") in text  # the framework version row
    assert "No learning curves" in text and "No speed plot" in text  # synthetic data, one backend
    for name in ("memory",):
        assert f"![{name}](report-{name}.png)" in text
        assert (out.parent / f"report-{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(pd.read_csv(csv)) == 2
    assert not list(out.parent.glob(".tmp-*"))


def test_a_backend_declares_its_plot_colour_and_others_get_one_from_their_name(test_plugins):
    from dlbench.analysis.style import backend_color

    assert [backend_color(b) for b in ("torch compile=True", "tensorflow", "jax", "onnxruntime")] == \
        ["#ee4c2c", "#ff8f00", "#5e97f6", "#7f7f7f"]
    assert backend_color("numpy") == backend_color("numpy") != backend_color("torch")  # registered, no colour
    assert backend_color("uninstalled-backend").startswith("#")


def test_graph_compilation_is_read_from_the_record_and_guessed_for_older_records(tmp_path):
    from dlbench.analysis.report.tables import fairness_section

    records = [*run_set("tvm", settings={"opt_level": 3}, runs=1, tune=False),
               *run_set("torch", settings={"compile": False}, seed=1, runs=1, tune=False)]
    df = load_results(save_all(tmp_path / "r", records))
    # backend.compilation as Backend.compilation() gives it; the torch record is an older one without it
    df["backend.compilation"] = [{"setting": "opt_level", "value": 3, "compiled": True} if b == "tvm" else None
                                 for b in df["config.backend"]]
    table, warnings = fairness_section(df)
    assert dict(zip(table["backend"], table["graph compilation"])) == {"torch": "compile=False", "tvm": "opt_level=3"}
    assert "graph compilation differs where no tuner chose it (torch compile=False, tvm opt_level=3): eager and " \
           "compiled steps are not like for like" in warnings


def columns(block: str, which: int = 0) -> dict[str, dict[str, str]]:
    """The rows of the ``which``-th markdown table in ``block`` as {column: cell}, by their first
    cell's first word (a backend, a model)."""
    table = [t for t in block.split("\n\n") if t.startswith("| ")][which].splitlines()
    split = lambda line: [cell.strip() for cell in line.strip().strip("|").split("|")]  # noqa: E731
    header = split(table[0])
    return {split(line)[0].split()[0]: dict(zip(header, split(line))) for line in table[2:]}


def lm_runs(backend: str = "torch", *, seq: int = 256, val_loss: float | None = 1.25, dataset: str = "shakespeare",
            runs: int = 3, **kwargs) -> list:
    """``runs`` records of a character language model (``gpt_char``) on ``dataset``: tokens/s beside
    samples/s, and a validation loss with its perplexity and bits per token instead of an accuracy."""
    records = run_set(backend, "gpt_char", runs=runs, dataset=dataset, **kwargs)
    for i, r in enumerate(records):
        r.timing["throughput_tokens_per_s"] = r.timing["throughput_samples_per_s"] * seq
        if val_loss is None:  # synthetic tokens: nothing to evaluate
            r.accuracy = {"top1": None, "top5": None, "reason": "synthetic data: accuracy is not applicable"}
        else:
            loss = val_loss + 0.01 * (i - (runs - 1) / 2)  # the runs' mean is val_loss
            r.accuracy = {"top1": None, "top5": None, "evaluated": 100, "val_loss": loss,
                          "perplexity": float(np.exp(loss)), "bits_per_token": loss / np.log(2),
                          "reason": "a language model: its validation loss and perplexity, not accuracy"}
    return records


def test_a_language_models_rows_show_its_validation_loss_perplexity_and_tokens_per_s(tmp_path):
    records = lm_runs("torch", step=0.020) + lm_runs("jax", step=0.010, seed=10)
    text = write_report(load_results(save_all(tmp_path / "r", records)), tmp_path / "report.md",
                        plots=False).read_text()
    verdict = columns(section(text, "Verdict"))["gpt_char"]
    assert verdict["batch"] == "16 × 256 tokens" and verdict["fastest, framework defaults"].startswith("**jax** 9.9")
    speed, resources = (columns(section(text, "gpt_char"), i) for i in (0, 1))
    assert "throughput" not in speed["jax"] and "top-1" not in resources["jax"] and "top-5" not in resources["jax"]
    assert speed["jax"]["tokens/sequence"] == "256" and speed["jax"]["vs fastest"] == "fastest"
    tokens, sequences = (float(speed["jax"][k].replace(",", "")) for k in ("tokens/s", "sequences/s"))
    assert tokens == pytest.approx(256 * sequences, rel=1e-3) and 1_550 < sequences < 1_650  # 16 per 10 ms step
    assert resources["torch"]["val loss (nats/token)"] == f"1.2500 ({1.25 / np.log(2):.3f} bits)"
    assert resources["torch"]["perplexity"] == f"{np.exp(1.25):.2f}"  # the perplexity of the mean loss
    assert "n/a:" not in section(text, "gpt_char") and "a language model:" not in text


def test_time_to_target_runs_of_one_model_name_their_target_in_its_table(tmp_path):
    def aimed(records, metric, value):
        for r in records:
            point = {"step": 40, "epoch": 0.2, "elapsed_s": 9.0, "train_s": 8.0, "loss": 2.5, "val_loss": 2.5,
                     "perplexity": 12.2}
            r.target = {"metric": metric, "target": value, "reached": True, "time_to_target_s": 9.0,
                        "train_time_to_target_s": 8.0, "epochs_to_target": 0.2, "steps_to_target": 40,
                        "eval_every": 0.2, "max_epochs": 1, "curve": [point], "excluded_s": {"compile": 1.0,
                                                                                           "tuning": 0.0}}
        return records

    records = (aimed(lm_runs("torch", runs=1, target_loss=2.6), "val_loss", 2.6)
               + aimed(lm_runs("torch", runs=1, seed=5, target_perplexity=13.0), "perplexity", 13.0) + lm_runs("jax"))
    text = write_report(load_results(save_all(tmp_path / "r", records)), tmp_path / "report.md",
                        plots=False).read_text()
    for table in (section(text, "gpt_char").split("\n\n")[i].splitlines() for i in (1, 2)):  # speed, resources
        column = [c.strip() for c in table[0].split("|")].index("target")
        assert sorted(line.split("|")[column].strip() for line in table[2:]) == ["perplexity ≤ 13", "val loss ≤ 2.6",
                                                                                   "—"]
    assert "target" not in columns(section(text, "Verdict"))["gpt_char"]
    assert "### gpt_char on shakespeare to val loss ≤ 2.6" in text and "### gpt_char on shakespeare to perplexity ≤ 13" \
        in text


def test_a_language_model_on_synthetic_tokens_has_no_quality_and_no_accuracy_column(tmp_path):
    records = lm_runs("torch", val_loss=None, dataset="synthetic")
    text = write_report(load_results(save_all(tmp_path / "r", records)), tmp_path / "report.md",
                        plots=False).read_text()
    [row] = columns(section(text, "gpt_char"), 1).values()
    assert (row["val loss (nats/token)"], row["perplexity"]) == ("n/a: synthetic data (random tokens)", "n/a")
    assert "top-1" not in section(text, "gpt_char") and "tokens/s" in columns(section(text, "gpt_char"))["torch"]


def test_sequences_of_different_lengths_are_different_comparisons(tmp_path):
    records = (lm_runs("torch", seq=64, seq_len=64) + lm_runs("jax", seq=64, seq_len=64, seed=10, step=0.005)
               + lm_runs("torch", seq=128, seq_len=128, seed=20, step=0.030))
    text = write_report(load_results(save_all(tmp_path / "r", records)), tmp_path / "report.md",
                        plots=False).read_text()
    verdict = [line for line in section(text, "Verdict").splitlines() if line.startswith("| gpt_char")]
    assert len(verdict) == 2
    assert "16 × 128 tokens" in verdict[1] and "torch only" in verdict[1]  # not 6× slower than jax at 64
    assert "16 × 64 tokens" in verdict[0] and "**jax**" in verdict[0] and "torch 2.0" in verdict[0]


def test_a_sweep_of_an_image_model_and_a_language_model_renders_with_plots(tmp_path):
    images = run_set("torch", "vit_tiny", runs=3, dataset="digits") + run_set("jax", "vit_tiny", runs=3, seed=10,
                                                                                 dataset="digits")
    for r in images:
        r.accuracy = {"top1": 0.91, "top5": 0.99, "reason": None}
    lms = lm_runs("torch", step=0.020, seed=20) + lm_runs("jax", step=0.010, seed=30)
    for r in [*images, *lms]:
        r.loss["curve"], r.timing["epochs_run"] = list(np.linspace(3.0, 1.5, 30)), 0.2
    out = tmp_path / "rep" / "report.md"
    text = write_report(load_results(save_all(tmp_path / "r", [*images, *lms])), out).read_text()
    verdict = columns(section(text, "Verdict"))
    assert verdict["gpt_char"]["batch"] == "16 × 256 tokens" and verdict["vit_tiny"]["batch"] == "16"
    assert all("**jax**" in v["fastest, framework defaults"] for v in verdict.values())
    image_speed, image_resources = (columns(section(text, "vit_tiny"), i) for i in (0, 1))
    assert image_speed["jax"]["throughput"].endswith("/s") and "tokens/s" not in image_speed["jax"]
    assert all((r["top-1"], r["top-5"]) == ("0.9100", "0.9900") for r in image_resources.values())
    assert "val loss" not in section(text, "vit_tiny") and "top-1" not in section(text, "gpt_char")
    assert columns(section(text, "gpt_char"), 1)["jax"]["perplexity"] == f"{np.exp(1.25):.2f}"
    for name in ("speed", "learning", "memory"):
        assert f"![{name}](report-{name}.png)" in text
        assert (out.parent / f"report-{name}.png").stat().st_size > 10_000
