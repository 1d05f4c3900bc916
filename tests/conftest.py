"""Shared fixtures: every behaviour test runs on each backend from one registry.

`saver_url` yields a fresh database URL per test for each backend (memory, sqlite, postgres).
PostgreSQL comes from GRAPHSAVER_TEST_PG_URL or a throwaway server (see tests/pgserver.py).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest

BACKENDS = ["memory", "sqlite", "postgres"]
# Below Python 3.11 asyncio cannot hand a task its context, so LangGraph's `interrupt()` (which
# reads the run's config from a context variable) fails in an async run with "Called get_config
# outside of a runnable context". graphsaver is not involved; the sync runs of the same tests
# still run there.
INTERRUPTS_IN_ASYNC = pytest.mark.xfail(
    sys.version_info < (3, 11),
    raises=RuntimeError,
    strict=True,
    reason="LangGraph's interrupt() needs Python 3.11+ in an async run",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interrupts: the test's graph calls LangGraph's interrupt()")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("interrupts") and "async" in item.name:
            item.add_marker(INTERRUPTS_IN_ASYNC)


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("GRAPHSAVER_TEST_PG_URL")
    return f"graphsaver postgres: {'GRAPHSAVER_TEST_PG_URL' if url else 'throwaway server'}"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    from tests.pgserver import postgres_url

    with postgres_url() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def saver_url(backend: str, tmp_path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL of an empty database on the given backend."""
    if backend == "memory":
        yield "memory://"
    elif backend == "sqlite":
        yield f"sqlite:///{tmp_path}/graphsaver.db"
    else:
        from tests.pgserver import fresh_database

        base = request.getfixturevalue("pg_server_url")
        with fresh_database(base, f"t_{uuid.uuid4().hex[:12]}") as url:
            yield url
