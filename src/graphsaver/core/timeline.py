"""What a thread's stored history means, with no I/O: next tasks, statuses, branches, diffs.

Everything here reads checkpoints and pending writes as any `BaseCheckpointSaver` returns
them. Next tasks are derived the way LangGraph schedules them: a node runs when its trigger
channel (`branch:to:<node>`, or `__start__`) has a version newer than the node has seen.
"""

from __future__ import annotations

import base64
import dataclasses
import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import Enum
from typing import Any
from uuid import UUID

from langgraph.checkpoint.base import WRITES_IDX_MAP

ERROR, INTERRUPT, RESUME = "__error__", "__interrupt__", "__resume__"
NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"
TRIGGER_PREFIX = "branch:to:"
START = "__start__"
SPECIAL = frozenset(WRITES_IDX_MAP)


# --- next tasks and statuses -------------------------------------------------------------------


def _newer(version: Any, seen: Any) -> bool:
    if seen is None:
        return True
    if type(version) is type(seen):
        return bool(version > seen)
    return str(version) > str(seen)


def triggers(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The trigger channels of a checkpoint and their versions."""
    versions = checkpoint.get("channel_versions") or {}
    return {c: v for c, v in versions.items() if c == START or c.startswith(TRIGGER_PREFIX)}


def available_channels(checkpoint: Mapping[str, Any], *, values: bool) -> set[str] | None:
    """The channels holding a value: from the values when loaded, else from `updated_channels`
    (set by LangGraph's loop; a trigger is consumed by the step after the one that wrote it);
    None when neither tells (an update checkpoint read without values)."""
    if values:
        return set(checkpoint.get("channel_values") or {})
    updated = checkpoint.get("updated_channels")
    return None if updated is None else set(updated)


def next_nodes(checkpoint: Mapping[str, Any], available: set[str] | None) -> tuple[str, ...]:
    """The nodes LangGraph would run from this checkpoint.

    A node runs when its trigger channel holds a value (`available`) with a version the node
    has not seen. With `available` unknown, versions alone decide, which may list a node
    whose trigger was already consumed.
    """
    versions = checkpoint.get("channel_versions") or {}
    seen = checkpoint.get("versions_seen") or {}
    nodes = []
    for channel, version in versions.items():
        if channel == START:
            node = START
        elif channel.startswith(TRIGGER_PREFIX):
            node = channel[len(TRIGGER_PREFIX) :]
        else:
            continue
        if available is not None and channel not in available:
            continue
        if _newer(version, (seen.get(node) or {}).get(channel)):
            nodes.append(node)
    return tuple(sorted(nodes))


def nodes_run(checkpoint: Mapping[str, Any], parent: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The nodes that ran in the step that produced `checkpoint` (their seen versions moved)."""
    if parent is None:
        return ()
    seen = checkpoint.get("versions_seen") or {}
    before = parent.get("versions_seen") or {}
    return tuple(sorted(n for n, s in seen.items() if not n.startswith("__") and s != before.get(n)))


def task_name(task_path: str) -> str | None:
    """A task's node name from its stored path (`~__pregel_pull, agent`), if it names one."""
    parts = [p.strip() for p in task_path.split(",")]
    if len(parts) >= 2 and parts[0].lstrip("~") == "__pregel_pull":
        return parts[1]
    return None


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One task of a checkpoint's next step and what was saved for it."""

    name: str
    task_id: str | None  # None: scheduled, nothing saved yet
    status: str  # pending, succeeded, failed, interrupted
    error: str | None = None
    interrupts: tuple[Any, ...] = ()
    writes: dict[str, Any] = dataclasses.field(default_factory=dict)


def task_statuses(
    next: Sequence[str], writes: Iterable[tuple[str, str | None, str, Any]]
) -> list[TaskStatus]:
    """Tasks of the next step from the checkpoint's pending writes (task_id, name, channel, value).

    A task with a regular write succeeded; otherwise an error write means it failed and an
    interrupt write that it is waiting for a resume value. A next node with no saved write
    is pending.
    """
    by_task: dict[str, dict[str, Any]] = {}
    for task_id, name, channel, value in writes:
        if task_id == NULL_TASK_ID:
            continue
        entry = by_task.setdefault(task_id, {"name": name or task_id, "writes": {}, "error": None, "int": []})
        if channel == ERROR:
            entry["error"] = describe_error(value)
        elif channel == INTERRUPT:
            entry["int"].extend(
                getattr(i, "value", i) for i in (value if isinstance(value, (list, tuple)) else [value])
            )
        elif channel not in SPECIAL:
            entry["writes"][channel] = value
    result = []
    for task_id, e in by_task.items():
        regular = {c: v for c, v in e["writes"].items() if not c.startswith(TRIGGER_PREFIX)}
        if e["writes"]:
            status = "succeeded"
        elif e["error"] is not None:
            status = "failed"
        elif e["int"]:
            status = "interrupted"
        else:
            status = "pending"
        result.append(TaskStatus(e["name"], task_id, status, e["error"], tuple(e["int"]), regular))
    named = {t.name for t in result}
    result.extend(TaskStatus(n, None, "pending") for n in next if n not in named)
    return result


def thread_status(next: Sequence[str], writes: Iterable[tuple[str, str | None, str, Any]]) -> str:
    """idle (nothing to run), error, interrupted, or pending (next tasks with no outcome saved:
    a run in progress, stopped before them, or one that died)."""
    tasks = task_statuses(next, writes)
    statuses = {t.status for t in tasks}
    for status, label in (("failed", "error"), ("interrupted", "interrupted"), ("pending", "pending")):
        if status in statuses:
            return label
    return "idle"


def describe_error(value: Any) -> str:
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)


# --- the tree of branches ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Branch:
    """A line of checkpoints: the current one ends at the thread's latest checkpoint."""

    index: int
    head: str  # its newest checkpoint
    base: str  # its oldest checkpoint
    fork_point: str | None  # the checkpoint of another branch it starts from
    length: int
    current: bool


def branches(nodes: Sequence[tuple[str, str | None]]) -> tuple[dict[str, int], list[Branch]]:
    """Branch index per checkpoint, and the branches, from (id, parent id) pairs.

    Branch 0 is the current one (ending at the newest checkpoint); the others follow by the
    age of their newest checkpoint, each running back to where it left an earlier branch.
    """
    parent = dict(nodes)
    children = {p for p in parent.values() if p is not None}
    heads = sorted((c for c in parent if c not in children), reverse=True)
    if parent:
        newest = max(parent)
        heads = [newest] + [h for h in heads if h != newest]
    branch_of: dict[str, int] = {}
    result = []
    for index, head in enumerate(heads):
        cursor: str | None = head
        base, length = head, 0
        while cursor is not None and cursor in parent and cursor not in branch_of:
            branch_of[cursor] = index
            base, length = cursor, length + 1
            cursor = parent[cursor]
        # a head is nobody's parent, so no earlier walk reached it: every branch is non-empty
        result.append(Branch(index, head, base, cursor, length, index == 0))
    return branch_of, result


# --- values as JSON and text -------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A JSON form of a channel value that shows everything it holds (messages in full)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return jsonable(dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return repr(value)


def to_json(value: Any, **options: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, **options)


def _is_message(value: Any) -> bool:
    return hasattr(value, "content") and hasattr(value, "type")


def render_message(message: Any) -> str:
    """`[ai] text · tool calls: add(a=1)`: one line per message."""
    kind = str(message.type)
    name = getattr(message, "name", None)
    label = f"{kind} {name}" if name and kind == "tool" else kind
    content = message.content
    text = content if isinstance(content, str) else to_json(content)
    calls = getattr(message, "tool_calls", None) or []
    if calls:
        rendered = ", ".join(
            f"{c.get('name')}({', '.join(f'{k}={v!r}' for k, v in (c.get('args') or {}).items())})"
            for c in calls
        )
        text = f"{text} · tool calls: {rendered}" if text else f"tool calls: {rendered}"
    return f"[{label}] {text}".replace("\n", " ")


def render_value(value: Any) -> list[str]:
    """Lines showing a value: one per message for message lists, JSON otherwise."""
    if isinstance(value, (list, tuple)) and value and all(_is_message(v) for v in value):
        return [render_message(m) for m in value]
    if _is_message(value):
        return [render_message(value)]
    return [to_json(value, sort_keys=True)]


@dataclass(frozen=True, slots=True)
class ChannelChange:
    channel: str
    kind: str  # added, removed, changed
    old: Any = None
    new: Any = None

    def lines(self) -> list[str]:
        """`+`/`-` lines; a changed message list shows only the messages that differ."""
        if self.kind == "added":
            return [f"+ {line}" for line in render_value(self.new)]
        if self.kind == "removed":
            return [f"- {line}" for line in render_value(self.old)]
        old, new = render_value(self.old), render_value(self.new)
        out = []
        for line in difflib.ndiff(old, new):
            if line[:1] in "+-":
                out.append(f"{line[0]} {line[2:]}")
        unchanged = len(old) - sum(1 for line in out if line.startswith("-"))
        if unchanged > 0 and len(old) > 1:
            out.insert(0, f"  ({unchanged} unchanged)")
        return out


def internal(channel: str) -> bool:
    """LangGraph's own channels (triggers, input): not part of the user-visible state."""
    return channel.startswith(TRIGGER_PREFIX) or channel == START


def diff_values(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[ChannelChange]:
    """Changes of the state channels (LangGraph's trigger and input channels left out)."""
    changes = []
    for channel in sorted(c for c in set(old) | set(new) if not internal(c)):
        if channel not in old:
            changes.append(ChannelChange(channel, "added", None, new[channel]))
        elif channel not in new:
            changes.append(ChannelChange(channel, "removed", old[channel], None))
        elif not _equal(old[channel], new[channel]):
            changes.append(ChannelChange(channel, "changed", old[channel], new[channel]))
    return changes


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # values with odd __eq__ (arrays): compare their JSON forms
        return to_json(a, sort_keys=True) == to_json(b, sort_keys=True)
