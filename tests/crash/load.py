"""Concurrent writers for the concurrency suites (tests/test_concurrency.py, scripts/soak.py).

- `write_chains`: in one process, several threads share one saver; each thread appends a
  chain of checkpoints (each with a pending write) to its own thread id for a while, and the
  process reports what it wrote. `check_chains` reads everything back.
- `race_same_thread`: a real graph invoked over and over on one thread id by several
  processes at once; `check_tree` verifies the resulting history is an intact tree.
- `many_async_runs`: N graph runs at once on one saver from one event loop.

Processes are forked from the caller (multiprocessing's fork context); the caller must not
hold an open saver while it forks.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import operator
import os
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.base import Checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.graph import END, START, StateGraph

from tests import crash

FORK = multiprocessing.get_context("fork")


# --- many threads, different thread ids ---------------------------------------------------------


def make_checkpoint(value: Any, version: str) -> Checkpoint:
    return {
        "v": 4,
        "id": str(uuid6()),
        "ts": datetime.now(timezone.utc).isoformat(),
        "channel_values": {"value": value},
        "channel_versions": {"value": version},
        "versions_seen": {},
        "updated_channels": ["value"],
    }


def write_chains(url: str, label: str, n_threads: int, seconds: float, out: str) -> None:
    """In this process: `n_threads` threads write chains to thread ids `<label>-<i>`."""
    written: dict[str, list[str]] = {}
    errors: list[str] = []
    latencies: list[float] = []
    with crash.connect(url) as saver:

        def chain(thread_id: str) -> None:
            ids: list[str] = []
            written[thread_id] = ids
            config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
            version: str | None = None
            deadline = time.monotonic() + seconds
            seq = 0
            while time.monotonic() < deadline:
                try:
                    version = saver.get_next_version(version, None)
                    checkpoint = make_checkpoint({"thread": thread_id, "seq": seq}, version)
                    start = time.monotonic()
                    config = saver.put(
                        config, checkpoint, {"step": seq, "source": "loop"}, {"value": version}
                    )
                    saver.put_writes(config, [("value", seq)], f"task-{seq}")
                    latencies.append(time.monotonic() - start)
                    ids.append(checkpoint["id"])
                    seq += 1
                except Exception as exc:
                    errors.append(f"{thread_id}: {type(exc).__name__}: {exc}")
                    return

        threads = [threading.Thread(target=chain, args=(f"{label}-{i}",)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    latencies.sort()
    with open(out, "w") as f:
        json.dump(
            {
                "written": written,
                "errors": errors,
                "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
                "max_ms": 1000 * latencies[-1] if latencies else None,
            },
            f,
        )


def run_processes(target: Callable[..., None], args_per_process: list[tuple[Any, ...]]) -> list[int]:
    procs = [FORK.Process(target=_guarded, args=(target, args)) for args in args_per_process]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
    return [p.exitcode if p.exitcode is not None else -999 for p in procs]


def _guarded(target: Callable[..., None], args: tuple[Any, ...]) -> None:
    try:
        target(*args)
    except BaseException:
        traceback.print_exc()
        os._exit(1)


def chains_in_processes(
    url: str, workdir: str, processes: int, threads: int, seconds: float
) -> dict[str, Any]:
    """Run `write_chains` in several processes, then read every checkpoint back."""
    outs = [os.path.join(workdir, f"chains-{p}.json") for p in range(processes)]
    codes = run_processes(write_chains, [(url, f"p{p}", threads, seconds, outs[p]) for p in range(processes)])
    written: dict[str, list[str]] = {}
    errors: list[str] = [f"process {i} exited with {c}" for i, c in enumerate(codes) if c != 0]
    p99 = []
    for out in outs:
        if os.path.exists(out):
            with open(out) as f:
                report = json.load(f)
            written.update(report["written"])
            errors += report["errors"]
            p99.append(report["max_ms"] or 0)
    lost = check_chains(url, written)
    return {
        "processes": processes,
        "threads_per_process": threads,
        "seconds": seconds,
        "checkpoints": sum(len(v) for v in written.values()),
        "errors": errors,
        "lost": lost,
        "max_put_ms": round(max(p99, default=0), 1),
    }


def check_chains(url: str, written: dict[str, list[str]]) -> list[str]:
    """Each thread holds exactly what was written, every value and write reads back right."""
    problems = []
    with crash.connect(url) as saver:
        for thread_id, ids in written.items():
            stored = {
                t.config["configurable"]["checkpoint_id"]: t
                for t in saver.list({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
            }
            if set(stored) != set(ids):
                problems.append(
                    f"{thread_id}: {len(set(ids) - set(stored))} lost, {len(set(stored) - set(ids))} extra"
                )
            for seq, cid in enumerate(ids):
                tup = stored.get(cid)
                if tup is None:
                    continue
                if tup.checkpoint["channel_values"].get("value") != {"thread": thread_id, "seq": seq}:
                    problems.append(f"{thread_id} {cid}: wrong value {tup.checkpoint['channel_values']}")
                if tup.pending_writes != [(f"task-{seq}", "value", seq)]:
                    problems.append(f"{thread_id} {cid}: wrong writes {tup.pending_writes}")
                parent = tup.parent_config["configurable"]["checkpoint_id"] if tup.parent_config else None
                if parent != (ids[seq - 1] if seq else None):
                    problems.append(f"{thread_id} {cid}: wrong parent {parent}")
    return problems


# --- one thread id, several writers ------------------------------------------------------------


class Counter(TypedDict, total=False):
    count: int
    log: Annotated[list[str], operator.add]


def counter_graph() -> StateGraph:
    def inc(state: Counter) -> dict[str, Any]:
        return {"count": state.get("count", 0) + 1, "log": ["inc"]}

    g = StateGraph(Counter)
    g.add_node("inc", inc)
    g.add_edge(START, "inc")
    g.add_edge("inc", END)
    return g


def invoke_repeatedly(url: str, thread_id: str, n: int, out: str) -> None:
    """Invoke the counter graph `n` times on one thread; report the checkpoints this process put."""
    mine: list[str] = []
    errors: list[str] = []
    with crash.connect(url) as saver:
        real_put = saver.put

        def put(*args: Any) -> Any:
            result = real_put(*args)
            mine.append(result["configurable"]["checkpoint_id"])
            return result

        saver.put = put  # type: ignore[method-assign]
        graph = counter_graph().compile(checkpointer=saver)
        for _ in range(n):
            try:
                graph.invoke({"log": []}, {"configurable": {"thread_id": thread_id}})
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
    with open(out, "w") as f:
        json.dump({"mine": mine, "errors": errors}, f)


def race_same_thread(url: str, workdir: str, processes: int, invocations: int) -> dict[str, Any]:
    thread_id = "contended"
    with crash.connect(url) as saver:  # one run first, so every racer starts from one root
        counter_graph().compile(checkpointer=saver).invoke(
            {"log": []}, {"configurable": {"thread_id": thread_id}}
        )
    outs = [os.path.join(workdir, f"race-{p}.json") for p in range(processes)]
    codes = run_processes(
        invoke_repeatedly, [(url, thread_id, invocations, outs[p]) for p in range(processes)]
    )
    errors = [f"process {i} exited with {c}" for i, c in enumerate(codes) if c != 0]
    mine: list[str] = []
    for out in outs:
        with open(out) as f:
            report = json.load(f)
        mine += report["mine"]
        errors += report["errors"]
    result = check_tree(url, thread_id, mine)
    result["errors"] = errors
    result["processes"] = processes
    result["invocations_per_process"] = invocations
    return result


def check_tree(url: str, thread_id: str, expected_ids: list[str]) -> dict[str, Any]:
    """The thread's checkpoints form one tree holding every expected checkpoint, all readable."""
    problems: list[str] = []
    with crash.connect(url) as saver:
        tuples = list(saver.list({"configurable": {"thread_id": thread_id}}))
        by_id = {t.config["configurable"]["checkpoint_id"]: t for t in tuples}
        latest = saver.get_tuple({"configurable": {"thread_id": thread_id}})
    problems += [f"lost checkpoint {cid}" for cid in expected_ids if cid not in by_id]
    children: dict[str | None, int] = {}
    for cid, t in by_id.items():
        parent = t.parent_config["configurable"]["checkpoint_id"] if t.parent_config else None
        if parent is not None and parent not in by_id:
            problems.append(f"checkpoint {cid} has a missing parent {parent}")
        children[parent] = children.get(parent, 0) + 1
        if not isinstance(t.checkpoint["channel_values"].get("log", []), list):
            problems.append(f"checkpoint {cid} has an unreadable value")
    if children.get(None, 0) != 1:
        problems.append(f"{children.get(None, 0)} roots")
    if latest is None or latest.config["configurable"]["checkpoint_id"] != max(by_id):
        problems.append("the latest checkpoint is not the one with the greatest id")
    return {
        "checkpoints": len(by_id),
        "branch_points": sum(1 for p, n in children.items() if p is not None and n > 1),
        "final_count": (latest.checkpoint["channel_values"].get("count") if latest else None),
        "problems": problems,
    }


# --- many async runs through one saver ---------------------------------------------------------


async def many_async_runs(url: str, runs: int) -> dict[str, Any]:
    """`runs` graph runs at once, each on its own thread, through one saver."""
    problems: list[str] = []
    async with crash.connect(url) as saver:
        graph = counter_graph().compile(checkpointer=saver)

        async def one(i: int) -> None:
            config = {"configurable": {"thread_id": f"async-{i}"}}
            for _ in range(2):
                await graph.ainvoke({"log": []}, config)

        outcomes = await asyncio.gather(*(one(i) for i in range(runs)), return_exceptions=True)
        problems += [f"run {i}: {o!r}" for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
        for i in range(runs):
            config = {"configurable": {"thread_id": f"async-{i}"}}
            state = await graph.aget_state(config)
            if state.values != {"count": 2, "log": ["inc"] * 2}:
                problems.append(f"thread async-{i}: {state.values}")
            n = len([t async for t in saver.alist(config)])
            if n != 6:  # 3 checkpoints per invocation: input, start, after the node
                problems.append(f"thread async-{i}: {n} checkpoints, expected 6")
    return {"runs": runs, "problems": problems}
