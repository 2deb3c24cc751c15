"""How statistics read in a table: step times with their interval or their caveat, ratios, targets."""

from __future__ import annotations

import pandas as pd

from dlbench.analysis import stats
from dlbench.analysis.units import ms


def md(table: pd.DataFrame) -> str:
    """A GitHub markdown table, columns padded, every cell as text (tabulate's type sniffing is slow)."""
    columns = [str(c) for c in table.columns]
    body = [[str(v) for v in row] for row in zip(*(table[c].tolist() for c in table.columns))]
    widths = [max([len(c), 3, *(len(row[i]) for row in body)]) for i, c in enumerate(columns)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(columns), "|" + "|".join(":" + "-" * (w + 1) for w in widths) + "|", *map(line, body)])


def cellsafe(text: object, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return (text[:limit] + "…" if len(text) > limit else text).replace("|", "\\|")


def warnings(items: list[str]) -> list[str]:
    return [f"> **Warning:** {w}  " for w in items] + ([""] if items else [])


def step_time(st: stats.CellStats) -> str:
    """``7.06 ms [6.90–7.20]`` with enough runs, else the median and what it lacks."""
    if st.ci is None:
        return f"{ms(st.median)} ({st.caveat})"
    return f"{ms(st.median)} [{st.ci.low * 1e3:,.2f}–{st.ci.high * 1e3:,.2f}]"


def ratio(r: stats.Ratio) -> str:
    """``1.23× [1.10–1.35]``, with ``n.s.`` when the interval contains 1; no interval and no mark
    when either side has too few runs."""
    if r.ci is None:
        fewest = min(r.runs)
        return f"{r.estimate:.2f}× ({fewest} run{'s' * (fewest != 1)}: no interval)"
    return f"{r.estimate:.2f}× [{r.ci.low:.2f}–{r.ci.high:.2f}]" + ("" if r.significant else " n.s.")


def runs(st: stats.CellStats, timing_mode: str = "step", window: object = None) -> str:
    per = st.steps // st.runs
    unit = f"windows of {int(window)} steps" if timing_mode == "window" and window else "steps"
    return f"{st.runs} × {per} {unit}" if st.runs > 1 else f"1 × {st.steps} {unit}"


#: per metric a time-to-target run is set on: (its name in a heading, in a sentence, the axis label,
#: whether higher is better)
TARGET_METRICS = {"top1": ("top-1", "top-1", "test top-1 accuracy", True),
                  "val_loss": ("val loss", "validation loss", "validation loss (nats per token)", False),
                  "perplexity": ("perplexity", "perplexity", "validation perplexity", False)}


def target_metric(name: str) -> tuple[str, str, str, bool]:
    return TARGET_METRICS.get(name, (name, name, name, False))


def target_text(metric: str, target: float) -> str:
    """A target as headings name it: ``top-1 0.89`` (as before language models), ``val loss ≤ 1.8``."""
    short, _, _, higher = target_metric(metric)
    return f"{short} {target:g}" if metric == "top1" else f"{short} {'≥' if higher else '≤'} {target:g}"
