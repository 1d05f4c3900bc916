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

Saver options (pool sizes, `schema`, `synchronous`: what `graphsaver.connect` takes) go in
`GRAPHSAVER_OPTIONS` as a JSON object, e.g. `GRAPHSAVER_OPTIONS={"max_size": 20}`.

The server enters `checkpointer()` once per event loop it runs graphs on. Every entry in one
process shares one saver, opened by the first and closed when the last one leaves: an
in-memory store stays one store, and a file or a PostgreSQL database is opened once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from graphsaver.connect import connect
from graphsaver.errors import ConfigError
from graphsaver.saver import GraphsaverSaver
from graphsaver.urls import FORMS

ENV = "GRAPHSAVER_URL"
OPTIONS_ENV = "GRAPHSAVER_OPTIONS"


@dataclass(slots=True)
class _Shared:
    saver: GraphsaverSaver
    users: int = 0
    ready: Future[None] = field(default_factory=Future)  # set once the schema is set up


_lock = threading.Lock()
_shared: dict[tuple[int, str, str], _Shared] = {}  # by process (a forked worker opens its own), URL, options


@contextlib.asynccontextmanager
async def checkpointer() -> AsyncIterator[GraphsaverSaver]:
    """Yield the process's saver for the database named in `GRAPHSAVER_URL`."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        raise ConfigError(f"set {ENV} to the database LangGraph's server keeps checkpoints in: {FORMS}")
    raw = os.environ.get(OPTIONS_ENV, "").strip()
    options = _options(raw)
    key = (os.getpid(), url, raw)
    with _lock:
        entry = _shared.get(key)
        first = entry is None
        if entry is None:
            try:
                saver = connect(url, setup=False, **options)
            except TypeError as exc:  # an option the saver does not take
                raise ConfigError(f"{OPTIONS_ENV}: {exc}") from exc
            entry = _shared[key] = _Shared(saver)
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


def _options(raw: str) -> dict[str, Any]:
    """The saver options in GRAPHSAVER_OPTIONS (a JSON object), or none."""
    if not raw:
        return {}
    example = f'{OPTIONS_ENV}={{"max_size": 20}}'
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{OPTIONS_ENV} is not valid JSON ({exc}): write a JSON object, e.g. {example}"
        ) from exc
    if not isinstance(options, dict):
        raise ConfigError(f"{OPTIONS_ENV} must be a JSON object, e.g. {example}, got {raw!r}")
    for name in ("setup", "serde"):
        if name in options:
            raise ConfigError(f"{OPTIONS_ENV} cannot set {name!r}: the server checkpointer sets it")
    return options
