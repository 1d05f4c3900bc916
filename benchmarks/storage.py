"""The storage workload: bytes stored as one thread's message list grows, 500 bytes a step.

A real LangGraph graph loops one node that appends one 500-character message per superstep,
until the list holds N messages; the store is measured at each N:
- SQLite: file size after `PRAGMA wal_checkpoint(TRUNCATE)` (plus any WAL left);
- PostgreSQL: `pg_total_relation_size` of every table in the database (the saver's tables,
  with their indexes and TOAST);
- memory: an estimate. Upstream: the bytes of every serialized value it holds; graphsaver (an
  in-memory SQLite database): pages in use times the page size.
The size of the empty store (after setup) is subtracted. The growth exponent is the slope of
a least-squares line through log(bytes) against log(N).

`benchmarks.run` measures 500-character messages; for another size, on its own:

    python -m benchmarks.storage [--size 2000] [--steps 100,500,1000] [--pg-url URL] [--only NAMES]
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import sys
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from benchmarks.common import Stores, log
from benchmarks.graph import text
from benchmarks.savers import Contestant, both_savers

MESSAGE_SIZE = 500


class GrowState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    target: int


def _more(state: GrowState) -> str:
    return "grow" if len(state["messages"]) < state["target"] else END


def build(size: int = MESSAGE_SIZE) -> Any:
    """The graph: one node that appends a message of `size` characters until `target`."""

    def grow(state: GrowState) -> dict[str, Any]:
        n = len(state["messages"])
        return {"messages": [AIMessage(content=text(n, size), id=f"m{n}")]}

    builder = StateGraph(GrowState)
    builder.add_node("grow", grow)
    builder.add_edge(START, "grow")
    builder.add_conditional_edges("grow", _more, ["grow", END])
    return builder


def measure(saver: Any, where: str) -> int | None:
    if where.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(where, autocommit=True) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind = 'r'"
            ).fetchone()
            return int(row[0]) if row else None
    if where:
        with sqlite3.connect(where) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = where + "-wal"
        return os.path.getsize(where) + (os.path.getsize(wal) if os.path.exists(wal) else 0)
    return _memory_estimate(saver)


def _memory_estimate(saver: Any) -> int | None:
    conn = getattr(getattr(saver, "_engine", None), "_conn", None)
    if isinstance(conn, sqlite3.Connection):
        list(saver.list(None, limit=1))  # a read first runs the writes graphsaver keeps queued
        pages = (
            conn.execute("PRAGMA page_count").fetchone()[0]
            - conn.execute("PRAGMA freelist_count").fetchone()[0]
        )
        return int(pages * conn.execute("PRAGMA page_size").fetchone()[0])
    if hasattr(saver, "blobs") and hasattr(saver, "storage"):
        return (
            _serialized_bytes(saver.storage)
            + _serialized_bytes(saver.blobs)
            + _serialized_bytes(saver.writes)
        )
    return None


def _serialized_bytes(obj: Any) -> int:
    if isinstance(obj, (bytes, bytearray)):
        return len(obj)
    if isinstance(obj, dict):
        return sum(_serialized_bytes(v) for v in obj.values())
    if isinstance(obj, (tuple, list)):
        return sum(_serialized_bytes(v) for v in obj)
    return 0


def growth_exponent(points: dict[int, int]) -> float | None:
    xs = [math.log(n) for n, b in points.items() if b > 0]
    ys = [math.log(b) for b in points.values() if b > 0]
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def run(
    contestants: list[Contestant], stores: Stores, *, steps: tuple[int, ...], size: int = MESSAGE_SIZE
) -> dict[str, Any]:
    """Per contestant: bytes stored at each N (messages of `size` characters), bytes per step
    at the largest N, the exponent."""
    results: dict[str, Any] = {}
    for c in contestants:
        with c.open_sync_at(stores) as (saver, where):
            empty = measure(saver, where)
            if empty is None:
                results[c.name] = {"skipped": "no way to measure this store"}
                continue
            graph = build(size).compile(checkpointer=saver)
            config: dict[str, Any] = {"configurable": {"thread_id": "grow"}}
            points: dict[int, int] = {}
            for n in steps:
                graph.invoke({"target": n}, {**config, "recursion_limit": n + 10})
                points[n] = int(measure(saver, where) or 0) - empty
                log(f"storage: {c.name} N={n}: {points[n]:,} bytes")
            last = max(steps)
            results[c.name] = {
                "bytes": points,
                "bytes_per_step": points[last] / last,
                "exponent": growth_exponent(points),
                "estimate": not where,
            }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage", description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=MESSAGE_SIZE, help="characters per message")
    parser.add_argument("--steps", default="100,500,1000", help="the N to measure at, comma-separated")
    parser.add_argument("--pg-url", default=None, help="a PostgreSQL server for the PostgreSQL savers")
    parser.add_argument(
        "--only", default=None, help="contestants to run, comma-separated (graphsaver-sqlite,...)"
    )
    args = parser.parse_args(argv)
    steps = tuple(int(n) for n in args.steps.split(","))
    contestants = both_savers(args.pg_url)
    if args.only:
        contestants = [c for c in contestants if c.name in args.only.split(",")]
    stores = Stores(args.pg_url or "")
    try:
        results = run(contestants, stores, steps=steps, size=args.size)
    finally:
        stores.close()
    for name, r in results.items():
        if "skipped" in r:
            print(f"{name:22s} skipped: {r['skipped']}")
            continue
        exponent = "-" if r["exponent"] is None else f"{r['exponent']:.2f}"
        print(
            f"{name:22s} {r['bytes_per_step'] / 1024:9.2f} KB per step at N={max(steps)}, exponent {exponent}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
