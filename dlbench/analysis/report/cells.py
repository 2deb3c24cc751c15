"""Per-configuration aggregation: one row per configuration and all its runs (repeats and seeds alike)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from dlbench.analysis import stats
from dlbench.analysis.report.text import target_text

PRECISION_DEFAULT = "float32"  # records from before the precision setting ran in float32


def label(row: Mapping) -> str:
    """A cell's backend and the options it set explicitly, e.g. ``torch compile=True``."""
    opts = row.get("config.backend_options") or {}
    return " ".join([row["config.backend"], *(f"{k}={v}" for k, v in sorted(opts.items()))])


def present(v: object) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v))


Rows = list[dict]  # the records of one cell, as plain dicts (pandas per-group access is slow)


def values(rows: Rows, name: str) -> list:
    """The values of a column that are present (failed records and other schemas leave gaps)."""
    return [v for r in rows if present(v := r.get(name))]


def first(rows: Rows, name: str, default=None):
    for r in rows:
        if present(v := r.get(name)):
            return v
    return default


def tuned(row: Mapping) -> bool:
    """Whether a record ran at tuned settings: ``config.tune`` true and tuning not switched off.
    Records from before tuning have neither and count as untuned framework defaults."""
    mode, tune = row.get("tuning.mode"), row.get("config.tune")
    if present(mode) and mode != "pinned":
        return mode in ("tuned", "cached")  # not "off", nor "skipped" (too short to repay tuning)
    if mode == "pinned":  # nothing left to tune (JAX): at its best, unless --no-tune asked for the plain defaults
        return tune is not False
    return bool(tune) if present(tune) else False


def tuning_text(rows: Rows) -> str:
    """How the cell's settings were chosen: tuned / cached / pinned / framework defaults."""
    modes = values(rows, "tuning.mode")
    if modes:
        return " / ".join(dict.fromkeys("framework defaults" if m == "off" else
                                        "framework defaults (tuning skipped)" if m == "skipped" else str(m) for m in modes))
    if tuned(rows[0]):
        return "tuned"
    return "untuned, options set by hand" if rows[0].get("config.backend_options") else "framework defaults"


def settings_text(settings: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (settings or {}).items()) or "none"


_USED_PREFIXES = ("config.", "tuning.", "backend.settings", "environment.precision", "timing.", "flops.", "memory.",
                  "model.params", "accuracy.", "dataset.real", "loss.curve", "run", "configuration", "target.metric",
                  "target.target")


def _used(column: str) -> bool:
    return column.startswith(_USED_PREFIXES) and column != "timing.step_times_s"


def _cells(df: pd.DataFrame) -> dict[str, Rows]:
    """The successful records with a run summary, as dicts grouped by configuration (in record
    order): seeds are pooled, since each run is an independent replicate of the configuration."""
    if "run" not in df:
        return {}
    ok = df.loc[(df["status"] == "ok") & df["run"].notna(), [c for c in df.columns if _used(c)]]
    groups: dict[str, Rows] = {}
    for record in ok.to_dict("records"):
        groups.setdefault(record["configuration"], []).append(record)
    return groups


def _utilisation(g: Rows, achieved: float | None) -> dict:
    """The cell's achieved FLOP/s as a share of the ceiling its records used (a record's own share
    follows that record's median, not the cell's)."""
    u = {k: first(g, f"flops.utilisation.{k}") for k in ("share", "ceiling_flops_per_s", "ceiling_source")}
    if achieved and u["ceiling_flops_per_s"]:
        u["share"] = achieved / u["ceiling_flops_per_s"]
    return u


def _memory(g: Rows) -> dict:
    """Host memory of the run that grew most while training: one run's training growth, baseline
    and peak, which add up (maxima taken separately may come from three runs and add up to more
    than any of them reached). Older records measured the peak only: its maximum."""
    grew = [r for r in g if present(r.get("memory.training_bytes"))]
    if not grew:
        peaks = values(g, "memory.peak_rss_bytes") or values(g, "memory.host_peak_rss_bytes")
        return {"training_bytes": None, "baseline_bytes": None, "peak_bytes": max(peaks, default=None)}
    run = max(grew, key=lambda r: r["memory.training_bytes"])
    return {"training_bytes": run["memory.training_bytes"], "baseline_bytes": run.get("memory.baseline_rss_bytes"),
            "peak_bytes": first([run], "memory.peak_rss_bytes", run.get("memory.host_peak_rss_bytes"))}


def _loss_curve(g: Rows) -> tuple[list, float | None] | None:
    """(training-loss curve, epochs it spans) of the configuration's lowest-seed run: every backend
    then shows the same seed, whose batches and initial weights they share."""
    runs = [r for r in g if isinstance(r.get("loss.curve"), list) and r["loss.curve"]]
    if not runs:
        return None
    run = min(runs, key=lambda r: r.get("config.seed") or 0)
    return run["loss.curve"], run.get("timing.epochs_run")


def tokens_per_sequence(g: Rows) -> int:
    """A sequence model's tokens per example, as its records measured them (tokens/s over
    samples/s, which a language model's record has both of); 0 for other models."""
    for r in g:
        tokens, samples = r.get("timing.throughput_tokens_per_s"), r.get("timing.throughput_samples_per_s")
        if present(tokens) and present(samples) and samples:
            return int(round(tokens / samples))
    return 0


def _language_model(g: Rows, seq_len: int) -> dict:
    """A language model's quality: mean validation loss over the runs, the perplexity of that loss,
    bits per token. None for other models (and for a language model without a validation split)."""
    loss = values(g, "accuracy.val_loss")
    mean = float(np.mean(loss)) if loss else None
    return {"language_model": bool(seq_len) or mean is not None, "val_loss": mean,
            "perplexity": math.exp(mean) if mean is not None else None,
            "bits_per_token": mean / math.log(2) if mean is not None else None}


def cell_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of the successful records: identity, run-level statistics and aggregates."""
    rows = []
    for cell, g in _cells(df).items():
        head = g[0]
        st = stats.cell_stats([r["run"] for r in g])
        bs = int(head["config.batch_size"])
        seq_len = tokens_per_sequence(g)
        analytic, framework = first(g, "flops.per_train_step_analytic"), first(g, "flops.per_train_step_framework")
        top1, top5 = values(g, "accuracy.top1"), values(g, "accuracy.top5")
        flops = analytic if analytic is not None else framework
        achieved = flops / st.median if flops else None
        precision = first(g, "config.precision", PRECISION_DEFAULT)
        rows.append({
            "cell": cell, "model": head["config.model"], "backend": head["config.backend"], "label": label(head),
            "dataset": head["config.dataset"], "batch_size": bs, "device": head["config.device"],
            "precision": precision, "precision_used": " / ".join(dict.fromkeys(map(str, values(g, "environment.precision"))))
            or precision,
            "tuned": tuned(head), "tuning": tuning_text(g), "explicit_options": bool(head.get("config.backend_options")),
            "settings": first(g, "tuning.chosen") or head.get("backend.settings") or {},
            "runs": st.runs, "stats": st,
            "throughput": bs / st.median,
            "throughput_low": bs / st.ci.high if st.ci else None, "throughput_high": bs / st.ci.low if st.ci else None,
            "seq_len": seq_len, "tokens_throughput": bs * seq_len / st.median if seq_len else None,
            "first_step": float(np.median(f)) if (f := values(g, "timing.time_to_first_step_s")) else None,
            "timing_mode": first(g, "timing.mode", "step"), "window": first(g, "timing.window"),
            "flops_analytic": analytic, "flops_framework": framework,
            "framework_note": first(g, "flops.framework_note"),
            "achieved": achieved,
            "utilisation": _utilisation(g, achieved),
            "utilisation_note": first(g, "flops.utilisation_note"),
            **_memory(g),
            "device_mem": max(values(g, "memory.device_peak_bytes"), default=None),
            "params": (head.get("model.params_trainable"), head.get("model.params_non_trainable")),
            "top1": float(np.mean(top1)) if top1 else None, "top5": float(np.mean(top5)) if top5 else None,
            "accuracy_reason": head.get("accuracy.reason"),
            **_language_model(g, seq_len),
            "real_data": bool(first(g, "dataset.real", head["config.dataset"] != "synthetic")),
            "loss_curve": _loss_curve(g),
            # a time-to-target run's target (``val loss ≤ 2.6``), which tells its row from the others'
            "target": target_text(first(g, "target.metric", "top1"), head["target.target"])
            if present(head.get("target.target")) else None,
        })
    cells = pd.DataFrame(rows, dtype=object)  # object: None stays None, not NaN
    if len(cells):
        both = cells["tuned"].any() and (~cells["tuned"].astype(bool)).any()
        cells["variant"] = [lab + (" (tuned)" if t else " (untuned)" if hand else " (defaults)") if both else lab
                            for lab, t, hand in zip(cells["label"], cells["tuned"], cells["explicit_options"])]
    return cells


#: what a verdict row compares at; ``seq_len`` is a language model's tokens per sequence (0 for other
#: models): sequences of different lengths are different work
GROUP = ["model", "dataset", "batch_size", "seq_len", "device", "precision"]


def batch_text(batch: int, seq_len: int) -> str:
    """A batch as the verdict and the plots name it: ``16``, or ``16 × 256 tokens`` for a language model."""
    return f"{batch} × {seq_len} tokens" if seq_len else str(batch)


def with_group_columns(runs: pd.DataFrame, columns) -> pd.DataFrame:
    """``runs`` with every grouping column present and filled ("default" where a record lacks it),
    so records from before a setting existed group with those at its default."""
    for col in columns:
        runs[col] = runs[col].astype(object).where(runs[col].notna(), "default") if col in runs else "default"
    return runs

