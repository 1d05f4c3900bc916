"""The benchmark harness still runs: one micro workload, one round, in memory, tiny sizes.

Timings are never checked here; this only keeps `benchmarks/` from rotting.
"""

from __future__ import annotations

from typing import Any

from benchmarks import micro
from benchmarks.common import DEFAULT_PG_URL, Stores
from benchmarks.savers import contestants


def test_micro_workload_runs_on_memory() -> None:
    stores = Stores(DEFAULT_PG_URL)
    try:
        memory = contestants("memory", pg_missing="not used", gs_pg_missing="not used")
        result = micro.run(memory, stores, history=12, calls=2, rounds=1)
    finally:
        stores.close()
    for op in ("put", "get_tuple_latest", "list_10", "list_full"):
        for name in ("upstream-memory", "graphsaver-memory"):
            assert result["median_ms"][op][name] > 0


def test_scale_workload_runs_on_memory() -> None:
    from benchmarks import scale

    stores = Stores(DEFAULT_PG_URL)
    try:
        memory = contestants("memory", pg_missing="not used", gs_pg_missing="not used")
        result = scale.run(memory, stores, per_thread=3, threads=10, factor=2, calls=2, rounds=1)
    finally:
        stores.close()
    assert result["sizes"] == [30, 60]
    for name in ("upstream-memory", "graphsaver-memory"):
        assert set(result["runs"][name]["growth"]) >= {"get_tuple", "list_10"}
        assert result["runs"][name]["large"]["get_tuple"] > 0


def test_graph_workload_runs_with_the_floor_on_memory() -> None:
    from benchmarks import graph

    stores = Stores(DEFAULT_PG_URL)
    try:
        memory = contestants("memory", pg_missing="not used", gs_pg_missing="not used")
        for mode in ("sync", "async"):
            t = graph.timed_runs(memory, stores, mode=mode, threads=2, turns=2, rounds=1)
            assert set(t.samples) == {"none", "floor", "floor-encode", "upstream-memory", "graphsaver-memory"}
            assert all(s[0] > 0 for s in t.samples.values())
    finally:
        stores.close()
    floor = graph.ReferenceSaver()
    graph.run_sync(floor, 1, 2)  # a second turn starts from the checkpoint the floor kept
    ((_, checkpoint, _, _),) = floor._latest.values()
    assert len(checkpoint["channel_values"]["messages"]) == 12  # 6 per turn, the first turn's kept


def test_the_encoding_floor_encodes_each_message_of_a_conversation_once_and_every_write() -> None:
    from collections import Counter

    from benchmarks import graph
    from langchain_core.messages import BaseMessage

    floor = graph.EncodingReferenceSaver()
    encoded: Counter[int] = Counter()
    writes = calls = 0
    dumps = floor.serde.dumps_typed

    def counting(obj: Any) -> Any:
        nonlocal calls
        calls += 1
        if isinstance(obj, BaseMessage):
            encoded[id(obj)] += 1
        return dumps(obj)

    floor.serde.dumps_typed = counting  # type: ignore[method-assign]
    put_writes = floor.put_writes

    def counting_writes(config: Any, w: Any, task_id: str, task_path: str = "") -> None:
        nonlocal writes
        writes += len(w)
        put_writes(config, w, task_id, task_path)

    floor.put_writes = counting_writes  # type: ignore[method-assign]
    graph.run_sync(floor, 1, 3)
    ((_, checkpoint, _, _),) = floor._latest.values()
    messages = checkpoint["channel_values"]["messages"]
    assert len(messages) == 18 and writes > 18
    assert calls - 18 >= writes  # every write encoded too
    assert [encoded[id(m)] for m in messages] == [1] * 18  # as list items: each once, none again
    assert set(encoded) == {id(m) for m in messages}


def test_replay_records_and_replays_the_graphs_saver_calls() -> None:
    from benchmarks import graph, replay

    calls = replay.record(threads=1, turns=2)
    kinds = [kind for kind, _ in calls]
    assert kinds.count("get_tuple") == 2  # one per invoke
    assert kinds.count("put") == 2 * graph.SUPERSTEPS_PER_TURN
    best = replay.run(threads=1, turns=2, repeats=1)
    assert set(best) == {"upstream-memory", "floor-encode", "graphsaver-memory"}
    for spent in best.values():
        assert spent["put"] > 0 and spent["all"] == sum(spent[k] for k in replay.KINDS)


def test_sqlite_full_contestant_runs_with_upstreams_durability() -> None:
    """`graphsaver-sqlite-full` commits as upstream's SQLite saver does (synchronous=FULL) and is
    held against that saver."""
    from benchmarks.report import _reference

    stores = Stores(DEFAULT_PG_URL)
    try:
        by_name = {c.name: c for c in contestants("sqlite", pg_missing="not used", gs_pg_missing="not used")}
        with by_name["graphsaver-sqlite-full"].open_sync(stores) as full:
            assert full._engine._conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        with by_name["graphsaver-sqlite"].open_sync(stores) as normal:
            assert normal._engine._conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
        with by_name["upstream-sqlite"].open_sync(stores) as upstream:
            assert upstream.conn.execute("PRAGMA synchronous").fetchone() == (2,)
    finally:
        stores.close()
    assert _reference("graphsaver-sqlite-full") == "upstream-sqlite"
    assert _reference("graphsaver-postgres-pool") == "upstream-postgres-pool"


def test_a_graph_target_shows_its_median_ratio_and_the_rounds_spread() -> None:
    from benchmarks.report import targets

    samples = {
        "upstream-memory": [2.0, 2.0, 4.0],
        "graphsaver-memory": [1.2, 0.9, 2.0],  # 0.60, 0.45, 0.50 of upstream
        "graphsaver-postgres": [1.0, 1.0, 1.0],
        "graphsaver-postgres-pool": [0.9, 1.1, 0.98],
    }
    rows = {row[0]: row[1:] for row in targets({"graph": {"async": {"samples": samples}}})}
    assert rows["async graph, memory (time / upstream)"] == ["0.50 (0.45-0.60)", "<= 0.5", "pass"]
    assert rows["async graph, postgres: pool / one connection"] == ["0.98 (0.90-1.10)", "< 1", "pass"]
    one_round = {name: times[:1] for name, times in samples.items()}
    rows = {row[0]: row[1:] for row in targets({"graph": {"sync": {"samples": one_round}}})}
    assert rows["sync graph, memory (time / upstream)"] == ["0.60", "<= 0.55", "**miss**"]
    # issue 8 asks for a faster pool in the async graph only: the sync ratio is shown, not judged
    assert rows["sync graph, postgres: pool / one connection"] == ["0.90", "(reported, not a target)", "-"]


def test_the_network_relay_passes_bytes_in_order_and_adds_its_delay_each_way() -> None:
    import socket
    import socketserver
    import threading
    import time

    from benchmarks.netdelay import delayed

    class Echo(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            while data := self.request.recv(1 << 16):
                self.request.sendall(data)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        with delayed(f"postgresql://someone@127.0.0.1:{port}/db", delay_ms=20) as relayed:
            assert relayed.startswith("postgresql://someone@127.0.0.1:") and relayed.endswith("/db")
            relay_port = int(relayed.rsplit(":", 1)[1].split("/")[0])
            assert relay_port != port
            with socket.create_connection(("127.0.0.1", relay_port)) as conn:
                start = time.monotonic()
                conn.sendall(b"ping")
                assert conn.recv(16) == b"ping"
                assert time.monotonic() - start >= 0.04  # 20 ms there and 20 ms back
                sent = b"".join(i.to_bytes(4, "big") for i in range(5000))
                for i in range(0, len(sent), 1000):  # many chunks, echoed in order
                    conn.sendall(sent[i : i + 1000])
                got = b""
                while len(got) < len(sent):
                    got += conn.recv(1 << 16)
                assert got == sent
        server.shutdown()


def test_ram_workload_measures_each_saver_in_a_process_of_its_own() -> None:
    from benchmarks import ram

    stores = Stores(DEFAULT_PG_URL)
    try:
        memory = contestants("memory", pg_missing="not used", gs_pg_missing="not used")
        result = ram.run(memory, stores, threads=3, messages=4)
    finally:
        stores.close()
    assert (result["threads"], result["messages"]) == (3, 4)
    assert set(result["savers"]) == {"upstream-memory", "graphsaver-memory"}
    for held in result["savers"].values():
        assert held["seconds"] > 0 and isinstance(held["mb"], float)


def test_storage_workload_stores_messages_of_the_size_asked(capsys: Any) -> None:
    from benchmarks import storage
    from benchmarks.savers import Contestant

    stores = Stores(DEFAULT_PG_URL)
    try:
        sqlite = [Contestant("graphsaver", "sqlite")]
        small, large = (storage.run(sqlite, stores, steps=(10, 20), size=n) for n in (200, 2000))
    finally:
        stores.close()
    per_step = [r["graphsaver-sqlite"]["bytes_per_step"] for r in (small, large)]
    # a message is stored at least twice (the task's write, the list's delta): 1,800 more each
    assert per_step[1] - per_step[0] > 2 * 1800
    assert storage.main(["--size", "300", "--steps", "5,10", "--only", "graphsaver-memory"]) == 0
    assert "graphsaver-memory" in capsys.readouterr().out
