"""`python -m benchmarks.profile`: where graphsaver's time goes in the graph workload.

Profiles the async graph run on graphsaver's SQLite and in-memory savers with cProfile in every
thread (the savers do their work on worker threads), then prints the top functions by
cumulative time inside graphsaver and LangGraph's serializer.

    python -m benchmarks.profile [--turns 20] [--top 15] [--backend sqlite,memory]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import threading
from typing import Any

from benchmarks import graph
from benchmarks.common import DEFAULT_PG_URL, Stores
from benchmarks.savers import Contestant

FOCUS = r"graphsaver|langgraph/checkpoint/serde"


def profile_async_graph(contestant: Contestant, turns: int, threads: int = 8) -> pstats.Stats:
    """cProfile statistics of one async graph run, merged over every thread that ran."""
    profiles: list[cProfile.Profile] = []

    def start_in_thread(*_: Any) -> None:
        sys.setprofile(None)
        p = cProfile.Profile()
        profiles.append(p)
        p.enable()

    stores = Stores(DEFAULT_PG_URL)
    main = cProfile.Profile()
    threading.setprofile(start_in_thread)
    try:

        async def go() -> None:
            async with contestant.open_async(stores) as saver:
                main.enable()
                await graph.run_async(saver, threads, turns)
                main.disable()

        asyncio.run(go())
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
        stores.close()
    stats = pstats.Stats(main)
    for p in profiles:
        p.create_stats()
        if p.stats:  # type: ignore[attr-defined]
            stats.add(p)
    return stats


def top(stats: pstats.Stats, n: int) -> str:
    """Top `n` inside graphsaver and the serializer by cumulative time, then everything by own time."""
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(FOCUS, n)
    stats.sort_stats("tottime").print_stats(n)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--backend", default="sqlite,memory")
    args = parser.parse_args(argv)
    for backend in args.backend.split(","):
        stats = profile_async_graph(Contestant("graphsaver", backend), args.turns)
        print(f"== graphsaver-{backend}, async graph, 8 threads x {args.turns} turns ==")
        print(top(stats, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
