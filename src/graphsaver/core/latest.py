"""The newest checkpoint of each thread, held so that reading it costs no query.

LangGraph reads a thread's newest checkpoint at the start of every run. A store that no other
process or connection can write (the in-memory engine) can answer that read from what this
process wrote and read last, without a query, and without first running the writes it queued.

What is held, per (thread, namespace): the newest checkpoint id known to be stored, and when
its whole content is known, the rows a query would return for it (the checkpoint row, each
channel's value as its stored bytes or, for a list, the remembered items, the pending writes).
Reads decode those rows as they would decode a query's, so every reader gets its own objects.

How it stays exact:
- A read (`note_read`) records what the store returned for the newest checkpoint.
- A `put` or `put_writes` is applied on top (`note_put`, `note_writes`) by the engine, in the
  same step that queues its statements, so in the order the store runs them: the newest id
  wins, a checkpoint stored again keeps its writes, a write's insert keeps the row already in
  its slot and a special channel's upsert replaces it. Writes that arrive before their
  checkpoint (LangGraph saves a task's writes while the checkpoint's put may still be on its
  way) wait with the entry until it comes.
- Whatever cannot be mirrored exactly (a put that refers to a channel version not held, a
  change to a thread whose entry is unknown or evicted) makes the entry unknown: the next
  read queries the store and starts it again.
- Any other write (delete, prune, copy, fork) empties the cache, in the same step as the
  engine runs the writes it queued (`clear`).
- A read's result is kept only if no change to its thread was noted since it began (its
  *token*), and no clear or eviction happened since.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from graphsaver.core import codec
from graphsaver.core.lists import ListState
from graphsaver.core.lru import SizedLRU
from graphsaver.core.records import version_key

# A channel's value as held: ("blob", version, (type, data)) | ("list", version, ListState)
Value = tuple[str, str, Any]
Head = tuple[str | None, Any, Any, Any]  # parent id, metadata JSON, versions JSON, record
WriteRow = tuple[str, str, int, str, str, Any]  # task_path, task_id, idx, channel, type, data


@dataclass(slots=True)
class Held:
    """One thread's newest checkpoint: its id, and (when `head` is set) its whole content."""

    checkpoint_id: str | None  # None: not known
    touched: int
    head: Head | None = None
    values: dict[str, Value] = field(default_factory=dict)
    writes: dict[tuple[str, int], WriteRow] = field(default_factory=dict)
    empty: bool = False  # the thread has no checkpoint in this namespace
    # writes saved for checkpoints newer than the held one, before those were stored
    ahead: dict[str, dict[tuple[str, int], WriteRow]] = field(default_factory=dict)
    values_size: int = -1  # the encoded bytes of `values`, once counted (-1: not yet)


def _known(held: Held) -> bool:
    return held.head is not None or held.empty


class LatestCache:
    """The newest checkpoint per (thread, namespace), for the recently active threads
    (core/lru.py); thread-safe."""

    def __init__(self, held: SizedLRU[tuple[str, str], Held] | None = None) -> None:
        self._held = SizedLRU() if held is None else held
        self._lock = threading.Lock()
        self._clock = 0  # counts changes; a token is its value when a query began
        self._floor = 0  # tokens below it were taken before a clear or an eviction

    def limit(self, max_bytes: int) -> None:
        """Bound the encoded bytes held (core/lru.py); the oldest entries go at the next change."""
        with self._lock:
            self._held.max_bytes = max_bytes

    def token(self) -> int:
        with self._lock:
            return self._clock

    def get(self, thread_id: str, ns: str, checkpoint_id: str | None) -> Held | None:
        """The held content of the newest checkpoint, if it is the one asked for (None: query)."""
        with self._lock:
            held = self._held.get((thread_id, ns))
            if held is None or not _known(held):
                return None
            if checkpoint_id is not None and checkpoint_id != held.checkpoint_id:
                return None
            self._held.touch((thread_id, ns))
            return held  # never changed in place: a change stores new dicts

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._clock += 1
            self._floor = self._clock

    # --- changes -------------------------------------------------------------------------------

    def note_read(self, token: int, thread_id: str, ns: str, found: Held) -> None:
        """What a query returned as the newest checkpoint (`empty`: the thread has none), with
        the writes stored for newer checkpoints (`ahead`)."""
        with self._lock:
            current = self._held.get((thread_id, ns))
            if token < self._floor or (current is not None and current.touched > token):
                return  # a change was noted while the query ran: its result may be stale
            found.touched = self._tick()
            self._store((thread_id, ns), found)

    def note_put(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        head: Head,
        versions: dict[str, Any],
        values: dict[str, Value],
    ) -> None:
        """A stored checkpoint: `values` holds the channels whose version it wrote."""
        key = (thread_id, ns)
        with self._lock:
            current = self._applies_to(key, checkpoint_id)
            if current is None:
                return
            newest = current.checkpoint_id
            if checkpoint_id == newest:
                writes, ahead = current.writes, current.ahead  # storing it again keeps its writes
            else:
                writes = current.ahead.get(checkpoint_id, {})
                ahead = {cid: rows for cid, rows in current.ahead.items() if cid > checkpoint_id}
            held: dict[str, Value] = {}
            size = 0
            for channel, version in versions.items():
                value = values.get(channel) or current.values.get(channel)
                if value is None or value[1] != version_key(version):
                    self._forget(key)  # a channel version this cache does not hold
                    return
                held[channel] = value
                size += _value_size(value)
            self._store(
                key, Held(checkpoint_id, self._tick(), head, held, writes, ahead=ahead, values_size=size)
            )

    def note_writes(
        self, thread_id: str, ns: str, checkpoint_id: str, rows: list[tuple[WriteRow, bool]]
    ) -> None:
        """Stored writes of one checkpoint, each with whether it replaces a row in its slot
        (an upsert) or not (an insert that keeps the row there)."""
        key = (thread_id, ns)
        with self._lock:
            current = self._applies_to(key, checkpoint_id)
            if current is None:
                return
            newest = current.checkpoint_id
            writes = dict(current.writes if checkpoint_id == newest else current.ahead.get(checkpoint_id, {}))
            for row, replaces in rows:
                slot = (row[1], row[2])
                if replaces or slot not in writes:
                    writes[slot] = row
            ahead = current.ahead
            if checkpoint_id != newest:  # LangGraph may save a task's writes before their checkpoint
                ahead, writes = {**ahead, checkpoint_id: writes}, current.writes
            held = Held(
                newest,
                self._tick(),
                current.head,
                current.values,
                writes,
                current.empty,
                ahead,
                current.values_size,
            )
            self._store(key, held)

    def _applies_to(self, key: tuple[str, str], checkpoint_id: str) -> Held | None:
        """The entry a change to `checkpoint_id` updates; None when there is nothing to update
        (a change to an older checkpoint leaves the newest as it is; an unknown thread stays so)."""
        current = self._held.get(key)
        if current is None or not _known(current):
            self._forget(key)
            return None
        if current.checkpoint_id is not None and checkpoint_id < current.checkpoint_id:
            return None
        return current

    def _forget(self, key: tuple[str, str]) -> None:
        """Mark a thread unknown: its next read queries the store."""
        self._store(key, Held(None, self._tick()))

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _store(self, key: tuple[str, str], held: Held) -> None:
        if self._held.put(key, held, _weight(held)):
            self._floor = self._tick()  # a query begun before may have missed a change to it


def _weight(held: Held) -> int:
    """The encoded bytes an entry holds: its lists' and blobs' values, its writes."""
    size = held.values_size
    if size < 0:
        size = held.values_size = sum(map(_value_size, held.values.values()))
    for rows in (held.writes, *held.ahead.values()):
        for row in rows.values():
            size += len(row[5] or b"")
    return size


def _value_size(value: Value) -> int:
    kind, _version, payload = value
    return payload.size if kind == "list" else len(payload[1] or b"")  # type: ignore[no-any-return]


def blob_value(version: str, type_: str, data: Any, state: ListState | None) -> Value:
    """How a channel value is held: a list by its remembered items, anything else by its bytes."""
    if state is not None:
        return ("list", version, state)
    return ("blob", version, (type_, data))


def held_value(serde: Any, value: Value, what: Any) -> tuple[Any, ListState | None]:
    """A new copy of a held value (decoded again, or a new list of the remembered items)."""
    kind, _version, payload = value
    if kind == "list":
        return list(payload.items), payload
    type_, data = payload
    return codec.loads(serde, type_, data, what), None
