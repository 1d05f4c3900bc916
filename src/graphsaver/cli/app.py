"""The `graphsaver` command group, its shared options, and the one place errors become exit codes.

Exit codes: 0 success, 1 error (any GraphsaverError not listed here), 2 usage error (bad
option or argument), 3 not found (thread or checkpoint), 4 conflict (the target thread
already exists). Errors print one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console

import graphsaver
from graphsaver.history import Progress, jsonable

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_CONFLICT = 1, 2, 3, 4
EXIT_CODES: list[tuple[type[graphsaver.GraphsaverError], int]] = [
    (graphsaver.CheckpointNotFoundError, EXIT_NOT_FOUND),
    (graphsaver.ThreadExistsError, EXIT_CONFLICT),
    (graphsaver.GraphsaverError, EXIT_ERROR),
]


class CommandError(click.ClickException):
    """A GraphsaverError as the CLI reports it: one line and a documented exit code."""

    def __init__(self, error: graphsaver.GraphsaverError) -> None:
        super().__init__(" ".join(str(error).split()))
        self.exit_code = next(code for kind, code in EXIT_CODES if isinstance(error, kind))  # type: ignore[misc]


class Group(click.Group):
    """Converts every GraphsaverError raised by a command, here and nowhere else."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except graphsaver.GraphsaverError as exc:
            raise CommandError(exc) from None


@click.group(cls=Group)
@click.version_option(package_name="graphsaver")
def cli() -> None:
    """Browse and manage LangGraph checkpoints stored by graphsaver.

    Pick the database with --url or the GRAPHSAVER_URL environment variable (any URL that
    graphsaver.connect accepts). Every command prints a table, or JSON with --json.

    \b
    Exit codes: 0 ok, 1 error, 2 usage error, 3 thread or checkpoint not found,
    4 target thread already exists.

    \b
    Example:
        export GRAPHSAVER_URL=sqlite:///agent.db
        graphsaver threads
    """


def main() -> None:
    """The console script."""
    cli(prog_name="graphsaver")


# --- shared options --------------------------------------------------------------------------


def url_option(f: F) -> F:
    return click.option(
        "--url",
        envvar="GRAPHSAVER_URL",
        required=True,
        help="Database URL, e.g. sqlite:///agent.db (default: $GRAPHSAVER_URL).",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


def ns_option(f: F) -> F:
    return click.option(
        "--ns", "checkpoint_ns", default="", help="Checkpoint namespace (default: the root graph)."
    )(f)


@contextmanager
def open_saver(url: str) -> Iterator[graphsaver.GraphsaverSaver]:
    with graphsaver.connect(url) as saver:
        yield saver


# --- output ----------------------------------------------------------------------------------


def console() -> Console:
    # piped output keeps whole checkpoint ids: rich would otherwise fit tables to 80 columns
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def err_console() -> Console:
    return Console(stderr=True)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(jsonable(value), ensure_ascii=False, indent=2))


@contextmanager
def progress_bar(label: str, *, enabled: bool = True) -> Iterator[Callable[[Progress], None]]:
    """A rich progress bar on stderr (only on a terminal), fed by a Progress callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("threads · {task.fields[checkpoints]} checkpoints"),
        TimeElapsedColumn(),
        console=err_console(),
        disable=not (enabled and sys.stderr.isatty()),
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=None, checkpoints=0)

        def update(p: Progress) -> None:
            bar.update(task, completed=p.done, total=p.total, checkpoints=p.checkpoints)

        yield update
