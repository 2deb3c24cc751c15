"""``dlbench doctor``: is this machine fit to benchmark, and what to change if not."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--backend", "-b", default=None,
              help="Comma-separated backends to check  [default: every registered one; exit status 1 when "
                   "one requested here cannot run]")
@click.option("--seconds", default=3.0, show_default=True, type=click.FloatRange(min=0.5),
              help="How long the A/A noise estimate runs.")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds each backend's worker may take to describe itself.")
def doctor(backend, seconds, timeout):
    """Check the machine before benchmarking: backends and devices (whether each sees a GPU, and why
    not), threads and affinity, CPU frequency scaling, other busy processes, and an A/A noise
    estimate with a verdict and advice. The estimate is stored; later runs record it as
    environment.noise."""
    from dlbench.diagnostics import backends, noise, system

    def section(title: str, lines: list[str]) -> None:
        click.echo(f"{title}:")
        for line in lines:
            click.echo(f"  {line}")

    found = backends.report(backend, timeout)
    section("backends", [line for b in found for line in b["lines"]])
    section("threads and affinity", system.threads())
    section("CPU frequency scaling", system.frequency_scaling())
    section("other busy processes", system.busy())
    click.echo(f"timing a fixed numpy workload for {seconds:g} s ...", err=True)
    estimate = noise.measure(seconds)
    path = noise.save(estimate)
    section("noise (A/A)", noise.describe(estimate))
    click.echo(f"verdict: {estimate['verdict']} (CV {estimate['cv']:.1%})")
    click.echo(f"noise estimate saved to {path}; runs record it as environment.noise", err=True)
    if backend is not None and not all(b["ok"] for b in found):
        sys.exit(1)
