"""``dlbench report``: a markdown report of result records, with PNG plots written beside it."""

from __future__ import annotations

import datetime as dt
import io
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from dlbench.analysis import stats
from dlbench.analysis.results import write_atomic
from dlbench.analysis.units import human_bytes, ms, si

MACHINE_ROWS = {"cpu": "CPU", "logical_cores": "logical cores", "usable_cores": "usable cores",
                "device_name": "device", "platform": "OS", "python": "Python", "numpy": "NumPy", "dlbench": "dlbench"}
SAME_MACHINE_KEYS = ("cpu", "logical_cores", "usable_cores", "python")  # must agree for times to be comparable
HIDDEN_ENV_KEYS = ("argv", "framework")
COMPILE_KEYS = ("compile", "xla", "jit", "jit_compile")


# -- per-cell aggregation -------------------------------------------------------------------
def label(row: pd.Series) -> str:
    """A cell's backend and the options it set explicitly, e.g. ``torch compile=True``."""
    opts = row.get("config.backend_options") or {}
    return " ".join([row["config.backend"], *(f"{k}={v}" for k, v in sorted(opts.items()))])


def _present(v: object) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v))


def _col(g: pd.DataFrame, name: str) -> list:
    """The values of a column that are present (failed records and other schemas leave gaps)."""
    return [v for v in g[name] if _present(v)] if name in g else []


def cell_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of the successful records: identity, step-time statistics and aggregates."""
    rows = []
    for cell, g in df[df["status"] == "ok"].groupby("cell", sort=False):
        first = g.iloc[0]
        repeats = list(g["timing.step_times_s"])
        st = stats.cell_stats(repeats)
        bs = int(first["config.batch_size"])
        analytic, framework = _col(g, "flops.per_train_step_analytic"), _col(g, "flops.per_train_step_framework")
        top1, top5 = _col(g, "accuracy.top1"), _col(g, "accuracy.top5")
        device_mem = _col(g, "memory.device_peak_bytes")
        flops = (analytic or framework or [None])[0]
        rows.append({
            "cell": cell, "model": first["config.model"], "backend": first["config.backend"], "label": label(first),
            "dataset": first["config.dataset"], "batch_size": bs, "device": first["config.device"],
            "runs": len(g), "repeats": repeats, "stats": st,
            "throughput": bs / st.median, "throughput_low": bs / st.ci.high, "throughput_high": bs / st.ci.low,
            "first_step": float(np.median(firsts)) if (firsts := _col(g, "timing.time_to_first_step_s")) else None,
            "flops_analytic": analytic[0] if analytic else None,
            "flops_framework": framework[0] if framework else None,
            "achieved": flops / st.median if flops else None,
            "host_mem": max(_col(g, "memory.host_peak_rss_bytes"), default=None),
            "device_mem": max(device_mem, default=None),
            "params": (first.get("model.params_trainable"), first.get("model.params_non_trainable")),
            "top1": float(np.mean(top1)) if top1 else None, "top5": float(np.mean(top5)) if top5 else None,
            "accuracy_reason": first.get("accuracy.reason"),
            "loss_curve": first.get("loss.curve") or [],
        })
    return pd.DataFrame(rows, dtype=object)  # object: None stays None, not NaN


# -- tables ---------------------------------------------------------------------------------
def _md(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, disable_numparse=True)


def _cellsafe(text: object, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return (text[:limit] + "…" if len(text) > limit else text).replace("|", "\\|")


def _distinct(values) -> list[str]:
    def fmt(v):
        if isinstance(v, dict):
            return ", ".join(f"{k}={x}" for k, x in v.items()) or "(none)"
        if isinstance(v, float) and v.is_integer():  # an int column that pandas widened to hold NaN
            return str(int(v))
        return str(v)
    return list(dict.fromkeys(fmt(v) for v in values if _present(v)))


def environment_section(ok: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows: environment fields (machine first); columns: backends. Plus warnings."""
    keys = [c.removeprefix("environment.") for c in ok.columns if c.startswith("environment.")]
    keys = [k for k in MACHINE_ROWS if k in keys] + [k for k in keys if k not in MACHINE_ROWS and k not in HIDDEN_ENV_KEYS]
    table = {"": [MACHINE_ROWS.get(k, k.replace("_", " ")) for k in keys]}
    warnings = []
    for backend, g in ok.groupby("config.backend", sort=True):
        column = []
        for k in keys:
            values = _distinct(g[f"environment.{k}"])
            column.append(" / ".join(values) or "—")
            if len(values) > 1:
                warnings.append(f"{backend}: `{k}` differs between records: {', '.join(values)}")
        table[backend] = column
    for k in SAME_MACHINE_KEYS:
        if f"environment.{k}" in ok and len(values := _distinct(ok[f"environment.{k}"])) > 1:
            warnings.append(f"records come from different machines or setups: `{k}` is {' vs '.join(values)}")
    return pd.DataFrame(table), list(dict.fromkeys(warnings))


def _compile_state(settings: dict) -> tuple[str, bool | None]:
    for k in COMPILE_KEYS:
        if k in settings:
            return f"{k}={settings[k]}", bool(settings[k])
    return "no switch", None


def fairness_section(ok: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Settings that decide whether backends are compared like for like, one row per backend
    variant, with a warning for each that differs between backends."""
    rows, compiled, backends = [], {}, set()
    for lab, g in ok.groupby(ok.apply(label, axis=1), sort=True):
        settings = g.iloc[0]["backend.settings"] or {}
        text, state = _compile_state(settings)
        threads = _distinct(g.get("environment.threads", pd.Series(dtype=object))) or \
            _distinct(g.get("environment.cpu_threads", pd.Series(dtype=object)))
        row = {
            "backend": lab, "device": ", ".join(_distinct(g["config.device"])),
            "batch sizes": ", ".join(str(b) for b in sorted(set(g["config.batch_size"]))),
            "graph compilation": text,
            "precision": " / ".join(_distinct(g.get("environment.precision", pd.Series(dtype=object)))) or "—",
            "TF32": str(settings["tf32"]) if "tf32" in settings else "—",
            "threads": " / ".join(threads) or "—",
            "settings": ", ".join(f"{k}={v}" for k, v in settings.items()) or "none",
        }
        rows.append(row)
        compiled[lab] = (f"{g.iloc[0]['config.backend']} {text}", state)
        backends.add(g.iloc[0]["config.backend"])
    warnings = []
    if len({s for _, s in compiled.values() if s is not None}) > 1:
        detail = ", ".join(dict.fromkeys(text for text, _ in compiled.values()))
        warnings.append(f"graph compilation differs ({detail}): eager and compiled steps are not like for like")
    for name in ("precision", "TF32", "threads", "device", "batch sizes"):
        values = {r[name] for r in rows if r[name] != "—"}
        if len(backends) > 1 and len(values) > 1:
            warnings.append(f"{name} differs between backends: " + ", ".join(f"{r['backend']} {r[name]}" for r in rows))
    return pd.DataFrame(rows), warnings


def _versus(cells: pd.DataFrame) -> dict[str, str]:
    """Each cell against the fastest cell with the same model, dataset, batch size and device."""
    out = {}
    for _, group in cells.groupby(["model", "dataset", "batch_size", "device"]):
        fastest = group.loc[group["stats"].map(lambda s: s.median).idxmin()]
        for _, c in group.iterrows():
            if c["cell"] == fastest["cell"]:
                out[c["cell"]] = "fastest" if len(group) > 1 else "—"
                continue
            r = stats.ratio(c["repeats"], fastest["repeats"])
            mark = "" if r.significant else " (n.s.)"
            out[c["cell"]] = f"{r.estimate:.2f}× slower [{r.ci.low:.2f}–{r.ci.high:.2f}]{mark}"
    return out


def model_tables(cells: pd.DataFrame, model: str, versus: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(speed table, resources table) for one model; rows are backend × dataset × batch size."""
    mine = cells[cells["model"] == model].copy()
    mine["_median"] = mine["stats"].map(lambda s: s.median)
    mine = mine.sort_values(["dataset", "batch_size", "_median"])
    speed, resources = [], []
    for _, c in mine.iterrows():
        st: stats.CellStats = c["stats"]
        head = {"backend": c["label"], "dataset": c["dataset"], "batch": c["batch_size"]}
        noisy = " ⚠ noisy" if st.noisy else ""
        speed.append({
            **head, "runs": f"{c['runs']} × {st.steps // c['runs']} steps" if c["runs"] > 1 else f"{st.steps} steps",
            "step time median [95% CI]": f"{ms(st.median)} [{st.ci.low * 1e3:,.2f}–{st.ci.high * 1e3:,.2f}]",
            "p10–p90": f"{st.p10 * 1e3:,.2f}–{st.p90 * 1e3:,.2f} ms",
            "jitter (MAD) / CV": f"{st.jitter:.1%} / {st.cv:.1%}{noisy}",
            "throughput": f"{c['throughput']:,.1f}/s",
            "vs fastest": versus[c["cell"]],
            "first step": f"{c['first_step']:.3f} s" if c["first_step"] is not None else "n/a",
        })
        reason = c["accuracy_reason"]
        trainable, frozen = c["params"]
        resources.append({
            **head, "achieved FLOP/s": si(c["achieved"], "FLOP/s"),
            "FLOPs/step analytic": si(c["flops_analytic"], "FLOP"),
            "FLOPs/step framework": si(c["flops_framework"], "FLOP"),
            "peak host memory": human_bytes(c["host_mem"]),
            "peak device memory": human_bytes(c["device_mem"]) if c["device_mem"] is not None
            else "n/a (CPU)" if c["device"] == "cpu" else "n/a",
            "parameters": (f"{int(trainable):,}" + (f" + {int(frozen):,} non-trainable" if _present(frozen) and frozen else ""))
            if _present(trainable) else "n/a",
            "top-1": f"{c['top1']:.4f}" if c["top1"] is not None else f"n/a: {reason}",
            "top-5": f"{c['top5']:.4f}" if c["top5"] is not None else "n/a",
        })
    return pd.DataFrame(speed), pd.DataFrame(resources)


def failures_table(df: pd.DataFrame) -> pd.DataFrame:
    failed = df[df["status"] != "ok"]
    return pd.DataFrame([{
        "backend": label(f), "model": f["config.model"], "dataset": f["config.dataset"], "batch": f["config.batch_size"],
        "repeat": "—" if pd.isna(f["repeat"]) else int(f["repeat"]) + 1, "kind": f.get("error.kind"),
        "reason": _cellsafe(f.get("error.message")), "record": Path(f["path"]).name,
    } for _, f in failed.iterrows()])


# -- plots ----------------------------------------------------------------------------------
def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def _groups(cells: pd.DataFrame) -> list[tuple]:
    return list(dict.fromkeys(zip(cells["model"], cells["dataset"], cells["batch_size"])))


def _bars_width(cells: pd.DataFrame) -> float:
    return max(6.0, 1.15 * len(_groups(cells)) + 2)


def _grouped_bars(ax, cells: pd.DataFrame, value: str, low: str | None = None, high: str | None = None) -> None:
    groups = _groups(cells)
    labels = sorted(set(cells["label"]))
    width = 0.8 / len(labels)
    for i, lab in enumerate(labels):
        mine = cells[cells["label"] == lab].set_index(["model", "dataset", "batch_size"])
        xs, ys, errs = [], [], [[], []]
        for x, g in enumerate(groups):
            if g in mine.index:
                row = mine.loc[g]
                xs.append(x - 0.4 + width * (i + 0.5))
                ys.append(row[value])
                if low:
                    errs[0].append(row[value] - row[low])
                    errs[1].append(row[high] - row[value])
        ax.bar(xs, ys, width, label=lab, yerr=errs if low else None, capsize=3)
    ax.set_xticks(range(len(groups)), [f"{m}\n{d} bs{b}" for m, d, b in groups], fontsize=8)
    ys = cells[value].dropna()
    if len(ys) and ys.min() > 0 and ys.max() / ys.min() > 50:
        ax.set_yscale("log")
    ax.legend(fontsize=8)


def plot_throughput(cells: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(_bars_width(cells), 4.5))
    _grouped_bars(ax, cells, "throughput", "throughput_low", "throughput_high")
    ax.set_ylabel("samples / s (median step; 95% CI)")
    ax.set_title("Training throughput per backend")
    _save(fig, path)


def plot_loss(cells: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(cells["model"]))
    cols = min(4, len(models))
    rows = -(-len(models) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.5 * rows), squeeze=False)
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    for ax, model in zip(axes.flat, models):
        for _, c in cells[cells["model"] == model].iterrows():
            ax.plot(range(1, len(c["loss_curve"]) + 1), c["loss_curve"], label=f"{c['label']} {c['dataset']} bs{c['batch_size']}")
        ax.set_title(model)
        ax.set_xlabel("step (warm-up included; first repeat)")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=7)
    _save(fig, path)


def plot_memory(cells: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    data = cells.assign(host=cells["host_mem"] / 2**20, device=cells["device_mem"].astype(float) / 2**20)
    panels = ["host"] + (["device"] if data["device"].notna().any() else [])
    fig, axes = plt.subplots(len(panels), 1, figsize=(_bars_width(cells), 4.5 * len(panels)), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        _grouped_bars(ax, data, panel)
        ax.set_ylabel(f"peak {panel} memory (MiB)")
        ax.set_title(f"Peak {panel} memory of the worker" if panel == "host" else "Peak device memory")
    _save(fig, path)


# -- the document ---------------------------------------------------------------------------
def render(df: pd.DataFrame, out: Path, command: str, plots: bool = True) -> str:
    """The report as markdown; writes its plots beside ``out`` (``<stem>-throughput.png``...)."""
    ok = df[df["status"] == "ok"]
    cells = cell_table(df)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    source = df.attrs.get("source", "records")
    lines = [
        "# dlbench report", "",
        (f"Generated by `{command}` with dlbench {metadata.version('dlbench')} on {now}, from "
         f"{len(df)} record{'s' * (len(df) != 1)} in `{source}` ({len(ok)} ok, {len(df) - len(ok)} failed; "
         f"{len(cells)} configuration{'s' * (len(cells) != 1)})."), "",
    ]
    for path, reason in df.attrs.get("skipped", []):
        lines.append(f"> **Warning:** skipped `{path}`: {reason}")
    if len(ok):
        env, env_warnings = environment_section(ok)
        fair, fair_warnings = fairness_section(ok)
        lines += ["## Environment", "", _md(env), "", *_warnings(env_warnings),
                  "## Fairness settings", "", _md(fair), "", *_warnings(fair_warnings)]
        versus = _versus(cells)
        for model in sorted(set(cells["model"])):
            speed, resources = model_tables(cells, model, versus)
            lines += [f"## {model}", "", _md(speed), "", _md(resources), ""]
        if plots:
            lines += ["## Plots", ""]
            for name, draw in (("throughput", plot_throughput), ("loss", plot_loss), ("memory", plot_memory)):
                file = f"{out.stem}-{name}.png"
                draw(cells, out.parent / file)
                lines += [f"![{name}]({file})", ""]
    if len(ok) < len(df):
        lines += ["## Failures", "", _md(failures_table(df)), ""]
    lines += ["## How to read this", "", *NOTES]
    return "\n".join(lines) + "\n"


def _warnings(items: list[str]) -> list[str]:
    return [f"> **Warning:** {w}  " for w in items] + ([""] if items else [])


NOTES = [
    f"- Step time: median of the timed steps of all repeats of a configuration pooled (warm-up excluded). "
    f"The {stats.CONFIDENCE:.0%} interval is a seeded hierarchical bootstrap ({stats.RESAMPLES} resamples of the "
    "repeats, then of the steps within each), so it covers run-to-run as well as step-to-step variation.",
    "- Throughput: batch size / median step time. Achieved FLOP/s: FLOPs per step (analytic when known) / median step time.",
    "- Jitter: 1.4826 × median absolute deviation / median (robust); CV: standard deviation / mean. "
    f"⚠ noisy: CV, or the CV of the per-repeat medians, above {stats.NOISY_CV:.0%}.",
    "- vs fastest: ratio of median step times to the fastest backend at the same model, dataset, batch size and "
    "device, with its bootstrap interval; (n.s.) marks a difference whose interval contains 1 (not significant).",
    "- Time to first step includes compilation (XLA, torch.compile) and caches warming up.",
]


def write_report(df: pd.DataFrame, out: str | Path, command: str = "dlbench report", plots: bool = True) -> Path:
    """Write the markdown report (atomically) and its plots; returns the report's path."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(out, render(df, out, command, plots))
