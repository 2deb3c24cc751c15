"""``dlbench report``: a markdown report of result records, with plots beside it."""

from __future__ import annotations

import shlex
import sys

import click


def _command_line(*args: str | None) -> str:
    return " ".join(["dlbench", *(shlex.quote(a) for a in args if a is not None)])



@click.command()
@click.argument("results_dir", type=click.Path())
@click.option("--output", "-o", default="report.md", show_default=True, type=click.Path(dir_okay=False),
              help="Markdown file to write; plots go beside it as <name>-*.png.")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False), help="Also write every record as CSV.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--keep-going", is_flag=True,
              help="Write the report even when a section fails (the failure noted in its place); otherwise "
                   "a failing section leaves the report unwritten and exits 1.")
def report(results_dir, output, csv_path, no_plots, keep_going):
    """Write a markdown report (environment, fairness settings, one comparison per model, failures,
    plots) of the result records in RESULTS_DIR (or one record file)."""
    from dlbench.analysis import report as rep, results

    df = results.load_results(results_dir)
    for path, reason in df.attrs["skipped"]:
        click.echo(f"warning: skipped {path}: {reason}", err=True)
    command = _command_line("report", results_dir, "-o", output, *(("--csv", csv_path) if csv_path else ()),
                            "--no-plots" if no_plots else None)

    def failed(summary: str, tb: str) -> None:
        click.echo(f"error: {summary}\n{tb}", err=True)

    try:
        path = rep.write_report(df, output, command, plots=not no_plots, keep_going=keep_going, on_failure=failed)
    except rep.SectionFailed as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    click.echo(f"report written to {path}", err=True)
    if csv_path:
        click.echo(f"CSV written to {results.to_csv(df, csv_path)}", err=True)
