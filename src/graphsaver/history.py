"""Time travel you can see: threads, history trees, step writes, task status, forks, diffs,
export/import and copy, over a graphsaver saver (the read-only views over any
`BaseCheckpointSaver`).

Each function is written once, as a plan: a generator that yields the saver calls (or
storage operations) it needs and receives their results. `_run` drives a plan with the sync
methods, `_arun` with their `a`-prefixed twins, so `threads` and `athreads` share one body.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import uuid4

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.base.id import uuid6

from graphsaver.core import history_ops, timeline
from graphsaver.core.records import config_for, filter_terms
from graphsaver.core.timeline import Branch, ChannelChange, TaskStatus, internal, jsonable, render_value
from graphsaver.errors import ConfigError, ThreadNotFoundError
from graphsaver.plans import (
    Call,
    Plan,
    Storage,
    all_thread_ids,
    arun,
    available,
    get,
    graphsaver_saver,
    named,
    now,
    run,
    text_or_none,
    thread_config,
    writes,
)
from graphsaver.saver import GraphsaverSaver
from graphsaver.transfer import (
    Progress,
    acopy_database,
    acopy_threads,
    aexport_threads,
    aimport_threads,
    copy_database,
    copy_threads,
    export_threads,
    import_threads,
)

__all__ = [
    "internal",
    "jsonable",
    "render_value",
    "Branch",
    "ChannelChange",
    "Diff",
    "History",
    "HistoryEntry",
    "Progress",
    "Snapshot",
    "TaskStatus",
    "ThreadInfo",
    "ThreadPage",
    "ThreadStats",
    "threads",
    "athreads",
    "history",
    "ahistory",
    "step_writes",
    "astep_writes",
    "snapshot",
    "asnapshot",
    "tasks",
    "atasks",
    "fork",
    "afork",
    "diff",
    "adiff",
    "prune",
    "aprune",
    "stats",
    "astats",
    "export_threads",
    "aexport_threads",
    "import_threads",
    "aimport_threads",
    "copy_threads",
    "acopy_threads",
    "copy_database",
    "acopy_database",
]

T = TypeVar("T")


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A thread as listed: its latest root checkpoint and what state the thread is in."""

    thread_id: str
    status: str  # idle, interrupted, error, pending (see timeline.thread_status)
    checkpoints: int  # root-namespace checkpoints
    latest_step: int | None
    checkpoint_id: str | None
    created_at: str
    updated_at: str
    next: tuple[str, ...]
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ThreadPage:
    threads: list[ThreadInfo]
    cursor: str | None  # pass it back to get the next page; None at the end


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    checkpoint_id: str
    parent_id: str | None
    step: int | None
    source: str | None  # input, loop, update, fork
    created_at: str | None
    nodes: tuple[str, ...]  # the nodes whose step produced this checkpoint
    next: tuple[str, ...]
    branch: int
    current: bool  # on the branch that ends at the thread's latest checkpoint
    metadata: dict[str, Any]
    values: dict[str, Any] | None  # None in metadata-only mode


@dataclass(frozen=True, slots=True)
class History:
    """A thread's checkpoints newest first, and its branches (branch 0 is current)."""

    thread_id: str
    checkpoint_ns: str
    entries: list[HistoryEntry]
    branches: list[Branch]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One checkpoint: its state, its next tasks with their status, pending interrupts."""

    config: RunnableConfig
    parent_id: str | None
    step: int | None
    source: str | None
    created_at: str | None
    metadata: dict[str, Any]
    values: dict[str, Any]
    next: tuple[str, ...]
    tasks: list[TaskStatus]

    @property
    def checkpoint_id(self) -> str:
        return str(self.config["configurable"]["checkpoint_id"])

    @property
    def interrupts(self) -> list[Any]:
        return [value for t in self.tasks if t.status == "interrupted" for value in t.interrupts]


@dataclass(frozen=True, slots=True)
class Diff:
    old: RunnableConfig | None
    new: RunnableConfig
    changes: list[ChannelChange]

    def of(self, kind: str) -> dict[str, Any]:
        return {
            c.channel: (c.new if kind == "added" else c.old if kind == "removed" else (c.old, c.new))
            for c in self.changes
            if c.kind == kind
        }

    @property
    def added(self) -> dict[str, Any]:
        return self.of("added")

    @property
    def removed(self) -> dict[str, Any]:
        return self.of("removed")

    @property
    def changed(self) -> dict[str, tuple[Any, Any]]:
        return self.of("changed")

    def render(self) -> str:
        """Readable text: a header per channel, then `+`/`-` lines (one per message)."""
        out = []
        for change in self.changes:
            out.append(f"{change.kind} {change.channel}:")
            out.extend(f"  {line}" for line in change.lines())
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class ThreadStats:
    thread_id: str
    checkpoints: int
    blobs: int
    writes: int
    bytes: int
    detail: dict[str, int] = field(default_factory=dict)


# --- threads -----------------------------------------------------------------------------------


def _encode_cursor(after: tuple[str, str] | None) -> str | None:
    return None if after is None else base64.urlsafe_b64encode(json.dumps(after).encode()).decode()


def _decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        updated_at, thread_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(updated_at), str(thread_id)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"bad thread cursor {cursor!r}: pass back the cursor a page returned") from exc


def _threads(
    saver: BaseCheckpointSaver[Any], filter: Mapping[str, Any] | None, limit: int, cursor: str | None
) -> Plan[ThreadPage]:
    gs = graphsaver_saver(saver, "listing threads")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise ConfigError(f"limit must be an integer from 1 to 1000, got {limit!r}")
    op = history_ops.threads_page(gs._q, filter_terms(filter), _decode_cursor(cursor), limit)
    rows, after = yield Storage(gs, op)
    infos = []
    for row in rows:
        known = yield from available(gs, row.thread_id, "", row.head, values=False)
        nxt = timeline.next_nodes(row.head, known)
        writes = [(t, timeline.task_name(p), ch, None) for t, p, ch in row.writes]
        step = row.head_metadata.get("step")
        infos.append(
            ThreadInfo(
                thread_id=row.thread_id,
                status=timeline.thread_status(nxt, writes),
                checkpoints=row.checkpoints,
                latest_step=step if isinstance(step, int) else None,
                checkpoint_id=row.head_id,
                created_at=row.created_at,
                updated_at=row.updated_at,
                next=nxt,
                metadata=dict(row.head_metadata),
            )
        )
    return ThreadPage(infos, _encode_cursor(after))


def threads(
    saver: BaseCheckpointSaver[Any],
    *,
    filter: Mapping[str, Any] | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> ThreadPage:
    """A page of threads, the most recently updated first.

    `filter` keeps threads with a checkpoint whose metadata holds these key/value pairs.
    Pass the page's `cursor` back for the next page. A page costs the threads on it, however
    many checkpoints are stored.
    """
    return run(_threads(saver, filter, limit, cursor))


async def athreads(
    saver: BaseCheckpointSaver[Any],
    *,
    filter: Mapping[str, Any] | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> ThreadPage:
    """Async `threads`."""
    return await arun(_threads(saver, filter, limit, cursor))


# --- history -----------------------------------------------------------------------------------


def _history(
    saver: BaseCheckpointSaver[Any], thread_id: str, checkpoint_ns: str, limit: int | None, values: bool
) -> Plan[History]:
    config = thread_config(thread_id, checkpoint_ns)
    method = "list" if values or not isinstance(saver, GraphsaverSaver) else "list_metadata"
    tuples: list[CheckpointTuple] = yield Call(saver, method, (config,), {"limit": limit}, many=True)
    if not tuples:
        raise ThreadNotFoundError(
            f"thread {thread_id!r} has no checkpoints: list threads with `graphsaver threads`"
        )
    by_id = {t.config["configurable"]["checkpoint_id"]: t for t in tuples}
    parent_of = {
        cid: (t.parent_config or {}).get("configurable", {}).get("checkpoint_id") for cid, t in by_id.items()
    }
    branch_of, branch_list = timeline.branches(list(parent_of.items()))
    entries = []
    for cid, tup in by_id.items():
        known = yield from available(saver, thread_id, checkpoint_ns, tup.checkpoint, values=values)
        parent = by_id.get(parent_of[cid] or "")
        meta = dict(tup.metadata or {})
        step = meta.get("step")
        entries.append(
            HistoryEntry(
                checkpoint_id=cid,
                parent_id=parent_of[cid],
                step=step if isinstance(step, int) else None,
                source=text_or_none(meta.get("source")),
                created_at=tup.checkpoint.get("ts"),
                nodes=timeline.nodes_run(tup.checkpoint, parent.checkpoint if parent else None),
                next=timeline.next_nodes(tup.checkpoint, known),
                branch=branch_of[cid],
                current=branch_of[cid] == 0,
                metadata=meta,
                values=dict(tup.checkpoint["channel_values"]) if values else None,
            )
        )
    return History(str(thread_id), checkpoint_ns, entries, branch_list)


def history(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    *,
    checkpoint_ns: str = "",
    limit: int | None = None,
    values: bool = False,
) -> History:
    """A thread's checkpoints, newest first, with their branches.

    By default channel values are not loaded (metadata-only: cheap for long histories);
    `values=True` loads them. Works on any BaseCheckpointSaver.
    """
    return run(_history(saver, thread_id, checkpoint_ns, limit, values))


async def ahistory(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    *,
    checkpoint_ns: str = "",
    limit: int | None = None,
    values: bool = False,
) -> History:
    """Async `history`."""
    return await arun(_history(saver, thread_id, checkpoint_ns, limit, values))


# --- one checkpoint: its step's writes, its state, its next tasks -----------------------------


def _step_writes(
    saver: BaseCheckpointSaver[Any], thread_id: str, checkpoint_id: str | None, checkpoint_ns: str
) -> Plan[dict[str, Any]]:
    tup = yield from get(saver, thread_id, checkpoint_ns, checkpoint_id, values=False)
    if tup.parent_config is None:
        return {}
    parent = yield from get(
        saver, thread_id, checkpoint_ns, tup.parent_config["configurable"]["checkpoint_id"], values=False
    )
    rows = yield from writes(saver, parent)
    ran = timeline.nodes_run(tup.checkpoint, parent.checkpoint)
    by_task: dict[str, tuple[str, dict[str, Any]]] = {}
    for task_id, name, channel, value in named(rows, ran):
        if channel in timeline.SPECIAL or channel.startswith(timeline.TRIGGER_PREFIX):
            continue
        by_task.setdefault(task_id, (name or task_id, {}))[1][channel] = value
    result: dict[str, Any] = {}
    for name, values in by_task.values():
        if name in result:  # several tasks of one node (Send): a list, in task order
            previous = result[name]
            result[name] = [*(previous if isinstance(previous, list) else [previous]), values]
        else:
            result[name] = values
    return result


def step_writes(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> dict[str, Any]:
    """What each node wrote in the step that produced a checkpoint: {node: {channel: value}}.

    Rebuilt from the pending writes stored against the checkpoint's parent (LangGraph's old
    `metadata["writes"]`). The latest checkpoint when no id is given.
    """
    return run(_step_writes(saver, thread_id, checkpoint_id, checkpoint_ns))


async def astep_writes(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> dict[str, Any]:
    """Async `step_writes`."""
    return await arun(_step_writes(saver, thread_id, checkpoint_id, checkpoint_ns))


def _snapshot(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None,
    checkpoint_ns: str,
    values: bool,
) -> Plan[Snapshot]:
    tup = yield from get(saver, thread_id, checkpoint_ns, checkpoint_id, values=values)
    rows = yield from writes(saver, tup)
    known = yield from available(saver, thread_id, checkpoint_ns, tup.checkpoint, values=values)
    nxt = timeline.next_nodes(tup.checkpoint, known)
    meta = dict(tup.metadata or {})
    step = meta.get("step")
    return Snapshot(
        config=tup.config,
        parent_id=(tup.parent_config or {}).get("configurable", {}).get("checkpoint_id"),
        step=step if isinstance(step, int) else None,
        source=text_or_none(meta.get("source")),
        created_at=tup.checkpoint.get("ts"),
        metadata=meta,
        values=dict(tup.checkpoint["channel_values"]) if values else {},
        next=nxt,
        tasks=timeline.task_statuses(nxt, named(rows, nxt)),
    )


def snapshot(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> Snapshot:
    """A checkpoint's state, next tasks with their status, and pending interrupts (latest by default)."""
    return run(_snapshot(saver, thread_id, checkpoint_id, checkpoint_ns, True))


async def asnapshot(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> Snapshot:
    """Async `snapshot`."""
    return await arun(_snapshot(saver, thread_id, checkpoint_id, checkpoint_ns, True))


def tasks(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> list[TaskStatus]:
    """The tasks of a checkpoint's next step: pending, succeeded, failed (with the error) or
    interrupted (with the interrupt values)."""
    return run(_snapshot(saver, thread_id, checkpoint_id, checkpoint_ns, True)).tasks


async def atasks(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> list[TaskStatus]:
    """Async `tasks`."""
    return (await arun(_snapshot(saver, thread_id, checkpoint_id, checkpoint_ns, True))).tasks


# --- fork --------------------------------------------------------------------------------------


def _updated(
    saver: BaseCheckpointSaver[Any], tup: CheckpointTuple, values: Mapping[str, Any]
) -> tuple[Any, ...]:
    """A `source="update"` child of a checkpoint with some channels replaced: put's arguments."""
    old = tup.checkpoint
    versions = dict(old["channel_versions"])
    new_versions = {}
    for channel in values:
        versions[channel] = new_versions[channel] = saver.get_next_version(versions.get(channel), None)
    step = (tup.metadata or {}).get("step", -1)
    step = step + 1 if isinstance(step, int) else 0
    checkpoint = {
        **old,
        "id": str(uuid6(clock_seq=step)),
        "ts": now(),
        "channel_values": {**old["channel_values"], **values},
        "channel_versions": versions,
        "updated_channels": sorted(values),
    }
    metadata = {"source": "update", "step": step, "parents": {}}
    return tup.config, checkpoint, metadata, new_versions


def _fork(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str,
    new_thread_id: str | None,
    values: Mapping[str, Any] | None,
    as_node: str | None,
    graph: Any,
    checkpoint_ns: str,
) -> Plan[RunnableConfig]:
    gs = graphsaver_saver(saver, "fork")
    target = new_thread_id or f"{thread_id}-fork-{uuid4().hex[:8]}"
    op = history_ops.fork(gs._q, thread_id, checkpoint_ns, checkpoint_id, target, now())
    yield Storage(gs, op, write=True)
    config = config_for(target, checkpoint_ns, checkpoint_id)
    if values is None:
        return config
    if graph is not None:
        updated: RunnableConfig = yield Call(graph, "update_state", (config, values), {"as_node": as_node})
        return updated
    tup = yield from get(gs, target, checkpoint_ns, checkpoint_id, values=True)
    put: RunnableConfig = yield Call(gs, "put", _updated(gs, tup, values))
    return put


def fork(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str,
    *,
    new_thread_id: str | None = None,
    values: Mapping[str, Any] | None = None,
    as_node: str | None = None,
    graph: Any = None,
    checkpoint_ns: str = "",
) -> RunnableConfig:
    """Copy a thread up to a checkpoint (its ancestors and their writes) into a new thread.

    With `values`, a `source="update"` checkpoint is added on top: through
    `graph.update_state(..., as_node=as_node)` when a graph compiled with this saver is given
    (reducers apply), else the channels are replaced as given. Returns the config of the new
    thread's head: `graph.invoke(None, config)` replays from there. Raises
    `CheckpointNotFoundError` for an unknown checkpoint, `ThreadExistsError` when the new
    thread already has checkpoints.
    """
    return run(_fork(saver, thread_id, checkpoint_id, new_thread_id, values, as_node, graph, checkpoint_ns))


async def afork(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str,
    *,
    new_thread_id: str | None = None,
    values: Mapping[str, Any] | None = None,
    as_node: str | None = None,
    graph: Any = None,
    checkpoint_ns: str = "",
) -> RunnableConfig:
    """Async `fork`."""
    plan = _fork(saver, thread_id, checkpoint_id, new_thread_id, values, as_node, graph, checkpoint_ns)
    return await arun(plan)


# --- diff --------------------------------------------------------------------------------------


def _diff(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    old: str | None,
    new: str | None,
    new_thread_id: str | None,
    checkpoint_ns: str,
) -> Plan[Diff]:
    after = yield from get(saver, new_thread_id or thread_id, checkpoint_ns, new, values=True)
    if old is None and after.parent_config is not None and (new_thread_id or thread_id) == thread_id:
        old = after.parent_config["configurable"]["checkpoint_id"]
    if old is None:
        return Diff(None, after.config, timeline.diff_values({}, after.checkpoint["channel_values"]))
    before = yield from get(saver, thread_id, checkpoint_ns, old, values=True)
    changes = timeline.diff_values(before.checkpoint["channel_values"], after.checkpoint["channel_values"])
    return Diff(before.config, after.config, changes)


def diff(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    old: str | None = None,
    new: str | None = None,
    *,
    new_thread_id: str | None = None,
    checkpoint_ns: str = "",
) -> Diff:
    """Channels added, removed and changed from checkpoint `old` to `new`.

    `new` defaults to the latest checkpoint, `old` to the parent of `new`; `new_thread_id`
    reads `new` from another thread (a fork). `Diff.render()` shows message lists one
    message per line.
    """
    return run(_diff(saver, thread_id, old, new, new_thread_id, checkpoint_ns))


async def adiff(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    old: str | None = None,
    new: str | None = None,
    *,
    new_thread_id: str | None = None,
    checkpoint_ns: str = "",
) -> Diff:
    """Async `diff`."""
    return await arun(_diff(saver, thread_id, old, new, new_thread_id, checkpoint_ns))


# --- prune and stats ---------------------------------------------------------------------------


def _prune(
    saver: BaseCheckpointSaver[Any], thread_ids: Sequence[str] | None, strategy: str, dry_run: bool
) -> Plan[list[tuple[str, str, str]]]:
    gs = graphsaver_saver(saver, "prune")
    ids = list(thread_ids) if thread_ids is not None else (yield from all_thread_ids(gs))
    plan: list[tuple[str, str, str]] = yield Storage(gs, history_ops.prune_plan(gs._q, ids, strategy))
    if not dry_run and ids:
        yield Call(gs, "prune", (ids,), {"strategy": strategy})
    return plan


def prune(
    saver: BaseCheckpointSaver[Any],
    thread_ids: Sequence[str] | None = None,
    *,
    strategy: str = "keep_latest",
    dry_run: bool = False,
) -> list[tuple[str, str, str]]:
    """Prune threads (all when `thread_ids` is None) with `saver.prune`; returns the
    (thread, namespace, checkpoint) triples removed, or that would be with `dry_run=True`."""
    return run(_prune(saver, thread_ids, strategy, dry_run))


async def aprune(
    saver: BaseCheckpointSaver[Any],
    thread_ids: Sequence[str] | None = None,
    *,
    strategy: str = "keep_latest",
    dry_run: bool = False,
) -> list[tuple[str, str, str]]:
    """Async `prune`."""
    return await arun(_prune(saver, thread_ids, strategy, dry_run))


def _stats(saver: BaseCheckpointSaver[Any], thread_ids: Sequence[str] | None) -> Plan[list[ThreadStats]]:
    gs = graphsaver_saver(saver, "stats")
    ids = list(thread_ids) if thread_ids is not None else (yield from all_thread_ids(gs))
    result = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        raw = yield Storage(gs, history_ops.thread_stats(gs._q, chunk))
        for thread_id in chunk:
            d = raw[thread_id]
            size = d["checkpoint_bytes"] + d["blob_bytes"] + d["write_bytes"]
            result.append(ThreadStats(thread_id, d["checkpoints"], d["blobs"], d["writes"], size, d))
    return result


def stats(saver: BaseCheckpointSaver[Any], thread_ids: Sequence[str] | None = None) -> list[ThreadStats]:
    """Rows and stored bytes per thread (all threads when `thread_ids` is None)."""
    return run(_stats(saver, thread_ids))


async def astats(
    saver: BaseCheckpointSaver[Any], thread_ids: Sequence[str] | None = None
) -> list[ThreadStats]:
    """Async `stats`."""
    return await arun(_stats(saver, thread_ids))
