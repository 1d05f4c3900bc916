"""Every saver operation, written once as a generator of SQL statements.

An operation yields `Fetch`/`Execute`/`ExecuteMany`/`Apply` requests and receives their results; an
engine runs the whole generator inside one transaction (one thread hop on SQLite, one
connection checkout on PostgreSQL). Encoding happens before the first statement and decoding
after the last, so the same code serves `put` and `aput`, SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    PendingWrite,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from graphsaver.core import codec
from graphsaver.core.latest import Head, Held, LatestCache, Value, WriteRow, blob_value, held_value
from graphsaver.core.lists import LIST_DELTA, Blob, ChainDecoder, ListCache, ListKey, ListState, encode_delta
from graphsaver.core.records import (
    Describe,
    Key,
    canonical_json,
    config_for,
    decode_json_object,
    decode_metadata,
    decode_record,
    encode_metadata,
    encode_record,
    encode_versions,
    filter_terms,
    key_from_config,
    text,
    version_key,
)
from graphsaver.errors import ConfigError, ThreadExistsError
from graphsaver.storage.queries import PageQuery, Queries, check_limit
from graphsaver.storage.sql import Apply, Execute, ExecuteMany, Fetch, Note, Operation

PAGE_SIZE = 100
ANCESTOR_CHUNK = 64


# --- put -----------------------------------------------------------------------------------------


def put(
    q: Queries,
    serde: SerializerProtocol,
    lists: ListCache,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
    latest: LatestCache | None = None,
) -> Operation[tuple[RunnableConfig, list[tuple[ListKey, ListState]]]]:
    """Store a checkpoint: a blob for each channel whose version changed, and one row.

    A list that extends one this process stored or read is stored as a delta (core/lists.py).
    Returns the new config and the list states to remember once the transaction commits.
    """
    key = key_from_config(config)
    if not checkpoint.get("id") or type(checkpoint["id"]) is not str:
        raise ConfigError(f"checkpoint id must be a non-empty string, got {checkpoint.get('id')!r}")
    where = Key(key.thread_id, key.checkpoint_ns, checkpoint["id"]).describe
    values = checkpoint["channel_values"]
    blobs = []
    states = []
    held: dict[str, Value] = {}
    for channel, version in new_versions.items():
        if "\x00" in channel:
            raise ConfigError(f"channel name {channel!r} contains NUL, which no backend can store")
        vkey = version_key(version)
        what = _of_channel(channel, where)
        base = None
        state = None
        if channel not in values:
            type_, data = codec.EMPTY, None
        else:
            value = values[channel]
            lkey = (key.thread_id, key.checkpoint_ns, channel)
            known = lists.get(lkey)
            delta = encode_delta(serde, known, value, vkey, what)
            if delta is not None:
                type_, (data, state) = LIST_DELTA, delta
                base = known.version  # type: ignore[union-attr]
            else:
                type_, data = codec.dumps(serde, value, what)
                if type(value) is list:
                    state = ListState.full(vkey, value, len(data))
            if state is not None:
                states.append((lkey, state))
        if latest is not None:
            held[channel] = blob_value(vkey, type_, data, state)
        blobs.append((key.thread_id, key.checkpoint_ns, channel, vkey, type_, data, base))
    versions = encode_versions(checkpoint["channel_versions"])
    meta, run_id = encode_metadata(config, metadata)
    row = (
        key.thread_id,
        key.checkpoint_ns,
        checkpoint["id"],
        key.checkpoint_id,  # the config's checkpoint is the new checkpoint's parent
        run_id,
        encode_record(checkpoint),
        versions,
        meta,
    )
    if blobs:
        yield ExecuteMany(q.INSERT_BLOB, blobs)
    yield Apply(q.UPSERT_CHECKPOINT, row)
    ts = str(checkpoint.get("ts") or checkpoint["id"])
    yield Apply(q.TOUCH_THREAD, (key.thread_id, ts, ts))
    if latest is not None:
        head: Head = (key.checkpoint_id, meta, versions, row[5])
        note = functools.partial(
            latest.note_put,
            key.thread_id,
            key.checkpoint_ns,
            checkpoint["id"],
            head,
            dict(checkpoint["channel_versions"]),
            held,
        )
        yield Note(note)
    return config_for(key.thread_id, key.checkpoint_ns, checkpoint["id"]), states


def put_writes(
    q: Queries,
    serde: SerializerProtocol,
    config: RunnableConfig,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
    latest: LatestCache | None = None,
) -> Operation[None]:
    """Store a task's writes against the checkpoint named in `config`."""
    key = key_from_config(config)
    if key.checkpoint_id is None:
        raise ConfigError(
            f"put_writes needs configurable.checkpoint_id (thread {key.thread_id!r}): "
            "writes belong to a stored checkpoint"
        )
    replace: list[tuple[Any, ...]] = []
    keep: list[tuple[Any, ...]] = []
    for idx, (channel, value) in enumerate(writes):
        type_, data = codec.dumps(serde, value, _of_write(channel, task_id, key.describe))
        special = WRITES_IDX_MAP.get(channel)
        row = (
            key.thread_id,
            key.checkpoint_ns,
            key.checkpoint_id,
            task_id,
            idx if special is None else special,
            channel,
            type_,
            data,
            task_path,
        )
        (keep if special is None else replace).append(row)
    if replace:
        yield ExecuteMany(q.UPSERT_WRITE, replace)
    if keep:
        yield ExecuteMany(q.INSERT_WRITE, keep)
    if latest is not None and (replace or keep):
        noted = [((r[8], r[3], r[4], r[5], r[6], r[7]), True) for r in replace]
        noted += [((r[8], r[3], r[4], r[5], r[6], r[7]), False) for r in keep]
        yield Note(
            functools.partial(latest.note_writes, key.thread_id, key.checkpoint_ns, key.checkpoint_id, noted)
        )


# --- reading -------------------------------------------------------------------------------------


def get_query(config: RunnableConfig) -> PageQuery:
    key = key_from_config(config)
    return PageQuery(
        thread_id=key.thread_id,
        checkpoint_ns=key.checkpoint_ns,
        checkpoint_id=key.checkpoint_id,
        limit=1,
    )


def list_query(
    config: RunnableConfig | None,
    *,
    filter: Mapping[str, Any] | None,
    before: RunnableConfig | None,
    limit: int | None,
    with_values: bool = True,
) -> PageQuery | None:
    """The first page of a `list` call, or None when nothing can match."""
    if limit is not None:
        check_limit(limit)
    if limit == 0:
        return None
    configurable = (config or {}).get("configurable") or {}
    key = key_from_config(config, need_thread=False) if config else None
    before_id = key_from_config(before, need_thread=False).checkpoint_id if before else None
    return PageQuery(
        thread_id=key.thread_id if key and "thread_id" in configurable else None,
        checkpoint_ns=configurable.get("checkpoint_ns") if "checkpoint_ns" in configurable else None,
        checkpoint_id=key.checkpoint_id if key else None,
        before_id=before_id,
        filters=tuple(filter_terms(filter)),
        limit=limit,
        with_values=with_values,
    )


def get_tuple(
    q: Queries,
    serde: SerializerProtocol,
    lists: ListCache | None,
    query: PageQuery,
    latest: LatestCache | None = None,
) -> Operation[tuple[CheckpointTuple | None, list[tuple[ListKey, ListState]]]]:
    """The checkpoint a config names (or the latest), and the list states it holds.

    With a `latest` cache, a thread's newest checkpoint held there is returned without a query.
    """
    thread_id, ns = query.thread_id, query.checkpoint_ns
    if latest is not None and thread_id is not None and ns is not None and query.with_values:
        held = latest.get(thread_id, ns, query.checkpoint_id)
        if held is not None:
            return _held_tuple(serde, query, held)
    token = latest.token() if latest is not None else 0  # taken before the query runs the queue
    pinned: dict[ListKey, ListState] = {}
    if lists is not None and thread_id is not None and ns is not None:
        snapshot = lists.snapshot(thread_id, ns)
        if snapshot:  # lists this process holds are neither fetched nor decoded again
            known = {channel: state.version for channel, state in snapshot.items()}
            query = dataclasses.replace(query, known=canonical_json(known))
            pinned = {(thread_id, ns, channel): state for channel, state in snapshot.items()}
    keep = latest is not None and query.checkpoint_id is None and query.with_values  # the newest
    tuples, states, kept = yield from _read_page(q, serde, lists, query, pinned, keep=keep)
    if keep and latest is not None and thread_id is not None and ns is not None:
        found = kept[0] if kept else Held(None, 0, empty=True)
        newest = found.checkpoint_id or ""
        for cid, *row in (yield Fetch(q.SELECT_WRITES_AFTER, (thread_id, ns, newest))):
            found.ahead.setdefault(cid, {})[(row[1], row[2])] = tuple(row)  # type: ignore[assignment]
        latest.note_read(token, thread_id, ns, found)
    return (tuples[0] if tuples else None), states


def list_page(
    q: Queries, serde: SerializerProtocol, lists: ListCache | None, query: PageQuery
) -> Operation[tuple[list[CheckpointTuple], PageQuery | None]]:
    """One page of a listing, and the query for the next page (None at the end)."""
    page = dataclasses.replace(query, limit=min(PAGE_SIZE, query.limit or PAGE_SIZE))
    tuples, _, _ = yield from _read_page(q, serde, lists, page)
    remaining = None if query.limit is None else query.limit - len(tuples)
    if len(tuples) < (page.limit or 0) or remaining == 0 or not tuples:
        return tuples, None
    last = tuples[-1].config["configurable"]
    after = (last["checkpoint_id"], last["thread_id"], last["checkpoint_ns"])
    return tuples, dataclasses.replace(query, after=after, limit=remaining)


def _read_page(
    q: Queries,
    serde: SerializerProtocol,
    lists: ListCache | None,
    query: PageQuery,
    pinned: Mapping[ListKey, ListState] | None = None,
    *,
    keep: bool = False,
) -> Operation[tuple[list[CheckpointTuple], list[tuple[ListKey, ListState]], list[Held]]]:
    """Query one page; with `keep`, also each checkpoint's content as the latest cache holds it."""
    sql, params = q.select_page(query)
    rows = yield Fetch(sql, params, custom_plan=query.custom_plan)
    heads = []
    blobs: dict[tuple[str, str, str, str], Blob] = {}
    writes: dict[tuple[str, str, str], list[WriteRow]] = defaultdict(list)
    for kind, k1, k2, k3, k4, k5, k6, k7, data, idx in rows:
        if kind == 0:
            heads.append((k1, k2, k3, (k4, k5, k6, data)))
        elif kind == 1:
            blobs[(k1, k2, k3, k4)] = (k5, data, k6)
        else:
            writes[(k1, k2, k3)].append((k7 or "", k4, idx, k5, k6, data))
    heads.sort(key=lambda h: (h[2], h[0], h[1]), reverse=True)
    decoder = ChainDecoder(serde, lists, pinned)
    result = []
    states: list[tuple[ListKey, ListState]] = []
    kept: list[Held] = []
    for thread_id, ns, checkpoint_id, head in heads:
        where = Key(thread_id, ns, checkpoint_id).describe
        versions = decode_json_object(head[2], where)
        values: dict[str, Any] = {}
        held: dict[str, Value] = {}
        if query.with_values:
            for channel, version in versions.items():
                bkey = (thread_id, ns, channel, version_key(version))
                blob = blobs.get(bkey)
                if blob is None or blob[0] == codec.EMPTY:
                    # not fetched: either held by this process, or absent
                    state = decoder.held(bkey) if blob is None else None
                    if state is not None:
                        values[channel] = list(state.items)
                    if keep:
                        held[channel] = blob_value(bkey[3], codec.EMPTY, None, state)
                    continue
                values[channel], state = decoder.value(bkey, blobs, _of_channel(channel, where))
                if state is not None:
                    states.append(((thread_id, ns, channel), state))
                if keep:
                    held[channel] = blob_value(bkey[3], blob[0], blob[1], state)
        rows_written = writes.get((thread_id, ns, checkpoint_id), [])
        result.append(
            _tuple(serde, thread_id, ns, checkpoint_id, head, versions, values, rows_written, query)
        )
        if keep:
            kept.append(Held(checkpoint_id, 0, head, held, {(w[1], w[2]): w for w in rows_written}))
    return result, states, kept


def _held_tuple(
    serde: SerializerProtocol, query: PageQuery, held: Held
) -> tuple[CheckpointTuple | None, list[tuple[ListKey, ListState]]]:
    """The newest checkpoint from the latest cache, decoded as a query's rows would be."""
    if held.empty:
        return None, []
    thread_id, ns, checkpoint_id = query.thread_id or "", query.checkpoint_ns or "", held.checkpoint_id or ""
    assert held.head is not None
    where = Key(thread_id, ns, checkpoint_id).describe
    values: dict[str, Any] = {}
    states: list[tuple[ListKey, ListState]] = []
    for channel, value in held.values.items():
        if value[0] == "blob" and value[2][0] == codec.EMPTY:
            continue
        values[channel], state = held_value(serde, value, _of_channel(channel, where))
        if state is not None:
            states.append(((thread_id, ns, channel), state))
    versions = decode_json_object(held.head[2], where)
    tup = _tuple(
        serde, thread_id, ns, checkpoint_id, held.head, versions, values, list(held.writes.values()), query
    )
    return tup, states


def _tuple(
    serde: SerializerProtocol,
    thread_id: str,
    ns: str,
    checkpoint_id: str,
    head: Head,
    versions: dict[str, Any],
    values: dict[str, Any],
    writes: list[WriteRow],
    query: PageQuery,
) -> CheckpointTuple:
    """A `CheckpointTuple` from a checkpoint's row (`head`), its decoded values and its writes."""
    parent_id, metadata, _, record = head
    where = Key(thread_id, ns, checkpoint_id).describe
    body = decode_record(bytes(record), where)
    body["channel_versions"] = versions
    checkpoint: Checkpoint = {**body, "channel_values": values}  # type: ignore[typeddict-item]
    return CheckpointTuple(
        config=config_for(thread_id, ns, checkpoint_id),
        checkpoint=checkpoint,
        metadata=decode_metadata(metadata, where),
        parent_config=config_for(thread_id, ns, parent_id) if parent_id else None,
        pending_writes=_pending_writes(serde, list(writes), where) if query.with_values else None,
    )


def _of_channel(channel: str, where: Callable[[], str]) -> Callable[[], str]:
    return lambda: f"channel {channel!r} of {where()}"


def _of_write(channel: str, task_id: str, where: Describe) -> Callable[[], str]:
    return lambda: f"write to channel {channel!r} by task {task_id!r} at {text(where)}"


def _pending_writes(
    serde: SerializerProtocol, rows: list[tuple[Any, ...]], where: Describe
) -> list[PendingWrite]:
    rows.sort(key=lambda r: writes_sort_key(r[0], r[1], r[2]))
    return [
        (
            task_id,
            channel,
            codec.loads(serde, type_, data, _of_write(channel, task_id, where)),
        )
        for _path, task_id, _idx, channel, type_, data in rows
    ]


# --- deleting, copying, pruning ----------------------------------------------------------------


def delete_threads(q: Queries, thread_ids: Sequence[str]) -> Operation[None]:
    ids = q.list_param([str(t) for t in thread_ids])
    yield Apply(q.DELETE_THREAD_WRITES, (ids,))
    yield Apply(q.DELETE_THREAD_BLOBS, (ids,))
    yield Apply(q.DELETE_THREAD_CHECKPOINTS, (ids,))
    yield Apply(q.DELETE_THREAD_ROWS, (ids,))


def delete_for_runs(q: Queries, run_ids: Sequence[str]) -> Operation[int]:
    """Delete the checkpoints (and their writes) made by these runs; returns how many."""
    if isinstance(run_ids, str):
        raise ConfigError("run_ids must be a list of run ids, not one string")
    if not run_ids:
        return 0
    runs = q.list_param([str(r) for r in run_ids])
    threads = [row[0] for row in (yield Fetch(q.SELECT_THREADS_OF_RUNS, (runs,)))]
    if not threads:
        return 0
    yield Execute(q.DELETE_RUN_WRITES, (runs,))
    deleted: int = yield Execute(q.DELETE_RUN_CHECKPOINTS, (runs,))
    yield Execute(q.DELETE_UNREFERENCED_BLOBS, (q.list_param(threads), q.list_param(threads)))
    yield Execute(q.DELETE_EMPTY_THREAD_ROWS, (q.list_param(threads),))
    return deleted


def copy_thread(q: Queries, source_thread_id: str, target_thread_id: str) -> Operation[int]:
    """Copy every checkpoint, blob and write of a thread; returns the checkpoints copied."""
    src, dst = str(source_thread_id), str(target_thread_id)
    if src == dst:
        raise ConfigError(f"cannot copy thread {src!r} onto itself")
    ((existing,),) = yield Fetch(q.COUNT_THREAD_CHECKPOINTS, (dst,))
    if existing:
        raise ThreadExistsError(
            f"thread {dst!r} already has {existing} checkpoints; copy into a new thread id "
            "or delete the target thread first"
        )
    copied: int = yield Execute(q.COPY_CHECKPOINTS, (dst, src))
    if copied:
        yield Execute(q.COPY_BLOBS, (dst, src))
        yield Execute(q.COPY_WRITES, (dst, src))
        yield Execute(q.COPY_THREAD_ROW, (dst, src))
    return copied


def prune(q: Queries, thread_ids: Sequence[str], strategy: str) -> Operation[int]:
    """Prune threads; returns the number of checkpoints removed.

    `keep_latest` keeps the newest checkpoint of each namespace, plus the ancestors its
    DeltaChannel state is rebuilt from (as many supersteps back as the checkpoint's
    `counters_since_delta_snapshot` says, so no kept checkpoint is cut off from its seed).
    `delete` removes the threads entirely.
    """
    if isinstance(thread_ids, str):
        raise ConfigError("thread_ids must be a list of thread ids, not one string")
    if strategy not in ("keep_latest", "delete"):
        raise ConfigError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
    if not thread_ids:
        return 0
    ids = q.list_param([str(t) for t in thread_ids])
    rows = yield Fetch(q.SELECT_THREAD_SKELETON, (ids,))
    if strategy == "delete":
        yield from delete_threads(q, thread_ids)
        return len(rows)
    drop = [(t, ns, cid) for t, ns, cid in plan_keep_latest(rows)]
    if drop:
        yield ExecuteMany(q.DELETE_CHECKPOINT, drop)
        yield Execute(q.DELETE_ORPHAN_WRITES, (ids,))
        yield Execute(q.DELETE_UNREFERENCED_BLOBS, (ids, ids))
    return len(drop)


def plan_keep_latest(rows: Sequence[Sequence[Any]]) -> list[tuple[str, str, str]]:
    """Which checkpoints `keep_latest` removes, from (thread, ns, id, parent, metadata) rows."""
    by_ns: dict[tuple[str, str], dict[str, tuple[str | None, Any]]] = defaultdict(dict)
    for thread_id, ns, cid, parent, metadata in rows:
        by_ns[(thread_id, ns)][cid] = (parent, metadata)
    drop: list[tuple[str, str, str]] = []
    for (thread_id, ns), checkpoints in by_ns.items():
        latest = max(checkpoints)
        keep = {latest}
        meta = decode_metadata(checkpoints[latest][1], Key(thread_id, ns, latest).describe())
        counters = meta.get("counters_since_delta_snapshot") or {}
        depth = max((int(c[1]) for c in counters.values() if c), default=-1) + 1
        cursor = checkpoints[latest][0]
        while depth > 0 and cursor in checkpoints and cursor not in keep:
            keep.add(cursor)
            cursor = checkpoints[cursor][0]
            depth -= 1
        drop.extend((thread_id, ns, cid) for cid in checkpoints if cid not in keep)
    return drop


# --- DeltaChannel history ----------------------------------------------------------------------


def delta_channel_history(
    q: Queries, serde: SerializerProtocol, config: RunnableConfig, channels: Sequence[str]
) -> Operation[dict[str, DeltaChannelHistory]]:
    """Per channel: the writes on the parent chain back to the nearest stored value (the seed).

    The chain is read in chunks with a recursive query, so the cost grows with the distance
    to the seed, not with the length of the thread.
    """
    wanted = list(dict.fromkeys(channels))
    if not wanted:
        return {}
    key = key_from_config(config)
    target = key.checkpoint_id
    if target is None:
        query = dataclasses.replace(get_query(config), with_values=False)
        head, _ = yield from get_tuple(q, serde, None, query)
        if head is None:
            return {ch: {"writes": []} for ch in wanted}
        target = head.config["configurable"]["checkpoint_id"]
    path: list[str] = []  # ancestors, nearest first
    seeds: dict[str, tuple[int, str]] = {}  # channel -> (index in path, version)
    cursor = target
    while cursor is not None and len(seeds) < len(wanted):
        rows = yield Fetch(
            q.SELECT_ANCESTORS,
            (
                key.thread_id,
                key.checkpoint_ns,
                cursor,
                key.thread_id,
                key.checkpoint_ns,
                ANCESTOR_CHUNK,
                key.thread_id,
                key.checkpoint_ns,
            ),
        )
        if not rows:
            break
        for ancestor_id, versions_json, _depth in rows:
            path.append(ancestor_id)
            versions = decode_json_object(
                versions_json, f"the channel versions of checkpoint {ancestor_id!r}"
            )
            for ch in wanted:
                if ch in seeds or ch not in versions:
                    continue
                vkey = version_key(versions[ch])
                found = yield Fetch(q.SELECT_BLOB_TYPE, (key.thread_id, key.checkpoint_ns, ch, vkey))
                if found and found[0][0] != codec.EMPTY:
                    seeds[ch] = (len(path) - 1, vkey)
            if len(seeds) == len(wanted):
                break
        cursor = None if len(rows) < ANCESTOR_CHUNK else path[-1]
    # the walk stops at the farthest seed, or covers the whole chain if a channel has none
    span = max(seeds[ch][0] for ch in wanted) if len(seeds) == len(wanted) else len(path) - 1
    on_path = path[: span + 1]
    rows = []
    if on_path:
        rows = yield Fetch(
            q.SELECT_WRITES_FOR_CHANNELS,
            (key.thread_id, key.checkpoint_ns, q.list_param(on_path), q.list_param(wanted)),
        )
    position = {cid: i for i, cid in enumerate(on_path)}
    by_channel: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for cid, task_id, channel, type_, data, task_path, idx in rows:
        limit = seeds[channel][0] if channel in seeds else len(path) - 1
        if position[cid] <= limit:
            by_channel[channel].append(
                (-position[cid], *writes_sort_key(task_path or "", task_id, idx), cid, channel, type_, data)
            )
    result: dict[str, DeltaChannelHistory] = {}
    for ch in wanted:
        ordered = sorted(by_channel[ch], key=lambda r: r[:4])
        entry: DeltaChannelHistory = {
            "writes": [
                (
                    r[2],
                    r[5],
                    codec.loads(serde, r[6], r[7], f"write to channel {ch!r} at checkpoint {r[4]!r}"),
                )
                for r in ordered
            ]
        }
        if ch in seeds:
            entry["seed"] = yield from _load_value(q, serde, key, ch, seeds[ch][1], path[seeds[ch][0]])
        result[ch] = entry
    return result


def _load_value(
    q: Queries, serde: SerializerProtocol, key: Key, channel: str, version: str, checkpoint_id: str
) -> Operation[Any]:
    """One channel value at one version, following list deltas to their base."""
    rows = yield Fetch(q.SELECT_BLOB_CHAIN, (key.thread_id, key.checkpoint_ns, channel, version))
    blobs: dict[Any, Blob] = {(v,): (t, d, b) for v, t, d, b in rows if t is not None}  # None: missing
    what = f"channel {channel!r} of {Key(key.thread_id, key.checkpoint_ns, checkpoint_id).describe()}"
    value, _ = ChainDecoder(serde).value((version,), blobs, what)
    return value
