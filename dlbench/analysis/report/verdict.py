"""The verdict the report opens with: per model × dataset × batch (× tokens per sequence, for a
language model) × device × precision, the fastest
backend at its tuned settings, every other backend's ratio to it, and the framework-defaults answer
beside it. The inference section gives one of its own, per request, each deployment path a backend."""

from __future__ import annotations

import pandas as pd

from dlbench.analysis import stats
from dlbench.analysis.report import text
from dlbench.analysis.report.cells import GROUP, batch_text, settings_text
from dlbench.analysis.units import ms


def best_per_backend(cells: pd.DataFrame) -> list[dict]:
    """Each backend's fastest cell, fastest backend first."""
    best = {}
    for c in cells.to_dict("records"):
        if c["backend"] not in best or c["stats"].median < best[c["backend"]]["stats"].median:
            best[c["backend"]] = c
    return sorted(best.values(), key=lambda c: c["stats"].median)


def _chosen(c: dict) -> str:
    return f" ({settings_text(c['settings'])})" if c["settings"] else ""


def side(cells: pd.DataFrame, with_settings: bool, per: str = "step") -> tuple[str, str]:
    """(fastest, others) texts for one row and one side (tuned or defaults); dashes when empty.
    ``per``: what one timed unit is (a training ``step``, an inference ``request``)."""
    ranked = best_per_backend(cells)
    if not ranked:
        return "—", "—"
    top = ranked[0]
    extra = _chosen(top) if with_settings else ""
    caveat = f" ({top['stats'].caveat})" if top["stats"].caveat else ""
    fastest = f"**{top['backend']}** {ms(top['stats'].median)}/{per}{extra}{caveat}" if len(ranked) > 1 \
        else f"{top['backend']} only{extra}"
    others = "; ".join(
        f"{c['backend']} {text.ratio(stats.ratio(list(c['stats'].run_medians), list(top['stats'].run_medians)))}"
        + (_chosen(c) if with_settings else "") for c in ranked[1:]) or "—"
    return fastest, others


def verdict_table(cells: pd.DataFrame, per: str = "step") -> tuple[pd.DataFrame, list[str], list[str]]:
    """(table, notes, warnings). Tuned side: records with tuning on; defaults side: untuned records
    that set no backend option (old records without tuning fields count as defaults)."""
    tuned_any = bool(cells["tuned"].any())
    defaults_mask = ~cells["tuned"].astype(bool) & ~cells["explicit_options"].astype(bool)
    defaults_any = bool(defaults_mask.any())
    rows, warns = [], []
    for key, g in cells.groupby(GROUP, sort=True):
        model, dataset, batch, seq_len, device, precision = key
        used = dict.fromkeys(g["precision_used"])
        row = {"model": model, "dataset": dataset, "batch": batch_text(batch, seq_len), "device": device,
               "precision": " / ".join(used) + (" ⚠" if len(used) > 1 else "")}
        runs = sorted({c.runs for c in g["stats"]})
        row["runs per backend"] = str(runs[0]) if len(runs) == 1 else f"{runs[0]}–{runs[-1]}"
        if tuned_any:
            row["fastest, tuned (settings that won)"], row["others ÷ fastest, tuned [95% CI]"] = \
                side(g[g["tuned"].astype(bool)], with_settings=True, per=per)
        if defaults_any:
            row["fastest, framework defaults"], row["others ÷ fastest, defaults [95% CI]"] = \
                side(g[defaults_mask[g.index]], with_settings=False, per=per)
        rows.append(row)
        if len(used) > 1:
            detail = ", ".join(f"{c['label']} {c['precision_used']}" for _, c in g.iterrows())
            warns.append(f"{model} {dataset} batch {batch_text(batch, seq_len)}: backends ran different precisions "
                         f"({detail})")
    notes = []
    if not tuned_any:
        notes.append("No record here ran with tuned settings (`--tune`, the default for `run` and `sweep` since "
                     "tuning was added): every answer below is the framework-defaults one.")
    if not defaults_any:
        notes.append("No record here ran at plain framework defaults (`--no-tune`), so there is no out-of-the-box "
                     "answer to show beside the tuned one.")
    return pd.DataFrame(rows), notes, list(dict.fromkeys(warns))
