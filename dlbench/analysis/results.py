"""Result records as a pandas DataFrame: one row per record (failed ones too), flattened columns.

Columns are the record's sections joined with dots (``config.backend``,
``timing.step_time_s.median``, ``error.message``...), plus ``path``, ``cell`` (the sweep's cell
key, computed from the config for records not written by a sweep), ``configuration`` (the cell key
without the seed: runs that differ only in their seed are replicates of one configuration, as
repeats are), ``repeat`` (None for a record not written by a sweep) and
``run``: the record's :class:`dlbench.analysis.stats.RunSummary` (None for a failed record),
computed once here so that nothing downstream touches the per-step times again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from dlbench.analysis import stats
from dlbench.errors import DlbenchError
from dlbench.files import write_atomic  # noqa: F401 (also this module's API)
from dlbench.execution.sweep import RECORD_ID, cell_key
from dlbench.record.migrations import upgrade
from dlbench.result import Result

LIST_COLUMNS = ("timing.step_times_s", "loss.curve")  # long series: kept in the frame, left out of CSV
# dicts kept whole in one column instead of being flattened (their keys vary between backends)
DICT_COLUMNS = (("config", "backend_options"), ("backend", "settings"), ("backend", "compilation"),
                ("environment", "thread_env"), ("tuning", "chosen"), ("tuning", "pinned"))
_KEEP_WHOLE = {f"{s}.{k}" for s, k in DICT_COLUMNS}


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


def read_record(path: Path) -> dict:
    """The record in ``path`` as parsed JSON, an older one migrated to the current schema; raises
    DlbenchError when it is not one."""
    try:
        data = upgrade(json.loads(Path(path).read_bytes()))
    except (OSError, ValueError) as e:  # RecordError is a ValueError
        raise DlbenchError(f"cannot read result {path}: {e}") from None
    if not isinstance(data.get("config"), dict) or not isinstance(data.get("id"), str):
        raise DlbenchError(f"cannot read result {path}: no config or id")
    return data


def load_records(path: str | Path) -> tuple[list[tuple[Path, Result]], list[tuple[Path, str]]]:
    """(records as :class:`Result`, skipped files with the reason) under ``path``; raises if none is a record."""
    records, skipped = [], []
    for p in record_paths(path):
        try:
            records.append((p, Result.load(p)))
        except DlbenchError as e:
            skipped.append((p, str(e)))
    if not records:
        raise DlbenchError(f"no valid result records in {path}: " + "; ".join(reason for _, reason in skipped))
    return records, skipped


def _flatten(prefix: str, section: dict, row: dict) -> None:
    for k, v in section.items():
        name = f"{prefix}.{k}"
        if isinstance(v, dict) and name not in _KEEP_WHOLE:
            _flatten(name, v, row)
        else:
            row[name] = v  # lists are kept by reference: no copy of the per-step series


def row(path: Path, data: dict) -> dict:
    """One record as a flat frame row, with its cell, repeat and run summary."""
    m = RECORD_ID.match(data["id"])
    cell, repeat = (m["cell"], int(m["repeat"])) if m else (cell_key(data["config"]), None)
    out: dict = {"path": str(path), "cell": cell, "configuration": cell_key({**data["config"], "seed": None}),
                 "repeat": repeat}
    for key, value in data.items():
        if isinstance(value, dict):
            _flatten(key, value, out)
        elif value is not None:  # no `error` column of Nones
            out[key] = value
    for name in _KEEP_WHOLE:
        section = data.get(name.split(".")[0])
        if isinstance(section, dict) and name.split(".")[1] not in section:
            out.setdefault(name, None)
    steps = (data.get("timing") or {}).get("step_times_s")
    out["run"] = stats.summarise(steps) if data.get("status") == "ok" and steps else None
    return out


def frame(rows: list[dict]) -> pd.DataFrame:
    """Rows of :func:`row` as a DataFrame (see the module's docstring for the columns)."""
    df = pd.DataFrame.from_records(rows)
    for name in _KEEP_WHOLE & set(df.columns):
        df[name] = df[name].astype(object).where(df[name].notna(), None)
    df["repeat"] = df["repeat"].astype("Int64")
    return df


def load_results(path: str | Path) -> pd.DataFrame:
    """The records under ``path`` (a directory or one file) as a DataFrame.

    Files that are not result records are skipped and listed in ``df.attrs["skipped"]``.
    """
    rows, skipped = [], []
    for p in record_paths(path):
        try:
            rows.append(row(p, read_record(p)))
        except DlbenchError as e:
            skipped.append((p, str(e)))
    if not rows:
        raise DlbenchError(f"no valid result records in {path}: " + "; ".join(reason for _, reason in skipped))
    df = frame(rows)
    df.attrs["skipped"] = [(str(p), reason) for p, reason in skipped]
    df.attrs["source"] = str(path)
    return df


def to_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV without the per-step series; other lists and dicts become JSON text, the
    run summary its median step time (``run.median_s``)."""
    out = df.drop(columns=[c for c in (*LIST_COLUMNS, "run") if c in df.columns])
    if "run" in df:
        out["run.median_s"] = df["run"].map(lambda r: r.median if r is not None else None)
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (list, dict))).any():
            out[col] = out[col].map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v)
    return write_atomic(path, out.to_csv(index=False))
