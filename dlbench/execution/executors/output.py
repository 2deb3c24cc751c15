"""A sweep's output directory: held by one sweep at a time, and written one record at a time.

Every executor records a run the same way: the run in its isolated worker (:func:`run`), then
:func:`save`: the record gets the sweep's id (``<uid>-<cell>-r<repeat>``), is written atomically,
and only then are the failed records it replaces removed, so a kill at any point loses at most the
run in flight.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from dlbench import environment
from dlbench.config import RunConfig
from dlbench.errors import DlbenchError
from dlbench.execution import runner
from dlbench.result import Result

LOCK_NAME = ".dlbench-sweep.lock"
STALE_TMP_S = 60.0


@contextlib.contextmanager
def locked(output: Path) -> Iterator[None]:
    """Hold ``output`` for this sweep alone, and clear temp files a killed writer left behind."""
    output.mkdir(parents=True, exist_ok=True)
    with open(output / LOCK_NAME, "a") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no lock
            pass
        except BlockingIOError:
            raise DlbenchError(f"another sweep is writing to {output}; wait for it or choose another --output") from None
        now = time.time()
        for tmp in output.glob(".tmp-*.json"):
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > STALE_TMP_S:  # younger ones may be a `dlbench run` writing
                    tmp.unlink()
        yield


def run(config: RunConfig, on_event: Callable[[dict], None] | None = None) -> Result:
    """The run's record, a failed one if even the runner raised (it reports failures as results)."""
    try:
        return runner.run(config, on_event)
    except Exception as e:  # a last resort
        return Result.failed(config.to_dict(), type(e).__name__, str(e) or repr(e), environment=environment.machine())


def save(result: Result, output: Path, cell: str, repeat: int, replaces: list[Path] = ()) -> Path:
    """Write ``result`` as (cell, repeat)'s record, then drop the failed records it replaces."""
    result.id = f"{result.id}-{cell}-r{repeat}"
    path = result.save(output)
    for old in map(Path, replaces):
        if old != path:
            old.unlink(missing_ok=True)
    return path


def records(output: Path, cell: str, repeat: int) -> list[tuple[Path, Result]]:
    """The readable records of (cell, repeat) in ``output``, oldest first."""
    found = []
    for path in sorted(Path(output).glob(f"*-{cell}-r{repeat}.json")):
        try:
            found.append((path, Result.load(path)))
        except DlbenchError:
            continue
    return sorted(found, key=lambda pair: pair[1].created)
