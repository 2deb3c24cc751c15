"""The report's plots: speed relative to the fastest backend (one linear panel per comparison),
learning curves of real-data runs per epoch, memory. One colour per backend throughout."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from dlbench.analysis import stats
from dlbench.analysis.report.cells import GROUP, batch_text
from dlbench.analysis.style import backend_color, save_png

COLS = 4  # panels per row
MARKERS = "os^Dv"  # curves that coincide (same seed, same data order) stay visible


MIN_WIDTH = 9.0  # inches: a figure of one or two panels still has room for its titles


def _wrap(title: str, width_in: float, fontsize: float) -> str:
    """``title`` with each line wrapped to ``width_in`` inches of text at ``fontsize`` points."""
    chars = max(20, int(width_in * 72 / (0.55 * fontsize)))  # an average character: ~0.55 em wide
    return "\n".join(textwrap.fill(line, chars) for line in title.split("\n"))


def _panels(n: int, height: float, width: float = 4.5, title_lines: int = 3, suptitle: str = "",
            fontsize: float = 10):
    """A grid of ``n`` panels, each ``height`` inches tall (axes only), with fixed room in inches for
    the panel titles, x labels and the figure title ``suptitle``, wrapped to the figure's width (a
    layout engine costs seconds on a report with dozens of panels)."""
    import matplotlib.pyplot as plt

    cols = min(COLS, n)
    rows = -(-n // cols)
    width = max(width, MIN_WIDTH / cols)
    suptitle = _wrap(suptitle, width * cols - 0.2, fontsize)
    lines = suptitle.count("\n") + 1
    gap, top, bottom = 0.55 + 0.17 * title_lines, 0.35 + 0.2 * lines + 0.17 * title_lines, 0.55  # inches
    total = rows * height + (rows - 1) * gap + top + bottom
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, total), squeeze=False)
    fig.subplots_adjust(left=min(0.45, 1.7 / (width * cols)), right=0.98, top=1 - top / total, bottom=bottom / total,
                        wspace=1.9 / (width - 1.9), hspace=gap / height)
    fig.suptitle(suptitle, fontsize=fontsize, y=1 - 0.1 / total, va="top")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _title(key: tuple, varying: set[str]) -> str:
    model, dataset, batch, seq_len, device, precision = key
    extra = "".join(f" · {v}" for name, v in (("device", device), ("precision", precision)) if name in varying)
    return f"{model}\n{dataset}, batch {batch_text(batch, seq_len)}{extra}"


def _varying(cells: pd.DataFrame) -> set[str]:
    return {name for name in ("device", "precision") if cells[name].nunique() > 1}


def _ms(seconds: float) -> str:
    value = seconds * 1e3
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.3g} ms"


def representatives(g: pd.DataFrame) -> pd.DataFrame:
    """One cell per variant label (cells that differ only in, say, seed or step count share a
    label): the one with the most runs, then the most steps."""
    order = g.assign(_runs=g["stats"].map(lambda s: s.runs), _steps=g["stats"].map(lambda s: s.steps))
    order = order.sort_values(["_runs", "_steps"], ascending=False, kind="stable")
    return order.drop_duplicates("variant").drop(columns=["_runs", "_steps"])


def plot_speed(cells: pd.DataFrame, path: Path) -> bool:
    """Per comparison, each backend's median step time ÷ the fastest's, with its 95 % interval
    across runs; bars without an interval (too few runs) are hatched."""
    groups = [(key, representatives(g)) for key, g in cells.groupby(GROUP, sort=True)]
    groups = [(key, g) for key, g in groups if len(g) > 1]
    if not groups:
        return False
    tallest = max(len(g) for _, g in groups)
    fig, axes = _panels(len(groups), 0.4 * tallest + 0.5, fontsize=11, suptitle=(
        "Training speed relative to the fastest backend of each comparison\n"
        "median step time over runs; error bar: 95 % interval across runs; hatched: too few runs "
        f"(< {stats.MIN_RUNS}) for an interval; comparisons with one backend are left out"))
    varying = _varying(cells)
    for ax, (key, g) in zip(axes, groups):
        g = g.assign(_m=g["stats"].map(lambda s: s.median)).sort_values("_m", ascending=False)
        fastest = g.iloc[-1]["stats"]
        ratios = [stats.ratio(list(s.run_medians), list(fastest.run_medians)) for s in g["stats"]]
        ys = np.arange(len(g))
        for y, (_, c), r in zip(ys, g.iterrows(), ratios):
            color = backend_color(c["backend"])
            has_ci = r.ci is not None and c["cell"] != g.iloc[-1]["cell"]
            ax.barh(y, r.estimate, color=color, alpha=0.9 if r.ci is not None else 0.45,
                    hatch=None if r.ci is not None else "//", edgecolor="white" if r.ci is not None else color)
            if has_ci:
                ax.errorbar(r.estimate, y, xerr=[[r.estimate - r.ci.low], [r.ci.high - r.estimate]],
                            color="black", capsize=3, lw=1)
            note = "fastest" if c["cell"] == g.iloc[-1]["cell"] else f"{r.estimate:.2f}×"
            if r.ci is None and c["runs"] < stats.MIN_RUNS:
                note += f" ({c['runs']} run{'s' * (c['runs'] != 1)})"
            elif has_ci and not r.significant:
                note += " n.s."
            right = r.ci.high if has_ci else r.estimate
            ax.text(right, y, f"  {note}", va="center", fontsize=8)
        ax.set_yticks(ys, list(g["variant"]), fontsize=8)
        ax.axvline(1.0, color="grey", ls="--", lw=0.8)
        top = max((r.ci.high if r.ci else r.estimate) for r in ratios)
        ax.set_xlim(0, top * 1.6)
        ax.set_title(_title(key, varying) + f"\nfastest: {_ms(fastest.median)} per step", fontsize=9)
        ax.set_xlabel("step time ÷ fastest (lower is faster)", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
    save_png(fig, path)
    return True


def epoch_curve(curve: list[float], epochs: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, smoothed loss, epoch numbers, mean loss per epoch); x is in epochs when ``epochs`` is
    known, else in steps (then no per-epoch means)."""
    y = np.asarray(curve, dtype=np.float64)
    per_epoch = y.size / epochs if epochs else None
    # a twentieth of an epoch, or of the run; never more than a tenth of the run (a run shorter than
    # an epoch would otherwise average everything into one flat line)
    window = max(1, min(int(per_epoch / 20) if per_epoch else y.size // 50, y.size // 10))
    smooth = np.convolve(y, np.ones(window) / window, mode="valid")
    steps = np.arange(smooth.size) + window
    if not per_epoch or epochs < 1:
        return steps, smooth, np.array([]), np.array([])
    whole = int(round(epochs))
    index = np.minimum((np.arange(y.size) / per_epoch).astype(int), whole - 1)
    means = np.bincount(index, weights=y, minlength=whole) / np.maximum(np.bincount(index, minlength=whole), 1)
    return steps / per_epoch, smooth, np.arange(whole) + 0.5, means


def plot_learning(cells: pd.DataFrame, path: Path) -> bool:
    """Training loss per epoch (markers) and smoothed (line) for the real-data cells; False if none."""
    real = cells[cells["real_data"].astype(bool) & cells["loss_curve"].map(bool)]
    if not len(real):
        return False
    groups = list(real.groupby(["model", "dataset", "batch_size", "seq_len"], sort=True))
    fig, axes = _panels(len(groups), 2.3, title_lines=2, suptitle=(
        "Learning curves on real data: mean training loss of each epoch (markers, at the epoch's middle) and its "
        "moving average (faint line; runs shorter than an epoch: against steps)\nsynthetic-data runs are left "
        "out: their labels are random, so their loss is noise"))
    for ax, ((model, dataset, batch, seq_len), g) in zip(axes, groups):
        in_epochs, all_means = True, []
        for i, (_, c) in enumerate(representatives(g).iterrows()):
            curve, epochs_run = c["loss_curve"]
            x, smooth, epochs, means = epoch_curve(curve, epochs_run)
            color = backend_color(c["backend"])
            if len(epochs):
                ax.plot(x, smooth, color=color, alpha=0.35, lw=1)
                ax.plot(epochs, means, MARKERS[i % len(MARKERS)] + "-", color=color, label=c["variant"],
                        ms=7 - 1.5 * (i % 3), mfc="none" if i else color)
                all_means.append(means)
            else:  # shorter than an epoch: the moving average is all there is, drawn in full, each with its
                in_epochs = False  # own dash and narrower than the one before, so curves that coincide stay visible
                ax.plot(x, smooth, color=color, alpha=0.9, lw=max(0.8, 2.6 - 0.6 * i), label=c["variant"],
                        linestyle=("-", "--", ":", "-.")[i % 4])
                all_means.append(smooth)
        overlap = len(all_means) > 1 and all(len(m) == len(all_means[0]) and len(m) for m in all_means) and \
            np.ptp(np.array(all_means), axis=0).max() < 0.02 * np.abs(all_means[0]).max()
        ax.set_title(f"{model} on {dataset}, batch {batch_text(batch, seq_len)}"
                     + ("\nthe backends' curves overlap (within 2 %)" if overlap else ""), fontsize=9)
        ax.set_xlabel("epoch" if in_epochs else "step", fontsize=8)
        ax.set_ylabel("training loss" + (" (nats/token)" if seq_len else ""), fontsize=8)
        ax.legend(fontsize=7)
    save_png(fig, path)
    return True


def plot_memory(cells: pd.DataFrame, path: Path) -> None:
    """Per comparison, each backend's host memory: baseline plus training growth where recorded,
    else the peak alone."""
    groups = [(key, representatives(g)) for key, g in cells.groupby(GROUP, sort=True)]
    tallest = max(len(g) for _, g in groups)
    grew = {c: t is not None and b is not None for _, g in groups
            for c, t, b in zip(g["cell"], g["training_bytes"], g["baseline_bytes"])}
    title = "Host memory of the worker process per backend (MiB): faint = baseline after the framework loaded and " \
            "the model was built, solid = growth while training"
    if not all(grew.values()):
        title += "\nbars marked \"peak\": older records, which measured only the peak (baseline and growth unknown)"
    fig, axes = _panels(len(groups), 0.4 * tallest + 0.5, suptitle=title)
    varying = _varying(cells)
    mib = 2 ** 20
    for ax, (key, g) in zip(axes, groups):
        ys, ends = np.arange(len(g)), []
        for y, (_, c) in zip(ys, g.iterrows()):
            color = backend_color(c["backend"])
            if grew[c["cell"]]:
                ax.barh(y, c["baseline_bytes"] / mib, color=color, alpha=0.35)
                ax.barh(y, c["training_bytes"] / mib, left=c["baseline_bytes"] / mib, color=color)
                end = (c["baseline_bytes"] + c["training_bytes"]) / mib
                note = f"  {end:,.0f} (+{c['training_bytes'] / mib:,.0f} training)"
            else:
                end = (c["peak_bytes"] or 0) / mib
                ax.barh(y, end, color=color, alpha=0.7)
                note = f"  {end:,.0f} peak"
            ends.append(end)
            ax.text(end, y, note, va="center", fontsize=7)
        ax.set_yticks(ys, list(g["variant"]), fontsize=8)
        ax.set_xlim(0, max(ends + [1]) * 1.6)
        ax.set_title(_title(key, varying), fontsize=9)
        ax.set_xlabel("host memory of the worker (MiB)", fontsize=8)
    save_png(fig, path)
