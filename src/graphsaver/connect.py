"""`graphsaver.connect(url)`: one entry point for every backend."""

from __future__ import annotations

from typing import Any

from graphsaver import urls
from graphsaver.errors import InvalidURLError
from graphsaver.saver import GraphsaverSaver
from graphsaver.sqlite import InMemorySaver, SqliteSaver


def connect(url: str, *, setup: bool = True, **options: Any) -> GraphsaverSaver:
    """Open a saver for a database URL; use it with `with` or `async with`.

    URL forms: `memory://`, `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`,
    `sqlite://:memory:`, `postgresql://user:password@host:5432/database`. The schema is
    created or upgraded unless `setup=False`. Other keyword options go to the saver class.
    """
    target = urls.parse(url)
    if target.kind == "memory":
        return InMemorySaver(setup=setup, **options)
    if target.kind == "sqlite":
        return SqliteSaver(target.location, setup=setup, **options)
    if target.kind == "postgres":
        from graphsaver.postgres import PostgresSaver  # type: ignore[import-not-found, unused-ignore]

        saver: GraphsaverSaver = PostgresSaver(target.location, setup=setup, **options)
        return saver
    raise InvalidURLError(f"unsupported database URL {target.display!r}")
