"""Report section: inference (``--task inference`` records), per model.

A latency table per model with one row per batch size and backend, backends side by side:
compute-only p50/p90/p99, end-to-end p50, throughput, first call (compilation); over repeats, the
median of each run's figure. A plot per model of throughput and p50 latency against batch size,
one colour per backend.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from dlbench.analysis.report.cells import label, with_group_columns
from dlbench.analysis.style import backend_color, save_png

#: settings that, when they differ between records, make separate tables
GROUP = ("config.model", "config.dataset", "config.device", "config.precision")


def _median(runs: pd.DataFrame, column: str) -> float | None:
    values = [v for v in runs[column] if v is not None and not (isinstance(v, float) and np.isnan(v))] \
        if column in runs else []
    return float(np.median(values)) if values else None


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:,.3f}" if seconds < 0.01 else f"{seconds * 1e3:,.1f}"


def _rate(value: float) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.3g}"  # ResNet-50 on two CPU cores serves ~1/s


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per batch size and backend label: the median over its runs of each figure (seconds)."""
    rows = []
    for (batch, backend), g in runs.groupby(["config.batch_size", "label"], sort=True):
        rows.append({
            "batch": int(batch), "backend": backend, "runs": len(g),
            "requests": int(g["inference.requests"].sum()),
            **{p: _median(g, f"inference.latency_s.{p}") for p in ("p50", "p90", "p99", "max")},
            "e2e_p50": _median(g, "inference.end_to_end.latency_s.p50"),
            "throughput": _median(g, "inference.throughput_samples_per_s"),
            "e2e_throughput": _median(g, "inference.end_to_end.throughput_samples_per_s"),
            "first_call": _median(g, "inference.first_call_s"),
        })
    return pd.DataFrame(rows)


def table(summary: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "batch": summary["batch"], "backend": summary["backend"],
        "p50 (ms)": summary["p50"].map(_ms), "p90 (ms)": summary["p90"].map(_ms), "p99 (ms)": summary["p99"].map(_ms),
        "end to end p50 (ms)": summary["e2e_p50"].map(_ms),
        "throughput (samples/s)": summary["throughput"].map(_rate),
        "end to end (samples/s)": summary["e2e_throughput"].map(_rate),
        "first call (s)": summary["first_call"].map(lambda v: f"{v:,.3f}"),
        "requests (runs)": [f"{r:,} ({n})" for r, n in zip(summary["requests"], summary["runs"])],
    })
    return shown.to_markdown(index=False, disable_numparse=True)


def plot(summary: pd.DataFrame, title: str, path: Path) -> None:
    """Throughput and p50 latency (compute only) against batch size, one line per backend."""
    import matplotlib.pyplot as plt

    fig, (tput, lat) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    for backend, g in summary.groupby("backend", sort=True):
        g = g.sort_values("batch")
        style = {"color": backend_color(backend), "marker": "o", "linewidth": 1.5, "label": backend}
        tput.plot(g["batch"], g["throughput"], **style)
        lat.plot(g["batch"], g["p50"] * 1e3, **style)
    batches = sorted(summary["batch"].unique())
    for ax, ylabel in ((tput, "throughput (samples/s, compute only)"), (lat, "p50 latency per request (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("batch size")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    tput.set_title("throughput against batch size")
    lat.set_title("latency against batch size")
    fig.suptitle(title)
    save_png(fig, path)


def _slug(*parts: object) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", "-".join(str(p) for p in parts)).strip("-")


def render(df: pd.DataFrame, out: Path, plots: bool) -> list[str]:
    if "inference.requests" not in df.columns:
        return []
    runs = df[(df["status"] == "ok") & df["inference.requests"].notna()].copy()
    if runs.empty:
        return []
    runs["label"] = [label(r) for _, r in runs.iterrows()]
    runs = with_group_columns(runs, GROUP)
    lines = ["## Inference", "",
             "The model with its canonical weights served request by request in inference mode (torch "
             "`inference_mode`, TensorFlow `tf.function`, JAX `jit`, ONNX Runtime's session), after warm-up "
             "calls: at least `--min-requests` requests and `--min-duration` seconds. *Compute only*: the input "
             "already on the device, the call and a device sync timed. *End to end*: from a numpy array, "
             "`to_device` + call + `to_numpy`. The two alternate request by request. Throughput: samples served "
             "over the time spent serving them. First call: the first warm-up call (compilation included). "
             "Over repeats, each figure is the median of the runs'.", ""]
    for key, group in runs.groupby(list(GROUP), sort=True):
        model, dataset, device, precision = key
        summary = summarise(group)
        title = f"{model} inference on {device}"
        lines += [f"### {title}", "", f"Data: {dataset}; precision {precision}. Latencies in milliseconds.", "",
                  table(summary), ""]
        if plots:
            file = f"{out.stem}-inference-{_slug(model, dataset, device, precision)}.png"
            plot(summary, f"{model} ({dataset}, {device}, {precision}): compute only, one line per backend",
                 out.parent / file)
            lines += [f"![{title}: throughput and latency against batch size]({file})", ""]
    return lines
