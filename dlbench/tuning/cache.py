"""Tuning choices cached on disk, one JSON file per key, so a sweep pays for a choice once.

The key holds everything the fastest setting depends on: the machine
(:func:`dlbench.environment.machine_fingerprint`) and its accelerator, backend and framework versions, model and its
input shape, batch, device, dtype and precision, optimiser, the pinned options and the candidates,
and what was timed (the train step, the eval step served, or an exported model served).
A file that cannot be read or does not match its key is ignored with a warning, never fatal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from dlbench import paths
from dlbench.files import write_atomic
from dlbench.tuning.grid import Grid

#: 2: choices kept only beyond the noise, candidates that raised never chosen (1 chose the luckiest)
FORMAT = "dlbench.tuning/2"


def framework_versions(modules: tuple[str, ...]) -> dict[str, str | None]:
    """The ``__version__`` of each module a backend requires (imported already in the worker)."""
    out = {}
    for name in modules:
        module = sys.modules.get(name) or importlib.import_module(name)
        version = getattr(module, "__version__", None)
        out[name] = None if version is None else str(version)
    return out


def make_key(*, fingerprint: str, backend: str, versions: dict, model: str, input_shape, num_classes: int,
             batch_size: int, device: str, dtype: str, precision: str, optimizer: str, replicas: int,
             grid: Grid, accelerator: dict | None = None, workload: str = "train") -> dict[str, Any]:
    """The cache key as a JSON-ready dict (lists, not tuples, so it compares equal after a round trip).
    A CPU run's key has no ``accelerator`` entry, and a training run's no ``workload``, so each is the
    key it was before accelerators (and inference tuning) counted."""
    key = {"fingerprint": fingerprint, "backend": backend, "versions": versions, "model": model,
           "input_shape": list(input_shape), "num_classes": num_classes, "batch_size": batch_size,
           "device": device, "dtype": dtype, "precision": precision, "optimizer": optimizer,
           "replicas": replicas, "pinned": dict(grid.pinned), "candidates": grid.free}
    if accelerator is not None:
        key["accelerator"] = accelerator
    if workload != "train":
        key["workload"] = workload
    return json.loads(json.dumps(key, sort_keys=True))


def path_for(key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return paths.cache_dir() / "tuning" / f"{key['backend']}-{key['model']}-{digest}.json"


def load(key: dict, grid: Grid) -> tuple[dict | None, str | None]:
    """(the cached entry, None) on a hit; (None, a warning) for a file that is unreadable or stale;
    (None, None) when there is none."""
    path = path_for(key)
    if not path.exists():
        return None, None
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return None, f"ignoring unreadable tuning cache file {path}: {e}"
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
        return None, f"ignoring stale tuning cache file {path}: it was written for another key or format"
    if not grid.accepts(entry.get("chosen")) or not isinstance(entry.get("candidates"), list):
        return None, f"ignoring stale tuning cache file {path}: its choice is not among this backend's candidates"
    return entry, None


def store(key: dict, chosen: dict, candidates: list[dict], decision: str | None = None) -> Path:
    """Write atomically: a reader sees the whole entry or none of it."""
    entry = {"format": FORMAT, "key": key, "chosen": chosen, "candidates": candidates, "decision": decision,
             "tuned": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    return write_atomic(path_for(key), json.dumps(entry, indent=2))


def compile_history(backend: str) -> list[float]:
    """First-step times of the compiling candidates that tuning timed on this machine before
    (every cached choice of ``backend``), for :mod:`dlbench.tuning.budget`'s estimate."""
    times = []
    for path in (paths.cache_dir() / "tuning").glob(f"{backend}-*.json"):
        try:
            entry = json.loads(path.read_text())
            times += [c["first_step_s"] for c in entry["candidates"] if c.get("compiles") and c.get("first_step_s")]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return times
