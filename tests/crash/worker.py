"""The child side of the crash harness: a real LangGraph graph driven to completion.

The graph (`build_graph`) has a planner that fans out to four parallel `work` tasks (Send) and
a static task `a`, a two-node subgraph, a node that interrupts for approval, and a final node.
Every task appends one line `<node> <task id>` to an effects file with fsync, so the parent
can count how many times each task really ran.

`drive` runs the graph on a thread until it is finished, whatever state it starts from: no
checkpoint (start), an interrupt (resume with "ok"), or an unfinished step or unapplied
writes (continue). The
saver's `put` and `put_writes` are wrapped so that the child reports on a pipe, one JSON line
per event, when it enters a call and after the call returned (with what was committed). The
parent uses the "enter" events to kill the child inside those calls, and the "exit" events to
know which checkpoints and writes were committed before the kill.

Run as a process of its own: `python -m tests.crash.worker --url URL --thread T --effects F
--events-fd N [--durability sync|async]` (the fd must be inherited).
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import random
import sys
import threading
import time
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt

from tests import crash

WORK_TASKS = 4
EXPECTED_ITEMS = sorted(["plan", "a", "final", *(f"work{i}" for i in range(WORK_TASKS))])
EXPECTED_STATE = {"items": EXPECTED_ITEMS, "sub_a": "s1", "sub_b": "s2", "approved": "ok", "done": True}


class State(TypedDict, total=False):
    items: Annotated[list[str], operator.add]
    sub_a: str
    sub_b: str
    approved: str
    done: bool


class SubState(TypedDict, total=False):
    sub_a: str
    sub_b: str


def task_id_of(config: RunnableConfig) -> str:
    """The running task's id: the last segment of its checkpoint namespace (`node:<id>`)."""
    ns = config["metadata"]["langgraph_checkpoint_ns"]
    return str(ns.split("|")[-1].split(":", 1)[1])


def record_effect(path: str, node: str, config: RunnableConfig) -> None:
    """The side effect of a task: one durable line in the effects file."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{node} {task_id_of(config)}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def build_graph(effects: str) -> StateGraph:
    def plan(state: State, config: RunnableConfig) -> dict[str, Any]:
        record_effect(effects, "plan", config)
        return {"items": ["plan"]}

    def fan_out(state: State) -> list[Any]:
        return [Send("work", {"n": i}) for i in range(WORK_TASKS)] + ["a"]

    def work(arg: dict[str, int], config: RunnableConfig) -> dict[str, Any]:
        time.sleep(random.uniform(0, 0.004))  # widen the window in which a kill finds tasks running
        record_effect(effects, "work", config)
        return {"items": [f"work{arg['n']}"]}

    def a(state: State, config: RunnableConfig) -> dict[str, Any]:
        record_effect(effects, "a", config)
        return {"items": ["a"]}

    def s1(state: SubState, config: RunnableConfig) -> dict[str, Any]:
        record_effect(effects, "s1", config)
        return {"sub_a": "s1"}

    def s2(state: SubState, config: RunnableConfig) -> dict[str, Any]:
        record_effect(effects, "s2", config)
        return {"sub_b": "s2"}

    def approve(state: State, config: RunnableConfig) -> dict[str, Any]:
        answer = interrupt("approve?")  # the effect comes after: a resumed node reruns up to here
        record_effect(effects, "approve", config)
        return {"approved": answer}

    def final(state: State, config: RunnableConfig) -> dict[str, Any]:
        record_effect(effects, "final", config)
        return {"items": ["final"], "done": True}

    sub = StateGraph(SubState)
    sub.add_node("s1", s1)
    sub.add_node("s2", s2)
    sub.add_edge(START, "s1")
    sub.add_edge("s1", "s2")
    sub.add_edge("s2", END)

    g = StateGraph(State)
    g.add_node("plan", plan)
    g.add_node("work", work)
    g.add_node("a", a)
    g.add_node("sub", sub.compile())
    g.add_node("approve", approve)
    g.add_node("final", final)
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", fan_out, ["work", "a"])
    g.add_edge("work", "sub")
    g.add_edge("a", "sub")
    g.add_edge("sub", "approve")
    g.add_edge("approve", "final")
    g.add_edge("final", END)
    return g


class Events:
    """One JSON line per event on a pipe; writes under PIPE_BUF bytes are atomic."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self._n = 0

    def next_number(self) -> int:
        with self._lock:
            self._n += 1
            return self._n

    def send(self, **event: Any) -> None:
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            os.write(self.fd, line)


def instrument(saver: Any, events: Events) -> None:
    """Wrap the saver's put and put_writes to report entering them and what they committed."""
    real_put, real_put_writes = saver.put, saver.put_writes

    def put(config: RunnableConfig, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        n = events.next_number()
        events.send(e="enter", op="put", n=n)
        result = real_put(config, checkpoint, metadata, new_versions)
        conf = result["configurable"]
        events.send(
            e="exit",
            op="put",
            n=n,
            ns=conf["checkpoint_ns"],
            id=conf["checkpoint_id"],
            versions={k: str(v) for k, v in checkpoint["channel_versions"].items()},
            step=metadata.get("step"),
        )
        return result

    def put_writes(config: RunnableConfig, writes: Any, task_id: str, task_path: str = "") -> None:
        n = events.next_number()
        events.send(e="enter", op="put_writes", n=n)
        real_put_writes(config, writes, task_id, task_path)
        conf = config["configurable"]
        events.send(
            e="exit",
            op="put_writes",
            n=n,
            ns=conf.get("checkpoint_ns", ""),
            id=conf["checkpoint_id"],
            task=task_id,
            channels=[channel for channel, _ in writes],
        )

    saver.put = put
    saver.put_writes = put_writes


def drive(url: str, thread_id: str, effects: str, events_fd: int, durability: str = "sync") -> dict[str, Any]:
    """Run the graph on `thread_id` until it has finished; returns the final state."""
    events = Events(events_fd)
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    with crash.connect(url) as saver:
        instrument(saver, events)
        graph = build_graph(effects).compile(checkpointer=saver)
        for _ in range(20):
            snapshot = graph.get_state(config)
            head = saver.get_tuple(config)
            if head is None:
                graph.invoke({"items": []}, config, durability=durability)  # type: ignore[arg-type]
            elif snapshot.interrupts:
                graph.invoke(Command(resume="ok"), config, durability=durability)  # type: ignore[arg-type]
            elif snapshot.next or head.pending_writes:
                # A crash after a step's writes were saved but before the next checkpoint leaves
                # writes to apply; LangGraph's get_state() then shows no `next`, but invoke(None)
                # applies them and carries on.
                graph.invoke(None, config, durability=durability)  # type: ignore[arg-type]
            else:
                values = dict(snapshot.values)
                events.send(e="finished", values=values)
                return values
    raise RuntimeError(f"thread {thread_id!r} did not finish in 20 invocations")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--thread", required=True)
    parser.add_argument("--effects", required=True)
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("--durability", default="sync", choices=["sync", "async"])
    args = parser.parse_args(argv)
    drive(args.url, args.thread, args.effects, args.events_fd, args.durability)
    return 0


if __name__ == "__main__":
    sys.exit(main())
