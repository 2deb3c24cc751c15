"""`dlbench explain`'s core, without a framework: wall time shared among overlapping ops, HLO
metadata read back to layers, layer groups, a breakdown adding up to its step, the comparison's
order and headline, isolated timings standing in where a profiler cannot attribute, the report
section. The backends' own profiles are in tests/test_explain_backends.py."""

from __future__ import annotations

import pytest

from dlbench.analysis.report.document import render as render_report
from dlbench.analysis.results import load_results
from dlbench.analysis.sections import breakdown as section
from dlbench.explain import breakdown, compare, hlo, plot, timeline
from dlbench.explain.groups import node_groups
from dlbench.result import Result
from dlbench.zoo import lenet5, mobilenet_v2


def test_overlapping_ops_share_the_wall_time_they_overlap():
    shares, busy = timeline.exclusive([(0, 4, "a"), (2, 6, "b"), (8, 9, "a")], 0, 10)
    assert shares == {"a": 2 + 1 + 1, "b": 1 + 2} and busy == 7  # 2..4 is split in two
    clipped, busy = timeline.exclusive([(-5, 5, "a")], 0, 2)
    assert clipped == {"a": 2} and busy == 2


def test_an_op_containing_others_keeps_only_its_own_time():
    own = timeline.self_time([(0, 10, "t1", "while"), (2, 4, "t1", "body"), (1, 3, "t2", "other")])
    assert sorted(own) == [(0, 2, "while"), (1, 3, "other"), (2, 4, "body"), (4, 10, "while")]


HLO = """\
HloModule jit_train

%fused_computation (p0: f32[8], p1: f32[8]) -> f32[8] {
  %p0 = f32[8]{0} parameter(0)
  %p1 = f32[8]{0} parameter(1)
  %mul.1 = f32[8]{0} multiply(%p0, %p1), metadata={op_name="jit(train)/jvp(M)/bn1/mul"}
  ROOT %max.1 = f32[8]{0} maximum(%mul.1, %p1), metadata={op_name="jit(train)/jvp(M)/relu1/max"}
}

%ynn_computation (p0: f32[8]) -> f32[8] {
  %p0 = f32[8]{0} parameter(0)
  ROOT %convolution.3 = f32[8]{0} convolution(%p0, %p0), window={size=3}
}

ENTRY %main (x: f32[8], w: f32[8]) -> f32[8] {
  %x = f32[8]{0} parameter(0), metadata={op_name="x"}
  %w = f32[8]{0} parameter(1), metadata={op_name="params['conv1']['kernel']"}
  %conv.2 = f32[8]{0} convolution(%x, %w), metadata={op_name="jit(train)/jvp(M)/conv1/conv_general_dilated"}
  %fusion.1 = f32[8]{0} fusion(%conv.2, %w), kind=kLoop, calls=%fused_computation
  %ynn_fusion.4 = f32[8]{0} fusion(%fusion.1), kind=kCustom, calls=%ynn_computation
  %mask.5 = f32[8]{0} select(%ynn_fusion.4, %ynn_fusion.4, %ynn_fusion.4)
  %grad.6 = f32[8]{0} add(%mask.5, %x), metadata={op_name="jit(train)/transpose(jvp(M))/conv1/conv_general_dilated"}
  ROOT %update.7 = f32[8]{0} subtract(%w, %grad.6), metadata={op_name="jit(train)/sub"}
}
"""


def classify(op_name: str):
    if not op_name.startswith("jit("):
        return None
    scopes = op_name.split("/")[:-1]
    node = next((s for s in scopes if s in ("conv1", "bn1", "relu1")), None)
    phase = "backward" if any(s.startswith("transpose(") for s in scopes) else "forward"
    return (node, phase) if node else ("optimizer", "optimizer")


def test_hlo_instructions_map_to_layers_through_their_metadata():
    at = hlo.Program(HLO).attribute(classify)
    assert at["conv.2"] == hlo.Attribution(frozenset({"conv1"}), "forward", False)
    assert at["fusion.1"].owners == {"bn1", "relu1"} and not at["fusion.1"].inferred  # what it fused
    assert at["update.7"].owners == {"optimizer"} and at["update.7"].phase == "optimizer"


def test_an_instruction_without_metadata_takes_its_nearest_consumers_layer():
    at = hlo.Program(HLO).attribute(classify)
    # the YNNPACK convolution and the mask after it feed conv1's backward, not the optimizer beyond
    for name in ("ynn_fusion.4", "mask.5"):
        assert at[name] == hlo.Attribution(frozenset({"conv1"}), "backward", True)


def test_layer_groups_come_from_the_declaration():
    groups = node_groups(mobilenet_v2.build((224, 224, 3), 10))
    names = set(groups.values())
    assert {"conv 3×3, stride 2", "depthwise conv 3×3, stride 1", "depthwise conv 3×3, stride 2", "1×1 conv",
            "batch norm", "relu6", "add (residual)", "global avg pool", "dense"} == names - {"dropout"}
    assert list(groups.values()).count("depthwise conv 3×3, stride 1") == 13
    assert set(node_groups(lenet5.build((28, 28, 1), 10)).values()) == {
        "conv 5×5, stride 1", "tanh", "avg pool 2×2, stride 2", "flatten", "dense"}


GRAPH = lenet5.build((28, 28, 1), 10)


def trace(ops, steps=((0.0, 10.0), (20.0, 30.0)), host=(10.2, 10.1)) -> dict:
    return {"profiler": "test", "attributable": True, "note": None, "steps": list(steps), "host_step_s": list(host),
            "ops": ops}


def test_a_breakdown_adds_up_to_the_step_with_a_residual():
    ops = []
    for t0 in (0.0, 20.0):
        ops += [(t0, t0 + 3, ("conv1",), "forward", False), (t0 + 3, t0 + 4, ("conv2",), "forward", False),
                (t0 + 4, t0 + 6, ("conv1",), "backward", True), (t0 + 6, t0 + 7, ("dense1", "tanh3"), "forward", False),
                (t0 + 7, t0 + 8, ("optimizer",), "optimizer", False), (t0 + 8, t0 + 8.5, ("loss",), "forward", False)]
    b = breakdown.build(GRAPH, trace(ops))
    rows = {r["group"]: r for r in b["rows"]}
    conv = rows["conv 5×5, stride 1"]  # conv1 and conv2: one group
    assert conv["forward_s"] == 4 and conv["backward_s"] == 2 and conv["inferred_s"] == 2
    assert conv["nodes"] == ["conv1", "conv2"] and conv["kind"] == "layer"
    assert rows["fused: dense + tanh"]["kind"] == "fusion"  # never spread over the two
    assert rows[breakdown.OVERHEAD]["other_s"] == pytest.approx(1.5)  # 8.5..10: no op running
    s = b["sum"]
    assert s["layers_s"] == 6 and s["optimizer_s"] == 1 and s["unattributed_s"] == pytest.approx(3)
    assert s["rows_s"] == pytest.approx(10) and s["step_s"] == pytest.approx(10.15)
    assert s["residual_s"] == pytest.approx(0.15) and s["within_tolerance"]
    assert not breakdown.build(GRAPH, trace(ops, host=(12.0, 12.0)))["sum"]["within_tolerance"]


def record(backend: str, rows: list[dict], step: float, attributable: bool = True, isolated=None) -> dict:
    b = {"profiler": f"{backend} profiler", "attributable": attributable, "note": "n", "steps_profiled": 3,
         "profiled_steps_s": [step] * 3, "unprofiled_steps_s": [step] * 3,
         "overhead": {"profiled_s": step, "unprofiled_s": step, "ratio": 1.0},
         "rows": rows, "sum": breakdown.summed(rows, step), "isolated": isolated}
    return Result(config={"backend": backend, "model": "lenet5", "dataset": "synthetic", "batch_size": 8,
                          "device": "cpu", "precision": "float32", "steps": 3, "task": "train"},
                  backend={"name": backend, "device": "cpu", "settings": {}}, breakdown=b,
                  timing={"step_times_s": [step] * 3}).to_dict()


def row(group: str, fwd: float, bwd: float = 0.0, kind: str = "layer", other: float = 0.0) -> dict:
    return {"group": group, "kind": kind, "nodes": [group], "forward_s": fwd, "backward_s": bwd, "other_s": other,
            "inferred_s": 0.0}


FAST = record("torch", [row("dense", 0.5, 0.5), row("conv", 1, 1), row("optimizer", 0, 0, "optimizer", 0.2)], 3.2)
SLOW = record("jax", [row("dense", 0.4, 0.4), row("conv", 2, 6), row("optimizer", 0, 0, "optimizer", 0.4)], 9.2)


def test_the_rows_that_explain_the_gap_come_first_and_the_headline_names_them():
    c = compare.compare({"torch": FAST, "jax": SLOW})
    assert [r.group for r in c.rows][:2] == ["conv", "optimizer"]
    conv = c.rows[0].cells
    assert conv["jax"].ratio == pytest.approx(4.0) and conv["torch"].ratio == 1.0
    assert conv["jax"].share == pytest.approx(8 / 9.2)
    assert "**conv** accounts for 6,000.0 ms of the 6,000.0 ms gap (100%)" in c.headline[0]
    text = compare.markdown(compare.table(c, {"torch": True, "jax": True}))
    assert "| conv " in text and "8,000 (2,000 / 6,000)" in text and "4.00×" in text


def test_the_plot_keeps_a_colour_for_any_large_row_beyond_the_gap_explaining_ones(monkeypatch):
    c = compare.compare({"torch": FAST, "jax": SLOW})
    monkeypatch.setattr(plot, "SHOWN", 1)  # only the row that explains most of the gap: conv
    # dense (31 % of torch's step) and the optimizer (6 %) explain little of the gap, yet are not grey
    assert [r.group for r in plot.plotted_rows(c)] == ["conv", "optimizer", "dense"]
    monkeypatch.setattr(plot, "MIN_SHARE", 0.5)
    assert [r.group for r in plot.plotted_rows(c)] == ["conv"]


def test_isolated_timings_stand_in_where_the_profiler_cannot_attribute():
    isolated = {"rounds": 2, "configurations": [],
                "rows": [{"group": "conv", "layers": 2, "untimed": 0, "forward_s": 0.5, "backward_s": 1.0},
                         {"group": "dense", "layers": 3, "untimed": 0, "forward_s": 0.1, "backward_s": 0.4}]}
    compiled = record("torch", [row("not attributable: one torch.compile program", 2, 1, "not attributable"),
                                row("optimizer", 0, 0, "optimizer", 0.2)], 3.2, False, isolated)
    c = compare.compare({"torch": compiled, "jax": SLOW})
    conv = next(r for r in c.rows if r.group == "conv").cells
    assert conv["torch"].source == compare.ISOLATED and conv["torch"].ratio == 1.0  # among isolated cells only
    assert conv["jax"].source == compare.PROFILED and conv["jax"].ratio == 1.0
    text = compare.markdown(compare.table(c, {"torch": False, "jax": True}))
    assert "(isolated)" in text and "of isolated sum" in text and "not attributable" in text


def test_the_report_has_a_breakdown_section_and_keeps_explain_records_out_of_the_verdict(tmp_path):
    folder = tmp_path / "results"
    for rec in (FAST, SLOW):
        machine = {"cpu": "Intel(R) Xeon(R) Processor", "usable_cores": 2}
        Result.from_dict({**rec, "environment": machine, "created": "2026-12-06T10:20:00+00:00"}).save(folder)
    df = load_results(folder)
    lines = section.render(df, tmp_path / "report.md", plots=True)
    text = "\n".join(lines)
    assert "## Where the time goes" in text and "### lenet5 on synthetic, batch 8, cpu, float32" in text
    assert "Measured on Intel(R) Xeon(R) Processor, 2 usable cores, 2026-12-06." in text  # reports mix machines
    assert "**conv** accounts for" in text and "residual" in text
    assert (tmp_path / "report-breakdown-lenet5-synthetic-bs8-cpu-float32.png").stat().st_size > 0
    report = render_report(df, tmp_path / "report.md", "test", plots_on=False)
    assert "## Verdict" not in report and "## Where the time goes" in report
