"""dlbench's own launcher: the processes of a data-parallel run started on this machine, watched.

For an engine with one process per machine (JAX's ``jax.distributed``, TensorFlow's
``MultiWorkerMirroredStrategy``), ``--processes P`` started as one command comes here: P worker
processes (``python -m dlbench.execution.worker REF IN OUT``), each with the variables of a plain
start (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR=127.0.0.1``,
``MASTER_PORT``: the first of P free consecutive ports) and ``DLBENCH_LAUNCHER=dlbench``, so each
joins the group as a process of an outer launch does. Process 0's progress is forwarded and its
output returned. A process that exits with an error or is killed stops the others at once, and the
run fails naming its rank; every process dies with the worker that started it.
"""

from __future__ import annotations

import collections
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from dlbench.errors import ConfigError, ReplicaFailed
from dlbench.execution import isolation, launcher

POLL_S = 0.1
EXIT_INPUT_ERROR = 2  # the worker's exit status for one of dlbench's own (one-line) errors


def start(entry: str, payload: dict, processes: int, progress: Callable[..., None]) -> dict:
    """Run ``entry`` (``"module:function"``) in ``processes`` processes here; process 0's output."""
    port = free_ports(processes)
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="dlbench-processes-") as tmp:
        given = Path(tmp, "input.json")
        given.write_text(json.dumps(payload))
        outputs = [Path(tmp, f"output-{rank}.json") for rank in range(processes)]
        try:
            for rank in range(processes):
                env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(processes), "LOCAL_RANK": str(rank),
                       "LOCAL_WORLD_SIZE": str(processes), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       launcher.LAUNCHER_ENV: "dlbench", "DLBENCH_PARENT_PID": str(os.getpid()),
                       "PYTHONUNBUFFERED": "1"}
                procs.append(subprocess.Popen(isolation.worker_command(entry, given, outputs[rank]), env=env,
                                              stdout=subprocess.PIPE if rank == 0 else subprocess.DEVNULL,
                                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True))
            tails = [collections.deque(maxlen=isolation.STDERR_TAIL_LINES) for _ in procs]
            readers = [threading.Thread(target=isolation.read_events, args=(procs[0].stdout, _forward(progress)),
                                        daemon=True)]
            readers += [threading.Thread(target=_relay, args=(proc.stderr, tail), daemon=True)
                        for proc, tail in zip(procs, tails)]
            for reader in readers:
                reader.start()
            watch(procs, outputs, tails)
            for reader in readers:
                reader.join(timeout=5)
            return json.loads(outputs[0].read_text())["output"]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()


def watch(procs: list[subprocess.Popen], outputs: list[Path], tails: list[collections.deque]) -> None:
    """Wait until every process has exited cleanly; at the first that has not, raise its failure."""
    while True:
        codes = [proc.poll() for proc in procs]
        for rank, code in enumerate(codes):
            if code not in (None, 0):
                error = _error(outputs[rank])
                if code == EXIT_INPUT_ERROR and error:
                    raise ConfigError(error["message"])
                message = error["message"] if error else None
                time.sleep(POLL_S)  # the last lines of its stderr
                raise ReplicaFailed(launcher.explain(rank, launcher.ended(code, message),
                                                     f"{message}\n{''.join(tails[rank])}"))
        if all(code == 0 for code in codes):
            return
        time.sleep(POLL_S)


def _relay(stream, tail: collections.deque) -> None:
    """A process's stderr to this one's, its last lines kept."""
    for line in stream:
        sys.stderr.write(line)
        tail.append(line)


def _error(output: Path) -> dict | None:
    try:
        return json.loads(output.read_text()).get("error")
    except (OSError, ValueError):
        return None


def _forward(progress: Callable[..., None]) -> Callable[[dict], None]:
    def on_event(event: dict) -> None:
        progress(event.pop("event"), **event)

    return on_event


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports that are free on this machine now."""
    for _ in range(100):
        base = random.randrange(20000, 60000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sockets.append(socket.socket())
                sockets[-1].bind(("", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise ReplicaFailed(f"found no {count} consecutive free ports for the processes' coordinator")
