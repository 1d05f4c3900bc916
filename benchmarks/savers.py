"""The contestants: graphsaver and the upstream savers, each opened on a fresh, empty store.

A contestant is named `impl-backend[-variant]` (e.g. `upstream-postgres-pool`). `open_sync`
and `open_async` are context managers that create the store, yield a ready saver (schema set
up) and remove the store afterwards.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from benchmarks.common import Stores

POOL_SIZE = 8


@dataclass(frozen=True)
class Contestant:
    impl: str  # "graphsaver" | "upstream"
    backend: str  # "memory" | "sqlite" | "postgres"
    variant: str = ""  # "" | "pool" | "pipeline"

    @property
    def name(self) -> str:
        return "-".join(p for p in (self.impl, self.backend, self.variant) if p)

    @contextlib.contextmanager
    def open_sync(self, stores: Stores) -> Iterator[Any]:
        with self.open_sync_at(stores) as (saver, _):
            yield saver

    @contextlib.contextmanager
    def open_sync_at(self, stores: Stores) -> Iterator[tuple[Any, str]]:
        """Like `open_sync`, with the store's location: a file path, a database URL or ""."""
        with store_location(self, stores) as where, self.open_sync_on(where) as saver:
            yield saver, where

    @contextlib.asynccontextmanager
    async def open_async(self, stores: Stores) -> AsyncIterator[Any]:
        with store_location(self, stores) as where:
            async with self.open_async_on(where) as saver:
                yield saver

    def open_sync_on(self, where: str) -> Any:
        """A sync saver on an existing store (a file path, a database URL, or "" for memory)."""
        return _SYNC[(self.impl, self.backend)](where, self.variant)

    def open_async_on(self, where: str) -> Any:
        """An async saver on an existing store (a file path, a database URL, or "" for memory)."""
        return _ASYNC[(self.impl, self.backend)](where, self.variant)


@contextlib.contextmanager
def store_location(c: Contestant, stores: Stores) -> Iterator[str]:
    """A fresh, empty store for a contestant (a file path, a database URL, or "" for memory),
    removed afterwards."""
    if c.backend == "memory":
        yield ""
    elif c.backend == "sqlite":
        yield stores.sqlite_path(c.name)
    else:
        url = stores.pg_database(c.name)
        try:
            yield url
        finally:
            stores.drop_pg_database(url)


def graphsaver_pool_option() -> str | None:
    """The keyword of graphsaver's PostgresSaver that sizes its connection pool, if it has one."""
    from graphsaver.postgres import PostgresSaver  # type: ignore[import-not-found, unused-ignore]

    params = inspect.signature(PostgresSaver).parameters
    return "max_size" if "max_size" in params and "min_size" in params else None


def contestants(backend: str, *, pg_missing: str | None, gs_pg_missing: str | None) -> list[Contestant]:
    """Every contestant for a backend that can run in this environment."""
    if backend == "sqlite":
        # "full": synchronous=FULL, the durability upstream's SQLite saver runs with (WAL and
        # SQLite's default synchronous=FULL: every commit survives a power cut)
        return [
            Contestant("upstream", "sqlite"),
            Contestant("graphsaver", "sqlite"),
            Contestant("graphsaver", "sqlite", "full"),
        ]
    if backend != "postgres":
        return [Contestant("upstream", backend), Contestant("graphsaver", backend)]
    if pg_missing:
        return []
    found = [Contestant("upstream", "postgres"), Contestant("upstream", "postgres", "pool")]
    found.append(Contestant("upstream", "postgres", "pipeline"))
    if not gs_pg_missing:
        found.append(Contestant("graphsaver", "postgres"))
        if graphsaver_pool_option():
            found.append(Contestant("graphsaver", "postgres", "pool"))
    return found


def both_savers(pg_url: str | None) -> list[Contestant]:
    """Upstream's and graphsaver's plain saver of each backend (PostgreSQL only with a server
    URL): the contestants of a workload run on its own (`python -m benchmarks.ram`, `.storage`)."""
    backends = ("memory", "sqlite", "postgres") if pg_url else ("memory", "sqlite")
    return [Contestant(impl, b) for b in backends for impl in ("upstream", "graphsaver")]


# --- openers -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _graphsaver_sync(where: str, variant: str) -> Iterator[Any]:
    with _graphsaver_connect(where, variant) as saver:
        yield saver


@contextlib.asynccontextmanager
async def _graphsaver_async(where: str, variant: str) -> AsyncIterator[Any]:
    async with _graphsaver_connect(where, variant) as saver:
        yield saver


def _graphsaver_connect(where: str, variant: str) -> Any:
    import graphsaver

    # graphsaver's PostgresSaver always pools: "without a pool" is a pool of one connection,
    # like upstream's single connection; "pool" is as large as upstream's pool.
    if not where:
        return graphsaver.connect("memory://")
    if where.startswith("postgresql://"):
        size = POOL_SIZE if variant == "pool" else 1
        options = {"min_size": size, "max_size": size} if graphsaver_pool_option() else {}
        return graphsaver.connect(where, **options)
    return graphsaver.connect(f"sqlite:///{where}", **({"synchronous": "FULL"} if variant == "full" else {}))


@contextlib.contextmanager
def _upstream_memory_sync(where: str, variant: str) -> Iterator[Any]:
    from langgraph.checkpoint.memory import InMemorySaver

    yield InMemorySaver()


@contextlib.asynccontextmanager
async def _upstream_memory_async(where: str, variant: str) -> AsyncIterator[Any]:
    from langgraph.checkpoint.memory import InMemorySaver

    yield InMemorySaver()


@contextlib.contextmanager
def _upstream_sqlite_sync(where: str, variant: str) -> Iterator[Any]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    with SqliteSaver.from_conn_string(where) as saver:
        saver.setup()
        yield saver


@contextlib.asynccontextmanager
async def _upstream_sqlite_async(where: str, variant: str) -> AsyncIterator[Any]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(where) as saver:
        await saver.setup()
        yield saver


PG_KWARGS: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0}


@contextlib.contextmanager
def _upstream_postgres_sync(where: str, variant: str) -> Iterator[Any]:
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    if variant == "pool":
        kwargs = {**PG_KWARGS, "row_factory": dict_row}
        with ConnectionPool(where, min_size=POOL_SIZE, max_size=POOL_SIZE, kwargs=kwargs) as pool:
            saver = PostgresSaver(pool)
            saver.setup()
            yield saver
    else:
        if variant == "pipeline":  # upstream's setup cannot run inside a pipeline
            with PostgresSaver.from_conn_string(where) as plain:
                plain.setup()
        with PostgresSaver.from_conn_string(where, pipeline=variant == "pipeline") as saver:
            if variant != "pipeline":
                saver.setup()
            yield saver


@contextlib.asynccontextmanager
async def _upstream_postgres_async(where: str, variant: str) -> AsyncIterator[Any]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    if variant == "pool":
        kwargs = {**PG_KWARGS, "row_factory": dict_row}
        async with AsyncConnectionPool(
            where, min_size=POOL_SIZE, max_size=POOL_SIZE, kwargs=kwargs, open=False
        ) as pool:
            saver = AsyncPostgresSaver(pool)
            await saver.setup()
            yield saver
    else:
        if variant == "pipeline":  # upstream's setup cannot run inside a pipeline
            async with AsyncPostgresSaver.from_conn_string(where) as plain:
                await plain.setup()
        async with AsyncPostgresSaver.from_conn_string(where, pipeline=variant == "pipeline") as saver:
            if variant != "pipeline":
                await saver.setup()
            yield saver


_SYNC: dict[tuple[str, str], Any] = {
    ("graphsaver", "memory"): _graphsaver_sync,
    ("graphsaver", "sqlite"): _graphsaver_sync,
    ("graphsaver", "postgres"): _graphsaver_sync,
    ("upstream", "memory"): _upstream_memory_sync,
    ("upstream", "sqlite"): _upstream_sqlite_sync,
    ("upstream", "postgres"): _upstream_postgres_sync,
}
_ASYNC: dict[tuple[str, str], Any] = {
    ("graphsaver", "memory"): _graphsaver_async,
    ("graphsaver", "sqlite"): _graphsaver_async,
    ("graphsaver", "postgres"): _graphsaver_async,
    ("upstream", "memory"): _upstream_memory_async,
    ("upstream", "sqlite"): _upstream_sqlite_async,
    ("upstream", "postgres"): _upstream_postgres_async,
}
