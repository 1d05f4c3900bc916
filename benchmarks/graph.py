"""The graph workload: an agent-like LangGraph run on 8 threads at once, async and sync.

Each turn: a human message; the agent answers with three tool calls; three `Send` tasks run
the tools in parallel, each adding a tool message; a reduce node joins them; the agent answers
again and the turn ends. With the input step that is six supersteps (checkpoints) per turn:
input, __start__, agent, tools, reduce, agent.
"""

from __future__ import annotations

import asyncio
import operator
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Send

SUPERSTEPS_PER_TURN = 6
TOOLS = ("search", "lookup", "calculate")
_LETTERS = random.Random(0)
_VOCABULARY = ["".join(_LETTERS.choices("etaoinshrdlucmfwypvbgk", k=2 + i % 8)) for i in range(2000)]


def text(seed: int, size: int) -> str:
    """Deterministic word salad of `size` characters that compresses about as well as prose."""
    rng = random.Random(seed)
    out = " ".join(rng.choices(_VOCABULARY, k=size // 3 + 1))
    return out[:size]


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    joined: Annotated[int, operator.add]


def agent(state: State) -> dict[str, Any]:
    messages = state["messages"]
    n = len(messages)
    if isinstance(messages[-1], HumanMessage):
        calls = [
            {"name": tool, "args": {"query": text(n + i, 40)}, "id": f"call_{n}_{i}", "type": "tool_call"}
            for i, tool in enumerate(TOOLS)
        ]
        return {"messages": [AIMessage(content=text(n, 120), tool_calls=calls)]}
    return {"messages": [AIMessage(content=text(n, 300))]}


def route(state: State) -> Any:
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.tool_calls:
        return [Send("tool", {"call": call}) for call in last.tool_calls]
    return END


def tool(arg: dict[str, Any]) -> dict[str, Any]:
    call = arg["call"]
    return {"messages": [ToolMessage(content=text(len(call["id"]), 250), tool_call_id=call["id"])]}


def reduce(state: State) -> dict[str, Any]:
    return {"joined": 1}


def build() -> StateGraph:
    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tool", tool)
    builder.add_node("reduce", reduce)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tool", END])
    builder.add_edge("tool", "reduce")
    builder.add_edge("reduce", "agent")
    return builder


def _turn_input(turn: int) -> dict[str, Any]:
    return {"messages": [HumanMessage(content=text(turn, 150))], "joined": 0}


async def run_async(saver: Any, threads: int, turns: int) -> int:
    """Run `threads` conversations of `turns` turns concurrently; returns the supersteps run."""
    graph = build().compile(checkpointer=saver)
    prefix = uuid.uuid4().hex[:8]

    async def conversation(i: int) -> None:
        config = {"configurable": {"thread_id": f"{prefix}-{i}"}}
        for turn in range(turns):
            await graph.ainvoke(_turn_input(turn), config)

    await asyncio.gather(*(conversation(i) for i in range(threads)))
    return threads * turns * SUPERSTEPS_PER_TURN


def run_sync(saver: Any, threads: int, turns: int) -> int:
    """Run `threads` conversations on as many OS threads; returns the supersteps run."""
    graph = build().compile(checkpointer=saver)
    prefix = uuid.uuid4().hex[:8]

    def conversation(i: int) -> None:
        config = {"configurable": {"thread_id": f"{prefix}-{i}"}}
        for turn in range(turns):
            graph.invoke(_turn_input(turn), config)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(conversation, i) for i in range(threads)]:
            future.result()
    return threads * turns * SUPERSTEPS_PER_TURN


def check_supersteps(saver: Any) -> int:
    """The checkpoints one turn makes (the report's supersteps-per-turn claim is checked here)."""
    run_sync(saver, 1, 2)
    threads = {c.config["configurable"]["thread_id"] for c in saver.list(None)}
    (thread,) = threads
    count = len(list(saver.list({"configurable": {"thread_id": thread}})))
    return count // 2


# --- the floor: LangGraph's own cost with a checkpointer ---------------------------------------------


class ReferenceSaver(BaseCheckpointSaver[int]):
    """Keeps references to what LangGraph hands it and serializes nothing: NOT a correct saver
    (a value changed later would change its history too). It measures the floor of the memory
    target, what LangGraph itself spends on checkpointing, as issue 8 defines it."""

    def __init__(self) -> None:
        super().__init__()
        self._latest: dict[tuple[str, str], tuple[Any, Any, Any, Any]] = {}
        self._writes: dict[str, list[tuple[str, str, Any]]] = {}

    def get_tuple(self, config: Any) -> CheckpointTuple | None:
        c = config["configurable"]
        held = self._latest.get((c["thread_id"], c.get("checkpoint_ns", "")))
        if held is None:
            return None
        cfg, checkpoint, metadata, parent = held
        checkpoint = {**checkpoint, "channel_values": dict(checkpoint["channel_values"])}
        writes = self._writes.get(cfg["configurable"]["checkpoint_id"], [])
        return CheckpointTuple(cfg, checkpoint, metadata, parent, list(writes))

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        c = config["configurable"]
        ns = c.get("checkpoint_ns", "")
        cfg = {
            "configurable": {
                "thread_id": c["thread_id"],
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }
        self._latest[(c["thread_id"], ns)] = (cfg, checkpoint, metadata, config)
        return cfg

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        held = self._writes.setdefault(config["configurable"]["checkpoint_id"], [])
        held.extend((task_id, channel, value) for channel, value in writes)

    def get_next_version(self, current: int | None, channel: None = None) -> int:  # type: ignore[override]
        return (current or 0) + 1

    async def aget_tuple(self, config: Any) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        self.put_writes(config, writes, task_id, task_path)


class EncodingReferenceSaver(ReferenceSaver):
    """The floor plus the encoding no correct saver can skip, and nothing else: each changed
    channel value and each write goes through the serializer graphsaver uses, a list only for
    the items it gained since this saver saw it last (as graphsaver's list deltas do). Nothing
    is stored or decoded. The distance from `floor` to this is what serializing costs; from
    this to a saver, what the saver's own bookkeeping and storage cost."""

    def __init__(self) -> None:
        super().__init__()
        from graphsaver.core import codec

        self.serde = codec.default_serde()
        self._lists: dict[tuple[str, str, str], list[Any]] = {}

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        c = config["configurable"]
        values = checkpoint["channel_values"]
        for channel in new_versions:
            if channel not in values:
                continue
            value = values[channel]
            if type(value) is list:
                key = (c["thread_id"], c.get("checkpoint_ns", ""), channel)
                seen = self._lists.get(key, [])
                extends = len(value) > len(seen) and all(map(operator.is_, seen, value))
                for item in value[len(seen) if extends else 0 :]:
                    self.serde.dumps_typed(item)
                self._lists[key] = list(value)
            else:
                self.serde.dumps_typed(value)
        return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        for _channel, value in writes:
            self.serde.dumps_typed(value)
        super().put_writes(config, writes, task_id, task_path)


FLOORS = {"floor": ReferenceSaver, "floor-encode": EncodingReferenceSaver}


# --- timed runs and round-trip counts --------------------------------------------------------------


def timed_runs(
    contestants: list[Any],
    stores: Any,
    *,
    mode: str,
    threads: int,
    turns: int,
    rounds: int,
    floors: bool = True,
) -> Any:
    """Seconds per run, round-robin, of the graph with no checkpointer, with the floors
    (`ReferenceSaver`, `EncodingReferenceSaver`) and with each contestant (only the
    contestants when `floors` is False).

    Each run gets a fresh, empty store; opening it and setting up the schema are not timed.
    Each starts after a full garbage collection: a run leaves thousands of objects in
    reference cycles (its compiled graph, threads, event loop), and collecting them takes
    50-75 ms, which would otherwise fall on whichever contestant runs next.
    """
    import gc
    import time

    from benchmarks.common import log, round_robin

    by_name = {c.name: c for c in contestants}

    def run_one(name: str) -> float:
        gc.collect()
        contestant = by_name.get(name)
        bare = FLOORS[name]() if name in FLOORS else None
        if mode == "async":

            async def go() -> float:
                if contestant is None:
                    start = time.perf_counter()
                    await run_async(bare, threads, turns)
                    return time.perf_counter() - start
                async with contestant.open_async(stores) as saver:
                    start = time.perf_counter()
                    await run_async(saver, threads, turns)
                    return time.perf_counter() - start

            seconds = asyncio.run(go())
        elif contestant is None:
            start = time.perf_counter()
            run_sync(bare, threads, turns)
            seconds = time.perf_counter() - start
        else:
            with contestant.open_sync(stores) as saver:
                start = time.perf_counter()
                run_sync(saver, threads, turns)
                seconds = time.perf_counter() - start
        log(f"graph {mode}: {name}: {seconds:.2f} s")
        return seconds

    return round_robin([*(["none", *FLOORS] if floors else []), *by_name], rounds, run_one)


def count_postgres(contestant: Any, stores: Any, *, mode: str, threads: int, turns: int) -> dict[str, float]:
    """Round trips and transactions per superstep on PostgreSQL.

    Round trips: through a counting relay, after a warm-up turn. Transactions: the database's
    `xact_commit + xact_rollback` in `pg_stat_database`, read after each saver has closed (a
    backend reports its counts when it exits), less what opening and closing a saver costs.
    """
    from benchmarks.roundtrips import relay_for

    url = stores.pg_database(f"rt_{contestant.name}")

    def session(relayed: str, relay: Any, work: bool) -> float:
        if mode == "async":

            async def go() -> float:
                async with contestant.open_async_on(relayed) as saver:
                    if not work:
                        return 0.0
                    await run_async(saver, threads, 1)
                    relay.reset()
                    steps = await run_async(saver, threads, turns)
                    return relay.round_trips / steps

            return asyncio.run(go())
        with contestant.open_sync_on(relayed) as saver:
            if not work:
                return 0.0
            run_sync(saver, threads, 1)
            relay.reset()
            steps = run_sync(saver, threads, turns)
            return relay.round_trips / steps

    try:
        with relay_for(url) as (relay, relayed):
            session(relayed, relay, False)
            x0 = _transactions(stores.pg_url, url)
            round_trips = session(relayed, relay, True)
            x1 = _transactions(stores.pg_url, url)
            session(relayed, relay, False)
            x2 = _transactions(stores.pg_url, url)
        warm_and_measured = threads * (turns + 1) * SUPERSTEPS_PER_TURN
        return {"round_trips": round_trips, "transactions": ((x1 - x0) - (x2 - x1)) / warm_and_measured}
    finally:
        stores.drop_pg_database(url)


def _transactions(server_url: str, url: str) -> int:
    """The database's committed and rolled back transactions, once the count stops moving."""
    import time
    from urllib.parse import urlsplit

    import psycopg

    name = urlsplit(url).path.lstrip("/")
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with psycopg.connect(server_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (name,)
            ).fetchone()
        value = int(row[0]) if row else 0
        if value != last:
            last, stable_since = value, time.monotonic()
        elif time.monotonic() - stable_since > 1.0:
            break
        time.sleep(0.2)
    return last
