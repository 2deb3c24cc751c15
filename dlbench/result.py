"""The versioned result record of one run, written atomically as JSON."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dlbench.errors import DlbenchError
from dlbench.files import write_atomic
from dlbench.record.migrations import upgrade
from dlbench.record.schema import SCHEMA, check
from dlbench.record.types import RecordError


@dataclass
class Result:
    """``status`` is ``"ok"`` or ``"failed"``; a failed run keeps its config and ``error``.

    Sections are plain dicts so the JSON reads naturally. Every field is declared, with its type,
    unit and meaning, in :mod:`dlbench.record.schema`; the reference page ``docs/reference/record.md``
    lists them. A record is checked against the schema when it is built, saved and loaded: a field
    it does not declare, or of the wrong type, raises :class:`dlbench.record.types.RecordError`.
    """

    config: dict
    status: str = "ok"
    error: dict | None = None
    backend: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    flops: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    accuracy: dict = field(default_factory=dict)
    loss: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    distributed: dict = field(default_factory=dict)
    #: how the backend's performance settings were chosen (:mod:`dlbench.tuning`); {} in older records
    tuning: dict = field(default_factory=dict)
    #: time-to-accuracy (:mod:`dlbench.measure.target`); {} when the run had no target
    target: dict = field(default_factory=dict)
    #: latency percentiles and throughput of a ``--task inference`` run (:mod:`dlbench.measure.inference`)
    inference: dict = field(default_factory=dict)
    #: where the step's time goes, layer by layer (:mod:`dlbench.explain`); {} for other records
    breakdown: dict = field(default_factory=dict)
    schema: str = SCHEMA
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        check(vars(self))

    @classmethod
    def failed(cls, config: dict, kind: str, message: str, **sections: Any) -> "Result":
        return cls(config=config, status="failed", error={"kind": kind, "message": message}, **sections)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        """The record as JSON, checked again: a section may have been added to since it was built."""
        check(vars(self))
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> "Result":
        """A record read back, an older one migrated to the current schema first."""
        return cls(**upgrade(data))  # checked first: an undeclared key is named, not a TypeError

    @classmethod
    def load(cls, path: Path) -> "Result":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError, RecordError) as e:
            raise DlbenchError(f"cannot read result {path}: {e}") from None

    def filename(self) -> str:
        c = self.config
        stamp = self.created.replace(":", "").replace("-", "").split("+")[0]
        return f"{c['backend']}-{c['model']}-{c['dataset']}-bs{c['batch_size']}-{stamp}-{self.id}.json"

    def save(self, directory: Path) -> Path:
        """Write atomically: a reader sees the whole record or none of it."""
        return write_atomic(Path(directory) / self.filename(), self.to_json())

