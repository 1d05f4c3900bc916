"""Concurrency: many writers in one database, and two writers on one thread.

- Several processes x threads append checkpoint chains to different threads of one database:
  no error, and every checkpoint, value, pending write and parent link reads back.
- Several processes invoke a graph on the same thread at once: nothing is lost or corrupted,
  and the history is one tree (a branch where two writers extended the same checkpoint).
- Two savers extend the same checkpoint: both children are kept, `get_tuple` returns the one
  with the greater id, and each keeps its own writes. docs/reliability.md describes this.
- Many async runs at once through one saver (200 on PostgreSQL's pool).
The minute-long versions are in scripts/soak.py.
"""

from __future__ import annotations

import pytest

import graphsaver
from tests.conftest import BACKENDS
from tests.crash import load

PERSISTENT = [b for b in BACKENDS if b != "memory"]


@pytest.mark.parametrize("backend", PERSISTENT, indirect=True)
def test_processes_and_threads_writing_different_threads(saver_url: str, tmp_path) -> None:
    graphsaver.connect(saver_url).close()  # create the schema once, before the writers start
    report = load.chains_in_processes(saver_url, str(tmp_path), processes=4, threads=4, seconds=6)
    assert report["errors"] == []
    assert report["lost"] == []
    assert report["checkpoints"] > 16 * 10, report


@pytest.mark.parametrize("backend", PERSISTENT, indirect=True)
def test_processes_racing_on_one_thread_keep_a_tree(saver_url: str, tmp_path) -> None:
    report = load.race_same_thread(saver_url, str(tmp_path), processes=3, invocations=25)
    assert report["errors"] == []
    assert report["problems"] == []
    assert report["checkpoints"] == 3 + 3 * 25 * 3  # the first run, then 3 checkpoints per invoke


def _child(saver, parent: dict, label: str) -> dict:
    version = saver.get_next_version(parent["checkpoint"]["channel_versions"]["value"], None)
    checkpoint = load.make_checkpoint(label, version)
    config = saver.put(parent["config"], checkpoint, {"step": 1, "source": "loop"}, {"value": version})
    saver.put_writes(config, [("value", f"write by {label}")], "task")
    return config


@pytest.mark.parametrize("backend", PERSISTENT, indirect=True)
def test_two_writers_extending_one_checkpoint_both_kept(saver_url: str) -> None:
    with graphsaver.connect(saver_url) as one, graphsaver.connect(saver_url) as two:
        root_checkpoint = load.make_checkpoint("root", one.get_next_version(None, None))
        root = one.put(
            {"configurable": {"thread_id": "t", "checkpoint_ns": ""}},
            root_checkpoint,
            {"step": 0, "source": "input"},
            {"value": root_checkpoint["channel_versions"]["value"]},
        )
        head_one = one.get_tuple(root)
        head_two = two.get_tuple(root)  # both read the same head ...
        assert head_one == head_two
        a = _child(one, {"config": root, "checkpoint": head_one.checkpoint}, "a")  # ... and extend it
        b = _child(two, {"config": root, "checkpoint": head_two.checkpoint}, "b")

        history = list(one.list({"configurable": {"thread_id": "t"}}))
        ids = [t.config["configurable"]["checkpoint_id"] for t in history]
        assert sorted(ids) == sorted(
            [root["configurable"]["checkpoint_id"], *(c["configurable"]["checkpoint_id"] for c in (a, b))]
        )
        parents = {t.config["configurable"]["checkpoint_id"]: t.parent_config for t in history}
        assert parents[a["configurable"]["checkpoint_id"]] == root
        assert parents[b["configurable"]["checkpoint_id"]] == root
        latest = two.get_tuple({"configurable": {"thread_id": "t"}})
        assert latest.config == max(a, b, key=lambda c: c["configurable"]["checkpoint_id"])
        for config, label in ((a, "a"), (b, "b")):
            got = one.get_tuple(config)
            assert got.checkpoint["channel_values"] == {"value": label}
            assert got.pending_writes == [("task", "value", f"write by {label}")]


@pytest.mark.parametrize("backend", PERSISTENT, indirect=True)
def test_two_writers_same_task_writes_first_one_wins(saver_url: str) -> None:
    """put_writes for one (checkpoint, task) from two writers: the first write of a regular
    channel is kept (a retried task must not duplicate it); special channels are replaced."""
    with graphsaver.connect(saver_url) as one, graphsaver.connect(saver_url) as two:
        cp = load.make_checkpoint("v", one.get_next_version(None, None))
        config = one.put(
            {"configurable": {"thread_id": "t", "checkpoint_ns": ""}},
            cp,
            {"step": 0},
            {"value": cp["channel_versions"]["value"]},
        )
        one.put_writes(config, [("value", "first"), ("__error__", "first error")], "task")
        two.put_writes(config, [("value", "second"), ("__error__", "second error")], "task")
        assert sorted(one.get_tuple(config).pending_writes) == [
            ("task", "__error__", "second error"),
            ("task", "value", "first"),
        ]


@pytest.mark.parametrize("backend", PERSISTENT, indirect=True)
async def test_many_concurrent_async_runs_through_one_saver(saver_url: str, backend: str) -> None:
    runs = 200 if backend == "postgres" else 100
    report = await load.many_async_runs(saver_url, runs)
    assert report["problems"] == []


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_two_forks_with_the_same_random_state_keep_their_own_values(saver_url: str) -> None:
    import random
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        x: str

    builder = StateGraph(State)
    builder.add_node("n", lambda s: {"x": s["x"] + "!"})
    builder.add_edge(START, "n")
    builder.add_edge("n", END)
    with graphsaver.connect(saver_url) as saver:
        graph = builder.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "t"}}
        graph.invoke({"x": "start"}, config)
        root = graph.get_state(config).config
        random.seed(0)  # e.g. an application seeding for reproducible runs
        a = graph.update_state(root, {"x": "A"})
        random.seed(0)
        b = graph.update_state(root, {"x": "B"})
        assert graph.get_state(a).values == {"x": "A"}
        assert graph.get_state(b).values == {"x": "B"}
