"""The ``slurm`` and ``local`` executors: one submitit job per run.

On Slurm the runs still to do go out as one job array (at most ``max_parallel`` at a time); the
local executor starts up to ``max_parallel`` jobs on this machine. Each job runs
:func:`dlbench.execution.executors.submitted.run_submitted`, which writes the run's record itself. The
sweep waits for the jobs (never longer than its wait limit), adopts jobs an earlier sweep
submitted that are still queued or running, and records a job that ended without a record
(killed, timed out, cancelled, lost) as a failed run with the scheduler's reason.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlbench import environment
from dlbench.errors import DlbenchError
from dlbench.execution.sweep import Plan, PlannedRun
from dlbench.execution.executors import states
from dlbench.execution.executors.contract import Hooks, SweepOutcome
from dlbench.execution.executors import output as out
from dlbench.execution.executors.ledger import JOBS_DIR, Ledger, Submission
from dlbench.execution.executors.submitted import run_submitted
from dlbench.execution.executors.settings import ExecutorSettings
from dlbench.result import Result

POLL_S = {"slurm": 15.0, "local": 0.5}
SUBMIT_TIMEOUT_S = 120.0
STDERR_TAIL_CHARS = 4000


@dataclass
class Tracked:
    """A run whose job is queued or running; ``handle`` is submitit's Job while this sweep has it."""

    run: PlannedRun
    submission: Submission
    handle: Any = None


class SubmititExecutor:
    def __init__(self, settings: ExecutorSettings):
        self.settings, self.name = settings, settings.executor
        self.poll_s = POLL_S[self.name]
        self._submitit: Any = None

    def execute(self, plan: Plan, output: Path, hooks: Hooks) -> SweepOutcome:
        self._submitit = import_submitit()
        output, outcome = Path(output).resolve(), SweepOutcome()
        with out.locked(output):
            for old in plan.stale:
                old.unlink(missing_ok=True)
            ledger = Ledger(output)
            active, queue = self._reconcile(plan, output, ledger, hooks, outcome)
            runs = len(active) + len(queue)
            parallel = self.settings.parallelism(runs)
            deadline = time.monotonic() + self.settings.wait_limit_s(runs)
            executor = self._executor(output, parallel) if queue else None
            if queue and self.name == "slurm":
                self._submit(executor, queue, output, ledger, plan, active, hooks)
                queue = []
            while active or queue:
                while queue and len(active) < parallel:
                    self._submit(executor, [queue.pop(0)], output, ledger, plan, active, hooks)
                self._poll(active, output, plan, hooks, outcome)
                if (not active and not queue) or time.monotonic() > deadline:
                    break
                time.sleep(max(0.0, min(self.poll_s, deadline - time.monotonic())))
            found = self._states(list(active.values()))
            outcome.pending = [(t.run, self._describe(t, found.get(t.submission.key))) for t in active.values()]
            outcome.pending += [(run, "not submitted yet") for run in queue]
        return outcome

    # -- what earlier sweeps left ---------------------------------------------------------
    def _reconcile(self, plan: Plan, output: Path, ledger: Ledger, hooks: Hooks,
                   outcome: SweepOutcome) -> tuple[dict[str, Tracked], list[PlannedRun]]:
        """Split the runs to do into jobs still queued or running (adopted) and runs to submit;
        record what ended since the plan was made, or ended without a record."""
        queue, known = [], []
        for run in plan.todo:
            submission = ledger.get(run.cell, run.repeat)
            if submission is not None and submission.job_id is not None:
                known.append(Tracked(run, submission))
            else:  # never submitted, or its submission was never confirmed: a new token supersedes it
                queue.append(run)
        found = self._states(known)
        active = {}
        for t in known:
            if self._collect(t, output, plan, hooks, outcome):
                continue
            state = found.get(t.submission.key) or states.JobState("unknown", "")
            if not self._ended(t, state):
                active[t.submission.key] = t
                hooks.notify(f"sweep: {t.run.label}: {t.submission.executor} job {t.submission.job_id} is still "
                             f"{state.phase if state.phase != 'unknown' else 'submitted'}; waiting for it")
            elif plan.replaces.get((t.run.cell, t.run.repeat)):  # --retry-failed: run it again
                queue.append(t.run)
            else:
                self._record_loss(t, state, output, plan, hooks, outcome)
        return active, queue

    # -- submitting -----------------------------------------------------------------------
    def _executor(self, output: Path, parallel: int) -> Any:
        s = self.settings
        try:
            executor = self._submitit.AutoExecutor(folder=output / JOBS_DIR / "logs" / "%j", cluster=self.name)
        except RuntimeError as e:  # SlurmExecutor: no srun on PATH
            raise DlbenchError(f"cannot use --executor {self.name} here: {e} (try --executor local on one machine)") from None
        params: dict[str, Any] = {"name": "dlbench", "timeout_min": s.time_limit_min}
        if s.gpus_per_run is not None:
            params["gpus_per_node"] = s.gpus_per_run
        if s.nodes is not None:
            params["nodes"] = s.nodes
        if s.tasks_per_node is not None:
            params["tasks_per_node"] = s.tasks_per_node
        if s.gpus_per_task is not None and self.name == "slurm":
            params["slurm_gpus_per_task"] = s.gpus_per_task
        elif s.gpus_per_task is not None:  # submitit's local executor knows GPUs per node only
            params["gpus_per_node"] = s.gpus_per_task * (s.tasks_per_node or 1)
        if s.cpus_per_run is not None:
            params["cpus_per_task"] = s.cpus_per_run
        if self.name == "slurm":
            params["slurm_array_parallelism"] = parallel
            if s.partition:
                params["slurm_partition"] = s.partition
            if s.slurm_options:
                params["slurm_additional_parameters"] = dict(s.slurm_options)
        try:
            executor.update_parameters(**params)
        except (ValueError, NameError, AssertionError) as e:
            raise DlbenchError(f"submitit rejected the job settings: {e}") from None
        return executor

    def _submit(self, executor: Any, runs: list[PlannedRun], output: Path, ledger: Ledger, plan: Plan,
                active: dict[str, Tracked], hooks: Hooks) -> None:
        submissions = [Submission(run.cell, run.repeat, uuid.uuid4().hex, self.name, run.label, run.config.to_dict(),
                                  str(executor.folder), self.settings.time_limit_min, time.time()) for run in runs]
        for submission in submissions:  # before submitting: a job finds its own submission (and token) when it starts
            ledger.put(submission)
        calls = [(e.config, e.cell, e.repeat, str(output), e.token,
                  [str(p) for p in plan.replaces.get((e.cell, e.repeat), [])]) for e in submissions]

        def submit() -> list:
            if len(calls) == 1:
                return [executor.submit(run_submitted, *calls[0])]
            return executor.map_array(run_submitted, *map(list, zip(*calls)))

        try:
            if self.name == "local":  # starts processes, waits on nothing
                with children_ignore_ctrl_c():
                    handles = submit()
            else:
                handles = within(SUBMIT_TIMEOUT_S, submit, f"submitting to {self.name}")
        except DlbenchError:
            raise  # timed out: the submissions stay, so a submission that still went through is found later
        except Exception as e:
            for submission in submissions:
                ledger.remove(submission)
            message = str(e).strip().splitlines()
            raise DlbenchError(f"submitting to {self.name} failed: {message[0] if message else type(e).__name__}") from None
        for run, submission, handle in zip(runs, submissions, handles):
            submission.job_id = str(handle.job_id)
            ledger.put(submission)
            active[submission.key] = Tracked(run, submission, handle)
        hooks.notify(self._submitted(submissions))

    def _submitted(self, submissions: list[Submission]) -> str:
        s = self.settings
        if self.name == "local":
            return f"sweep: started {submissions[0].label} as local job {submissions[0].job_id}"
        first = submissions[0].job_id.split("_")[0]
        shape = f"job array {first} of {len(submissions)}, at most {s.parallelism(len(submissions))} at a time" \
            if len(submissions) > 1 else f"job {first}"
        asks = [f"partition {s.partition}" if s.partition else None,
                f"{s.nodes or 1} nodes x {s.tasks_per_node or 1} tasks" if s.tasks > 1 else None,
                f"{s.gpus_per_task} GPUs per task" if s.gpus_per_task is not None else None,
                f"{s.cpus_per_run} CPUs" if s.cpus_per_run else None,
                f"{s.gpus_per_run} GPUs" if s.gpus_per_run is not None else None,
                f"{s.time_limit_min} min"]
        return f"sweep: submitted {len(submissions)} run{'s' * (len(submissions) != 1)} to slurm as {shape} " \
               f"({', '.join(a for a in asks if a)} each)"

    # -- waiting --------------------------------------------------------------------------
    def _poll(self, active: dict[str, Tracked], output: Path, plan: Plan, hooks: Hooks,
              outcome: SweepOutcome) -> None:
        found = self._states(list(active.values()))  # before looking for records: a job writes its record before it ends
        for key, t in list(active.items()):
            if self._collect(t, output, plan, hooks, outcome):
                del active[key]
                continue
            state = found.get(key) or states.JobState("unknown", "")
            if self._ended(t, state):
                self._record_loss(t, state, output, plan, hooks, outcome)
                del active[key]

    def _states(self, tracked: list[Tracked]) -> dict[str, states.JobState]:
        out = {}
        slurm = [t for t in tracked if t.submission.executor == "slurm"]
        if slurm:
            by_id = states.slurm_states([t.submission.job_id for t in slurm])
            out.update({t.submission.key: by_id[t.submission.job_id] for t in slurm if t.submission.job_id in by_id})
        for t in tracked:
            if t.submission.executor == "local":
                out[t.submission.key] = states.local_state(t.submission.job_id, t.submission.folder, t.handle)
        return out

    @staticmethod
    def _ended(t: Tracked, state: states.JobState) -> bool:
        return state.phase == "ended" or (state.phase == "unknown" and t.submission.age_s > states.UNKNOWN_GRACE_S)

    def _collect(self, t: Tracked, output: Path, plan: Plan, hooks: Hooks, outcome: SweepOutcome) -> bool:
        """Report the run's new record, if its job wrote one."""
        old = set(plan.replaces.get((t.run.cell, t.run.repeat), []))
        new = [(p, r) for p, r in out.records(output, t.run.cell, t.run.repeat) if p not in old]
        if not new:
            return False
        path, result = next(((p, r) for p, r in new if r.ok), new[-1])
        outcome.finished.append((t.run, result))
        hooks.on_done(t.run, result, path)
        return True

    def _record_loss(self, t: Tracked, state: states.JobState, output: Path, plan: Plan, hooks: Hooks,
                     outcome: SweepOutcome) -> None:
        """A job that ended without a record: a failed record with the scheduler's reason."""
        e = t.submission
        if state.phase == "unknown":
            message = f"{e.executor} job {e.job_id} was lost: the scheduler no longer knows it " \
                      f"({state.detail or 'no answer'}) and it wrote no record"
            kind = "lost"
        else:
            detail = f" ({state.detail})" if state.detail else ""
            message = f"{e.executor} job {e.job_id} ended {state.state}{detail} before writing a record"
            if state.state.startswith("TIMEOUT") or (e.executor == "local" and e.age_s >= e.time_limit_min * 60):
                message += f"; its time limit was {e.time_limit_min} min"
            kind = "timeout" if "time limit" in message else state.kind
        result = Result.failed(t.run.config.to_dict(), kind, message, environment=environment.machine())
        result.error["job"] = {"executor": e.executor, "job_id": e.job_id, "state": state.state}
        result.error["stderr_tail"] = self._stderr_tail(e)
        path = out.save(result, output, e.cell, e.repeat, plan.replaces.get((e.cell, e.repeat), []))
        outcome.finished.append((t.run, result))
        hooks.on_done(t.run, result, path)

    def _stderr_tail(self, submission: Submission) -> str:
        try:
            paths = self._submitit.core.utils.JobPaths(submission.folder, job_id=submission.job_id, task_id=0)
            return paths.stderr.read_text(errors="replace")[-STDERR_TAIL_CHARS:]
        except (OSError, ValueError):
            return ""

    @staticmethod
    def _describe(t: Tracked, state: states.JobState | None) -> str:
        phase = state.phase if state and state.phase != "unknown" else "submitted"
        word = f", {state.state}" if state and state.state else ""
        return f"{t.submission.executor} job {t.submission.job_id} {phase}{word}"


def import_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise DlbenchError("scheduled sweeps need submitit: pip install 'dlbench[cluster]' "
                           "(or use --executor process)") from None
    return submitit


@contextlib.contextmanager
def children_ignore_ctrl_c():
    """Processes started inside ignore SIGINT (an ignored signal stays ignored across exec), so a
    Ctrl-C in the terminal, which reaches the whole process group, leaves local jobs running as it
    leaves cluster jobs; ``kill PID`` still stops one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def within(seconds: float, fn, what: str):
    """``fn()``, or DlbenchError if it has not returned within ``seconds`` (it is left running:
    a stuck ``sbatch`` cannot be stopped from here, only no longer waited for)."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise DlbenchError(f"{what} did not answer within {seconds:g} s; check the queue, then rerun the sweep")
    if "error" in box:
        raise box["error"]
    return box["value"]
