"""Runs a worker entry in a fresh process, with a timeout, and says how it ended."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

STDERR_TAIL_LINES = 40


@dataclass
class WorkerOutcome:
    """``output`` on success; otherwise ``error`` = {kind, message} and the worker's last stderr lines."""

    output: dict | None
    error: dict | None
    stderr_tail: str


def run_in_worker(entry: str, payload: dict, timeout: float | None = None,
                  on_event: Callable[[dict], None] | None = None) -> WorkerOutcome:
    with tempfile.TemporaryDirectory(prefix="dlbench-") as tmp:
        input_path, output_path = Path(tmp, "input.json"), Path(tmp, "output.json")
        input_path.write_text(json.dumps(payload))
        tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DLBENCH_PARENT_PID": str(os.getpid())}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        proc = subprocess.Popen(
            worker_command(entry, input_path, output_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
            start_new_session=True,  # a timeout then kills the worker's own children too
        )
        readers = [threading.Thread(target=read_events, args=(proc.stdout, on_event), daemon=True),
                   threading.Thread(target=tail.extend, args=(proc.stderr,), daemon=True)]
        for t in readers:
            t.start()
        error = None
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
            error = {"kind": "timeout", "message": f"exceeded the timeout of {timeout:g} s and was killed"}
        except BaseException:  # Ctrl-C: take the worker down with us
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        for t in readers:
            t.join(timeout=5)
        written = json.loads(output_path.read_text()) if output_path.exists() else {}
        if error is None and code == 0 and "output" in written:
            return WorkerOutcome(written["output"], None, "")
        error = error or written.get("error") or _describe_exit(code)
        return WorkerOutcome(None, error, "".join(tail)[-4000:])


def worker_command(entry: str, input_path: Path, output_path: Path) -> list[str]:
    """The command of a worker process: ``entry`` is a name of :data:`dlbench.execution.worker.ENTRIES`
    or a ``"module:function"``."""
    return [sys.executable, "-m", "dlbench.execution.worker", entry, str(input_path), str(output_path)]


def _describe_exit(code: int) -> dict:
    if code < 0:
        sig = signal.Signals(-code).name
        hint = " (as the kernel's out-of-memory killer does)" if sig == "SIGKILL" else ""
        return {"kind": "killed", "message": f"worker killed by {sig}{hint}"}
    return {"kind": "crash", "message": f"worker exited with status {code} without a result"}


def read_events(stream, on_event) -> None:
    """Pass each JSON event line of a worker's stdout to ``on_event`` (other lines are skipped)."""
    for line in stream:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if on_event is not None:
            on_event(event)
