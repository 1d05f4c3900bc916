"""graphsaver as the checkpointer of LangGraph's API server, end to end.

A real `langgraph dev` server (langgraph-api, in-memory runtime) runs tests/apiserver/agent.py
with `"checkpointer": {"path": "graphsaver.server.checkpointer"}` on SQLite and PostgreSQL.
Through the server's SDK the test runs a thread, forks it, copies it, rolls a run back, prunes
and deletes it, and checks each outcome both through the API and in the store itself: the
server's wrapper mints its own channel versions, adds its metadata keys, and calls
`acopy_thread`, `adelete_for_runs` and `adelete_thread`. The server's wrapper also runs in
process, on every backend, for what the dev runtime does not call (`aprune(keep_latest)`), and
every async method runs under the blocking-call detector the dev server uses.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if sys.version_info < (3, 11):  # langgraph-cli[inmem] installs the server only there
    pytest.skip("LangGraph's API server (langgraph-api) needs Python 3.11 or newer", allow_module_level=True)

from blockbuster import blockbuster_ctx
from langgraph_sdk import get_sync_client  # with langgraph-cli[inmem], a dev dependency

import graphsaver
from graphsaver import history as history_api
from graphsaver.errors import ConfigError
from graphsaver.server import checkpointer
from graphsaver.storage.sqlite import engine
from tests.graphs import Calls, linear

APP = Path(__file__).parent / "apiserver"
SERVER_VERSION = re.compile(r"^\d{32}\.\d\.\d{16}$")  # what the server's wrapper mints


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def api_server(url: str, folder: Path) -> Iterator[str]:
    """`langgraph dev` on a free port, its checkpoints kept by graphsaver at `url`."""
    for name in ("agent.py", "langgraph.json"):
        shutil.copy(APP / name, folder / name)
    port = _free_port()
    cli = Path(sys.executable).parent / "langgraph"
    env = {**os.environ, "GRAPHSAVER_URL": url, "LANGSMITH_TRACING": "false"}
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(cli), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ok", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"langgraph dev did not start:\n{(folder / 'server.log').read_text()[-3000:]}"
                )
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _stored(url: str, thread_id: str) -> list[Any]:
    """The thread's checkpoints as graphsaver itself reads them from the store, newest first."""
    with graphsaver.connect(url) as saver:
        return list(saver.list({"configurable": {"thread_id": thread_id}}))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])  # memory://: the next test
def test_langgraph_api_server_keeps_its_threads_in_graphsaver(saver_url: str, tmp_path: Path) -> None:
    url = saver_url
    with api_server(url, tmp_path) as base:
        client = get_sync_client(url=base)
        thread = client.threads.create()["thread_id"]
        runs = [client.runs.wait(thread, "agent", input={"items": [f"in-{i}"]}) for i in range(3)]
        assert runs[-1] == {
            "items": ["in-0", "item-0", "in-1", "item-1", "in-2", "item-2"],
            "count": 3,
        }

        # Every checkpoint the server shows is one graphsaver stored, with the server's
        # versions and metadata.
        history = client.threads.get_history(thread, limit=100)
        stored = _stored(url, thread)
        assert [h["checkpoint_id"] for h in history] == [
            t.config["configurable"]["checkpoint_id"] for t in stored
        ]
        assert len(stored) == 9  # 3 runs x (input, __start__ ... step): LangGraph's count
        newest = stored[0]
        assert newest.checkpoint["channel_values"]["count"] == 3
        assert newest.metadata["graph_id"] == "agent"
        assert newest.metadata["thread_id"] == thread
        assert newest.metadata["run_id"]
        versions = [str(v) for t in stored for v in t.checkpoint["channel_versions"].values()]
        assert versions and all(SERVER_VERSION.match(v) for v in versions), versions[:3]

        # A fork: state updated at an older checkpoint becomes a child of it.
        base_id = history[3]["checkpoint_id"]
        forked = client.threads.update_state(thread, {"count": 100}, checkpoint_id=base_id)
        fork_id = forked["checkpoint"]["checkpoint_id"]
        state = client.threads.get_state(thread)
        assert state["checkpoint"]["checkpoint_id"] == fork_id
        assert state["values"] == {"items": ["in-0", "item-0", "in-1", "item-1"], "count": 100}
        fork = next(t for t in _stored(url, thread) if t.config["configurable"]["checkpoint_id"] == fork_id)
        assert fork.parent_config is not None
        assert fork.parent_config["configurable"]["checkpoint_id"] == base_id

        # A copy (acopy_thread): the whole history under the new thread, the original intact.
        copy = client.threads.copy(thread)["thread_id"]
        copied = _stored(url, copy)
        assert len(copied) == 10
        assert client.threads.get_state(copy)["values"] == state["values"]
        assert len(_stored(url, thread)) == 10

        # A rollback (adelete_for_runs): the cancelled run leaves no checkpoint behind.
        slow = client.runs.create(thread, "agent", input={"items": ["slow"]})
        deadline = time.monotonic() + 60
        while not any(t.metadata.get("run_id") == slow["run_id"] for t in _stored(url, thread)):
            assert time.monotonic() < deadline, "the slow run stored no checkpoint"
            time.sleep(0.2)
        fast = client.runs.create(thread, "agent", input={"items": ["after"]}, multitask_strategy="rollback")
        client.runs.join(thread, fast["run_id"])
        after = _stored(url, thread)
        assert not [t for t in after if t.metadata.get("run_id") == slow["run_id"]]
        assert after[0].metadata["run_id"] == fast["run_id"]
        assert after[0].checkpoint["channel_values"]["items"][-2:] == ["after", "item-100"]

        # Prune and delete (adelete_thread): the thread is gone, then its copy. (The dev
        # runtime answers prune's keep_latest with 422; the deployed runtime calls `aprune`,
        # which the contract tests cover.)
        client.threads.prune([thread], strategy="delete")
        assert _stored(url, thread) == []
        assert len(_stored(url, copy)) == 10
        client.threads.delete(copy)
        assert _stored(url, copy) == []


@pytest.mark.timeout(300)
def test_langgraph_api_server_on_an_in_memory_store(tmp_path: Path) -> None:
    """memory:// serves the server's whole life (checked through the API: the store is the
    server process's own)."""
    with api_server("memory://", tmp_path) as base:
        client = get_sync_client(url=base)
        thread = client.threads.create()["thread_id"]
        for i in range(2):
            client.runs.wait(thread, "agent", input={"items": [f"in-{i}"]})
        history = client.threads.get_history(thread, limit=100)
        assert [h["metadata"]["step"] for h in history] == [4, 3, 2, 1, 0, -1]
        assert history[0]["values"] == {"items": ["in-0", "item-0", "in-1", "item-1"], "count": 2}
        copy = client.threads.copy(thread)["thread_id"]
        assert len(client.threads.get_history(copy, limit=100)) == 6
        assert client.threads.get_state(copy)["values"] == history[0]["values"]


async def test_the_server_checkpointer_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAPHSAVER_URL", raising=False)
    with pytest.raises(ConfigError, match="GRAPHSAVER_URL"):
        async with checkpointer():
            pass


async def test_server_options_reach_the_saver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRAPHSAVER_URL", f"sqlite:///{tmp_path}/cp.db")
    monkeypatch.setenv("GRAPHSAVER_OPTIONS", '{"synchronous": "FULL", "busy_timeout": 5}')
    async with checkpointer() as saver:
        conn = saver._engine._conn  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("{max_size: 20}", "GRAPHSAVER_OPTIONS is not valid JSON"),
        ("[20]", "GRAPHSAVER_OPTIONS must be a JSON object"),
        ('{"max_sise": 20}', "GRAPHSAVER_OPTIONS: .*max_sise"),
        ('{"setup": false}', "GRAPHSAVER_OPTIONS cannot set 'setup'"),
    ],
)
async def test_bad_server_options_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, options: str, message: str
) -> None:
    monkeypatch.setenv("GRAPHSAVER_URL", f"sqlite:///{tmp_path}/cp.db")
    monkeypatch.setenv("GRAPHSAVER_OPTIONS", options)
    with pytest.raises(ConfigError, match=message):
        async with checkpointer():
            pass


async def test_every_entry_in_a_process_shares_one_saver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHSAVER_URL", "memory://")
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    async with checkpointer() as first:
        async with checkpointer() as second:
            assert second is first  # one in-memory store, not one per event loop
            from langgraph.checkpoint.base import empty_checkpoint

            await first.aput(config, empty_checkpoint(), {"source": "input", "step": -1}, {})
        assert (await second.aget_tuple(config)) is not None  # still open: one user left
    with pytest.raises(graphsaver.errors.StorageError, match="closed"):
        await first.aget_tuple(config)  # the last user closed it


async def test_async_calls_never_block_the_event_loop(
    saver_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LangGraph's dev server fails a run that makes a blocking call (a SQLite call, a socket
    read) on its event loop; blockbuster is the tool it checks with."""
    monkeypatch.setattr(engine, "MAX_DEFERRED", 5)  # the in-memory queue runs into SQLite often

    builder = linear(Calls(), "ab")
    config = {"configurable": {"thread_id": "t"}}
    saver = graphsaver.connect(saver_url, setup=False)  # opening a file or pool is not a run's work
    async with saver:
        await saver.asetup()
        graph = builder.compile(checkpointer=saver)
        with blockbuster_ctx():
            for turn in range(4):
                await graph.ainvoke({"trail": [f"in-{turn}"]}, config)
            history = [t async for t in saver.alist(config)]
            oldest = await saver.aget_tuple(history[-1].config)
            assert oldest is not None and oldest.checkpoint["channel_values"] == {
                "__start__": {"trail": ["in-0"]}
            }
            state = await graph.aget_state(config)
            assert state.values["trail"][-3:] == ["in-3", "a", "b"]
            page = await history_api.athreads(saver)
            steps = await history_api.ahistory(saver, "t")
            snap = await history_api.asnapshot(saver, "t")
            fork = await history_api.afork(saver, "t", history[4].checkpoint["id"], new_thread_id="f")
            diff = await history_api.adiff(
                saver, "t", history[4].checkpoint["id"], history[0].checkpoint["id"]
            )
            stats = await history_api.astats(saver, ["t"])
            await saver.acopy_thread("t", "copy")
            await saver.aprune(["t"], strategy="keep_latest")
            await saver.adelete_for_runs(["no-such-run"])
            kept = [t async for t in saver.alist(config)]
            copied = [t async for t in saver.alist({"configurable": {"thread_id": "copy"}})]
            await saver.adelete_thread("copy")
            gone = [t async for t in saver.alist({"configurable": {"thread_id": "copy"}})]
    assert len(history) == 16 and len(copied) == 16  # 4 turns x (input, __start__, a, b)
    assert [t.checkpoint["id"] for t in kept] == [history[0].checkpoint["id"]]
    assert gone == []
    assert [t.thread_id for t in page.threads] == ["t"]
    assert len(steps.entries) == 16 and snap.values["trail"][-3:] == ["in-3", "a", "b"]
    assert fork["configurable"]["thread_id"] == "f"
    assert "trail" in {change.channel for change in diff.changes}
    assert stats[0].checkpoints == 16


async def test_the_servers_own_wrapper_prunes_to_the_latest(
    saver_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployed server prunes with `aprune(keep_latest)` (the dev runtime answers 422), through
    the wrapper it puts around a custom checkpointer: run here in process, on every backend."""
    for name, value in {
        "REDIS_URI": "unused",
        "DATABASE_URI": ":memory:",
        "MIGRATIONS_PATH": "__inmem",
        "LANGGRAPH_RUNTIME_EDITION": "inmem",
    }.items():
        monkeypatch.setenv(name, os.environ.get(name, value))
    from langgraph_api._checkpointer._adapter import CheckpointerCapabilities, _CustomCheckpointerAdapter

    builder = linear(Calls(), "a")
    async with graphsaver.connect(saver_url) as saver:
        capabilities = CheckpointerCapabilities.from_type(type(saver))
        assert capabilities.has_adelete_thread and capabilities.has_adelete_for_runs
        assert capabilities.has_acopy_thread and capabilities.has_aprune
        wrapper = _CustomCheckpointerAdapter(saver, capabilities)
        graph = builder.compile(checkpointer=wrapper)
        config: Any = {"configurable": {"thread_id": "t", "assistant_id": "helper"}}
        for turn in range(3):
            await graph.ainvoke({"trail": [f"in-{turn}"]}, config)
        before = [t async for t in saver.alist(config)]
        await wrapper.aprune(["t"], strategy="keep_latest")
        after = [t async for t in saver.alist(config)]
        assert [t.checkpoint["id"] for t in after] == [before[0].checkpoint["id"]]
        assert after[0].checkpoint["channel_values"] == before[0].checkpoint["channel_values"]
        assert after[0].metadata["assistant_id"] == "helper"  # a key the wrapper adds
        versions = [str(v) for v in after[0].checkpoint["channel_versions"].values()]
        assert versions and all(SERVER_VERSION.match(v) for v in versions)
        result = await graph.ainvoke({"trail": ["in-3"]}, config)  # the thread goes on from there
        assert result["trail"] == ["in-0", "a", "in-1", "a", "in-2", "a", "in-3", "a"]
