"""`python -m benchmarks.run`: graphsaver against the upstream savers, written to docs/benchmarks.md.

    python -m benchmarks.run                      # everything (30 to 55 minutes on 2 cores)
    python -m benchmarks.run --graph-rounds 2     # the same with two graph rounds (about 9 minutes)
    python -m benchmarks.run --quick              # smaller workloads, under about 3 minutes
    python -m benchmarks.run --only micro,storage
    python -m benchmarks.run --pg-url postgresql://postgres@127.0.0.1:5432/postgres

PostgreSQL: `--pg-url` or GRAPHSAVER_BENCH_PG_URL names a server; the benchmark creates a fresh
database for each store and drops it afterwards (the named database is only used to do that).
Without a server, or without `graphsaver.postgres`, those rows are skipped and the report says why.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from importlib import metadata
from typing import Any

from benchmarks import graph, micro, netdelay, ram, report, scale, storage
from benchmarks.common import DEFAULT_PG_URL, Sizes, Stores, graphsaver_postgres_missing, log, pg_available
from benchmarks.roundtrips import relayable
from benchmarks.savers import Contestant, contestants

WORKLOADS = ("graph", "network", "micro", "storage", "ram", "scale")
PACKAGES = (
    "graphsaver",
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langgraph-checkpoint-postgres",
    "psycopg",
    "psycopg-pool",
    "ormsgpack",
    "msgpack",
)


def machine_info(pg_url: str | None) -> dict[str, str]:
    info = {
        "CPUs": str(os.cpu_count()),
        "CPU": _cpu_model(),
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "OS": platform.platform(),
    }
    for name in PACKAGES:
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[name] = "not installed"
    if pg_url:
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["PostgreSQL"] = str(row[0]) if row else "?"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], capture_output=True, text=True, check=True
        )
        info["graphsaver commit"] = commit.stdout.strip() + (
            " (src/ modified)" if dirty.stdout.strip() else ""
        )
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(only: set[str], sizes: Sizes, pg_url: str, quick: bool) -> dict[str, Any]:
    notes: list[str] = []
    pg_missing = pg_available(pg_url)
    gs_pg_missing = graphsaver_postgres_missing()
    if pg_missing:
        notes.append(f"PostgreSQL rows skipped: no server at the given URL ({pg_missing}).")
    elif gs_pg_missing:
        notes.append(f"graphsaver PostgreSQL rows skipped: {gs_pg_missing}.")
    if quick:
        notes.append(
            f"Quick mode: scale grows to {sizes.scale_threads * sizes.scale_checkpoints_per_thread * sizes.scale_factor:,} "
            "checkpoints, not 1,000,000."
        )
    per_backend = {
        b: contestants(b, pg_missing=pg_missing, gs_pg_missing=gs_pg_missing) for b in report.BACKENDS
    }
    everyone = [c for cs in per_backend.values() for c in cs]
    plain = {b: [c for c in cs if not c.variant] for b, cs in per_backend.items()}
    results: dict[str, Any] = {
        "meta": {
            "quick": quick,
            "sizes": dataclasses.asdict(sizes),
            "machine": machine_info(None if pg_missing else pg_url),
            "notes": notes,
        }
    }
    stores = Stores(pg_url)
    started = time.perf_counter()
    try:
        if "micro" in only:
            results["micro"] = {}
            for b, cs in plain.items():
                if cs:
                    results["micro"][b] = micro.run(
                        cs, stores, history=sizes.micro_history, calls=sizes.micro_calls, rounds=sizes.rounds
                    )
        if "storage" in only:
            results["storage"] = storage.run(
                [c for cs in plain.values() for c in cs], stores, steps=sizes.storage_steps
            )
        if "ram" in only:
            results["ram"] = ram.run(
                [c for cs in plain.values() for c in cs],
                stores,
                threads=sizes.ram_threads,
                messages=sizes.ram_messages,
            )
        if "graph" in only:
            results["graph"] = _graph_runs(everyone, stores, sizes, sizes.graph_turns, sizes.graph_rounds)
            if per_backend["postgres"]:
                if relayable(pg_url):
                    counted = plain["postgres"] if quick else per_backend["postgres"]
                    results["postgres_counts"] = _postgres_counts(counted, stores, sizes)
                else:
                    notes.append(
                        "PostgreSQL round trips not counted: the relay needs a TCP URL, not a socket."
                    )
        if "network" in only and per_backend["postgres"]:
            if relayable(pg_url):
                results["network"] = _network(per_backend["postgres"], pg_url, sizes)
            else:
                notes.append(
                    "PostgreSQL over a network not measured: the relay needs a TCP URL, not a socket."
                )
        if "scale" in only:
            results["scale"] = {}
            for b, cs in plain.items():
                if cs:
                    results["scale"][b] = scale.run(
                        cs,
                        stores,
                        per_thread=sizes.scale_checkpoints_per_thread,
                        threads=sizes.scale_threads,
                        factor=sizes.scale_factor,
                        calls=sizes.micro_calls,
                        rounds=sizes.rounds,
                    )
                    notes += [n for n in results["scale"][b].get("notes", []) if n not in notes]
    finally:
        stores.close()
    results["meta"]["seconds"] = time.perf_counter() - started
    return results


def _graph_runs(
    cs: list[Contestant], stores: Stores, sizes: Sizes, turns: int, rounds: int, *, floors: bool = True
) -> dict[str, Any]:
    """The graph workload, async then sync: every round's seconds per contestant."""
    # Upstream's pipeline mode is no target: it is counted (`_postgres_counts`), not timed.
    timed = [c for c in cs if c.variant != "pipeline"]
    results = {}
    for mode in ("async", "sync"):
        t = graph.timed_runs(
            timed, stores, mode=mode, threads=sizes.graph_threads, turns=turns, rounds=rounds, floors=floors
        )
        results[mode] = {
            "samples": t.to_json(),
            "threads": sizes.graph_threads,
            "turns": turns,
            "supersteps": sizes.graph_threads * turns * graph.SUPERSTEPS_PER_TURN,
        }
    return results


def _network(cs: list[Contestant], pg_url: str, sizes: Sizes) -> dict[str, Any]:
    """The graph workload on PostgreSQL through a relay that delays every byte each way."""
    with netdelay.delayed(pg_url, delay_ms=sizes.network_delay_ms) as relayed:
        stores = Stores(relayed)
        try:
            results = _graph_runs(cs, stores, sizes, sizes.network_turns, sizes.network_rounds, floors=False)
        finally:
            stores.close()
    for run in results.values():
        run["delay_ms"] = sizes.network_delay_ms
    return results


def _postgres_counts(cs: list[Contestant], stores: Stores, sizes: Sizes) -> dict[str, Any]:
    counts = {}
    for c in cs:
        for mode in ("async", "sync"):
            counts[f"{c.name}, {mode}"] = graph.count_postgres(
                c, stores, mode=mode, threads=sizes.graph_threads, turns=sizes.rt_turns
            )
            log(f"postgres counts: {c.name} {mode}: {counts[f'{c.name}, {mode}']}")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller workloads, for iteration (under ~3 min)"
    )
    parser.add_argument(
        "--only", default=",".join(WORKLOADS), help=f"comma-separated subset of {','.join(WORKLOADS)}"
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("GRAPHSAVER_BENCH_PG_URL", DEFAULT_PG_URL),
        help="a PostgreSQL server URL (default: GRAPHSAVER_BENCH_PG_URL or %(default)s)",
    )
    parser.add_argument(
        "--out", default="docs/benchmarks.md", help="the report to write (default: %(default)s)"
    )
    parser.add_argument("--json", help="also write the raw results (every sample) to this file")
    parser.add_argument(
        "--graph-rounds", type=int, help="rounds of the graph workload (default: 9, quick: 2)"
    )
    args = parser.parse_args(argv)
    only = {w.strip() for w in args.only.split(",") if w.strip()}
    if unknown := only - set(WORKLOADS):
        parser.error(f"unknown workload(s) {', '.join(sorted(unknown))}: choose from {', '.join(WORKLOADS)}")
    sizes = Sizes.quick() if args.quick else Sizes()
    if args.graph_rounds:
        sizes.graph_rounds = args.graph_rounds
    results = run(only, sizes, args.pg_url, args.quick)
    folder = os.path.join(os.path.dirname(os.path.abspath(args.out)), "img")
    images = report.plots(results, folder, "bench")
    with open(args.out, "w") as f:
        f.write(report.markdown(results, images))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    log(f"wrote {args.out} ({results['meta']['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
