"""`--task inference`: latency percentiles, throughput, the record, the summary and the report section."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from dlbench.analysis import sections
from dlbench.analysis.sections import inference as section
from dlbench.analysis.report.document import render as render_report
from dlbench.analysis.results import load_results
from dlbench.cli import cli, summary
from dlbench.config import RunConfig
from dlbench.errors import ConfigError
from dlbench.measure import inference
from dlbench.execution.verify import Tolerance, compare as verify_compare
from dlbench.result import Result
from tests.test_compare import copies, replicate, verdicts
from tests.test_tuning import tunable  # noqa: F401 (a fixture)


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def config(**kw) -> RunConfig:
    base = dict(backend="numpy", model="mlp", dataset="synthetic", task="inference", batch_size=4,
                min_requests=12, min_duration=0.05, warmup=2)
    return RunConfig(**{**base, **kw})


def test_latency_percentiles_and_throughput():
    times = [0.001 * i for i in range(1, 101)]  # 1..100 ms
    s = inference.latency_stats(times)
    assert s["p50"] == pytest.approx(0.0505) and s["p90"] == pytest.approx(0.0901) and s["p99"] == pytest.approx(0.09901)
    assert s["max"] == pytest.approx(0.1) and s["mean"] == pytest.approx(0.0505)
    assert inference.throughput(8, [0.5, 0.5]) == pytest.approx(16.0)  # 16 samples in 1 s of serving


def test_inference_run_records_latencies_and_throughput(test_plugins):
    r = inference.run(config(), lambda *a, **k: None)
    i, t = r.inference, r.timing
    assert i["requests"] >= 12 and i["duration_s"] >= 0.05 and i["batch_size"] == 4
    lat = i["latency_s"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert len(i["end_to_end"]["latencies_s"]) == i["requests"]
    assert i["end_to_end"]["latency_s"]["p50"] > 0 and "to_device" in i["end_to_end"]["what"]
    # compute-only latencies are the step times, so compare and the statistics work unchanged
    assert len(t["step_times_s"]) == i["requests"] == t["steps_timed"]
    assert lat["p50"] == pytest.approx(float(np.percentile(t["step_times_s"], 50)))
    assert i["throughput_samples_per_s"] == pytest.approx(4 * i["requests"] / sum(t["step_times_s"]))
    assert i["first_call_s"] == i["warmup_times_s"][0] and i["warmup_calls"] == 2
    assert r.flops["per_inference_analytic"] == 2 * r.model["macs_per_sample"] * 4
    assert r.memory["baseline_rss_bytes"] > 0 and r.accuracy["top1"] is None
    json.loads(r.to_json())  # valid JSON, no NaN


def test_min_requests_wins_over_a_short_duration(test_plugins):
    r = inference.run(config(min_requests=40, min_duration=0.0), lambda *a, **k: None)
    assert r.inference["requests"] == 40


def test_progress_uses_the_phase_and_step_events(test_plugins):
    events = []
    inference.run(config(), lambda event, **fields: events.append((event, fields)))
    phases = [f["name"] for e, f in events if e == "phase"]
    assert phases[-2:] == ["warming up", "inference"]
    last = [f for e, f in events if e == "step"][-1]
    assert last["done"] == last["total"] >= 12 and last["loss"] is None


def test_inference_serves_one_replica():
    with pytest.raises(ConfigError, match="--replicas 1"):
        inference.run(config(replicas=2), lambda *a, **k: None)


def test_cli_inference_run_in_the_worker(test_plugins, tmp_path):
    out = invoke("run", "--task", "inference", "-b", "numpy", "-m", "mlp", "-d", "synthetic", "--batch-size", "2",
                 "--min-requests", "10", "--min-duration", "0.05", "--timeout", "120", "--output", str(tmp_path), "--json", "-q")
    assert out.exit_code == 0, out.output
    record = json.loads(out.stdout)
    assert record["config"]["task"] == "inference" and record["inference"]["requests"] >= 10
    text = summary.table(Result.from_dict(record))
    assert "latency compute only" in text and "p99" in text and "samples/s" in text


def _records(tmp_path, batches=(1, 4)):
    for b in batches:
        inference.run(config(batch_size=b, min_requests=10, min_duration=0.02), lambda *a, **k: None).save(tmp_path)
    return load_results(tmp_path)


def test_report_section_has_the_table_and_the_plot(test_plugins, tmp_path):
    df = _records(tmp_path)
    assert "inference" in sections.SECTIONS
    lines = section.render(df, tmp_path / "report.md", plots=True)
    text = "\n".join(lines)
    assert text.startswith("## Inference") and "### mlp inference on cpu" in text
    assert "| 1 " in text and "| 4 " in text and "p99 (ms)" in text and "first call (s)" in text
    png = tmp_path / "report-inference-mlp-synthetic-cpu-float32.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png.name})" in text


def test_a_report_of_inference_records_alone_names_the_machine(test_plugins, tmp_path):
    text = render_report(_records(tmp_path), tmp_path / "report.md", "test", plots_on=False)
    assert "### Inference verdict" in text
    assert "## Environment" in text and "| CPU " in text  # published figures name their CPU
    assert "(2 ok, 0 failed)." in text and "configuration" not in text.split("\n")[2]


def test_report_section_is_empty_without_inference_records(test_plugins, tmp_path):
    df = _records(tmp_path, batches=(2,))
    assert section.render(df[df["config.task"] == "train"], tmp_path / "r.md", plots=False) == []


def test_compare_flags_slower_inference_and_not_a_rerun(test_plugins, tmp_path):
    _records(tmp_path / "one", batches=(2,))
    base = replicate(tmp_path / "one", tmp_path / "base")  # three runs: enough for compare to decide
    slower = copies(base, tmp_path / "slower", factor=1.5)
    rerun = copies(base, tmp_path / "rerun", jitter=0.01, seed=3)
    assert list(verdicts(base, slower).values()) == ["slower"]
    assert list(verdicts(base, rerun).values()) == ["within noise"]


def output(logits, losses, untrained=None):
    out = {"logits_before": logits, "logits_after": None if untrained else logits, "losses": losses,
           "params": [10, 0], "declared_params": [10, 0]}
    return {**out, "untrained": untrained} if untrained else out


def test_verify_compares_initial_logits_only_with_an_inference_only_backend():
    a = output([[1.0, -2.0]], [2.3, 2.1])
    ort = output([[1.0 + 1e-6, -2.0]], [], untrained="onnxruntime is inference-only")
    row = verify_compare("torch", a, "onnxruntime", ort, Tolerance())
    assert row["ok"] and row["trained logits rel"] is None and "onnxruntime is inference-only" in row["checked"]
    far = output([[1.1, -2.0]], [], untrained="onnxruntime is inference-only")
    assert not verify_compare("torch", a, "onnxruntime", far, Tolerance())["ok"]
    assert verify_compare("torch", a, "jax", a, Tolerance())["checked"] == "logits and training"


def test_the_inference_verdict_puts_each_path_apart_with_the_defaults_beside(tunable, tmp_path):
    """Three runs each: the eval step and the export tuned, the eval step at --no-tune defaults."""
    for serve, tune in (("step", True), ("export", True), ("step", False)):
        for seed in range(3):
            inference.run(config(backend="tunable", model="tiny", batch_size=2, min_requests=3, min_duration=0.0,
                                 seed=seed, serve=serve, tune=tune), lambda *a, **k: None).save(tmp_path)
    text = "\n".join(section.render(load_results(tmp_path), tmp_path / "report.md", plots=True))
    verdict = text[text.index("### Inference verdict"):text.index("### tiny inference")]
    row = next(line for line in verdict.splitlines() if line.startswith("| tiny"))
    fastest, others, defaults, defaults_others = [c.strip() for c in row.split("|")[-5:-1]]
    # the other path's label ends where its ratio starts; "n.s." follows the interval only by chance
    paths = {fastest.split("**")[1], re.match(r"(.+?) [\d.,]+× ", others).group(1)}
    assert paths == {"tunable", "tunable · test export"}  # one backend per deployment path
    assert "/request (delay_ms=2, layout=plain)" in fastest
    assert "× [" in others and "(delay_ms=2, layout=plain)" in others
    assert defaults == "tunable only" and defaults_others == "—"
    for label in ("tunable (tuned)", "tunable · test export (tuned)", "tunable (defaults)"):
        assert f"| {label} " in text
    assert "delay_ms=40, layout=padded (framework defaults)" in text
    summary = section.summarise(section.labelled(load_results(tmp_path)))
    assert dict(zip(summary["backend"], summary["won"])) == {
        "tunable (tuned)": "delay_ms=2, layout=plain", "tunable · test export (tuned)": "delay_ms=2, layout=plain",
        "tunable (defaults)": None}  # what the plot marks at the tuned points
    assert (tmp_path / "report-inference-tiny-synthetic-cpu-float32.png").exists()


def test_a_language_models_inference_shows_tokens_per_s_and_its_batches_name_their_tokens(test_plugins, tmp_path):
    df = _records(tmp_path)
    df["config.model"] = "gpt_char"  # as a language model serving sequences of 64 tokens records it
    df["timing.throughput_tokens_per_s"] = df["timing.throughput_samples_per_s"] * 64
    text = "\n".join(section.render(df, tmp_path / "report.md", plots=False))
    assert "### gpt_char inference on cpu, sequences of 64 tokens" in text and "throughput (tokens/s)" in text
    verdict = text[text.index("### Inference verdict"):text.index("### gpt_char inference")]
    assert "| 1 × 64 tokens " in verdict and "| 4 × 64 tokens " in verdict
    summary = section.summarise(section.labelled(df))
    assert list(summary["tokens"]) == pytest.approx(list(summary["throughput"] * 64))
    table = text[text.index("### gpt_char inference"):]
    row = next(line for line in table.splitlines() if line.startswith("| 4 "))
    assert f"| {summary['tokens'].iloc[-1]:,.0f} " in row
