"""Commands that write or move data: fork, delete, prune, compact, export, import, copy."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import click
from rich.table import Table

from graphsaver import history as api
from graphsaver.cli.app import (
    cli,
    console,
    emit_json,
    json_option,
    ns_option,
    open_saver,
    progress_bar,
    url_option,
)


@cli.command()
@url_option
@click.argument("thread")
@click.argument("checkpoint")
@click.option("--to", "new_thread", help="The new thread id (default: THREAD-fork-<random>).")
@click.option(
    "--set", "values", metavar="JSON", help='Channel values to set on the fork, e.g. \'{"topic": "cats"}\'.'
)
@ns_option
@json_option
def fork(
    url: str,
    thread: str,
    checkpoint: str,
    new_thread: str | None,
    values: str | None,
    checkpoint_ns: str,
    as_json: bool,
) -> None:
    """Copy THREAD up to CHECKPOINT into a new thread; the original is untouched.

    The new thread holds CHECKPOINT, its ancestors and their writes. With --set, a
    checkpoint with source "update" replaces those channels on top (no reducers run; use
    graphsaver.history.fork(graph=...) for that). Resume it with graph.invoke(None, config).

    \b
    Example:
        graphsaver fork chat-42 1efc... --to chat-42-retry --url sqlite:///agent.db
    """
    parsed: dict[str, Any] | None = None
    if values is not None:
        try:
            parsed = json.loads(values)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--set") from None
        if not isinstance(parsed, dict):
            raise click.BadParameter("must be a JSON object of channel values", param_hint="--set")
    with open_saver(url) as saver:
        config = api.fork(
            saver, thread, checkpoint, new_thread_id=new_thread, values=parsed, checkpoint_ns=checkpoint_ns
        )
    c = config["configurable"]
    if as_json:
        emit_json(
            {
                "thread_id": c["thread_id"],
                "checkpoint_ns": c.get("checkpoint_ns", ""),
                "checkpoint_id": c["checkpoint_id"],
            }
        )
    else:
        click.echo(f"forked {thread} at {checkpoint} into {c['thread_id']} (head {c['checkpoint_id']})")


@cli.command()
@url_option
@click.argument("threads", nargs=-1, required=True)
@json_option
def delete(url: str, threads: tuple[str, ...], as_json: bool) -> None:
    """Delete threads: every checkpoint, value and write they hold.

    \b
    Example:
        graphsaver delete chat-41 chat-42 --url sqlite:///agent.db
    """
    with open_saver(url) as saver:
        for thread in threads:
            saver.delete_thread(thread)
    if as_json:
        emit_json({"deleted": list(threads)})
    else:
        click.echo(f"deleted {len(threads)} thread(s)")


@cli.command()
@url_option
@click.argument("threads", nargs=-1)
@click.option(
    "--strategy",
    type=click.Choice(["keep_latest", "delete"]),
    default="keep_latest",
    show_default=True,
    help="keep_latest keeps each namespace's newest checkpoint (and what it needs); delete removes the threads.",
)
@click.option("--yes", is_flag=True, help="Remove them. Without it, only print what would be removed.")
@json_option
def prune(url: str, threads: tuple[str, ...], strategy: str, yes: bool, as_json: bool) -> None:
    """Remove old checkpoints of THREADS (all threads if none given). A dry run unless --yes.

    \b
    Example:
        graphsaver prune --url sqlite:///agent.db            # what would go
        graphsaver prune --url sqlite:///agent.db --yes      # remove it
    """
    with open_saver(url) as saver:
        removed = api.prune(saver, list(threads) or None, strategy=strategy, dry_run=not yes)
    if as_json:
        emit_json(
            {
                "dry_run": not yes,
                "checkpoints": [
                    {"thread_id": t, "checkpoint_ns": ns, "checkpoint_id": c} for t, ns, c in removed
                ],
            }
        )
        return
    table = Table("thread", "namespace", "checkpoint", title="would remove" if not yes else "removed")
    for row in removed:
        table.add_row(*row)
    if removed:
        console().print(table)
    verb = "would remove" if not yes else "removed"
    click.echo(
        f"{verb} {len(removed)} checkpoint(s)"
        + ("; run again with --yes to remove them" if not yes and removed else "")
    )


@cli.command()
@url_option
@json_option
def compact(url: str, as_json: bool) -> None:
    """Give back the space that deleted checkpoints left (after prune or delete).

    What remains is unchanged. SQLite rewrites the file (VACUUM), into 8 KB pages if it was
    made with smaller ones and no other process has it open; PostgreSQL rewrites graphsaver's
    tables (VACUUM FULL), which makes every other worker wait until it is done.

    \b
    Example:
        graphsaver prune --url sqlite:///agent.db --yes
        graphsaver compact --url sqlite:///agent.db
    """
    with open_saver(url) as saver:
        done = saver.compact()
    if as_json:
        emit_json({"bytes_before": done.bytes_before, "bytes_after": done.bytes_after, "note": done.note})
        return
    click.echo(f"{done.bytes_before:,} bytes before, {done.bytes_after:,} after")
    if done.note:
        click.echo(done.note)


@cli.command(name="export")
@url_option
@click.argument("threads", nargs=-1)
@click.option("-o", "--output", type=click.File("w"), default="-", help="File to write (default: stdout).")
@click.option("--lossless", is_flag=True, help="Keep the serializer's bytes, for `graphsaver import`.")
def export_command(url: str, threads: tuple[str, ...], output: IO[str], lossless: bool) -> None:
    """Export threads (all by default) as JSON Lines, one checkpoint per line, oldest first.

    The default form is readable (metadata, values, writes as plain JSON, for jq);
    --lossless writes a form that `graphsaver import` restores exactly.

    \b
    Example:
        graphsaver export chat-42 --url sqlite:///agent.db | jq '.values.messages[-1]'
        graphsaver export --lossless -o backup.jsonl --url sqlite:///agent.db
    """
    with open_saver(url) as saver, progress_bar("exporting", enabled=output is not sys.stdout) as update:
        count = api.export_threads(saver, output, list(threads) or None, lossless=lossless, progress=update)
    click.echo(f"exported {count} checkpoint(s)", err=True)


@cli.command(name="import")
@url_option
@click.argument("source", type=click.File("r"))
@json_option
def import_command(url: str, source: IO[str], as_json: bool) -> None:
    """Import a lossless export (a file, or - for stdin). Existing threads are refused.

    \b
    Example:
        graphsaver import backup.jsonl --url postgresql://me@db/agents
    """
    with open_saver(url) as saver, progress_bar("importing") as update:
        count = api.import_threads(saver, source, progress=update)
    if as_json:
        emit_json({"checkpoints": count})
    else:
        click.echo(f"imported {count} checkpoint(s)")


@cli.command(name="copy")
@click.argument("source_url")
@click.argument("target_url")
@click.option("--thread", "threads", multiple=True, help="Copy only this thread (repeatable).")
@json_option
def copy_command(source_url: str, target_url: str, threads: tuple[str, ...], as_json: bool) -> None:
    """Copy threads (all by default) from SOURCE_URL to TARGET_URL, exactly.

    \b
    Example:
        graphsaver copy sqlite:///agent.db postgresql://me@db/agents
    """
    with progress_bar("copying", enabled=not as_json) as update:
        count = api.copy_database(source_url, target_url, list(threads) or None, progress=update)
    if as_json:
        emit_json({"checkpoints": count})
    else:
        click.echo(f"copied {count} checkpoint(s)")
