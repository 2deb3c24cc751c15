"""What a scheduled job runs: one run of a sweep, in the usual isolated worker, its record saved
atomically into the shared output directory under the sweep's record id."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from dlbench import environment
from dlbench.config import RunConfig
from dlbench.errors import DlbenchError
from dlbench.execution import runner
from dlbench.execution.executors.ledger import Ledger
from dlbench.result import Result


def records(output: Path, cell: str, repeat: int) -> list[tuple[Path, Result]]:
    """The readable records of (cell, repeat) in ``output``, oldest first."""
    found = []
    for path in sorted(Path(output).glob(f"*-{cell}-r{repeat}.json")):
        try:
            found.append((path, Result.load(path)))
        except DlbenchError:
            continue
    return sorted(found, key=lambda pair: pair[1].created)


def run_in_job(config: dict, cell: str, repeat: int, output: str, token: str, replaces: list[str]) -> dict:
    """Run one (cell, repeat) unless a rerun superseded this job or it is recorded already."""
    out, ledger = Path(output), Ledger(Path(output))
    job_id, host = _identity()
    entry = ledger.get(cell, repeat)
    if not _current(ledger, cell, repeat, token):
        return {"status": "superseded"}
    ledger.mark_started(cell, repeat, token, job_id, host)
    print(f"dlbench job {job_id} on {host}: run {cell}-r{repeat}", flush=True)
    try:
        result = runner.run(RunConfig.from_dict(config), _log)
    except Exception as e:  # the runner reports failures as results; this is a last resort
        result = Result.failed(config, type(e).__name__, str(e) or repr(e), environment=environment.machine())
    result.id = f"{result.id}-{cell}-r{repeat}"
    if result.error is not None:  # which job's log to read; an ok record's job is in the ledger
        result.error["job"] = {"executor": entry.executor, "job_id": job_id, "host": host}
    if not _current(ledger, cell, repeat, token):  # superseded or recorded while this one ran: keep one record
        return {"status": "superseded"}
    path = result.save(out)
    for old in map(Path, replaces):
        if old != path:
            old.unlink(missing_ok=True)
    print(f"dlbench job {job_id}: {result.status}, record {path}", flush=True)
    return {"status": result.status, "path": str(path)}


def _current(ledger: Ledger, cell: str, repeat: int, token: str) -> bool:
    entry = ledger.get(cell, repeat)
    if entry is None or entry.token != token:
        return False
    return not any(r.ok for _, r in records(ledger.dir.parent, cell, repeat))


def _identity() -> tuple[str | None, str]:
    try:
        import submitit

        env = submitit.JobEnvironment()
        return env.job_id, env.hostname
    except Exception:  # not inside a submitit job
        return None, socket.gethostname()


def _log(event: dict) -> None:
    if event.get("event") == "phase":
        print(f"phase: {event.get('name')}", file=sys.stdout, flush=True)
