"""A result record as a human-readable table."""

from __future__ import annotations

from tabulate import tabulate

from dlbench import registry
from dlbench.analysis.units import human_bytes, ms, si
from dlbench.measure.target import describe as describe_target
from dlbench.result import Result
from dlbench.tuning import describe


def rows(r: Result) -> list[tuple[str, str]]:
    c = r.config
    head = [("backend", f"{c['backend']} on {c['device']}"), ("model", c["model"]), ("dataset", data_used(r))]
    if not r.ok:
        return head + [("status", f"FAILED ({r.error['kind']})"), ("reason", r.error["message"])]
    if r.inference:  # --task inference: latencies instead of step times, loss and accuracy
        return head + inference_rows(r)
    t, m, f, a = r.timing, r.model, r.flops, r.accuracy
    s = t["step_time_s"]
    accuracy = (
        (f"{a['top1']:.4f}", f"{a['top5']:.4f}") if a.get("top1") is not None else (f"n/a ({a['reason']})",) * 2
    )
    quality = [("top-1 accuracy", accuracy[0]), ("top-5 accuracy", accuracy[1])]
    if a.get("val_loss") is not None:  # a language model
        quality = [("validation loss", f"{a['val_loss']:.4f} nats per token ({a['bits_per_token']:.3f} bits)"),
                   ("perplexity", f"{a['perplexity']:.2f}")]
    settings = ", ".join(f"{k}={v}" for k, v in r.backend["settings"].items()) or "defaults"
    return head + [
        ("settings", f"{settings}; batch {c['batch_size']}, {c['optimizer']} lr {r.config['lr'] or 'default'}, seed {c['seed']}"),
        ("tuning", describe(r.tuning)),
        *parallel_rows(r.distributed or {}),
        ("device", str(r.environment.get("device_name"))),
        ("precision", str(r.environment.get("precision", r.config.get("precision")))),
        ("parameters", f"{m['params_trainable']:,} trainable + {m['params_non_trainable']:,} non-trainable"),
        ("MACs / sample", f"{m['macs_per_sample']:,}" if m["macs_per_sample"] is not None else "n/a (native model)"),
        ("steps", f"{t['steps_timed']} timed after {t['warmup_steps']} warm-up ({t['epochs_run']} epochs); {timing_mode(t)}"),
        *step_time_rows(t),
        ("time to first step", f"{t['time_to_first_step_s']:.3f} s (includes compilation)"),
        ("FLOPs / step analytic", si(f["per_train_step_analytic"], "FLOP")),
        ("FLOPs / step framework", framework_flops(f)),
        ("achieved", si(f["achieved_flops_per_s"], "FLOP/s")),
        ("utilisation", utilisation(f)),
        *memory_rows(r.memory),
        *quality,
        ("loss first -> final", f"{r.loss['first']:.4f} -> {r.loss['final']:.4f}"),
        ("wall time", f"{t['wall_time_s']:.1f} s"),
        *([("time to accuracy", describe_target(r.target))] if r.target else []),
    ]


def parallel_rows(d: dict) -> list[tuple[str, str]]:
    """A data-parallel run's replicas, processes and nodes, and its collectives."""
    if d.get("replicas", 1) == 1:
        return []
    where = f"in {d.get('processes', 1)} process{'es' * (d.get('processes', 1) != 1)}"
    where += f" on {d['nodes']} nodes" if d.get("nodes", 1) > 1 else ""
    over = f", {d['collectives']}" if d.get("collectives") else ""
    return [("replicas", f"{d['replicas']} {where}{over}; global batch {d['global_batch']}")]


def step_time_rows(t: dict) -> list[tuple[str, str]]:
    s = t["step_time_s"]
    if not s:
        return [("step time", f"n/a: {t.get('note') or 'no step was timed'}")]
    return [("step time median", ms(s["median"])),
            ("step time p10 / p90", f"{ms(s['p10'])} / {ms(s['p90'])}"),
            ("step time mean ± std", f"{ms(s['mean'])} ± {ms(s['std'])}"),
            ("throughput", f"{t['throughput_samples_per_s']:,.1f} samples/s"
                           + (f", {t['throughput_tokens_per_s']:,.0f} tokens/s" if t.get("throughput_tokens_per_s") else ""))]


def data_used(r: Result) -> str:
    """The data a run used: real (with its split sizes), or generated, with how to measure accuracy."""
    c, d = r.config, r.dataset or {}
    if d.get("real", c["dataset"] != "synthetic"):
        sizes = f": {d['train_size']:,} train / {d['test_size']:,} test" if d.get("train_size") else ""
        return f"{c['dataset']} (real data{sizes})"
    info = registry.models().get(c["model"])
    if info is not None and info.inputs == "tokens":
        real = "shakespeare --epochs 1"
    elif (r.model or {}).get("num_classes") == 1000:
        real = "imagefolder --data-dir DIR --epochs 10"
    else:
        real = "digits"
    return f"{c['dataset']} (random data: speed only; for accuracy: dlbench run -b {c['backend']} -m {c['model']} -d {real})"


def timing_mode(t: dict) -> str:
    if t.get("mode") == "window":
        return f"one sync per window of {t['window']} steps ({len(t['window_times_s'])} windows)"
    return "synced after every step"


def framework_flops(f: dict) -> str:
    if f.get("per_train_step_framework") is None and f.get("framework_note"):
        return f"n/a ({f['framework_note']})"
    return f"{si(f['per_train_step_framework'], 'FLOP')} [{f['framework_method']}]"


def utilisation(f: dict) -> str:
    u = f.get("utilisation")
    if not u:
        return f"n/a ({f.get('utilisation_note') or 'not measured'})"
    text = f"{u['share']:.1%} of {si(u['ceiling_flops_per_s'], 'FLOP/s')} [{u['ceiling_source']}]"
    if u.get("datasheet_share") is not None:
        text += f"; {u['datasheet_share']:.1%} of the datasheet's {si(u['datasheet_flops_per_s'], 'FLOP/s')}"
    return text


def memory_rows(mem: dict) -> list[tuple[str, str]]:
    """Training memory first (what training needs beyond the framework's own footprint), then peaks."""
    rows = []
    if mem.get("training_bytes") is not None:
        first = mem.get("first_step_bytes")
        by_first = f", {human_bytes(first)} of it by the end of the first step" if first is not None else ""
        rows.append(("training memory", f"{human_bytes(mem['training_bytes'])} above a baseline of "
                                        f"{human_bytes(mem['baseline_rss_bytes'])}{by_first} [{mem['method']}]"))
    rows.append(("peak host memory", human_bytes(mem.get("peak_rss_bytes") or mem["host_peak_rss_bytes"])))
    rows.append(("peak device memory", human_bytes(mem["device_peak_bytes"])))
    if mem.get("device_process_bytes") is not None:
        rows.append(("device memory of the process", f"{human_bytes(mem['device_process_bytes'])} (NVML)"))
    return rows


def inference_rows(r: Result) -> list[tuple[str, str]]:
    """The rows of an inference record: latency percentiles, compute only and end to end."""
    i, c, m = r.inference, r.config, r.model
    settings = ", ".join(f"{k}={v}" for k, v in r.backend["settings"].items()) or "defaults"

    def lat(section: dict) -> str:
        s = section["latency_s"]
        return (f"p50 {ms(s['p50'])}, p90 {ms(s['p90'])}, p99 {ms(s['p99'])}, max {ms(s['max'])}; "
                f"{section['throughput_samples_per_s']:,.1f} samples/s")

    return [
        ("task", f"inference, batch {c['batch_size']}, {i['requests']} requests in {i['duration_s']:.1f} s "
                 f"after {i['warmup_calls']} warm-up"),
        ("served by", served_by(i)),
        ("settings", settings),
        ("tuning", describe(r.tuning)),
        ("device", str(r.environment.get("device_name"))),
        ("precision", str(r.environment.get("precision", r.config.get("precision")))),
        ("parameters", f"{m['params_trainable']:,} trainable + {m['params_non_trainable']:,} non-trainable"),
        ("latency compute only", lat(i)),
        ("latency end to end", lat(i["end_to_end"])),
        ("first call", f"{i['first_call_s']:.3f} s (includes compilation)"),
        ("achieved", si(r.flops.get("achieved_flops_per_s"), "FLOP/s")),
        ("peak host memory", human_bytes(r.memory.get("peak_rss_bytes") or r.memory["host_peak_rss_bytes"])),
        ("peak device memory", human_bytes(r.memory["device_peak_bytes"])),
        ("wall time", f"{r.timing['wall_time_s']:.1f} s"),
    ]


def served_by(i: dict) -> str:
    """The deployment path that served an inference run (records from before ``--serve``: the eval step)."""
    d = i.get("deployment")
    if not d or i.get("path") != "export":
        return "eval step (--serve step)"
    return f"{d['label']}: {d['what']}; exported, compiled, written and loaded in {d['export_s']:.1f} s"


def table(r: Result) -> str:
    return tabulate(rows(r), tablefmt="simple")
