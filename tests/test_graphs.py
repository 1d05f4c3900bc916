"""Real LangGraph graphs on every backend, sync and async: time travel, forks, interrupts,
subgraphs, failure resume, both worlds on one saver, persistence across saver objects."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.types import Command

import graphsaver
from tests.graphs import (
    MODES,
    Calls,
    Driver,
    asking,
    fan_out,
    linear,
    nested,
    parallel_edges,
    thread,
)


@pytest.fixture(params=MODES)
def drive(request: pytest.FixtureRequest) -> Iterator[Driver]:
    driver = Driver(request.param)
    yield driver
    driver.close()


def checkpoint_id(config: dict[str, Any]) -> str:
    return str(config["configurable"]["checkpoint_id"])


# --- time travel ---------------------------------------------------------------------------------


def test_history_lists_every_checkpoint_newest_first(saver_url: str, drive: Driver) -> None:
    calls = Calls()
    with drive.open(saver_url) as saver:
        graph = linear(calls).compile(checkpointer=saver)
        cfg = thread("t1")
        assert drive(graph.invoke, {"trail": ["x"]}, cfg) == {"trail": ["x", "a", "b", "c"]}
        history = drive(graph.get_state_history, cfg)

        assert [s.metadata["step"] for s in history] == [3, 2, 1, 0, -1]
        assert [s.metadata["source"] for s in history] == ["loop", "loop", "loop", "loop", "input"]
        assert all(s.metadata["parents"] == {} for s in history)
        assert [s.next for s in history] == [(), ("c",), ("b",), ("a",), ("__start__",)]
        assert [s.values["trail"] for s in history] == [
            ["x", "a", "b", "c"],
            ["x", "a", "b"],
            ["x", "a"],
            ["x"],
            [],
        ]
        ids = [checkpoint_id(s.config) for s in history]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
        # each checkpoint's parent is the one listed after it; the first has none
        assert [checkpoint_id(s.parent_config) for s in history[:-1]] == ids[1:]
        assert history[-1].parent_config is None
        # the saver's own listing agrees with the graph's view
        listed = drive(saver.list, cfg)
        assert [checkpoint_id(t.config) for t in listed] == ids
        assert drive(saver.list, cfg, limit=2) == listed[:2]


def test_replay_from_an_old_checkpoint_reruns_only_later_nodes(saver_url: str, drive: Driver) -> None:
    calls = Calls()
    with drive.open(saver_url) as saver:
        graph = linear(calls).compile(checkpointer=saver)
        cfg = thread("t1")
        drive(graph.invoke, {"trail": ["x"]}, cfg)
        original = drive(graph.get_state_history, cfg)
        after_a = original[2]
        assert after_a.next == ("b",)

        old = drive(graph.get_state, after_a.config)
        assert old.values == {"trail": ["x", "a"]} and old.next == ("b",)

        assert drive(graph.invoke, None, after_a.config) == {"trail": ["x", "a", "b", "c"]}
        assert dict(calls.counts) == {"a": 1, "b": 2, "c": 2}

        history = drive(graph.get_state_history, cfg)
        assert len(history) == len(original) + 3  # a fork point, then b and c again
        ids = {checkpoint_id(s.config) for s in history}
        assert {checkpoint_id(s.config) for s in original} <= ids
        replayed = history[:3]
        assert [s.metadata["step"] for s in replayed] == [4, 3, 2]
        assert checkpoint_id(replayed[-1].parent_config) == checkpoint_id(after_a.config)
        latest = drive(graph.get_state, cfg)
        assert latest.values == {"trail": ["x", "a", "b", "c"]}
        assert checkpoint_id(latest.config) == checkpoint_id(history[0].config)


def test_fork_with_update_state_on_an_old_checkpoint(saver_url: str, drive: Driver) -> None:
    calls = Calls()
    with drive.open(saver_url) as saver:
        graph = linear(calls).compile(checkpointer=saver)
        cfg = thread("t1")
        drive(graph.invoke, {"trail": ["x"]}, cfg)
        original = drive(graph.get_state_history, cfg)
        after_a = original[2]

        fork_cfg = drive(graph.update_state, after_a.config, {"trail": ["F"]})
        fork = drive(graph.get_state, fork_cfg)
        assert fork.values == {"trail": ["x", "a", "F"]}
        assert fork.next == ("b",)
        assert fork.metadata["source"] == "update"
        assert checkpoint_id(fork.parent_config) == checkpoint_id(after_a.config)

        assert drive(graph.invoke, None, fork_cfg) == {"trail": ["x", "a", "F", "b", "c"]}
        assert dict(calls.counts) == {"a": 1, "b": 2, "c": 2}

        # the original branch is untouched and still readable by id
        for snap in original:
            again = drive(graph.get_state, snap.config)
            assert again.values == snap.values and again.next == snap.next
        # the thread's latest state is the end of the fork; history holds both branches
        assert drive(graph.get_state, cfg).values == {"trail": ["x", "a", "F", "b", "c"]}
        history = drive(graph.get_state_history, cfg)
        assert len(history) == len(original) + 3
        by_id = {checkpoint_id(s.config): s for s in history}
        assert {checkpoint_id(s.config) for s in original} <= set(by_id)
        children_of_after_a = [
            s
            for s in history
            if s.parent_config and checkpoint_id(s.parent_config) == checkpoint_id(after_a.config)
        ]
        assert sorted(s.metadata["source"] for s in children_of_after_a) == ["loop", "update"]


def _travel(drive: Driver, graph: Any, durability: str) -> list[Any]:
    """Three runs, a fork from the second newest checkpoint, a run on the fork and one more on
    the thread, all with `durability`; then the history, each checkpoint also read by its id,
    as a list that does not depend on the saver's ids."""
    cfg = thread("t1")
    for _ in range(3):
        drive(graph.invoke, {"trail": ["x"]}, cfg, durability=durability)
    second = drive(graph.get_state_history, cfg)[1]
    fork = drive(graph.update_state, second.config, {"trail": ["F"]})
    drive(graph.invoke, None, fork, durability=durability)
    drive(graph.invoke, {"trail": ["y"]}, cfg, durability=durability)
    history = drive(graph.get_state_history, cfg)
    ids = [checkpoint_id(s.config) for s in history]
    by_id = [drive(graph.get_state, s.config) for s in history]
    return [
        (
            s.metadata["step"],
            s.metadata["source"],
            s.next,
            s.values,
            ids.index(checkpoint_id(s.parent_config)) if s.parent_config else None,
            (again.values, again.next),
        )
        for s, again in zip(history, by_id, strict=True)
    ]


@pytest.mark.parametrize("durability", ["exit", "async", "sync"])
def test_each_durability_mode_reads_back_as_langgraphs_own_saver_reads_it(
    saver_url: str, backend: str, drive: Driver, durability: str
) -> None:
    """With durability "exit" a run stores only its last checkpoint, so a list's new version
    extends one stored several versions before. History, a fork and the runs after it must
    read exactly as with LangGraph's own in-memory saver, in every durability mode."""
    from langgraph.checkpoint.memory import InMemorySaver

    expected = _travel(drive, linear(Calls()).compile(checkpointer=InMemorySaver()), durability)
    if durability == "exit":  # a checkpoint per run's end (the fork's run had nothing to do)
        assert [(step, source) for step, source, *_ in expected] == [
            (14, "loop"),
            (9, "update"),
            (13, "loop"),
            (8, "loop"),
            (3, "loop"),
        ]
    with drive.open(saver_url) as saver:
        assert _travel(drive, linear(Calls()).compile(checkpointer=saver), durability) == expected
    if backend != "memory":  # read again by a new saver object: from the store, not from caches
        with drive.open(saver_url) as reopened:
            graph = linear(Calls()).compile(checkpointer=reopened)
            history = drive(graph.get_state_history, thread("t1"))
            assert [(s.metadata["step"], s.values) for s in history] == [(e[0], e[3]) for e in expected]


# --- interrupts ----------------------------------------------------------------------------------


@pytest.mark.interrupts
def test_interrupt_then_resume_with_command(saver_url: str, drive: Driver) -> None:
    calls = Calls()
    with drive.open(saver_url) as saver:
        graph = asking(calls).compile(checkpointer=saver)
        cfg = thread("t1")
        first = drive(graph.invoke, {"trail": []}, cfg)
        assert first["trail"] == ["prepare"]
        assert [i.value for i in first["__interrupt__"]] == [{"question": "name?"}]

        pending = drive(graph.get_state, cfg)
        assert pending.next == ("ask",)
        assert [t.name for t in pending.tasks] == ["ask"]
        assert [i.value for i in pending.tasks[0].interrupts] == [{"question": "name?"}]
        assert [i.value for i in pending.interrupts] == [{"question": "name?"}]
        assert pending.interrupts[0].id == first["__interrupt__"][0].id

        final = drive(graph.invoke, Command(resume="ada"), cfg)
        assert final == {"trail": ["prepare", "ask", "hello ada"], "answer": "ada"}
        assert dict(calls.counts) == {"prepare": 1, "ask": 2, "finish": 1}
        done = drive(graph.get_state, cfg)
        assert done.next == () and done.tasks == () and done.interrupts == ()
        assert done.values == final


# --- subgraphs -----------------------------------------------------------------------------------


@pytest.mark.interrupts
def test_subgraph_checkpoints_live_in_their_namespace(saver_url: str, drive: Driver) -> None:
    calls = Calls()
    with drive.open(saver_url) as saver:
        graph = nested(calls, ask=True).compile(checkpointer=saver)
        cfg = thread("t1")
        first = drive(graph.invoke, {"trail": []}, cfg)
        assert [i.value for i in first["__interrupt__"]] == ["inner?"]

        state = drive(graph.get_state, cfg, subgraphs=True)
        assert state.next == ("sub",)
        (task,) = state.tasks
        sub = task.state
        assert sub is not None and sub.values == {"inner": ["inner_a"]}
        assert sub.next == ("inner_b",)
        ns = sub.config["configurable"]["checkpoint_ns"]
        assert ns == f"sub:{task.id}"
        root_id = checkpoint_id(state.config)
        assert sub.metadata["parents"] == {"": root_id}
        assert [i.value for i in sub.interrupts] == ["inner?"]
        # without subgraphs=True the task carries only the subgraph's config
        shallow = drive(graph.get_state, cfg)
        assert shallow.tasks[0].state["configurable"]["checkpoint_ns"] == ns

        final = drive(graph.invoke, Command(resume="yes"), cfg)
        assert final == {"trail": ["before", "after"], "inner": ["inner_a", "inner_b:yes"]}
        assert dict(calls.counts) == {"before": 1, "inner_a": 1, "inner_b": 2, "after": 1}

        every = drive(saver.list, {"configurable": {"thread_id": "t1"}})
        namespaces = {t.config["configurable"]["checkpoint_ns"] for t in every}
        assert namespaces == {"", ns}
        inner = drive(saver.list, {"configurable": {"thread_id": "t1", "checkpoint_ns": ns}})
        assert [t.metadata["step"] for t in inner] == [2, 1, 0, -1]
        assert all(t.metadata["parents"] == {"": root_id} for t in inner)
        assert all(t.config["configurable"]["checkpoint_ns"] == ns for t in inner)
        root = drive(saver.list, {"configurable": {"thread_id": "t1", "checkpoint_ns": ""}})
        assert [t.metadata["step"] for t in root] == [3, 2, 1, 0, -1]
        assert len(every) == len(inner) + len(root)
        # the root history holds only root checkpoints
        history = drive(graph.get_state_history, cfg)
        assert [s.metadata["step"] for s in history] == [3, 2, 1, 0, -1]


# --- failure resume ------------------------------------------------------------------------------


def test_fan_out_failure_resume_skips_succeeded_tasks(saver_url: str, drive: Driver) -> None:
    calls = Calls()
    with drive.open(saver_url) as saver:
        graph = fan_out(calls, fail_once={2}).compile(checkpointer=saver)
        cfg = thread("t1")
        with pytest.raises(RuntimeError, match="item 2 failed"):
            drive(graph.invoke, {"items": [1, 2, 3]}, cfg)
        stuck = drive(graph.get_state, cfg)
        assert stuck.next == ("work",)
        errors = [t.error for t in stuck.tasks if t.error]
        assert len(errors) == 1 and "item 2 failed" in str(errors[0])
        assert sorted(t.result["done"][0] for t in stuck.tasks if t.result) == [10, 30]

        final = drive(graph.invoke, None, cfg)
        assert final == {"items": [1, 2, 3], "done": [10, 20, 30], "total": 60}
        assert dict(calls.counts) == {"plan": 1, "work1": 1, "work2": 2, "work3": 1, "gather": 1}


def test_parallel_edges_failure_resume_skips_succeeded_tasks(saver_url: str, drive: Driver) -> None:
    calls = Calls()
    with drive.open(saver_url) as saver:
        graph = parallel_edges(calls, failing="middle").compile(checkpointer=saver)
        cfg = thread("t1")
        with pytest.raises(RuntimeError, match="middle failed"):
            drive(graph.invoke, {"trail": []}, cfg)
        final = drive(graph.invoke, None, cfg)
        assert sorted(final["trail"][:3]) == ["left", "middle", "right"]
        assert final["trail"][3:] == ["join"]
        assert dict(calls.counts) == {"left": 1, "middle": 2, "right": 1, "join": 1}


# --- one saver, both worlds ----------------------------------------------------------------------


async def test_async_opened_saver_serves_invoke_from_another_thread(saver_url: str) -> None:
    calls = Calls()
    async with graphsaver.connect(saver_url) as saver:
        graph = linear(calls).compile(checkpointer=saver)
        assert await graph.ainvoke({"trail": ["x"]}, thread("async")) == {"trail": ["x", "a", "b", "c"]}
        result = await asyncio.wait_for(
            asyncio.to_thread(graph.invoke, {"trail": ["y"]}, thread("sync")), timeout=30
        )
        assert result == {"trail": ["y", "a", "b", "c"]}
        # each world sees what the other wrote
        assert (await graph.aget_state(thread("sync"))).values == result
        assert (await asyncio.to_thread(graph.get_state, thread("async"))).values["trail"][0] == "x"
        # both at once on one saver
        both = await asyncio.wait_for(
            asyncio.gather(
                graph.ainvoke({"trail": ["p"]}, thread("p")),
                asyncio.to_thread(graph.invoke, {"trail": ["q"]}, thread("q")),
            ),
            timeout=30,
        )
        assert both == [{"trail": ["p", "a", "b", "c"]}, {"trail": ["q", "a", "b", "c"]}]
        assert dict(calls.counts) == {"a": 4, "b": 4, "c": 4}


def test_sync_opened_saver_serves_asyncio_run(saver_url: str) -> None:
    calls = Calls()
    with graphsaver.connect(saver_url) as saver:
        graph = linear(calls).compile(checkpointer=saver)
        assert graph.invoke({"trail": ["x"]}, thread("sync")) == {"trail": ["x", "a", "b", "c"]}
        result = asyncio.run(graph.ainvoke({"trail": ["y"]}, thread("async")))
        assert result == {"trail": ["y", "a", "b", "c"]}
        # a second, separate event loop on the same saver
        again = asyncio.run(graph.ainvoke(None, thread("async")))
        assert again == result
        assert graph.get_state(thread("async")).values == result
        assert dict(calls.counts) == {"a": 2, "b": 2, "c": 2}


def _run_in_thread(target: Any, timeout: float) -> Any:
    """Run `target()` on a daemon thread; a hang fails the test instead of blocking it."""
    outcome: dict[str, Any] = {}

    def main() -> None:
        try:
            outcome["value"] = target()
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=main, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"deadlock: still running after {timeout}s"
    return outcome


def test_sync_call_on_the_event_loop_thread_does_not_deadlock(saver_url: str) -> None:
    calls = Calls()

    async def main() -> Any:
        async with graphsaver.connect(saver_url) as saver:
            graph = linear(calls).compile(checkpointer=saver)
            await graph.ainvoke({"trail": ["x"]}, thread("t1"))
            running = asyncio.create_task(graph.ainvoke({"trail": ["z"]}, thread("t2")))
            await asyncio.sleep(0)
            try:
                sync_result: Any = graph.invoke({"trail": ["y"]}, thread("t3"))  # on the loop thread
            except graphsaver.GraphsaverError as exc:
                sync_result = exc
            return sync_result, await running

    outcome = _run_in_thread(lambda: asyncio.run(main()), timeout=30)
    assert "error" not in outcome, outcome.get("error")
    sync_result, concurrent = outcome["value"]
    assert concurrent == {"trail": ["z", "a", "b", "c"]}
    if isinstance(sync_result, graphsaver.GraphsaverError):
        assert "event loop" in str(sync_result)
    else:
        assert sync_result == {"trail": ["y", "a", "b", "c"]}


# --- persistence ---------------------------------------------------------------------------------


@pytest.mark.interrupts
def test_a_new_saver_object_sees_the_old_history(saver_url: str, backend: str, drive: Driver) -> None:
    if backend == "memory":
        pytest.skip("memory:// keeps nothing once closed")
    calls = Calls()
    with drive.open(saver_url) as saver:
        graph = linear(calls).compile(checkpointer=saver)
        drive(graph.invoke, {"trail": ["x"]}, thread("t1"))
        before = drive(graph.get_state_history, thread("t1"))
        asker = asking(calls).compile(checkpointer=saver)
        drive(asker.invoke, {"trail": []}, thread("t2"))

    with drive.open(saver_url) as reopened:
        graph = linear(calls).compile(checkpointer=reopened)
        after = drive(graph.get_state_history, thread("t1"))
        assert [checkpoint_id(s.config) for s in after] == [checkpoint_id(s.config) for s in before]
        assert [s.values for s in after] == [s.values for s in before]
        assert [s.metadata for s in after] == [s.metadata for s in before]
        # replay from the old history in the new process-like saver
        assert drive(graph.invoke, None, before[2].config) == {"trail": ["x", "a", "b", "c"]}
        # an interrupt left pending by the first saver is resumed by the second
        asker = asking(calls).compile(checkpointer=reopened)
        assert [i.value for i in drive(asker.get_state, thread("t2")).interrupts] == [{"question": "name?"}]
        final = drive(asker.invoke, Command(resume="bob"), thread("t2"))
        assert final == {"trail": ["prepare", "ask", "hello bob"], "answer": "bob"}
    assert dict(calls.counts) == {"a": 1, "b": 2, "c": 2, "prepare": 1, "ask": 2, "finish": 1}
