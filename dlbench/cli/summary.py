"""A result record as a human-readable table."""

from __future__ import annotations

from tabulate import tabulate

from dlbench.analysis.units import human_bytes, ms, si
from dlbench.result import Result


def rows(r: Result) -> list[tuple[str, str]]:
    c = r.config
    head = [("backend", f"{c['backend']} on {c['device']}"), ("model", c["model"]), ("dataset", c["dataset"])]
    if not r.ok:
        return head + [("status", f"FAILED ({r.error['kind']})"), ("reason", r.error["message"])]
    t, m, f, a = r.timing, r.model, r.flops, r.accuracy
    s = t["step_time_s"]
    accuracy = (
        (f"{a['top1']:.4f}", f"{a['top5']:.4f}") if a.get("top1") is not None else (f"n/a ({a['reason']})",) * 2
    )
    settings = ", ".join(f"{k}={v}" for k, v in r.backend["settings"].items()) or "defaults"
    return head + [
        ("settings", f"{settings}; batch {c['batch_size']}, {c['optimizer']} lr {r.config['lr'] or 'default'}, seed {c['seed']}"),
        ("device", str(r.environment.get("device_name"))),
        ("parameters", f"{m['params_trainable']:,} trainable + {m['params_non_trainable']:,} non-trainable"),
        ("MACs / sample", f"{m['macs_per_sample']:,}" if m["macs_per_sample"] is not None else "n/a (native model)"),
        ("steps", f"{t['steps_timed']} timed after {t['warmup_steps']} warm-up ({t['epochs_run']} epochs)"),
        ("step time median", ms(s["median"])),
        ("step time p10 / p90", f"{ms(s['p10'])} / {ms(s['p90'])}"),
        ("step time mean ± std", f"{ms(s['mean'])} ± {ms(s['std'])}"),
        ("throughput", f"{t['throughput_samples_per_s']:,.1f} samples/s"),
        ("time to first step", f"{t['time_to_first_step_s']:.3f} s (includes compilation)"),
        ("FLOPs / step analytic", si(f["per_train_step_analytic"], "FLOP")),
        ("FLOPs / step framework", f"{si(f['per_train_step_framework'], 'FLOP')} [{f['framework_method']}]"),
        ("achieved", si(f["achieved_flops_per_s"], "FLOP/s")),
        ("peak host memory", human_bytes(r.memory["host_peak_rss_bytes"])),
        ("peak device memory", human_bytes(r.memory["device_peak_bytes"])),
        ("top-1 accuracy", accuracy[0]),
        ("top-5 accuracy", accuracy[1]),
        ("loss first -> final", f"{r.loss['first']:.4f} -> {r.loss['final']:.4f}"),
        ("wall time", f"{t['wall_time_s']:.1f} s"),
    ]


def table(r: Result) -> str:
    return tabulate(rows(r), tablefmt="simple")
