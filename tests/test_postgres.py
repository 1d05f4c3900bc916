"""The PostgreSQL backend beyond the shared contract: pools, many workers, round trips, faults.

Every test runs on a real server (tests/pgserver.py) in a fresh database.
"""

from __future__ import annotations

import asyncio
import operator
import os
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, TypedDict
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, ConnectionPool

import graphsaver
from graphsaver import GraphsaverError, InvalidURLError, PostgresSaver, StorageError
from graphsaver.errors import IntegrityError
from graphsaver.saver import GraphsaverSaver
from graphsaver.storage.postgres import PostgresEngine
from graphsaver.storage.sql import Fetch, Operation
from tests.pgserver import PASSWORD_ROLE, fresh_database, with_database

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, f"t_{uuid.uuid4().hex[:12]}") as url:
        yield url


# --- a real graph ----------------------------------------------------------------------------------


class State(TypedDict):
    n: int
    trail: Annotated[list[str], operator.add]


def build_graph() -> StateGraph[State]:
    """START -> a -> b -> c -> END; each node adds 1 and its name."""
    builder = StateGraph(State)
    for name in "abc":
        builder.add_node(name, lambda s, name=name: {"n": s["n"] + 1, "trail": [name]})
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    return builder


def cfg(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


def checkpoint_with(value: int) -> Any:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"n": value}
    checkpoint["channel_versions"] = {"n": f"{1:032}.0"}
    return checkpoint


def put_one(saver: GraphsaverSaver, thread_id: str, value: int) -> Any:
    checkpoint = checkpoint_with(value)
    metadata: Any = {"source": "input", "step": -1, "parents": {}}
    return saver.put(cfg(thread_id) | {}, checkpoint, metadata, checkpoint["channel_versions"])


def backend_pid_after_sleep() -> Operation[int]:
    rows = yield Fetch("SELECT pg_backend_pid(), pg_sleep(0.3)")
    return int(rows[0][0])


def chain_text(exc: BaseException) -> str:
    """The messages of an error and of everything it chains to."""
    texts = []
    seen: BaseException | None = exc
    while seen is not None:
        texts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "\n".join(texts)


# --- many workers ------------------------------------------------------------------------------


async def test_200_concurrent_async_runs_through_one_pool(pg_url: str) -> None:
    async with PostgresSaver(pg_url, max_size=10) as saver:

        async def one(i: int) -> int:
            checkpoint = checkpoint_with(i)
            metadata: Any = {"source": "input", "step": -1, "parents": {}, "worker": i}
            stored = await saver.aput(
                cfg(f"thread-{i}"), checkpoint, metadata, checkpoint["channel_versions"]
            )
            got = await saver.aget_tuple(stored)
            assert got is not None
            return int(got.checkpoint["channel_values"]["n"])

        results = await asyncio.gather(*(one(i) for i in range(200)), return_exceptions=True)
        assert results == list(range(200))
        listed = [t async for t in saver.alist(None)]
        assert sorted(t.metadata["worker"] for t in listed) == list(range(200))  # type: ignore[typeddict-item]


async def test_concurrent_graph_runs_on_distinct_threads(pg_url: str) -> None:
    async with PostgresSaver(pg_url, max_size=8) as saver:
        graph = build_graph().compile(checkpointer=saver)
        finals = await asyncio.gather(
            *(graph.ainvoke({"n": i, "trail": []}, cfg(f"run-{i}")) for i in range(40))
        )
        assert [f["n"] for f in finals] == [i + 3 for i in range(40)]
        for i in (0, 17, 39):
            history = [s async for s in graph.aget_state_history(cfg(f"run-{i}"))]
            assert [s.metadata["step"] for s in history] == [3, 2, 1, 0, -1]  # type: ignore[index]
            assert history[0].values == {"n": i + 3, "trail": ["a", "b", "c"]}


async def test_no_global_lock_async_operations_use_different_connections(pg_url: str) -> None:
    engine = PostgresEngine(pg_url, min_size=8, max_size=8)
    try:
        pids = await asyncio.gather(*(engine.arun(backend_pid_after_sleep(), write=False) for _ in range(8)))
    finally:
        await engine.aclose()
    assert len(set(pids)) >= 4, pids  # a lock around the pool would have given one backend


def test_no_global_lock_sync_operations_use_different_connections(pg_url: str) -> None:
    engine = PostgresEngine(pg_url, min_size=8, max_size=8)
    try:
        with ThreadPoolExecutor(8) as pool:
            pids = list(pool.map(lambda _: engine.run(backend_pid_after_sleep(), write=False), range(8)))
    finally:
        engine.close()
    assert len(set(pids)) >= 4, pids


WORKER = """
import sys
import graphsaver
from tests.test_postgres import build_graph, cfg
url, worker = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
with graphsaver.connect(url) as saver:
    graph = build_graph().compile(checkpointer=saver)
    for i in range(10):
        final = graph.invoke({"n": i, "trail": []}, cfg(f"p{worker}-{i}"))
        assert final["n"] == i + 3, final
print("ok")
"""

SETUP = """
import sys
import graphsaver
url = sys.argv[1]
saver = graphsaver.connect(url, setup=False)
print("ready", flush=True)
sys.stdin.readline()
print(",".join(str(v) for v in saver.setup()))
saver.close()
"""


def run_processes(script: str, argvs: list[list[str]]) -> list[str]:
    """Run a script in several processes, released at once when all are ready; their outputs."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *argv],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    for proc in procs:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready == "ready\n", ready + proc.communicate()[1]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    return outputs


def test_several_processes_write_at_once(pg_url: str) -> None:
    outputs = run_processes(WORKER, [[pg_url, str(w)] for w in range(4)])
    assert outputs == ["ok"] * 4
    with PostgresSaver(pg_url) as saver:
        graph = build_graph().compile(checkpointer=saver)
        for w in range(4):
            for i in range(10):
                state = graph.get_state(cfg(f"p{w}-{i}"))
                assert state.values == {"n": i + 3, "trail": ["a", "b", "c"]}
                assert len(list(graph.get_state_history(cfg(f"p{w}-{i}")))) == 5
        assert len(list(saver.list(None))) == 4 * 10 * 5


def test_processes_running_setup_at_once_apply_each_migration_once(pg_url: str) -> None:
    outputs = run_processes(SETUP, [[pg_url] for _ in range(4)])
    applied = [int(v) for out in outputs for v in out.split(",") if v]
    assert sorted(applied) == sorted(set(applied)) and applied, outputs  # each version once, by someone
    with psycopg.connect(pg_url) as conn:
        recorded = [r[0] for r in conn.execute("SELECT version FROM graphsaver_migrations ORDER BY 1")]
    assert recorded == sorted(applied)
    with PostgresSaver(pg_url, setup=False) as saver:
        assert saver.setup() == []


def test_setup_inside_the_users_own_transaction(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:  # not autocommit: the first statement opens a transaction
        conn.execute("CREATE TABLE mine (x int)")
        saver = PostgresSaver(conn)
        assert saver.setup() == [1, 2]
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        conn.rollback()  # takes graphsaver's tables with it
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'graphsaver%'").fetchone()
        assert tables == (0,)
        conn.rollback()
        assert saver.setup() == [1, 2]
        conn.commit()
        put_one(saver, "t", 7)
        fetched = saver.get_tuple(cfg("t"))
        assert fetched is not None and fetched.checkpoint["channel_values"] == {"n": 7}
        conn.execute("SELECT 1")  # opens the user's transaction again
        stored = put_one(saver, "u", 8)  # joins it (a savepoint), as one statement
        saver.put_writes(stored, [("n", 9)], "task")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert saver.get_tuple(cfg("u")).pending_writes == [("task", "n", 9)]  # type: ignore[union-attr]
        conn.rollback()  # takes the checkpoint and its writes with it
        assert saver.get_tuple(cfg("u")) is None
        assert saver.get_tuple(cfg("t")) is not None
        saver.close()
        assert not conn.closed  # the user's connection stays theirs


# --- schema, pgbouncer, round trips --------------------------------------------------------------


@pytest.mark.parametrize("schema", ["tenant-1", 'we"ird; DROP TABLE x'])
def test_custom_schema(pg_url: str, schema: str) -> None:
    with PostgresSaver(pg_url, schema=schema) as custom, PostgresSaver(pg_url) as public:
        custom_graph = build_graph().compile(checkpointer=custom)
        custom_graph.invoke({"n": 1, "trail": []}, cfg("t"))
        assert public.get_tuple(cfg("t")) is None  # a separate set of tables
        assert custom.get_tuple(cfg("t")) is not None
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT table_schema, count(*) FROM information_schema.tables"
            " WHERE table_name LIKE 'graphsaver%' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert sorted(rows) == sorted([(schema, 5), ("public", 5)])


def test_pgbouncer_mode_prepares_no_statement(pg_url: str) -> None:
    counts = {}
    for pgbouncer in (False, True):
        engine = PostgresEngine(pg_url, max_size=1, pgbouncer=pgbouncer)
        with GraphsaverSaver(engine) as saver:
            graph = build_graph().compile(checkpointer=saver)
            for i in range(8):
                assert graph.invoke({"n": i, "trail": []}, cfg(f"t{pgbouncer}{i}"))["n"] == i + 3
            counts[pgbouncer] = len(engine.run(plans(), write=False))
    assert counts[True] == 0
    assert counts[False] > 0  # the default mode does prepare: the check above can fail


def plans() -> Operation[dict[str, tuple[int, int]]]:
    """{statement: (generic plans, custom plans)} of this connection's prepared statements."""
    rows = yield Fetch("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
    return {str(sql): (int(generic), int(custom)) for sql, generic, custom in rows}


def test_reads_reuse_one_plan_and_a_filter_across_threads_is_planned_each_time(pg_url: str) -> None:
    engine = PostgresEngine(pg_url, max_size=1)  # one connection: its prepared statements are all
    with GraphsaverSaver(engine) as saver:
        for i in range(30):
            checkpoint = checkpoint_with(i)
            checkpoint["channel_versions"] = {"n": saver.get_next_version(i, None)}
            metadata: Any = {"source": "input", "step": i, "parents": {}}
            saver.put(cfg(f"t{i % 3}"), checkpoint, metadata, checkpoint["channel_versions"])
        for _ in range(20):
            assert saver.get_tuple(cfg("t0")).checkpoint["channel_values"] == {"n": 27}  # type: ignore[union-attr]
            assert len(list(saver.list(cfg("t1"), limit=4))) == 4
            assert len(list(saver.list(None, filter={"source": "input"}, limit=5))) == 5
        found = engine.run(plans(), write=False)
    pages = {sql: counts for sql, counts in found.items() if "WITH RECURSIVE c AS" in sql}
    # the latest checkpoint and a thread's page: prepared, and then served by one generic plan
    # (a bound LIMIT made PostgreSQL plan the latest checkpoint's read anew every time)
    assert sorted(" LIMIT 1)" in sql for sql in pages) == [False, True]
    assert all(" LIMIT 4)" in sql or " LIMIT 1)" in sql for sql in pages)
    assert all(generic >= 10 for generic, _ in pages.values()), pages
    # a metadata filter across threads is never prepared: its plan depends on the value
    assert not [sql for sql in found if "@>" in sql]


class RoundTripProxy:
    """A TCP proxy to the server that counts round trips: each time the client speaks after
    the server has, one more round trip has begun."""

    def __init__(self, server_url: str) -> None:
        params = conninfo_to_dict(server_url)
        host, port = str(params.get("host") or "/var/run/postgresql"), int(params.get("port") or 5432)
        self.upstream: Any = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)
        self.server_url = server_url
        self.turns = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, **query: str) -> str:
        parts = urlsplit(self.server_url)
        netloc = f"{parts.username}@127.0.0.1:{self._listener.getsockname()[1]}"
        extra = "&".join(f"{k}={quote(v)}" for k, v in {"sslmode": "disable", **query}.items())
        return urlunsplit(parts._replace(netloc=netloc, query=extra))

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            family = socket.AF_UNIX if isinstance(self.upstream, str) else socket.AF_INET
            server = socket.socket(family, socket.SOCK_STREAM)
            server.connect(self.upstream)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        server_spoke = True
        with client, server:
            while True:
                readable, _, _ = select.select([client, server], [], [])
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        if server_spoke:
                            with self._lock:
                                self.turns += 1
                        server_spoke = False
                        server.sendall(data)
                    else:
                        server_spoke = True
                        client.sendall(data)

    def close(self) -> None:
        self._stop = True
        self._listener.close()


def test_round_trips_put_and_put_writes_one_each(pg_url: str) -> None:
    proxy = RoundTripProxy(pg_url)
    try:
        with PostgresSaver(proxy.url(), min_size=1, max_size=1) as saver:
            assert saver.get_tuple(cfg("warm-up")) is None
            before = proxy.turns
            stored = put_one(saver, "t", 1)
            assert proxy.turns - before == 1
            before = proxy.turns
            saver.put_writes(stored, [("n", 2), ("__error__", "boom")], "task-1")
            assert proxy.turns - before == 1
            before = proxy.turns
            fetched = saver.get_tuple(cfg("t"))
            assert proxy.turns - before == 1
            assert fetched is not None and len(fetched.pending_writes or []) == 2
    finally:
        proxy.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_round_trips_per_superstep_at_most_two(pg_url: str, mode: str) -> None:
    proxy = RoundTripProxy(pg_url)
    try:
        with PostgresSaver(proxy.url(), min_size=1, max_size=1) as saver:
            graph = build_graph().compile(checkpointer=saver)
            config = cfg("t") | {}

            async def ainvoke() -> Any:
                await saver.aget_tuple(cfg("warm-up"))  # the async pool's first connection
                before = proxy.turns
                final = await graph.ainvoke({"n": 0, "trail": []}, config, durability="sync")
                return final, proxy.turns - before

            if mode == "sync":
                saver.get_tuple(cfg("warm-up"))
                before = proxy.turns
                final = graph.invoke({"n": 0, "trail": []}, config, durability="sync")
                turns = proxy.turns - before
            else:
                final, turns = asyncio.run(ainvoke())
            assert final["n"] == 3
            # the input, then START's superstep, then a, b, c: one checkpoint each
            supersteps = len(list(saver.list(cfg("t"))))
            assert supersteps == 5
            print(f"{mode}: {turns} round trips for {supersteps} supersteps")
            # one get_tuple to start, then per superstep one put and (but for the last) one put_writes
            assert turns <= 2 * supersteps, turns
    finally:
        proxy.close()


# --- one object, both worlds ------------------------------------------------------------------


async def test_opened_with_async_with_serves_invoke_from_another_thread(pg_url: str) -> None:
    async with graphsaver.connect(pg_url) as saver:
        graph = build_graph().compile(checkpointer=saver)
        assert (await graph.ainvoke({"n": 0, "trail": []}, cfg("a")))["n"] == 3
        final = await asyncio.to_thread(graph.invoke, {"n": 10, "trail": []}, cfg("s"))
        assert final["n"] == 13
        # a sync call on the event loop's own thread runs on the sync pool: no deadlock
        state = saver.get_tuple(cfg("a"))
        assert state is not None and state.checkpoint["channel_values"]["n"] == 3


def test_opened_with_with_serves_several_event_loops(pg_url: str) -> None:
    with graphsaver.connect(pg_url) as saver:
        graph = build_graph().compile(checkpointer=saver)
        for i in range(3):  # each asyncio.run is a new event loop
            assert asyncio.run(graph.ainvoke({"n": i, "trail": []}, cfg(f"loop-{i}")))["n"] == i + 3
        assert graph.invoke(None, cfg("loop-2"))["n"] == 5


def test_existing_connection_and_pool(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        with PostgresSaver(conn) as saver:
            graph = build_graph().compile(checkpointer=saver)
            assert graph.invoke({"n": 0, "trail": []}, cfg("conn"))["n"] == 3
            assert asyncio.run(graph.ainvoke({"n": 1, "trail": []}, cfg("conn-async")))["n"] == 4
        assert not conn.closed
    with ConnectionPool(pg_url, kwargs={"autocommit": True}, min_size=1, max_size=4) as pool:
        with PostgresSaver(pool) as saver:
            graph = build_graph().compile(checkpointer=saver)
            assert graph.invoke(None, cfg("conn"))["n"] == 3  # resumes nothing: the run was complete
            assert graph.invoke({"n": 5, "trail": []}, cfg("pool"))["n"] == 8
        assert not pool.closed


async def test_existing_async_connection_and_pool(pg_url: str) -> None:
    conn = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
    async with conn, PostgresSaver(conn) as saver:
        graph = build_graph().compile(checkpointer=saver)
        assert (await graph.ainvoke({"n": 0, "trail": []}, cfg("aconn")))["n"] == 3
        # sync calls go to the connection's loop from another thread...
        assert (await asyncio.to_thread(graph.invoke, {"n": 1, "trail": []}, cfg("t2")))["n"] == 4
        # ...and on the loop's own thread they say why they cannot wait for it
        with pytest.raises(StorageError, match="async methods"):
            saver.get_tuple(cfg("aconn"))
    pool = AsyncConnectionPool(pg_url, kwargs={"autocommit": True}, min_size=1, open=False)
    async with pool, PostgresSaver(pool) as saver:
        graph = build_graph().compile(checkpointer=saver)
        assert (await graph.ainvoke({"n": 2, "trail": []}, cfg("apool")))["n"] == 5
        assert (await asyncio.to_thread(graph.invoke, {"n": 3, "trail": []}, cfg("apool-s")))["n"] == 6


# --- bad input and faults ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_clean(exc: BaseException, password: str) -> None:
    assert isinstance(exc, GraphsaverError)
    assert password not in chain_text(exc), chain_text(exc)


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password)}@{host}"))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_wrong_password(pg_url: str, mode: str) -> None:
    right, wrong = "right-Secret-9f3k", "wr0ng-Secret-x7q2"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(f"{verb} ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{right}'")
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {PASSWORD_ROLE}")
    url = with_credentials(pg_url, PASSWORD_ROLE, wrong)
    try:
        psycopg.connect(url).close()
    except psycopg.OperationalError:
        pass
    else:
        pytest.skip(f"the server at GRAPHSAVER_TEST_PG_URL lets {PASSWORD_ROLE} in with any password")
    saver = graphsaver.connect(url, setup=False)
    with pytest.raises(StorageError) as caught:
        if mode == "sync":
            saver.get_tuple(cfg("t"))
        else:
            asyncio.run(saver.aget_tuple(cfg("t")))
    assert_clean(caught.value, wrong)
    message = str(caught.value)
    assert "password authentication failed" in message
    assert "check the user name and password" in message
    assert f"{PASSWORD_ROLE}:***@" in message
    saver.close()
    with graphsaver.connect(with_credentials(pg_url, PASSWORD_ROLE, right)) as good:
        assert good.get_tuple(cfg("t")) is None


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    extra = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


@pytest.mark.parametrize(
    "url_for, expect",
    [
        (lambda _: f"postgresql://someone:pw-Secret-1@127.0.0.1:{free_port()}/db", "server is running"),
        (lambda _: "postgresql://someone:pw-Secret-1@host.invalid:5432/db", "server is running"),
        (lambda url: with_query(with_database(url, "no_such_db"), password="pw-Secret-1"), "createdb"),
    ],
    ids=["port-not-listening", "unknown-host", "missing-database"],
)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_cannot_connect(pg_url: str, url_for: Any, expect: str, mode: str) -> None:
    url = url_for(pg_url)
    with pytest.raises(StorageError) as caught, PostgresSaver(url, connect_timeout=3) as saver:
        if mode == "async":
            asyncio.run(saver.aget_tuple(cfg("t")))
    assert_clean(caught.value, "pw-Secret-1")
    assert expect in str(caught.value)
    assert str(caught.value).startswith("cannot connect to the database at postgresql://")


def test_invalid_url_never_shows_the_password() -> None:
    with pytest.raises(InvalidURLError) as caught:
        graphsaver.connect("postgresql://someone:pass word@localhost/db")
    assert_clean(caught.value, "pass word")
    with pytest.raises(InvalidURLError) as caught:
        graphsaver.connect("postgresql://someone:pw@localhost/db?not_an_option=1")
    assert "not_an_option" in str(caught.value)


def terminate_backends(pg_url: str, application_name: str) -> int:
    dbname = urlsplit(pg_url).path.lstrip("/")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s",
            (dbname, application_name),
        ).fetchall()
    time.sleep(0.2)  # let the goodbyes reach the sockets
    return len(rows)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_server_drops_connections_in_the_middle_of_a_run(pg_url: str, mode: str) -> None:
    """The pool's free socket check replaces dead connections: the next call just works."""

    async def ainvoke(graph: Any, thread: str) -> Any:
        return await graph.ainvoke({"n": 0, "trail": []}, cfg(thread))

    with PostgresSaver(pg_url, application_name="gs-restart", min_size=2, max_size=4) as saver:
        graph = build_graph().compile(checkpointer=saver)

        def invoke(thread: str) -> Any:
            if mode == "sync":
                return graph.invoke({"n": 0, "trail": []}, cfg(thread))
            return loop.run_until_complete(ainvoke(graph, thread))

        loop = asyncio.new_event_loop()
        try:
            assert invoke("before")["n"] == 3
            assert terminate_backends(pg_url, "gs-restart") >= 1
            assert invoke("after")["n"] == 3
            assert graph.get_state(cfg("before")).values == {"n": 3, "trail": ["a", "b", "c"]}
        finally:
            loop.run_until_complete(saver.aclose())
            loop.close()


def test_without_checks_a_dropped_connection_fails_once_then_recovers(pg_url: str) -> None:
    with PostgresSaver(pg_url, application_name="gs-nocheck", check="none", min_size=1, max_size=1) as saver:
        put_one(saver, "kept", 1)
        assert terminate_backends(pg_url, "gs-nocheck") == 1
        with pytest.raises(StorageError, match="lost the connection") as caught:
            saver.get_tuple(cfg("kept"))
        assert_clean(caught.value, "no password here")
        fetched = saver.get_tuple(cfg("kept"))  # a new connection: nothing committed was lost
        assert fetched is not None and fetched.checkpoint["channel_values"] == {"n": 1}


def test_a_refused_write_is_an_integrity_error_and_rolls_back(pg_url: str) -> None:
    with PostgresSaver(pg_url) as saver:
        stored = put_one(saver, "t", 1)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE graphsaver_writes ADD CONSTRAINT small CHECK (idx < 5)")
        writes = [(f"ch{i}", i) for i in range(7)]
        with pytest.raises(IntegrityError, match="refused a write"):
            saver.put_writes(stored, writes, "task")
        fetched = saver.get_tuple(stored)
        assert fetched is not None and fetched.pending_writes == []  # none of the batch was kept
        saver.put_writes(stored, writes[:3], "task")  # the connection is usable again
        fetched = saver.get_tuple(stored)
        assert fetched is not None and [w[1] for w in fetched.pending_writes or []] == ["ch0", "ch1", "ch2"]


def test_closed_saver_says_so(pg_url: str) -> None:
    saver = PostgresSaver(pg_url)
    saver.setup()
    saver.close()
    with pytest.raises(StorageError, match="is closed"):
        saver.get_tuple(cfg("t"))


def test_bad_options() -> None:
    with pytest.raises(graphsaver.ConfigError, match="schema"):
        PostgresSaver("postgresql://localhost/db", schema="")
    with pytest.raises(graphsaver.ConfigError, match="check"):
        PostgresSaver("postgresql://localhost/db", check="sometimes")  # type: ignore[arg-type]
    with pytest.raises(graphsaver.ConfigError, match="max_size"):
        PostgresSaver("postgresql://localhost/db", min_size=5, max_size=2)
    with pytest.raises(graphsaver.ConfigError, match="URL"):
        PostgresSaver(42)  # type: ignore[arg-type]
