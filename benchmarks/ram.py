"""The memory workload: what a saver keeps in the process's memory once its runs are over.

A long-running process (LangGraph's API server, a web app) serves many threads, and what a
saver still holds after their runs end is memory the process does not get back. Each
contestant runs in a child process of its own: `threads` conversations of `messages`
messages of 2,000 characters (the storage workload's graph), one after the other; then the
growth of the resident set above the same process after one short warm-up run, measured
after a garbage collection and `malloc_trim`. An in-memory saver holds the checkpoints
themselves; a SQLite or PostgreSQL saver should hold little (graphsaver keeps the lists of
the recently active threads, within a byte budget: src/graphsaver/core/lru.py).

    python -m benchmarks.ram [--threads 100] [--messages 100]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import Stores, log
from benchmarks.savers import Contestant, both_savers, store_location

MESSAGE_SIZE = 2000


def _resident_mb() -> float:
    gc.collect()
    # give freed heap pages back, as a long run would reuse them (not glibc: they stay counted)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def child(name: str, where: str, threads: int, messages: int) -> dict[str, float]:
    """In the child process: run the conversations, return MB held and seconds."""
    from benchmarks import storage

    impl, backend, *variant = name.split("-")
    with Contestant(impl, backend, *variant).open_sync_on(where) as saver:
        graph = storage.build(MESSAGE_SIZE).compile(checkpointer=saver)
        graph.invoke({"target": 2}, {"configurable": {"thread_id": "warm-up"}})
        before = _resident_mb()
        start = time.perf_counter()
        for t in range(threads):
            config = {"configurable": {"thread_id": f"t{t}"}, "recursion_limit": messages + 10}
            graph.invoke({"target": messages}, config)
        seconds = time.perf_counter() - start
        del graph
        return {"mb": _resident_mb() - before, "seconds": seconds}


def run(contestants: list[Contestant], stores: Stores, *, threads: int, messages: int) -> dict[str, Any]:
    """Per contestant: MB the process holds after the conversations, and how long they took."""
    results: dict[str, Any] = {"threads": threads, "messages": messages, "savers": {}}
    for c in contestants:
        with store_location(c, stores) as where:
            if c.backend != "memory":  # the schema, made outside the measured process
                with c.open_sync_on(where):
                    pass
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.ram",
                    "--child",
                    c.name,
                    where,
                    str(threads),
                    str(messages),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        if out.returncode != 0:
            raise RuntimeError(f"the memory workload failed for {c.name}:\n{out.stderr[-2000:]}")
        results["savers"][c.name] = json.loads(out.stdout.strip().splitlines()[-1])
        log(f"ram: {c.name}: {results['savers'][c.name]['mb']:.1f} MB held")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ram", description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=100)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--pg-url", default=None, help="a PostgreSQL server for the PostgreSQL savers")
    parser.add_argument(
        "--child", nargs=4, metavar=("NAME", "WHERE", "THREADS", "MESSAGES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        name, where, threads, messages = args.child
        print(json.dumps(child(name, where, int(threads), int(messages))))
        return 0
    stores = Stores(args.pg_url or "")
    try:
        results = run(both_savers(args.pg_url), stores, threads=args.threads, messages=args.messages)
    finally:
        stores.close()
    for name, r in results["savers"].items():
        print(f"{name:22s} {r['mb']:8.1f} MB held  ({r['seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
