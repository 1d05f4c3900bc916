"""Threads in and out: JSON Lines export (readable, or lossless), import, and copy between savers.

The readable form is one JSON object per checkpoint (metadata, values with messages in full,
writes), for `jq`. The lossless form keeps the serializer's bytes (base64) and restores
exactly: exporting an import gives the same file. Both use the public saver API (plus the
task paths of writes, from storage, when the saver is a graphsaver saver).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from graphsaver.connect import connect
from graphsaver.core import timeline
from graphsaver.core.records import config_for
from graphsaver.errors import ConfigError, ThreadExistsError, ThreadNotFoundError
from graphsaver.plans import Call, Plan, all_thread_ids, arun, get, run, thread_config, writes
from graphsaver.saver import GraphsaverSaver

__all__ = [
    "Progress",
    "export_threads",
    "aexport_threads",
    "import_threads",
    "aimport_threads",
    "copy_threads",
    "acopy_threads",
    "copy_database",
    "acopy_database",
]

LOSSLESS = "graphsaver-lossless"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after each thread of a long operation."""

    done: int
    total: int | None
    thread_id: str
    checkpoints: int  # checkpoints handled so far


ProgressCallback = Callable[[Progress], None]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _thread_records(
    saver: BaseCheckpointSaver[Any], thread_id: str, lossless: bool
) -> Plan[list[dict[str, Any]]]:
    """A thread's checkpoints oldest first (parents before children), as export records."""
    config: RunnableConfig = {"configurable": {"thread_id": str(thread_id)}}
    method = "list_metadata" if isinstance(saver, GraphsaverSaver) else "list"
    heads: list[CheckpointTuple] = yield Call(saver, method, (config,), many=True)
    heads.sort(key=lambda t: t.config["configurable"]["checkpoint_id"])
    records = []
    for head in heads:
        c = head.config["configurable"]
        tup = yield from get(saver, c["thread_id"], c["checkpoint_ns"], c["checkpoint_id"], values=True)
        rows = yield from writes(saver, tup)
        parent = (tup.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        record: dict[str, Any] = {
            "thread_id": c["thread_id"],
            "checkpoint_ns": c["checkpoint_ns"],
            "checkpoint_id": c["checkpoint_id"],
            "parent_checkpoint_id": parent,
            "metadata": dict(tup.metadata or {}),
        }
        if lossless:
            type_, data = saver.serde.dumps_typed(_canonical(tup.checkpoint))
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
            record["next"] = list(timeline.next_nodes(tup.checkpoint, set(tup.checkpoint["channel_values"])))
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


def _canonical(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint with its mappings in sorted key order: databases (jsonb) reorder keys,
    and a lossless export must not depend on where it was read from."""
    result: dict[str, Any] = {}
    for key in sorted(checkpoint):
        value = checkpoint[key]
        if key in ("channel_values", "channel_versions"):
            value = dict(sorted(value.items()))
        elif key == "versions_seen":
            value = {node: dict(sorted(seen.items())) for node, seen in sorted(value.items())}
        result[key] = value
    return result


def _export(
    saver: BaseCheckpointSaver[Any],
    out: IO[str],
    thread_ids: Sequence[str] | None,
    lossless: bool,
    progress: ProgressCallback | None,
) -> Plan[int]:
    ids = list(thread_ids) if thread_ids is not None else (yield from all_thread_ids(saver))
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
    return run(_export(saver, out, thread_ids, lossless, progress))


async def aexport_threads(
    saver: BaseCheckpointSaver[Any],
    out: IO[str],
    thread_ids: Sequence[str] | None = None,
    *,
    lossless: bool = False,
    progress: ProgressCallback | None = None,
) -> int:
    """Async `export_threads`."""
    return await arun(_export(saver, out, thread_ids, lossless, progress))


def _put_record(
    saver: BaseCheckpointSaver[Any], record: Mapping[str, Any], lists: dict[Any, Any]
) -> Plan[None]:
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
    parent = thread_config(thread_id, ns, record["parent_checkpoint_id"])
    versions = dict(checkpoint["channel_versions"])
    yield Call(saver, "put", (parent, checkpoint, record["metadata"], versions))
    config = config_for(thread_id, ns, record["checkpoint_id"])
    for task_id, task_path, task_writes in _write_calls(saver, record["writes"]):
        yield Call(saver, "put_writes", (config, task_writes, task_id, task_path))


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
) -> Plan[int]:
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
            existing = yield Call(saver, "get_tuple", (thread_config(current),))
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
    return run(_import(saver, source, progress))


async def aimport_threads(
    saver: BaseCheckpointSaver[Any], source: Iterable[str], *, progress: ProgressCallback | None = None
) -> int:
    """Async `import_threads`."""
    return await arun(_import(saver, source, progress))


def _copy(
    source: BaseCheckpointSaver[Any],
    target: BaseCheckpointSaver[Any],
    thread_ids: Sequence[str] | None,
    progress: ProgressCallback | None,
) -> Plan[int]:
    ids = list(thread_ids) if thread_ids is not None else (yield from all_thread_ids(source))
    count = 0
    for done, thread_id in enumerate(ids, 1):
        existing = yield Call(target, "get_tuple", (thread_config(thread_id),))
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
    return run(_copy(source, target, thread_ids, progress))


async def acopy_threads(
    source: BaseCheckpointSaver[Any],
    target: BaseCheckpointSaver[Any],
    thread_ids: Sequence[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> int:
    """Async `copy_threads`."""
    return await arun(_copy(source, target, thread_ids, progress))


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
