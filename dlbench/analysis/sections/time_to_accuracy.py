"""Report section: time to accuracy (MLPerf Training / DAWNBench rules), per model × dataset × target.

A target is a value of one metric on the test split: a classifier's top-1 (reached at or above it)
or a language model's validation loss or perplexity (reached at or below it); runs with different
metrics or targets are separate comparisons. Per backend, over its seeds: MLPerf's olympic mean
(drop the fastest and the slowest run, average the rest; at least :data:`OLYMPIC_MIN_RUNS` runs; a
run that did not reach the target counts as the slowest, so one such run is dropped and two void
the score), the median with a bootstrap 95 % interval across seeds (not-reached runs count as
infinitely slow), the convergence rate and the epochs to target; per seed run on several backends,
the evaluation at which each reached the target and the largest gap in the metric between them;
plots of the metric against the clock and against epochs, one colour per backend.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dlbench.analysis import stats
from dlbench.analysis.report.cells import with_group_columns
from dlbench.analysis.report.text import TARGET_METRICS as METRICS, target_metric as _metric, target_text  # noqa: F401
from dlbench.analysis.style import backend_color, save_png

OLYMPIC_MIN_RUNS = 5  # MLPerf Training's minimum number of runs for a score
SAME_TOP1 = 1e-9  # gaps in the metric up to this are float noise: the curves are the same
#: settings that, when they differ between records, make separate comparisons
GROUP = ("config.model", "config.dataset", "target.metric", "target.target", "config.batch_size", "config.seq_len",
         "config.optimizer", "config.lr", "config.device", "config.precision")


def gap_text(gap: float) -> str:
    """A gap between backends in a metric: four decimals, or two significant digits below 0.001 (a
    validation loss that agrees to round-off, ~1e-6, is not "0.0000" apart)."""
    return f"{gap:.4f}" if gap >= 1e-3 else f"{gap:.1e}"



def olympic_mean(times: Sequence[float]) -> tuple[float | None, str]:
    """(MLPerf's olympic mean, '') or (None, why it is absent). ``inf`` marks a run that did not
    reach the target: it is the slowest, so one is dropped and a second one voids the score."""
    n = len(times)
    if n < OLYMPIC_MIN_RUNS:
        return None, f"{n} seed{'s' * (n != 1)}: needs ≥ {OLYMPIC_MIN_RUNS}"
    kept = sorted(times)[1:-1]
    missed = sum(math.isinf(t) for t in times)
    if any(math.isinf(t) for t in kept):
        return None, f"{missed} of {n} seeds did not reach the target (one may)"
    return float(np.mean(kept)), ""


def median_interval(times: Sequence[float]) -> tuple[float, stats.Interval | None]:
    """Median across seeds (``inf`` = not reached) and its bootstrap 95 % interval (None below
    :data:`dlbench.analysis.stats.MIN_RUNS` seeds); resampling is seeded and order-independent."""
    t = np.sort(np.asarray(times, dtype=np.float64))
    median = float(np.median(t))
    if t.size < stats.MIN_RUNS:
        return median, None
    boot = stats.bootstrap_medians(t)
    tail = (1 - stats.CONFIDENCE) / 2
    low, high = np.quantile(boot, [tail, 1 - tail], method="inverted_cdf")  # no interpolation with inf
    return median, stats.Interval(float(low), float(high))


def _seconds(value: float) -> str:
    return "not reached" if math.isinf(value) else f"{value:,.2f}"


def _time(run: pd.Series) -> float:
    return float(run["target.time_to_target_s"]) if run["target.reached"] else math.inf


def per_seed(group: pd.DataFrame) -> pd.DataFrame:
    """One run per backend and seed: repeats of one seed are repeats, not seeds, so each seed is
    represented by its median run (by time to target; one that did not reach it is the slowest,
    the lower median of an even count). Column ``repeats`` holds how many runs the seed had."""
    chosen = []
    for _, runs in group.groupby(["config.backend", "config.seed"], sort=True):
        ordered = sorted((run for _, run in runs.iterrows()), key=_time)
        chosen.append(ordered[(len(ordered) - 1) // 2].copy())
        chosen[-1]["repeats"] = len(ordered)
    return pd.DataFrame(chosen)


def _seeds(runs: pd.DataFrame) -> str:
    counts = sorted(set(runs["repeats"]))
    each = "" if counts == [1] else f", {counts[0]} run{'s' * (counts[0] != 1)}" if len(runs) == 1 else \
        f", {counts[0]} runs each" if len(counts) == 1 else f", {counts[0]}–{counts[-1]} runs each"
    return f"{len(runs)} ({', '.join(str(s) for s in sorted(runs['config.seed']))}){each}"


def _backend_row(runs: pd.DataFrame) -> dict:
    """``runs``: one per seed (:func:`per_seed`)."""
    reached = runs["target.reached"].astype(bool)
    times = [t if r else math.inf for t, r in zip(runs["target.time_to_target_s"], reached)]
    train = [t if r else math.inf for t, r in zip(runs["target.train_time_to_target_s"], reached)]
    olympic, why = olympic_mean(times)
    median, ci = median_interval(times)
    epochs = runs.loc[reached, "target.epochs_to_target"].astype(float)
    excluded = runs.get("target.excluded_s.compile", pd.Series(dtype=float)).astype(float)
    tuning = runs.get("target.excluded_s.tuning", pd.Series(dtype=float)).astype(float)
    return {
        "backend": runs["config.backend"].iloc[0],
        "seeds": _seeds(runs),
        "reached": f"{int(reached.sum())}/{len(runs)} ({reached.mean():.0%})",
        "olympic mean (s)": _seconds(olympic) if olympic is not None else f"— ({why})",
        "median (s)": _seconds(median),
        "95 % interval (s)": (f"{_seconds(ci.low)}–{_seconds(ci.high)}" if ci
                              else f"— ({len(runs)} seed{'s' * (len(runs) != 1)}: needs ≥ {stats.MIN_RUNS})"),
        "training only, median (s)": _seconds(float(np.median(train))),
        "epochs to target": (f"{epochs.median():g} ({epochs.min():g}–{epochs.max():g})" if len(epochs) else "—"),
        "excluded: compile / tuning (s)": f"{excluded.median():.2f} / {tuning.median():.2f}",
    }


def seed_agreement(group: pd.DataFrame, metric: str = "top1") -> tuple[str, float | None]:
    """(markdown paragraph, largest gap in ``metric``) comparing, per seed run on several backends, the
    evaluation that reached the target and the ``metric`` at each shared evaluation. Same weights and
    batches need not give the same trajectory: float32 rounding differs between frameworks and
    grows over thousands of steps, and each framework draws its own dropout masks."""
    reached_at, gap, where = {}, None, ""
    for seed, runs in sorted(group.groupby("config.seed")):
        if runs["config.backend"].nunique() < 2:
            continue
        runs = runs.sort_values("config.backend")
        curves = {b: [p[metric] for p in (c or [])] for b, c in zip(runs["config.backend"], runs["target.curve"])}
        # a run stops at the evaluation that reached the target: the last point of its curve
        reached_at[seed] = {b: len(curves[b]) if hit else None for b, hit in zip(runs["config.backend"],
                                                                                runs["target.reached"])}
        for i in range(min(map(len, curves.values()))):
            spread = max(c[i] for c in curves.values()) - min(c[i] for c in curves.values())
            if gap is None or spread > gap:
                gap, where = spread, f"seed {seed}, evaluation {i + 1}"
    if not reached_at:
        return "", None
    spreads = [max(at.values()) - min(at.values()) if None not in at.values() else math.inf
               for at in reached_at.values()]
    n, name = len(spreads), _metric(metric)[1]
    text = (f"Same seed across backends (same initial weights, same batches): the target was reached at the same "
            f"evaluation on {sum(s == 0 for s in spreads)} of {n} seeds and within one on "
            f"{sum(s <= 1 for s in spreads)} of {n}")
    if gap is not None and gap <= SAME_TOP1:
        text += f"; their {name} is identical at every evaluation they share"
    elif gap is not None:
        text += f"; the largest {name} gap between backends at one evaluation is {gap_text(gap)} ({where})"
    per_seed = "; ".join(f"seed {seed}: " + ", ".join(f"{b} {i or '—'}" for b, i in at.items())
                         for seed, at in reached_at.items())
    return f"{text}. Evaluation that reached it: {per_seed}.", gap


def _slug(*parts: object) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", "-".join(str(p) for p in parts)).strip("-")


def plot(group: pd.DataFrame, title: str, path: Path, gap: float | None = None, metric: str = "top1") -> None:
    """The evaluated ``metric`` against the MLPerf clock and against epochs, one line per run, coloured
    by backend; ``gap`` is the largest gap in it between backends at one seed and evaluation."""
    import matplotlib.pyplot as plt

    target = float(group["target.target"].iloc[0])
    short, _, ylabel, higher = _metric(metric)
    fig, (by_time, by_epoch) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    backends = sorted(group.groupby("config.backend"), key=lambda kv: kv[0])
    for b, (backend, runs) in enumerate(backends):
        color = backend_color(backend)
        # the same seed gives the same curve against epochs on every backend: drawn widest first and
        # narrower after, with its own dash, so curves that coincide stay visible
        width, style = 1.2 + 2.0 * (len(backends) - 1 - b), ("-", "--", ":", "-.")[b % 4]
        for i, (_, run) in enumerate(runs.iterrows()):
            curve = run["target.curve"] or []
            label = f"{backend} ({len(runs)} seed{'s' * (len(runs) != 1)})" if i == 0 else None
            score = [p[metric] for p in curve]
            by_time.plot([p["elapsed_s"] for p in curve], score, color=color, alpha=0.75, marker=".", linewidth=1.2,
                         label=label)
            by_epoch.plot([p["epoch"] for p in curve], score, color=color, alpha=0.75, marker=".", linewidth=width,
                          linestyle=style, label=label)
    for ax, xlabel in ((by_time, "seconds from the first touch of the data (MLPerf clock, evaluations included)"),
                       (by_epoch, "epochs of training")):
        ax.axhline(target, color="0.4", linestyle="--", linewidth=1,
                   label=f"target {target:g}" if higher else f"target ≤ {target:g}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if higher else "upper right")  # away from where the curves end
    by_time.set_title(f"{short} against time" + ("\n" if gap is not None else ""))  # level with the other
    if gap is None:
        by_epoch.set_title(f"{short} against epochs")
    elif gap <= SAME_TOP1:
        by_epoch.set_title(f"{short} against epochs\n(same seed: one curve on every backend)")
    else:
        by_epoch.set_title(f"{short} against epochs\n(same seed: backends up to {gap_text(gap)} apart)")
    fig.suptitle(title)
    save_png(fig, path)


def render(df: pd.DataFrame, out: Path, plots: bool) -> list[str]:
    if "target.target" not in df.columns:
        return []
    runs = df[(df["status"] == "ok") & df["target.target"].notna()].copy()
    if runs.empty:
        return []
    # records from before language models have no metric: theirs is top-1
    runs["target.metric"] = runs["target.metric"].fillna("top1") if "target.metric" in runs else "top1"
    runs = with_group_columns(runs, GROUP)
    lines = ["## Time to accuracy", "",
             "Wall-clock time to a target on the test split (a classifier's top-1, reached at or above it; a "
             "language model's validation loss or perplexity, reached at or below it; runs with different "
             "metrics or targets are never pooled), timed by MLPerf Training's rules: the clock starts at the "
             "first touch of the data and stops at the end of the evaluation that reached the target (evaluation "
             "included); tuning and the eval step's compilation before the data are excluded (shown apart). The "
             "olympic mean drops the fastest and the slowest seed and averages the rest (at least "
             f"{OLYMPIC_MIN_RUNS} seeds; a seed that did not reach the target counts as the slowest). Median and "
             f"its {stats.CONFIDENCE:.0%} interval (seeded bootstrap across seeds, at least {stats.MIN_RUNS}) "
             "count a seed that did not reach the target as infinitely slow.", ""]
    for key, group in runs.groupby(list(GROUP), sort=True):
        model, dataset, metric, target, batch, seq_len, optimizer, lr, device, precision = key
        group = per_seed(group)
        title = f"{model} on {dataset} to {target_text(metric, float(target))}"
        seq_len = int(seq_len) if seq_len != "default" else None  # a column with gaps holds floats
        sequences = f" of {seq_len} tokens" if seq_len else ""
        lines += [f"### {title}", "",
                  f"Batch {batch}{sequences}, {optimizer} (lr {lr}), {device}, {precision}; evaluated every "
                  f"{', '.join(sorted({f'{e:g}' for e in group['target.eval_every']}))} epochs, at most "
                  f"{', '.join(sorted({f'{m:g}' for m in group['target.max_epochs']}))} epochs.", ""]
        table = pd.DataFrame([_backend_row(r) for _, r in sorted(group.groupby("config.backend"))])
        lines += [table.to_markdown(index=False, disable_numparse=True), ""]
        agreement, gap = seed_agreement(group, metric)
        if agreement:
            lines += [agreement, ""]
        if plots:
            named = (target,) if metric == "top1" else (metric, target)
            extra = ("seq", seq_len) if seq_len else ()
            file = f"{out.stem}-tta-{_slug(model, dataset, *named, 'bs', batch, *extra)}.png"
            plot(group, f"{title}: {_metric(metric)[1]} per evaluation, one line per seed (batch {batch}, "
                 f"{optimizer})", out.parent / file, gap, metric)
            lines += [f"![{title}]({file})", ""]
    return lines
