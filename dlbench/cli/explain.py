"""``dlbench explain``: where each backend's training step spends its time, layer group by layer group."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dlbench import registry
from dlbench.cli.examples import EXAMPLES
from dlbench.cli.options import backend_options, check_name, config_from, run_options, split


@click.command(epilog=EXAMPLES)
@run_options("explain", backend="torch,tensorflow,jax", steps=3, warmup=2)
@click.option("--tune/--no-tune", default=None,
              help="Time the performance settings first and profile the fastest, or profile the framework's "
                   "defaults.  [default: the tuned choice a run cached, else the defaults]")
@click.option("--isolated", is_flag=True,
              help="Also time every layer configuration alone on every backend (done anyway where the profiler "
                   "cannot attribute the layers).")
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1),
              help="Rounds of each isolated layer timing.")
@click.option("--output", default="results/explain", show_default=True, type=click.Path(file_okay=False),
              help="Where the records and the plot go.")
@click.option("--plot/--no-plot", "plots", default=True, show_default=True, help="Draw the stacked-bar plot.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.pass_context
def explain(ctx, options, tune, isolated, rounds, output, plots, quiet, **values):
    """Profile MODEL's training step on each BACKEND and show where the time goes, per layer group.

    Each backend runs in a worker of its own: the real step (at the settings a run would reuse) under
    the framework's profiler, a few steps after the warm-up (--steps of them), with unprofiled steps
    around them to measure the profiler's overhead. Ops are mapped back to the model's declaration;
    what no layer can claim (fusions across layers, framework overhead) is shown as such.
    """
    from dlbench.cli.progress import ProgressDisplay
    from dlbench.cli.verify import error_line
    from dlbench.execution.explain import explain as run_explain

    if values.get("model") is None:
        raise click.UsageError("Missing option '--model' / '-m': the model to explain")
    listed = split("backend", values["backend"] if values["backend"] is not None else "torch,tensorflow,jax")
    names = list(dict.fromkeys(registry.get_backend(check_name("backend", b)).name
                               for b in (listed if isinstance(listed, list) else [listed])))
    config = config_from(ctx, "explain", values, backend_options(options), backend=names[0], tune=tune)
    for name in names:  # before any worker: a backend that cannot train the model is refused up front
        if why := registry.unsupported(registry.get_model(config.model), registry.get_backend(name), "train",
                                       config.optimizer):
            raise click.UsageError(why)
    displays: list[ProgressDisplay] = []

    def sink(name):
        displays.append(ProgressDisplay(f"{name}/{config.model}", enabled=not quiet))
        return displays[-1]

    try:
        results = run_explain(config, names, isolated, rounds, lambda n: click.echo(f"explain: {n} ...", err=True),
                              sink)
    finally:
        for d in displays:
            d.close()
    for result in results:
        click.echo(f"record saved to {result.save(output)}", err=True)
    ok = {r.config["backend"]: r.to_dict() for r in results if r.ok}
    if ok:
        click.echo(render(ok, Path(output), plots))
    for r in results:
        if not r.ok:
            click.echo(f"error: {error_line(r.config['backend'], r.error)}", err=True)
    if len(ok) < len(results):
        sys.exit(1)


def render(records: dict[str, dict], folder: Path, plots: bool) -> str:
    """The table, its headline and notes; the plot saved in ``folder`` (its path on stderr)."""
    from dlbench.explain import compare, plot

    first = next(iter(records.values()))["config"]
    c = compare.compare(records)
    attributable = {n: r["breakdown"]["attributable"] for n, r in records.items()}
    title = f"{first['model']} on {first['dataset']}, batch {first['batch_size']}, {first['device']}"
    lines = [f"Where the time goes: {title} (ms per profiled step, mean of {first['steps']} steps)", "",
             *c.headline, "", compare.markdown(compare.table(c, attributable)), "", *compare.notes(records)]
    if plots:
        path = folder / f"explain-{first['model']}-{first['dataset']}-bs{first['batch_size']}.png"
        plot.plot(c, f"Where the time goes: {title}", path)
        click.echo(f"plot saved to {path}", err=True)
    return "\n".join(lines)
