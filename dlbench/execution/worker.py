"""The isolated worker process: ``python -m dlbench.execution.worker ENTRY INPUT.json OUTPUT.json``.

ENTRY names one of :data:`ENTRIES` (or is a ``"module:function"``, as dlbench's own launcher starts
each process of a data-parallel run), a function ``(payload: dict, progress) -> dict``. Progress
events go to the original stdout as JSON lines; anything the framework prints is sent to stderr so
it cannot corrupt them. The entry's output (or its error) is written atomically to OUTPUT.json.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import traceback

from dlbench.errors import DlbenchError
from dlbench.execution import replicas

#: what a worker can be asked to do: ``run`` a configuration, compute ``verify``'s outputs, time the
#: GEMM ceilings for ``calibrate``, ``probe`` a backend for ``doctor``, ``explain`` where a step's time goes
ENTRIES = {"run": "dlbench.measure.entry:run", "verify": "dlbench.measure.verify:outputs",
           "calibrate": "dlbench.calibration.ceilings:time_gemms", "probe": "dlbench.diagnostics.probe:probe_backend",
           "explain": "dlbench.explain.entry:explain"}
EXIT_INPUT_ERROR = 2
EXIT_CRASH = 3


def die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel kill this worker if the runner dies (Linux): a killed sweep must not leave a
    run behind that keeps the CPU busy and skews the next measurements."""
    if not sys.platform.startswith("linux"):
        return
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent_pid is not None and os.getppid() != parent_pid:  # the parent died before prctl
        os._exit(EXIT_CRASH)


def main(argv: list[str]) -> int:
    entry, input_path, output_path = argv
    die_with_parent(int(os.environ["DLBENCH_PARENT_PID"]) if "DLBENCH_PARENT_PID" in os.environ else None)
    events = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def progress(event: str, **fields) -> None:
        events.write(json.dumps({"event": event, **fields}) + "\n")

    def write(payload: dict) -> None:
        tmp = output_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(payload, f)
        os.replace(tmp, output_path)

    try:
        with open(input_path) as f:
            payload = json.load(f)
        write({"output": replicas.run(ENTRIES.get(entry, entry), payload, progress)})
        return 0
    except DlbenchError as e:
        write({"error": {"kind": type(e).__name__, "message": str(e)}})
        return EXIT_INPUT_ERROR
    except Exception as e:
        traceback.print_exc()
        write({"error": {"kind": type(e).__name__, "message": str(e) or repr(e), "traceback": traceback.format_exc()}})
        return EXIT_CRASH


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
