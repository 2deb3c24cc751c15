"""Result records as a pandas DataFrame: one row per record (failed ones too), flattened columns.

Columns are the record's sections joined with dots (``config.backend``,
``timing.step_time_s.median``, ``error.message``...), plus ``path``, ``cell`` (the sweep's cell
key, computed from the config for records not written by a sweep) and ``repeat`` (None then).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from dlbench.errors import DlbenchError
from dlbench.result import Result
from dlbench.execution.sweep import record_tag

LIST_COLUMNS = ("timing.step_times_s", "loss.curve")  # long series: kept in the frame, left out of CSV
DICT_COLUMNS = (("config", "backend_options"), ("backend", "settings"), ("environment", "thread_env"))


def record_paths(path: str | Path) -> list[Path]:
    """``path`` itself if it is a file, else the ``*.json`` files under it (hidden ones skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DlbenchError(f"no such results directory or file: {path}")
    found = sorted(p for p in path.rglob("*.json")
                   if not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not found:
        raise DlbenchError(f"no result records (*.json) in {path}; run `dlbench sweep --output {path}` first")
    return found


def load_records(path: str | Path) -> tuple[list[tuple[Path, Result]], list[tuple[Path, str]]]:
    """(records, skipped files with the reason) under ``path``; raises if none is a record."""
    records, skipped = [], []
    for p in record_paths(path):
        try:
            records.append((p, Result.load(p)))
        except DlbenchError as e:
            skipped.append((p, str(e)))
    if not records:
        raise DlbenchError(f"no valid result records in {path}: " + "; ".join(reason for _, reason in skipped))
    return records, skipped


def frame(records: list[tuple[Path, Result]]) -> pd.DataFrame:
    """Records as rows (see the module's docstring for the columns)."""
    rows, kept = [], []
    for p, r in records:
        cell, repeat = record_tag(r)
        data = {k: v for k, v in r.to_dict().items() if v is not None}  # no `error` column of Nones
        kept.append({f"{s}.{k}": data.get(s, {}).pop(k, None) for s, k in DICT_COLUMNS})
        rows.append({"path": str(p), "cell": cell, "repeat": repeat, **data})
    df = pd.json_normalize(rows, sep=".")
    for col in kept[0]:
        df[col] = pd.Series([k[col] for k in kept], index=df.index, dtype=object)
    df["repeat"] = df["repeat"].astype("Int64")
    return df


def load_results(path: str | Path) -> pd.DataFrame:
    """The records under ``path`` (a directory or one file) as a DataFrame.

    Files that are not result records are skipped and listed in ``df.attrs["skipped"]``.
    """
    records, skipped = load_records(path)
    df = frame(records)
    df.attrs["skipped"] = [(str(p), reason) for p, reason in skipped]
    df.attrs["source"] = str(path)
    return df


def to_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV without the per-step series; other lists and dicts become JSON text."""
    out = df.drop(columns=[c for c in LIST_COLUMNS if c in df.columns])
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (list, dict))).any():
            out[col] = out[col].map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v)
    return write_atomic(path, out.to_csv(index=False))


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write a file so that a reader sees all of it or none of it (the old one until then)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path
