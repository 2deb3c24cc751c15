"""``dlbench sweep --status DIR``: every run a sweep recorded or submitted into DIR, with its job
id, from the records and the submission ledger. Read-only: a job that ended without a record is
shown as failed and is recorded as such by the next run of the sweep."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlbench.execution import sweep
from dlbench.execution.executors import states
from dlbench.execution.executors.ledger import Submission, Ledger

ORDER = ("queued", "running", "done", "failed")


@dataclass(frozen=True)
class Row:
    state: str
    job_id: str
    label: str
    detail: str = ""


def label(config: dict, repeat: int) -> str:
    opts = "".join(f" {k}={v}" for k, v in sorted((config.get("backend_options") or {}).items()))
    return f"{config.get('backend')}/{config.get('model')} {config.get('dataset')} bs{config.get('batch_size')}{opts} #{repeat + 1}"


def collect(output: Path) -> list[Row]:
    """One row per (cell, repeat) found in ``output``."""
    recorded = sweep.scan(Path(output))
    submissions = {(e.cell, e.repeat): e for e in Ledger(Path(output)).submissions()}
    found = _states([e for k, e in submissions.items() if not any(r.ok for _, r in recorded.get(k, []))])
    rows = []
    for key in sorted(set(recorded) | set(submissions), key=lambda k: (k[1], k[0])):
        submission, results = submissions.get(key), [r for _, r in recorded.get(key, [])]
        ok = [r for r in results if r.ok]
        if ok:
            rows.append(Row("done", _job_id(ok[-1], submission), label(ok[-1].config, key[1]), _speed(ok[-1])))
            continue
        state = found.get(submission.key) if submission else None
        if submission is not None and state is not None and (state.phase in ("queued", "running")
                                                        or (state.phase == "unknown" and not results)):
            phase = state.phase if state.phase != "unknown" else "queued"
            rows.append(Row(phase, submission.job_id or "?", label(submission.config, submission.repeat),
                            state.state or ("unconfirmed submission" if not submission.job_id else "not seen by the scheduler yet")))
        elif results:
            last = max(results, key=lambda r: r.created)
            rows.append(Row("failed", _job_id(last, submission), label(last.config, key[1]),
                            f"{last.error['kind']}: {last.error['message'].splitlines()[0][:160]}"))
        elif submission is not None:
            what = f"ended {state.state}" if state and state.state else "ended"
            rows.append(Row("failed", submission.job_id or "?", label(submission.config, submission.repeat),
                            f"{what} without a record (recorded when the sweep is rerun)"))
    return rows


def render(rows: list[Row], output: Path) -> str:
    if not rows:
        return f"no sweep records or submitted jobs in {output}"
    rows = sorted(rows, key=lambda r: ORDER.index(r.state))
    width = [max([len(head)] + [len(getattr(r, f)) for r in rows]) for f, head in (("state", "state"), ("job_id", "job"), ("label", "run"))]
    head = f"{'state':<{width[0]}}  {'job':<{width[1]}}  {'run':<{width[2]}}  detail"
    lines = [head] + [f"{r.state:<{width[0]}}  {r.job_id:<{width[1]}}  {r.label:<{width[2]}}  {r.detail}" for r in rows]
    counts = ", ".join(f"{sum(r.state == s for r in rows)} {s}" for s in ORDER)
    return "\n".join(lines + [f"{len(rows)} runs in {output}: {counts}"])


def _states(submissions: list[Submission]) -> dict[str, states.JobState]:
    out = {}
    slurm = [e for e in submissions if e.executor == "slurm" and e.job_id]
    if slurm:
        try:
            by_id = states.slurm_states([e.job_id for e in slurm])
        except ImportError:  # submitit is not installed here
            by_id = {}
        out.update({e.key: by_id[e.job_id] for e in slurm if e.job_id in by_id})
    for e in submissions:
        if e.executor == "local":
            out[e.key] = states.local_state(e.job_id, e.folder)
        elif e.key not in out and (not e.job_id or e.age_s <= states.UNKNOWN_GRACE_S):
            out[e.key] = states.JobState("unknown", "")
    return out


def _job_id(result, submission: Submission | None) -> str:
    """A failed record names its job; an ok one's job is the ledger's (runs of a ``process`` sweep have none)."""
    job = (result.error or {}).get("job") or {}
    return str(job.get("job_id") or (submission.job_id if submission else None) or "-")


def _speed(result) -> str:
    median = (result.timing.get("step_time_s") or {}).get("median")
    return f"median step {median * 1e3:,.2f} ms" if median else ""
