"""Tuning of performance settings (dlbench.tuning), with a test backend whose step times are known."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlbench.backend import Option
from dlbench.cli import cli
from dlbench import paths
from dlbench.config import RunConfig
from dlbench.measure import loop
from dlbench.plugins import pm
from dlbench.result import Result
from dlbench.tuning import budget as timing_budget
from dlbench.tuning import cache, describe, timing
from dlbench.tuning.grid import Grid
from tests.conftest import ROOT, has, python, registered_test_plugins

PLUGINS = ("tests.plugins.tunable_backend", "tests.plugins.tiny_model")
FASTEST = {"delay_ms": 2, "layout": "plain"}
DEFAULTS = {"delay_ms": 40, "layout": "padded"}


@pytest.fixture
def tunable(monkeypatch):
    """The tunable backend registered here and in workers, short tuning rounds."""
    monkeypatch.setenv("DLBENCH_PLUGINS", ",".join(PLUGINS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setattr(timing, "MAX_ROUNDS", 6)
    modules = [importlib.import_module(name) for name in PLUGINS]
    added = [m for m in modules if not pm.is_registered(m)]
    for name, module in zip(PLUGINS, modules):
        if module in added:
            pm.register(module, name=name)
    backend = modules[0].TunableBackend
    backend.calls = 0
    yield backend
    for module in added:
        pm.unregister(module)


def run(steps: int = 3, **settings):
    """A tunable run; tuning forced (``--tune``) unless ``tune`` is given: the run is too short to repay it."""
    events = []
    config = RunConfig(**{"backend": "tunable", "model": "tiny", "dataset": "synthetic", "batch_size": 8, "steps": steps,
                          "warmup": 1, "optimizer": "sgd", "tune": True, **settings})
    result = loop.run(config, lambda event, **fields: events.append((event, fields)))
    return result, [f["name"] for e, f in events if e == "phase"]


def performance_settings(result) -> dict:
    return {k: result.backend["settings"][k] for k in FASTEST}


def test_tuning_picks_the_fastest_candidate_and_records_every_median(tunable):
    r, phases = run()
    t = r.tuning
    assert t["mode"] == "tuned" and t["chosen"] == FASTEST and performance_settings(r) == FASTEST
    assert t["performance_options"] == ["delay_ms", "layout"] and t["pinned"] == {}
    medians = {(c["settings"]["delay_ms"], c["settings"]["layout"]): c["median_s"] for c in t["candidates"]}
    assert len(medians) == 4 and all(c["steps"] >= timing.MIN_ROUNDS for c in t["candidates"])
    assert medians[(2, "plain")] < medians[(2, "padded")] < medians[(40, "plain")] < medians[(40, "padded")]
    assert t["candidates"][0]["settings"] == DEFAULTS  # the plain defaults are timed first
    assert phases.index("tuning") < phases.index("training")
    assert os.path.exists(t["cache_path"])
    assert r.timing["train_time_s"] < t["time_s"]  # tuning is kept out of the timed steps and the first step
    assert r.timing["step_time_s"]["median"] < medians[(40, "plain")]  # the timed run used the winner
    assert "delay_ms=2, layout=plain" in describe(t) and "tuned in" in describe(t)


def test_a_pinned_option_is_never_tuned_and_numerics_never_are(tunable):
    r, _ = run(backend_options={"layout": "padded", "scale": 1.0})
    t = r.tuning
    assert t["pinned"] == {"layout": "padded", "scale": 1.0} and t["chosen"] == {"delay_ms": 2}
    assert {c["settings"]["delay_ms"] for c in t["candidates"]} == {40, 2}
    assert all(set(c["settings"]) == {"delay_ms"} for c in t["candidates"])
    assert r.backend["settings"]["layout"] == "padded" and "scale" not in t["performance_options"]

    r, phases = run(backend_options={"layout": "padded", "delay_ms": 40})
    assert r.tuning["mode"] == "pinned" and r.tuning["candidates"] == [] and "tuning" not in phases
    assert performance_settings(r) == {"delay_ms": 40, "layout": "padded"}


def test_no_tune_runs_the_plain_defaults_without_tuning_steps(tunable):
    r, phases = run(tune=False)
    assert r.tuning["mode"] == "off" and r.tuning["chosen"] == DEFAULTS and performance_settings(r) == DEFAULTS
    assert "tuning" not in phases and tunable.calls == r.timing["steps_total"]
    assert describe(r.tuning).startswith("off (--no-tune")


def test_a_cache_hit_reuses_the_choice_and_spends_no_tuning_steps(tunable):
    first, _ = run()
    tunable.calls = 0
    second, phases = run()
    assert second.tuning["mode"] == "cached" and second.tuning["chosen"] == FASTEST
    assert performance_settings(second) == FASTEST
    assert second.tuning["candidates"] == first.tuning["candidates"]  # as measured when tuned
    assert tunable.calls == second.timing["steps_total"] and "tuning" not in phases
    assert second.tuning["cache_path"] == first.tuning["cache_path"]
    assert "cached choice, no tuning steps" in describe(second.tuning)


def test_the_cache_key_changes_with_the_framework_version(tunable, monkeypatch):
    first, _ = run()
    monkeypatch.setattr(cache, "framework_versions", lambda modules: {m: "99.0" for m in modules})
    again, _ = run()
    assert again.tuning["mode"] == "tuned" and again.tuning["cache_path"] != first.tuning["cache_path"]


def test_the_cache_key_changes_with_the_batch_and_the_pinned_options(tunable):
    paths = set()
    base = RunConfig(backend="tunable", model="tiny", dataset="synthetic", batch_size=8, steps=3, warmup=1, tune=True)
    for config in (base, RunConfig(**{**base.to_dict(), "batch_size": 16}),
                   RunConfig(**{**base.to_dict(), "backend_options": {"scale": 2.0}})):
        paths.add(loop.run(config).tuning["cache_path"])
    assert len(paths) == 3


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": "dlbench.tuning/1", "key": None}), "[]"])
def test_a_corrupt_or_stale_cache_file_is_ignored_with_a_warning(tunable, capsys, content):
    path = run()[0].tuning["cache_path"]
    with open(path, "w") as f:
        f.write(content)
    r, _ = run()
    assert r.tuning["mode"] == "tuned" and r.tuning["chosen"] == FASTEST
    assert "ignoring" in r.tuning["warnings"][0] and path in r.tuning["warnings"][0]
    assert "dlbench: warning: ignoring" in capsys.readouterr().err
    assert run()[0].tuning["mode"] == "cached"  # rewritten whole


def test_a_cached_choice_no_longer_among_the_candidates_is_stale(tunable):
    path = run()[0].tuning["cache_path"]
    with open(path) as f:
        entry = json.load(f)
    entry["chosen"] = {"delay_ms": 7, "layout": "plain"}
    with open(path, "w") as f:
        json.dump(entry, f)
    r, _ = run()
    assert r.tuning["mode"] == "tuned" and "stale" in r.tuning["warnings"][0]


def test_tuning_steps_do_not_leak_into_the_timed_training(tunable):
    tuned, _ = run(steps=5)
    pinned, _ = run(steps=5, tune=False, backend_options=FASTEST)
    assert performance_settings(tuned) == performance_settings(pinned)
    assert tuned.loss["curve"] == pinned.loss["curve"]  # both from the canonical initial weights


def test_a_candidate_that_fails_drops_out_with_its_reason(tunable, monkeypatch):
    real = tunable.train_step

    def fragile(self, model, optimizer, seed):
        if self.settings["layout"] == "plain" and self.settings["delay_ms"] == 2:
            raise RuntimeError("no compiler for this candidate")
        return real(self, model, optimizer, seed)

    monkeypatch.setattr(tunable, "train_step", fragile)
    r, _ = run(backend_options={"delay_ms": 2})
    failed = [c for c in r.tuning["candidates"] if c.get("error")]
    assert len(failed) == 1 and "no compiler" in failed[0]["error"] and failed[0]["median_s"] is None
    assert r.tuning["chosen"] == {"layout": "padded"}


def test_a_candidate_that_raised_after_timing_steps_is_never_chosen(tunable, monkeypatch):
    real = tunable.train_step

    def breaks_later(self, model, optimizer, seed):
        inner = real(self, model, optimizer, seed)
        if {k: self.settings[k] for k in FASTEST} != FASTEST:
            return inner
        calls = []

        def step(x, y):
            calls.append(1)
            if len(calls) == timing.WARMUP_STEPS + 2:  # after two timed rounds
                raise RuntimeError("lost its compiled kernel")
            return inner(x, y)

        return step

    monkeypatch.setattr(tunable, "train_step", breaks_later)
    r, _ = run()
    broken = next(c for c in r.tuning["candidates"] if c["settings"] == FASTEST)
    assert "lost its compiled kernel" in broken["error"] and broken["steps"] == 1
    assert r.tuning["chosen"] == {"delay_ms": 2, "layout": "padded"}  # the fastest that never raised
    assert json.load(open(r.tuning["cache_path"]))["chosen"] == r.tuning["chosen"]


@pytest.mark.parametrize("plain_ms", [20.0, 19.0], ids=["equal", "faster-by-less-than-3%"])
def test_a_candidate_within_noise_or_the_minimum_gain_leaves_the_default(tunable, monkeypatch, plain_ms):
    from tests.plugins import tunable_backend

    monkeypatch.setitem(tunable_backend.EXTRA_MS, "plain", plain_ms)  # 60 ms a step with the default's 20
    r, _ = run(backend_options={"delay_ms": 40})
    t = r.tuning
    assert t["chosen"] == {"layout": "padded"} and r.backend["settings"]["layout"] == "padded"
    assert t["decision"].startswith("default kept: no candidate significantly faster")
    (other,) = [c for c in t["candidates"] if c["settings"] == {"layout": "plain"}]
    assert other["ratio_to_default"] == pytest.approx((40 + plain_ms) / 60, abs=0.02)
    assert not other["significantly_faster"] and len(other["ratio_ci95"]) == 2
    assert "default kept" in describe(t)


def test_a_significantly_faster_candidate_wins_with_its_ratio_and_interval(tunable):
    r, _ = run(backend_options={"delay_ms": 40})
    t = r.tuning
    assert t["chosen"] == {"layout": "plain"}  # 40 ms against the default's 60
    won = next(c for c in t["candidates"] if c["settings"] == t["chosen"])
    assert won["significantly_faster"] and won["ratio_ci95"][1] < 1 and won["ratio_to_default"] == pytest.approx(2 / 3, abs=0.05)
    assert t["decision"].startswith("layout=plain: 0.6") and "× the default's step time [" in t["decision"]


def test_a_run_shorter_than_its_tuning_is_not_tuned_and_says_why(tunable):
    r, phases = run(steps=3, tune=None)
    t = r.tuning
    assert t["mode"] == "skipped" and t["chosen"] == DEFAULTS and performance_settings(r) == DEFAULTS
    assert t["note"] == ("not tuned: the run's 4 steps are fewer than the 20 that timing its 4 candidates takes "
                         "(--tune tunes regardless)")
    assert "tuning" not in phases and tunable.calls == r.timing["steps_total"] and t["cache_path"] is None
    assert describe(t).startswith("skipped (not tuned: the run's 4 steps")


def test_a_run_long_enough_to_repay_its_tuning_tunes(tunable):
    r, _ = run(steps=60, tune=None)  # ~3.7 s at the default's 60 ms a step; tuning ~1.2 s
    t = r.tuning
    assert t["mode"] == "tuned" and t["chosen"] == FASTEST
    assert t["budget"]["tuning_estimate_s"] < t["budget"]["run_estimate_s"] and t["budget"]["compile_estimate_s"] is None
    assert t["time_s"] < 2 * t["budget"]["run_estimate_s"]


def test_a_compiling_candidate_costs_what_compiling_cost_here_before(tunable, monkeypatch):
    monkeypatch.setitem(tunable.options, "delay_ms", Option(40, "sleep per step", (40, 2), tune={"cpu": (40, 2)},
                                                            compiles=(2,)))
    r, _ = run(steps=60, tune=None)
    t = r.tuning
    assert t["mode"] == "skipped" and t["budget"]["compile_estimate_s"] == timing_budget.COMPILE_GUESS_S
    assert "a guess" in t["note"] and "--tune tunes regardless" in t["note"] and len(t["candidates"]) == 1
    forced, _ = run(steps=60, tune=True)  # timed here: its compilations are history now
    assert forced.tuning["mode"] == "tuned"
    assert all(c["compiles"] == (c["settings"]["delay_ms"] == 2) for c in forced.tuning["candidates"])
    again, _ = run(steps=60, tune=None, batch_size=16)  # another key, so no cached choice
    assert again.tuning["mode"] == "tuned" and again.tuning["budget"]["compile_estimate_s"] < 0.5
    assert "timed here before" in again.tuning["budget"]["compile_estimate_source"]


def test_the_grid_puts_defaults_first_and_checks_candidates():
    from tests.plugins.tunable_backend import TunableBackend

    grid = Grid.of(TunableBackend, "cpu", {"scale": 2.0})
    assert TunableBackend.performance_options("cpu") == {"delay_ms": (40, 2), "layout": ("plain", "padded")}
    assert TunableBackend.performance_options("gpu") == {}
    assert grid.candidates()[0] == DEFAULTS and len(grid.candidates()) == 4 and grid.plain() == DEFAULTS
    assert grid.accepts(FASTEST) and not grid.accepts({"delay_ms": 2}) and not grid.accepts([])
    with pytest.raises(ValueError, match="not among the choices"):
        Option(False, "x", (True, False), tune={"cpu": (False, "fast")})


def test_each_test_has_caches_of_its_own(tmp_path):
    from dlbench.calibration import profile_path

    assert paths.cache_dir().is_relative_to(tmp_path) and profile_path().is_relative_to(tmp_path)
    assert Path(os.environ["XDG_CACHE_HOME"]).is_relative_to(tmp_path)


def test_a_sweeps_worker_tunes_into_the_tests_cache_not_the_users(tmp_path, monkeypatch):
    """HOME moved into tmp_path: what the worker would write under ~/.cache shows up there."""
    ours = paths.cache_dir()
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    with registered_test_plugins(monkeypatch, PLUGINS):
        done = subprocess.run([python, "-m", "dlbench.cli", "sweep", "-b", "tunable", "-m", "tiny", "-d", "synthetic",
                               "--steps", "2", "--batch-size", "8", "-o", "layout=plain", "--repeat", "1", "--tune",
                               "--timeout", "120", "-q", "--output", str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [record] = [Result.load(p) for p in (tmp_path / "out").glob("*.json")]
    assert record.tuning["mode"] == "tuned" and Path(record.tuning["cache_path"]).is_relative_to(ours)
    assert not (home / ".cache").exists()


def test_dlbench_run_tunes_then_reuses_the_cache_in_the_worker(tunable, tmp_path):
    args = ["run", "-b", "tunable", "-m", "tiny", "-d", "synthetic", "--steps", "2", "--batch-size", "8", "--tune",
            "-o", "layout=plain", "--timeout", "120", "--output", str(tmp_path / "results"), "-q"]
    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    first = json.loads(out.stdout)
    assert first["tuning"]["mode"] == "tuned" and first["tuning"]["chosen"] == {"delay_ms": 2}
    assert first["backend"]["settings"]["delay_ms"] == 2
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert "delay_ms=2: " in out.stdout and "cached choice, no tuning steps" in out.stdout


@pytest.mark.parametrize("module, cls, performance", [
    pytest.param("dlbench_backends.torch.backend", "TorchBackend", {"compile", "channels_last"}, marks=pytest.mark.torch),
    pytest.param("dlbench_backends.tensorflow.backend", "TensorFlowBackend", {"xla"}, marks=pytest.mark.tensorflow),
    pytest.param("dlbench_backends.jax.backend", "JaxBackend", {"attention"}, marks=pytest.mark.jax),
])
def test_built_in_backends_declare_only_speed_settings_as_performance(module, cls, performance):
    if not has(module.split(".")[1]):
        pytest.skip(f"{module.split('.')[1]} is not installed")
    backend = getattr(importlib.import_module(module), cls)
    for device in ("cpu", "gpu"):
        declared = backend.performance_options(device)
        assert set(declared) == performance
        assert all(backend.options[k].default == v[0] for k, v in declared.items())  # the default is timed first
    numerics = {"tf32", "mixed_precision", "precision"}
    assert not numerics & set(backend.performance_options("cpu"))


def test_several_processes_are_not_tuned_since_they_would_choose_apart(tunable):
    from types import SimpleNamespace

    from dlbench.tuning import tune

    prepared = SimpleNamespace(backend=tunable(), graph=None, parallel={"processes": 2})
    config = RunConfig(backend="tunable", model="tiny", dataset="synthetic", batch_size=8, steps=2)
    same, section = tune(config, prepared, rebuild=None, sample=None, progress=lambda *a, **k: None)
    assert same is prepared and tunable.calls == 0
    assert section["mode"] == "off" and section["chosen"] == DEFAULTS and "2 processes" in section["note"]


def test_a_tuned_runs_training_memory_still_covers_adams_state(tunable):
    """Tuning's candidates allocate and free the same kinds of buffers the timed run needs; held by
    the allocator, that memory would be reused unseen and the run's training memory come out too
    small. Run in its own worker process, as the CLI runs it."""
    from dlbench.execution import runner

    rec = runner.run(RunConfig(backend="tunable", model="mlp", dataset="synthetic", batch_size=8, steps=2, warmup=1,
                               optimizer="adam", tune=True, timeout=120))
    assert rec.ok, rec.error
    assert rec.tuning["mode"] == "tuned"
    assert rec.memory["training_bytes"] >= 2 * rec.model["params_trainable"] * 4  # Adam's two moments


def test_an_option_that_changes_one_kind_of_layer_is_tuned_only_for_models_that_have_it():
    from dlbench import registry

    jax_backend = registry.get_backend("jax").load()
    kinds = {name: frozenset(n.layer.kind for n in registry.get_model(name).build(shape, 10).nodes)
             for name, shape in (("lenet5", (28, 28, 1)), ("vit_tiny", (32, 32, 3)))}
    assert "attention" not in Grid.of(jax_backend, "cpu", {}, kinds=kinds["lenet5"]).free
    assert Grid.of(jax_backend, "cpu", {}, kinds=kinds["vit_tiny"]).free == {"attention": ("jax", "flax")}
    assert "attention" in jax_backend.performance_options("cpu")  # no model given: every setting
