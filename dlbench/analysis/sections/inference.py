"""Report section: inference (``--task inference`` records).

First a verdict of its own: per model × data × batch × device × precision, the fastest backend or
deployment path at its tuned settings, the others' ratios with 95 % intervals across runs, and the
framework-defaults (``--no-tune``) answer beside it. Each deployment path is a backend of its own
there (``torch`` serves its eval step, ``torch · AOTInductor`` its export): never one row.

Then per model a latency table, one row per batch size and path (tuned and defaults apart when
both were recorded): compute-only p50/p90/p99, end-to-end p50, throughput, first call, the settings
that ran; over repeats, the median of each run's figure. And a plot of throughput and p50 latency
against batch size, one colour per backend, tuned lines solid with the settings that won marked at
each point, defaults dashed; an exported model's points square.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from dlbench.analysis.report import text
from dlbench.analysis.report.cells import (cell_table, label, present, settings_text, tokens_per_sequence, tuned,
                                          tuning_text, with_group_columns)
from dlbench.analysis.report.verdict import verdict_table
from dlbench.analysis.style import backend_color, save_png

#: settings that, when they differ between records, make separate tables
GROUP = ("config.model", "config.dataset", "config.device", "config.precision")


def deployment(row) -> str:
    """The backend and, for an export, its deployment path: ``torch``, ``torch · AOTInductor``."""
    exported = row.get("inference.path") == "export" and present(row.get("inference.deployment.label"))
    return f"{row['config.backend']} · {row['inference.deployment.label']}" if exported else row["config.backend"]


def won(row) -> str | None:
    """The settings a tuned record ran that differ from the defaults, in words; None when nothing was
    tuned (a backend with no performance setting, or a record at its defaults)."""
    candidates, chosen = row.get("tuning.candidates"), row.get("tuning.chosen")
    if not tuned(row) or not isinstance(candidates, list) or not candidates or not chosen:
        return None
    default = candidates[0]["settings"]
    changed = {k: v for k, v in chosen.items() if default.get(k) != v}
    return settings_text(changed) if changed else "defaults kept"


def _median(runs: pd.DataFrame, column: str) -> float | None:
    values = [v for v in runs[column] if present(v)] if column in runs else []
    return float(np.median(values)) if values else None


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:,.3f}" if seconds < 0.01 else f"{seconds * 1e3:,.1f}"


def _rate(value: float) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.3g}"  # ResNet-50 on two CPU cores serves ~1/s


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.3f}"


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per batch size and label: the median over its runs of each figure (seconds); a
    language model's tokens/s too (``tokens``; None for other models)."""
    rows = []
    for (batch, name), g in runs.groupby(["config.batch_size", "label"], sort=True):
        head = g.iloc[0]
        seq = int(head.get("seq_len") or 0)
        throughput = _median(g, "inference.throughput_samples_per_s")
        rows.append({
            "batch": int(batch), "backend": name, "runs": len(g), "tuned": bool(head["tuned"]),
            "requests": int(g["inference.requests"].sum()),
            **{p: _median(g, f"inference.latency_s.{p}") for p in ("p50", "p90", "p99", "max")},
            "e2e_p50": _median(g, "inference.end_to_end.latency_s.p50"),
            "throughput": throughput, "tokens": throughput * seq if seq and throughput is not None else None,
            "e2e_throughput": _median(g, "inference.end_to_end.throughput_samples_per_s"),
            "first_call": _median(g, "inference.first_call_s"),
            "export": _median(g, "inference.deployment.export_s"),
            "settings": settings_text(head.get("tuning.chosen") or head.get("backend.settings")),
            "tuning": tuning_text(g.to_dict("records")), "won": won(head),
        })
    out = pd.DataFrame(rows)
    out["won"] = out["won"].astype(object).where(out["won"].notna(), None)  # None, not NaN, where nothing won
    return out


def table(summary: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "batch": summary["batch"], "backend": summary["backend"],
        "p50 (ms)": summary["p50"].map(_ms), "p90 (ms)": summary["p90"].map(_ms), "p99 (ms)": summary["p99"].map(_ms),
        "end to end p50 (ms)": summary["e2e_p50"].map(_ms),
        **({"throughput (tokens/s)": summary["tokens"].map(lambda t: f"{t:,.0f}" if present(t) else "—")}
           if summary["tokens"].notna().any() else {}),
        "throughput (samples/s)": summary["throughput"].map(_rate),
        "end to end (samples/s)": summary["e2e_throughput"].map(_rate),
        "first call (s)": summary["first_call"].map(_seconds),
        "export (s)": summary["export"].map(_seconds),
        "settings (how chosen)": [f"{s} ({t})" for s, t in zip(summary["settings"], summary["tuning"])],
        "requests (runs)": [f"{r:,} ({n})" for r, n in zip(summary["requests"], summary["runs"])],
    })
    return text.md(shown)


def plot(summary: pd.DataFrame, title: str, path: Path) -> None:
    """Throughput and p50 latency (compute only) against batch size, one line per label: tuned solid,
    each point marked with the settings that won; defaults dashed, hollow points."""
    import matplotlib.pyplot as plt

    fig, (tput, lat) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    for name, g in summary.groupby("backend", sort=True):
        g = g.sort_values("batch")
        is_tuned = bool(g["tuned"].iloc[0])
        color = backend_color(name)
        style = {"color": color, "marker": "s" if "·" in name else "o", "linewidth": 1.5, "label": name,
                 "linestyle": "-" if is_tuned else "--", "markerfacecolor": color if is_tuned else "white"}
        tput.plot(g["batch"], g["throughput"], **style)
        lat.plot(g["batch"], g["p50"] * 1e3, **style)
        for _, r in g.iterrows():
            if r["won"]:
                lat.annotate(r["won"], (r["batch"], r["p50"] * 1e3), textcoords="offset points", xytext=(6, 4),
                             fontsize=7, color=color)
    batches = sorted(summary["batch"].unique())
    for ax, ylabel in ((tput, "throughput (samples/s, compute only)"), (lat, "p50 latency per request (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("batch size")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    tput.set_title("throughput against batch size")
    lat.set_title("latency against batch size (tuned points: the settings that won)")
    fig.suptitle(title)
    save_png(fig, path)


def verdict(runs: pd.DataFrame) -> list[str]:
    """The inference verdict's lines: :func:`dlbench.analysis.report.verdict.verdict_table` over
    cells whose backend is the deployment path."""
    cells = cell_table(runs)
    if not len(cells):
        return []
    paths = runs.groupby("configuration")["path"].first()
    cells["backend"] = cells["cell"].map(paths)
    table_, notes, warns = verdict_table(cells, per="request")
    return ["### Inference verdict", "",
            "Per model, data, batch size, device and precision: the fastest backend or deployment path and how many "
            "times longer each other one's request takes (compute only: median latency over runs; 95 % interval "
            "across runs, n.s.: not significant). Tuned: the settings timed fastest for serving (the settings that "
            "won in brackets); defaults: `--no-tune` records.", "",
            *[f"{n}  " for n in notes], *([""] if notes else []), text.md(table_), "", *text.warnings(warns)]


def _slug(*parts: object) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", "-".join(str(p) for p in parts)).strip("-")


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    """The successful inference records, each with its ``path`` (:func:`deployment`), whether it ran
    ``tuned``, and its row ``label``: the path, the options set by hand, and (tuned) or (defaults)
    when records of both kinds are here."""
    if "inference.requests" not in df.columns:
        return df.iloc[:0]
    runs = df[(df["status"] == "ok") & df["inference.requests"].notna()].copy()
    rows = runs.to_dict("records")
    runs["path"] = [deployment(r) for r in rows]
    runs["tuned"] = [tuned(r) for r in rows]
    both = runs["tuned"].any() and (~runs["tuned"]).any()
    runs["label"] = [f"{p}{label(r).removeprefix(r['config.backend'])}" + (
        (" (tuned)" if t else " (defaults)") if both else "") for p, r, t in zip(runs["path"], rows, runs["tuned"])]
    runs["seq_len"] = [tokens_per_sequence([r]) for r in rows]  # a language model's; 0 for other models
    return with_group_columns(runs, GROUP)


def render(df: pd.DataFrame, out: Path, plots: bool) -> list[str]:
    runs = labelled(df)
    if runs.empty:
        return []
    lines = ["## Inference", "",
             "The model with its canonical weights served request by request in inference mode, after warm-up "
             "calls: at least `--min-requests` requests and `--min-duration` seconds. Each backend serves through "
             "its eval step (torch `inference_mode`, TensorFlow `tf.function`, JAX `jit`, ONNX Runtime's session) "
             "or, with `--serve export`, through the model exported as the framework deploys it (`backend · "
             "path`: torch AOTInductor, a TensorFlow SavedModel, `jax.export`, an ONNX file), at the performance "
             "settings timed fastest for serving (`--no-tune`: the defaults). *Compute only*: the input "
             "already on the device, the call and a device sync timed. *End to end*: from a numpy array, "
             "`to_device` + call + `to_numpy`. The two alternate request by request. Throughput: samples served "
             "over the time spent serving them. First call: the first warm-up call (compilation included); "
             "export: exporting, compiling, writing and loading the model. Over repeats, each figure is the "
             "median of the runs'.", "", *verdict(runs)]
    for key, group in runs.groupby([*GROUP, "seq_len"], sort=True):
        model, dataset, device, precision, seq = key
        summary = summarise(group)
        title = f"{model} inference on {device}" + (f", sequences of {seq} tokens" if seq else "")
        lines += [f"### {title}", "", f"Data: {dataset}; precision {precision}. Latencies in milliseconds"
                  + ("; tokens/s: samples/s × tokens per sequence." if seq else "."), "", table(summary), ""]
        if plots:
            sequences = ("seq", seq) if seq else ()
            file = f"{out.stem}-inference-{_slug(model, dataset, device, precision, *sequences)}.png"
            plot(summary, f"{model} ({dataset}, {device}, {precision}): compute only, one line per backend and path",
                 out.parent / file)
            lines += [f"![{title}: throughput and latency against batch size]({file})", ""]
    return lines
