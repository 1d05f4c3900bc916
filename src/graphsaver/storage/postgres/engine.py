"""Run the core's operations on PostgreSQL with psycopg 3: pooled, pipelined, one transaction each.

Connections. Given a URL or conninfo, the engine opens two pools, each on first use: a
`ConnectionPool` for the sync methods and an `AsyncConnectionPool` (one per event loop) for
the async ones. So a saver opened with `async with` still serves `invoke` from another thread,
and a sync call made on the event loop's own thread runs on the sync pool instead of waiting
for the loop (it cannot deadlock). Nothing is locked around the pools: concurrent operations
run on different connections. An existing psycopg connection or pool may be given instead; it
is used as it is and never closed here (a single connection is shared under a lock).

Round trips. Blind writes (`put`, `put_writes`) share transactions through the group commit
(storage/groupcommit.py), and a batch of inserts is one statement (`one_statement`): one round
trip, one transaction. Any other write runs in one transaction in pipeline mode: `Apply` and
`ExecuteMany` statements are queued, and only a `Fetch` or `Execute` (whose result the
operation needs) or the final COMMIT waits for the server. A read runs its statements in
autocommit, one round trip each, every statement seeing committed data (a transaction would
cost a second round trip for its COMMIT).

Health. On checkout the pool looks at the connection's socket, which costs nothing: a
connection the server closed while it sat idle (a restart, `pg_terminate_backend`, an idle
timeout) has the news waiting there, and is replaced before use. `check="query"` spends a
round trip per checkout to also catch connections that the network dropped silently.

Errors. psycopg and pool errors become `StorageError`s that name the database with the
password replaced, and say how to fix the problem. psycopg's own messages may quote the
conninfo, so every message (and the chained cause) is scrubbed of the password.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import select
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from functools import partial
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolClosed, PoolTimeout

from graphsaver import urls
from graphsaver.core.latest import LatestCache
from graphsaver.errors import ConfigError, GraphsaverError, IntegrityError, InvalidURLError, StorageError
from graphsaver.storage.groupcommit import GroupCommitter, LoopCommitter
from graphsaver.storage.migrations import ADVISORY_LOCK_ID
from graphsaver.storage.queries import Queries
from graphsaver.storage.sql import (
    Apply,
    Blind,
    Compacted,
    Execute,
    ExecuteMany,
    Fetch,
    Operation,
    Statement,
    adrive,
    as_multi_row,
    drive,
    merge_inserts,
    prepare,
    replay,
)

T = TypeVar("T")
Check = Literal["socket", "query", "none"]
CHECKS = ("socket", "query", "none")
Connection = psycopg.Connection[Any]
AsyncConnection = psycopg.AsyncConnection[Any]
Target = str | Connection | AsyncConnection | ConnectionPool | AsyncConnectionPool

# What to tell the user, by a fragment of libpq's connection error.
CONNECT_HINTS = (
    ("password authentication failed", "check the user name and password in the URL"),
    ("no password supplied", "put the password in the URL (postgresql://user:password@host/db)"),
    ("database", "create the database (createdb NAME) or fix its name in the URL"),
    ("role", "create the role or fix the user name in the URL"),
    ("", "check that the server is running and that the host and port in the URL are right"),
)


# --- running statements ------------------------------------------------------------------------


def _params(statement: Fetch | Execute | Any) -> Any:
    # psycopg parses '%' in a query only when it is given parameters
    return statement.params if statement.params else None


def _prepare(statement: Fetch | Execute | Any) -> bool | None:
    """False for a query planned anew at each execution; None leaves it to psycopg (prepared
    from its fifth execution on, when PostgreSQL then picks a generic or a custom plan)."""
    return False if isinstance(statement, Fetch) and statement.custom_plan else None


class RawApply(Apply):
    """An `Apply` whose SQL carries PostgreSQL's own placeholders ($1, $2...): see `one_statement`."""


def _run_statement(conn: Connection, pipeline: psycopg.Pipeline | None, statement: Statement) -> Any:
    if isinstance(statement, RawApply):
        psycopg.RawCursor(conn).execute(statement.sql, statement.params)
        return None
    if isinstance(statement, ExecuteMany):
        conn.cursor().executemany(statement.sql, statement.params)
        return None
    cursor = conn.execute(statement.sql, _params(statement), prepare=_prepare(statement))
    if isinstance(statement, Fetch):
        return cursor.fetchall()
    if isinstance(statement, Execute):
        if pipeline is not None:
            pipeline.sync()  # the row count arrives with the results up to here
        return cursor.rowcount
    return None  # Apply: queued in the pipeline


async def _arun_statement(
    conn: AsyncConnection, pipeline: psycopg.AsyncPipeline | None, statement: Statement
) -> Any:
    if isinstance(statement, RawApply):
        await psycopg.AsyncRawCursor(conn).execute(statement.sql, statement.params)
        return None
    if isinstance(statement, ExecuteMany):
        await conn.cursor().executemany(statement.sql, statement.params)
        return None
    cursor = await conn.execute(statement.sql, _params(statement), prepare=_prepare(statement))
    if isinstance(statement, Fetch):
        return await cursor.fetchall()
    if isinstance(statement, Execute):
        if pipeline is not None:
            await pipeline.sync()
        return cursor.rowcount
    return None


MAX_PARAMS = 65535  # what one PostgreSQL statement may bind
_DOLLARS: list[str] = []  # "$1", "$2"...: made once, as far as a batch has needed them


def _dollars(n: int) -> list[str]:
    global _DOLLARS
    if len(_DOLLARS) < n:  # a new list, swapped in whole: other threads see one or the other
        _DOLLARS = [f"${i}" for i in range(1, max(n, 2 * len(_DOLLARS)) + 1)]
    return _DOLLARS[:n]


def one_statement(merged: list[ExecuteMany]) -> tuple[str, list[Any]] | None:
    """A batch of inserts as one statement: a multi-row insert per statement text, all but the
    last in a data-modifying WITH, or None when the batch does not fit one statement.

    ```sql
    WITH w0 AS (INSERT INTO blobs ... VALUES (...), (...) ON CONFLICT DO NOTHING),
         w1 AS (INSERT INTO writes ... VALUES (...) ON CONFLICT ... DO NOTHING)
    INSERT INTO checkpoints ... VALUES (...) ON CONFLICT ... DO UPDATE ...
    ```

    Sent alone on an autocommit connection, it is one round trip and one transaction, with
    one wait on the socket where BEGIN, each insert and COMMIT had one each in a pipeline:
    every wait lets go of the GIL, and getting it back behind LangGraph's busy threads is most
    of what a batch cost. What stays as it was: all or nothing (one statement), foreign keys
    checked once the whole statement ran (a list delta's base may be in the same batch), and
    the rows of each text inserted in order. The WITH parts run in no set order, so a text
    whose rows need more than one insert keeps the pipeline. Two texts of one table (a task's
    write and a special channel's upsert) naming the same row either keep the pipeline's
    outcome or are refused ("cannot affect row a second time"), and the group commit then
    runs the batch write by write.

    The statement comes with PostgreSQL's own placeholders (`$1`, `$2`...) for a `RawCursor`:
    psycopg would otherwise parse its `%s` again at every batch, in Python, one placeholder at
    a time (a statement of hundreds of parameters is never in its parse cache).
    """
    parts: list[tuple[str, list[Any]]] = []
    for statement in merged:
        chunks = list(as_multi_row(statement))
        if len(chunks) != 1:
            return None
        parts.append(chunks[0])
    if sum(len(params) for _, params in parts) > MAX_PARAMS:
        return None
    if len(parts) == 1:
        sql, params = parts[0]
    else:
        ctes = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(parts[:-1]))
        sql = f"WITH {ctes} {parts[-1][0]}"
        params = list(itertools.chain.from_iterable(p for _, p in parts))
    pieces = sql.split("%s")
    if sql.count("%") != len(params) or len(pieces) - 1 != len(params):
        return None  # a literal '%' (none of graphsaver's inserts has one)
    numbered: list[str] = [""] * (2 * len(pieces) - 1)
    numbered[0::2] = pieces
    numbered[1::2] = _dollars(len(params))
    return "".join(numbered), params


def _batch_operation(statements: list[Statement]) -> tuple[Operation[None], bool]:
    """A batch of blind writes as one operation, and whether it needs a transaction of its own.

    Inserts only: one statement (`one_statement`), a transaction by itself in autocommit; else
    a multi-row insert per statement text in a pipelined transaction. Anything else (a delete
    among them): the statements as they came, in a pipelined transaction.
    """
    merged = merge_inserts(statements)
    if merged is None:
        return replay(statements), True
    single = one_statement(merged)
    if single is not None:
        return replay([RawApply(*single)]), False
    return replay([Apply(sql, params) for st in merged for sql, params in as_multi_row(st)]), True


def _refused(exc: BaseException) -> bool:
    """Whether the server refused a statement (not a connection or pool failure)."""
    return isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.OperationalError)


def _owns_transaction(conn: Connection | AsyncConnection) -> bool:
    """Whether the operation's transaction is ours to begin and commit (a pooled connection).

    Otherwise (the user's connection, maybe inside the user's own transaction) psycopg's
    `transaction()` runs it: a transaction or a savepoint, as the connection's state requires.
    """
    return conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE


def _run_op(conn: Connection, op: Operation[T], write: bool) -> T:
    if not _owns_transaction(conn):
        with conn.transaction():
            return drive(op, lambda st: _run_statement(conn, None, st))
    if not write:
        return drive(op, lambda st: _run_statement(conn, None, st))
    try:
        # BEGIN and COMMIT ride the pipeline too (psycopg's transaction() would sync around them)
        with conn.pipeline() as pipeline:
            conn.execute("BEGIN")
            result = drive(op, lambda st: _run_statement(conn, pipeline, st))
            conn.execute("COMMIT")
        return result
    except BaseException:
        # a failed statement leaves the transaction aborted, not rolled back
        if not conn.broken and conn.info.transaction_status != TransactionStatus.IDLE:
            with suppress(psycopg.Error):
                conn.rollback()
        raise


async def _arun_op(conn: AsyncConnection, op: Operation[T], write: bool) -> T:
    if not _owns_transaction(conn):
        async with conn.transaction():
            return await adrive(op, lambda st: _arun_statement(conn, None, st))
    if not write:
        return await adrive(op, lambda st: _arun_statement(conn, None, st))
    try:
        async with conn.pipeline() as pipeline:
            await conn.execute("BEGIN")
            result = await adrive(op, lambda st: _arun_statement(conn, pipeline, st))
            await conn.execute("COMMIT")
        return result
    except BaseException:
        if not conn.broken and conn.info.transaction_status != TransactionStatus.IDLE:
            with suppress(psycopg.Error):
                await conn.rollback()
        raise


def _compact(q: Queries) -> Operation[Compacted]:
    before = (yield Fetch(q.STORE_SIZE, q.STORE_SIZE_PARAMS))[0][0]
    yield Execute(q.COMPACT)
    after = (yield Fetch(q.STORE_SIZE, q.STORE_SIZE_PARAMS))[0][0]
    return Compacted(int(before), int(after))


def ensure_schema(schema: str) -> Operation[None]:
    """Create the schema if it is missing (the first step of setup).

    Under the setup lock, because two `CREATE SCHEMA IF NOT EXISTS` at once may still collide;
    and only when missing, because creating needs a privilege that using does not.
    """
    yield Execute(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_ID})")
    rows = yield Fetch("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
    if not rows:
        yield Execute(f"CREATE SCHEMA {pgsql.Identifier(schema).as_string(None)}")


# --- health checks -----------------------------------------------------------------------------


def _spoke_while_idle(conn: Connection | AsyncConnection) -> bool:
    """True when the server sent something to an idle connection: almost always a goodbye."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(readable)


def _socket_check(conn: Connection) -> None:
    if _spoke_while_idle(conn):
        conn.execute("")  # raises if the server closed the connection: the pool replaces it


async def _asocket_check(conn: AsyncConnection) -> None:
    if _spoke_while_idle(conn):
        await conn.execute("")


# --- describing the database without its password ----------------------------------------------


def _secrets(conninfo: str) -> list[str]:
    """Every spelling of the password in a conninfo or URL, longest first."""
    found: set[str] = set()
    with suppress(psycopg.Error):
        found.add(str(conninfo_to_dict(conninfo).get("password") or ""))
    with suppress(ValueError):
        found.add(urlsplit(conninfo).password or "")
    found.update(m.group(1) for m in re.finditer(r"//[^:/@]*:([^@]*)@", conninfo))
    found.update(m.group(1).strip("'") for m in re.finditer(r"password\s*=\s*('[^']*'|\S+)", conninfo))
    found |= {unquote(s) for s in found}
    return sorted((s for s in found if s), key=len, reverse=True)


def _describe_conninfo(conninfo: str, params: dict[str, Any]) -> str:
    if "://" in conninfo:
        return f"at {urls.redact(conninfo)}"
    shown = " ".join(f"{k}={v}" for k, v in params.items() if k != "password")
    return f"at {shown!r}"


def _describe_connection(conn: Connection | AsyncConnection) -> str:
    info = conn.info
    return f"at postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


class PostgresEngine:
    """Runs operations on PostgreSQL, from any thread or event loop, on pooled connections."""

    latest: LatestCache | None = None  # other workers write the same database: every read asks it

    def __init__(
        self,
        target: Target,
        *,
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
    ) -> None:
        if not isinstance(schema, str) or not schema or "\x00" in schema or len(schema.encode()) > 63:
            raise ConfigError(f"schema must be a name of 1 to 63 bytes, got {schema!r}")
        if check not in CHECKS:
            raise ConfigError(f"check must be one of {', '.join(CHECKS)}, got {check!r}")
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigError(f"need 0 <= min_size <= max_size and max_size >= 1, got {min_size}, {max_size}")
        self.schema = schema
        self.prefix = pgsql.Identifier(schema).as_string(None) + "."
        self.queries = Queries(dialect="postgres", prefix=self.prefix)
        self.timeout = timeout
        self._conninfo: str | None = None
        self._conn: Connection | None = None
        self._aconn: AsyncConnection | None = None
        self._user_pool: ConnectionPool | None = None
        self._user_apool: AsyncConnectionPool | None = None
        self._secrets: list[str] = []
        given: dict[str, Any] = {}
        if isinstance(target, str):
            self._secrets = _secrets(target)
            given = self._parse(target)
            self._conninfo = target
        elif isinstance(target, (psycopg.Connection, psycopg.AsyncConnection)):
            self._secrets = [target.info.password] if target.info.password else []
            self.where = _describe_connection(target)
            if isinstance(target, psycopg.Connection):
                self._conn = target
            else:
                self._aconn = target
        elif isinstance(target, (ConnectionPool, AsyncConnectionPool)):
            self._secrets = _secrets(str(target.conninfo))
            self._parse(str(target.conninfo))
            if isinstance(target, ConnectionPool):
                self._user_pool = target
            else:
                self._user_apool = target
        else:
            raise ConfigError(
                "a PostgreSQL saver needs a URL, a conninfo string, or a psycopg connection or pool, "
                f"got {type(target).__name__}"
            )
        self._kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": None if pgbouncer else 5}
        if "connect_timeout" not in given:
            self._kwargs["connect_timeout"] = max(1, round(connect_timeout))
        if "application_name" not in given:
            self._kwargs["application_name"] = application_name
        if not pgbouncer:
            # graphsaver's reads are index lookups, but the planner's guess for their recursive
            # CTEs is large enough to trigger JIT compilation, which costs tens of milliseconds a
            # query. PgBouncer refuses the `options` startup parameter, so it is left alone there.
            options = str(given.get("options") or "")
            self._kwargs["options"] = f"{options} -c jit=off".strip()
        self._pool_options: dict[str, Any] = {
            "min_size": min_size,
            "max_size": max_size,
            "max_idle": max_idle,
            "max_lifetime": max_lifetime,
            "timeout": timeout,
            "name": "graphsaver",
        }
        self._check = check
        self._lock = threading.Lock()  # guards pool creation, and the user's single connection
        self._conn_lock = threading.Lock()
        self._aconn_lock: asyncio.Lock | None = None
        self._pool: ConnectionPool | None = None
        self._apools: dict[asyncio.AbstractEventLoop, asyncio.Task[AsyncConnectionPool]] = {}
        self._home_loop: asyncio.AbstractEventLoop | None = None  # where the user's async objects live
        self._bound_loop: asyncio.AbstractEventLoop | None = None  # where the saver was entered
        self._closed = False
        # blind writes (put, put_writes) share transactions: on the async connections' loop, in
        # a task there; elsewhere on a worker thread, which needs a sync way to the database
        self._acommitter: LoopCommitter | None = None
        self._committer = (
            GroupCommitter(self._run_batch, _refused, self.where)
            if self._aconn is None and self._user_apool is None
            else None
        )

    def _parse(self, conninfo: str) -> dict[str, Any]:
        """The conninfo's parameters; sets `where`. Raises InvalidURLError (scrubbed)."""
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.Error as exc:
            reason = self._scrub(str(exc).strip())
        else:
            self.where = self._scrub(_describe_conninfo(conninfo, params))  # a password may sit in the query
            return params
        raise InvalidURLError(
            f"{self._scrub(urls.redact(conninfo))!r} is not a valid PostgreSQL URL or conninfo: {reason}"
        )

    # --- running operations ----------------------------------------------------------------------

    def run(self, op: Operation[T], *, write: bool) -> T:
        """Run an operation in one transaction on a pooled connection, on the calling thread.

        A blind write joins the group commit instead (storage/groupcommit.py).
        """
        if self._committer is None:
            return self._run_on_home_loop(op, write)
        try:
            if write:
                prepared = prepare(op)
                if isinstance(prepared, Blind):
                    self._committer.submit(prepared.statements).result()
                    return prepared.value  # type: ignore[no-any-return]
                op = prepared
            with self._connection() as conn:
                return _run_op(conn, op, write)
        except (psycopg.Error, PoolTimeout, PoolClosed) as exc:
            reason = self._why_no_connection() if isinstance(exc, PoolTimeout) else None
            error = self._error(exc, reason)
        finally:
            op.close()
        raise error

    def compact(self) -> Compacted:
        """Rewrite the saver's tables without the space deletes left (`VACUUM FULL`), which
        gives it back to the operating system. The tables are locked while it runs: every
        other reader and writer of them waits."""
        return self.run(_compact(self.queries), write=False)  # VACUUM runs outside a transaction

    def _run_batch(self, statements: list[Statement]) -> None:
        if statements:  # a write with nothing to store (delete_for_runs of no run) needs no connection
            op, write = _batch_operation(statements)  # built before a checkout
            with self._connection() as conn:
                _run_op(conn, op, write)

    async def _arun_batch(self, statements: list[Statement]) -> None:
        if statements:
            op, write = _batch_operation(statements)
            async with self._aconnection() as conn:
                await _arun_op(conn, op, write)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the saver was entered on (`async with`): async calls on it use an
        async pool that lives and closes with the saver.

        An async call on any other loop (say `asyncio.run(graph.ainvoke(...))` on a saver opened
        with `with`) runs on the sync pool in a worker thread instead: a pool tied to such a
        short-lived loop would outlive it, and its tasks can keep `asyncio.run` from finishing.
        """
        if self._bound_loop is None or self._bound_loop.is_closed():
            self._bound_loop = loop

    async def arun(self, op: Operation[T], *, write: bool) -> T:
        """Run an operation in one transaction on a pooled connection of the running loop.

        A blind write joins the group commit instead: the loop's own (`LoopCommitter`) where
        the loop has a pool or connection, else the worker thread's (storage/groupcommit.py).
        """
        try:
            on_loop = self._serves_loop(asyncio.get_running_loop())
            if write:
                prepared = prepare(op)
                if isinstance(prepared, Blind):
                    if on_loop:
                        await self._loop_committer().submit(prepared.statements)
                    else:
                        assert self._committer is not None  # only the user's async objects have none
                        await asyncio.wrap_future(self._committer.submit(prepared.statements))
                    return prepared.value  # type: ignore[no-any-return]
                op = prepared
            if not on_loop:
                return await asyncio.to_thread(self.run, op, write=write)
            async with self._aconnection() as conn:
                return await _arun_op(conn, op, write)
        except (psycopg.Error, PoolTimeout, PoolClosed) as exc:
            reason = (
                await asyncio.to_thread(self._why_no_connection) if isinstance(exc, PoolTimeout) else None
            )
            error = self._error(exc, reason)
        finally:
            op.close()
        raise error

    def _serves_loop(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether async calls on this loop use an async connection (else the sync pool, in a
        worker thread): the user's async connection or pool, or the loop the saver was entered on."""
        if self._conninfo is None:
            return self._aconn is not None or self._user_apool is not None
        return loop is self._bound_loop

    def _loop_committer(self) -> LoopCommitter:
        committer = self._acommitter
        if committer is None or committer.loop is not asyncio.get_running_loop():
            with self._lock:
                self._ensure_open()
                committer = self._acommitter = LoopCommitter(self._arun_batch, _refused, self.where)
        return committer

    def _run_on_home_loop(self, op: Operation[T], write: bool) -> T:
        """A sync call on a saver built on the user's async connection or pool."""
        loop = self._home_loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or loop.is_closed() or running is loop:
            op.close()
            raise StorageError(
                f"the saver for the database {self.where} was given an async psycopg connection or "
                "pool, so its sync methods can only be called from a thread other than the event "
                "loop's, after it was entered with `async with`: use the async methods (ainvoke), "
                "or give the saver a URL so it keeps pools for both"
            )
        return asyncio.run_coroutine_threadsafe(self.arun(op, write=write), loop).result()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self._conn is not None:
            with self._conn_lock:
                self._ensure_open()
                yield self._conn
            return
        pool = self._user_pool or self._sync_pool()
        with pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def _aconnection(self) -> AsyncIterator[AsyncConnection]:
        if self._home_loop is None:
            self._home_loop = asyncio.get_running_loop()
        if self._aconn is not None:
            if self._aconn_lock is None:
                self._aconn_lock = asyncio.Lock()
            async with self._aconn_lock:
                self._ensure_open()
                yield self._aconn
            return
        pool = self._user_apool or await self._async_pool()
        async with pool.connection() as conn:
            yield conn

    # --- pools -------------------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed:
            raise StorageError(f"the saver for the database {self.where} is closed")

    def _sync_pool(self) -> ConnectionPool:
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            self._ensure_open()
            if self._pool is None:
                self._probe()
                checks: dict[str, Any] = {"socket": _socket_check, "query": ConnectionPool.check_connection}
                check = checks.get(self._check)
                pool = ConnectionPool(
                    self._conninfo or "", kwargs=self._kwargs, open=False, check=check, **self._pool_options
                )
                pool.open()
                self._pool = pool
            return self._pool

    async def _async_pool(self) -> AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._ensure_open()
            task = self._apools.get(loop)
            if task is None:
                for other in [other for other in self._apools if other.is_closed()]:
                    del self._apools[other]  # its loop is gone, and its connections with it
                task = self._apools[loop] = loop.create_task(self._open_async_pool())
        try:
            return await asyncio.shield(task)
        except BaseException:
            with self._lock:
                if task.done() and (task.cancelled() or task.exception() is not None):
                    self._apools.pop(loop, None)  # let the next call try again
            raise

    async def _open_async_pool(self) -> AsyncConnectionPool:
        await asyncio.to_thread(self._probe)
        checks: dict[str, Any] = {"socket": _asocket_check, "query": AsyncConnectionPool.check_connection}
        check = checks.get(self._check)
        pool = AsyncConnectionPool(
            self._conninfo or "", kwargs=self._kwargs, open=False, check=check, **self._pool_options
        )
        await pool.open()
        return pool

    def _probe(self) -> None:
        """Connect once before opening a pool: a pool only says "timeout", this says why."""
        reason = self._why_no_connection()
        if reason is not None:
            raise StorageError(f"cannot connect to the database {self.where}: {reason}")

    def _why_no_connection(self) -> str | None:
        """Why a new connection fails (scrubbed, with a hint), or None if it works."""
        conninfo = self._conninfo if self._conninfo is not None else self._pool_conninfo()
        if conninfo is None:
            return None
        try:
            psycopg.connect(conninfo, **self._kwargs).close()
        except psycopg.Error as exc:
            message = str(exc).strip().split("\n")[0].removeprefix("connection failed: ")
            hint = next(h for fragment, h in CONNECT_HINTS if fragment in message)
            return f"{self._scrub(message)}: {hint}"
        return None

    def _pool_conninfo(self) -> str | None:
        pool = self._user_pool or self._user_apool
        return str(pool.conninfo) if pool is not None else None

    # --- errors --------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _error(self, exc: BaseException, reason: str | None) -> GraphsaverError:
        """The graphsaver error for a psycopg or pool error (raise it outside the except block)."""
        message = self._scrub(str(exc).strip())
        if isinstance(exc, PoolTimeout):
            if reason is None:
                reason = (
                    f"all {self._pool_options['max_size']} connections stayed busy for {self.timeout:g} s:"
                    " raise max_size, or run fewer graphs at once"
                )
            error = StorageError(f"no connection to the database {self.where}: {reason}")
        elif isinstance(exc, PoolClosed):
            error = StorageError(f"the connection pool for the database {self.where} is closed")
        elif isinstance(exc, psycopg.IntegrityError):
            error = IntegrityError(f"the database {self.where} refused a write: {message}")
        elif isinstance(exc, psycopg.OperationalError):
            error = StorageError(
                f"lost the connection to the database {self.where}: {message} (the operation did not "
                "complete; the next call uses a new connection)"
            )
        else:
            error = StorageError(f"the database {self.where} failed: {message}")
        cause = exc
        if message != str(exc).strip():
            cause = type(exc)(message) if isinstance(exc, psycopg.Error) else StorageError(message)
        error.__cause__ = cause
        error.__suppress_context__ = True
        return error

    # --- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is queued, and close the pools this engine opened (never the user's own
        connection or pool)."""
        if self._committer is not None:
            self._committer.close()
        for loop, closing in self._take_loop_resources():
            _close_elsewhere(loop, closing)
        pool = self._take_sync_pool()
        if pool is not None:
            pool.close()

    async def aclose(self) -> None:
        if self._committer is not None:
            await asyncio.to_thread(self._committer.close)
        current = asyncio.get_running_loop()
        for loop, closing in self._take_loop_resources():
            if loop is current:
                await closing()
            else:
                await asyncio.to_thread(_close_elsewhere, loop, closing)
        pool = self._take_sync_pool()
        if pool is not None:
            await asyncio.to_thread(pool.close)

    def _take_loop_resources(
        self,
    ) -> list[tuple[asyncio.AbstractEventLoop, Callable[[], Coroutine[Any, Any, None]]]]:
        """What lives on an event loop (its async pool, its committer), each loop's to close there."""
        with self._lock:
            self._closed = True
            pools, self._apools = self._apools, {}
            committer, self._acommitter = self._acommitter, None
        held: dict[
            asyncio.AbstractEventLoop, tuple[LoopCommitter | None, asyncio.Task[AsyncConnectionPool] | None]
        ]
        held = {loop: (None, task) for loop, task in pools.items()}
        if committer is not None:
            held[committer.loop] = (committer, pools.get(committer.loop))
        return [(loop, partial(_close_loop, *resources)) for loop, resources in held.items()]

    def _take_sync_pool(self) -> ConnectionPool | None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        return pool


async def _close_loop(
    committer: LoopCommitter | None, pool_task: asyncio.Task[AsyncConnectionPool] | None
) -> None:
    """Commit what the loop's committer holds, then close the loop's pool."""
    with suppress(Exception, asyncio.CancelledError):
        if committer is not None:
            await committer.aclose()
        if pool_task is not None:
            pool = await pool_task
            await pool.close()


def _close_elsewhere(
    loop: asyncio.AbstractEventLoop, closing: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Close what lives on an event loop from outside it: on the loop's thread if it still runs."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop.is_closed() or not loop.is_running():
        return  # nothing can run its close any more; the connections close when collected
    if running is loop:
        loop.create_task(closing())
        return
    with suppress(Exception):
        asyncio.run_coroutine_threadsafe(closing(), loop).result(timeout=10)
