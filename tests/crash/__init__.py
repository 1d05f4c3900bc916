"""Crash and load harness: a real LangGraph graph run in child processes that get killed.

`worker` is the child side (the graph, the instrumented saver, the event stream); `harness`
is the parent side (kill at a chosen moment, verify, resume, verify again); `load` holds the
concurrent writers of the concurrency suites. `tests/test_crash.py`, `tests/test_concurrency.py`
and `scripts/soak.py` drive them.
"""

from __future__ import annotations

import os
from typing import Any

import graphsaver

# The SQLite `synchronous` setting the harness opens savers with (`scripts/soak.py
# --sqlite-synchronous`); inherited by the child processes. Unset: graphsaver's default.
SYNCHRONOUS_ENV = "GRAPHSAVER_SOAK_SQLITE_SYNCHRONOUS"


def connect(url: str) -> Any:
    """`graphsaver.connect(url)`, with the harness's SQLite `synchronous` setting if one is set."""
    synchronous = os.environ.get(SYNCHRONOUS_ENV)
    if synchronous and url.startswith("sqlite:"):
        return graphsaver.connect(url, synchronous=synchronous)
    return graphsaver.connect(url)
