"""Channel values and pending writes go through LangGraph's serializer protocol.

The saver's `serde` (LangGraph's JsonPlusSerializer in strict mode by default) turns a value
into a `(type, bytes)` pair. Decoding names the thread, checkpoint and channel on failure.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from graphsaver.core.records import Describe, text
from graphsaver.errors import CorruptDataError, SerializationError

EMPTY = "empty"  # a channel with a version but no value (LangGraph's own convention)


def default_serde() -> SerializerProtocol:
    """LangGraph's serializer, strict: only its safe types and those the graph allowlists."""
    return JsonPlusSerializer(allowed_msgpack_modules=None)


def dumps(serde: SerializerProtocol, value: Any, what: Describe) -> tuple[str, bytes]:
    try:
        return serde.dumps_typed(value)
    except Exception as exc:  # serializers raise whatever their codec raises
        raise SerializationError(f"cannot serialize {text(what)}: {type(exc).__name__}: {exc}") from exc


def loads(serde: SerializerProtocol, type_: str, data: bytes | None, what: Describe) -> Any:
    try:
        return serde.loads_typed((type_, bytes(data) if data is not None else b""))
    except Exception as exc:  # serializers raise whatever their codec raises
        raise CorruptDataError(f"cannot decode {text(what)}: {type(exc).__name__}: {exc}") from exc
