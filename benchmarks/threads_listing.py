"""First page of `graphsaver.history.threads` at 100 vs 10,000 threads (not a timed test).

    python -m benchmarks.threads_listing [--url sqlite:///path.db] [--checkpoints 5]

Fills two fresh databases through the saver API (each thread gets a few checkpoints with
pending writes), then times the first page (20 threads) many times on each and prints the
median and the ratio. The listing reads the per-thread summary table and the primary key of
the threads on the page, so the ratio should stay near 1.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from langgraph.checkpoint.base import empty_checkpoint

import graphsaver
from graphsaver import history

SIZES = (100, 10_000)


def fill(saver: graphsaver.GraphsaverSaver, threads: int, per_thread: int) -> None:
    for t in range(threads):
        config: Any = {"configurable": {"thread_id": f"thread-{t:05}", "checkpoint_ns": ""}}
        version = None
        for step in range(per_thread):
            checkpoint = empty_checkpoint()
            version = saver.get_next_version(version, None)
            checkpoint["channel_values"] = {"counter": step}
            checkpoint["channel_versions"] = {"counter": version}
            metadata: Any = {"source": "loop", "step": step, "parents": {}, "user": f"u{t % 7}"}
            config = saver.put(config, checkpoint, metadata, {"counter": version})
            saver.put_writes(config, [("counter", step + 1)], f"task-{step}")


def page_seconds(saver: graphsaver.GraphsaverSaver) -> float:
    start = time.perf_counter()
    page = history.threads(saver, limit=20)
    elapsed = time.perf_counter() - start
    assert len(page.threads) == 20
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a database URL pattern with {n} for the size (default: SQLite files)")
    parser.add_argument("--checkpoints", type=int, default=5, help="checkpoints per thread")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    urls = {n: args.url.format(n=n) if args.url else f"sqlite:///{folder}/threads-{n}.db" for n in SIZES}
    for n, url in urls.items():
        with graphsaver.connect(url) as saver:
            fill(saver, n, args.checkpoints)
    # measured on fresh connections (as a CLI run is), alternating between the two databases
    # so that load from other processes affects both alike
    with graphsaver.connect(urls[SIZES[0]]) as small_db, graphsaver.connect(urls[SIZES[1]]) as large_db:
        savers = {SIZES[0]: small_db, SIZES[1]: large_db}
        times: dict[int, list[float]] = {n: [] for n in SIZES}
        for n in SIZES:
            page_seconds(savers[n])  # warm up
        for _ in range(args.repeat):
            for n in SIZES:
                times[n].append(page_seconds(savers[n]))
    results = {n: statistics.median(t) for n, t in times.items()}
    for n in SIZES:
        print(
            f"{n:>6} threads ({n * args.checkpoints:>6} checkpoints): first page {results[n] * 1000:.2f} ms"
        )
    small, large = SIZES
    print(f"ratio {large:,} / {small:,} threads: {results[large] / results[small]:.2f}")


if __name__ == "__main__":
    main()
