"""The graphsaver error tree.

Every error raised on purpose by graphsaver derives from `GraphsaverError`. Messages are
lower case, name the thread, checkpoint, channel or URL involved, and never contain a
password.
"""

from __future__ import annotations

__all__ = [
    "GraphsaverError",
    "ConfigError",
    "InvalidURLError",
    "StorageError",
    "SchemaVersionError",
    "IntegrityError",
    "CorruptDataError",
    "CheckpointNotFoundError",
    "ThreadNotFoundError",
    "ThreadExistsError",
    "SerializationError",
]


class GraphsaverError(Exception):
    """Base class of every error graphsaver raises."""

    __module__ = "graphsaver"


class ConfigError(GraphsaverError, ValueError):
    """A RunnableConfig or an argument is missing something or holds a bad value."""

    __module__ = "graphsaver"


class InvalidURLError(GraphsaverError, ValueError):
    """A database URL could not be understood."""

    __module__ = "graphsaver"


class StorageError(GraphsaverError):
    """The database could not be opened, read or written."""

    __module__ = "graphsaver"


class SchemaVersionError(StorageError):
    """The database schema was written by a newer graphsaver than this one."""

    __module__ = "graphsaver"


class IntegrityError(StorageError):
    """The database refused a write that would break one of its constraints."""

    __module__ = "graphsaver"


class CorruptDataError(GraphsaverError):
    """A stored record could not be decoded."""

    __module__ = "graphsaver"


class SerializationError(GraphsaverError):
    """A value could not be encoded for storage."""

    __module__ = "graphsaver"


class CheckpointNotFoundError(GraphsaverError, LookupError):
    """A checkpoint asked for by id does not exist."""

    __module__ = "graphsaver"


class ThreadNotFoundError(CheckpointNotFoundError):
    """A thread asked for by id has no checkpoints."""

    __module__ = "graphsaver"


class ThreadExistsError(GraphsaverError):
    """A copy or fork would write into a thread that already has checkpoints."""

    __module__ = "graphsaver"
