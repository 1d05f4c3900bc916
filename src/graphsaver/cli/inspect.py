"""Commands that read: threads, history, show, diff, stats."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from graphsaver import history as api
from graphsaver.cli.app import cli, console, emit_json, json_option, ns_option, open_saver, url_option


def _filter(pairs: tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE pairs; a VALUE that parses as JSON (3, true, "x") is taken as JSON."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--filter")
        try:
            result[key] = json.loads(raw)
        except ValueError:
            result[key] = raw
    return result


@cli.command()
@url_option
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only threads with a checkpoint whose metadata has KEY=VALUE (repeatable).",
)
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="Threads per page."
)
@click.option("--cursor", help="Continue after a previous page (its cursor is printed below the table).")
@json_option
def threads(url: str, filters: tuple[str, ...], limit: int, cursor: str | None, as_json: bool) -> None:
    """List threads, the most recently updated first.

    Shows each thread's status (idle, interrupted, error, or pending: next tasks with no
    outcome saved), its checkpoint count, latest step and next nodes.

    \b
    Example:
        graphsaver threads --url sqlite:///agent.db --filter user=alice --limit 50
    """
    with open_saver(url) as saver:
        page = api.threads(saver, filter=_filter(filters), limit=limit, cursor=cursor)
    if as_json:
        emit_json({"threads": page.threads, "cursor": page.cursor})
        return
    table = Table("thread", "status", "checkpoints", "step", "updated", "next")
    for t in page.threads:
        table.add_row(
            t.thread_id, t.status, str(t.checkpoints), str(t.latest_step), t.updated_at, ", ".join(t.next)
        )
    console().print(table)
    if page.cursor:
        click.echo(f"more: --cursor {page.cursor}", err=True)


@cli.command(name="history")
@url_option
@click.argument("thread")
@ns_option
@click.option("--limit", type=click.IntRange(1), help="Only the newest N checkpoints.")
@click.option("--values", is_flag=True, help="Load channel values too (in --json output).")
@json_option
def history_command(
    url: str, thread: str, checkpoint_ns: str, limit: int | None, values: bool, as_json: bool
) -> None:
    """Show a thread's checkpoints, newest first, as a tree of branches.

    Each row: branch (0 is current, ending at the latest checkpoint), step, source (input,
    loop, update, fork), the nodes that produced it and the nodes that run next. A branch
    starts at a fork point: an older checkpoint that was updated or forked.

    \b
    Example:
        graphsaver history chat-42 --url sqlite:///agent.db --limit 20
    """
    with open_saver(url) as saver:
        h = api.history(saver, thread, checkpoint_ns=checkpoint_ns, limit=limit, values=values)
    if as_json:
        emit_json(h)
        return
    forks = {b.base: b for b in h.branches if b.fork_point is not None}
    table = Table("branch", "step", "source", "checkpoint", "nodes", "next", "created")
    for e in h.entries:
        mark = f"{e.branch}{' *' if e.current else ''}"
        if e.checkpoint_id in forks:
            mark += f" ← {forks[e.checkpoint_id].fork_point}"
        table.add_row(
            mark,
            str(e.step),
            e.source or "",
            e.checkpoint_id,
            ", ".join(e.nodes),
            ", ".join(e.next),
            e.created_at or "",
        )
    console().print(table)
    click.echo(
        f"{len(h.branches)} branch(es); * marks the current branch, ← the checkpoint a branch forks from"
    )


@cli.command()
@url_option
@click.argument("thread")
@click.option("--checkpoint", "checkpoint_id", help="A checkpoint id (default: the latest).")
@ns_option
@json_option
def show(url: str, thread: str, checkpoint_id: str | None, checkpoint_ns: str, as_json: bool) -> None:
    """Show a checkpoint: its state, next tasks with their status, and pending interrupts.

    A task is pending, succeeded (writes saved), failed (error saved) or interrupted
    (waiting for a resume value, shown).

    \b
    Example:
        graphsaver show chat-42 --url sqlite:///agent.db --checkpoint 1efc...
    """
    with open_saver(url) as saver:
        snap = api.snapshot(saver, thread, checkpoint_id, checkpoint_ns=checkpoint_ns)
    if as_json:
        emit_json({**{f: getattr(snap, f) for f in snap.__dataclass_fields__}, "interrupts": snap.interrupts})
        return
    out = console()
    out.print(f"thread {thread}  checkpoint {snap.checkpoint_id}  step {snap.step}  source {snap.source}")
    out.print(f"parent {snap.parent_id}  created {snap.created_at}")
    out.print("\n[bold]state[/bold]")
    for channel, value in snap.values.items():
        if api.internal(channel):
            continue
        out.print(f"{channel}:", markup=False)
        for line in api.render_value(value):
            out.print(f"  {line}", markup=False)
    table = Table("task", "status", "detail", title="next tasks")
    for t in snap.tasks:
        detail = t.error or (", ".join(map(repr, t.interrupts)) if t.interrupts else ", ".join(t.writes))
        table.add_row(t.name, t.status, detail)
    out.print(table if snap.tasks else "\nno next tasks: the thread is idle")
    if snap.interrupts:
        out.print(f"pending interrupts: {', '.join(map(repr, snap.interrupts))}", markup=False)


@cli.command(name="diff")
@url_option
@click.argument("thread")
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option("--new-thread", help="Read NEW from this thread (e.g. a fork).")
@ns_option
@json_option
def diff_command(
    url: str,
    thread: str,
    old: str | None,
    new: str | None,
    new_thread: str | None,
    checkpoint_ns: str,
    as_json: bool,
) -> None:
    """Show the channels added, removed and changed from checkpoint OLD to NEW.

    NEW defaults to the latest checkpoint and OLD to NEW's parent, so `diff THREAD` shows
    what the last step changed. Message lists show one line per message.

    \b
    Example:
        graphsaver diff chat-42 1efc...a 1efc...b --url sqlite:///agent.db
    """
    with open_saver(url) as saver:
        d = api.diff(saver, thread, old, new, new_thread_id=new_thread, checkpoint_ns=checkpoint_ns)
    if as_json:
        emit_json(d)
        return
    click.echo(d.render() if d.changes else "no changes")


@cli.command()
@url_option
@click.argument("threads", nargs=-1)
@json_option
def stats(url: str, threads: tuple[str, ...], as_json: bool) -> None:
    """Show rows and stored bytes per thread (all threads by default).

    \b
    Example:
        graphsaver stats --url sqlite:///agent.db
    """
    with open_saver(url) as saver:
        rows = api.stats(saver, list(threads) or None)
    if as_json:
        emit_json(rows)
        return
    table = Table("thread", "checkpoints", "blobs", "writes", "bytes")
    for r in rows:
        table.add_row(r.thread_id, str(r.checkpoints), str(r.blobs), str(r.writes), f"{r.bytes:,}")
    table.add_row(
        "total",
        *(f"{sum(getattr(r, f) for r in rows):,}" for f in ("checkpoints", "blobs", "writes", "bytes")),
    )
    console().print(table)
