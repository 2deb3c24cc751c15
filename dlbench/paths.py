"""Where dlbench keeps what it caches: tuning choices, calibration profiles, the noise estimate and
downloaded datasets, all under one folder resolved here."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

VARIABLE = "DLBENCH_CACHE_DIR"
RETIRED = "DLBENCH_CACHE"  # once read by dataset downloads alone


def cache_dir() -> Path:
    """``$DLBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/dlbench`` when that is absolute, else ``~/.cache/dlbench``."""
    warn_retired()
    if os.environ.get(VARIABLE):
        return Path(os.environ[VARIABLE]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # the XDG spec: a relative path is ignored
    return base / "dlbench"


def warn_retired() -> None:
    """One line on stderr, once per process, when the retired variable is set. The command line calls
    it up front too: the caches are used in workers, whose stderr is shown only when they fail."""
    if os.environ.get(RETIRED):
        _warn(os.environ[RETIRED])


@functools.cache
def _warn(value: str) -> None:
    print(f"dlbench: warning: {RETIRED}={value} is no longer read; set {VARIABLE} instead", file=sys.stderr, flush=True)
