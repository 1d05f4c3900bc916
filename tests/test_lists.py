"""List channels stored as deltas: exact round trips, forks, copy, prune, deletes, and races."""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import REMOVE_ALL_MESSAGES, add_messages

import graphsaver
from graphsaver.core.lists import LIST_DELTA, MIN_RUN
from tests.graphs import thread


def _put(
    saver: Any, thread: str, parent: dict | None, messages: list, version: int, run_id: str = "r"
) -> dict:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = {"messages": messages}
    checkpoint["channel_versions"] = {"messages": version}
    config = parent or {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    return saver.put(
        config, checkpoint, {"source": "loop", "step": version, "run_id": run_id}, {"messages": version}
    )


def _blob_types(path: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [
            r[0] for r in conn.execute("SELECT type FROM graphsaver_blobs ORDER BY CAST(version AS INTEGER)")
        ]


def test_growing_list_is_stored_as_deltas_and_reads_back_exactly(tmp_path) -> None:
    path = str(tmp_path / "l.db")
    with graphsaver.SqliteSaver(path) as saver:
        messages: list = []
        config = None
        configs = []
        for i in range(1, 60):
            messages = [*messages, {"i": i, "text": "x" * 50}]
            config = _put(saver, "t", config, messages, i)
            configs.append((config, list(messages)))
        types = _blob_types(path)
        assert types.count(LIST_DELTA) >= 50
        # every version reads back exactly, from a fresh saver (no cache) and from this one
        with graphsaver.SqliteSaver(path) as other:
            for cfg, expected in configs:
                assert other.get_tuple(cfg).checkpoint["channel_values"]["messages"] == expected
                assert saver.get_tuple(cfg).checkpoint["channel_values"]["messages"] == expected


def test_full_value_is_stored_again_when_the_delta_run_outgrows_it(tmp_path) -> None:
    path = str(tmp_path / "l.db")
    with graphsaver.SqliteSaver(path) as saver:
        messages: list = []
        config = None
        for i in range(1, 200):
            messages = [*messages, i]
            config = _put(saver, "t", config, messages, i)
    types = _blob_types(path)
    full = [i for i, t in enumerate(types) if t != LIST_DELTA]
    # full values at doubling lengths: few of them, and never a run longer than allowed
    assert 4 <= len(full) <= 8
    runs = [b - a - 1 for a, b in zip(full, [*full[1:], len(types)], strict=True)]
    assert max(runs) <= max(MIN_RUN, full[-2] + 1)


def test_fork_from_an_old_version_stays_exact(backend: str, saver_url: str) -> None:
    with graphsaver.connect(saver_url) as saver:
        c1 = _put(saver, "t", None, ["a"], 1)
        c2 = _put(saver, "t", c1, ["a", "b"], 2)
        c3 = _put(saver, "t", c2, ["a", "b", "c"], 3)
        # fork from c2: a new list that shares the prefix but diverges
        fork = _put(saver, "t", c2, ["a", "b", "X"], 4)
        fork2 = _put(saver, "t", fork, ["a", "b", "X", "Y"], 5)
        assert saver.get_tuple(c3).checkpoint["channel_values"]["messages"] == ["a", "b", "c"]
        assert saver.get_tuple(fork2).checkpoint["channel_values"]["messages"] == ["a", "b", "X", "Y"]
        listed = {
            t.config["configurable"]["checkpoint_id"]: t.checkpoint["channel_values"]["messages"]
            for t in saver.list({"configurable": {"thread_id": "t"}})
        }
        assert listed[c3["configurable"]["checkpoint_id"]] == ["a", "b", "c"]
        assert listed[fork2["configurable"]["checkpoint_id"]] == ["a", "b", "X", "Y"]


def test_delta_channel_history_seed_is_rebuilt_through_its_deltas(backend: str, saver_url: str) -> None:
    with graphsaver.connect(saver_url) as saver:
        config = None
        messages: list = []
        for i in range(1, 8):
            messages = [*messages, f"m{i}"]
            config = _put(saver, "t", config, messages, i)
        saver.put_writes(config, [("messages", "w")], "task")
        latest = saver.get_tuple({"configurable": {"thread_id": "t", "checkpoint_ns": ""}})
        expected = BaseCheckpointSaver.get_delta_channel_history(
            saver, config=latest.config, channels=["messages"]
        )
        with graphsaver.connect(saver_url, setup=False) if backend != "memory" else saver as fresh:
            got = fresh.get_delta_channel_history(config=latest.config, channels=["messages"])
        assert got == expected
        # the seed is the parent's value: a full value and five deltas on it
        assert got["messages"]["seed"] == [f"m{i}" for i in range(1, 7)]


def test_in_place_append_to_the_live_list_is_still_exact(backend: str, saver_url: str) -> None:
    with graphsaver.connect(saver_url) as saver:
        live = ["a"]
        c1 = _put(saver, "t", None, live, 1)
        live.append("b")  # a reducer that appends in place: the stored version must not change
        c2 = _put(saver, "t", c1, live, 2)
        assert saver.get_tuple(c1).checkpoint["channel_values"]["messages"] == ["a"]
        assert saver.get_tuple(c2).checkpoint["channel_values"]["messages"] == ["a", "b"]


class _Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _chat() -> Any:
    """One `bot` node that answers, edits the first message while answering, removes messages
    or all of them, as the last human message asks. A reply's id is the list's length, so after
    a removal it repeats, and add_messages replaces the earlier message in place."""

    def bot(state: _Chat) -> dict[str, Any]:
        msgs = state["messages"]
        ask, reply = msgs[-1].content, AIMessage(content=f"re: {msgs[-1].content}", id=f"a{len(msgs)}")
        if ask == "edit":  # the list grows by one and its first item changes: not a delta
            return {"messages": [AIMessage(content="edited", id=msgs[0].id), reply]}
        if ask == "forget":
            return {"messages": [RemoveMessage(id=m.id) for m in msgs[:2]] + [reply]}
        if ask == "wipe":
            return {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), reply]}
        return {"messages": [reply]}

    builder = StateGraph(_Chat)
    builder.add_node("bot", bot)
    builder.add_edge(START, "bot")
    builder.add_edge("bot", END)
    return builder


def _converse(saver: Any) -> list[Any]:
    """Eight turns, a fork from the middle of history and a turn on it; every checkpoint's
    messages as (id, content), listed and then read by id."""
    graph = _chat().compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "t"}}
    for i, text in enumerate(["hi", "there", "edit", "more", "forget", "again", "wipe", "last"]):
        graph.invoke({"messages": [HumanMessage(content=text, id=f"h{i}")]}, cfg)
    middle = list(graph.get_state_history(cfg))[8]
    fork = graph.update_state(middle.config, {"messages": [HumanMessage(content="b", id="hb")]})
    graph.invoke({"messages": [HumanMessage(content="forget", id="hf")]}, fork)
    history = list(graph.get_state_history(cfg))
    listed = [(s.metadata["step"], [(m.id, m.content) for m in s.values["messages"]]) for s in history]
    by_id = [[(m.id, m.content) for m in graph.get_state(s.config).values["messages"]] for s in history]
    return [listed, by_id]


def test_messages_edited_removed_and_wiped_read_back_as_langgraphs_own_saver_reads_them(
    backend: str, saver_url: str
) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    expected = _converse(InMemorySaver())
    newest = expected[0][0][1]
    assert newest[-3:] == [("hb", "b"), ("hf", "forget"), ("a10", "re: forget")]  # the fork's turn
    assert any(messages[:1] == [("h0", "edited")] for _, messages in expected[0])
    assert any(messages == [("a10", "re: wipe")] for _, messages in expected[0])  # all removed
    with graphsaver.connect(saver_url) as saver:
        assert _converse(saver) == expected
    if backend != "memory":  # a new saver object reads the store, not what the first one held
        with graphsaver.connect(saver_url) as reopened:
            graph = _chat().compile(checkpointer=reopened)
            history = graph.get_state_history({"configurable": {"thread_id": "t"}})
            assert [[(m.id, m.content) for m in s.values["messages"]] for s in history] == [
                messages for _, messages in expected[0]
            ]


def test_prune_copy_and_delete_for_runs_keep_delta_bases(backend: str, saver_url: str) -> None:
    with graphsaver.connect(saver_url) as saver:
        config = None
        messages: list = []
        for i in range(1, 10):
            messages = [*messages, i]
            config = _put(saver, "t", config, messages, i, run_id=f"run{i}")
        saver.copy_thread("t", "copy")
        saver.prune(["t"], strategy="keep_latest")
        # a second saver (no list cache) on the same database; memory:// has only the one
        fresh = saver if backend == "memory" else graphsaver.connect(saver_url)
        with fresh:
            assert (
                fresh.get_tuple({"configurable": {"thread_id": "t"}}).checkpoint["channel_values"]["messages"]
                == messages
            )
            assert (
                fresh.get_tuple({"configurable": {"thread_id": "copy"}}).checkpoint["channel_values"][
                    "messages"
                ]
                == messages
            )
            fresh.delete_for_runs([f"run{i}" for i in range(1, 9)])
            latest = fresh.get_tuple({"configurable": {"thread_id": "copy"}})
            assert latest.checkpoint["channel_values"]["messages"] == messages
            assert len(list(fresh.list({"configurable": {"thread_id": "copy"}}))) == 1


def test_put_after_another_saver_deleted_the_base_stores_full_values(tmp_path) -> None:
    path = str(tmp_path / "race.db")
    with graphsaver.SqliteSaver(path) as writer, graphsaver.SqliteSaver(path) as other:
        c1 = _put(writer, "t", None, ["a"], 1)
        other.delete_thread("t")  # the base the writer remembers is gone
        c2 = _put(writer, "t", c1, ["a", "b"], 2)
        assert other.get_tuple(c2).checkpoint["channel_values"]["messages"] == ["a", "b"]
        assert _blob_types(path) == ["msgpack"]


def test_corrupt_delta_names_the_channel(tmp_path) -> None:
    path = str(tmp_path / "bad.db")
    with graphsaver.SqliteSaver(path) as saver:
        c1 = _put(saver, "t", None, ["a"], 1)
        c2 = _put(saver, "t", c1, ["a", "b"], 2)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE graphsaver_blobs SET data = x'c1c1' WHERE type = ?", (LIST_DELTA,))
    with graphsaver.SqliteSaver(path) as saver, pytest.raises(graphsaver.CorruptDataError, match="messages"):
        saver.get_tuple(c2)


def _chat_in_turns(saver: Any, threads: int, turns: int) -> dict[str, list[tuple[str, str]]]:
    """`threads` conversations of `turns` turns, taking turns; each thread's newest messages."""
    graph = _chat().compile(checkpointer=saver)
    for turn in range(turns):
        for t in range(threads):
            text = f"turn {turn} of thread {t}: " + "words " * 20
            graph.invoke({"messages": [HumanMessage(content=text, id=f"h{turn}")]}, thread(f"t{t}"))
    return {
        f"t{t}": [(m.id, m.content) for m in graph.get_state(thread(f"t{t}")).values["messages"]]
        for t in range(threads)
    }


def test_remembered_lists_stay_within_their_byte_budget_and_lose_no_delta(
    backend: str, saver_url: str, tmp_path
) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    expected = _chat_in_turns(InMemorySaver(), 12, 6)
    ample = f"sqlite:///{tmp_path}/ample.db"
    with graphsaver.connect(ample) as saver:
        assert _chat_in_turns(saver, 12, 6) == expected
        assert len(saver._lists._states) == 12  # everything remembered
    with graphsaver.connect(saver_url, cache_mb=4_000 / 2**20) as saver:  # about three threads' lists
        assert _chat_in_turns(saver, 12, 6) == expected
        caches = [saver._lists._states] + ([saver._latest._held] if saver._latest is not None else [])
        for cache in caches:
            assert 1 <= len(cache) < 12 and cache.total <= 4_000
        if backend == "sqlite":  # a thread forgotten is read again when its run starts: deltas as before
            deltas = _blob_types(saver_url.removeprefix("sqlite:///")).count(LIST_DELTA)
            assert deltas == _blob_types(ample.removeprefix("sqlite:///")).count(LIST_DELTA) > 12 * 4


def test_a_list_over_the_byte_budget_alone_is_still_remembered(tmp_path) -> None:
    path = str(tmp_path / "l.db")
    with graphsaver.SqliteSaver(path, cache_mb=1_000 / 2**20) as saver:
        messages: list = []
        config = None
        for i in range(1, 40):
            messages = [*messages, {"i": i, "text": "x" * 100}]
            config = _put(saver, "t", config, messages, i)
        assert saver._lists._states.total > 1_000 and len(saver._lists._states) == 1
    assert _blob_types(path).count(LIST_DELTA) >= 30


def test_sized_lru_evicts_the_oldest_by_entries_and_by_bytes() -> None:
    from graphsaver.core.lru import SizedLRU

    cache: SizedLRU[str, int] = SizedLRU(max_entries=3, max_bytes=100)
    assert [cache.put(k, i, 10) for i, k in enumerate("abc")] == [0, 0, 0]
    cache.touch("a")
    assert cache.put("d", 3, 10) == 1 and list(cache) == ["c", "a", "d"]  # b was the oldest
    assert cache.put("c", 4, 30) == 0 and cache.total == 50  # stored again: its old size is gone
    assert cache.put("e", 5, 90) == 3 and list(cache) == ["e"] and cache.total == 90
    assert cache.put("f", 6, 500) == 1 and list(cache) == ["f"] and cache.get("f") == 6  # alone, over
    cache.pop("f")
    assert cache.total == 0 and cache.get("f") is None and len(cache) == 0


@pytest.mark.parametrize("bad", [-1, "16", None, True, float("nan")])
def test_a_bad_cache_size_is_refused_by_name(backend: str, saver_url: str, bad: Any) -> None:
    with pytest.raises(graphsaver.ConfigError, match="cache_mb must be a number of megabytes"):
        graphsaver.connect(saver_url, cache_mb=bad)
