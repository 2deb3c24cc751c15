"""The result record's schema: what the backends write is declared and typed as declared, a record
outside it is refused with the field named, older records migrate, and the reference page is current."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from dlbench.analysis.results import read_record
from dlbench.config import RunConfig
from dlbench.errors import DlbenchError
from dlbench.execution import runner
from dlbench.measure import inference, loop
from dlbench.record import reference
from dlbench.record.schema import CONFIG, SCHEMA, SECTIONS, check
from dlbench.record.types import RecordError
from dlbench.result import Result
from tests.conftest import ROOT, has

PUBLISHED = sorted((ROOT / "reports").rglob("*.json"))
#: sections the core builds the same way for every backend
CORE = ("config", "backend", "model", "dataset", "timing", "flops", "memory", "accuracy", "loss", "inference")
#: their fields that the numpy records below cannot hold, and why
NOT_WRITTEN_HERE = {
    "timing.note": "only when a target is reached within the warm-up",
    **{k: "only a language model's" for k in ("accuracy.val_loss", "accuracy.perplexity", "accuracy.bits_per_token",
                                               "timing.throughput_tokens_per_s")},
    **{f"flops.utilisation.{k}": "only with a calibration profile" for k in
       ("ceiling_flops_per_s", "share", "ceiling_source", "datasheet_flops_per_s", "datasheet_share")},
}


def quiet(*args, **kwargs) -> None:
    pass


def written(value, prefix: str = "") -> set[str]:
    """The dotted names of the fields a record holds, as the reference page names them."""
    if isinstance(value, dict):
        return {name for k, v in value.items() for name in {f"{prefix}{k}"} | written(v, f"{prefix}{k}.")}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return set().union(*(written(v, prefix[:-1] + "[].") for v in value))
    return set()


def declared(sections) -> set[str]:
    return {f"{s}.{name}" for s in sections for name, _ in reference.rows(SECTIONS[s][0]) if not name.endswith("*")}


def config(**kw) -> RunConfig:
    return RunConfig(**{"model": "mlp", "dataset": "synthetic", "batch_size": 4, "steps": 2, "warmup": 1,
                        "tune": False, "min_requests": 2, "min_duration": 0.0, "timeout": 300, **kw})


def test_numpy_records_are_declared_and_cover_what_the_core_writes(test_plugins):
    train = loop.run(config(backend="numpy", dataset="digits", steps=None, epochs=1, batch_size=256), quiet)
    serve = inference.run(config(backend="numpy", task="inference"), quiet)
    for record in (train, serve):
        check(record.to_dict())
    seen = written(train.to_dict()) | written(serve.to_dict())
    assert declared(CORE) - seen == set(NOT_WRITTEN_HERE)


FRAMEWORKS = [pytest.param(b, marks=getattr(pytest.mark, b)) for b in ("torch", "tensorflow", "jax")]


@pytest.mark.parametrize("backend", FRAMEWORKS)
@pytest.mark.parametrize("task", ["train", "inference"])
def test_framework_records_follow_the_schema(backend, task):
    if not has({"tensorflow": "tensorflow", "torch": "torch", "jax": "flax"}[backend]):
        pytest.skip(f"{backend} is not installed")
    result = runner.run(config(backend=backend, task=task))
    assert result.ok, result.error  # a record outside the schema fails in the worker, naming the field
    check(result.to_dict())
    assert result.environment["framework"] and isinstance(result.environment["threads"], int)


def test_an_undeclared_key_is_refused_with_its_name():
    with pytest.raises(RecordError, match=r"timing\.steps is not declared \(timing declares: mode, window"):
        Result(config={}, timing={"steps": 3})
    with pytest.raises(RecordError, match=r"a record has: schema, id"):
        Result.from_dict({**Result(config={}).to_dict(), "extra": 1})


def test_a_wrong_type_is_refused_with_its_name():
    with pytest.raises(RecordError, match=r"memory\.training_bytes: expected integer or null, got float 1\.5"):
        Result(config={}, memory={"training_bytes": 1.5})
    with pytest.raises(RecordError, match=r"config\.batch_size: expected integer, got str"):
        Result(config={"batch_size": "8"})
    with pytest.raises(RecordError, match=r"timing\.step_times_s\[1\]: expected number, got bool"):
        Result(config={}, timing={"step_times_s": [0.1, True]})


def test_saving_checks_what_was_added_after_the_build(tmp_path):
    r = Result.failed(RunConfig().to_dict(), "crash", "boom")
    r.error["stderr_tail"] = "the end"
    r.save(tmp_path)  # declared: fine
    r.error["exit"] = 3
    with pytest.raises(RecordError, match=r"error\.exit is not declared"):
        r.save(tmp_path)


def version_1(record: dict) -> dict:
    old = copy.deepcopy(record)
    old["schema"] = "dlbench.result/1"
    old["environment"]["cpu_threads"] = old["environment"].pop("threads")
    return old


def test_a_version_1_record_migrates(tmp_path):
    [jax] = [p for p in PUBLISHED if p.name.startswith("jax-lenet5-synthetic")][:1]
    data = json.loads(jax.read_text())
    assert data["schema"] == "dlbench.result/1" and "cpu_threads" in data["environment"]
    for migrated in (Result.load(jax).to_dict(), read_record(jax)):
        assert migrated["schema"] == SCHEMA and "cpu_threads" not in migrated["environment"]
        assert migrated["environment"]["threads"] == data["environment"]["cpu_threads"]
    made = Result(config={}, environment={"threads": 2}).to_dict()
    assert Result.from_dict(version_1(made)).to_dict() == made


def test_an_unknown_version_is_refused(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**Result(config={}).to_dict(), "schema": "dlbench.result/9"}))
    for read in (Result.load, read_record):
        with pytest.raises(DlbenchError, match=r"known schema \(dlbench.result/1, dlbench.result/2, dlbench.result/3\): "
                                               r"schema='dlbench.result/9'"):
            read(path)


def test_every_published_record_reads():
    assert len(PUBLISHED) > 200
    for path in PUBLISHED:
        assert Result.load(path).to_dict() == read_record(path)


def test_every_config_field_is_declared_with_its_meaning():
    assert set(CONFIG) == {f.name for f in dataclasses.fields(RunConfig)}
    assert all(meaning for _, meaning in CONFIG.values())


def test_the_reference_page_is_what_the_schema_generates(tmp_path):
    committed = ROOT / "docs/reference/record.md"
    assert committed.read_text() == reference.page(), "run `python -m dlbench.record.reference`"
    assert reference.main([str(tmp_path / "page.md")]) == 0 and (tmp_path / "page.md").read_text() == reference.page()
    assert Path(committed).read_text().count("\n## ") == 2 + len(SECTIONS)  # top level, sections, versions
