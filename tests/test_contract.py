"""The checkpointer contract through the saver's own API, on every backend, sync and async."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    CheckpointTuple,
    empty_checkpoint,
    writes_sort_key,
)
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME, SCHEDULED

import graphsaver
from tests.graphs import MODES, Driver


@pytest.fixture(params=MODES)
def drive(request: pytest.FixtureRequest) -> Iterator[Driver]:
    driver = Driver(request.param)
    yield driver
    driver.close()


@pytest.fixture
def saver(saver_url: str, drive: Driver) -> Iterator[graphsaver.GraphsaverSaver]:
    with drive.open(saver_url) as opened:
        yield opened


class Chain:
    """Puts checkpoints on one thread and namespace the way LangGraph does: each put names
    its parent, carries every channel's current version, and lists the changed ones."""

    def __init__(
        self, drive: Driver, saver: graphsaver.GraphsaverSaver, thread_id: str, ns: str = ""
    ) -> None:
        self.drive, self.saver = drive, saver
        self.config: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
        self.values: dict[str, Any] = {}
        self.versions: dict[str, Any] = {}
        self.configs: list[dict[str, Any]] = []

    def put(
        self, updates: dict[str, Any] | None = None, *, empty: tuple[str, ...] = (), **metadata: Any
    ) -> dict[str, Any]:
        """A new checkpoint: `updates` stored as new channel values, `empty` bumped with no value."""
        new_versions = {}
        for channel in [*(updates or {}), *empty]:
            self.versions[channel] = self.saver.get_next_version(self.versions.get(channel), None)
            new_versions[channel] = self.versions[channel]
        self.values.update(updates or {})
        for channel in empty:
            self.values.pop(channel, None)
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = dict(self.values)
        checkpoint["channel_versions"] = dict(self.versions)
        meta = {"source": "loop", "step": len(self.configs), "parents": {}, **metadata}
        self.config = self.drive(self.saver.put, self.config, checkpoint, meta, new_versions)
        self.configs.append(self.config)
        return self.config

    def fork(self, at: dict[str, Any]) -> Chain:
        """A chain continuing from an earlier checkpoint (its values are read back)."""
        other = Chain(
            self.drive, self.saver, at["configurable"]["thread_id"], at["configurable"]["checkpoint_ns"]
        )
        tup = self.drive(self.saver.get_tuple, at)
        other.config = at
        other.values = dict(tup.checkpoint["channel_values"])
        other.versions = dict(tup.checkpoint["channel_versions"])
        return other


def ids(tuples: list[CheckpointTuple]) -> list[str]:
    return [t.config["configurable"]["checkpoint_id"] for t in tuples]


def cid(config: dict[str, Any]) -> str:
    return str(config["configurable"]["checkpoint_id"])


def thread(thread_id: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, **extra}}


# --- put and get_tuple ---------------------------------------------------------------------------


def test_put_then_get_tuple_round_trips(saver: graphsaver.GraphsaverSaver, drive: Driver) -> None:
    chain = Chain(drive, saver, "t1")
    first = chain.put({"a": 1, "b": [1, 2]}, source="input", step=-1, user="ann")
    second = chain.put({"b": [3]}, run_id="r1")

    latest = drive(saver.get_tuple, thread("t1"))
    assert cid(latest.config) == cid(second)
    assert latest.checkpoint["channel_values"] == {"a": 1, "b": [3]}
    assert latest.checkpoint["channel_versions"] == chain.versions
    assert cid(latest.parent_config) == cid(first)
    assert latest.metadata == {"source": "loop", "step": 1, "parents": {}, "run_id": "r1"}
    assert latest.pending_writes == []

    old = drive(saver.get_tuple, first)
    assert old.checkpoint["channel_values"] == {"a": 1, "b": [1, 2]}
    assert old.metadata == {"source": "input", "step": -1, "parents": {}, "user": "ann"}
    assert old.parent_config is None

    assert drive(saver.get_tuple, thread("t1", checkpoint_id="no-such-checkpoint")) is None
    assert drive(saver.get_tuple, thread("no-such-thread")) is None
    assert drive(saver.get_tuple, thread("t1", checkpoint_ns="no-such-ns")) is None


# --- list: filters, before, limit, ordering ------------------------------------------------------

EVIL = "a'); DROP TABLE graphsaver_checkpoints; --"


@pytest.fixture
def listed(saver: graphsaver.GraphsaverSaver, drive: Driver) -> dict[str, str]:
    """Three checkpoints on t1 with varied metadata, one on t2, one in a namespace of t1."""
    chain = Chain(drive, saver, "t1")
    c1 = chain.put(
        {"x": 1},
        source="input",
        step=-1,
        user="ann",
        score=1.5,
        flag=True,
        nothing=None,
        tags=["a", "b"],
        nested={"k": {"x": 1, "deep": [1, {"y": None}]}},
        count=3,
        **{"weird.key$[0]": 1, 'q"uote': "it's", "ключ": "значение"},
    )
    c2 = chain.put(
        {"x": 2},
        step=0,
        user="bob",
        score=2.5,
        flag=False,
        tags=["b"],
        nested={"k": {"x": 2}},
        count=4,
        **{EVIL: "evil"},
    )
    c3 = chain.put({"x": 3}, step=1, user="ann", count=-7)
    other = Chain(drive, saver, "t2").put({"x": 4}, step=1, user="ann")
    inner = Chain(drive, saver, "t1", ns="sub:1").put({"y": 1}, step=0, user="ann", parents={"": cid(c3)})
    return {"c1": cid(c1), "c2": cid(c2), "c3": cid(c3), "t2": cid(other), "inner": cid(inner)}


FILTERS = [
    ({}, ["inner", "c3", "c2", "c1"]),
    ({"source": "loop"}, ["inner", "c3", "c2"]),
    ({"source": "input"}, ["c1"]),
    ({"step": -1}, ["c1"]),
    ({"step": 0}, ["inner", "c2"]),
    ({"count": -7}, ["c3"]),
    ({"count": 3}, ["c1"]),
    ({"score": 1.5}, ["c1"]),
    ({"score": 2.5}, ["c2"]),
    ({"flag": True}, ["c1"]),
    ({"flag": False}, ["c2"]),
    ({"nothing": None}, ["c1"]),
    ({"user": "ann"}, ["inner", "c3", "c1"]),
    ({"user": "ann", "source": "loop"}, ["inner", "c3"]),
    ({"user": "ann", "step": 1}, ["c3"]),
    ({"tags": ["a", "b"]}, ["c1"]),
    ({"tags": ["b"]}, ["c2"]),  # equality, not containment
    ({"tags": ["b", "a"]}, []),
    ({"nested": {"k": {"x": 1, "deep": [1, {"y": None}]}}}, ["c1"]),
    ({"nested": {"k": {"x": 2}}}, ["c2"]),
    ({"nested": {"k": {}}}, []),
    ({"nested": {"k": {"x": 1}}}, []),  # equality, not containment
    ({"weird.key$[0]": 1}, ["c1"]),
    ({'q"uote': "it's"}, ["c1"]),
    ({"ключ": "значение"}, ["c1"]),
    ({EVIL: "evil"}, ["c2"]),
    ({"user": EVIL}, []),
    ({EVIL: EVIL}, []),
    ({"a' OR '1'='1": "x"}, []),
    ({"user": "nobody"}, []),
    ({"missing": 1}, []),
    ({"parents": {"": "?"}}, []),
]


def test_list_filter_on_metadata(
    saver: graphsaver.GraphsaverSaver, drive: Driver, listed: dict[str, str]
) -> None:
    # one test for all filters: a fresh database per case costs seconds on PostgreSQL
    names = {v: k for k, v in listed.items()}
    wrong = {}
    for filter, expected in FILTERS:
        found = [names[i] for i in ids(drive(saver.list, thread("t1"), filter=filter))]
        if found != expected:
            wrong[repr(filter)] = found
    assert wrong == {}
    # nothing was executed as SQL: every checkpoint is still there
    assert len(drive(saver.list, None)) == 5


def test_list_filter_on_parents_and_across_threads(
    saver: graphsaver.GraphsaverSaver, drive: Driver, listed: dict[str, str]
) -> None:
    inner = drive(saver.list, None, filter={"parents": {"": listed["c3"]}})
    assert ids(inner) == [listed["inner"]]
    anns = drive(saver.list, None, filter={"user": "ann"})
    assert ids(anns) == [listed[n] for n in ("inner", "t2", "c3", "c1")]
    assert ids(drive(saver.list, None, filter={"user": "ann"}, limit=2)) == [listed["inner"], listed["t2"]]


def test_list_before_limit_and_ordering(
    saver: graphsaver.GraphsaverSaver, drive: Driver, listed: dict[str, str]
) -> None:
    root = thread("t1", checkpoint_ns="")
    assert ids(drive(saver.list, root)) == [listed["c3"], listed["c2"], listed["c1"]]
    assert ids(drive(saver.list, root, limit=1)) == [listed["c3"]]
    assert ids(drive(saver.list, root, limit=0)) == []
    before_c3 = thread("t1", checkpoint_id=listed["c3"])
    assert ids(drive(saver.list, root, before=before_c3)) == [listed["c2"], listed["c1"]]
    assert ids(drive(saver.list, root, before=before_c3, limit=1)) == [listed["c2"]]
    assert ids(drive(saver.list, root, before=thread("t1", checkpoint_id=listed["c1"]))) == []
    assert ids(drive(saver.list, root, before=before_c3, filter={"user": "ann"})) == [listed["c1"]]
    # across namespaces of one thread, and across threads, newest first
    assert ids(drive(saver.list, thread("t1"))) == [listed[n] for n in ("inner", "c3", "c2", "c1")]
    assert ids(drive(saver.list, thread("t1", checkpoint_ns="sub:1"))) == [listed["inner"]]
    assert ids(drive(saver.list, None)) == [listed[n] for n in ("inner", "t2", "c3", "c2", "c1")]
    assert ids(drive(saver.list, thread("t2"))) == [listed["t2"]]


def test_list_pages_through_long_threads(saver: graphsaver.GraphsaverSaver, drive: Driver) -> None:
    chain = Chain(drive, saver, "long")
    for i in range(230):
        chain.put({"n": i}, step=i, parity=i % 2)
    expected = [cid(c) for c in reversed(chain.configs)]
    everything = drive(saver.list, thread("long"))
    assert ids(everything) == expected
    assert [t.checkpoint["channel_values"]["n"] for t in everything] == list(range(229, -1, -1))
    assert ids(drive(saver.list, thread("long"), limit=150)) == expected[:150]
    odd = drive(saver.list, thread("long"), filter={"parity": 1}, limit=110)
    assert [t.metadata["step"] for t in odd] == list(range(229, 9, -2))


# --- pending writes ------------------------------------------------------------------------------


def test_pending_writes_follow_writes_sort_key(saver: graphsaver.GraphsaverSaver, drive: Driver) -> None:
    config = Chain(drive, saver, "t1").put({"x": 1})
    drive(saver.put_writes, config, [("c", "b0"), ("c", "b1")], "task-b", "path-a")
    drive(saver.put_writes, config, [("c", "a0")], "task-a", "path-b")
    drive(saver.put_writes, config, [("c", "z0"), (ERROR, "boom"), ("c", "z2")], "task-z", "path-a")
    drive(saver.put_writes, config, [(RESUME, "r"), (INTERRUPT, "i"), (SCHEDULED, "s")], "task-y", "path-a")
    writes = drive(saver.get_tuple, config).pending_writes
    assert writes == [
        ("task-b", "c", "b0"),
        ("task-b", "c", "b1"),
        ("task-y", RESUME, "r"),
        ("task-y", INTERRUPT, "i"),
        ("task-y", SCHEDULED, "s"),
        ("task-z", ERROR, "boom"),
        ("task-z", "c", "z0"),
        ("task-z", "c", "z2"),
        ("task-a", "c", "a0"),  # path-b sorts after path-a although task-a sorts first
    ]
    # list returns the same writes in the same order
    assert drive(saver.list, thread("t1"))[0].pending_writes == writes
    # and that order is writes_sort_key's
    paths = {"task-b": "path-a", "task-a": "path-b", "task-z": "path-a", "task-y": "path-a"}
    idx = {
        ("task-z", ERROR): -1,
        ("task-y", SCHEDULED): -2,
        ("task-y", INTERRUPT): -3,
        ("task-y", RESUME): -4,
    }
    keys = [writes_sort_key(paths[t], t, idx.get((t, ch), 0)) for t, ch, _ in writes]
    assert keys == sorted(keys)


def test_special_writes_replace_regular_writes_are_kept_once(
    saver: graphsaver.GraphsaverSaver, drive: Driver
) -> None:
    chain = Chain(drive, saver, "t1")
    for special in (ERROR, INTERRUPT, RESUME, SCHEDULED):
        config = chain.put({"x": special})
        drive(saver.put_writes, config, [(special, "first")], "task-s")
        drive(saver.put_writes, config, [(special, "second")], "task-s")
        drive(saver.put_writes, config, [("c", "first"), ("d", "first")], "task-r")
        drive(saver.put_writes, config, [("c", "second")], "task-r")
        drive(saver.put_writes, config, [("c", "second"), ("d", "second")], "task-r")
        writes = drive(saver.get_tuple, config).pending_writes
        assert sorted(writes) == sorted(
            [("task-s", special, "second"), ("task-r", "c", "first"), ("task-r", "d", "first")]
        ), special


# --- versioned channel state ---------------------------------------------------------------------


def test_a_put_stores_only_the_channels_whose_version_changed(tmp_path: Any, drive: Driver) -> None:
    path = tmp_path / "blobs.db"

    def blob_rows() -> list[tuple[str, str]]:
        with sqlite3.connect(path) as raw:
            return raw.execute(
                "SELECT channel, version FROM graphsaver_blobs ORDER BY channel, version"
            ).fetchall()

    with drive.open(f"sqlite:///{path}") as saver:
        chain = Chain(drive, saver, "t1")
        first = chain.put({"big": "x" * 1000, "small": 1})
        assert len(blob_rows()) == 2
        second = chain.put({"small": 2})
        third = chain.put({"small": 3})
        rows = blob_rows()
        assert [ch for ch, _ in rows] == ["big", "small", "small", "small"]
        assert drive(saver.get_tuple, first).checkpoint["channel_values"] == {"big": "x" * 1000, "small": 1}
        assert drive(saver.get_tuple, second).checkpoint["channel_values"] == {"big": "x" * 1000, "small": 2}
        assert drive(saver.get_tuple, third).checkpoint["channel_values"] == {"big": "x" * 1000, "small": 3}
        # a put with nothing new stores no blob at all
        chain.put({})
        assert len(blob_rows()) == 4


# --- delete_for_runs, copy_thread, prune ---------------------------------------------------------


def _thread_state(drive: Driver, saver: graphsaver.GraphsaverSaver, thread_id: str) -> list[tuple[Any, ...]]:
    return [
        (
            t.config["configurable"]["checkpoint_ns"],
            cid(t.config),
            t.parent_config and cid(t.parent_config),
            t.checkpoint["channel_values"],
            t.metadata,
            t.pending_writes,
        )
        for t in drive(saver.list, thread(thread_id))
    ]


def test_delete_for_runs(saver: graphsaver.GraphsaverSaver, drive: Driver) -> None:
    chain = Chain(drive, saver, "t1")
    c1 = chain.put({"a": "kept by c3", "b": 1, "log": ["one"]}, run_id="r1")
    drive(saver.put_writes, c1, [("b", 10)], "task-1")
    c2 = chain.put({"b": 2, "log": ["one", "two"]}, run_id="r1")
    c3 = chain.put({"b": 3, "log": ["one", "two", "three"]}, run_id="r2")
    drive(saver.put_writes, c3, [("b", 30)], "task-3")
    other = Chain(drive, saver, "t2")
    other.put({"a": 1}, run_id="r1")
    keep = Chain(drive, saver, "t3")
    keep.put({"a": 1}, run_id="r3")
    kept_before = _thread_state(drive, saver, "t3")

    drive(saver.delete_for_runs, ["r1"])

    assert ids(drive(saver.list, thread("t1"))) == [cid(c3)]
    survivor = drive(saver.get_tuple, c3)
    # c3 reuses the blob of channel "a" written by c1: it must survive c1's deletion
    assert survivor.checkpoint["channel_values"] == {
        "a": "kept by c3",
        "b": 3,
        "log": ["one", "two", "three"],
    }
    assert survivor.pending_writes == [("task-3", "b", 30)]
    assert drive(saver.get_tuple, c1) is None and drive(saver.get_tuple, c2) is None
    assert drive(saver.list, thread("t2")) == []
    assert _thread_state(drive, saver, "t3") == kept_before
    drive(saver.delete_for_runs, [])
    drive(saver.delete_for_runs, ["no-such-run"])
    assert len(drive(saver.list, None)) == 2


def _build_source(drive: Driver, saver: graphsaver.GraphsaverSaver, thread_id: str) -> None:
    chain = Chain(drive, saver, thread_id)
    c1 = chain.put({"a": 1, "b": "x"}, source="input", step=-1)
    drive(saver.put_writes, c1, [("a", 2)], "task-1", "p")
    c2 = chain.put({"a": 2}, run_id="r1")
    drive(saver.put_writes, c2, [(INTERRUPT, "ask"), ("b", "y")], "task-2", "p")
    fork = chain.fork(c1)
    fork.put({"a": 99}, source="update")
    inner = Chain(drive, saver, thread_id, ns="sub:1")
    inner.put({"z": [1]}, parents={"": cid(c2)})


def test_copy_thread_copies_the_whole_chain_with_writes(
    saver: graphsaver.GraphsaverSaver, drive: Driver
) -> None:
    _build_source(drive, saver, "src")
    source = _thread_state(drive, saver, "src")
    assert len(source) == 4

    drive(saver.copy_thread, "src", "dst")

    assert _thread_state(drive, saver, "dst") == source
    assert _thread_state(drive, saver, "src") == source
    copied = drive(saver.list, thread("dst"))
    assert {t.config["configurable"]["thread_id"] for t in copied} == {"dst"}
    assert {t.parent_config["configurable"]["thread_id"] for t in copied if t.parent_config} == {"dst"}
    # the copy is independent: deleting the source leaves it whole
    drive(saver.delete_thread, "src")
    assert _thread_state(drive, saver, "dst") == source
    assert drive(saver.list, thread("src")) == []


def test_copy_thread_into_a_used_thread_changes_nothing(
    saver: graphsaver.GraphsaverSaver, drive: Driver
) -> None:
    _build_source(drive, saver, "src")
    Chain(drive, saver, "dst").put({"mine": True}, owner="me")
    source, target = _thread_state(drive, saver, "src"), _thread_state(drive, saver, "dst")

    with pytest.raises(graphsaver.ThreadExistsError, match="dst"):
        drive(saver.copy_thread, "src", "dst")

    assert _thread_state(drive, saver, "src") == source
    assert _thread_state(drive, saver, "dst") == target


def test_prune_keep_latest_and_delete(saver: graphsaver.GraphsaverSaver, drive: Driver) -> None:
    chain = Chain(drive, saver, "t1")
    first = chain.put({"a": "from the first", "b": 0, "log": [0]})
    for i in range(1, 6):
        config = chain.put({"b": i, "log": list(range(i + 1))})  # a growing list
        drive(saver.put_writes, config, [("b", i * 10)], f"task-{i}")
    inner = Chain(drive, saver, "t1", ns="sub:1")
    inner.put({"z": 1})
    inner_latest = inner.put({"z": 2})
    _build_source(drive, saver, "t2")
    _build_source(drive, saver, "t3")
    untouched = _thread_state(drive, saver, "t3")

    drive(saver.prune, ["t1", "t2"], strategy="keep_latest")

    kept = drive(saver.list, thread("t1"))
    assert ids(kept) == [cid(inner_latest), cid(chain.config)]
    latest = drive(saver.get_tuple, chain.config)
    assert latest.checkpoint["channel_values"] == {"a": "from the first", "b": 5, "log": [0, 1, 2, 3, 4, 5]}
    assert latest.pending_writes == [("task-5", "b", 50)]
    assert drive(saver.get_tuple, inner_latest).checkpoint["channel_values"] == {"z": 2}
    assert drive(saver.get_tuple, first) is None
    assert {t.config["configurable"]["checkpoint_ns"] for t in drive(saver.list, thread("t2"))} == {
        "",
        "sub:1",
    }
    assert len(drive(saver.list, thread("t2"))) == 2
    assert _thread_state(drive, saver, "t3") == untouched

    drive(saver.prune, ["t1"], strategy="delete")
    assert drive(saver.list, thread("t1")) == []
    assert len(drive(saver.list, thread("t2"))) == 2
    assert _thread_state(drive, saver, "t3") == untouched


def test_prune_keeps_the_ancestors_a_delta_channel_needs(
    saver: graphsaver.GraphsaverSaver, drive: Driver
) -> None:
    # (updates, supersteps) = (2, 3): the last snapshot (seed) was taken 3 supersteps ago
    chain = Chain(drive, saver, "t1")
    chain.put({"ch": ["seed-0"]})
    for i in range(1, 8):
        seed = i == 5
        config = chain.put({"ch": [f"seed-{i}"]} if seed else {}, empty=() if seed else ("ch",))
        drive(saver.put_writes, config, [("ch", f"delta-{i}")], f"task-{i}")
    latest = chain.put({}, empty=("ch",), counters_since_delta_snapshot={"ch": [2, 3]})
    before = drive(saver.get_delta_channel_history, config=latest, channels=["ch"])
    assert before["ch"]["seed"] == ["seed-5"]
    assert [w[2] for w in before["ch"]["writes"]] == ["delta-5", "delta-6", "delta-7"]

    drive(saver.prune, ["t1"], strategy="keep_latest")

    kept = ids(drive(saver.list, thread("t1")))
    assert kept == [cid(c) for c in reversed(chain.configs[-5:])]  # the latest and 4 parents
    assert drive(saver.get_delta_channel_history, config=latest, channels=["ch"]) == before
    assert drive(saver.get_tuple, latest).metadata["counters_since_delta_snapshot"] == {"ch": [2, 3]}


# --- get_delta_channel_history -------------------------------------------------------------------


def test_delta_channel_history_matches_the_base_implementation(
    saver: graphsaver.GraphsaverSaver, drive: Driver
) -> None:
    chain = Chain(drive, saver, "t1")
    chain.put({"msgs": ["s0"], "other": 0})
    forked_at = None
    for i in range(1, 9):
        seed = i in (2, 6)
        config = chain.put({"msgs": [f"s{i}"]} if seed else {}, empty=() if seed else ("msgs",))
        drive(saver.put_writes, config, [("msgs", f"m{i}-b"), ("other", i)], "task-b", "path-2")
        drive(saver.put_writes, config, [("msgs", f"m{i}-a"), ("never", i)], "task-a", "path-1")
        if i == 4:
            forked_at = config
    assert forked_at is not None
    branch = chain.fork(forked_at)
    for i in range(5):
        config = branch.put({}, empty=("msgs",))
        drive(saver.put_writes, config, [("msgs", f"branch-{i}")], "task-x", "path-0")
    inner = Chain(drive, saver, "t1", ns="sub:1")
    inner.put({"msgs": ["inner"]})
    inner_config = inner.put({}, empty=("msgs",))
    drive(saver.put_writes, inner_config, [("msgs", "inner-w")], "task-i")

    channels = ["msgs", "other", "never", "missing", "msgs"]
    targets = [
        chain.config,
        chain.configs[5],
        chain.configs[1],
        chain.configs[0],
        branch.config,
        inner_config,
        thread("t1", checkpoint_ns=""),
        thread("no-such-thread", checkpoint_ns=""),
    ]
    for target in targets:
        expected = drive(
            BaseCheckpointSaver.get_delta_channel_history.__get__(saver), config=target, channels=channels
        )
        got = drive(saver.get_delta_channel_history, config=target, channels=channels)
        assert dict(got) == dict(expected), target
    assert drive(saver.get_delta_channel_history, config=chain.config, channels=[]) == {}
    # a sanity check that the comparison is not vacuous
    deep = drive(saver.get_delta_channel_history, config=chain.config, channels=["msgs"])["msgs"]
    assert deep["seed"] == ["s6"]
    assert [w[2] for w in deep["writes"]] == ["m6-a", "m6-b", "m7-a", "m7-b"]


# --- versions ------------------------------------------------------------------------------------


def _counter(version: str) -> int:
    return int(version.split(".", 1)[0])


def test_get_next_version_accepts_every_form_and_increases(saver: graphsaver.GraphsaverSaver) -> None:
    v = saver.get_next_version(None, None)
    assert _counter(v) == 1
    seen = [v]
    for _ in range(50):
        seen.append(saver.get_next_version(seen[-1], None))
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert [_counter(x) for x in seen] == list(range(1, 52))
    assert _counter(saver.get_next_version(7, None)) == 8
    assert _counter(saver.get_next_version(7.0, None)) == 8
    assert _counter(saver.get_next_version("00000000000000000000000000000041.0123", None)) == 42
    assert _counter(saver.get_next_version("12", None)) == 13
    # upstream's own form (a float suffix), and text that only looks numeric ("²" is a digit
    # to str.isdigit, not a number to int)
    assert _counter(saver.get_next_version("00000000000000000000000000000009.0.8444218515250481", None)) == 10
    for foreign in ("abc", "", "v1.2", "-3", "²", "²³.5"):
        assert _counter(saver.get_next_version(foreign, None)) == 1
    # two branches forked from one version get distinct next versions
    assert saver.get_next_version(v, None) != saver.get_next_version(v, None)
