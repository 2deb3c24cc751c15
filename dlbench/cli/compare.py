"""``dlbench compare OLD NEW``: regressions between two sets of records, with the run as the unit."""

from __future__ import annotations

import sys

import click


@click.command()
@click.argument("old", type=click.Path())
@click.argument("new", type=click.Path())
@click.option("--threshold", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Percent change below which a significant difference still counts as noise.")
def compare(old, new, threshold):
    """Compare the result records of NEW against OLD (directories or files), configuration by
    configuration; exit with status 1 if any is newly failing, or slower beyond --threshold AND
    beyond the between-run variation of both sides (at least 3 runs each; with fewer, a change
    is shown but decides nothing)."""
    from dlbench.analysis import compare as cmp, results

    outcome = cmp.compare(results.load_results(old), results.load_results(new), threshold / 100)
    click.echo(cmp.render(outcome))
    if outcome.regressions:
        sys.exit(1)
