"""The micro workload: one saver call at a time, through the sync API, per backend.

The store holds one thread with a history of LangGraph-shaped checkpoints, written through the
saver's own `put`: a message list that grows by one message every fifth step (as a conversation
grows between tool steps), a small counter channel that changes every step, and metadata with
`source` "input" on every fifth step (what the filter asks for).
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.base.id import uuid6

from benchmarks.common import Stores, Timings, log
from benchmarks.graph import text
from benchmarks.savers import Contestant

HISTORY_THREAD = "history"
MESSAGE_EVERY = 5

OPS = (
    "put",
    "put_writes",
    "get_tuple_latest",
    "get_tuple_by_id",
    "list_10",
    "list_full",
    "list_filter",
    "list_metadata_10",
)


def message(i: int, size: int = 150) -> Any:
    kind = (HumanMessage, AIMessage)[i % 2]
    return kind(content=text(i, size), id=f"m{i}")


class ThreadWriter:
    """Writes successive LangGraph-shaped checkpoints of one thread through `saver.put`."""

    def __init__(self, saver: Any, thread_id: str, messages: list[Any] | None = None) -> None:
        self.saver = saver
        self.config: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        self.values: dict[str, Any] = {"messages": list(messages or []), "counter": 0}
        self.versions: dict[str, Any] = {}
        self.step = -1
        self.ids: list[str] = []

    def step_once(self, new_message: Any | None) -> str:
        self.step += 1
        changed = ["counter"]
        self.values["counter"] = self.step
        if new_message is not None or "messages" not in self.versions:
            if new_message is not None:
                self.values["messages"] = [*self.values["messages"], new_message]
            changed.append("messages")
        new_versions = {ch: self.saver.get_next_version(self.versions.get(ch), None) for ch in changed}
        self.versions.update(new_versions)
        checkpoint = {
            "v": 4,
            "id": str(uuid6(clock_seq=self.step)),
            "ts": datetime.now(timezone.utc).isoformat(),
            "channel_values": dict(self.values),
            "channel_versions": dict(self.versions),
            "versions_seen": {"agent": dict(self.versions)},
            "updated_channels": changed,
        }
        source = "input" if self.step % MESSAGE_EVERY == 0 else "loop"
        metadata = {"source": source, "step": self.step, "parents": {}}
        self.config = self.saver.put(self.config, checkpoint, metadata, new_versions)
        self.ids.append(checkpoint["id"])
        return str(checkpoint["id"])


def build_history(saver: Any, thread_id: str, steps: int, *, message_every: int = MESSAGE_EVERY) -> list[str]:
    writer = ThreadWriter(saver, thread_id)
    for step in range(steps):
        writer.step_once(message(step) if step % message_every == 0 else None)
    return writer.ids


def _thread(thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


class MicroSubject:
    """One contestant's open saver and the calls the micro workload times on it."""

    def __init__(self, saver: Any, history: int) -> None:
        self.saver = saver
        self.ids = build_history(saver, HISTORY_THREAD, history)
        writes = ThreadWriter(saver, "writes")
        writes.step_once(message(0))
        self.writes_config = writes.config
        self.base_messages = [message(i) for i in range(50)]
        self.round = 0

    def op(self, name: str, calls: int) -> Callable[[], None] | None:
        s, latest, rnd = self.saver, _thread(HISTORY_THREAD), self.round
        middle = self.ids[len(self.ids) // 4 : 3 * len(self.ids) // 4] or self.ids
        if name == "put":
            writer = ThreadWriter(s, f"put-{rnd}", self.base_messages)
            writer.step_once(None)
            return _repeat(calls, lambda i: writer.step_once(message(1000 + i)))
        if name == "put_writes":
            writes = [("messages", ToolMessage(content=text(i, 250), tool_call_id=f"c{i}")) for i in range(3)]
            cfg = self.writes_config
            return _repeat(calls, lambda i: s.put_writes(cfg, writes, f"task-{rnd}-{i}"))
        if name == "get_tuple_latest":
            return _repeat(calls, lambda i: s.get_tuple(latest))
        if name == "get_tuple_by_id":
            configs = [_thread(HISTORY_THREAD, middle[i % len(middle)]) for i in range(calls)]
            return _repeat(calls, lambda i: s.get_tuple(configs[i]))
        if name == "list_10":
            return _repeat(calls, lambda i: list(s.list(latest, limit=10)))
        if name == "list_full":
            return _repeat(calls, lambda i: list(s.list(latest)))
        if name == "list_filter":
            flt = {"source": "input"}
            return _repeat(calls, lambda i: list(s.list(latest, filter=flt, limit=10)))
        if name == "list_metadata_10":
            if not hasattr(s, "list_metadata"):
                return None
            return _repeat(calls, lambda i: list(s.list_metadata(latest, limit=10)))
        raise ValueError(f"unknown micro op {name!r}")


def _repeat(calls: int, fn: Callable[[int], Any]) -> Callable[[], None]:
    def run() -> None:
        for i in range(calls):
            fn(i)

    return run


def calls_for(op: str, calls: int) -> int:
    return 1 if op == "list_full" else calls


def run(
    contestants: list[Contestant], stores: Stores, *, history: int, calls: int, rounds: int
) -> dict[str, Any]:
    """Per op: seconds per call of every contestant in every round, and the medians."""
    import time

    timings = {op: Timings() for op in OPS}
    with contextlib.ExitStack() as stack:
        subjects: dict[str, MicroSubject] = {}
        for c in contestants:
            saver = stack.enter_context(c.open_sync(stores))
            log(f"micro: building {history} checkpoints on {c.name}")
            subjects[c.name] = MicroSubject(saver, history)
        names = list(subjects)
        for r in range(rounds):
            shift = r % len(names)
            order = [*names[shift:], *names[:shift]]
            for op in OPS:
                n = calls_for(op, calls)
                for name in order:
                    subjects[name].round = r
                    fn = subjects[name].op(op, n)
                    if fn is None:
                        continue
                    start = time.perf_counter()
                    fn()
                    timings[op].add(name, (time.perf_counter() - start) / n)
    return {
        "ops": {op: t.to_json() for op, t in timings.items()},
        "median_ms": {
            op: {name: statistics.median(v) * 1e3 for name, v in t.samples.items()}
            for op, t in timings.items()
        },
    }
