"""Run the core's operations on SQLite: one connection, one transaction per operation or batch.

Why the standard `sqlite3` module and not aiosqlite: an operation is several statements that
must run in one transaction, and aiosqlite hops to its worker thread once per statement. Here
a whole operation is shipped to the engine's worker thread as one function, so `aget_tuple`
costs one hop, and the sync methods run the same function on the caller's thread.

Blind writes to a file (`put`, `put_writes`) go through the group commit shared with
PostgreSQL (storage/groupcommit.py), where writes that arrive while one is being committed
share the next transaction. An async write always does (it waits on the commit's future, with
no hop of its own). A sync write does with `synchronous="FULL"` or "EXTRA", where a commit
waits for an fsync that concurrent writers then share, and a lone write still commits on its
caller's thread; with "NORMAL" a commit costs less than handing the write to another thread,
and each sync write commits on its own, on its caller's thread.

Concurrency: one connection guarded by a lock serves every thread of the process; WAL mode
lets other processes read while one writes, and write transactions start with
`BEGIN IMMEDIATE` under a busy timeout, so concurrent writers queue instead of failing with
"database is locked".

In memory, an async call that needs no SQLite call (a read the `latest` cache answers, a
write that joins the queue: see `run`) runs on the event loop; one that does (a query, the
queue's run into SQLite) hops to the worker thread. No SQLite call ever blocks an event loop,
which LangGraph's dev server checks (it fails a run that makes a blocking call on its loop).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from graphsaver.core.latest import LatestCache
from graphsaver.errors import ConfigError, IntegrityError, StorageError
from graphsaver.storage.groupcommit import GroupCommitter
from graphsaver.storage.queries import Queries
from graphsaver.storage.sql import (
    Apply,
    Blind,
    Compacted,
    Execute,
    ExecuteMany,
    Fetch,
    Note,
    Operation,
    Statement,
    as_multi_row,
    check_text,
    drive,
    merge_inserts,
    multi_row,
    only_inserts,
    prepare,
    replay,
)

T = TypeVar("T")
QUERIES = Queries(dialect="sqlite")
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


MAX_DEFERRED = 2000  # statements an in-memory engine queues before it runs them

# Measured with 1,000-step conversations (docs/benchmarks.md): a file of 8 KB pages stores
# messages of 1,000 characters in 13% less space than SQLite's default 4 KB and of 2,000 in 23%
# less, as fast; 16 KB pages store no less and every WAL commit writes whole pages. In memory
# nothing is written twice: 16 KB pages hold seven such rows, 20% less memory (benchmarks/ram.py).
FILE_PAGE_SIZE = 8192
MEMORY_PAGE_SIZE = 16384


def _run_statement(cursor: sqlite3.Cursor, statement: Statement) -> Any:
    if isinstance(statement, Fetch):
        return cursor.execute(statement.sql, statement.params).fetchall()
    if isinstance(statement, Execute):
        return cursor.execute(statement.sql, statement.params).rowcount
    if isinstance(statement, ExecuteMany):
        if len(statement.params) > 1 and multi_row(statement.sql, 2) is None:
            cursor.executemany(statement.sql, statement.params)
        else:
            for sql, params in as_multi_row(statement):
                cursor.execute(sql, params)
        return None
    if isinstance(statement, Apply):
        cursor.execute(statement.sql, statement.params)
        return None
    raise TypeError(f"not a statement: {statement!r}")


class SqliteEngine:
    """Owns one SQLite connection and runs operations on it, from any thread or event loop."""

    queries = QUERIES
    prefix = ""

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = 60.0,
        synchronous: str = "NORMAL",
    ) -> None:
        self.path = path
        self.in_memory = path == ":memory:"
        self.where = "in memory" if self.in_memory else f"at sqlite:///{path}"
        if synchronous.upper() not in SYNCHRONOUS:
            raise StorageError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, got {synchronous!r}")
        if not self.in_memory:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise StorageError(f"cannot open the database {self.where}: folder {folder!r} does not exist")
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            # Pages of FILE_PAGE_SIZE / MEMORY_PAGE_SIZE bytes (a new database; one made before
            # keeps its own): a 4 KB page holds one row of a 2,000-character message and leaves
            # nearly half of it empty.
            if not self.in_memory:
                self._conn.execute(f"PRAGMA page_size = {FILE_PAGE_SIZE}")
                self._conn.execute("PRAGMA journal_mode = WAL")
            else:
                self._conn.execute(f"PRAGMA page_size = {MEMORY_PAGE_SIZE}")
            self._conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database {self.where}: {exc}") from exc
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="graphsaver-sqlite")  # async calls
        self._closed = False
        # in memory: blind writes wait here until the next other operation (see `run`)
        self._deferred: list[Statement] = []
        self._deferred_lock = threading.Lock()
        self._epoch = 0  # counts the operations that may have deleted a list delta's base
        # in memory nothing but this engine writes the store, so the newest checkpoints can be held
        self.latest = LatestCache() if self.in_memory else None
        # in a file, blind writes share transactions (storage/groupcommit.py): async ones always
        # (they leave the event loop's thread either way), sync ones where a commit costs an fsync
        self._committer = (
            None
            if self.in_memory
            else GroupCommitter(self._run_batch, lambda exc: isinstance(exc, IntegrityError), self.where)
        )
        self._group_sync = synchronous.upper() in ("FULL", "EXTRA")

    def run(self, op: Operation[T], *, write: bool) -> T:
        """Run an operation in one transaction on the calling thread.

        In memory, a blind write made of inserts (`put`, `put_writes`) is not run at once: it joins
        a queue that the next other operation (a read, a delete) runs first, under the engine
        lock, gathered into a few multi-row inserts. Every read therefore sees every write that
        returned, and a write costs no SQLite call: each call lets go of the GIL, and getting it
        back behind LangGraph's busy worker threads is what an in-memory write used to cost.
        The failures that binding or SQLite could report are checked before a write is queued
        (invalid unicode, a closed saver); the last one, a list delta whose base a concurrent
        delete removed, cannot reach the queue: a write prepared before such a delete runs at
        once and fails as it would have, and the saver then stores full values.
        An operation that needs no statement at all (a read of a thread's newest checkpoint
        answered by the `latest` cache) runs nothing, queue included. A write's `Note`s (what
        it changes in that cache) run in the step that queues it.
        """
        if self._committer is not None:
            if write and self._group_sync:
                if self._committer.claim():  # no other write to share a transaction with
                    try:
                        return self._run(op, write=True)
                    finally:
                        self._committer.release()
                prepared = prepare(op)
                if isinstance(prepared, Blind):
                    if prepared.statements:
                        self._committer.submit(prepared.statements).result()
                    return prepared.value  # type: ignore[no-any-return]
                op = prepared
            return self._run(op, write=write)
        value, rest = self._memory_step(op, write=write)
        return value if rest is None else rest()

    def _memory_step(self, op: Operation[T], *, write: bool) -> tuple[Any, Callable[[], T] | None]:
        """In memory: do what needs no SQLite call (a cache hit, a queued write) and return its
        value with None, or return None and what is left to run (a query, the queue's run)."""
        if self._closed:
            op.close()
            raise StorageError(f"the saver for the database {self.where} is closed")
        epoch = self._epoch
        prepared = prepare(op)
        if not isinstance(prepared, Blind):
            return None, functools.partial(self._run, prepared, write=write)
        value, statements, notes = prepared.value, prepared.statements, prepared.notes
        if not statements:
            return value, None
        inserts = only_inserts(statements)
        queued = self._defer(statements, epoch, notes) if write and inserts else None
        if queued is None:  # runs now, out of the queue's order

            def now() -> T:
                self._run(replay(statements), write=write, deletes=not inserts)
                if notes and self.latest is not None:
                    self.latest.clear()  # what it changed is unknown
                return value  # type: ignore[no-any-return]

            return None, now
        if queued == "full":  # bounds the queue: runs it

            def drain() -> T:
                self._run(replay([]), write=False)
                return value  # type: ignore[no-any-return]

            return None, drain
        return value, None

    def _defer(self, statements: list[Statement], epoch: int, notes: list[Note]) -> str | None:
        """Queue a blind write: "queued", "full" (queued, and the queue must run), or None when
        a delete ran since the write was prepared (it must run now)."""
        check_text(statements)
        with self._deferred_lock:
            if self._closed:
                raise StorageError(f"the saver for the database {self.where} is closed")
            if epoch != self._epoch:
                return None
            self._deferred.extend(statements)
            for note in notes:
                note.run()
            return "full" if len(self._deferred) >= MAX_DEFERRED else "queued"

    def _run_batch(self, statements: list[Statement]) -> None:
        """Run the blind writes of a group commit in one transaction; when several writes insert
        into one table, their rows go in one multi-row insert."""
        merged = merge_inserts(statements) if len({st.sql for st in statements}) < len(statements) else None
        self._run(replay(merged if merged is not None else statements), write=True)

    def _run(self, op: Operation[T], *, write: bool, deletes: bool = True) -> T:
        """Run an operation (a write that may delete unless `deletes` is False)."""
        with self._lock:
            if self._closed:
                op.close()
                raise StorageError(f"the saver for the database {self.where} is closed")
            cursor = self._conn.cursor()
            try:
                if self.in_memory:
                    # The engine lock already keeps every other thread out for the whole
                    # operation, and there is no file to keep consistent through a crash:
                    # a transaction would only cost time.
                    self._run_deferred(cursor, deletes=write and deletes)
                    return drive(op, lambda st: _run_statement(cursor, st))
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = drive(op, lambda st: _run_statement(cursor, st))
                except BaseException:
                    if self._conn.in_transaction:
                        cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
                return result
            except sqlite3.IntegrityError as exc:
                raise IntegrityError(f"the database {self.where} refused a write: {exc}") from exc
            except sqlite3.Error as exc:
                raise StorageError(f"the database {self.where} failed: {exc}") from exc
            except UnicodeEncodeError as exc:
                raise ConfigError(f"a key or name is not valid unicode text: {exc}") from exc
            finally:
                op.close()
                cursor.close()

    def _run_deferred(self, cursor: sqlite3.Cursor, *, deletes: bool = False) -> None:
        """In memory, under the engine lock: run the queued writes (before an operation that
        may delete, which `deletes` says)."""
        with self._deferred_lock:
            deferred, self._deferred = self._deferred, []
            if deletes:
                self._epoch += 1
                if self.latest is not None:  # rows may change other than by put
                    self.latest.clear()
        for statement in merge_inserts(deferred) or ():
            _run_statement(cursor, statement)

    def compact(self) -> Compacted:
        """Rewrite the database without the free pages deletes left (SQLite's VACUUM).

        A file whose pages are smaller than FILE_PAGE_SIZE (made before graphsaver used 8 KB)
        moves to it when no other connection has the file open: SQLite changes the page size
        only outside WAL mode, which it leaves and returns to here. With another connection
        open, the file is compacted in its own page size and `note` says so.
        """
        with self._lock:
            if self._closed:
                raise StorageError(f"the saver for the database {self.where} is closed")
            cursor = self._conn.cursor()
            try:
                self._run_deferred(cursor)
                # fetchall: a statement left unfinished would keep the file from leaving WAL mode
                ((before,),) = cursor.execute(QUERIES.STORE_SIZE).fetchall()
                ((page_size,),) = cursor.execute("PRAGMA page_size").fetchall()
                note = None
                if self.in_memory or page_size >= FILE_PAGE_SIZE:
                    cursor.execute(QUERIES.COMPACT)
                else:
                    note = self._compact_into_larger_pages(cursor, page_size)
                if not self.in_memory:
                    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file shrinks now
                ((after,),) = cursor.execute(QUERIES.STORE_SIZE).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"cannot compact the database {self.where}: {exc}") from exc
            finally:
                cursor.close()
        return Compacted(int(before), int(after), note)

    def _compact_into_larger_pages(self, cursor: sqlite3.Cursor, page_size: int) -> str | None:
        try:
            cursor.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.OperationalError:  # "database is locked": another connection has it open
            cursor.execute(QUERIES.COMPACT)
            return (
                f"kept pages of {page_size} bytes: another connection has the database open "
                f"(compact again when none has, to move to pages of {FILE_PAGE_SIZE} bytes)"
            )
        try:
            cursor.execute(f"PRAGMA page_size = {FILE_PAGE_SIZE}")
            cursor.execute(QUERIES.COMPACT)
        finally:
            cursor.execute("PRAGMA journal_mode = WAL")
        return None

    async def arun(self, op: Operation[T], *, write: bool) -> T:
        """Run an operation from an event loop: one hop to the engine's worker thread.

        In memory, what needs no SQLite call (a cache hit, a queued write) runs on the loop, and
        only the rest hops: no SQLite call ever blocks the event loop.
        """
        if self._closed:
            op.close()
            raise StorageError(f"the saver for the database {self.where} is closed")
        loop = asyncio.get_running_loop()
        if self.in_memory:
            value, rest = self._memory_step(op, write=write)
            return value if rest is None else await loop.run_in_executor(self._executor, rest)
        if write and self._committer is not None:
            prepared = prepare(op)
            if isinstance(prepared, Blind):
                if prepared.statements:
                    await asyncio.wrap_future(self._committer.submit(prepared.statements))
                return prepared.value  # type: ignore[no-any-return]
            op = prepared
        return await loop.run_in_executor(self._executor, lambda: self.run(op, write=write))

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()  # commits what is queued
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._conn.close()
            if self.latest is not None:
                self.latest.clear()
        self._executor.shutdown(wait=True)

    async def aclose(self) -> None:
        if self._committer is not None:
            await asyncio.to_thread(self._committer.close)
        self.close()
