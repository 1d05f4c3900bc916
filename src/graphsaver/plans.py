"""Plans: one body for a sync and an async function.

A plan is a generator that yields the calls it needs (a saver or graph method, or a storage
operation on a graphsaver saver's engine) and receives their results. `run` drives it with
the sync methods, `arun` with their `a`-prefixed twins (`list` -> `alist`, `put` -> `aput`).
This module also holds the reads that several plans share.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, writes_sort_key

from graphsaver.core import history_ops, timeline
from graphsaver.core.history_ops import WriteRow
from graphsaver.errors import CheckpointNotFoundError, ConfigError, ThreadNotFoundError
from graphsaver.saver import GraphsaverSaver
from graphsaver.storage.sql import Operation

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """Call `target.method(...)` (or `await target.a<method>(...)`); `many`: collect an iterator."""

    target: Any
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    many: bool = False


@dataclass(frozen=True, slots=True)
class Storage:
    """Run a storage operation on a graphsaver saver's engine, in one transaction."""

    saver: GraphsaverSaver
    op: Operation[Any]
    write: bool = False


Plan = Generator[Call | Storage, Any, T]


def run(plan: Plan[T]) -> T:
    result: Any = None
    try:
        while True:
            try:
                step = plan.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(step, Storage):
                result = step.saver._engine.run(step.op, write=step.write)
            else:
                out = getattr(step.target, step.method)(*step.args, **step.kwargs)
                result = list(out) if step.many else out
    finally:
        plan.close()


async def arun(plan: Plan[T]) -> T:
    result: Any = None
    try:
        while True:
            try:
                step = plan.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(step, Storage):
                result = await step.saver._engine.arun(step.op, write=step.write)
            else:
                method = getattr(step.target, "a" + step.method)
                if step.many:
                    result = [item async for item in method(*step.args, **step.kwargs)]
                else:
                    result = await method(*step.args, **step.kwargs)
    finally:
        plan.close()


def graphsaver_saver(saver: BaseCheckpointSaver[Any], what: str) -> GraphsaverSaver:
    if not isinstance(saver, GraphsaverSaver):
        raise ConfigError(f"{what} needs a graphsaver saver (graphsaver.connect), got {type(saver).__name__}")
    return saver


def text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def thread_config(
    thread_id: str, checkpoint_ns: str = "", checkpoint_id: str | None = None
) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": str(thread_id), "checkpoint_ns": checkpoint_ns}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def get(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_ns: str,
    checkpoint_id: str | None,
    *,
    values: bool,
) -> Plan[CheckpointTuple]:
    """A checkpoint (the latest when no id), with values or metadata only; not found is an error."""
    config = thread_config(thread_id, checkpoint_ns, checkpoint_id)
    if not values and isinstance(saver, GraphsaverSaver):
        found = yield Call(saver, "list_metadata", (config,), {"limit": 1}, many=True)
        tup = found[0] if found else None
    else:
        tup = yield Call(saver, "get_tuple", (config,))
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


def writes(saver: BaseCheckpointSaver[Any], tup: CheckpointTuple) -> Plan[list[WriteRow]]:
    """The pending writes of a checkpoint, with task paths where the saver keeps them."""
    c = tup.config["configurable"]
    if isinstance(saver, GraphsaverSaver):
        op = history_ops.thread_writes(
            saver._q, saver.serde, c["thread_id"], c.get("checkpoint_ns", ""), [c["checkpoint_id"]]
        )
        rows: list[WriteRow] = yield Storage(saver, op)
        return sorted(rows, key=lambda r: writes_sort_key(r.task_path, r.task_id, r.idx))
    if tup.pending_writes is None:
        tup = yield from get(
            saver, c["thread_id"], c.get("checkpoint_ns", ""), c["checkpoint_id"], values=True
        )
    return [
        WriteRow(c["checkpoint_id"], t, "", ch, i, v) for i, (t, ch, v) in enumerate(tup.pending_writes or [])
    ]


def named(rows: Sequence[WriteRow], fallback: Sequence[str] = ()) -> list[tuple[str, str | None, str, Any]]:
    """(task_id, node name, channel, value); a lone node that ran names path-less writes."""
    only = fallback[0] if len(fallback) == 1 else None
    return [(r.task_id, timeline.task_name(r.task_path) or only, r.channel, r.value) for r in rows]


def all_thread_ids(saver: BaseCheckpointSaver[Any]) -> Plan[list[str]]:
    if not isinstance(saver, GraphsaverSaver):
        tuples = yield Call(saver, "list", (None,), many=True)
        return list(dict.fromkeys(t.config["configurable"]["thread_id"] for t in tuples))
    ids: list[str] = []
    after = None
    while True:
        rows, after = yield Storage(saver, history_ops.threads_page(saver._q, [], after, 500))
        ids.extend(r.thread_id for r in rows)
        if after is None:
            return ids


def available(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    checkpoint_ns: str,
    checkpoint: Mapping[str, Any],
    *,
    values: bool,
) -> Plan[set[str] | None]:
    """The channels of a checkpoint that hold a value, asking storage when the record cannot tell."""
    known = timeline.available_channels(checkpoint, values=values)
    if known is not None or not isinstance(saver, GraphsaverSaver):
        return known
    op = history_ops.filled_channels(saver._q, thread_id, checkpoint_ns, timeline.triggers(checkpoint))
    filled: set[str] = yield Storage(saver, op)
    return filled
