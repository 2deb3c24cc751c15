"""What a submitted (Slurm or local submitit) job runs: one run of a sweep, in the usual isolated
worker, its record saved into the shared output directory under the sweep's record id."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from dlbench.config import RunConfig
from dlbench.execution import launcher
from dlbench.execution.executors import output as out
from dlbench.execution.executors.ledger import Ledger


def run_submitted(config: dict, cell: str, repeat: int, output: str, token: str, replaces: list[str]) -> dict:
    """Run one (cell, repeat) unless a rerun superseded this job or it is recorded already. In a job
    of several tasks every task runs it as one process of the run, and task 0 records it."""
    ledger = Ledger(Path(output))
    job_id, host = _identity()
    submission = ledger.get(cell, repeat)
    if not _current(ledger, cell, repeat, token):
        return {"status": "superseded"}
    run_config, launch = RunConfig.from_dict(config), launcher.detect()
    records = launcher.writes_record(run_config.replicas, launch)
    if records:
        ledger.mark_started(cell, repeat, token, job_id, host)
    print(f"dlbench job {job_id} on {host}: run {cell}-r{repeat}" + (f", {launch.describe()}" if launch.outer else ""),
          flush=True)
    result = out.run(run_config, _log)
    if not records:
        return {"status": result.status, "rank": launch.rank}
    if result.error is not None:  # which job's log to read; an ok record's job is in the ledger
        result.error["job"] = {"executor": submission.executor, "job_id": job_id, "host": host}
    if not _current(ledger, cell, repeat, token):  # superseded or recorded while this one ran: keep one record
        return {"status": "superseded"}
    path = out.save(result, Path(output), cell, repeat, replaces)
    print(f"dlbench job {job_id}: {result.status}, record {path}", flush=True)
    return {"status": result.status, "path": str(path)}


def _current(ledger: Ledger, cell: str, repeat: int, token: str) -> bool:
    submission = ledger.get(cell, repeat)
    if submission is None or submission.token != token:
        return False
    return not any(r.ok for _, r in out.records(ledger.dir.parent, cell, repeat))


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
