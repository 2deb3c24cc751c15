"""Report section: data-parallel scaling (records run with ``--replicas``).

Throughput against replicas per backend and model, with the efficiency against one replica:
weak scaling (the batch per replica fixed) thr(N) / (N · thr(1)); strong scaling (the global batch
fixed) t(1) / (N · t(N)), which is the same ratio of throughputs. Replicas in one process, in a
process each, and over several nodes are kept apart (the record's ``distributed.processes`` and
``distributed.nodes``). Each figure is the median of the runs of that configuration.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dlbench.analysis.report.cells import label
from dlbench.analysis.report.text import md
from dlbench.analysis.style import backend_color, save_png

KEY = ("config.model", "config.dataset", "config.device", "config.precision")
POINT = (*KEY, "label", "replicas", "processes", "nodes", "per_replica", "global")


def _column(df: pd.DataFrame, name: str, default) -> pd.Series:
    return df[name].where(df[name].notna(), default) if name in df else pd.Series(default, index=df.index)


def points(df: pd.DataFrame) -> pd.DataFrame:
    """One row per backend × model × replicas × processes × nodes × batches: median throughput over its runs."""
    ok = df[df["status"] == "ok"].copy()
    if ok.empty:
        return pd.DataFrame()
    ok["replicas"] = _column(ok, "distributed.replicas", 1).astype(int)
    ok["processes"] = _column(ok, "distributed.processes", 1).astype(int)
    ok["nodes"] = _column(ok, "distributed.nodes", 1).astype(int)
    ok["per_replica"] = _column(ok, "distributed.per_replica_batch", np.nan).fillna(ok["config.batch_size"]).astype(int)
    ok["global"] = _column(ok, "distributed.global_batch", np.nan).fillna(ok["config.batch_size"]).astype(int)
    ok["label"] = ok.apply(label, axis=1)
    for k in KEY:
        ok[k] = _column(ok, k, "float32" if k == "config.precision" else "—")
    rows = []
    for key, g in ok.groupby(list(POINT), sort=True):
        rows.append({**dict(zip(POINT, key)), "runs": len(g),
                     "throughput": float(np.median(g["timing.throughput_samples_per_s"])),
                     "engine": g.get("distributed.engine", pd.Series([None])).iloc[0]})
    return pd.DataFrame(rows)


def efficiencies(pts: pd.DataFrame) -> pd.DataFrame:
    """Rows with N > 1 replicas that have a 1-replica baseline: weak (same batch per replica) and
    strong (same global batch) scaling efficiency; ``point`` is the row's index in ``pts``."""
    rows = []
    for i, p in pts[pts["replicas"] > 1].iterrows():
        same = pts[(pts["label"] == p["label"]) & (pts["replicas"] == 1)
                   & np.logical_and.reduce([pts[k] == p[k] for k in KEY])]
        for policy, batch in (("weak", "per_replica"), ("strong", "global")):
            base = same[same["global"] == p[batch]]
            if len(base):
                thr1 = float(base["throughput"].iloc[0])
                rows.append({**p.to_dict(), "point": i, "policy": policy, "baseline": thr1,
                             "speedup": p["throughput"] / thr1, "efficiency": p["throughput"] / (p["replicas"] * thr1)})
    return pd.DataFrame(rows)


def render(df: pd.DataFrame, out: Path, plots: bool) -> list[str]:
    if "distributed.replicas" not in df or not (df["distributed.replicas"].fillna(1) > 1).any():
        return []
    pts = points(df)
    eff = efficiencies(pts)
    found = {(e["point"], e["policy"]): f"{e['efficiency']:.0%} (×{e['speedup']:.2f})" for _, e in eff.iterrows()}
    lines = ["## Data-parallel scaling", "",
             "Throughput (median over runs) against replicas, in one process, in several processes and over "
             "several nodes. Weak scaling keeps the batch per replica: efficiency = thr(N) / (N · thr(1)) with "
             "thr(1) at that batch; strong scaling keeps the global batch: efficiency = t(1) / (N · t(N)). On one "
             "machine's CPU the replicas share its cores, so efficiency there measures the engine's overhead, not a "
             "speed-up.", ""]
    table = pd.DataFrame([{
        "backend": r["label"], "model": r["config.model"], "device": r["config.device"], "replicas": r["replicas"],
        "processes": r["processes"], "nodes": r["nodes"],
        "batch / replica": r["per_replica"], "global batch": r["global"], "runs": r["runs"],
        "throughput": f"{r['throughput']:,.1f}/s",
        **{f"{policy} efficiency": found.get((i, policy), "—") for policy in ("weak", "strong")},
    } for i, r in pts.sort_values(["config.model", "label", "replicas", "processes", "global"]).iterrows()])
    lines += [md(table), ""]
    engines = sorted({e for e in pts["engine"] if isinstance(e, str)})
    lines += [f"- engine: {e}" for e in engines] + ([""] if engines else [])
    if plots:
        name = f"{out.stem}-scaling.png"
        plot(pts, eff, out.parent / name)
        lines += [f"![Throughput and weak-scaling efficiency against replicas, processes and nodes]({name})", ""]
    return lines


def plot(pts: pd.DataFrame, eff: pd.DataFrame, path: Path) -> None:
    """Per model: throughput (top) and weak-scaling efficiency (bottom) against replicas, a line per
    backend, batch and layout (replicas in one process, or a process each), from one replica; a
    point over several nodes says how many."""
    import matplotlib.pyplot as plt

    models = sorted(set(pts["config.model"]))
    fig, axes = plt.subplots(2, len(models), figsize=(4.5 * len(models), 6.4), squeeze=False)
    weak = eff[eff["policy"] == "weak"].set_index("point")["efficiency"] if len(eff) else pd.Series(dtype=float)
    for col, model in enumerate(models):
        mine = pts[pts["config.model"] == model]
        top, bottom = axes[0][col], axes[1][col]
        for (lab, per), g in mine.groupby(["label", "per_replica"]):
            base = g[g["replicas"] == 1]
            for several, spread in g[g["replicas"] > 1].groupby(g["processes"] > 1):
                line = pd.concat([base, spread]).sort_values("replicas")
                efficiency = pd.Series([1.0 if i in base.index else weak.get(i, np.nan) for i in line.index], line.index)
                layout = "processes" if several else "one process"
                style = dict(marker="s" if several else "o", color=backend_color(lab), linestyle="--" if several else "-",
                             label=f"{lab} ({per}/replica, {layout})")
                top.plot(line["replicas"], line["throughput"], **style)
                bottom.plot(line["replicas"], efficiency, **style)
                for _, p in spread[spread["nodes"] > 1].iterrows():
                    top.annotate(f"{p['nodes']} nodes", (p["replicas"], p["throughput"]), fontsize=7,
                                 textcoords="offset points", xytext=(4, -10))
        for ax in (top, bottom):
            ax.set_xticks(sorted(set(mine["replicas"])))
            ax.set_xlabel("replicas")
            ax.legend(fontsize=7)
        top.set_ylabel("throughput (samples/s)")
        top.set_ylim(bottom=0)
        top.set_title(f"{model}: throughput against replicas")
        bottom.set_ylabel("weak-scaling efficiency")
        bottom.set_ylim(0, 1.1)
        bottom.set_title(f"{model}: efficiency against replicas")
    fig.tight_layout()
    save_png(fig, path)
