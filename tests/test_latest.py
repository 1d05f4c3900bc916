"""The in-memory engine's cache of each thread's newest checkpoint (core/latest.py).

Every answer the cache gives must equal what a query of the store returns. The differential
tests below check exactly that after every step of real graphs and of random sequences of
saver calls; the unit tests pin down the rules that keep it exact under races.
"""

from __future__ import annotations

import random
import threading
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt

import graphsaver
from graphsaver.core import ops
from graphsaver.core.latest import Held, LatestCache, blob_value
from graphsaver.core.lru import SizedLRU


def cfg(thread_id: str, checkpoint_id: str | None = None, ns: str = "") -> Any:
    c: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id is not None:
        c["checkpoint_id"] = checkpoint_id
    return {"configurable": c}


def from_store(saver: Any, config: Any) -> Any:
    """The checkpoint a query of the store returns, bypassing both of the saver's caches."""
    op = ops.get_tuple(saver._q, saver.serde, None, ops.get_query(config), None)
    value, _ = saver._engine.run(op, write=False)
    return value


def served(saver: Any, config: Any) -> bool:
    query = ops.get_query(config)
    return saver._latest.get(query.thread_id, query.checkpoint_ns, query.checkpoint_id) is not None


def assert_same(saver: Any, config: Any) -> None:
    got = saver.get_tuple(config)
    want = from_store(saver, config)
    assert got == want
    if got is not None:
        assert got.checkpoint["channel_values"] == want.checkpoint["channel_values"]
        assert got.pending_writes == want.pending_writes


# --- real graphs -------------------------------------------------------------------------------


class Chat(TypedDict):
    messages: Annotated[list[Any], add_messages]
    count: int


def chat_graph() -> StateGraph:
    def agent(state: Chat) -> dict[str, Any]:
        return {
            "messages": [AIMessage(f"reply {len(state['messages'])}")],
            "count": state.get("count", 0) + 1,
        }

    def review(state: Chat) -> dict[str, Any]:
        answer = interrupt({"question": "ok?", "count": state["count"]})
        return {"messages": [HumanMessage(f"review: {answer}")]}

    builder = StateGraph(Chat)
    builder.add_node("agent", agent)
    builder.add_node("review", review)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "review")
    builder.add_edge("review", "agent")
    return builder


def test_each_run_starts_from_the_cache_and_matches_the_store() -> None:
    def conversation(saver: Any, check: bool) -> Any:
        graph = chat_graph().compile(checkpointer=saver)
        config = cfg("chat")
        graph.invoke({"messages": [HumanMessage("hi")]}, config)
        for turn in range(5):
            if check:
                assert served(saver, config)  # the newest checkpoint is held: no query at the start
                assert_same(saver, config)
            graph.invoke(Command(resume=f"yes {turn}"), config)
        return graph.get_state(config)

    with graphsaver.connect("memory://") as saver:
        state = conversation(saver, True)
    expected = conversation(InMemorySaver(), False)  # LangGraph's own saver, for reference

    def contents(values: Any) -> list[tuple[str, Any]]:
        return [(type(m).__name__, m.content) for m in values["messages"]]

    assert contents(state.values) == contents(expected.values)  # message ids are random
    assert [m.content for m in state.values["messages"]][-2:] == ["review: yes 4", "reply 11"]
    assert state.values["count"] == 6
    assert state.interrupts[0].value == expected.interrupts[0].value == {"question": "ok?", "count": 6}
    assert state.next == expected.next == ("review",)


def test_time_travel_and_forks_read_the_store_and_stay_exact() -> None:
    with graphsaver.connect("memory://") as saver:
        graph = chat_graph().compile(checkpointer=saver)
        config = cfg("fork")
        graph.invoke({"messages": [HumanMessage("hi")]}, config)
        graph.invoke(Command(resume="a"), config)
        history = list(graph.get_state_history(config))
        old = history[3].config
        assert not served(saver, old)  # an older checkpoint is never answered from the cache
        assert_same(saver, old)
        forked = graph.update_state(old, {"messages": [HumanMessage("branch")]})
        assert_same(saver, config)
        assert (
            saver.get_tuple(config).config["configurable"]["checkpoint_id"]
            == (forked["configurable"]["checkpoint_id"])
        )
        graph.invoke(Command(resume="b"), forked)
        assert_same(saver, config)
        assert [m.content for m in graph.get_state(config).values["messages"]][-1].startswith("reply")


def test_subgraph_namespaces_are_held_apart() -> None:
    class Inner(TypedDict):
        messages: Annotated[list[Any], add_messages]

    def inner_node(state: Inner) -> dict[str, Any]:
        return {"messages": [AIMessage(f"inner {len(state['messages'])}")]}

    inner = StateGraph(Inner)
    inner.add_node("work", inner_node)
    inner.add_edge(START, "work")
    outer = StateGraph(Inner)
    outer.add_node("sub", inner.compile(checkpointer=True))
    outer.add_edge(START, "sub")
    with graphsaver.connect("memory://") as saver:
        graph = outer.compile(checkpointer=saver)
        config = cfg("nested")
        for i in range(3):
            graph.invoke({"messages": [HumanMessage(f"q{i}")]}, config)
            assert_same(saver, config)
        namespaces = {c.config["configurable"]["checkpoint_ns"] for c in saver.list(None)}
        for ns in namespaces:
            assert_same(saver, cfg("nested", ns=ns))


@pytest.mark.parametrize("change", ["delete_thread", "prune", "copy_thread", "delete_for_runs"])
def test_other_writes_empty_the_cache(change: str) -> None:
    with graphsaver.connect("memory://") as saver:
        graph = chat_graph().compile(checkpointer=saver)
        config = cfg("t")
        run = {"run_id": "00000000-0000-0000-0000-00000000000a"}
        graph.invoke({"messages": [HumanMessage("hi")]}, {**config, **run})
        graph.invoke(Command(resume="x"), config)
        assert served(saver, config)
        if change == "delete_thread":
            saver.delete_thread("t")
        elif change == "prune":
            saver.prune(["t"], strategy="keep_latest")
        elif change == "copy_thread":
            saver.copy_thread("t", "t2")
        else:
            saver.delete_for_runs([run["run_id"]])
        assert not served(saver, config)
        assert_same(saver, config)
        assert_same(saver, cfg("t2"))
        if change == "delete_thread":
            assert saver.get_tuple(config) is None
            assert served(saver, config)  # "no checkpoint" is held too
        graph.invoke({"messages": [HumanMessage("again")]}, config)
        assert_same(saver, config)


def test_a_closed_saver_refuses_reads_the_cache_could_answer() -> None:
    saver = graphsaver.connect("memory://")
    with saver:
        graph = chat_graph().compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage("hi")]}, cfg("t"))
        assert served(saver, cfg("t"))
    with pytest.raises(graphsaver.StorageError, match="closed"):
        saver.get_tuple(cfg("t"))


# --- random sequences of saver calls, checked against the store after each ---------------------


def _random_calls(saver: Any, rng: random.Random, steps: int) -> int:
    """Random puts, writes, deletes, prunes and copies; returns how many reads the cache answered."""
    threads = ["a", "b", "c"]
    hits = 0
    newest: dict[str, list[str]] = {t: [] for t in threads}
    counter = 0
    for _ in range(steps):
        thread = rng.choice(threads)
        ids = newest[thread]
        roll = rng.random()
        if roll < 0.4:
            counter += 1
            # mostly newer ids, sometimes an older one (an import), sometimes the same id again
            if ids and rng.random() < 0.1:
                checkpoint_id = rng.choice(ids)
            elif ids and rng.random() < 0.1:
                checkpoint_id = f"{min(ids)[:-1]}0"
            else:
                checkpoint_id = f"{counter:08d}"
            channels = rng.sample(["msgs", "count", "flag"], rng.randint(0, 3))
            parent = cfg(thread, ids[-1]) if ids and rng.random() < 0.8 else cfg(thread)
            old = saver.get_tuple(parent) if ids else None
            versions = dict(old.checkpoint["channel_versions"]) if old else {}
            values = dict(old.checkpoint["channel_values"]) if old else {}
            new_versions = {}
            for ch in channels:
                versions[ch] = new_versions[ch] = saver.get_next_version(versions.get(ch), None)
                if ch == "msgs":
                    values[ch] = [*values.get(ch, []), f"m{counter}"]
                elif ch == "count" and rng.random() < 0.8:
                    values[ch] = counter
                else:
                    values.pop(ch, None)  # a channel with a version and no value
            checkpoint = {
                "v": 1,
                "id": checkpoint_id,
                "ts": f"2026-01-01T00:00:{counter % 60:02d}",
                "channel_values": values,
                "channel_versions": versions,
                "versions_seen": {},
                "updated_channels": channels,
            }
            saver.put(parent, checkpoint, {"source": "loop", "step": counter}, new_versions)
            if checkpoint_id not in ids:
                ids.append(checkpoint_id)
                ids.sort()
        elif roll < 0.75 and ids:
            # mostly the newest checkpoint; sometimes an older one, or the next one before its put
            target = rng.choice([ids[-1], ids[-1], ids[-1], rng.choice(ids), f"{counter + 1:08d}"])
            task = rng.choice(["t1", "t2"])
            channel = rng.choice(["msgs", "count", "__error__", "__interrupt__"])
            saver.put_writes(cfg(thread, target), [(channel, rng.randint(0, 3))], task)
        elif roll < 0.8:
            saver.delete_thread(thread)
            ids.clear()
        elif roll < 0.84 and ids:
            saver.prune([thread], strategy="keep_latest")
            del ids[:-1]
        elif roll < 0.86 and ids:
            target = rng.choice([t for t in threads if t != thread])
            if not newest[target]:
                saver.copy_thread(thread, target)
                newest[target] = list(ids)
        for t in threads:
            hits += served(saver, cfg(t))
            assert_same(saver, cfg(t))
            for checkpoint_id in ids[-2:]:
                assert_same(saver, cfg(t, checkpoint_id))
    return hits


@pytest.mark.parametrize("seed", range(12))
def test_random_calls_always_read_what_the_store_holds(seed: int) -> None:
    with graphsaver.connect("memory://") as saver:
        hits = _random_calls(saver, random.Random(seed), 120)
    assert hits > 120  # most reads of the newest checkpoint came from the cache, and matched


def test_concurrent_writers_and_readers_agree_with_the_store() -> None:
    with graphsaver.connect("memory://") as saver:
        graph = chat_graph().compile(checkpointer=saver)
        errors: list[BaseException] = []

        def conversation(i: int) -> None:
            try:
                config = cfg(f"c{i}")
                graph.invoke({"messages": [HumanMessage("hi")]}, config)
                for turn in range(15):
                    graph.invoke(Command(resume=str(turn)), config)
                    if turn % 5 == 0:
                        saver.delete_thread(f"c{(i + 1) % 6}-other")  # empties the whole cache
            except BaseException as exc:  # reported below
                errors.append(exc)

        workers = [threading.Thread(target=conversation, args=(i,)) for i in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert not errors
        for i in range(6):
            assert_same(saver, cfg(f"c{i}"))
            assert graph.get_state(cfg(f"c{i}")).values["count"] == 16


# --- the rules, one at a time ------------------------------------------------------------------

HEAD = (None, "{}", '{"x":"1"}', b"")


def test_a_query_result_is_kept_only_if_nothing_changed_since_it_began() -> None:
    cache = LatestCache()
    token = cache.token()
    cache.note_put("t", "", "2", HEAD, {}, {})  # a concurrent put: the thread is not known yet
    cache.note_read(token, "t", "", Held(None, 0, empty=True))
    assert cache.get("t", "", None) is None  # the stale "no checkpoint" was not kept
    token = cache.token()
    cache.clear()
    cache.note_read(token, "t", "", Held(None, 0, empty=True))  # begun before a clear: not kept either
    assert cache.get("t", "", None) is None
    cache.note_read(cache.token(), "t", "", Held(None, 0, empty=True))
    assert cache.get("t", "", None) is not None


def test_a_put_is_held_only_when_every_channel_version_is() -> None:
    cache = LatestCache()
    cache.note_read(cache.token(), "t", "", Held(None, 0, empty=True))
    blob = ("blob", "1", ("json", b"1"))
    cache.note_put("t", "", "1", HEAD, {"x": "1"}, {"x": blob})
    held = cache.get("t", "", None)
    assert held is not None and held.checkpoint_id == "1" and held.values == {"x": blob}
    cache.note_put("t", "", "2", HEAD, {"x": "1"}, {})  # x carried from checkpoint 1
    assert cache.get("t", "", "2") is not None
    cache.note_put("t", "", "3", HEAD, {"x": "1", "y": "7"}, {})  # y: not held
    assert cache.get("t", "", None) is None
    assert cache.get("t", "", "2") is None


def test_older_puts_are_ignored_and_a_re_put_keeps_its_writes() -> None:
    cache = LatestCache()
    cache.note_read(cache.token(), "t", "", Held(None, 0, empty=True))
    cache.note_put("t", "", "5", HEAD, {}, {})
    cache.note_writes("t", "", "5", [(("", "task", 0, "c", "json", b"1"), False)])
    cache.note_put("t", "", "3", HEAD, {}, {})
    other = (None, '{"step":2}', "{}", b"")
    cache.note_put("t", "", "5", other, {}, {})
    held = cache.get("t", "", None)
    assert held is not None and held.checkpoint_id == "5" and held.head == other
    assert list(held.writes) == [("task", 0)]


def test_writes_mirror_insert_and_upsert() -> None:
    cache = LatestCache()
    cache.note_read(cache.token(), "t", "", Held(None, 0, empty=True))
    cache.note_put("t", "", "1", HEAD, {}, {})
    first = ("", "task", 0, "c", "json", b"1")
    cache.note_writes("t", "", "1", [(first, False)])
    cache.note_writes("t", "", "1", [((*first[:5], b"2"), False)])  # an insert keeps the first row
    special = ("", "task", -3, "__interrupt__", "json", b"1")
    cache.note_writes("t", "", "1", [(special, True)])
    cache.note_writes("t", "", "1", [((*special[:5], b"2"), True)])  # an upsert replaces it
    held = cache.get("t", "", None)
    assert held is not None
    assert held.writes[("task", 0)][5] == b"1" and held.writes[("task", -3)][5] == b"2"


def test_writes_saved_before_their_checkpoint_wait_for_it() -> None:
    cache = LatestCache()
    cache.note_read(cache.token(), "t", "", Held(None, 0, empty=True))
    cache.note_put("t", "", "1", HEAD, {}, {})
    early = ("", "task", 0, "c", "json", b"1")
    cache.note_writes("t", "", "2", [(early, False)])
    cache.note_writes("t", "", "0", [(early, False)])  # an older checkpoint's: changes nothing
    held = cache.get("t", "", None)
    assert held is not None and held.checkpoint_id == "1" and not held.writes
    cache.note_put("t", "", "2", HEAD, {}, {})
    held = cache.get("t", "", None)
    assert held is not None and held.checkpoint_id == "2" and list(held.writes.values()) == [early]


def test_changes_to_an_unknown_thread_leave_it_unknown() -> None:
    cache = LatestCache()
    cache.note_put("t", "", "1", HEAD, {}, {})
    cache.note_writes("t", "", "1", [(("", "task", 0, "c", "json", b"1"), False)])
    assert cache.get("t", "", None) is None


def test_eviction_keeps_the_bound_and_refuses_results_begun_before_it() -> None:
    cache = LatestCache(SizedLRU(max_entries=2))
    token = cache.token()
    for t in ("a", "b", "c"):
        cache.note_read(cache.token(), t, "", Held(None, 0, empty=True))
    assert cache.get("a", "", None) is None and cache.get("c", "", None) is not None
    cache.note_read(token, "a", "", Held(None, 0, empty=True))
    assert cache.get("a", "", None) is None


def test_entries_over_the_byte_budget_are_evicted_oldest_first() -> None:
    cache = LatestCache(SizedLRU(max_bytes=1_000))
    head = (None, "{}", "{}", b"record")
    for t in ("a", "b", "c"):
        value = blob_value("1", "msgpack", b"x" * 400, None)
        cache.note_read(cache.token(), t, "", Held("id", 0, head, {"ch": value}))
    assert cache.get("a", "", None) is None  # 3 x 400 bytes: the oldest went
    assert cache.get("b", "", None) is not None and cache.get("c", "", None) is not None


def test_the_byte_weight_follows_puts_and_writes() -> None:
    """An entry weighs its values and writes, counted as puts and writes change it."""
    cache = LatestCache(SizedLRU(max_bytes=10**6))
    head = (None, "{}", "{}", b"record")
    a = blob_value("1", "msgpack", b"a" * 100, None)
    cache.note_read(cache.token(), "t", "", Held("1", 0, head, {"a": a}))
    assert cache._held.total == 100
    b = blob_value("2", "msgpack", b"b" * 250, None)
    cache.note_put("t", "", "2", head, {"a": "1", "b": "2"}, {"b": b})
    assert cache._held.total == 350
    cache.note_writes("t", "", "2", [(("", "task", 0, "c", "msgpack", b"w" * 40), False)])
    assert cache._held.total == 390
    cache.note_writes("t", "", "4", [(("", "later", 0, "c", "msgpack", b"w" * 60), False)])  # ahead
    assert cache._held.total == 450
    cache.note_put("t", "", "3", head, {"b": "2"}, {})  # channel a gone, writes of 2 gone
    assert cache._held.total == 310
