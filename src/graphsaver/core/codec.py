"""Channel values and pending writes go through LangGraph's serializer protocol.

The saver's `serde` (LangGraph's JsonPlusSerializer in strict mode by default) turns a value
into a `(type, bytes)` pair. Decoding names the thread, checkpoint and channel on failure.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import sys
import threading
from collections.abc import Iterable
from typing import Any

import ormsgpack
from langgraph.checkpoint.serde import jsonplus
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.event_hooks import SerdeEvent, register_serde_event_listener
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.types import Send

from graphsaver.core.records import Describe, text
from graphsaver.errors import CorruptDataError, SerializationError

EMPTY = "empty"  # a channel with a version but no value (LangGraph's own convention)


_blocked = threading.local()


def _record_refusal(event: SerdeEvent) -> None:
    """LangGraph reports each type or method its strict mode refused; note it for loads_typed."""
    refused = getattr(_blocked, "types", None)
    if refused is not None and event.get("kind") in ("msgpack_blocked", "msgpack_method_blocked"):
        parts = [event.get("module"), event.get("name"), event.get("method")]
        refused.append(".".join(str(p) for p in parts if p))


register_serde_event_listener(_record_refusal)


class _Allowed(set[tuple[str, ...]]):
    """The types strict deserialization may construct (LangGraph calls `key in allowlist`).

    Besides LangGraph's safe types and the allowlist (the graph's state types, under
    LANGGRAPH_STRICT_MSGPACK, or given by the user), it admits *data classes*: pydantic
    models, dataclasses and enums defined in a module the application has already imported.
    LangGraph (outside its strict mode) never tells the checkpointer the graph's types, and
    without this a state holding the user's own models would silently come back as dicts.
    Functions, builtins and any other callable are never admitted, and no module is imported,
    so a crafted row cannot name `os.system` or `builtins.eval` to have it called. A refused
    type or method is reported by LangGraph's serde events, and `loads_typed` then raises
    instead of returning the raw payload.
    """

    def __contains__(self, key: object) -> bool:
        if super().__contains__(key):
            return True
        return isinstance(key, tuple) and len(key) == 2 and _is_data_class(*key)


def _is_data_class(module: str, name: str) -> bool:
    obj = getattr(sys.modules.get(module), name, None)
    if not isinstance(obj, type):
        return False
    if dataclasses.is_dataclass(obj) or issubclass(obj, enum.Enum):
        return True
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(obj, pydantic.BaseModel)


def _encode_default(obj: Any) -> Any:
    """LangGraph's msgpack hook, with two of its cases written faster, to the same bytes.

    A pydantic model whose `model_dump()` is its `__dict__` (see `_plain_fields`: LangChain's
    messages are) holding only plain data is packed from its `__dict__`, without the copy
    `model_dump` makes: an AI message with three tool calls encodes in 2.5 us instead of 7.8.
    A value the fast path cannot pack as plain data (a nested model, a date, a set) leaves the
    model to LangGraph's hook.
    `Send` (a graph's fan-out packet) comes before a run-time protocol check of LangGraph's that
    costs about 15 us, more than the rest of the encoding. tests/test_serde.py compares the
    bytes with LangGraph's.
    """
    cls = type(obj)
    fields = _PLAIN_MODELS.get(cls, _UNKNOWN)
    if fields is _UNKNOWN:
        fields = _PLAIN_MODELS.setdefault(cls, _plain_fields(cls))
    if fields is not None and not obj.__pydantic_extra__ and tuple(obj.__dict__) == fields:
        try:
            body = ormsgpack.packb(
                (cls.__module__, cls.__name__, obj.__dict__, "model_validate_json"),
                default=_refuse,
                option=jsonplus._option,
            )
        except TypeError:  # ormsgpack's refusal: a value only LangGraph's hook writes (below)
            pass
        else:
            return ormsgpack.Ext(jsonplus.EXT_PYDANTIC_V2, body)
    if cls is Send:
        timeout = getattr(obj, "timeout", None)
        args = (obj.node, obj.arg) if timeout is None else (obj.node, obj.arg, timeout)
        return ormsgpack.Ext(
            jsonplus.EXT_CONSTRUCTOR_POS_ARGS, _encode((Send.__module__, Send.__name__, args))
        )
    return jsonplus._msgpack_default(obj)


class _NotPlain(Exception):
    """A value inside a model that only LangGraph's hook encodes."""


def _refuse(obj: Any) -> Any:
    raise _NotPlain


_UNKNOWN: Any = object()
_PLAIN_MODELS: dict[type, tuple[str, ...] | None] = {}  # class -> its fields, if plain (or None)


def _plain_fields(cls: type) -> tuple[str, ...] | None:
    """The field names of a pydantic model class whose `model_dump()` returns its `__dict__`
    (for plain values), or None.

    That holds when nothing changes what `model_dump` writes: no `model_dump` of its own, not a
    root model, no serializer anywhere in its schema (`field_serializer`, `model_serializer`,
    `PlainSerializer` in an annotation), no computed or excluded field, no dumping by alias.
    Extra fields (`extra="allow"`) and a `__dict__` whose keys are not the fields in order are
    checked on each object.
    """
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(cls, type) or not issubclass(cls, pydantic.BaseModel):
        return None
    model: Any = cls
    if model.model_dump is not pydantic.BaseModel.model_dump or getattr(
        model, "__pydantic_root_model__", False
    ):
        return None
    if model.model_config.get("serialize_by_alias") or _customizes_dump(model.__pydantic_core_schema__):
        return None
    return tuple(model.model_fields)


_DUMP_KEYS = ("serialization", "computed_fields", "serialization_exclude", "serialization_exclude_if")


def _customizes_dump(schema: Any) -> bool:
    """Whether a pydantic core schema changes, anywhere, what a dump writes."""
    if isinstance(schema, dict):
        if any(schema.get(key) for key in _DUMP_KEYS):
            return True
        return any(_customizes_dump(value) for value in schema.values())
    if isinstance(schema, (list, tuple)):
        return any(_customizes_dump(value) for value in schema)
    return False


def _encode(value: Any) -> bytes:
    return ormsgpack.packb(value, default=_encode_default, option=jsonplus._option)


class GraphsaverSerializer(JsonPlusSerializer):
    """LangGraph's JsonPlusSerializer, strict, never pickling, failing closed on refused types."""

    def __init__(self, allowed: Iterable[tuple[str, ...] | type] = ()) -> None:
        super().__init__(pickle_fallback=False, allowed_msgpack_modules=None)
        self._allow(jsonplus._normalize_module_keys(tuple(allowed)))

    def _allow(self, keys: set[tuple[str, ...]]) -> None:
        self._allowed_msgpack_modules = _Allowed(keys)
        self._unpack_ext_hook = jsonplus._create_msgpack_ext_hook(self._allowed_msgpack_modules)

    def with_msgpack_allowlist(self, extra_allowlist: Iterable[tuple[str, ...] | type]) -> JsonPlusSerializer:
        allowed = self._allowed_msgpack_modules
        current = set(allowed) if isinstance(allowed, set) else set()
        merged = current | jsonplus._normalize_module_keys(tuple(extra_allowlist))
        if merged == current:
            return self
        clone = copy.copy(self)
        clone._allow(merged)
        return clone

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if obj is None or isinstance(obj, (bytes, bytearray)):
            return super().dumps_typed(obj)
        return "msgpack", _encode(obj)  # never pickles: an unencodable value raises

    def _reviver(self, value: dict[str, Any]) -> Any:
        revived = super()._reviver(value)
        if revived is value and value.get("lc") == 2 and value.get("type") == "constructor":
            refused = getattr(_blocked, "types", None)
            if refused is not None:  # a JSON constructor LangGraph left unbuilt
                refused.append(".".join(map(str, value.get("id") or ["?"])))
        return revived

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        refused: list[str] = []
        _blocked.types = refused
        try:
            value = super().loads_typed(data)
        finally:
            _blocked.types = None
        if refused:
            raise TypeError(
                f"the stored value names {', '.join(sorted(set(refused)))}, which strict "
                "deserialization does not construct; if it is your own type, import its module "
                "first or pass it in serde=graphsaver.GraphsaverSerializer(allowed=[...])"
            )
        return value


def default_serde() -> SerializerProtocol:
    """LangGraph's serializer, strict (see `GraphsaverSerializer`)."""
    return GraphsaverSerializer()


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
