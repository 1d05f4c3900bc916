"""graphsaver: fast, durable LangGraph checkpointers for memory, SQLite and PostgreSQL."""

from graphsaver.connect import connect
from graphsaver.core.codec import GraphsaverSerializer
from graphsaver.errors import (
    CheckpointNotFoundError,
    ConfigError,
    CorruptDataError,
    GraphsaverError,
    InvalidURLError,
    SchemaVersionError,
    SerializationError,
    StorageError,
    ThreadExistsError,
    ThreadNotFoundError,
)
from graphsaver.saver import GraphsaverSaver
from graphsaver.sqlite import InMemorySaver, SqliteSaver
from graphsaver.storage.sql import Compacted

__all__ = [
    "connect",
    "GraphsaverSaver",
    "GraphsaverSerializer",
    "Compacted",
    "InMemorySaver",
    "SqliteSaver",
    "PostgresSaver",
    "GraphsaverError",
    "ConfigError",
    "InvalidURLError",
    "StorageError",
    "SchemaVersionError",
    "CorruptDataError",
    "SerializationError",
    "CheckpointNotFoundError",
    "ThreadExistsError",
    "ThreadNotFoundError",
]


def __getattr__(name: str) -> object:
    # PostgreSQL support needs psycopg; import it only when asked for.
    if name == "PostgresSaver":
        from graphsaver.postgres import PostgresSaver  # type: ignore[import-not-found, unused-ignore]

        return PostgresSaver
    raise AttributeError(f"module 'graphsaver' has no attribute {name!r}")
