"""Report section: data-parallel scaling (records run with ``--replicas``).

Throughput against replicas per backend and model, with the efficiency against one replica:
weak scaling (the batch per replica fixed) thr(N) / (N · thr(1)); strong scaling (the global batch
fixed) t(1) / (N · t(N)), which is the same ratio of throughputs. Each figure is the median of the
runs of that configuration.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dlbench.analysis.report.cells import label
from dlbench.analysis.report.text import md
from dlbench.analysis.style import backend_color, save_png

KEY = ("config.model", "config.dataset", "config.device", "config.precision")


def _column(df: pd.DataFrame, name: str, default) -> pd.Series:
    return df[name].where(df[name].notna(), default) if name in df else pd.Series(default, index=df.index)


def points(df: pd.DataFrame) -> pd.DataFrame:
    """One row per backend × model × replicas × batches: median throughput over its runs."""
    ok = df[df["status"] == "ok"].copy()
    if ok.empty:
        return pd.DataFrame()
    ok["replicas"] = _column(ok, "distributed.replicas", 1).astype(int)
    ok["per_replica"] = _column(ok, "distributed.per_replica_batch", np.nan).fillna(ok["config.batch_size"]).astype(int)
    ok["global"] = _column(ok, "distributed.global_batch", np.nan).fillna(ok["config.batch_size"]).astype(int)
    ok["label"] = ok.apply(label, axis=1)
    for k in KEY:
        ok[k] = _column(ok, k, "float32" if k == "config.precision" else "—")
    rows = []
    for key, g in ok.groupby([*KEY, "label", "replicas", "per_replica", "global"], sort=True):
        rows.append({**dict(zip([*KEY, "label", "replicas", "per_replica", "global"], key)), "runs": len(g),
                     "throughput": float(np.median(g["timing.throughput_samples_per_s"])),
                     "engine": g.get("distributed.engine", pd.Series([None])).iloc[0]})
    return pd.DataFrame(rows)


def efficiencies(pts: pd.DataFrame) -> pd.DataFrame:
    """Rows with N > 1 replicas that have a 1-replica baseline: weak (same batch per replica) and
    strong (same global batch) scaling efficiency."""
    rows = []
    for _, p in pts[pts["replicas"] > 1].iterrows():
        same = pts[(pts["label"] == p["label"]) & (pts["replicas"] == 1)
                   & np.logical_and.reduce([pts[k] == p[k] for k in KEY])]
        for policy, batch in (("weak", "per_replica"), ("strong", "global")):
            base = same[same["global"] == p[batch]]
            if len(base):
                thr1 = float(base["throughput"].iloc[0])
                rows.append({**p.to_dict(), "policy": policy, "baseline": thr1,
                             "speedup": p["throughput"] / thr1, "efficiency": p["throughput"] / (p["replicas"] * thr1)})
    return pd.DataFrame(rows)


def render(df: pd.DataFrame, out: Path, plots: bool) -> list[str]:
    if "distributed.replicas" not in df or not (df["distributed.replicas"].fillna(1) > 1).any():
        return []
    pts = points(df)
    eff = efficiencies(pts)
    lines = ["## Data-parallel scaling", "",
             "Throughput (median over runs) against replicas. Weak scaling keeps the batch per replica: "
             "efficiency = thr(N) / (N · thr(1)) with thr(1) at that batch; strong scaling keeps the global "
             "batch: efficiency = t(1) / (N · t(N)). On one machine's CPU the replicas share its cores, so "
             "efficiency there measures the engine's overhead, not a speed-up.", ""]
    table = pd.DataFrame([{
        "backend": r["label"], "model": r["config.model"], "device": r["config.device"], "replicas": r["replicas"],
        "batch / replica": r["per_replica"], "global batch": r["global"], "runs": r["runs"],
        "throughput": f"{r['throughput']:,.1f}/s",
        **{f"{policy} efficiency": next((f"{e['efficiency']:.0%} (×{e['speedup']:.2f})" for _, e in eff.iterrows()
                                        if e["label"] == r["label"] and e["config.model"] == r["config.model"]
                                        and e["replicas"] == r["replicas"] and e["global"] == r["global"]
                                        and e["policy"] == policy), "—") for policy in ("weak", "strong")},
    } for _, r in pts.sort_values(["config.model", "label", "replicas", "global"]).iterrows()])
    lines += [md(table), ""]
    engines = sorted({e for e in pts["engine"] if isinstance(e, str)})
    lines += [f"- engine: {e}" for e in engines] + ([""] if engines else [])
    if plots:
        name = f"{out.stem}-scaling.png"
        plot(pts, out.parent / name)
        lines += [f"![Throughput against replicas]({name})", ""]
    return lines


def plot(pts: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    models = sorted(set(pts["config.model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        mine = pts[pts["config.model"] == model]
        for (lab, per), g in mine.groupby(["label", "per_replica"]):
            g = g.sort_values("replicas")
            ax.plot(g["replicas"], g["throughput"], marker="o", color=backend_color(lab), label=f"{lab} ({per}/replica)")
        ax.set_xticks(sorted(set(mine["replicas"])))
        ax.set_xlabel("replicas")
        ax.set_ylabel("throughput (samples/s)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{model}: throughput against replicas")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path)
