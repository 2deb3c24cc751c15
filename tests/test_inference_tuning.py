"""Inference runs tuned like training runs: the eval step (or the exported model) timed at the run's
batch size, the same noise-aware rule, budget and cache; with the test backend whose settings sleep."""

from __future__ import annotations

import json

from dlbench.config import RunConfig
from dlbench.measure import inference
from dlbench.record import schema
from dlbench.tuning import describe, timing
from tests.test_tuning import DEFAULTS, FASTEST, tunable  # noqa: F401 (a fixture)


def serve(**settings):
    """A tunable inference run, tuning forced (``--tune``) unless ``tune`` is given."""
    config = RunConfig(**{"backend": "tunable", "model": "tiny", "dataset": "synthetic", "task": "inference",
                          "batch_size": 4, "warmup": 1, "min_requests": 3, "min_duration": 0.0, "tune": True,
                          **settings})
    events = []
    result = inference.run(config, lambda event, **fields: events.append((event, fields)))
    schema.check(result.to_dict())  # the record's tuning section follows the schema
    return result, [f["name"] for e, f in events if e == "phase"]


def test_the_slow_candidates_are_never_chosen_for_inference(tunable):
    r, phases = serve()
    t = r.tuning
    assert t["mode"] == "tuned" and t["chosen"] == FASTEST and r.backend["settings"]["delay_ms"] == 2
    assert t["candidates"][0]["settings"] == DEFAULTS and len(t["candidates"]) == 4
    slow = [c for c in t["candidates"] if c["settings"]["layout"] == "padded"]
    assert all(c["median_s"] >= 0.020 for c in slow) and all(c["steps"] >= timing.MIN_ROUNDS for c in t["candidates"])
    assert t["decision"].startswith("delay_ms=2, layout=plain: 0.0") and "× the default's step time [" in t["decision"]
    assert phases.index("tuning") < phases.index("inference")
    assert r.inference["latency_s"]["p50"] < 0.02  # the timed requests ran the winner
    assert r.inference["path"] == "step" and r.inference["deployment"]["label"] == "eval step"
    assert "delay_ms=2, layout=plain" in describe(t)


def test_an_inference_candidate_within_noise_leaves_the_default(tunable, monkeypatch):
    """As fast as the default (the rule's 3 % minimum gain: tests/test_tuning.py)."""
    from tests.plugins import tunable_backend

    monkeypatch.setitem(tunable_backend.EXTRA_MS, "plain", tunable_backend.EXTRA_MS["padded"])
    r, _ = serve(backend_options={"delay_ms": 40})
    t = r.tuning
    assert t["chosen"] == {"layout": "padded"} and r.backend["settings"]["layout"] == "padded"
    assert t["decision"].startswith("default kept: no candidate significantly faster")
    (other,) = [c for c in t["candidates"] if c["settings"] == {"layout": "plain"}]
    assert not other["significantly_faster"]


def test_inference_and_training_choices_are_cached_apart(tunable):
    from dlbench.measure import loop

    first, _ = serve()
    again, phases = serve()
    assert again.tuning["mode"] == "cached" and again.tuning["chosen"] == FASTEST and "tuning" not in phases
    assert again.tuning["cache_path"] == first.tuning["cache_path"]
    trained = loop.run(RunConfig(backend="tunable", model="tiny", dataset="synthetic", batch_size=4, steps=2, warmup=1,
                                 tune=True))
    assert trained.tuning["mode"] == "tuned" and trained.tuning["cache_path"] != first.tuning["cache_path"]
    assert json.load(open(first.tuning["cache_path"]))["key"]["workload"] == "inference"
    assert "workload" not in json.load(open(trained.tuning["cache_path"]))["key"]  # training keys as before


def test_an_inference_run_shorter_than_its_tuning_is_not_tuned(tunable):
    r, phases = serve(tune=None, min_duration=0.05)
    t = r.tuning
    assert t["mode"] == "skipped" and t["chosen"] == DEFAULTS and r.backend["settings"]["delay_ms"] == 40
    assert t["budget"]["tuning_estimate_s"] > t["budget"]["run_estimate_s"] >= 0.05
    assert "--tune tunes regardless" in t["note"] and len(t["candidates"]) == 1


def test_an_inference_run_long_enough_to_repay_its_tuning_tunes(tunable):
    r, _ = serve(tune=None, min_duration=3.0)  # tuning: about 1 s of 60 ms requests and faster ones
    t = r.tuning
    assert t["mode"] == "tuned" and t["chosen"] == FASTEST
    assert t["budget"]["tuning_estimate_s"] <= t["budget"]["run_estimate_s"]
    assert t["time_s"] < t["budget"]["run_estimate_s"]


def test_no_tune_serves_the_plain_defaults(tunable):
    r, phases = serve(tune=False)
    assert r.tuning["mode"] == "off" and r.tuning["chosen"] == DEFAULTS and "tuning" not in phases
    assert describe(r.tuning).startswith("off (--no-tune")


def test_the_export_path_is_tuned_and_recorded_apart(tunable):
    r, phases = serve(serve="export")
    i, t = r.inference, r.tuning
    assert i["path"] == "export" and i["deployment"]["label"] == "test export" and i["deployment"]["export_s"] >= 0
    assert t["mode"] == "tuned" and t["chosen"] == FASTEST and "exporting" in phases
    step, _ = serve()
    assert json.load(open(t["cache_path"]))["key"]["workload"] == "export"
    assert step.tuning["cache_path"] != t["cache_path"] and step.tuning["mode"] == "tuned"


def test_a_backend_without_performance_settings_has_nothing_to_tune(test_plugins):
    r, _ = serve(backend="numpy", model="mlp")
    assert r.tuning["mode"] == "pinned" and r.tuning["candidates"] == []
    assert describe(r.tuning) == "nothing to tune: the backend has no performance settings"
