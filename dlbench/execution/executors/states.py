"""What the scheduler says of a job: Slurm through ``sacct`` (``squeue`` where accounting is off),
a local submitit job through its controller process. Every scheduler command has a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT_S = 60.0
#: a job the scheduler does not know yet (just submitted) counts as queued this long
UNKNOWN_GRACE_S = 180.0
QUEUED = {"PENDING", "REQUEUED", "CONFIGURING", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED"}
RUNNING = {"RUNNING", "COMPLETING", "RESIZING", "STAGE_OUT", "SIGNALING", "STOPPED"}
#: the record's error kind for a job that ended without writing its record
KINDS = {"TIMEOUT": "timeout", "OUT_OF_MEMORY": "killed", "CANCELLED": "cancelled", "NODE_FAIL": "lost",
         "BOOT_FAIL": "lost", "PREEMPTED": "lost", "DEADLINE": "timeout", "REVOKED": "lost", "LOST": "lost",
         "INTERRUPTED": "killed"}


@dataclass(frozen=True)
class JobState:
    """``phase``: queued, running, ended or unknown; ``state``: the scheduler's own word."""

    phase: str
    state: str
    detail: str = ""

    @property
    def kind(self) -> str:
        return KINDS.get(self.state.split()[0] if self.state else "", "crash")


def slurm_states(job_ids: list[str]) -> dict[str, JobState]:
    """The state of each job id (``123`` or array task ``123_4``); ids neither sacct nor squeue
    knows are left out."""
    if not job_ids:
        return {}
    arrays = sorted({j.split("_")[0] for j in job_ids})
    found: dict[str, JobState] = {}
    info = _ask(["sacct", "-X", "-o", "JobID,State,ExitCode", "--parsable2", "-j", ",".join(arrays)])
    for jid, row in (info or {}).items():
        state = row.get("State", "")
        exit_code = row.get("ExitCode", "")
        found[jid] = JobState(_phase(state), state, f"exit code {exit_code}" if exit_code else "")
    missing = [j for j in job_ids if j not in found]
    if missing:
        queue = _ask(["squeue", "-h", "-r", "-o", "%i|%T|%r", "-j", ",".join(arrays)], header="JobID|State|Reason")
        for jid, row in (queue or {}).items():
            if jid not in found:
                reason = row.get("Reason", "")
                found[jid] = JobState(_phase(row.get("State", "")), row.get("State", ""),
                                      "" if reason in ("", "None") else reason)
        if queue is not None:  # squeue answered: what it does not list has left the queue
            for jid in missing:
                found.setdefault(jid, JobState("unknown", "", "not in sacct or squeue"))
    return {j: found[j] for j in job_ids if j in found}


def local_state(job_id: str | None, folder: str, handle=None) -> JobState:
    """A local submitit job is its controller process (the job id is its pid)."""
    if handle is not None and getattr(handle, "_process", None) is not None:
        code = handle._process.poll()
        if code is None:
            return JobState("running", "RUNNING")
        if code < 0:
            return JobState("ended", "INTERRUPTED", f"controller killed by {signal.Signals(-code).name}")
        return JobState("ended", "FINISHED", f"exit code {code}")
    if job_id is None or not job_id.isdigit():
        return JobState("unknown", "")
    if _controller_alive(int(job_id), folder):
        return JobState("running", "RUNNING")
    return JobState("ended", "FINISHED", "its controller process is gone")


def _phase(state: str) -> str:
    word = state.split()[0] if state else ""
    if word in QUEUED:
        return "queued"
    if word in RUNNING:
        return "running"
    return "ended" if word else "unknown"


def _ask(command: list[str], header: str | None = None) -> dict[str, dict[str, str]] | None:
    """The command's ``|``-separated table by job id, or None when it failed or timed out."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    from submitit.slurm.slurm import SlurmInfoWatcher

    text = f"{header}\n{done.stdout}" if header else done.stdout
    return SlurmInfoWatcher().read_info(text)


def _controller_alive(pid: int, folder: str) -> bool:
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
            cmdline = proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        return "submitit.local._local" in cmdline and folder in cmdline  # not a reused pid
    if Path("/proc/self").exists():
        return False
    try:  # no /proc (macOS): the pid exists at least
        os.kill(pid, 0)
    except OSError:
        return False
    return True
