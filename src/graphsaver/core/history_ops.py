"""The storage operations behind `graphsaver.history`, written once as generators (see ops.py).

Thread listing reads the per-thread summary table, so a page costs the threads on it, not the
checkpoints stored. Forking copies rows inside the database: the bytes of the copy are the
bytes of the original.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import CheckpointMetadata
from langgraph.checkpoint.serde.base import SerializerProtocol

from graphsaver.core import codec, ops
from graphsaver.core.records import (
    FilterTerm,
    Key,
    decode_json_object,
    decode_metadata,
    decode_record,
    version_key,
)
from graphsaver.errors import CheckpointNotFoundError, ConfigError, ThreadExistsError
from graphsaver.storage.queries import Queries
from graphsaver.storage.sql import Execute, Fetch, Operation


@dataclass(frozen=True, slots=True)
class ThreadRow:
    """A thread's summary: its latest root checkpoint and the writes saved against it."""

    thread_id: str
    created_at: str
    updated_at: str
    checkpoints: int
    head_id: str | None
    head_metadata: CheckpointMetadata
    head: dict[str, Any]  # the checkpoint record without channel values
    writes: list[tuple[str, str, str]]  # (task_id, task_path, channel) of the head's pending writes


@dataclass(frozen=True, slots=True)
class WriteRow:
    """One stored pending write, with the task path the saver API does not return."""

    checkpoint_id: str
    task_id: str
    task_path: str
    channel: str
    idx: int
    value: Any


def threads_page(
    q: Queries, filters: Sequence[FilterTerm], after: tuple[str, str] | None, limit: int
) -> Operation[tuple[list[ThreadRow], tuple[str, str] | None]]:
    """One page of thread summaries and the cursor of the next page (None at the end)."""
    sql, params = q.history_threads_page(filters, after, limit)
    page = yield Fetch(sql, params)
    if not page:
        return [], None
    ids = [str(row[0]) for row in page]
    heads = {}
    for thread_id, checkpoint_id, metadata, record, versions, count in (
        yield Fetch(q.HISTORY_THREAD_HEADS, (q.list_param(ids),))
    ):
        where = Key(thread_id, "", checkpoint_id).describe()
        body = decode_record(bytes(record), where)
        body["channel_versions"] = decode_json_object(versions, f"the channel versions of {where}")
        heads[thread_id] = (checkpoint_id, decode_metadata(metadata, where), body, int(count))
    writes: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    head_ids = [h[0] for h in heads.values()]
    if head_ids:
        rows = yield Fetch(q.HISTORY_WRITE_CHANNELS, (q.list_param(ids), q.list_param(head_ids)))
        for thread_id, checkpoint_id, task_id, task_path, channel in rows:
            writes[(thread_id, checkpoint_id)].append((task_id, task_path or "", channel))
    result = []
    for thread_id, created_at, updated_at in page:
        head_id, metadata, body, count = heads.get(thread_id, (None, {}, {}, 0))
        result.append(
            ThreadRow(
                thread_id=thread_id,
                created_at=str(created_at),
                updated_at=str(updated_at),
                checkpoints=count,
                head_id=head_id,
                head_metadata=metadata,
                head=body,
                writes=writes.get((thread_id, head_id or ""), []),
            )
        )
    last = page[-1]
    after_next = (str(last[2]), str(last[0])) if len(page) == limit else None
    return result, after_next


def count_threads(q: Queries) -> Operation[int]:
    ((count,),) = yield Fetch(q.HISTORY_COUNT_THREADS)
    return int(count)


def thread_writes(
    q: Queries, serde: SerializerProtocol, thread_id: str, checkpoint_ns: str, checkpoint_ids: Sequence[str]
) -> Operation[list[WriteRow]]:
    """The pending writes of some checkpoints of one thread, decoded, with their task paths."""
    if not checkpoint_ids:
        return []
    rows = yield Fetch(q.HISTORY_WRITES, (thread_id, checkpoint_ns, q.list_param(list(checkpoint_ids))))
    result = []
    for checkpoint_id, task_id, task_path, channel, idx, type_, data in rows:
        where = Key(thread_id, checkpoint_ns, checkpoint_id).describe()
        value = codec.loads(
            serde, type_, data, f"write to channel {channel!r} by task {task_id!r} at {where}"
        )
        result.append(WriteRow(checkpoint_id, task_id, task_path or "", channel, int(idx), value))
    return result


def fork(
    q: Queries, thread_id: str, checkpoint_ns: str, checkpoint_id: str, new_thread_id: str, now: str
) -> Operation[int]:
    """Copy a checkpoint, its ancestors, their writes and the blobs they use into a new thread.

    Returns the number of checkpoints copied. The copy holds the same bytes as the original.
    """
    src, dst = str(thread_id), str(new_thread_id)
    if src == dst:
        raise ConfigError(f"cannot fork thread {src!r} into itself: choose another thread id")
    ((existing,),) = yield Fetch(q.COUNT_THREAD_CHECKPOINTS, (dst,))
    if existing:
        raise ThreadExistsError(
            f"thread {dst!r} already has {existing} checkpoints; fork into a new thread id "
            "or delete that thread first"
        )
    rows = yield Fetch(q.HISTORY_CHAIN, (src, checkpoint_ns, checkpoint_id, src, checkpoint_ns))
    if not rows:
        raise CheckpointNotFoundError(
            f"checkpoint {checkpoint_id!r} not found in {Key(src, checkpoint_ns, None).describe()}: "
            "list its checkpoints with `graphsaver history THREAD`"
        )
    chain = q.list_param([str(r[0]) for r in rows])
    copied: int = yield Execute(q.HISTORY_FORK_CHECKPOINTS, (dst, src, checkpoint_ns, chain))
    yield Execute(q.HISTORY_FORK_WRITES, (dst, src, checkpoint_ns, chain))
    yield Execute(q.COPY_BLOBS, (dst, src))
    ids = q.list_param([dst])
    yield Execute(q.DELETE_UNREFERENCED_BLOBS, (ids, ids))
    yield Execute(q.TOUCH_THREAD, (dst, now, now))
    return copied


def filled_channels(
    q: Queries, thread_id: str, checkpoint_ns: str, channels: Mapping[str, Any]
) -> Operation[set[str]]:
    """Which of these channels (name -> version) hold a value at that version."""
    filled = set()
    for channel, version in channels.items():
        rows = yield Fetch(q.SELECT_BLOB_TYPE, (thread_id, checkpoint_ns, channel, version_key(version)))
        if rows and rows[0][0] != codec.EMPTY:
            filled.add(channel)
    return filled


def prune_plan(q: Queries, thread_ids: Sequence[str], strategy: str) -> Operation[list[tuple[str, str, str]]]:
    """The (thread, namespace, checkpoint) triples `saver.prune` would remove, removing nothing."""
    if strategy not in ("keep_latest", "delete"):
        raise ConfigError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
    if not thread_ids:
        return []
    rows = yield Fetch(q.SELECT_THREAD_SKELETON, (q.list_param([str(t) for t in thread_ids]),))
    if strategy == "delete":
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]
    return ops.plan_keep_latest(rows)


def thread_stats(q: Queries, thread_ids: Sequence[str]) -> Operation[dict[str, dict[str, int]]]:
    """Rows and bytes per thread: checkpoints, blobs (channel values) and writes."""
    ids = q.list_param([str(t) for t in thread_ids])
    stats: dict[str, dict[str, int]] = {
        str(t): {
            "checkpoints": 0,
            "blobs": 0,
            "writes": 0,
            "checkpoint_bytes": 0,
            "blob_bytes": 0,
            "write_bytes": 0,
        }
        for t in thread_ids
    }
    for table, sql in (
        ("checkpoint", q.HISTORY_STATS_CHECKPOINTS),
        ("blob", q.HISTORY_STATS_BLOBS),
        ("write", q.HISTORY_STATS_WRITES),
    ):
        for thread_id, rows, size in (yield Fetch(sql, (ids,))):
            entry = stats.setdefault(str(thread_id), {})
            entry[f"{table}s"] = int(rows)
            entry[f"{table}_bytes"] = int(size)
    return stats
