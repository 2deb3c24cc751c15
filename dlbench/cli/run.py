"""``dlbench run``: one run in an isolated worker, its summary, its record saved."""

from __future__ import annotations

import sys

import click

from dlbench.cli.examples import EXAMPLES
from dlbench.cli.options import backend_options, config_from, run_options


@click.command(epilog=EXAMPLES)
@run_options("run")
@click.option("--output", default="results", show_default=True, type=click.Path(file_okay=False), help="Where result records go.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result record as JSON on stdout, nothing else.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.pass_context
def run(ctx, options, output, as_json, quiet, **values):
    """Train (or serve) MODEL on BACKEND in an isolated process and record what it measured."""
    from dlbench.cli import summary
    from dlbench.cli.progress import ProgressDisplay
    from dlbench.execution import launcher, runner

    config = config_from(ctx, "run", values, backend_options(options))
    display = ProgressDisplay(f"{config.backend}/{config.model}", enabled=not quiet)
    try:
        result = runner.run(config, on_event=display)
    finally:
        display.close()
    launch = launcher.detect()
    if not launcher.writes_record(config.replicas, launch):
        click.echo(f"dlbench: {launch.describe()} of a {config.replicas}-replica run: process 0 writes the record",
                   err=True)
        sys.exit(0 if result.ok else 1)
    path = result.save(output)
    if as_json:
        click.echo(result.to_json())
    else:
        click.echo(summary.table(result))
    click.echo(f"result saved to {path}", err=True)
    if not result.ok:
        click.echo(failure_message(result, path), err=True)
        sys.exit(1)


def failure_message(result, path) -> str:
    """The error in one line, where its traceback is kept, and with ``--debug`` the traceback itself."""
    from dlbench.plugins import debug

    error = result.error
    kept = "error.traceback" if error.get("traceback") else "error.stderr_tail" if error.get("stderr_tail") else None
    line = f"error: {error['message']}"
    if kept and debug():
        return f"{line}\n{error.get('traceback') or error['stderr_tail']}".rstrip()
    return f"{line}\n  (the worker's traceback is in the record's {kept}: {path}; --debug prints it)" if kept else line
