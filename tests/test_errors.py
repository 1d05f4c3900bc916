"""Bad input gets a clear, typed error naming the thing, and nothing already stored is lost."""

from __future__ import annotations

import sqlite3
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.errors import EmptyInputError

import graphsaver
from graphsaver.errors import (
    ConfigError,
    CorruptDataError,
    GraphsaverError,
    InvalidURLError,
    SchemaVersionError,
    SerializationError,
    StorageError,
)
from graphsaver.storage.queries import limit_clause
from tests.graphs import MODES, Calls, Driver, linear, thread


@pytest.fixture(params=MODES)
def drive(request: pytest.FixtureRequest) -> Iterator[Driver]:
    driver = Driver(request.param)
    yield driver
    driver.close()


def snapshot(drive: Driver, saver: graphsaver.GraphsaverSaver) -> list[tuple[Any, ...]]:
    """Everything a saver holds, as comparable values."""
    return [
        (t.config, t.parent_config, t.checkpoint["channel_values"], t.metadata, t.pending_writes)
        for t in drive(saver.list, None)
    ]


def stored_graph(drive: Driver, saver: graphsaver.GraphsaverSaver) -> Any:
    graph = linear(Calls()).compile(checkpointer=saver)
    drive(graph.invoke, {"trail": ["x"]}, thread("t1"))
    return graph


def file_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as raw:
        return {
            table: raw.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
            for table in ("graphsaver_checkpoints", "graphsaver_blobs", "graphsaver_writes")
        }


# --- configs -------------------------------------------------------------------------------------

NO_THREAD = [{}, {"configurable": {}}, {"configurable": {"checkpoint_ns": ""}}]


def test_missing_thread_id_is_a_config_error(saver_url: str, drive: Driver) -> None:
    with drive.open(saver_url) as saver:
        stored_graph(drive, saver)
        before = snapshot(drive, saver)
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"a": 1}
        checkpoint["channel_versions"] = {"a": saver.get_next_version(None, None)}
        for config in NO_THREAD:
            calls = [
                (saver.get_tuple, (config,), {}),
                (saver.put, (config, checkpoint, {}, dict(checkpoint["channel_versions"])), {}),
                (saver.put_writes, (config, [("a", 1)], "task"), {}),
                (saver.get_delta_channel_history, (), {"config": config, "channels": ["a"]}),
            ]
            for method, args, kwargs in calls:
                with pytest.raises(ConfigError, match="thread_id") as info:
                    drive(method, *args, **kwargs)
                assert isinstance(info.value, ValueError)  # what LangGraph users catch today
        assert snapshot(drive, saver) == before


def test_a_graph_without_thread_id_is_refused(saver_url: str, drive: Driver) -> None:
    with drive.open(saver_url) as saver:
        graph = stored_graph(drive, saver)
        before = snapshot(drive, saver)
        # LangGraph checks the config before the saver sees it
        with pytest.raises(ValueError, match="thread_id"):
            drive(graph.invoke, {"trail": ["y"]}, {"configurable": {}})
        assert snapshot(drive, saver) == before


def test_put_writes_without_a_checkpoint_id_is_a_config_error(saver_url: str, drive: Driver) -> None:
    with drive.open(saver_url) as saver:
        stored_graph(drive, saver)
        before = snapshot(drive, saver)
        with pytest.raises(ConfigError, match="checkpoint_id"):
            drive(saver.put_writes, thread("t1"), [("a", 1)], "task")
        assert snapshot(drive, saver) == before


BAD_LIST_ARGUMENTS: list[tuple[dict[str, Any], str]] = [
    ({"filter": {1: "x"}}, "filter"),
    ({"filter": {"k": object()}}, "'k'"),
    ({"filter": {"k": float("nan")}}, "'k'"),
    ({"limit": -1}, "limit"),
    ({"limit": "3"}, "limit"),
    ({"limit": "1; DROP TABLE graphsaver_checkpoints"}, "limit"),  # LIMIT is written into the SQL
    ({"limit": True}, "limit"),
    ({"limit": 2.0}, "limit"),
]


def test_a_limit_is_written_into_sql_only_as_an_int() -> None:
    assert limit_clause(10) == " LIMIT 10"
    for bad in ("10", "1; DROP TABLE t", -1, True, 1.5, None):
        with pytest.raises(ConfigError, match="limit"):
            limit_clause(bad)  # type: ignore[arg-type]


def test_bad_list_arguments_are_config_errors(saver_url: str, drive: Driver) -> None:
    with drive.open(saver_url) as saver:
        stored_graph(drive, saver)
        for kwargs, needle in BAD_LIST_ARGUMENTS:
            with pytest.raises(ConfigError, match=needle):
                drive(saver.list, thread("t1"), **kwargs)
        assert len(drive(saver.list, thread("t1"))) == 5


def test_prune_and_delete_for_runs_refuse_a_bare_string(saver_url: str, drive: Driver) -> None:
    with drive.open(saver_url) as saver:
        stored_graph(drive, saver)
        before = snapshot(drive, saver)
        with pytest.raises(ConfigError, match="list"):
            drive(saver.prune, "t1")
        with pytest.raises(ConfigError, match="strategy"):
            drive(saver.prune, ["t1"], strategy="everything")
        with pytest.raises(ConfigError, match="list"):
            drive(saver.delete_for_runs, "run")
        assert snapshot(drive, saver) == before


# --- unknown checkpoints -------------------------------------------------------------------------


def test_unknown_checkpoint_id(saver_url: str, drive: Driver) -> None:
    with drive.open(saver_url) as saver:
        graph = stored_graph(drive, saver)
        before = snapshot(drive, saver)
        nope = thread("t1", checkpoint_id="nope")
        assert drive(saver.get_tuple, nope) is None
        assert drive(saver.list, nope) == []
        assert drive(graph.get_state, nope).values == {}

        # Resuming from it: LangGraph finds no checkpoint, so there is nothing to resume.
        with pytest.raises(EmptyInputError):
            drive(graph.invoke, None, nope)
        assert snapshot(drive, saver) == before

        # Starting from it with input: LangGraph runs from scratch and names the unknown id
        # as the parent of the new root (it passes its config to put); the old run is intact.
        assert drive(graph.invoke, {"trail": ["y"]}, nope) == {"trail": ["y", "a", "b", "c"]}
        after = snapshot(drive, saver)
        assert after[5:] == before
        new_root = after[4]
        assert new_root[3]["source"] == "input"
        assert new_root[1]["configurable"]["checkpoint_id"] == "nope"


# --- URLs and paths ------------------------------------------------------------------------------

BAD_URLS = [
    "postgresql://u:secret@h:notaport/db",
    "postgresql://u:secret@h:99999/db",
    "postgres://u:secret@[::1/db",
    "mysql://u:secret@h/db",
    "sqlite://u:secret@h/x.db",
    "sqlite://",
    "sqlite:///",
    "sqlite:///a.db?mode=ro",
    "memory://x",
    "",
    "   ",
    "agent.db",
]


def _assert_no_password(exc: BaseException, password: str = "secret") -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc.args)
    assert password not in text


@pytest.mark.parametrize("url", BAD_URLS)
def test_malformed_urls_are_invalid_url_errors(url: str) -> None:
    with pytest.raises(InvalidURLError) as info:
        graphsaver.connect(url)
    _assert_no_password(info.value)
    message = str(info.value)
    if url.strip():
        assert url.replace("secret", "***") in message
    if url.startswith("postgres"):
        assert "not a valid PostgreSQL URL" in message
    else:  # says which forms are understood
        assert "sqlite:///" in message or "memory://" in message


@pytest.mark.parametrize("password", ["se/cret", "sec#ret", "sec?ret"])
def test_a_password_with_url_delimiters_is_never_printed(password: str) -> None:
    with pytest.raises(InvalidURLError) as info:
        graphsaver.connect(f"postgresql://u:{password}@h:notaport/db")
    _assert_no_password(info.value, password=password)
    _assert_no_password(info.value, password=password[:3])


def test_a_missing_folder_is_a_storage_error_naming_it(tmp_path: Path, drive: Driver) -> None:
    folder = tmp_path / "missing"
    with pytest.raises(StorageError) as info, drive.open(f"sqlite:///{folder}/agent.db"):
        pass
    assert str(folder) in str(info.value)
    assert not folder.exists()


@pytest.mark.parametrize("kind", ["a folder", "under a file"])
def test_an_unopenable_path_is_a_storage_error_naming_it(tmp_path: Path, drive: Driver, kind: str) -> None:
    # the tests may run as root, which ignores file modes: use paths no one can open as a file
    (tmp_path / "file").write_text("not a folder")
    path = tmp_path if kind == "a folder" else tmp_path / "file" / "agent.db"
    with pytest.raises(StorageError) as info, drive.open(f"sqlite:///{path}"):
        pass
    assert str(path.parent if kind == "under a file" else path) in str(info.value)
    assert (tmp_path / "file").read_text() == "not a folder"


def test_a_closed_saver_says_so(
    saver_url: str, backend: str, drive: Driver, request: pytest.FixtureRequest
) -> None:
    with drive.open(saver_url) as saver:
        pass
    with pytest.raises(StorageError, match="closed"):
        drive(saver.get_tuple, thread("t1"))


# --- the database itself -------------------------------------------------------------------------


def test_a_newer_schema_version_is_refused_and_kept(tmp_path: Path, drive: Driver) -> None:
    path = tmp_path / "agent.db"
    url = f"sqlite:///{path}"
    with drive.open(url) as saver:
        stored_graph(drive, saver)
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO graphsaver_migrations (version, name, applied_at) VALUES (999, 'future', 'then')"
        )
    before = file_rows(path)
    assert len(before["graphsaver_checkpoints"]) == 5

    with pytest.raises(SchemaVersionError) as info, drive.open(url):
        pass
    message = str(info.value)
    assert "999" in message and str(path) in message and "upgrade" in message

    assert file_rows(path) == before
    with sqlite3.connect(path) as raw:
        versions = [row[0] for row in raw.execute("SELECT version FROM graphsaver_migrations ORDER BY 1")]
    assert versions[-1] == 999 and len(versions) >= 2


def _corrupt_setup(drive: Driver, path: Path) -> tuple[Any, list[Any]]:
    with drive.open(f"sqlite:///{path}") as saver:
        graph = stored_graph(drive, saver)
        drive(graph.invoke, {"trail": ["other"]}, thread("t2"))
        history = drive(graph.get_state_history, thread("t1"))
    return graph, history


@pytest.mark.parametrize("garbage", [b"\xc1\xc1\xc1 not msgpack", b"", b"\x92\x01"])
def test_a_corrupt_blob_names_thread_checkpoint_and_channel(
    tmp_path: Path, drive: Driver, garbage: bytes
) -> None:
    path = tmp_path / "agent.db"
    _graph, history = _corrupt_setup(drive, path)
    latest = history[0].config
    with sqlite3.connect(path) as raw:
        versions = raw.execute(
            "SELECT channel_versions FROM graphsaver_checkpoints WHERE thread_id = 't1' AND checkpoint_id = ?",
            (latest["configurable"]["checkpoint_id"],),
        ).fetchone()[0]
        import json

        version = json.loads(versions)["trail"]
        changed = raw.execute(
            "UPDATE graphsaver_blobs SET data = ? WHERE thread_id = 't1' AND channel = 'trail' AND version = ?",
            (garbage, version),
        ).rowcount
    assert changed == 1
    before = file_rows(path)

    with drive.open(f"sqlite:///{path}") as saver:
        with pytest.raises(CorruptDataError) as info:
            drive(saver.get_tuple, latest)
        message = str(info.value)
        assert (
            "'t1'" in message and latest["configurable"]["checkpoint_id"] in message and "'trail'" in message
        )
        with pytest.raises(CorruptDataError):
            drive(saver.list, thread("t1"))
        # the rest of the thread and the other threads still read
        assert drive(saver.get_tuple, history[1].config).checkpoint["channel_values"]["trail"] == [
            "x",
            "a",
            "b",
        ]
        assert drive(saver.get_tuple, thread("t2")).checkpoint["channel_values"]["trail"] == [
            "other",
            "a",
            "b",
            "c",
        ]
    assert file_rows(path) == before


def test_a_corrupt_list_base_names_the_checkpoint_that_needs_it(tmp_path: Path, drive: Driver) -> None:
    """`trail` grows at every step, so later versions may be stored against earlier ones."""
    path = tmp_path / "agent.db"
    _graph, history = _corrupt_setup(drive, path)
    first = history[-2]  # the first checkpoint holding a non-empty trail
    with sqlite3.connect(path) as raw:
        import json

        (versions,) = raw.execute(
            "SELECT channel_versions FROM graphsaver_checkpoints WHERE thread_id = 't1' AND checkpoint_id = ?",
            (first.config["configurable"]["checkpoint_id"],),
        ).fetchone()
        raw.execute(
            "UPDATE graphsaver_blobs SET data = ? WHERE thread_id = 't1' AND channel = 'trail' AND version = ?",
            (b"\xc1", json.loads(versions)["trail"]),
        )
    with drive.open(f"sqlite:///{path}") as saver:
        for snap in history[:-1]:
            try:
                tup = drive(saver.get_tuple, snap.config)
            except CorruptDataError as exc:
                assert snap.config["configurable"]["checkpoint_id"] in str(exc) and "'trail'" in str(exc)
            else:  # stored whole, not against the corrupt version
                assert tup.checkpoint["channel_values"]["trail"] == snap.values["trail"]
        with pytest.raises(CorruptDataError):
            drive(saver.get_tuple, first.config)
        assert drive(saver.get_tuple, thread("t2")).checkpoint["channel_values"]["trail"] == [
            "other",
            "a",
            "b",
            "c",
        ]


def test_a_corrupt_checkpoint_record_names_thread_and_checkpoint(tmp_path: Path, drive: Driver) -> None:
    path = tmp_path / "agent.db"
    _graph, history = _corrupt_setup(drive, path)
    target = history[2].config["configurable"]["checkpoint_id"]
    with sqlite3.connect(path) as raw:
        raw.execute(
            "UPDATE graphsaver_checkpoints SET record = ? WHERE thread_id = 't1' AND checkpoint_id = ?",
            (b"\xc1garbage", target),
        )
    before = file_rows(path)
    with drive.open(f"sqlite:///{path}") as saver:
        with pytest.raises(CorruptDataError) as info:
            drive(saver.get_tuple, history[2].config)
        assert "'t1'" in str(info.value) and target in str(info.value)
        assert drive(saver.get_tuple, thread("t1")).checkpoint["channel_values"]["trail"] == [
            "x",
            "a",
            "b",
            "c",
        ]
        assert len(drive(saver.list, thread("t2"))) == 5
    assert file_rows(path) == before


def test_a_corrupt_pending_write_names_its_channel_and_task(tmp_path: Path, drive: Driver) -> None:
    path = tmp_path / "agent.db"
    with drive.open(f"sqlite:///{path}") as saver:
        config = drive(saver.put, thread("t1", checkpoint_ns=""), empty_checkpoint(), {}, {})
        drive(saver.put_writes, config, [("inbox", "hello"), ("other", 1)], "task-7")
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE graphsaver_writes SET data = ? WHERE channel = 'inbox'", (b"\xc1",))
    with drive.open(f"sqlite:///{path}") as saver:
        with pytest.raises(CorruptDataError) as info:
            drive(saver.get_tuple, config)
        message = str(info.value)
        assert "'inbox'" in message and "'task-7'" in message and "'t1'" in message


# --- values that cannot be stored ----------------------------------------------------------------


def test_an_unserializable_value_stores_nothing(saver_url: str, drive: Driver) -> None:
    with drive.open(saver_url) as saver:
        graph = stored_graph(drive, saver)
        before = snapshot(drive, saver)
        parent = before[0][0]
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"good": 1, "bad": threading.Lock()}
        checkpoint["channel_versions"] = {"good": "9", "bad": "9"}
        with pytest.raises(SerializationError) as info:
            drive(saver.put, parent, checkpoint, {"source": "loop", "step": 9}, {"good": "9", "bad": "9"})
        assert "'bad'" in str(info.value) and "'t1'" in str(info.value)
        assert drive(saver.get_tuple, thread("t1", checkpoint_id=checkpoint["id"])) is None

        with pytest.raises(SerializationError) as info:
            drive(saver.put_writes, parent, [("fine", 1), ("broken", threading.Lock())], "task-x")
        assert "'broken'" in str(info.value) and "'task-x'" in str(info.value)

        with pytest.raises(SerializationError, match="metadata"):
            drive(saver.put, parent, empty_checkpoint(), {"user": threading.Lock()}, {})
        assert snapshot(drive, saver) == before

        # the same through a graph: the failing step leaves the earlier checkpoints as they were
        def bad(state: Any) -> dict[str, Any]:
            return {"trail": [threading.Lock()]}

        from langgraph.graph import END, START, StateGraph

        from tests.graphs import Trail

        builder = StateGraph(Trail)
        builder.add_node("bad", bad)
        builder.add_edge(START, "bad")
        builder.add_edge("bad", END)
        broken = builder.compile(checkpointer=saver)
        with pytest.raises(SerializationError, match="trail"):
            drive(broken.invoke, {"trail": ["ok"]}, thread("t3"))
        assert snapshot(drive, saver)[-5:] == before
        kept = drive(broken.get_state_history, thread("t3"))
        assert all(isinstance(item, str) for s in kept for item in s.values.get("trail", []))
        assert drive(graph.get_state, thread("t1")).values == {"trail": ["x", "a", "b", "c"]}


def test_every_error_is_a_graphsaver_error() -> None:
    for cls in (
        ConfigError,
        InvalidURLError,
        StorageError,
        SchemaVersionError,
        CorruptDataError,
        SerializationError,
        graphsaver.CheckpointNotFoundError,
        graphsaver.ThreadExistsError,
    ):
        assert issubclass(cls, GraphsaverError)
        assert cls.__module__ == "graphsaver"
        assert cls.__doc__
