"""The PostgreSQL saver: many workers, one database."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from graphsaver.core import lru
from graphsaver.saver import GraphsaverSaver
from graphsaver.storage.postgres.engine import Check, PostgresEngine, Target, ensure_schema
from graphsaver.storage.sql import Operation


class PostgresSaver(GraphsaverSaver):
    """A checkpointer in PostgreSQL, for many threads, event loops and processes at once.

    ```python
    from graphsaver import PostgresSaver

    with PostgresSaver.from_conn_string("postgresql://user:password@localhost:5432/app") as saver:
        graph = builder.compile(checkpointer=saver)
        graph.invoke(inputs, {"configurable": {"thread_id": "t1"}})

    async with PostgresSaver("postgresql://user:password@localhost:5432/app", max_size=20) as saver:
        graph = builder.compile(checkpointer=saver)
        await graph.ainvoke(inputs, {"configurable": {"thread_id": "t1"}})
    ```

    The schema is created or upgraded when the saver is entered (`with` / `async with`), or
    by `setup()` / `asetup()`; that is safe when several processes start at once, and inside
    a transaction of your own on a connection you pass in. The saver opens its connection
    pools on first use (one for sync calls, one per event loop for async calls) and closes
    them on exit.

    Args:
        conn: a URL (`postgresql://user:password@host:5432/db`) or libpq conninfo, or an
            existing psycopg `Connection`, `AsyncConnection`, `ConnectionPool` or
            `AsyncConnectionPool`, which the saver uses but never closes. A pool of your own
            should be opened with `kwargs={"autocommit": True}`.
        setup: prepare the schema on enter (the default).
        schema: the PostgreSQL schema that holds graphsaver's tables, created if missing.
        min_size, max_size: the number of connections each pool keeps and may open.
        max_idle: seconds after which an unused connection is closed (cloud databases and
            proxies drop idle connections on their own, usually after 5 to 10 minutes).
        max_lifetime: seconds after which a connection is replaced.
        timeout: seconds a call waits for a free connection before failing.
        connect_timeout: seconds to wait for the server when connecting.
        check: how a connection is checked when taken from the pool. "socket" (default, no
            cost) replaces connections the server closed while they were idle; "query" runs
            an empty query (one round trip per call) and also catches connections the
            network dropped silently; "none" checks nothing.
        pgbouncer: set when connecting through PgBouncer in transaction pooling mode: no
            server-side prepared statements.
        application_name: how the connections appear in `pg_stat_activity`.
        serde: the serializer of channel values (LangGraph's, strict, by default).
        cache_mb: megabytes (of encoded values) of the recently active threads' message lists
            the saver remembers, so that their next checkpoints store only what was appended
            and reading them decodes nothing; they take about 2.5 times that in memory. Raise
            it when many long conversations run at once.
    """

    def __init__(
        self,
        conn: Target,
        *,
        setup: bool = True,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
        max_idle: float = 300.0,
        max_lifetime: float = 3600.0,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        check: Check = "socket",
        pgbouncer: bool = False,
        application_name: str = "graphsaver",
        serde: SerializerProtocol | None = None,
        cache_mb: float = lru.CACHE_MB,
    ) -> None:
        engine = PostgresEngine(
            conn,
            schema=schema,
            min_size=min_size,
            max_size=max_size,
            max_idle=max_idle,
            max_lifetime=max_lifetime,
            timeout=timeout,
            connect_timeout=connect_timeout,
            check=check,
            pgbouncer=pgbouncer,
            application_name=application_name,
        )
        super().__init__(engine, serde=serde, setup=setup, cache_mb=cache_mb)
        self._schema = schema

    @classmethod
    def from_conn_string(cls, conn_string: str, **options: Any) -> PostgresSaver:
        """A saver for a URL or conninfo; use it with `with` or `async with`."""
        return cls(conn_string, **options)

    def _setup_op(self) -> Operation[list[int]]:
        migrate = super()._setup_op()

        def op() -> Operation[list[int]]:
            yield from ensure_schema(self._schema)
            return (yield from migrate)

        return op()
