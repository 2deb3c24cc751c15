"""Report section: *Where the time goes*, for each configuration with ``dlbench explain`` records.

Per model, data, batch size, device and precision: the backends' breakdowns side by side
(:mod:`dlbench.explain.compare`), the rows that explain most of the gap first, the profiler's
overhead and the residual of each backend, and a stacked-bar plot. Where a backend has several
explain records of one configuration, the latest counts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dlbench.analysis.report import tables
from dlbench.analysis.report.cells import label
from dlbench.analysis.results import read_record
from dlbench.explain import compare, plot

GROUP = ("config.model", "config.dataset", "config.batch_size", "config.device", "config.precision")


def render(df: pd.DataFrame, out: Path, plots: bool) -> list[str]:
    if "breakdown.steps_profiled" not in df.columns:
        return []
    runs = df[(df["status"] == "ok") & df["breakdown.steps_profiled"].notna()]
    if runs.empty:
        return []
    lines = ["## Where the time goes", "",
             "`dlbench explain`: each backend's training step under its framework's profiler (torch.profiler, "
             "jax.profiler, tf.profiler), its ops mapped back to the model's declaration and added up per layer "
             "group (kind, kernel, stride, groups). Milliseconds per profiled step (forward / backward), share of "
             "that backend's profiled step, and the ratio to the fastest backend on the row; the rows that explain "
             "most of the gap between the backends first. Time no layer can claim (a fusion across layers, "
             "framework overhead, the loss) has rows of its own. Where a profiler cannot see the layers, the "
             "backend's isolated layer timings stand in, marked: a layer timed alone has no fusion, so their sum "
             "is not the step.", ""]
    for key, group in runs.groupby(list(GROUP), sort=True):
        model, dataset, batch, device, precision = key
        latest = group.sort_values("created").groupby(group.apply(label, axis=1), sort=True).tail(1)
        records = {label(r): read_record(Path(r["path"])) for _, r in latest.iterrows()}
        c = compare.compare(records)
        attributable = {n: r["breakdown"]["attributable"] for n, r in records.items()}
        title = f"{model} on {dataset}, batch {int(batch)}, {device}, {precision}"
        lines += [f"### {title}", "", *measured_on(latest), *c.headline, "",
                  compare.markdown(compare.table(c, attributable)), "", *compare.notes(records), ""]
        if plots:
            file = f"{out.stem}-breakdown-{model}-{dataset}-bs{int(batch)}-{device}-{precision}.png"
            plot.plot(c, f"Where the time goes: {title}", out.parent / file)
            lines += [f"![{title}: where the time goes]({file})", ""]
    return lines


def measured_on(runs: pd.DataFrame) -> list[str]:
    """Where and when the breakdowns were measured: a report can hold records from several machines,
    and a breakdown compares only with runs of the same one."""
    cpus = tables.distinct(runs.get("environment.cpu", []))
    if not cpus:
        return []
    cores = tables.distinct(runs.get("environment.usable_cores", []))
    days = list(dict.fromkeys((runs["created"].min()[:10], runs["created"].max()[:10])))
    cores_text = f", {'/'.join(cores)} usable cores" if cores else ""
    return [f"Measured on {' and '.join(cpus)}{cores_text}, {' to '.join(days)}.", ""]
