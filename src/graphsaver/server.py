"""graphsaver as the checkpointer of LangGraph's API server (`langgraph dev`, deployments).

In `langgraph.json`, name this module's `checkpointer` and the database in `GRAPHSAVER_URL`:

    {
      "dependencies": ["."],
      "graphs": {"agent": "./agent.py:graph"},
      "env": ".env",
      "checkpointer": {"path": "graphsaver.server.checkpointer"}
    }

    # .env
    GRAPHSAVER_URL=sqlite:///checkpoints.db

The server enters `checkpointer()` once per event loop it runs graphs on. Every entry in one
process shares one saver, opened by the first and closed when the last one leaves: an
in-memory store stays one store, and a file or a PostgreSQL database is opened once.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import AsyncIterator

from graphsaver.connect import connect
from graphsaver.errors import ConfigError
from graphsaver.saver import GraphsaverSaver
from graphsaver.urls import FORMS

ENV = "GRAPHSAVER_URL"

_lock = threading.Lock()
_shared: dict[tuple[int, str], tuple[GraphsaverSaver, int]] = {}  # (pid, url) -> saver, users


@contextlib.asynccontextmanager
async def checkpointer() -> AsyncIterator[GraphsaverSaver]:
    """Yield the process's saver for the database named in `GRAPHSAVER_URL`."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        raise ConfigError(f"set {ENV} to the database LangGraph's server keeps checkpoints in: {FORMS}")
    key = (os.getpid(), url)  # a forked worker opens its own
    with _lock:  # the first entry opens the saver and sets up the schema before any other uses it
        saver, users = _shared.get(key, (None, 0))
        if saver is None:
            saver = connect(url, setup=False)
            try:
                saver.setup()
            except BaseException:
                saver.close()
                raise
        _shared[key] = (saver, users + 1)
    try:
        if users == 0:
            await saver.__aenter__()  # binds the saver to this event loop (no second setup)
        yield saver
    finally:
        with _lock:
            saver, users = _shared[key]
            if users == 1:
                del _shared[key]
            else:
                _shared[key] = (saver, users - 1)
        if users == 1:
            await saver.aclose()
