"""Append-only lists (message histories) stored as deltas, so storage grows linearly.

A conversation's message list gains a few items per step. Upstream savers re-encode and
re-store the whole list at every step: O(N^2) bytes and CPU over a thread's life. graphsaver
stores a new list version as a *delta*: a reference to an earlier version of the same channel
(its `base`) plus the encoded appended items. A full value is stored again when the run of
deltas since the last full value grows longer than that value had items (and at least
`MIN_RUN`), so the bytes stay O(N) and the read chain stays shorter than the list.

How a delta is found without re-reading: the saver remembers, per (thread, namespace,
channel), the last list it stored or read (`ListState`, a shallow copy of the items), for the
recently active threads (bounded by threads and by the lists' encoded bytes, core/lru.py;
a thread forgotten is read again at its next run's start, which LangGraph always does). A new
value is a delta when it is longer and its prefix holds *the same objects* (identity, not
equality: cheap, and exact for LangGraph's reducers, which copy the list and append). A
value whose items were replaced (add_messages with an existing id), a fork, a fresh process
or another worker's write simply produces a full value. The base is referenced by version,
never computed, so versions minted by anyone work. The database enforces the reference
(a foreign key): a write whose base was deleted by another process fails, and the saver
retries it with full values.

Values are treated as immutable once checkpointed, as LangGraph's reducers assume: mutating
an already-stored message object in place is not detected by the identity check.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from graphsaver.core import codec
from graphsaver.core.lru import SizedLRU
from graphsaver.core.records import Describe, pack, text, unpack
from graphsaver.errors import CorruptDataError

LIST_DELTA = "graphsaver.list-delta"
MIN_RUN = 16

ListKey = tuple[str, str, str]  # thread, namespace, channel


@dataclass(slots=True)  # never changed once made; not frozen, which would triple its cost
class ListState:
    """A list version this process stored or read, which later versions may extend."""

    version: str
    items: list[Any]  # a shallow copy: later in-place appends to the live list don't show here
    depth: int  # deltas since the last full value
    full_len: int  # items in that full value
    size: int  # bytes of its encoding (the full value and the deltas since): what it weighs

    @classmethod
    def full(cls, version: str, value: list[Any], size: int) -> ListState:
        return cls(version, list(value), 0, len(value), size)


class ListCache:
    """The latest `ListState` per (thread, namespace, channel), for the recently active
    threads (core/lru.py); thread-safe."""

    def __init__(self, states: SizedLRU[tuple[str, str], dict[str, ListState]] | None = None) -> None:
        self._states = SizedLRU() if states is None else states
        self._lock = threading.Lock()

    def get(self, key: ListKey) -> ListState | None:
        with self._lock:
            channels = self._states.get(key[:2])
            return None if channels is None else channels.get(key[2])

    def snapshot(self, thread_id: str, checkpoint_ns: str) -> dict[str, ListState]:
        """{channel: state} of the lists remembered for one thread and namespace, now."""
        with self._lock:
            return dict(self._states.get((thread_id, checkpoint_ns)) or {})

    def update(self, states: Iterable[tuple[ListKey, ListState]]) -> None:
        with self._lock:
            for (thread_id, ns, channel), state in states:
                key = (thread_id, ns)
                channels = self._states.get(key) or {}
                channels[channel] = state
                self._states.put(key, channels, sum(s.size for s in channels.values()))

    def forget_threads(self, thread_ids: Iterable[str]) -> None:
        gone = {str(t) for t in thread_ids}
        with self._lock:
            for key in [k for k in self._states if k[0] in gone]:
                self._states.pop(key)

    def clear(self) -> None:
        with self._lock:
            self._states.clear()


def encode_delta(
    serde: SerializerProtocol, state: ListState | None, value: Any, version: str, what: Describe
) -> tuple[bytes, ListState] | None:
    """The delta that turns `state`'s list into `value`, or None when a full value is due."""
    if state is None or type(value) is not list:
        return None
    n = len(state.items)
    if len(value) <= n or state.depth + 1 > max(MIN_RUN, state.full_len):
        return None
    if not all(map(operator.is_, state.items, value)):
        return None
    items = [codec.dumps(serde, item, what) for item in value[n:]]
    data = pack([state.depth + 1, state.full_len, items])
    return data, ListState(version, list(value), state.depth + 1, state.full_len, state.size + len(data))


Blob = tuple[str, "bytes | None", "str | None"]  # type, data, base


class ChainDecoder:
    """Decodes channel values, following list deltas to their base; each blob decoded once.

    With a `ListCache`, a list version this process stored or read last is not decoded again:
    the reader gets a new list holding the remembered items (LangGraph treats checkpointed
    values as immutable, the same assumption the delta encoding makes).
    """

    def __init__(
        self,
        serde: SerializerProtocol,
        lists: ListCache | None = None,
        pinned: Mapping[ListKey, ListState] | None = None,
    ) -> None:
        self.serde = serde
        self.lists = lists
        self.pinned = pinned or {}  # states taken when the query was built
        self._values: dict[Any, tuple[Any, int]] = {}  # a full value and its encoded size
        self._deltas: dict[Any, tuple[str | None, list[Any], int, int, int]] = {}

    def held(self, key: Any) -> ListState | None:
        """The remembered state of blob `key`, if this process holds that version.

        A reader that left the versions it holds out of its query finds them in `pinned`:
        the cache may have moved on since.
        """
        if len(key) != 4:
            return None
        known = self.pinned.get(key[:3])
        if known is None and self.lists is not None:
            known = self.lists.get(key[:3])
        return known if known is not None and known.version == key[-1] else None

    def value(self, key: Any, blobs: dict[Any, Blob], what: Describe) -> tuple[Any, ListState | None]:
        """The value of blob `key` (thread, ns, channel, version) and its list state, if a list."""
        held = self.held(key)
        if held is not None:
            return list(held.items), held
        chain = []
        cursor = key
        while cursor not in self._values:
            blob = blobs.get(cursor)
            if blob is None:
                raise CorruptDataError(
                    f"{what}: the stored list version {cursor[-1]!r} it extends is missing"
                )
            type_, data, base = blob
            if type_ != LIST_DELTA:
                self._values[cursor] = (codec.loads(self.serde, type_, data, what), len(data or b""))
                break
            if cursor not in self._deltas:
                self._deltas[cursor] = self._decode_delta(data, base, what)
            chain.append(cursor)
            cursor = (*cursor[:-1], base)
        if not chain:
            value, size = self._values[key]
            return value, ListState.full(key[-1], value, size) if type(value) is list else None
        first, size = self._values[cursor]
        built = list(first)
        for link in reversed(chain):
            built.extend(self._deltas[link][1])
            size += self._deltas[link][4]
        _, _, depth, full_len, _ = self._deltas[key]
        return built, ListState(key[-1], list(built), depth, full_len, size)

    def _decode_delta(
        self, data: bytes | None, base: str | None, what: Describe
    ) -> tuple[str | None, list[Any], int, int, int]:
        try:
            depth, full_len, items = unpack(bytes(data or b""))
        except Exception as exc:  # msgpack raises several unrelated types on bad input
            raise CorruptDataError(f"{text(what)}: a stored list delta is corrupt: {exc}") from exc
        items = [codec.loads(self.serde, t, b, what) for t, b in items]
        return base, items, int(depth), int(full_len), len(data or b"")
