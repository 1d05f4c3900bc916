"""The SQLite saver and the in-memory saver (SQLite's in-memory database: same code, no file)."""

from __future__ import annotations

import os
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from graphsaver.core import lru
from graphsaver.saver import GraphsaverSaver
from graphsaver.storage.sqlite.engine import SqliteEngine


class SqliteSaver(GraphsaverSaver):
    """A checkpointer in one SQLite file, safe to share between threads and processes.

    ```python
    with SqliteSaver.from_conn_string("agent.db") as saver:
        graph = builder.compile(checkpointer=saver)
    ```

    Args:
        path: the database file (created if missing), or ":memory:".
        setup: create or upgrade the schema now (the default).
        busy_timeout: seconds a writer waits for another process's transaction.
        synchronous: SQLite's `synchronous` setting. "NORMAL" (default) never loses a
            committed checkpoint when the process dies; a power cut may lose the last few.
            "FULL" makes every commit survive a power cut too, at some cost in speed;
            writes from several threads then share commits (and fsyncs).
        serde: the serializer of channel values (LangGraph's, strict, by default).
        cache_mb: megabytes (of encoded values) of the recently active threads' message lists
            the saver remembers, so that their next checkpoints store only what was appended
            and reading them decodes nothing; they take about 2.5 times that in memory. Raise
            it when many long conversations run at once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        setup: bool = True,
        busy_timeout: float = 60.0,
        synchronous: str = "NORMAL",
        serde: SerializerProtocol | None = None,
        cache_mb: float = lru.CACHE_MB,
    ) -> None:
        engine = SqliteEngine(os.fspath(path), busy_timeout=busy_timeout, synchronous=synchronous)
        super().__init__(engine, serde=serde, setup=setup, cache_mb=cache_mb)
        if setup:
            try:
                self.setup()
            except BaseException:
                engine.close()
                raise

    @classmethod
    def from_conn_string(cls, conn_string: str, **options: Any) -> SqliteSaver:
        """A saver for a file path (or ":memory:"); usable with `with` and `async with`."""
        return cls(conn_string, **options)


class InMemorySaver(SqliteSaver):
    """A checkpointer that keeps everything in this process's memory, gone when it closes.

    It runs SQLite's in-memory database, so it behaves exactly like the SQLite saver
    (filters, forks, prune, copy) without touching the disk.
    """

    def __init__(self, *, serde: SerializerProtocol | None = None, **options: Any) -> None:
        super().__init__(":memory:", serde=serde, **options)

    @classmethod
    def from_conn_string(cls, conn_string: str = ":memory:", **options: Any) -> InMemorySaver:
        return cls(**options)
