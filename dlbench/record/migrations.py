"""Older records brought up to the current schema, one version at a time: the version a record
names says which migrations it needs. Each returns a new record and leaves its input as it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from dlbench.record.schema import SCHEMA, check
from dlbench.record.types import RecordError


@dataclass(frozen=True)
class Migration:
    to: str
    change: str  # what changed, in words (the reference page lists it)
    apply: Callable[[dict[str, Any]], dict[str, Any]]


def _to_2(record: dict[str, Any]) -> dict[str, Any]:
    env = record.get("environment") or {}
    if "threads" not in env:
        record = {**record, "environment": {("threads" if k == "cpu_threads" else k): v for k, v in env.items()}}
    target = record.get("target") or {}
    if target and "metric" not in target:
        renamed = {("best" if k == "best_top1" else k): v for k, v in target.items()}
        record = {**record, "target": {**renamed, "metric": "top1"}}
    return record


def _to_3(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "breakdown": record.get("breakdown", {})}


#: from each older version, the migration to the next
MIGRATIONS: dict[str, Migration] = {
    "dlbench.result/1": Migration("dlbench.result/2", "`environment.cpu_threads` (JAX) is `environment.threads`, "
                                  "as torch and TensorFlow name it; `target.best_top1` is `target.best`, of the "
                                  "`target.metric` `top1` (language models have loss targets)", _to_2),
    "dlbench.result/2": Migration("dlbench.result/3", "a `breakdown` section: where the step's time goes, layer by "
                                  "layer (`dlbench explain`); empty in every other record", _to_3),
}


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` migrated to the current schema and checked against it; raises RecordError when it
    names no known version or does not follow its schema."""
    if not isinstance(record, dict):
        raise RecordError(f"a result record is a JSON object, not a {type(record).__name__}")
    while record.get("schema") != SCHEMA:
        step = MIGRATIONS.get(record.get("schema"))
        if step is None:
            known = ", ".join([*MIGRATIONS, SCHEMA])
            raise RecordError(f"not a dlbench result record of a known schema ({known}): "
                              f"schema={record.get('schema')!r}")
        record = {**step.apply(record), "schema": step.to}
    check(record)
    return record
