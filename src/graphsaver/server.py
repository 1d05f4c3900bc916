"""graphsaver as the checkpointer of LangGraph's API server (`langgraph dev`, deployments).

In `langgraph.json`, name this module's `checkpointer` and the database in `GRAPHSAVER_URL`:

    {
      "dependencies": ["."],
      "graphs": {"agent": "./agent.py:graph"},
      "env": ".env",
      "checkpointer": {"path": "graphsaver.server.checkpointer"}
    }

    # .env (a file outside the project folder: `langgraph dev` restarts on changes inside it)
    GRAPHSAVER_URL=sqlite:////var/lib/agent/checkpoints.db

The server enters `checkpointer()` once per event loop it runs graphs on. Every entry in one
process shares one saver, opened by the first and closed when the last one leaves: an
in-memory store stays one store, and a file or a PostgreSQL database is opened once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass, field

from graphsaver.connect import connect
from graphsaver.errors import ConfigError
from graphsaver.saver import GraphsaverSaver
from graphsaver.urls import FORMS

ENV = "GRAPHSAVER_URL"


@dataclass(slots=True)
class _Shared:
    saver: GraphsaverSaver
    users: int = 0
    ready: Future[None] = field(default_factory=Future)  # set once the schema is set up


_lock = threading.Lock()
_shared: dict[tuple[int, str], _Shared] = {}  # by (process id, URL): a forked worker opens its own


@contextlib.asynccontextmanager
async def checkpointer() -> AsyncIterator[GraphsaverSaver]:
    """Yield the process's saver for the database named in `GRAPHSAVER_URL`."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        raise ConfigError(f"set {ENV} to the database LangGraph's server keeps checkpoints in: {FORMS}")
    key = (os.getpid(), url)
    with _lock:
        entry = _shared.get(key)
        first = entry is None
        if entry is None:
            entry = _shared[key] = _Shared(connect(url, setup=False))
        entry.users += 1
    try:
        if first:  # sets up the schema, and binds the saver to this event loop
            try:
                await entry.saver.__aenter__()
                await entry.saver.asetup()
            except BaseException as exc:
                entry.ready.set_exception(exc)
                raise
            entry.ready.set_result(None)
        else:
            await asyncio.wrap_future(entry.ready)
        yield entry.saver
    finally:
        with _lock:
            entry.users -= 1
            last = entry.users == 0
            if last:
                del _shared[key]
        if last:
            await entry.saver.aclose()
