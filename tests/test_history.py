"""graphsaver.history on every backend, against histories made by a real LangGraph graph."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.types import Command

import graphsaver
from graphsaver import history as h
from tests.history_graphs import build, config, make_histories


@pytest.fixture
def made(saver_url: str) -> Iterator[dict[str, Any]]:
    with graphsaver.connect(saver_url) as saver:
        yield {"saver": saver, "url": saver_url, **make_histories(saver)}


def test_threads_status_counts_and_steps(made: dict[str, Any]) -> None:
    page = h.threads(made["saver"])
    by_id = {t.thread_id: t for t in page.threads}
    assert [t.thread_id for t in page.threads] == ["broken", "waiting", "chat"]  # newest update first
    assert page.cursor is None
    assert (by_id["chat"].status, by_id["waiting"].status, by_id["broken"].status) == (
        "idle",
        "interrupted",
        "error",
    )
    assert by_id["waiting"].next == ("review",)
    assert by_id["broken"].next == ("tool",)
    # chat: input+2 loop steps per run (2 runs) and one update checkpoint
    assert by_id["chat"].checkpoints == 7
    assert by_id["chat"].latest_step == 2  # the update on top of the first run's last step (1)
    assert by_id["chat"].metadata["source"] == "update"
    assert by_id["waiting"].latest_step == 1


def test_threads_pages_with_a_cursor_and_filters(made: dict[str, Any]) -> None:
    saver = made["saver"]
    first = h.threads(saver, limit=2)
    assert [t.thread_id for t in first.threads] == ["broken", "waiting"]
    assert first.cursor is not None
    second = h.threads(saver, limit=2, cursor=first.cursor)
    assert [t.thread_id for t in second.threads] == ["chat"]
    assert second.cursor is None
    assert [t.thread_id for t in h.threads(saver, filter={"user": "alice"}).threads] == ["chat"]
    assert {t.thread_id for t in h.threads(saver, filter={"user": "bob"}).threads} == {"waiting", "broken"}
    assert h.threads(saver, filter={"user": "carol"}).threads == []
    with pytest.raises(graphsaver.ConfigError, match="cursor"):
        h.threads(saver, cursor="not-a-cursor")


def test_history_tree_marks_the_fork_and_the_current_branch(made: dict[str, Any]) -> None:
    hist = h.history(made["saver"], "chat")
    entries = hist.entries
    assert [e.checkpoint_id for e in entries] == sorted((e.checkpoint_id for e in entries), reverse=True)
    assert all(e.values is None for e in entries)  # metadata-only by default
    assert len(hist.branches) == 2
    current, old = hist.branches
    assert current.current and not old.current
    head = entries[0]
    assert (head.source, head.step, head.branch, head.current) == ("update", 2, 0, True)
    assert head.parent_id == made["fork_point"]
    # the current branch runs from the update back to the root; the second run, which grew
    # from the same checkpoint, is the other branch
    assert current.fork_point is None and current.length == 4
    assert old.fork_point == made["fork_point"] and old.length == 3
    assert [e.source for e in entries if e.branch == 1] == ["loop", "loop", "input"]
    assert [e.source for e in entries if e.branch == 0] == ["update", "loop", "loop", "input"]
    ran = {e.step: e.nodes for e in entries if e.branch == 0}
    assert ran[1] == ("agent",) and ran[0] == () and ran[-1] == ()
    with_values = h.history(made["saver"], "chat", values=True, limit=2)
    assert len(with_values.entries) == 2
    assert with_values.entries[0].values["messages"][-1].content == "patched"


def test_step_writes_name_each_node(made: dict[str, Any]) -> None:
    saver = made["saver"]
    hist = h.history(saver, "chat")
    agent_step = next(e for e in hist.entries if e.nodes == ("agent",))
    writes = h.step_writes(saver, "chat", agent_step.checkpoint_id)
    assert list(writes) == ["agent"]
    assert writes["agent"]["messages"][0].content.startswith("you said: ")


def test_tasks_show_interrupts_and_errors(made: dict[str, Any]) -> None:
    saver = made["saver"]
    (waiting,) = h.tasks(saver, "waiting")
    assert (waiting.name, waiting.status, waiting.interrupts) == (
        "review",
        "interrupted",
        ({"question": "approve?"},),
    )
    (broken,) = h.tasks(saver, "broken")
    assert (broken.name, broken.status) == ("tool", "failed")
    assert "the tool broke" in (broken.error or "")
    snap = h.snapshot(saver, "waiting")
    assert snap.interrupts == [{"question": "approve?"}]
    assert snap.values["messages"][-1].content == "you said: please review"
    assert h.tasks(saver, "chat") == []


def test_unknown_thread_and_checkpoint_are_named(made: dict[str, Any]) -> None:
    saver = made["saver"]
    with pytest.raises(graphsaver.ThreadNotFoundError, match="'nope'"):
        h.history(saver, "nope")
    with pytest.raises(graphsaver.CheckpointNotFoundError, match="'chat'") as info:
        h.fork(saver, "chat", "no-such-checkpoint")
    assert "'no-such-checkpoint'" in str(info.value)


def test_fork_copies_the_past_and_replays_with_the_graph(made: dict[str, Any]) -> None:
    saver, graph = made["saver"], made["graph"]
    before = h.history(saver, "waiting")
    config_ = h.fork(saver, "waiting", before.entries[0].checkpoint_id, new_thread_id="waiting-2")
    assert config_["configurable"]["thread_id"] == "waiting-2"
    forked = h.history(saver, "waiting-2")
    assert [e.checkpoint_id for e in forked.entries] == [e.checkpoint_id for e in before.entries]
    assert h.tasks(saver, "waiting-2")[0].status == "interrupted"
    # resume the fork; the original stays interrupted
    result = graph.invoke(Command(resume="yes"), {"configurable": {"thread_id": "waiting-2"}})
    assert result["messages"][-1].content == "review: yes"
    assert h.tasks(saver, "waiting")[0].status == "interrupted"
    with pytest.raises(graphsaver.ThreadExistsError):
        h.fork(saver, "waiting", before.entries[0].checkpoint_id, new_thread_id="waiting-2")


def test_fork_with_an_update_through_the_graph_or_raw(made: dict[str, Any]) -> None:
    saver, graph = made["saver"], made["graph"]
    first = h.history(saver, "chat").entries[-1]  # the input checkpoint of the first run
    after_agent = next(e for e in h.history(saver, "chat").entries if e.step == 1)
    cfg = h.fork(
        saver,
        "chat",
        after_agent.checkpoint_id,
        new_thread_id="chat-b",
        values={"messages": [HumanMessage("edited")]},
        as_node="agent",
        graph=graph,
    )
    snap = h.snapshot(saver, "chat-b")
    assert snap.source == "update" and snap.checkpoint_id == cfg["configurable"]["checkpoint_id"]
    assert [m.content for m in snap.values["messages"]][-1] == "edited"
    raw = h.fork(saver, "chat", first.checkpoint_id, new_thread_id="chat-c", values={"messages": []})
    assert h.snapshot(saver, "chat-c").values["messages"] == []
    assert raw["configurable"]["thread_id"] == "chat-c"
    assert h.snapshot(saver, "chat-c").source == "update"
    # the original thread is untouched
    assert h.snapshot(saver, "chat").values["messages"][-1].content == "patched"


def test_diff_renders_message_lists(made: dict[str, Any]) -> None:
    d = h.diff(made["saver"], "chat")
    assert list(d.changed) == ["messages"] and d.added == {} and d.removed == {}
    text = d.render()
    assert "changed messages:" in text
    assert "+ [ai] patched" in text
    assert "\n  - " not in text  # the update only appended
    assert "(2 unchanged)" in text
    assert "+ [human]" not in text  # unchanged messages are not repeated


def test_export_readable_jsonl(made: dict[str, Any]) -> None:
    out = io.StringIO()
    count = h.export_threads(made["saver"], out, ["waiting"])
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(lines) == 3
    assert [line["metadata"]["step"] for line in lines] == [-1, 0, 1]
    last = lines[-1]
    assert last["values"]["messages"][-1]["content"] == "you said: please review"
    assert last["values"]["messages"][-1]["type"] == "ai"
    assert last["next"] == ["review"]
    interrupt = next(w for w in last["writes"] if w["channel"] == "__interrupt__")
    assert interrupt["node"] == "review" and interrupt["value"][0]["value"] == {"question": "approve?"}


def test_lossless_export_import_round_trips_exactly(made: dict[str, Any], tmp_path: Any) -> None:
    first = io.StringIO()
    count = h.export_threads(made["saver"], first, lossless=True)
    with graphsaver.connect(f"sqlite:///{tmp_path}/copy.db") as other:
        assert h.import_threads(other, io.StringIO(first.getvalue())) == count
        second = io.StringIO()
        h.export_threads(other, second, lossless=True)
        assert second.getvalue() == first.getvalue()
        assert h.tasks(other, "waiting")[0].interrupts == ({"question": "approve?"},)
        # the import continues like the original
        graph = build(other)
        out = graph.invoke(Command(resume="ok"), config("waiting"))
        assert out["messages"][-1].content == "review: ok"
        with pytest.raises(graphsaver.ThreadExistsError, match="already exists"):
            h.import_threads(other, io.StringIO(first.getvalue()))
    with pytest.raises(graphsaver.ConfigError, match="lossless"):
        readable = io.StringIO()
        h.export_threads(made["saver"], readable, ["chat"])
        h.import_threads(made["saver"], io.StringIO(readable.getvalue()))


def test_copy_between_urls_with_progress(made: dict[str, Any], tmp_path: Any) -> None:
    source = f"sqlite:///{tmp_path}/source.db"
    with graphsaver.connect(source) as saver:
        make_histories(saver)
    seen: list[tuple[int, int | None]] = []
    target = made["url"] if made["url"] != "memory://" else f"sqlite:///{tmp_path}/target.db"
    if target == made["url"]:
        for thread in ("chat", "waiting", "broken"):
            made["saver"].delete_thread(thread)
    copied = h.copy_database(source, target, progress=lambda p: seen.append((p.done, p.total)))
    assert copied == 7 + 3 + 3
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with graphsaver.connect(target) as saver:
        assert {t.thread_id: t.status for t in h.threads(saver).threads} == {
            "chat": "idle",
            "waiting": "interrupted",
            "broken": "error",
        }


def test_prune_dry_run_then_for_real(made: dict[str, Any]) -> None:
    saver = made["saver"]
    plan = h.prune(saver, ["chat"], dry_run=True)
    assert len(plan) == 6 and all(t == "chat" for t, _, _ in plan)
    assert h.threads(saver, filter={"user": "alice"}).threads[0].checkpoints == 7
    assert h.prune(saver, ["chat"]) == plan
    assert len(h.history(saver, "chat").entries) == 1


def test_stats_count_rows_and_bytes(made: dict[str, Any]) -> None:
    rows = {r.thread_id: r for r in h.stats(made["saver"])}
    assert set(rows) == {"chat", "waiting", "broken"}
    assert rows["chat"].checkpoints == 7 and rows["waiting"].checkpoints == 3
    assert all(r.bytes > 0 and r.writes > 0 and r.blobs > 0 for r in rows.values())


@pytest.mark.interrupts
async def test_async_faces_share_the_plans(saver_url: str) -> None:
    async with graphsaver.connect(saver_url) as saver:
        graph = build(saver)
        await graph.ainvoke({"messages": [HumanMessage("please review")]}, config("a1"))
        page = await h.athreads(saver)
        assert [(t.thread_id, t.status) for t in page.threads] == [("a1", "interrupted")]
        hist = await h.ahistory(saver, "a1")
        assert [e.step for e in hist.entries] == [1, 0, -1]
        (task,) = await h.atasks(saver, "a1")
        assert task.interrupts == ({"question": "approve?"},)
        cfg = await h.afork(saver, "a1", hist.entries[1].checkpoint_id, new_thread_id="a2")
        resumed = await graph.ainvoke(None, cfg)
        assert resumed["messages"][-1].content == "you said: please review"
        d = await h.adiff(saver, "a1", hist.entries[1].checkpoint_id, hist.entries[0].checkpoint_id)
        assert d.changes == [] or list(d.changed) == ["messages"]
        assert {r.thread_id for r in await h.astats(saver)} == {"a1", "a2"}
        assert isinstance((await h.asnapshot(saver, "a2")).values["messages"][-1], AIMessage)
