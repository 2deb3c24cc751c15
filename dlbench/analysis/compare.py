"""``dlbench compare OLD NEW``: each configuration's median step time, new against old.

Runs match by configuration (see :func:`dlbench.execution.sweep.identity`: backend, model, dataset, batch
size, device, backend options, steps, optimizer...; not the seed, whose runs are replicates, as in
the report). The statistics are those of the report, with the run as the unit
(:mod:`dlbench.analysis.stats`): the change is the ratio of the medians of the per-run median step
times, new over old, with a bootstrap interval across runs. A configuration is
*slower* (or *faster*) only when all three hold: the interval excludes 1, the change exceeds the
threshold, and it exceeds the between-run variation measured in both sets (the farthest any run's
median lies from its own set's median): two sets of runs of the same code on the same machine
differ by about that much. With fewer than :data:`~dlbench.analysis.stats.MIN_RUNS` runs on a
side the between-run variation is unknown and the verdict is *too few runs*, never a regression.
A slower or newly failing configuration is a regression.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from tabulate import tabulate

from dlbench.analysis import stats
from dlbench.analysis.report.cells import label
from dlbench.analysis.report.text import step_time
from dlbench.execution.sweep import identity

REGRESSIONS = ("slower", "newly failing")
IGNORED_ENV_KEYS = ("argv",)
IGNORED_ENV_PREFIXES = ("noise.",)  # `dlbench doctor`'s latest noise estimate: differs whenever it was rerun
DESCRIBING = ("config.backend", "config.model", "config.dataset", "config.batch_size", "config.device")


@dataclass
class Row:
    """One configuration present on both sides."""

    name: str
    verdict: str
    old: stats.CellStats | None = None
    new: stats.CellStats | None = None
    ratio: stats.Ratio | None = None
    note: str = ""


@dataclass
class Comparison:
    threshold: float
    rows: list[Row] = field(default_factory=list)
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict in REGRESSIONS]


def verdict(r: stats.Ratio, old: stats.CellStats, new: stats.CellStats, threshold: float) -> tuple[str, str]:
    """(verdict, note) for a new/old ratio of median step times (see the module's docstring)."""
    if r.ci is None:
        return "too few runs", (f"{old.runs} vs {new.runs} run(s): the between-run variation is not measured; "
                                f"rerun with at least {stats.MIN_RUNS} runs each (`dlbench sweep --repeat N`)")
    change, floor = r.estimate - 1, max(old.spread, new.spread)
    if not r.significant:
        return "within noise", "interval contains 1"
    if abs(change) <= floor:
        return "within noise", f"within the between-run variation (±{floor:.1%})"
    if abs(change) <= threshold:
        return "within noise", f"significant but within ±{threshold:.0%}"
    return ("slower" if change > 0 else "faster"), ""


def _plain(value: object) -> object:
    """A frame value as the record had it: pandas widens int columns with gaps to float and NaN."""
    if isinstance(value, float):
        return None if pd.isna(value) else int(value) if value.is_integer() else value
    return value


def describe(row: pd.Series) -> str:
    return f"{label(row)}/{row['config.model']} {row['config.dataset']} bs{_plain(row['config.batch_size'])} {row['config.device']}"


def _config(row: pd.Series) -> dict:
    return {c.removeprefix("config."): _plain(row[c]) for c in row.index if c.startswith("config.")}


def _near_misses(row: pd.Series, others: dict[str, pd.DataFrame]) -> str:
    """For an unmatched run: the settings in which runs like it on the other side differ."""
    mine = identity(_config(row))
    diffs = set()
    for g in others.values():
        other = g.iloc[0]
        if all(other[c] == row[c] for c in DESCRIBING):
            theirs = identity(_config(other))
            diffs |= {k for k in mine if str(mine[k]) != str(theirs.get(k))}
    return f" (the other side has it with different {', '.join(sorted(diffs))})" if diffs else ""


def _env(g: pd.DataFrame) -> dict[str, str]:
    first = g[g["status"] == "ok"].iloc[0]
    return {c.removeprefix("environment."): str(_plain(first[c])) for c in g.columns
            if c.startswith("environment.") and c.removeprefix("environment.") not in IGNORED_ENV_KEYS
            and not c.removeprefix("environment.").startswith(IGNORED_ENV_PREFIXES) and _plain(first[c]) is not None}


def _runs(g: pd.DataFrame) -> list[stats.RunSummary]:
    """The run summaries of the successful records of a cell."""
    return [r for r in g.loc[g["status"] == "ok", "run"] if r is not None]


def _settings(g: pd.DataFrame) -> str:
    ok = g[g["status"] == "ok"]
    return ", ".join(f"{k}={v}" for k, v in (ok.iloc[0]["backend.settings"] or {}).items()) if len(ok) else ""


def compare(old: pd.DataFrame, new: pd.DataFrame, threshold: float = 0.05) -> Comparison:
    """Match the records of ``old`` and ``new`` (frames of :func:`dlbench.analysis.results.load_results`)."""
    olds, news = (dict(tuple(df.groupby("configuration", sort=False))) for df in (old, new))
    out = Comparison(threshold)
    env_diffs: dict[str, None] = {}
    for cell, o in olds.items():
        if cell not in news:
            out.only_old.append(describe(o.iloc[0]) + _near_misses(o.iloc[0], news))
            continue
        n, name = news[cell], describe(o.iloc[0])
        old_runs, new_runs = _runs(o), _runs(n)
        if old_runs and new_runs:
            ratio = stats.ratio(new_runs, old_runs)
            old_stats, new_stats = stats.cell_stats(old_runs), stats.cell_stats(new_runs)
            kind, note = verdict(ratio, old_stats, new_stats, threshold)
            row = Row(name, kind, old_stats, new_stats, ratio, note)
            if _settings(o) != _settings(n):
                row.note = "; ".join(filter(None, [row.note, f"settings {_settings(o)} → {_settings(n)}"]))
            old_env, new_env = _env(o), _env(n)
            for k in sorted(set(old_env) | set(new_env)):
                if old_env.get(k) != new_env.get(k):
                    env_diffs[f"{o.iloc[0]['config.backend']}: `{k}` {old_env.get(k, '—')} → {new_env.get(k, '—')}"] = None
        elif new_runs:
            row = Row(name, "fixed", new=stats.cell_stats(new_runs))
        elif old_runs:
            row = Row(name, "newly failing", old=stats.cell_stats(old_runs), note=_error(n))
        else:
            row = Row(name, "failing in both", note=_error(n))
        out.rows.append(row)
    out.only_new = [describe(g.iloc[0]) + _near_misses(g.iloc[0], olds) for cell, g in news.items() if cell not in olds]
    if env_diffs:
        out.warnings.append("environments differ, so differences may not come from the code: " + "; ".join(env_diffs))
    return out


def _error(g: pd.DataFrame) -> str:
    last = g.iloc[-1]
    return f"{last.get('error.kind')}: {' '.join(str(last.get('error.message')).split())[:160]}"


def _median(s: stats.CellStats | None) -> str:
    return "—" if s is None else step_time(s)


def _change(r: stats.Ratio | None) -> str:
    if r is None:
        return "—"
    if r.ci is None:
        return f"{r.estimate - 1:+.1%} (no interval)"
    return f"{r.estimate - 1:+.1%} [{r.ci.low - 1:+.1%}, {r.ci.high - 1:+.1%}]"


def _spread(s: stats.CellStats | None) -> str:
    return "—" if s is None else f"{s.runs}" + (f", ±{s.spread:.1%}" if s.runs > 1 else "")


def render(c: Comparison) -> str:
    """A GitHub-flavoured markdown table of the comparison, then unmatched runs, warnings and a summary."""
    table = [{
        "configuration": r.name, "old median [95% CI]": _median(r.old), "new median [95% CI]": _median(r.new),
        "runs old / new (± between-run)": f"{_spread(r.old)} / {_spread(r.new)}",
        "change [95% CI]": _change(r.ratio),
        "verdict": r.verdict.upper() if r.verdict in REGRESSIONS else r.verdict, "note": r.note,
    } for r in c.rows]
    lines = [tabulate(table, headers="keys", tablefmt="github", disable_numparse=True)] if table else ["no configuration is in both"]
    lines += [f"only in OLD: {name}" for name in c.only_old] + [f"only in NEW: {name}" for name in c.only_new]
    lines += [f"warning: {w}" for w in c.warnings]
    counts = {v: sum(r.verdict == v for r in c.rows) for v in dict.fromkeys(r.verdict for r in c.rows)}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items()) or "nothing compared"
    lines.append(f"{summary}; {len(c.regressions)} regression(s) beyond {c.threshold:.0%}"
                 + (f"; {len(c.only_old) + len(c.only_new)} unmatched" if c.only_old or c.only_new else ""))
    return "\n".join(lines)
