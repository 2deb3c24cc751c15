"""The detailed tables: environment, fairness settings, per-model speed and resources, failures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dlbench.analysis import stats
from dlbench.analysis.report import text
from dlbench.analysis.report.cells import GROUP, batch_text, label, present, settings_text
from dlbench.analysis.units import human_bytes, si

MACHINE_ROWS = {"cpu": "CPU", "logical_cores": "logical cores", "usable_cores": "usable cores",
                "device_name": "device", "platform": "OS", "python": "Python", "numpy": "NumPy", "dlbench": "dlbench"}
SAME_MACHINE_KEYS = ("cpu", "logical_cores", "usable_cores", "python")  # must agree for times to be comparable
HIDDEN_ENV_KEYS = ("argv", "framework")
ENV_FORMATS = {"noise.cv": lambda cv: f"{cv:.1%}"}  # `dlbench doctor`'s drift CV, a fraction
#: the settings that switched a compiler, for records written before ``backend.compilation`` said so
LEGACY_COMPILE_KEYS = ("compile", "xla", "jit", "jit_compile")
FLOPS_DISAGREE = 0.25  # framework and analytic FLOPs further apart than this are flagged


def distinct(values) -> list[str]:
    def fmt(v):
        if isinstance(v, dict):
            return ", ".join(f"{k}={x}" for k, x in v.items()) or "(none)"
        if isinstance(v, float) and v.is_integer():  # an int column that pandas widened to hold NaN
            return str(int(v))
        return str(v)
    return list(dict.fromkeys(fmt(v) for v in values if present(v)))


def environment_section(ok: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows: environment fields (machine first); columns: backends. Plus warnings."""
    keys = [c.removeprefix("environment.") for c in ok.columns if c.startswith("environment.")]
    keys = [k for k in MACHINE_ROWS if k in keys] + [k for k in keys if k not in MACHINE_ROWS and k not in HIDDEN_ENV_KEYS]
    table = {"": [MACHINE_ROWS.get(k, k.replace("_", " ")) for k in keys]}
    warnings = []
    for backend, g in ok.groupby("config.backend", sort=True):
        column = []
        for k in keys:
            raw = g[f"environment.{k}"]
            values = distinct(raw.map(ENV_FORMATS[k], na_action="ignore") if k in ENV_FORMATS else raw)
            column.append(" / ".join(values) or "—")
            if len(values) > 1 and not k.startswith("noise."):
                warnings.append(f"{backend}: `{k}` differs between records: {', '.join(values)}")
        table[backend] = column
    for k in SAME_MACHINE_KEYS:
        if f"environment.{k}" in ok and len(values := distinct(ok[f"environment.{k}"])) > 1:
            warnings.append(f"records come from different machines or setups: `{k}` is {' vs '.join(values)}")
    return pd.DataFrame(table), list(dict.fromkeys(warnings))


def _compile_state(settings: dict, compilation: dict | None) -> tuple[str, bool | None]:
    """(the setting that switches the compiler, whether it compiled), as the backend declared it in
    the record (:meth:`dlbench.backend.Backend.compilation`), else guessed from the setting's name."""
    if compilation:
        return f"{compilation['setting']}={compilation['value']}", compilation["compiled"]
    for k in LEGACY_COMPILE_KEYS:
        if k in settings:
            return f"{k}={settings[k]}", bool(settings[k])
    return "no switch", None


def _compile_states(g: pd.DataFrame) -> pd.Series:
    compilation = g["backend.compilation"] if "backend.compilation" in g else pd.Series(None, index=g.index)
    return pd.Series([_compile_state(s or {}, c) for s, c in zip(g["backend.settings"], compilation)], index=g.index)


MEASURED_MODES = ("tuned", "cached")  # settings a tuner chose by timing them on this machine


def _per_model(g: pd.DataFrame, texts: pd.Series) -> str:
    """``texts`` (one per record) of a backend's records; where it differs, the models that ran each."""
    models: dict[str, set] = {}
    for model, text in zip(g["config.model"], texts):
        models.setdefault(text, set()).add(model)
    if len(models) == 1:
        return next(iter(models))
    return "; ".join(f"{d} ({', '.join(sorted(m))})" for d, m in models.items())


def fairness_section(ok: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Settings that decide whether backends are compared like for like, one row per backend
    variant (tuned apart from the rest), with a warning for each that differs between backends.
    Graph compilation a tuner chose by measurement is fair by construction, so only the other
    records' compilation is held to one setting."""
    rows, compiled = [], {}
    labels = [label({"config.backend": b, "config.backend_options": o})
              for b, o in zip(ok["config.backend"], ok["config.backend_options"])]
    measured = ok.get("tuning.mode", pd.Series(None, index=ok.index)).isin(MEASURED_MODES)
    for (lab, by_tuner), g in ok.groupby([pd.Series(labels, index=ok.index), measured], sort=True):
        threads = distinct(g.get("environment.threads", pd.Series(dtype=object)))
        modes = distinct(g.get("tuning.mode", pd.Series(dtype=object)))
        states = _compile_states(g)
        rows.append({
            "backend": lab, "device": ", ".join(distinct(g["config.device"])),
            "batch sizes": ", ".join(str(b) for b in sorted(set(g["config.batch_size"]))),
            "tuning": " / ".join(modes) or ("tuned" if g.get("config.tune", pd.Series([False])).fillna(False).any()
                                             else "none (framework defaults)"),
            "graph compilation": _per_model(g, states.map(lambda state: state[0])),
            "precision": " / ".join(distinct(g.get("environment.precision", pd.Series(dtype=object)))) or "—",
            "threads": " / ".join(threads) or "—",
            "settings": _per_model(g, g["backend.settings"].map(lambda s: settings_text(s or {}))),
        })
        if not by_tuner:
            compiled[lab] = set(states)
    warnings = []
    if len({on for states in compiled.values() for _, on in states if on is not None}) > 1:
        detail = ", ".join(f"{lab.split()[0]} {t}" for lab, states in compiled.items() for t, _ in sorted(states))
        warnings.append(f"graph compilation differs where no tuner chose it ({detail}): eager and compiled steps are "
                        "not like for like")
    for name in ("precision", "threads", "device", "batch sizes"):
        per_backend: dict[str, set] = {}
        for r in rows:
            if r[name] != "—":
                per_backend.setdefault(r["backend"].split()[0], set()).update(r[name].split(", "))
        if len({frozenset(v) for v in per_backend.values()}) > 1:
            warnings.append(f"{name} differs between backends: " + ", ".join(
                f"{b} {', '.join(sorted(v, key=_natural))}" for b, v in sorted(per_backend.items())))
    return pd.DataFrame(rows), warnings


def _natural(value: str) -> tuple:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def versus(cells: pd.DataFrame) -> dict[str, str]:
    """Each cell against the fastest cell of its verdict row (model, dataset, batch, tokens per
    sequence, device, precision)."""
    out = {}
    for _, group in cells.groupby(GROUP):
        fastest = group.loc[group["stats"].map(lambda s: s.median).idxmin()]
        for c in group.to_dict("records"):
            if c["cell"] == fastest["cell"]:
                out[c["cell"]] = "fastest" if len(group) > 1 else "—"
            else:
                r = stats.ratio(list(c["stats"].run_medians), list(fastest["stats"].run_medians))
                out[c["cell"]] = text.ratio(r).replace("×", "× slower", 1)
    return out


def _memory(c: dict) -> str:
    if c["training_bytes"] is not None:
        return (f"{human_bytes(c['training_bytes'])} / {human_bytes(c['baseline_bytes'])} / "
                f"{human_bytes(c['peak_bytes'])}")
    return f"peak {human_bytes(c['peak_bytes'])} (older record: peak only)"


def _utilisation(c: dict) -> str:
    u = c["utilisation"]
    if isinstance(u, dict) and present(u.get("share")):
        return f"{u['share']:.1%} of {si(u.get('ceiling_flops_per_s'), 'FLOP/s')} ({u.get('ceiling_source', '?')})"
    return f"n/a: {c['utilisation_note']}" if c["utilisation_note"] else "n/a"


def _framework_flops(c: dict) -> str:
    fw, an = c["flops_framework"], c["flops_analytic"]
    if fw is None:
        return f"n/a: {c['framework_note']}" if c["framework_note"] else "n/a"
    flag = f" ⚠ {fw / an - 1:+.0%} vs analytic" if an and abs(fw / an - 1) > FLOPS_DISAGREE else ""
    return si(fw, "FLOP") + flag


def _quality_missing(c: dict) -> str:
    """Why a language model's cell has no validation loss: its data, or the record's reason."""
    if not c["real_data"]:
        return "n/a: synthetic data (random tokens)"
    return f"n/a: {c['accuracy_reason']}" if c["accuracy_reason"] else "n/a"


def _quality(c: dict, language: bool, image: bool) -> dict[str, str]:
    """The quality columns: a classifier's top-1/top-5, a language model's validation loss (with
    bits per token) and perplexity; a table of one kind shows only its kind's columns."""
    lm = bool(c["language_model"])
    out = {}
    if language:
        out["val loss (nats/token)"] = ("—" if not lm else f"{c['val_loss']:.4f} ({c['bits_per_token']:.3f} bits)"
                                        if c["val_loss"] is not None else _quality_missing(c))
        out["perplexity"] = "—" if not lm else f"{c['perplexity']:.2f}" if c["perplexity"] is not None else "n/a"
    if image:
        out["top-1"] = ("—" if lm else f"{c['top1']:.4f}" if c["top1"] is not None
                        else f"n/a: {c['accuracy_reason']}")
        out["top-5"] = "—" if lm else f"{c['top5']:.4f}" if c["top5"] is not None else "n/a"
    return out


def _throughput(c: dict, language: bool) -> dict[str, str]:
    """Throughput: examples/s, and for a language model its tokens/s first (sequences of different
    lengths compare by tokens), with the sequences/s beside them."""
    if not language:
        return {"throughput": f"{c['throughput']:,.1f}/s"}
    out = {"tokens/s": f"{c['tokens_throughput']:,.0f}" if c["tokens_throughput"] is not None else "—"}
    return {**out, "sequences/s": f"{c['throughput']:,.1f}"}


def model_tables(cells: pd.DataFrame, model: str, against: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(speed table, resources table, warnings) for one model; rows are backend × dataset × batch
    size (× tokens per sequence, for a language model)."""
    mine = cells[cells["model"] == model].copy()
    mine["_median"] = mine["stats"].map(lambda s: s.median)
    mine = mine.sort_values(["dataset", "batch_size", "seq_len", "precision", "_median"])
    language = bool(mine["language_model"].astype(bool).any())
    image = not mine["language_model"].astype(bool).all()
    aimed = bool(mine["target"].notna().any())  # time-to-target runs: each row names its target
    speed, resources, warns = [], [], []
    for c in mine.to_dict("records"):
        st: stats.CellStats = c["stats"]
        head = {"backend": c["variant"], "dataset": c["dataset"], "batch": c["batch_size"],
                **({"tokens/sequence": c["seq_len"] or "—"} if language else {}),
                **({"target": c["target"] or "—"} if aimed else {}), "precision": c["precision_used"]}
        noisy = " ⚠ noisy" if st.noisy else ""
        speed.append({
            **head, "settings": f"{settings_text(c['settings'])} ({c['tuning']})",
            "runs": text.runs(st, c["timing_mode"], c["window"]),
            "step time: median of runs [95% CI across runs]": text.step_time(st),
            "run medians": "–".join(f"{m * 1e3:,.2f}" for m in (st.run_medians[0], st.run_medians[-1]))
            + " ms" if st.runs > 1 else "—",
            "within-run p10–p90": f"{st.p10 * 1e3:,.2f}–{st.p90 * 1e3:,.2f} ms",
            "jitter (MAD) / CV": f"{st.jitter:.1%} / {st.cv:.1%}{noisy}",
            **_throughput(c, language),
            "vs fastest": against[c["cell"]],
            "first step": f"{c['first_step']:.3f} s" if c["first_step"] is not None else "n/a",
        })
        trainable, frozen = c["params"]
        resources.append({
            **{k: head[k] for k in ("backend", "dataset", "batch", "tokens/sequence", "target") if k in head},
            "achieved FLOP/s": si(c["achieved"], "FLOP/s"), "utilisation (of ceiling)": _utilisation(c),
            "FLOPs/step analytic": si(c["flops_analytic"], "FLOP"), "FLOPs/step framework": _framework_flops(c),
            "host memory: training / baseline / peak": _memory(c),
            "peak device memory": human_bytes(c["device_mem"]) if c["device_mem"] is not None
            else "n/a (CPU)" if c["device"] == "cpu" else "n/a",
            "parameters": (f"{int(trainable):,}" + (f" + {int(frozen):,} non-trainable" if present(frozen) and frozen else ""))
            if present(trainable) else "n/a",
            **_quality(c, language, image),
        })
    for key, g in mine.groupby(["dataset", "batch_size", "seq_len", "device"]):
        if len(used := dict.fromkeys(g["precision_used"])) > 1:
            warns.append(f"{model} {key[0]} batch {batch_text(key[1], key[2])}: backends in this table ran different "
                         f"precisions ({', '.join(used)}); their speeds are not like for like")
    return pd.DataFrame(speed), pd.DataFrame(resources), warns


def failures_table(df: pd.DataFrame) -> pd.DataFrame:
    failed = df[df["status"] != "ok"]
    return pd.DataFrame([{
        "backend": label(f), "model": f["config.model"], "dataset": f["config.dataset"], "batch": f["config.batch_size"],
        "repeat": "—" if pd.isna(f["repeat"]) else int(f["repeat"]) + 1, "kind": f.get("error.kind"),
        "reason": text.cellsafe(f.get("error.message")), "record": Path(f["path"]).name,
    } for _, f in failed.iterrows()])
