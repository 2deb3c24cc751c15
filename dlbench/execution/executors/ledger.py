"""The submission ledger: which job runs which (cell, repeat) of a sweep, kept in the output
directory (``.dlbench-jobs/``) so that a rerun or ``dlbench sweep --status`` finds jobs that are
still queued or running. Every file is written atomically.

An entry is written with a fresh ``token`` *before* its job is submitted and gets the job id
after; the job itself writes a ``started`` marker with its token and job id when it starts. A job
whose entry carries another token was superseded by a rerun and exits without running.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dlbench.files import write_atomic

JOBS_DIR = ".dlbench-jobs"


def key(cell: str, repeat: int) -> str:
    return f"{cell}-r{repeat}"


@dataclass
class Entry:
    """One submitted run. ``folder``: submitit's job folder (``%j`` stands for the job id)."""

    cell: str
    repeat: int
    token: str
    executor: str
    label: str
    config: dict
    folder: str
    time_limit_min: int
    submitted: float
    job_id: str | None = None

    @property
    def key(self) -> str:
        return key(self.cell, self.repeat)

    @property
    def age_s(self) -> float:
        return time.time() - self.submitted


class Ledger:
    def __init__(self, output: Path):
        self.dir = Path(output) / JOBS_DIR

    def _path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def get(self, cell: str, repeat: int) -> Entry | None:
        """The entry of (cell, repeat), its job id completed from the job's own marker if the
        sweep that submitted it died before writing the id down."""
        data = _read(self._path(key(cell, repeat)))
        if data is None:
            return None
        try:
            entry = Entry(**data)
        except TypeError:
            return None
        if entry.job_id is None:
            started = self.started(entry.key)
            if started and started.get("token") == entry.token:
                entry.job_id = started.get("job_id")
        return entry

    def entries(self) -> list[Entry]:
        found = []
        for path in sorted(self.dir.glob("*-r*.json")):
            if path.name.endswith(".started.json"):
                continue
            cell, _, repeat = path.stem.rpartition("-r")
            if repeat.isdigit() and (entry := self.get(cell, int(repeat))) is not None:
                found.append(entry)
        return found

    def put(self, entry: Entry) -> None:
        _write(self._path(entry.key), asdict(entry))

    def remove(self, entry: Entry) -> None:
        self._path(entry.key).unlink(missing_ok=True)

    def started(self, name: str) -> dict | None:
        return _read(self._path(f"{name}.started"))

    def mark_started(self, cell: str, repeat: int, token: str, job_id: str | None, host: str) -> None:
        _write(self._path(f"{key(cell, repeat)}.started"),
               {"token": token, "job_id": job_id, "host": host, "pid": os.getpid(), "started": time.time()})


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=1, default=str))
