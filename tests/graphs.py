"""Shared helpers of the behaviour tests: a sync/async driver and small LangGraph graphs.

`Driver` lets one test body run in both worlds: `drive(graph.invoke, inputs, config)` calls
`graph.invoke` in sync mode and awaits `graph.ainvoke` on the driver's event loop in async
mode (the `a`-prefixed twin of any saver or graph method). Iterators (`list`,
`get_state_history`) come back as lists. `drive.open(url)` opens the saver with `with` or
`async with` accordingly, so the async mode exercises the async face end to end on one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt

import graphsaver

MODES = ["sync", "async"]


class Driver:
    """Runs saver and graph methods in sync mode or on one event loop in async mode."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.loop = asyncio.new_event_loop() if mode == "async" else None

    def __call__(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.loop is None:
            result = method(*args, **kwargs)
            return list(result) if isinstance(result, Iterator) else result
        twin = getattr(method.__self__, "a" + method.__name__)  # type: ignore[attr-defined]
        result = twin(*args, **kwargs)
        if hasattr(result, "__aiter__"):
            return self.loop.run_until_complete(_collect(result))
        return self.loop.run_until_complete(result)

    @contextlib.contextmanager
    def open(self, url: str, **options: Any) -> Iterator[graphsaver.GraphsaverSaver]:
        saver = graphsaver.connect(url, **options)
        if self.loop is None:
            with saver as opened:
                yield opened
            return
        opened = self.loop.run_until_complete(saver.__aenter__())
        try:
            yield opened
        finally:
            self.loop.run_until_complete(saver.__aexit__(None, None, None))

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


def thread(thread_id: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, **extra}}


class Calls:
    """A thread-safe execution counter: parallel tasks run on several threads."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hit(self, name: str) -> int:
        with self._lock:
            self.counts[name] += 1
            return self.counts[name]

    def __getitem__(self, name: str) -> int:
        return self.counts[name]


# --- graphs --------------------------------------------------------------------------------------


class Trail(TypedDict):
    trail: Annotated[list[str], operator.add]


def linear(calls: Calls, names: str = "abc") -> StateGraph:
    """START -> a -> b -> c -> END; each node appends its name to `trail`."""

    def step(name: str) -> Callable[[Trail], dict[str, Any]]:
        def run(state: Trail) -> dict[str, Any]:
            calls.hit(name)
            return {"trail": [name]}

        return run

    builder = StateGraph(Trail)
    previous = START
    for name in names:
        builder.add_node(name, step(name))
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder


class Asked(TypedDict, total=False):
    trail: Annotated[list[str], operator.add]
    answer: str


def asking(calls: Calls) -> StateGraph:
    """START -> prepare -> ask (interrupts with a question) -> finish -> END."""

    def prepare(state: Asked) -> dict[str, Any]:
        calls.hit("prepare")
        return {"trail": ["prepare"]}

    def ask(state: Asked) -> dict[str, Any]:
        calls.hit("ask")
        answer = interrupt({"question": "name?"})
        return {"trail": ["ask"], "answer": answer}

    def finish(state: Asked) -> dict[str, Any]:
        calls.hit("finish")
        return {"trail": [f"hello {state['answer']}"]}

    builder = StateGraph(Asked)
    builder.add_node("prepare", prepare)
    builder.add_node("ask", ask)
    builder.add_node("finish", finish)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "ask")
    builder.add_edge("ask", "finish")
    builder.add_edge("finish", END)
    return builder


class Outer(TypedDict, total=False):
    trail: Annotated[list[str], operator.add]
    inner: list[str]


class Inner(TypedDict, total=False):
    inner: Annotated[list[str], operator.add]


def nested(calls: Calls, *, ask: bool = False) -> StateGraph:
    """START -> before -> sub (a compiled subgraph: inner_a -> inner_b) -> after -> END.

    The outer nodes append to `trail`, the subgraph's to its own `inner` list. With `ask`,
    inner_b interrupts and appends the answer it is resumed with.
    """

    def inner_a(state: Inner) -> dict[str, Any]:
        calls.hit("inner_a")
        return {"inner": ["inner_a"]}

    def inner_b(state: Inner) -> dict[str, Any]:
        calls.hit("inner_b")
        if ask:
            return {"inner": [f"inner_b:{interrupt('inner?')}"]}
        return {"inner": ["inner_b"]}

    inner = StateGraph(Inner)
    inner.add_node("inner_a", inner_a)
    inner.add_node("inner_b", inner_b)
    inner.add_edge(START, "inner_a")
    inner.add_edge("inner_a", "inner_b")
    inner.add_edge("inner_b", END)

    def before(state: Outer) -> dict[str, Any]:
        calls.hit("before")
        return {"trail": ["before"]}

    def after(state: Outer) -> dict[str, Any]:
        calls.hit("after")
        return {"trail": ["after"]}

    outer = StateGraph(Outer)
    outer.add_node("before", before)
    outer.add_node("sub", inner.compile())
    outer.add_node("after", after)
    outer.add_edge(START, "before")
    outer.add_edge("before", "sub")
    outer.add_edge("sub", "after")
    outer.add_edge("after", END)
    return outer


class Work(TypedDict, total=False):
    items: list[int]
    done: Annotated[list[int], operator.add]
    total: int


def fan_out(calls: Calls, fail_once: set[int]) -> StateGraph:
    """One `work` task per item (Send); items in `fail_once` raise on their first run."""

    def plan(state: Work) -> dict[str, Any]:
        calls.hit("plan")
        return {}

    def spread(state: Work) -> list[Send]:
        return [Send("work", {"items": [item]}) for item in state["items"]]

    def work(state: Work) -> dict[str, Any]:
        (item,) = state["items"]
        if calls.hit(f"work{item}") == 1 and item in fail_once:
            time.sleep(0.2)  # let the other tasks finish and save their writes first
            raise RuntimeError(f"item {item} failed")
        return {"done": [item * 10]}

    def gather(state: Work) -> dict[str, Any]:
        calls.hit("gather")
        return {"total": sum(state["done"])}

    builder = StateGraph(Work)
    builder.add_node("plan", plan)
    builder.add_node("work", work)
    builder.add_node("gather", gather)
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", spread, ["work"])
    builder.add_edge("work", "gather")
    builder.add_edge("gather", END)
    return builder


def parallel_edges(calls: Calls, failing: str) -> StateGraph:
    """START -> left, middle, right (parallel) -> join; `failing` raises on its first run."""

    def branch(name: str) -> Callable[[Trail], dict[str, Any]]:
        def run(state: Trail) -> dict[str, Any]:
            if calls.hit(name) == 1 and name == failing:
                time.sleep(0.2)  # let the other branches finish and save their writes first
                raise RuntimeError(f"{name} failed")
            return {"trail": [name]}

        return run

    def join(state: Trail) -> dict[str, Any]:
        calls.hit("join")
        return {"trail": ["join"]}

    builder = StateGraph(Trail)
    for name in ("left", "middle", "right"):
        builder.add_node(name, branch(name))
        builder.add_edge(START, name)
        builder.add_edge(name, "join")
    builder.add_node("join", join)
    builder.add_edge("join", END)
    return builder
