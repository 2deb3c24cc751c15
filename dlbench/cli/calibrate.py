"""``dlbench calibrate``: measure this machine's GEMM ceiling per backend and precision."""

from __future__ import annotations

import sys

import click

from dlbench import registry


def _backends(listed: str | None) -> list[str]:
    if listed is None:
        return [name for name, info in registry.backends().items() if info.available]
    names = []
    for name in filter(None, (n.strip() for n in listed.split(","))):
        try:
            names.append(registry.get_backend(name).name)
        except Exception as e:
            raise click.BadParameter(str(e), param_hint="--backend") from None
    return list(dict.fromkeys(names))


@click.command()
@click.option("--backend", "-b", default=None, help="Comma-separated backends  [default: every installed one]")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "gpu"]))
@click.option("--seconds", default=2.0, show_default=True, type=click.FloatRange(min=0.1),
              help="How long to time each precision.")
@click.option("--size", default=None, type=click.IntRange(min=64),
              help="Matrix size n (n x n @ n x n)  [default: 2048 on cpu, 8192 on gpu]")
@click.option("--timeout", default=600.0, show_default=True, metavar="SECONDS",
              type=click.FloatRange(min=0, min_open=True),
              help="Kill a backend's worker after this many seconds; that backend fails, the others still run.")
def calibrate(backend, device, seconds, size, timeout):
    """Measure each backend's peak dense matmul FLOP/s on the device (float32, and TF32/bf16/fp16
    where the device has them) and store it as this machine's profile; runs then record their
    achieved FLOP/s as a share of it."""
    from tabulate import tabulate

    from dlbench.analysis.units import si
    from dlbench.calibration import datasheet, save_entries
    from dlbench.execution import isolation

    names = _backends(backend)
    if not names:
        raise click.UsageError("no backend is installed: pip install 'dlbench[torch]' (or tensorflow, jax)")
    rows, failed, saved = [], [], []
    for name in names:
        click.echo(f"calibrate: timing {name} matmuls on {device} ...", err=True)
        outcome = isolation.run_in_worker("calibrate", {"backend": name, "device": device, "seconds": seconds, "size": size}, timeout)
        if outcome.output is None:
            failed.append(name)
            click.echo(f"error: {name}: {outcome.error['kind']}: {outcome.error['message']}", err=True)
            continue
        saved.append(save_entries(outcome.output["entries"], outcome.output["accelerator"]))
        for key, entry in outcome.output["entries"].items():
            precision = key.rsplit("/", 1)[1]
            sheet = datasheet.peak(entry.get("device_name"), precision) if device == "gpu" else None
            rows.append((name, precision, entry["device_name"], f"{entry['size']}", si(entry["flops_per_s"], "FLOP/s"),
                         si(entry["median_flops_per_s"], "FLOP/s"),
                         f"{si(sheet[1], 'FLOP/s')} ({entry['flops_per_s'] / sheet[1]:.0%})" if sheet else "n/a"))
    if rows:
        click.echo(tabulate(rows, ["backend", "precision", "device", "n", "peak", "median", "datasheet (share)"]))
        for path in dict.fromkeys(saved):
            click.echo(f"profile saved to {path}", err=True)
    if failed:
        sys.exit(1)
