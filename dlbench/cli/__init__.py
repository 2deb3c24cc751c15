"""What talks to the user: the ``dlbench`` command line, its progress display and summaries."""

from dlbench.cli.main import cli, main

__all__ = ["cli", "main"]
