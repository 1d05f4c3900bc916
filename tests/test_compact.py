"""SQLite's page size, and `compact`: the space deletes left is given back, and everything that
remains is unchanged."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages

import graphsaver
from graphsaver.errors import StorageError
from tests.graphs import MODES, Driver, thread


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def talk(state: State) -> dict[str, Any]:
    n = len(state["messages"])
    return {"messages": [AIMessage(content=f"{n} " + "words " * 400, id=f"m{n}")]}  # 2.4 KB


def build() -> Any:
    builder = StateGraph(State)
    builder.add_node("talk", talk)
    builder.add_edge(START, "talk")
    return builder


@pytest.fixture(params=MODES)
def drive(request: pytest.FixtureRequest) -> Iterator[Driver]:
    driver = Driver(request.param)
    yield driver
    driver.close()


def converse(drive: Driver, saver: graphsaver.GraphsaverSaver, thread_id: str, turns: int) -> None:
    graph = build().compile(checkpointer=saver)
    for _ in range(turns):
        drive(graph.invoke, {"messages": []}, thread(thread_id))


def history(drive: Driver, saver: graphsaver.GraphsaverSaver, thread_id: str) -> list[tuple[Any, ...]]:
    return [
        (t.config, t.checkpoint, t.metadata, t.parent_config, t.pending_writes)
        for t in drive(saver.list, thread(thread_id))
    ]


def test_compact_gives_back_what_a_delete_left_and_keeps_every_checkpoint(
    saver_url: str, drive: Driver
) -> None:
    with drive.open(saver_url) as saver:
        for name in ("kept", "deleted", "also-kept"):
            converse(drive, saver, name, 12)
        kept = {name: history(drive, saver, name) for name in ("kept", "also-kept")}
        assert len(kept["kept"]) == 36  # per turn: the input, its start, the node's step
        drive(saver.delete_thread, "deleted")
        done = drive(saver.compact)
        assert isinstance(done, graphsaver.Compacted)
        # a third of 36 messages of 2.4 KB (each stored as a write and in the list) went away
        assert done.bytes_before - done.bytes_after > 12 * 2400 * 2, done
        assert done.note is None
        if saver_url.startswith("sqlite:///"):  # the file itself shrank, with nothing left in its WAL
            path = saver_url.removeprefix("sqlite:///")
            assert os.path.getsize(path) == done.bytes_after
            assert not os.path.exists(path + "-wal") or os.path.getsize(path + "-wal") == 0
        assert {name: history(drive, saver, name) for name in ("kept", "also-kept")} == kept
        assert history(drive, saver, "deleted") == []
        converse(drive, saver, "kept", 1)  # the thread goes on where it was
        latest = drive(saver.get_tuple, thread("kept"))
        assert [m.id for m in latest.checkpoint["channel_values"]["messages"]] == [f"m{n}" for n in range(13)]


def _older_file(path: Path) -> None:
    """A database file made with SQLite's default 4 KB pages, as graphsaver made them before."""
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA page_size = 4096")
    raw.execute("PRAGMA journal_mode = WAL")
    raw.close()


def _file_settings(path: Path) -> tuple[int, str]:
    raw = sqlite3.connect(path)
    try:
        return raw.execute("PRAGMA page_size").fetchone()[0], raw.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        raw.close()


def test_a_new_file_has_8_kb_pages_and_an_older_one_keeps_its_own(tmp_path: Path, drive: Driver) -> None:
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    _older_file(old)
    for path in (new, old):
        with drive.open(f"sqlite:///{path}") as saver:
            converse(drive, saver, "t", 3)
            written = history(drive, saver, "t")
        with drive.open(f"sqlite:///{path}") as saver:
            assert history(drive, saver, "t") == written
    assert _file_settings(new) == (8192, "wal")
    assert _file_settings(old) == (4096, "wal")


def test_compact_moves_an_older_file_to_8_kb_pages_once_no_other_connection_has_it(tmp_path: Path) -> None:
    path = tmp_path / "older.db"
    _older_file(path)
    drive = Driver("sync")
    with drive.open(f"sqlite:///{path}") as saver:
        for name in ("a", "b"):
            converse(drive, saver, name, 6)
        before = history(drive, saver, "a")
        other = sqlite3.connect(path)  # another process reading the same file
        other.execute("SELECT count(*) FROM graphsaver_checkpoints").fetchall()
        try:
            first = saver.compact()
        finally:
            other.close()
        assert first.note is not None and "4096" in first.note and "8192" in first.note
        assert _file_settings(path) == (4096, "wal")
        assert history(drive, saver, "a") == before
        second = saver.compact()
        assert second.note is None
        assert _file_settings(path) == (8192, "wal")
        assert history(drive, saver, "a") == before
        converse(drive, saver, "a", 1)
        assert len(history(drive, saver, "a")) == len(before) + 3


def test_compact_of_a_closed_saver_is_a_storage_error(saver_url: str) -> None:
    saver = graphsaver.connect(saver_url)
    saver.close()
    with pytest.raises(StorageError, match="closed"):
        saver.compact()
