"""Writes that share a transaction: the group commit (PostgreSQL, SQLite files) and the
in-memory write queue.

A `put` or `put_writes` that arrives while another write is in flight joins the next batch
(storage/groupcommit.py); in memory, writes wait in a queue that the next read runs first
(storage/sqlite/engine.py). Both must keep every caller's outcome its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.base import empty_checkpoint

import graphsaver
from graphsaver import PostgresSaver, SqliteSaver
from graphsaver.core import ops
from graphsaver.core.lists import LIST_DELTA
from graphsaver.errors import IntegrityError
from graphsaver.storage.sql import Apply, Operation
from tests.pgserver import fresh_database


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, f"t_{uuid.uuid4().hex[:12]}") as url:
        yield url


def cfg(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


def checkpoint_of(value: Any, version: int = 1) -> tuple[Any, Any, Any]:
    """A checkpoint holding `value` in channel "n", its metadata and new versions: put's arguments."""
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"n": value}
    checkpoint["channel_versions"] = {"n": f"{version:032}.0"}
    metadata: Any = {"source": "input", "step": -1, "parents": {}}
    return checkpoint, metadata, checkpoint["channel_versions"]


def put_one(saver: Any, thread_id: str, value: Any, version: int = 1) -> Any:
    return saver.put(cfg(thread_id), *checkpoint_of(value, version))


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def writes_of(saver: Any, config: Any) -> dict[str, list[Any]]:
    fetched = saver.get_tuple(config)
    assert fetched is not None
    found: dict[str, list[Any]] = {}
    for task_id, channel, value in fetched.pending_writes or []:
        found.setdefault(task_id, []).append((channel, value))
    return found


# --- PostgreSQL ------------------------------------------------------------------------------------


def test_concurrent_writes_share_transactions_and_all_commit(pg_url: str) -> None:
    with PostgresSaver(pg_url, max_size=4) as saver:
        stored = [put_one(saver, f"t{i}", i) for i in range(8)]
        with psycopg.connect(pg_url, autocommit=True) as conn:
            (before,) = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone() or (0,)

        def task(i: int) -> None:
            for k in range(25):
                saver.put_writes(stored[i % 8], [("n", i * 100 + k)], f"task-{i}-{k}")

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(task, range(16)))
        for i in range(8):
            found = writes_of(saver, stored[i])
            expected = {f"task-{j}-{k}": [("n", j * 100 + k)] for j in (i, i + 8) for k in range(25)}
            assert found == expected
    # the statistics collector hears of a backend's commits when it reports them: poll briefly
    with psycopg.connect(pg_url, autocommit=True) as conn:

        def commits() -> int:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
            return int(row[0]) if row else 0

        time.sleep(1.0)
        # 400 writes from 16 threads; one transaction each would be 400 commits and more
        assert commits() - int(before) < 400


def in_one_batch(saver: Any, pg_url: str, calls: list[Callable[[], None]]) -> list[BaseException | None]:
    """Run `calls` so that their writes share one batch: a first write waits for a table lock
    while they queue behind it. Returns each call's exception (or None)."""
    stored = put_one(saver, "lock-holder", 0)
    committer: Any = saver._engine._committer
    with psycopg.connect(pg_url, autocommit=True) as admin, psycopg.connect(pg_url) as blocker:

        def waiting_on_lock() -> bool:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'graphsaver'"
                " AND wait_event_type = 'Lock'"
            ).fetchone()
            return bool(row and row[0])

        with ThreadPoolExecutor(len(calls) + 1) as pool:
            blocker.execute("LOCK TABLE graphsaver_writes IN SHARE MODE")
            first = pool.submit(saver.put_writes, stored, [("a", 1)], "first")
            wait_for(waiting_on_lock, "the first batch to wait for the lock")
            futures = []
            for n, call in enumerate(calls, 1):  # one at a time, so the queue keeps their order
                futures.append(pool.submit(call))
                wait_for(lambda n=n: len(committer._queue) == n, "the write to queue")
            blocker.commit()
            first.result(timeout=10)
            return [f.exception(timeout=10) for f in futures]


def a_refused_write_fails_alone(
    saver: Any, in_batch: Callable[[list[Callable[[], None]]], list[BaseException | None]], refusal: str
) -> None:
    """Two writes share a batch and the database refuses the first (its task writes idx 5 and
    6): it fails alone with `refusal` in its message, and the other commits."""
    stored = put_one(saver, "t", 1)
    bad, good = in_batch(
        [
            lambda: saver.put_writes(stored, [(f"ch{i}", i) for i in range(7)], "task-b"),
            lambda: saver.put_writes(stored, [("c", 3)], "task-c"),
        ]
    )
    assert isinstance(bad, IntegrityError) and refusal in str(bad)
    assert good is None
    assert writes_of(saver, stored) == {"task-c": [("c", 3)]}


def test_a_failing_write_in_a_batch_fails_alone(pg_url: str) -> None:
    with PostgresSaver(pg_url, min_size=2, max_size=4) as saver:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("ALTER TABLE graphsaver_writes ADD CONSTRAINT small CHECK (idx < 5)")
        a_refused_write_fails_alone(
            saver, lambda calls: in_one_batch(saver, pg_url, calls), "refused a write"
        )


def test_one_batch_upserting_a_row_twice_keeps_the_last(pg_url: str) -> None:
    """A batch's upserts of one table become one multi-row statement, which PostgreSQL refuses
    when it names a row twice; the batch then runs write by write, in order."""
    with PostgresSaver(pg_url, min_size=2, max_size=4) as saver:
        stored = put_one(saver, "t", 1)
        outcomes = in_one_batch(
            saver,
            pg_url,
            [
                lambda: saver.put_writes(stored, [("__error__", "first")], "task"),
                lambda: saver.put_writes(stored, [("__error__", "second")], "task"),
            ],
        )
        assert outcomes == [None, None]
        assert writes_of(saver, stored) == {"task": [("__error__", "second")]}


def test_one_batch_writing_a_task_twice_keeps_the_first(pg_url: str) -> None:
    """A task's regular write is kept once: in a batch, the rows of one statement text keep
    their order, so the first of two writes of one slot wins, as it does one by one."""
    with PostgresSaver(pg_url, min_size=2, max_size=4) as saver:
        stored = put_one(saver, "t", 1)
        other = put_one(saver, "u", 2)
        outcomes = in_one_batch(
            saver,
            pg_url,
            [
                lambda: saver.put_writes(stored, [("n", "first")], "task"),
                lambda: put_one(saver, "v", [1, 2], version=3),
                lambda: saver.put_writes(stored, [("n", "second")], "task"),
                lambda: saver.put_writes(other, [("m", 7), ("__error__", "boom")], "task-u"),
            ],
        )
        assert outcomes == [None, None, None, None]
        assert writes_of(saver, stored) == {"task": [("n", "first")]}
        assert writes_of(saver, other) == {"task-u": [("__error__", "boom"), ("m", 7)]}  # by idx
        fetched = saver.get_tuple(cfg("v"))
        assert fetched is not None and fetched.checkpoint["channel_values"] == {"n": [1, 2]}


def test_a_batch_is_one_statement_and_all_or_nothing(pg_url: str) -> None:
    """Every table's rows in one statement; a list delta may name a base written in the same
    statement, and a delta whose base is missing fails the whole statement."""
    from graphsaver.storage.postgres.engine import one_statement
    from graphsaver.storage.sql import ExecuteMany, merge_inserts

    with PostgresSaver(pg_url) as saver:
        engine: Any = saver._engine
        q = engine.queries
        base = ("t", "", "n", "v1", "msgpack", b"\x91\x01", None)
        delta = ("t", "", "n", "v2", LIST_DELTA, b"\x90", "v1")
        write = ("t", "", "c1", "task", 0, "n", "msgpack", b"\x01", "")
        batch = [Apply(q.INSERT_BLOB, base), Apply(q.INSERT_WRITE, write), Apply(q.INSERT_BLOB, delta)]
        merged = merge_inserts(batch)
        assert merged is not None
        single = one_statement(merged)
        assert single is not None and single[0].startswith("WITH w0 AS (INSERT INTO")
        assert "%s" not in single[0] and f"${len(single[1])})" in single[0]
        assert single[1] == [*base, *delta, *write]
        engine._run_batch(batch)
        orphan = ("t", "", "n", "v4", LIST_DELTA, b"\x90", "v3")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            engine._run_batch(
                [Apply(q.INSERT_WRITE, (*write[:4], 1, *write[5:])), Apply(q.INSERT_BLOB, orphan)]
            )
        with psycopg.connect(pg_url, autocommit=True) as conn:
            blobs = conn.execute("SELECT version FROM graphsaver_blobs ORDER BY version").fetchall()
            idxs = conn.execute("SELECT idx FROM graphsaver_writes").fetchall()
        assert blobs == [("v1",), ("v2",)] and idxs == [(0,)]  # nothing of the failed batch
        # a text with more rows than one insert takes keeps the pipeline (its parts' order)
        many = ExecuteMany(q.INSERT_WRITE, [write] * 501)
        assert one_statement([many]) is None


def test_a_write_too_large_for_one_statement_keeps_its_order(pg_url: str) -> None:
    """600 writes of one task need two multi-row inserts: the batch keeps the pipeline, and
    every write is stored, in order."""
    with PostgresSaver(pg_url) as saver:
        stored = put_one(saver, "t", 1)
        writes = [(f"c{i}", i) for i in range(600)]
        saver.put_writes(stored, writes, "task")
        assert writes_of(saver, stored) == {"task": writes}


def database_commits(conn: psycopg.Connection[Any]) -> int:
    """The database's committed transactions so far, as the statistics collector last heard."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    return int(row[0]) if row else 0


async def test_async_writes_share_transactions_on_the_loop_without_a_thread(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        async with PostgresSaver(pg_url) as saver:
            stored = [await saver.aput(cfg(f"t{i}"), *checkpoint_of(i)) for i in range(4)]
            before = database_commits(conn)
            await asyncio.gather(
                *(saver.aput_writes(stored[i % 4], [("n", i)], f"task-{i}") for i in range(40))
            )
            for i in range(4):
                assert writes_of(saver, stored[i]) == {f"task-{j}": [("n", j)] for j in range(i, 40, 4)}
            engine: Any = saver._engine
            assert engine._acommitter is not None and engine._acommitter.loop is asyncio.get_running_loop()
            assert engine._committer._worker is None  # no write left the event loop's thread
        time.sleep(1.0)  # the collector hears of a backend's commits when the backend reports them
        assert database_commits(conn) - before < 40  # one transaction each would be 40 and more


async def test_async_a_refused_write_fails_alone_and_the_rest_of_its_batch_commits(pg_url: str) -> None:
    async with PostgresSaver(pg_url, min_size=2, max_size=4) as saver:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("ALTER TABLE graphsaver_writes ADD CONSTRAINT small CHECK (idx < 5)")
        stored = await saver.aput(cfg("t"), *checkpoint_of(1))
        lock_holder = await saver.aput(cfg("lock-holder"), *checkpoint_of(0))
        committer: Any = saver._engine._loop_committer()
        with psycopg.connect(pg_url) as blocker:
            blocker.execute("LOCK TABLE graphsaver_writes IN SHARE MODE")
            first = asyncio.ensure_future(saver.aput_writes(lock_holder, [("a", 1)], "first"))
            await until(lambda: committer._task is not None and not committer._queue, "the first batch")
            bad = asyncio.ensure_future(
                saver.aput_writes(stored, [(f"ch{i}", i) for i in range(7)], "task-b")
            )
            good = asyncio.ensure_future(saver.aput_writes(stored, [("c", 3)], "task-c"))
            await until(lambda: len(committer._queue) == 2, "both writes to queue")
            blocker.commit()
            outcomes = await asyncio.gather(first, bad, good, return_exceptions=True)
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], IntegrityError) and "refused a write" in str(outcomes[1])
        assert writes_of(saver, stored) == {"task-c": [("c", 3)]}


async def test_async_exit_commits_what_is_queued(pg_url: str) -> None:
    async with PostgresSaver(pg_url) as saver:
        stored = await saver.aput(cfg("t"), *checkpoint_of(1))
        writes = [
            asyncio.ensure_future(saver.aput_writes(stored, [("n", k)], f"task-{k}")) for k in range(50)
        ]
        await asyncio.sleep(0)  # each has queued; none has been committed yet
    assert all(w.done() and w.exception() is None for w in writes)
    with PostgresSaver(pg_url) as again:
        assert len(writes_of(again, stored)) == 50


def test_closing_commits_what_is_queued(pg_url: str) -> None:
    saver = PostgresSaver(pg_url)
    saver.setup()
    stored = put_one(saver, "t", 1)
    done = threading.Event()

    def writer() -> None:
        for k in range(50):
            saver.put_writes(stored, [("n", k)], f"task-{k}")
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join()
    saver.close()
    assert done.is_set()
    with PostgresSaver(pg_url) as again:
        assert len(writes_of(again, stored)) == 50


# --- SQLite files ----------------------------------------------------------------------------------


def counting_commits(saver: Any) -> list[str]:
    """The COMMITs the saver's own SQLite connection runs from now on (SQLite's trace hook)."""
    commits: list[str] = []
    saver._engine._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    return commits


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_sqlite_concurrent_writes_share_transactions_and_all_commit(tmp_path: Any, synchronous: str) -> None:
    """Sync writers share commits where a commit costs an fsync (FULL); with NORMAL a commit
    costs less than handing the write to another thread, and each write commits alone."""
    with SqliteSaver(tmp_path / "g.db", synchronous=synchronous) as saver:
        stored = [put_one(saver, f"t{i}", i) for i in range(8)]
        commits = counting_commits(saver)
        start = threading.Barrier(16)

        def task(i: int) -> None:
            start.wait()
            for k in range(25):
                saver.put_writes(stored[i % 8], [("n", i * 100 + k)], f"task-{i}-{k}")

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(task, range(16)))
        if synchronous == "FULL":
            assert 0 < len(commits) < 400  # 400 writes from 16 threads, not a transaction each
        else:
            assert len(commits) == 400
    with SqliteSaver(tmp_path / "g.db") as again:  # on disk, as each caller was told
        for i in range(8):
            expected = {f"task-{j}-{k}": [("n", j * 100 + k)] for j in (i, i + 8) for k in range(25)}
            assert writes_of(again, stored[i]) == expected


def test_sqlite_a_lone_writer_commits_on_its_own_thread(tmp_path: Any) -> None:
    """With no other write in flight a write pays no thread switch: the worker never starts."""
    with SqliteSaver(tmp_path / "g.db", synchronous="FULL") as saver:
        commits = counting_commits(saver)
        stored = put_one(saver, "t", 1)
        for k in range(20):
            saver.put_writes(stored, [("n", k)], f"task-{k}")
        assert len(commits) == 21
        assert saver._engine._committer._worker is None
        assert len(writes_of(saver, stored)) == 20


def sqlite_in_one_batch(saver: Any, path: Any, calls: list[Callable[[], None]]) -> list[BaseException | None]:
    """Run `calls` so that their writes share one batch: a first write waits for another
    connection's write lock while they queue behind it. Returns each call's exception (or None)."""
    stored = put_one(saver, "lock-holder", 0)
    committer: Any = saver._engine._committer
    commits = counting_commits(saver)  # not while a statement runs: it would wait for it
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        with ThreadPoolExecutor(len(calls) + 1) as pool:
            blocker.execute("BEGIN IMMEDIATE")
            first = pool.submit(saver.put_writes, stored, [("a", 1)], "first")
            wait_for(lambda: committer._turn.locked(), "the first write to wait for the lock")
            futures = []
            for n, call in enumerate(calls, 1):  # one at a time, so the queue keeps their order
                futures.append(pool.submit(call))
                wait_for(lambda n=n: len(committer._queue) == n, "the write to queue")
            blocker.execute("COMMIT")
            first.result(timeout=10)
            outcomes = [f.exception(timeout=10) for f in futures]
            # the first write, then the batch; or, when the batch failed, each write that commits alone
            ok = sum(o is None for o in outcomes)
            assert len(commits) == 1 + (1 if ok == len(calls) else ok)
            return outcomes
    finally:
        blocker.close()


def test_sqlite_a_failing_write_in_a_batch_fails_alone(tmp_path: Any) -> None:
    path = tmp_path / "g.db"
    with SqliteSaver(path, synchronous="FULL") as saver:
        with sqlite3.connect(path) as admin:  # SQLite has no ADD CONSTRAINT: a trigger refuses
            admin.execute(
                "CREATE TRIGGER small BEFORE INSERT ON graphsaver_writes WHEN NEW.idx >= 5"
                " BEGIN SELECT RAISE(ABORT, 'idx too large'); END"
            )
        a_refused_write_fails_alone(
            saver, lambda calls: sqlite_in_one_batch(saver, path, calls), "idx too large"
        )


def test_sqlite_one_batch_keeps_each_writes_outcome(tmp_path: Any) -> None:
    """A batch merges the rows of each table into one insert, in the order the writes came:
    a task's regular write keeps its first value, a special channel's its last, and a list
    stored in the same batch reads back whole."""
    path = tmp_path / "g.db"
    with SqliteSaver(path, synchronous="FULL") as saver:
        stored = put_one(saver, "t", 1)
        outcomes = sqlite_in_one_batch(
            saver,
            path,
            [
                lambda: saver.put_writes(stored, [("n", "first"), ("__error__", "first")], "task"),
                lambda: put_one(saver, "v", [1, 2], version=3),
                lambda: saver.put_writes(stored, [("n", "second"), ("__error__", "second")], "task"),
            ],
        )
        assert outcomes == [None, None, None]
        assert writes_of(saver, stored) == {"task": [("__error__", "second"), ("n", "first")]}
        fetched = saver.get_tuple(cfg("v"))
        assert fetched is not None and fetched.checkpoint["channel_values"] == {"n": [1, 2]}


async def test_sqlite_async_writes_join_the_batches_too(tmp_path: Any) -> None:
    async with SqliteSaver(tmp_path / "g.db") as saver:
        stored = [put_one(saver, f"t{i}", i) for i in range(4)]
        commits = counting_commits(saver)
        await asyncio.gather(*(saver.aput_writes(stored[i % 4], [("n", i)], f"task-{i}") for i in range(40)))
        assert 0 < len(commits) < 40
        for i in range(4):
            assert writes_of(saver, stored[i]) == {f"task-{j}": [("n", j)] for j in range(i, 40, 4)}


def test_sqlite_closing_commits_what_is_queued(tmp_path: Any) -> None:
    saver = SqliteSaver(tmp_path / "g.db", synchronous="FULL")
    stored = put_one(saver, "t", 1)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(saver.put_writes, stored, [("n", k)], f"task-{k}") for k in range(50)]
        closing = pool.submit(saver.close)
        outcomes = [f.exception(timeout=10) for f in futures]
        closing.result(timeout=10)
    stored_now = len(writes_of(SqliteSaver(tmp_path / "g.db"), stored))
    # every write that returned is stored; one that came after the close was told so
    assert stored_now == sum(o is None for o in outcomes)
    assert all(o is None or "is closed" in str(o) for o in outcomes)


# --- in memory -------------------------------------------------------------------------------------


def test_memory_reads_see_every_write_that_returned() -> None:
    with graphsaver.connect("memory://") as saver:
        stored = put_one(saver, "t", 1)
        results: list[Any] = []

        def writer(i: int) -> None:
            saver.put_writes(stored, [("n", i)], f"task-{i}")
            results.append(writes_of(saver, stored)[f"task-{i}"])  # read right after: it is there

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(writer, range(64)))
        assert sorted(r[0][1] for r in results) == list(range(64))
        latest = put_one(saver, "t", 2, version=2)
        assert saver.get_tuple(cfg("t")).config == latest  # type: ignore[union-attr]


def test_memory_write_prepared_while_a_delete_runs_fails_at_once() -> None:
    """A list delta computed before a concurrent delete must not be queued: its base may be gone."""
    with graphsaver.connect("memory://") as saver:
        engine: Any = saver._engine
        q = engine.queries
        put_one(saver, "t", ["a"])
        base = engine.run(_blob_version(q), write=False)

        def racing_write() -> Operation[None]:
            engine.run(ops.delete_threads(q, ["t"]), write=True)  # runs while this one is prepared
            yield Apply(q.INSERT_BLOB, ("t", "", "n", "v2", LIST_DELTA, b"\x90", base))

        with pytest.raises(IntegrityError):
            engine.run(racing_write(), write=True)
        assert saver.get_tuple(cfg("t")) is None  # the next read is not handed that failure
        put_one(saver, "t", ["b"])
        assert saver.get_tuple(cfg("t")).checkpoint["channel_values"] == {"n": ["b"]}  # type: ignore[union-attr]


def _blob_version(q: Any) -> Operation[str]:
    from graphsaver.storage.sql import Fetch

    rows = yield Fetch("SELECT version FROM graphsaver_blobs WHERE thread_id = 't'")
    return str(rows[0][0])


def test_memory_queue_is_bounded_and_kept_in_order() -> None:
    with graphsaver.connect("memory://") as saver:
        engine: Any = saver._engine
        stored = put_one(saver, "t", 0)
        for k in range(3000):
            saver.put_writes(stored, [("n", k)], "task")  # one task's write again: the first is kept
        assert len(engine._deferred) < 2000
        assert writes_of(saver, stored) == {"task": [("n", 0)]}  # a task's first write is kept
        for k in range(3000):
            saver.put_writes(stored, [("__error__", k)], "task-e")  # special channel: the last wins
        assert writes_of(saver, stored)["task-e"] == [("__error__", 2999)]


# --- the batching itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("refused", [True, False])
def test_a_failed_batch_is_retried_write_by_write_only_when_a_statement_was_refused(refused: bool) -> None:
    """A refused statement: each write runs alone. A lost connection: every write fails at once,
    without each waiting for it again."""
    from graphsaver.storage.groupcommit import GroupCommitter

    release = threading.Event()
    batches: list[list[str]] = []

    def run_batch(statements: list[Any]) -> None:
        batches.append([st.sql for st in statements])
        if statements[0].sql == "first":
            release.wait(10)
            return
        if any(st.sql == "bad" for st in statements) or not refused:
            raise RuntimeError("boom")

    committer = GroupCommitter(run_batch, lambda exc: refused, "test")
    try:
        first = committer.submit([Apply("first")])
        wait_for(lambda: len(batches) == 1, "the first batch to start")
        bad, good = committer.submit([Apply("bad")]), committer.submit([Apply("good")])
        release.set()
        first.result(timeout=10)
        assert isinstance(bad.exception(timeout=10), RuntimeError)
        if refused:
            assert good.exception(timeout=10) is None
            assert batches == [["first"], ["bad", "good"], ["bad"], ["good"]]
        else:
            assert isinstance(good.exception(timeout=10), RuntimeError)
            assert batches == [["first"], ["bad", "good"]]
    finally:
        committer.close()


@pytest.mark.parametrize("refused", [True, False])
async def test_on_the_loop_a_failed_batch_is_retried_write_by_write_only_when_refused(refused: bool) -> None:
    from graphsaver.storage.groupcommit import LoopCommitter

    release = asyncio.Event()
    batches: list[list[str]] = []

    async def run_batch(statements: list[Any]) -> None:
        batches.append([st.sql for st in statements])
        if statements[0].sql == "first":
            await release.wait()
            return
        if any(st.sql == "bad" for st in statements) or not refused:
            raise RuntimeError("boom")

    committer = LoopCommitter(run_batch, lambda exc: refused, "test")
    first = asyncio.ensure_future(committer.submit([Apply("first")]))
    await until(lambda: len(batches) == 1, "the first batch to start")
    bad = asyncio.ensure_future(committer.submit([Apply("bad")]))
    good = asyncio.ensure_future(committer.submit([Apply("good")]))
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(first, bad, good, return_exceptions=True)
    assert outcomes[0] is None and isinstance(outcomes[1], RuntimeError)
    if refused:
        assert outcomes[2] is None
        assert batches == [["first"], ["bad", "good"], ["bad"], ["good"]]
    else:
        assert isinstance(outcomes[2], RuntimeError)
        assert batches == [["first"], ["bad", "good"]]
    await committer.aclose()
    with pytest.raises(graphsaver.StorageError, match="closed"):
        await committer.submit([Apply("late")])


async def test_on_the_loop_a_cancelled_caller_s_queued_write_is_dropped_and_an_in_flight_one_kept() -> None:
    from graphsaver.storage.groupcommit import LoopCommitter

    release = asyncio.Event()
    committed: list[str] = []

    async def run_batch(statements: list[Any]) -> None:
        await release.wait()
        committed.extend(st.sql for st in statements)

    committer = LoopCommitter(run_batch, lambda exc: False, "test")
    in_flight = asyncio.ensure_future(committer.submit([Apply("in flight")]))
    await until(lambda: committer._task is not None and not committer._queue, "the first batch")
    queued = asyncio.ensure_future(committer.submit([Apply("queued")]))
    kept = asyncio.ensure_future(committer.submit([Apply("kept")]))
    await asyncio.sleep(0)
    in_flight.cancel()
    queued.cancel()
    release.set()
    await kept
    assert committed == ["in flight", "kept"]  # a batch in flight cannot be taken back
    assert in_flight.cancelled() and queued.cancelled()


async def test_on_the_loop_a_cancelled_committer_fails_its_writes_instead_of_leaving_them_waiting() -> None:
    from graphsaver.storage.groupcommit import LoopCommitter

    async def run_batch(statements: list[Any]) -> None:
        await asyncio.Event().wait()  # never commits

    committer = LoopCommitter(run_batch, lambda exc: False, "test")
    in_flight = asyncio.ensure_future(committer.submit([Apply("in flight")]))
    await until(lambda: committer._task is not None and not committer._queue, "the first batch")
    queued = asyncio.ensure_future(committer.submit([Apply("queued")]))
    await asyncio.sleep(0)
    task = committer._task
    assert task is not None
    task.cancel()  # as asyncio.run does to every task it leaves behind
    outcomes = await asyncio.gather(in_flight, queued, return_exceptions=True)
    assert [type(o) for o in outcomes] == [asyncio.CancelledError, asyncio.CancelledError]
    assert committer._task is None and not committer._queue


def test_a_forked_child_commits_even_if_the_parent_held_the_turn() -> None:
    """A child forked while a parent thread was committing starts with its own queue and turn."""
    import os

    from graphsaver.storage.groupcommit import GroupCommitter

    committed: list[str] = []
    committer = GroupCommitter(lambda sts: committed.extend(st.sql for st in sts), lambda exc: False, "test")
    assert committer.claim()  # the parent is committing a write of its own when it forks
    pid = os.fork()
    if pid == 0:  # the child: only the committer, then out
        code = 1
        try:
            committer.submit([Apply("child")]).result(timeout=10)
            code = 0 if committed == ["child"] else 2
        finally:
            os._exit(code)
    committer.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    committer.submit([Apply("parent")]).result(timeout=10)
    assert committed == ["parent"]
    committer.close()
