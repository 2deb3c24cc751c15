"""`dlbench explain` on torch, TensorFlow and JAX, end to end through the CLI: each backend's
breakdown adds up to its profiled step within the stated tolerance, a layer that sleeps shows up as
that layer on every backend, and layers time alone where asked (small models, a few steps)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from dlbench.explain.groups import node_groups
from dlbench.zoo import lenet5
from tests.conftest import has, registered_test_plugins
from tests.plugins.slow_layer import SLEEP_S

FRAMEWORKS = [b for b, module in (("torch", "torch"), ("tensorflow", "tensorflow"), ("jax", "flax")) if has(module)]
needs_one = pytest.mark.skipif(not FRAMEWORKS, reason="explain needs an installed framework backend")
TIMEOUT_S = "600"  # per backend's worker
pytestmark = [needs_one, pytest.mark.timeout(3 * int(TIMEOUT_S) + 120)]


def explain(folder, *args) -> tuple[str, dict[str, dict]]:
    out = CliRunner().invoke(cli, ["explain", "--timeout", TIMEOUT_S, "-q", "--no-plot", "--output", str(folder),
                                   "-d", "synthetic", *args])
    assert out.exit_code == 0, out.output
    records = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    return out.output, {r["config"]["backend"]: r for r in records}


def test_each_backend_breakdown_adds_up_to_its_step(tmp_path):
    text, records = explain(tmp_path, "-m", "lenet5", "-b", ",".join(FRAMEWORKS), "--batch-size", "16")
    assert set(records) == set(FRAMEWORKS) and "Where the time goes" in text and "residual" in text
    for name, r in records.items():
        b = r["breakdown"]
        s = b["sum"]
        assert b["attributable"] and b["steps_profiled"] == 3, name
        assert s["within_tolerance"], (name, s)
        assert abs(s["rows_s"] - sum(x["forward_s"] + x["backward_s"] + x["other_s"] for x in b["rows"])) < 1e-9
        rows = {x["group"]: x for x in b["rows"]}
        conv = rows["conv 5×5, stride 1"]
        assert conv["forward_s"] > 0 and conv["backward_s"] > 0 and conv["nodes"] == ["conv1", "conv2"], name
        assert rows["optimizer"]["other_s"] > 0, name
        assert b["overhead"]["ratio"] > 0 and len(b["unprofiled_steps_s"]) == 3


def test_a_layer_that_sleeps_shows_up_as_that_layer(monkeypatch, tmp_path):
    """TensorFlow without XLA: the sleep is a Python call, which XLA cannot compile."""
    with registered_test_plugins(monkeypatch, ("tests.plugins.slow_layer",)):
        _, records = explain(tmp_path, "-m", "slow_net", "-b", ",".join(FRAMEWORKS), "--batch-size", "4",
                             "--steps", "2", "--warmup", "1", "-o", "xla=false")
    for name, r in records.items():
        b = r["breakdown"]
        top = max(b["rows"], key=lambda x: x["forward_s"] + x["backward_s"] + x["other_s"])
        assert (top["group"], top["kind"], top["nodes"]) == ("sleep", "layer", ["sleep1"]), (name, b["rows"][:3])
        assert top["forward_s"] >= 0.9 * SLEEP_S and top["backward_s"] < SLEEP_S / 2, (name, top)
        assert b["sum"]["within_tolerance"], (name, b["sum"])


@pytest.mark.skipif(not has("torch"), reason="needs PyTorch")
def test_layers_time_alone_where_asked(tmp_path):
    _, records = explain(tmp_path, "-m", "lenet5", "-b", "torch", "--batch-size", "8", "--steps", "2",
                         "--isolated", "--rounds", "2")
    iso = records["torch"]["breakdown"]["isolated"]
    graph = lenet5.build((28, 28, 1), 10)
    assert len(iso["configurations"]) == 12  # conv x2, tanh x4, avg pool x2, flatten, dense x3: input shapes differ
    assert not [c for c in iso["configurations"] if "error" in c]
    assert {r["group"] for r in iso["rows"]} == set(node_groups(graph).values())
    assert sum(r["layers"] for r in iso["rows"]) == len(graph.nodes)
