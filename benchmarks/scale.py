"""The scale workload: get_tuple and list latency as the store grows from 10 thousand checkpoints.

Seed threads of 100 checkpoints are written through the saver's own `put`; the store then grows
by copying whole threads: graphsaver through its own `copy_thread`, the upstream savers (which
have no `copy_thread`) by copying their rows in SQL, or their dict entries in memory. Copies
are exact, so every thread of the grown store is as deep as a seed thread. Latency is timed on
seed threads, at the small size and at the large one, round-robin between the contestants.
PostgreSQL stores are vacuumed and analyzed after each growth, as autovacuum does soon after a
bulk load (since PostgreSQL 13 it also vacuums tables that only grow, which sets the visibility
map that index-only scans rely on);
SQLite stores are not (nothing runs ANALYZE on them in practice).
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from benchmarks.common import Stores, log
from benchmarks.micro import build_history
from benchmarks.savers import Contestant

SEED_THREADS = 10
THREAD_PAGE = 20


def _cfg(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


# --- growing a store by copying threads ---------------------------------------------------------


def grow(saver: Any, where: str, impl: str, threads: list[str], factor: int, tag: str) -> list[str]:
    """Add `factor - 1` copies of each thread; returns the new thread ids."""
    suffixes = [f"~{tag}{k}" for k in range(1, factor)]
    new = [t + s for t in threads for s in suffixes]
    if impl == "graphsaver":
        for t in threads:
            for s in suffixes:
                saver.copy_thread(t, t + s)
    elif where.startswith("postgresql://"):
        _grow_upstream_postgres(where, threads, suffixes)
    elif where:
        _grow_upstream_sqlite(where, threads, suffixes)
    else:
        _grow_upstream_memory(saver, set(threads), suffixes)
    return new


def _grow_upstream_memory(saver: Any, threads: set[str], suffixes: list[str]) -> None:
    for t in threads:
        for s in suffixes:
            saver.storage[t + s] = defaultdict(dict, {ns: dict(cps) for ns, cps in saver.storage[t].items()})
    for key, value in list(saver.blobs.items()):
        if key[0] in threads:
            for s in suffixes:
                saver.blobs[(key[0] + s, *key[1:])] = value
    for key, value in list(saver.writes.items()):
        if key[0] in threads:
            for s in suffixes:
                saver.writes[(key[0] + s, *key[1:])] = dict(value)


UPSTREAM_SQLITE_COPY = {
    "checkpoints": "checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata",
    "writes": "checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value",
}
UPSTREAM_POSTGRES_COPY = {
    "checkpoints": "checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata",
    "checkpoint_blobs": "checkpoint_ns, channel, version, type, blob",
    "checkpoint_writes": "checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob",
}


def _grow_upstream_sqlite(path: str, threads: list[str], suffixes: list[str]) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TEMP TABLE bench_suffix (s TEXT)")
        conn.executemany("INSERT INTO bench_suffix VALUES (?)", [(s,) for s in suffixes])
        conn.execute("CREATE TEMP TABLE bench_thread (t TEXT)")
        conn.executemany("INSERT INTO bench_thread VALUES (?)", [(t,) for t in threads])
        for table, columns in UPSTREAM_SQLITE_COPY.items():
            conn.execute(
                f"INSERT INTO {table} (thread_id, {columns}) SELECT x.thread_id || s.s, {columns}"
                f" FROM {table} x JOIN bench_suffix s WHERE x.thread_id IN (SELECT t FROM bench_thread)"
            )


def _grow_upstream_postgres(url: str, threads: list[str], suffixes: list[str]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for table, columns in UPSTREAM_POSTGRES_COPY.items():
            conn.execute(
                f"INSERT INTO {table} (thread_id, {columns}) SELECT x.thread_id || s, {columns}"
                f" FROM {table} x CROSS JOIN unnest(%s::text[]) s WHERE x.thread_id = ANY(%s)",
                (suffixes, threads),
            )


def analyze_postgres(url: str) -> None:
    """Vacuum and refresh the planner's statistics, as autovacuum would soon after a bulk load."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# --- thread listing ---------------------------------------------------------------------------


def thread_lister(saver: Any) -> tuple[Callable[[], Any] | None, str]:
    """A call listing the first page of threads through graphsaver.history, or why there is none."""
    try:
        from graphsaver import history  # type: ignore[attr-defined, unused-ignore]
    except ImportError as exc:
        return None, f"graphsaver.history is not available yet ({exc})"
    fn = getattr(history, "threads", None)
    if callable(fn):
        return (lambda: fn(saver, limit=THREAD_PAGE)), "graphsaver.history.threads"
    return None, "graphsaver.history has no thread listing (threads)"


# --- the workload ------------------------------------------------------------------------------


def _latencies(
    subjects: dict[str, Any], probes: list[str], calls: int, rounds: int, failures: set[str]
) -> dict[str, Any]:
    """Median seconds of get_tuple (latest) and list(limit=10), and thread listing, per contestant."""
    out: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in subjects}
    names = list(subjects)
    for r in range(rounds):
        shift = r % len(names)
        for name in [*names[shift:], *names[:shift]]:
            saver, lister = subjects[name]
            for i in range(calls):
                cfg = _cfg(probes[i % len(probes)])
                start = time.perf_counter()
                saver.get_tuple(cfg)
                mid = time.perf_counter()
                list(saver.list(cfg, limit=10))
                end = time.perf_counter()
                out[name]["get_tuple"].append(mid - start)
                out[name]["list_10"].append(end - mid)
            # as many listings as reads: a page takes a few milliseconds and a few samples of
            # it are noise (3 made one run's growth 1.75x and the next one's 1.25x)
            if lister is None:
                continue
            for _ in range(calls):
                start = time.perf_counter()
                try:
                    lister()
                except Exception as exc:  # graphsaver's listing failing is a finding, not a crash
                    failures.add(f"{name}: thread listing failed: {type(exc).__name__}: {exc}")
                    subjects[name] = (saver, None)
                    break
                out[name]["thread_page"].append(time.perf_counter() - start)
    return {name: {k: statistics.median(v) for k, v in ops.items()} for name, ops in out.items()}


def run(
    contestants: list[Contestant],
    stores: Stores,
    *,
    per_thread: int,
    threads: int,
    factor: int,
    calls: int,
    rounds: int,
) -> dict[str, Any]:
    """Latency at `threads * per_thread` checkpoints and at `factor` times as many.

    Each contestant gets two stores, one of each size, timed round-robin in the same rounds: a
    machine that is faster or slower for a while then moves both sizes alike (timing the small
    store first and the grown one later let that drift decide the growth ratio).
    """
    small, large = threads * per_thread, threads * per_thread * factor
    results: dict[str, Any] = {"sizes": [small, large], "threads": [threads, threads * factor], "runs": {}}
    notes: set[str] = set()
    with contextlib.ExitStack() as stack:
        opened: dict[tuple[str, str], tuple[Contestant, Any, str]] = {}
        for c in contestants:
            for size in ("small", "large"):
                saver, where = stack.enter_context(c.open_sync_at(stores))
                opened[(c.name, size)] = (c, saver, where)
        seeds = [f"seed{i}" for i in range(SEED_THREADS)]
        for (name, size), (c, saver, where) in opened.items():
            start = time.perf_counter()
            for t in seeds:
                build_history(saver, t, per_thread)
            grow(saver, where, c.impl, seeds, threads // SEED_THREADS, "a")
            if where.startswith("postgresql://"):
                analyze_postgres(where)
            log(
                f"scale: {name} ({size} store) holds {small:,} checkpoints ({time.perf_counter() - start:.1f} s)"
            )
        everything = [f"seed{i}" for i in range(SEED_THREADS)]
        everything += [t + f"~a{k}" for t in seeds for k in range(1, threads // SEED_THREADS)]
        for (name, size), (c, saver, where) in opened.items():
            if size != "large":
                continue
            start = time.perf_counter()
            grow(saver, where, c.impl, everything, factor, "b")
            if where.startswith("postgresql://"):
                analyze_postgres(where)
            elapsed = time.perf_counter() - start
            results["runs"].setdefault(name, {})["grow_seconds"] = elapsed
            log(f"scale: {name} grew to {large:,} checkpoints in {elapsed:.1f} s")
        subjects = {}
        for (name, size), (c, saver, _) in opened.items():
            lister, note = thread_lister(saver) if c.impl == "graphsaver" else (None, "")
            if lister is None and note:
                notes.add(note)
            subjects[f"{name}@{size}"] = (saver, lister)
        latencies = _latencies(subjects, seeds, calls, rounds, notes)
    at_small = {name: latencies[f"{name}@small"] for name, _ in opened}
    at_large = {name: latencies[f"{name}@large"] for name, _ in opened}
    for name in at_small:
        run = results["runs"].setdefault(name, {})
        run["small"], run["large"] = at_small[name], at_large[name]
        run["growth"] = {k: at_large[name][k] / v for k, v in at_small[name].items() if k in at_large[name]}
        run["small"] = {k: v for k, v in run["small"].items() if k in run["growth"]}
        run["large"] = {k: v for k, v in run["large"].items() if k in run["growth"]}
    results["notes"] = sorted(notes)
    return results
