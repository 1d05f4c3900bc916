"""A least-recently-used map bounded by its entries and by the bytes they stand for.

The saver's caches (core/lists.py, core/latest.py) hold message lists as Python objects, which
take a few times their encoded size in memory. Bounded by threads alone, a long-running
process that has served many long conversations would keep all of them in memory; bounded
by bytes too, it keeps the recently active ones, which are what the caches are for.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

from graphsaver.errors import ConfigError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_ENTRIES = 1024  # (thread, namespace) pairs a cache remembers
CACHE_MB = 16  # the savers' default `cache_mb`: encoded megabytes, about 40 MB of objects
MAX_BYTES = CACHE_MB * 2**20


def budget(cache_mb: float) -> int:
    """A saver's `cache_mb` option as bytes, checked."""
    if type(cache_mb) not in (int, float) or not 0 <= cache_mb < 2**40:
        raise ConfigError(f"cache_mb must be a number of megabytes, 0 or more, got {cache_mb!r}")
    return int(cache_mb * 2**20)


class SizedLRU(Generic[K, V]):
    """Entries with a size each; the oldest go when there are too many or they weigh too much.

    The newest entry always stays, even alone over the byte budget: one very long thread still
    has its list remembered. Not thread-safe: its owner calls it under its own lock.
    """

    def __init__(self, max_entries: int | None = None, max_bytes: int | None = None) -> None:
        self.max_entries = MAX_ENTRIES if max_entries is None else max_entries
        self.max_bytes = MAX_BYTES if max_bytes is None else max_bytes
        self.total = 0  # bytes of the entries held
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        return None if found is None else found[0]

    def touch(self, key: K) -> None:
        """Make `key` the newest entry."""
        self._items.move_to_end(key)

    def put(self, key: K, value: V, size: int) -> int:
        """Store `value` as the newest entry; returns how many old entries were evicted."""
        old = self._items.pop(key, None)
        if old is not None:
            self.total -= old[1]
        self._items[key] = (value, size)
        self.total += size
        evicted = 0
        while len(self._items) > 1 and (len(self._items) > self.max_entries or self.total > self.max_bytes):
            _, (_, gone) = self._items.popitem(last=False)
            self.total -= gone
            evicted += 1
        return evicted

    def pop(self, key: K) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.total -= old[1]

    def clear(self) -> None:
        self._items.clear()
        self.total = 0

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)
