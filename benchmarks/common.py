"""What every workload shares: sizes, fresh stores, round-robin timing, medians and ratios."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Sizes:
    """How big each workload is; `--quick` shrinks them and the report says so."""

    rounds: int = 3
    graph_rounds: int = 9  # the published runs: one round's ratio ranges over +-15% on 2 cores
    graph_threads: int = 8
    graph_turns: int = 50
    micro_history: int = 1000
    micro_calls: int = 20
    storage_steps: tuple[int, ...] = (100, 500, 1000)
    scale_threads: int = 100
    scale_checkpoints_per_thread: int = 100
    scale_factor: int = 100
    rt_turns: int = 5
    # PostgreSQL over a network: the relay's delay each way, and a shorter graph (upstream's
    # savers pay the round trip 3 to 4 times a superstep)
    network_delay_ms: float = 0.5
    network_turns: int = 10
    network_rounds: int = 5
    # memory held once the runs are over: conversations of 2,000-character messages
    ram_threads: int = 100
    ram_messages: int = 100

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            rounds=2,
            graph_rounds=2,
            graph_turns=5,
            micro_history=200,
            micro_calls=10,
            storage_steps=(50, 100, 200),
            scale_factor=5,
            rt_turns=3,
            network_turns=3,
            network_rounds=2,
            ram_threads=10,
            ram_messages=20,
        )


@dataclass
class Stores:
    """Hands out fresh, empty stores: SQLite files in a temporary folder, PostgreSQL databases.

    Every PostgreSQL database is created here for this run and dropped at the end; the
    database named in the URL is only used to create and drop them.
    """

    pg_url: str
    root: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="graphsaver-bench-"))
    _counter: Iterator[int] = field(default_factory=itertools.count)
    _databases: list[str] = field(default_factory=list)

    def sqlite_path(self, label: str) -> str:
        return os.path.join(self.root, f"{label}-{next(self._counter)}.db")

    def pg_database(self, label: str) -> str:
        """Create an empty database; returns its URL."""
        import psycopg

        name = f"gsbench_{os.getpid()}_{next(self._counter)}_{label}".replace("-", "_").lower()[:60]
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._databases.append(name)
        return with_database(self.pg_url, name)

    def drop_pg_database(self, url: str) -> None:
        import psycopg

        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._databases:
            self._databases.remove(name)

    def close(self) -> None:
        for name in list(self._databases):
            with contextlib.suppress(Exception):
                self.drop_pg_database(with_database(self.pg_url, name))
        shutil.rmtree(self.root, ignore_errors=True)


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def pg_available(url: str) -> str | None:
    """None when the server answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means: no PostgreSQL rows in this run
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def graphsaver_postgres_missing() -> str | None:
    """None when graphsaver's PostgreSQL saver imports, else why not."""
    try:
        import graphsaver.postgres  # noqa: F401  # type: ignore[import-not-found, unused-ignore]
    except Exception as exc:
        return f"graphsaver.postgres does not import yet ({type(exc).__name__}: {exc})"
    return None


@dataclass
class Timings:
    """Seconds per round for each contestant, recorded round-robin."""

    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def ratio(self, name: str, reference: str) -> float | None:
        """Median over rounds of (name's time / reference's time in the same round)."""
        ratios = self.ratios(name, reference)
        return statistics.median(ratios) if ratios else None

    def ratios(self, name: str, reference: str) -> list[float]:
        """(name's time / reference's time) in each round, in round order."""
        a, b = self.samples.get(name), self.samples.get(reference)
        return [x / y for x, y in zip(a or [], b or [], strict=False)]

    def to_json(self) -> dict[str, list[float]]:
        return dict(self.samples)


def round_robin(names: Sequence[str], rounds: int, run_one: Callable[[str], float]) -> Timings:
    """Run every contestant once per round, rotating the start so none always goes first."""
    timings = Timings()
    for r in range(rounds):
        shift = r % len(names)
        for name in [*names[shift:], *names[:shift]]:
            timings.add(name, run_one(name))
    return timings


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
