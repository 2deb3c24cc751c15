"""A stacked bar per backend: its profiled step split into the comparison's rows (the ones that
explain most of the gap first), in milliseconds and as shares of the step; isolated timings,
where a backend's layers were not attributable, hatched."""

from __future__ import annotations

from pathlib import Path

from dlbench.explain.compare import ISOLATED, Comparison

SHOWN = 9  # rows with a colour of their own; the rest are one grey "other" segment
MIN_SHARE = 0.05  # ... except a row this large in some backend's step, which keeps its colour


def plotted_rows(c: Comparison) -> list:
    """The rows with a colour: the first ``SHOWN`` (those that explain the gap), and any row taking
    ``MIN_SHARE`` of a backend's step, so that no backend's large rows hide in the grey segment."""
    return [r for i, r in enumerate(c.rows)
            if i < SHOWN or any(cell.share >= MIN_SHARE for cell in r.cells.values())]


def plot(c: Comparison, title: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    from dlbench.analysis.style import save_png

    named = plotted_rows(c)
    rest = [r for r in c.rows if all(r is not shown for shown in named)]
    colours = plt.get_cmap("tab10" if len(named) <= 10 else "tab20").colors
    fig, axes = plt.subplots(1, 2, figsize=(13, 1.6 + 0.7 * len(c.backends)), layout="constrained")
    for ax, share in zip(axes, (False, True)):
        for y, n in enumerate(c.backends):
            left = 0.0
            segments = [(r.group, r.cells.get(n), colours[i % len(colours)]) for i, r in enumerate(named)]
            other = sum(cell.total_s for r in rest if (cell := r.cells.get(n)) is not None)
            for label, cell, colour in [*segments, ("other rows", None, "#bbbbbb")]:
                seconds = other if label == "other rows" else (cell.total_s if cell is not None else 0.0)
                isolated = cell is not None and cell.source == ISOLATED
                width = seconds / c.steps_s[n] * 100 if share else seconds * 1e3
                ax.barh(y, width, left=left, color=colour, hatch="//" if isolated else None, edgecolor="white",
                        label=label if y == 0 else None)
                left += width
        ax.set_yticks(range(len(c.backends)), c.backends)
        ax.invert_yaxis()
        ax.set_xlabel("share of the profiled step (%)" if share else "ms per profiled step")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_title("time per step")
    axes[1].set_title("share of each backend's step (hatched: isolated timing)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize="small")
    fig.suptitle(title)
    save_png(fig, path)
