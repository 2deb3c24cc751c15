"""The submission ledger: which job runs which (cell, repeat) of a sweep, kept in the output
directory (``.dlbench-jobs/``) so that a rerun or ``dlbench sweep --status`` finds jobs that are
still queued or running. Every file is written atomically.

A submission is written with a fresh ``token`` *before* its job is submitted and gets the job id
after; the job itself writes a ``started`` marker with its token and job id when it starts. A job
whose submission carries another token was superseded by a rerun and exits without running.
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
class Submission:
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

    def get(self, cell: str, repeat: int) -> Submission | None:
        """The submission of (cell, repeat), its job id completed from the job's own marker if the
        sweep that submitted it died before writing the id down."""
        data = _read(self._path(key(cell, repeat)))
        if data is None:
            return None
        try:
            submission = Submission(**data)
        except TypeError:
            return None
        if submission.job_id is None:
            started = self.started(submission.key)
            if started and started.get("token") == submission.token:
                submission.job_id = started.get("job_id")
        return submission

    def submissions(self) -> list[Submission]:
        found = []
        for path in sorted(self.dir.glob("*-r*.json")):
            if path.name.endswith(".started.json"):
                continue
            cell, _, repeat = path.stem.rpartition("-r")
            if repeat.isdigit() and (submission := self.get(cell, int(repeat))) is not None:
                found.append(submission)
        return found

    def put(self, submission: Submission) -> None:
        _write(self._path(submission.key), asdict(submission))

    def remove(self, submission: Submission) -> None:
        self._path(submission.key).unlink(missing_ok=True)

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
