"""The `graphsaver` command line (needs the `cli` extra: click and rich)."""

from graphsaver.cli import inspect, manage  # noqa: F401  (registers the commands)
from graphsaver.cli.app import cli, main

__all__ = ["cli", "main"]
