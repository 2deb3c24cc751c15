"""The machine profile: measured GEMM ceilings, one JSON file per machine fingerprint (which holds the
accelerator on a GPU) under the cache folder (:func:`dlbench.paths.cache_dir`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from dlbench import environment, paths

SCHEMA = "dlbench.calibration/1"


def profile_path(fingerprint: str | None = None) -> Path:
    return paths.cache_dir() / "calibration" / f"{fingerprint or environment.machine_fingerprint()}.json"


def entry_key(backend: str, device: str, precision: str) -> str:
    return f"{backend}/{device}/{precision}"


def load_profile(fingerprint: str | None = None) -> dict | None:
    """This machine's profile, or None when ``dlbench calibrate`` has not run here (or it is unreadable)."""
    path = profile_path(fingerprint)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if data.get("schema") == SCHEMA else None


def save_entries(entries: dict[str, dict], accelerator: dict | None = None) -> Path:
    """Merge ``entries`` (keyed by :func:`entry_key`) into the profile of this machine with
    ``accelerator`` (:meth:`dlbench.backend.Backend.accelerator`), atomically."""
    fingerprint = environment.machine_fingerprint(accelerator)
    profile = load_profile(fingerprint) or {"schema": SCHEMA, "fingerprint": fingerprint,
                                            "cpu": environment.cpu_model(), "accelerator": accelerator,
                                            "entries": {}}
    profile["entries"].update(entries)
    profile["updated"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    path = profile_path(fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(profile, f, indent=2)
    os.replace(tmp, path)
    return path
