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
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any, TypeVar
from uuid import uuid4

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, writes_sort_key
from langgraph.checkpoint.base.id import uuid6

from graphsaver.connect import connect
from graphsaver.core import history_ops, timeline
from graphsaver.core.history_ops import WriteRow
from graphsaver.core.records import config_for, filter_terms
from graphsaver.core.timeline import Branch, ChannelChange, TaskStatus
from graphsaver.errors import (
    CheckpointNotFoundError,
    ConfigError,
    ThreadExistsError,
    ThreadNotFoundError,
)
from graphsaver.saver import GraphsaverSaver
from graphsaver.storage.sql import Operation

__all__ = [
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
LOSSLESS = "graphsaver-lossless"
FORMAT_VERSION = 1


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


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after each thread of a long operation."""

    done: int
    total: int | None
    thread_id: str
    checkpoints: int  # checkpoints handled so far


ProgressCallback = Callable[[Progress], None]


# --- plans and their two drivers ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    """Call `target.method(...)` (or `await target.a<method>(...)`); `many`: collect an iterator."""

    target: Any
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    many: bool = False


@dataclass(frozen=True, slots=True)
class _Storage:
    """Run a storage operation on a graphsaver saver's engine, in one transaction."""

    saver: GraphsaverSaver
    op: Operation[Any]
    write: bool = False


_Plan = Generator[_Call | _Storage, Any, T]


def _run(plan: _Plan[T]) -> T:
    result: Any = None
    try:
        while True:
            try:
                step = plan.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(step, _Storage):
                result = step.saver._engine.run(step.op, write=step.write)
            else:
                out = getattr(step.target, step.method)(*step.args, **step.kwargs)
                result = list(out) if step.many else out
    finally:
        plan.close()


async def _arun(plan: _Plan[T]) -> T:
    result: Any = None
    try:
        while True:
            try:
                step = plan.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(step, _Storage):
                result = await step.saver._engine.arun(step.op, write=step.write)
            else:
                method = getattr(step.target, "a" + step.method)
                if step.many:
                    result = [item async for item in method(*step.args, **step.kwargs)]
                else:
                    result = await method(*step.args, **step.kwargs)
    finally:
        plan.close()


def _graphsaver(saver: BaseCheckpointSaver[Any], what: str) -> GraphsaverSaver:
    if not isinstance(saver, GraphsaverSaver):
        raise ConfigError(f"{what} needs a graphsaver saver (graphsaver.connect), got {type(saver).__name__}")
    return saver


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _thread_config(
    thread_id: str, checkpoint_ns: str = "", checkpoint_id: str | None = None
) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": str(thread_id), "checkpoint_ns": checkpoint_ns}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _get(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_ns: str,
    checkpoint_id: str | None,
    *,
    values: bool,
) -> _Plan[CheckpointTuple]:
    """A checkpoint (the latest when no id), with values or metadata only; not found is an error."""
    config = _thread_config(thread_id, checkpoint_ns, checkpoint_id)
    if not values and isinstance(saver, GraphsaverSaver):
        found = yield _Call(saver, "list_metadata", (config,), {"limit": 1}, many=True)
        tup = found[0] if found else None
    else:
        tup = yield _Call(saver, "get_tuple", (config,))
    if tup is None:
        if checkpoint_id:
            raise CheckpointNotFoundError(
                f"checkpoint {checkpoint_id!r} not found in thread {thread_id!r}: "
                "list its checkpoints with `graphsaver history THREAD`"
            )
        raise ThreadNotFoundError(
            f"thread {thread_id!r} has no checkpoints: list threads with `graphsaver threads`"
        )
    return tup  # type: ignore[no-any-return]


def _writes(saver: BaseCheckpointSaver[Any], tup: CheckpointTuple) -> _Plan[list[WriteRow]]:
    """The pending writes of a checkpoint, with task paths where the saver keeps them."""
    c = tup.config["configurable"]
    if isinstance(saver, GraphsaverSaver):
        op = history_ops.thread_writes(
            saver._q, saver.serde, c["thread_id"], c.get("checkpoint_ns", ""), [c["checkpoint_id"]]
        )
        rows: list[WriteRow] = yield _Storage(saver, op)
        return sorted(rows, key=lambda r: writes_sort_key(r.task_path, r.task_id, r.idx))
    if tup.pending_writes is None:
        tup = yield from _get(
            saver, c["thread_id"], c.get("checkpoint_ns", ""), c["checkpoint_id"], values=True
        )
    return [
        WriteRow(c["checkpoint_id"], t, "", ch, i, v) for i, (t, ch, v) in enumerate(tup.pending_writes or [])
    ]


def _named(rows: Sequence[WriteRow], fallback: Sequence[str] = ()) -> list[tuple[str, str | None, str, Any]]:
    """(task_id, node name, channel, value); a lone node that ran names path-less writes."""
    only = fallback[0] if len(fallback) == 1 else None
    return [(r.task_id, timeline.task_name(r.task_path) or only, r.channel, r.value) for r in rows]


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
) -> _Plan[ThreadPage]:
    gs = _graphsaver(saver, "listing threads")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise ConfigError(f"limit must be an integer from 1 to 1000, got {limit!r}")
    op = history_ops.threads_page(gs._q, filter_terms(filter), _decode_cursor(cursor), limit)
    rows, after = yield _Storage(gs, op)
    infos = []
    for row in rows:
        nxt = timeline.next_nodes(row.head, values=False)
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
    return _run(_threads(saver, filter, limit, cursor))


async def athreads(
    saver: BaseCheckpointSaver[Any],
    *,
    filter: Mapping[str, Any] | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> ThreadPage:
    """Async `threads`."""
    return await _arun(_threads(saver, filter, limit, cursor))


def _all_thread_ids(saver: BaseCheckpointSaver[Any]) -> _Plan[list[str]]:
    if not isinstance(saver, GraphsaverSaver):
        tuples = yield _Call(saver, "list", (None,), many=True)
        return list(dict.fromkeys(t.config["configurable"]["thread_id"] for t in tuples))
    ids: list[str] = []
    after = None
    while True:
        rows, after = yield _Storage(saver, history_ops.threads_page(saver._q, [], after, 500))
        ids.extend(r.thread_id for r in rows)
        if after is None:
            return ids


# --- history -----------------------------------------------------------------------------------


def _history(
    saver: BaseCheckpointSaver[Any], thread_id: str, checkpoint_ns: str, limit: int | None, values: bool
) -> _Plan[History]:
    config = _thread_config(thread_id, checkpoint_ns)
    method = "list" if values or not isinstance(saver, GraphsaverSaver) else "list_metadata"
    tuples: list[CheckpointTuple] = yield _Call(saver, method, (config,), {"limit": limit}, many=True)
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
        parent = by_id.get(parent_of[cid] or "")
        meta = dict(tup.metadata or {})
        step = meta.get("step")
        entries.append(
            HistoryEntry(
                checkpoint_id=cid,
                parent_id=parent_of[cid],
                step=step if isinstance(step, int) else None,
                source=_text(meta.get("source")),
                created_at=tup.checkpoint.get("ts"),
                nodes=timeline.nodes_run(tup.checkpoint, parent.checkpoint if parent else None),
                next=timeline.next_nodes(tup.checkpoint, values=values),
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
    return _run(_history(saver, thread_id, checkpoint_ns, limit, values))


async def ahistory(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    *,
    checkpoint_ns: str = "",
    limit: int | None = None,
    values: bool = False,
) -> History:
    """Async `history`."""
    return await _arun(_history(saver, thread_id, checkpoint_ns, limit, values))


# --- one checkpoint: its step's writes, its state, its next tasks -----------------------------


def _step_writes(
    saver: BaseCheckpointSaver[Any], thread_id: str, checkpoint_id: str | None, checkpoint_ns: str
) -> _Plan[dict[str, Any]]:
    tup = yield from _get(saver, thread_id, checkpoint_ns, checkpoint_id, values=False)
    if tup.parent_config is None:
        return {}
    parent = yield from _get(
        saver, thread_id, checkpoint_ns, tup.parent_config["configurable"]["checkpoint_id"], values=False
    )
    rows = yield from _writes(saver, parent)
    ran = timeline.nodes_run(tup.checkpoint, parent.checkpoint)
    by_task: dict[str, tuple[str, dict[str, Any]]] = {}
    for task_id, name, channel, value in _named(rows, ran):
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
    return _run(_step_writes(saver, thread_id, checkpoint_id, checkpoint_ns))


async def astep_writes(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> dict[str, Any]:
    """Async `step_writes`."""
    return await _arun(_step_writes(saver, thread_id, checkpoint_id, checkpoint_ns))


def _snapshot(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None,
    checkpoint_ns: str,
    values: bool,
) -> _Plan[Snapshot]:
    tup = yield from _get(saver, thread_id, checkpoint_ns, checkpoint_id, values=values)
    rows = yield from _writes(saver, tup)
    nxt = timeline.next_nodes(tup.checkpoint, values=values)
    meta = dict(tup.metadata or {})
    step = meta.get("step")
    return Snapshot(
        config=tup.config,
        parent_id=(tup.parent_config or {}).get("configurable", {}).get("checkpoint_id"),
        step=step if isinstance(step, int) else None,
        source=_text(meta.get("source")),
        created_at=tup.checkpoint.get("ts"),
        metadata=meta,
        values=dict(tup.checkpoint["channel_values"]) if values else {},
        next=nxt,
        tasks=timeline.task_statuses(nxt, _named(rows, nxt)),
    )


def snapshot(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> Snapshot:
    """A checkpoint's state, next tasks with their status, and pending interrupts (latest by default)."""
    return _run(_snapshot(saver, thread_id, checkpoint_id, checkpoint_ns, True))


async def asnapshot(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> Snapshot:
    """Async `snapshot`."""
    return await _arun(_snapshot(saver, thread_id, checkpoint_id, checkpoint_ns, True))


def tasks(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> list[TaskStatus]:
    """The tasks of a checkpoint's next step: pending, succeeded, failed (with the error) or
    interrupted (with the interrupt values)."""
    return _run(_snapshot(saver, thread_id, checkpoint_id, checkpoint_ns, True)).tasks


async def atasks(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    checkpoint_ns: str = "",
) -> list[TaskStatus]:
    """Async `tasks`."""
    return (await _arun(_snapshot(saver, thread_id, checkpoint_id, checkpoint_ns, True))).tasks


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
        "ts": _now(),
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
) -> _Plan[RunnableConfig]:
    gs = _graphsaver(saver, "fork")
    target = new_thread_id or f"{thread_id}-fork-{uuid4().hex[:8]}"
    op = history_ops.fork(gs._q, thread_id, checkpoint_ns, checkpoint_id, target, _now())
    yield _Storage(gs, op, write=True)
    config = config_for(target, checkpoint_ns, checkpoint_id)
    if values is None:
        return config
    if graph is not None:
        updated: RunnableConfig = yield _Call(graph, "update_state", (config, values), {"as_node": as_node})
        return updated
    tup = yield from _get(gs, target, checkpoint_ns, checkpoint_id, values=True)
    put: RunnableConfig = yield _Call(gs, "put", _updated(gs, tup, values))
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
    return _run(_fork(saver, thread_id, checkpoint_id, new_thread_id, values, as_node, graph, checkpoint_ns))


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
    return await _arun(plan)


# --- diff --------------------------------------------------------------------------------------


def _diff(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    old: str | None,
    new: str | None,
    new_thread_id: str | None,
    checkpoint_ns: str,
) -> _Plan[Diff]:
    after = yield from _get(saver, new_thread_id or thread_id, checkpoint_ns, new, values=True)
    if old is None and after.parent_config is not None and (new_thread_id or thread_id) == thread_id:
        old = after.parent_config["configurable"]["checkpoint_id"]
    if old is None:
        return Diff(None, after.config, timeline.diff_values({}, after.checkpoint["channel_values"]))
    before = yield from _get(saver, thread_id, checkpoint_ns, old, values=True)
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
    return _run(_diff(saver, thread_id, old, new, new_thread_id, checkpoint_ns))


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
    return await _arun(_diff(saver, thread_id, old, new, new_thread_id, checkpoint_ns))


# --- prune and stats ---------------------------------------------------------------------------


def _prune(
    saver: BaseCheckpointSaver[Any], thread_ids: Sequence[str] | None, strategy: str, dry_run: bool
) -> _Plan[list[tuple[str, str, str]]]:
    gs = _graphsaver(saver, "prune")
    ids = list(thread_ids) if thread_ids is not None else (yield from _all_thread_ids(gs))
    plan: list[tuple[str, str, str]] = yield _Storage(gs, history_ops.prune_plan(gs._q, ids, strategy))
    if not dry_run and ids:
        yield _Call(gs, "prune", (ids,), {"strategy": strategy})
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
    return _run(_prune(saver, thread_ids, strategy, dry_run))


async def aprune(
    saver: BaseCheckpointSaver[Any],
    thread_ids: Sequence[str] | None = None,
    *,
    strategy: str = "keep_latest",
    dry_run: bool = False,
) -> list[tuple[str, str, str]]:
    """Async `prune`."""
    return await _arun(_prune(saver, thread_ids, strategy, dry_run))


def _stats(saver: BaseCheckpointSaver[Any], thread_ids: Sequence[str] | None) -> _Plan[list[ThreadStats]]:
    gs = _graphsaver(saver, "stats")
    ids = list(thread_ids) if thread_ids is not None else (yield from _all_thread_ids(gs))
    result = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        raw = yield _Storage(gs, history_ops.thread_stats(gs._q, chunk))
        for thread_id in chunk:
            d = raw[thread_id]
            size = d["checkpoint_bytes"] + d["blob_bytes"] + d["write_bytes"]
            result.append(ThreadStats(thread_id, d["checkpoints"], d["blobs"], d["writes"], size, d))
    return result


def stats(saver: BaseCheckpointSaver[Any], thread_ids: Sequence[str] | None = None) -> list[ThreadStats]:
    """Rows and stored bytes per thread (all threads when `thread_ids` is None)."""
    return _run(_stats(saver, thread_ids))


async def astats(
    saver: BaseCheckpointSaver[Any], thread_ids: Sequence[str] | None = None
) -> list[ThreadStats]:
    """Async `stats`."""
    return await _arun(_stats(saver, thread_ids))


# --- export, import, copy ----------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _thread_records(
    saver: BaseCheckpointSaver[Any], thread_id: str, lossless: bool
) -> _Plan[list[dict[str, Any]]]:
    """A thread's checkpoints oldest first (parents before children), as export records."""
    config: RunnableConfig = {"configurable": {"thread_id": str(thread_id)}}
    method = "list_metadata" if isinstance(saver, GraphsaverSaver) else "list"
    heads: list[CheckpointTuple] = yield _Call(saver, method, (config,), many=True)
    heads.sort(key=lambda t: t.config["configurable"]["checkpoint_id"])
    records = []
    for head in heads:
        c = head.config["configurable"]
        tup = yield from _get(saver, c["thread_id"], c["checkpoint_ns"], c["checkpoint_id"], values=True)
        rows = yield from _writes(saver, tup)
        parent = (tup.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        record: dict[str, Any] = {
            "thread_id": c["thread_id"],
            "checkpoint_ns": c["checkpoint_ns"],
            "checkpoint_id": c["checkpoint_id"],
            "parent_checkpoint_id": parent,
            "metadata": dict(tup.metadata or {}),
        }
        if lossless:
            type_, data = saver.serde.dumps_typed(tup.checkpoint)
            record["checkpoint"] = {"type": type_, "data": _b64(data)}
            record["writes"] = []
            for r in rows:
                wtype, wdata = saver.serde.dumps_typed(r.value)
                record["writes"].append(
                    {
                        "task_id": r.task_id,
                        "task_path": r.task_path,
                        "channel": r.channel,
                        "idx": r.idx,
                        "type": wtype,
                        "data": _b64(wdata),
                    }
                )
        else:
            record["created_at"] = tup.checkpoint.get("ts")
            record["values"] = timeline.jsonable(tup.checkpoint["channel_values"])
            record["next"] = list(timeline.next_nodes(tup.checkpoint, values=True))
            record["writes"] = [
                {
                    "task_id": r.task_id,
                    "node": timeline.task_name(r.task_path),
                    "channel": r.channel,
                    "value": timeline.jsonable(r.value),
                }
                for r in rows
            ]
        records.append(record)
    return records


def _export(
    saver: BaseCheckpointSaver[Any],
    out: IO[str],
    thread_ids: Sequence[str] | None,
    lossless: bool,
    progress: ProgressCallback | None,
) -> _Plan[int]:
    ids = list(thread_ids) if thread_ids is not None else (yield from _all_thread_ids(saver))
    if lossless:
        out.write(json.dumps({"format": LOSSLESS, "version": FORMAT_VERSION}) + "\n")
    count = 0
    for done, thread_id in enumerate(ids, 1):
        records = yield from _thread_records(saver, thread_id, lossless)
        if not records:
            raise ThreadNotFoundError(f"thread {thread_id!r} has no checkpoints: nothing to export")
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        count += len(records)
        if progress:
            progress(Progress(done, len(ids), thread_id, count))
    return count


def export_threads(
    saver: BaseCheckpointSaver[Any],
    out: IO[str],
    thread_ids: Sequence[str] | None = None,
    *,
    lossless: bool = False,
    progress: ProgressCallback | None = None,
) -> int:
    """Write threads (all by default) as JSON Lines, one checkpoint per line, oldest first.

    The readable form shows metadata, values (messages in full) and writes as plain JSON, for
    `jq`. `lossless=True` writes the serializer's bytes instead, which `import_threads`
    restores exactly. Returns the number of checkpoints written.
    """
    return _run(_export(saver, out, thread_ids, lossless, progress))


async def aexport_threads(
    saver: BaseCheckpointSaver[Any],
    out: IO[str],
    thread_ids: Sequence[str] | None = None,
    *,
    lossless: bool = False,
    progress: ProgressCallback | None = None,
) -> int:
    """Async `export_threads`."""
    return await _arun(_export(saver, out, thread_ids, lossless, progress))


def _put_record(
    saver: BaseCheckpointSaver[Any], record: Mapping[str, Any], lists: dict[Any, Any]
) -> _Plan[None]:
    """Store one lossless record with the public saver API."""
    thread_id, ns = record["thread_id"], record["checkpoint_ns"]
    checkpoint = saver.serde.loads_typed(
        (record["checkpoint"]["type"], base64.b64decode(record["checkpoint"]["data"]))
    )
    values = checkpoint["channel_values"]
    for channel, value in values.items():
        # reuse the objects of the previous version of a growing list, so savers that store
        # appended items as deltas (graphsaver) can recognise the prefix
        previous = lists.get((thread_id, ns, channel))
        if isinstance(value, list) and isinstance(previous, list) and previous == value[: len(previous)]:
            values[channel] = value = [*previous, *value[len(previous) :]]
        lists[(thread_id, ns, channel)] = value
    parent = _thread_config(thread_id, ns, record["parent_checkpoint_id"])
    versions = dict(checkpoint["channel_versions"])
    yield _Call(saver, "put", (parent, checkpoint, record["metadata"], versions))
    config = config_for(thread_id, ns, record["checkpoint_id"])
    for task_id, task_path, writes in _write_calls(saver, record["writes"]):
        yield _Call(saver, "put_writes", (config, writes, task_id, task_path))


def _write_calls(
    saver: BaseCheckpointSaver[Any], writes: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str, list[tuple[str, Any]]]]:
    """The `put_writes` calls that store a task's writes again with their original indexes.

    Regular writes are numbered by their position in one call; special ones (error,
    interrupt, resume) have fixed indexes. A first regular index k > 0 means the original
    call began with k special writes, so they go first in the same call.
    """
    tasks: dict[str, tuple[str, list[tuple[str, Any]], list[tuple[int, str, Any]]]] = {}
    for w in writes:
        value = saver.serde.loads_typed((w["type"], base64.b64decode(w["data"])))
        path, specials, regulars = tasks.setdefault(w["task_id"], (w["task_path"], [], []))
        if w["channel"] in timeline.SPECIAL:
            specials.append((w["channel"], value))
        else:
            regulars.append((w["idx"], w["channel"], value))
    calls: list[tuple[str, str, list[tuple[str, Any]]]] = []
    for task_id, (path, specials, regulars) in tasks.items():
        regulars.sort(key=lambda r: r[0])
        k = regulars[0][0] if regulars else 0
        lead = specials[len(specials) - k :] if 0 < k <= len(specials) else []
        calls.extend((task_id, path, [s]) for s in specials[: len(specials) - len(lead)])
        if regulars:
            calls.append((task_id, path, [*lead, *((ch, v) for _, ch, v in regulars)]))
    return calls


def _import(
    saver: BaseCheckpointSaver[Any], lines: Iterable[str], progress: ProgressCallback | None
) -> _Plan[int]:
    it = iter(lines)
    header = json.loads(next(it, "") or "{}")
    if header.get("format") != LOSSLESS:
        raise ConfigError(
            "not a lossless export: import reads files written with `graphsaver export --lossless` "
            "(the readable JSON Lines form is for reading, not restoring)"
        )
    if header.get("version") != FORMAT_VERSION:
        raise ConfigError(f"unknown lossless export version {header.get('version')!r}: upgrade graphsaver")
    count, threads_done, current = 0, 0, None
    lists: dict[Any, Any] = {}
    for line in it:
        if not line.strip():
            continue
        record = json.loads(line)
        if record["thread_id"] != current:
            if current is not None and progress:
                progress(Progress(threads_done, None, current, count))
            current = record["thread_id"]
            threads_done += 1
            lists.clear()
            existing = yield _Call(saver, "get_tuple", (_thread_config(current),))
            if existing is not None:
                raise ThreadExistsError(
                    f"thread {current!r} already exists in the target: delete it first or import elsewhere"
                )
        yield from _put_record(saver, record, lists)
        count += 1
    if current is not None and progress:
        progress(Progress(threads_done, None, current, count))
    return count


def import_threads(
    saver: BaseCheckpointSaver[Any], source: Iterable[str], *, progress: ProgressCallback | None = None
) -> int:
    """Restore a lossless export (an open file or any iterable of lines) into a saver.

    Refuses (`ThreadExistsError`) to write into a thread that already has checkpoints.
    Returns the number of checkpoints imported.
    """
    return _run(_import(saver, source, progress))


async def aimport_threads(
    saver: BaseCheckpointSaver[Any], source: Iterable[str], *, progress: ProgressCallback | None = None
) -> int:
    """Async `import_threads`."""
    return await _arun(_import(saver, source, progress))


def _copy(
    source: BaseCheckpointSaver[Any],
    target: BaseCheckpointSaver[Any],
    thread_ids: Sequence[str] | None,
    progress: ProgressCallback | None,
) -> _Plan[int]:
    ids = list(thread_ids) if thread_ids is not None else (yield from _all_thread_ids(source))
    count = 0
    for done, thread_id in enumerate(ids, 1):
        existing = yield _Call(target, "get_tuple", (_thread_config(thread_id),))
        if existing is not None:
            raise ThreadExistsError(f"thread {thread_id!r} already exists in the target: delete it first")
        records = yield from _thread_records(source, thread_id, True)
        lists: dict[Any, Any] = {}
        for record in records:
            yield from _put_record(target, record, lists)
        count += len(records)
        if progress:
            progress(Progress(done, len(ids), thread_id, count))
    return count


def copy_threads(
    source: BaseCheckpointSaver[Any],
    target: BaseCheckpointSaver[Any],
    thread_ids: Sequence[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> int:
    """Copy threads (all by default) from one saver to another, exactly; returns checkpoints copied."""
    return _run(_copy(source, target, thread_ids, progress))


async def acopy_threads(
    source: BaseCheckpointSaver[Any],
    target: BaseCheckpointSaver[Any],
    thread_ids: Sequence[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> int:
    """Async `copy_threads`."""
    return await _arun(_copy(source, target, thread_ids, progress))


def copy_database(
    source_url: str,
    target_url: str,
    thread_ids: Sequence[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> int:
    """Copy threads between two database URLs (e.g. SQLite to PostgreSQL)."""
    with connect(source_url) as source, connect(target_url) as target:
        return copy_threads(source, target, thread_ids, progress=progress)


async def acopy_database(
    source_url: str,
    target_url: str,
    thread_ids: Sequence[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> int:
    """Async `copy_database`."""
    async with connect(source_url) as source, connect(target_url) as target:
        return await acopy_threads(source, target, thread_ids, progress=progress)
