"""The ``dlbench`` command line: the group and its commands, one module each."""

from __future__ import annotations

import os
import sys
from importlib import metadata

import click

from dlbench import paths
from dlbench.cli.calibrate import calibrate
from dlbench.cli.compare import compare
from dlbench.cli.describe import describe
from dlbench.cli.doctor import doctor
from dlbench.cli.examples import EXAMPLES
from dlbench.cli.explain import explain
from dlbench.cli.listing import list_
from dlbench.cli.report import report
from dlbench.cli.run import run
from dlbench.cli.sweep import sweep
from dlbench.cli.verify import verify
from dlbench.errors import DlbenchError


@click.group(epilog=EXAMPLES)
@click.version_option(metadata.version("dlbench"), prog_name="dlbench")
@click.option("--debug", is_flag=True, help="Print full tracebacks: a failed run's worker's, a plugin's that did not "
                                            "load (the same as DLBENCH_DEBUG=1).")
def cli(debug):
    """Benchmark the same models and training loop on PyTorch, TensorFlow and JAX."""
    if debug:
        os.environ["DLBENCH_DEBUG"] = "1"  # workers inherit it
    paths.warn_retired()


for _command in (run, verify, explain, describe, list_, sweep, report, compare, calibrate, doctor):
    cli.add_command(_command)


def main():
    try:
        cli(standalone_mode=True)
    except DlbenchError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
