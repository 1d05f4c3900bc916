"""Keys, configs and the records graphsaver stores, with no I/O.

A checkpoint is stored as one row: its identity (thread, namespace, id, parent), a msgpack
record of everything but the channel values, the metadata as JSON (queryable), and the
channel versions as JSON (so SQL can join a checkpoint to its blobs). Channel values live in
one blob per (thread, namespace, channel, version).
"""

from __future__ import annotations

import functools
import json
import math
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import Enum
from typing import Any
from uuid import UUID

import msgpack
import ormsgpack
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    Checkpoint,
    CheckpointMetadata,
    get_checkpoint_metadata,
)

from graphsaver.errors import ConfigError, CorruptDataError, SerializationError

RECORD_FORMAT = 1

# What a value is, for error messages: a string, or a function that makes it on demand (the
# hot paths describe every value they touch but almost never need the text).
Describe = str | Callable[[], str]


def text(what: Describe) -> str:
    return what if isinstance(what, str) else what()


@dataclass(slots=True)  # not frozen: made at every call, and a frozen one costs three times as much
class Key:
    """Where a checkpoint lives: a thread, a namespace, and maybe a checkpoint id."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str | None

    def describe(self) -> str:
        where = f"thread {self.thread_id!r}"
        if self.checkpoint_ns:
            where += f", namespace {self.checkpoint_ns!r}"
        if self.checkpoint_id:
            where += f", checkpoint {self.checkpoint_id!r}"
        return where


def key_from_config(config: RunnableConfig | None, *, need_thread: bool = True) -> Key:
    """Read thread, namespace and checkpoint id from a config, with a clear error."""
    configurable = (config.get("configurable") if config else None) or {}
    if type(configurable) is not dict and not isinstance(configurable, Mapping):
        raise ConfigError(f"config['configurable'] must be a mapping, got {type(configurable).__name__}")
    thread_id = configurable.get("thread_id")
    if type(thread_id) is not str:
        if thread_id is None:
            if need_thread:
                raise ConfigError(
                    "config is missing configurable.thread_id: pass "
                    "{'configurable': {'thread_id': '...'}} when you invoke the graph"
                )
            thread_id = ""
        elif isinstance(thread_id, (str, int)) and not isinstance(thread_id, bool):
            thread_id = str(thread_id)
        else:
            raise ConfigError(f"thread_id must be a string, got {type(thread_id).__name__}")
    ns = configurable.get("checkpoint_ns") or ""
    if type(ns) is not str:
        raise ConfigError(f"checkpoint_ns must be a string, got {type(ns).__name__}")
    checkpoint_id = configurable.get("checkpoint_id") or None
    if checkpoint_id is not None and type(checkpoint_id) is not str:
        raise ConfigError(f"checkpoint_id must be a string, got {type(checkpoint_id).__name__}")
    return Key(thread_id, ns, checkpoint_id)


def config_for(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def encode_versions(versions: Mapping[str, Any]) -> str:
    """Channel versions as a JSON object, keeping ints, floats and strings apart."""
    for channel, version in versions.items():
        if type(version) not in _VERSION_TYPES and (
            not isinstance(version, (str, int, float)) or isinstance(version, bool)
        ):
            raise SerializationError(
                f"channel {channel!r} has version {version!r}: versions must be str, int or float"
            )
    return canonical_json(versions if type(versions) is dict else dict(versions))


_VERSION_TYPES = (str, int, float)


def version_key(version: object) -> str:
    """The text form of a channel version, as stored in the blob table's key."""
    if type(version) is str:  # the usual case, on every put's hot path
        return version
    if isinstance(version, float):
        return repr(version)
    return str(version)


# --- the checkpoint record ---------------------------------------------------------------------


# ormsgpack writes the bytes msgpack's packb(use_bin_type=True) writes for plain data, three
# times as fast; anything else (a datetime, a dataclass, an enum, a UUID) is refused, as msgpack
# refuses it, instead of being turned into a string.
_PLAIN_ONLY = (
    ormsgpack.OPT_NON_STR_KEYS
    | ormsgpack.OPT_PASSTHROUGH_DATACLASS
    | ormsgpack.OPT_PASSTHROUGH_DATETIME
    | ormsgpack.OPT_PASSTHROUGH_ENUM
    | ormsgpack.OPT_PASSTHROUGH_UUID
)


def pack(obj: Any) -> bytes:
    """Plain data (None, bool, int, float, str, bytes, lists, tuples, dicts) as msgpack."""
    return ormsgpack.packb(obj, option=_PLAIN_ONLY)


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not part of a graphsaver record")


def unpack(data: bytes) -> Any:
    # strict_map_key=False: versions_seen may use non-string keys in old checkpoints.
    # graphsaver's records hold plain data only: any extension type fails closed.
    return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=_refuse_ext)


def encode_record(checkpoint: Checkpoint) -> bytes:
    """Everything of a checkpoint but its channel values and versions, as msgpack.

    The channel versions are stored once, in their own JSON column (`encode_versions`).
    """
    body = {k: v for k, v in checkpoint.items() if k not in ("channel_values", "channel_versions")}
    try:
        return pack([RECORD_FORMAT, body])
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(
            f"checkpoint {checkpoint.get('id')!r} holds a field msgpack cannot encode: {exc}"
        ) from exc


def decode_record(data: bytes, where: Describe) -> dict[str, Any]:
    try:
        fmt, body = unpack(data)
    except Exception as exc:  # msgpack raises several unrelated types on bad input
        raise CorruptDataError(f"the checkpoint record of {text(where)} is corrupt: {exc}") from exc
    if fmt != RECORD_FORMAT or not isinstance(body, dict):
        raise CorruptDataError(f"the checkpoint record of {text(where)} has unknown format {fmt!r}")
    return body


# --- metadata ----------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _strip_nul(value: Any) -> Any:
    # PostgreSQL's jsonb rejects \u0000; strip it everywhere, as LangGraph does at the top level.
    if isinstance(value, str):
        return value.replace("\u0000", "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def _json_encoder() -> Callable[[Any], str]:
    """The encoder of `canonical_json`, made once (json.dumps builds one at every call).

    Without json's C accelerator it is json.dumps itself. With it, circular references are
    not looked for: one ends as a RecursionError instead of json's ValueError.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return functools.partial(
            json.dumps,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=_json_default,
            allow_nan=False,
        )
    # markers, default, encoder, indent, key and item separators, sort_keys, skipkeys, allow_nan
    encode = make(None, _json_default, json.encoder.encode_basestring, None, ":", ",", True, False, False)
    return lambda value: "".join(encode(value, 0))


_canonical = _json_encoder()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the one text form a value has in the database."""
    return _canonical(value)


def encode_metadata(config: RunnableConfig, metadata: CheckpointMetadata) -> tuple[str, str | None]:
    """The metadata as canonical JSON, and its run id (a column of its own, for delete_for_runs)."""
    extra: Any = config.get("metadata")
    if type(extra) is ChainMap:  # what LangGraph passes; reading one key by key is slow
        flat: dict[str, Any] = {}
        for level in reversed(extra.maps):  # the same keys, order and values as the ChainMap
            flat.update(level)
        config = {**config, "metadata": flat}
    merged: dict[str, Any] = dict(get_checkpoint_metadata(config, metadata))
    merged.pop("writes", None)  # rebuilt from the stored writes; never stored twice
    try:
        text = canonical_json(merged)
        if "\\u0000" in text:  # a NUL somewhere below the top level (rare): strip it everywhere
            merged = _strip_nul(merged)
            text = canonical_json(merged)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"checkpoint metadata cannot be stored as JSON: {exc}") from exc
    run_id = merged.get("run_id")
    return text, None if run_id is None else str(run_id)


def decode_json_object(data: str | bytes | dict[str, Any], what: Describe) -> dict[str, Any]:
    if isinstance(data, dict):  # PostgreSQL hands back jsonb already parsed
        return data
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise CorruptDataError(f"{text(what)} is corrupt: {exc}") from exc
    if not isinstance(value, dict):
        raise CorruptDataError(f"{text(what)} is not a JSON object")
    return value


def decode_metadata(data: str | bytes | dict[str, Any], where: Describe) -> CheckpointMetadata:
    return decode_json_object(data, lambda: f"the metadata of {text(where)}")  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class FilterTerm:
    """One `metadata[key] == value` condition, in a form both SQL dialects can bind."""

    key: str
    json_type: str  # the type names of SQLite's json_each: null true false integer real text array object
    value: Any  # the SQL-comparable value, or canonical JSON text for arrays and objects
    json_text: str  # the value as canonical JSON


def filter_terms(filter: Mapping[str, Any] | None) -> list[FilterTerm]:
    """Validate a metadata filter. Keys and values are always bound as SQL parameters."""
    terms = []
    for key, value in (filter or {}).items():
        if not isinstance(key, str):
            raise ConfigError(f"metadata filter keys must be strings, got {key!r}")
        try:
            text = canonical_json(value)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ConfigError(f"metadata filter value for {key!r} is not JSON: {exc}") from exc
        if value is None:
            terms.append(FilterTerm(key, "null", None, text))
        elif value is True or value is False:
            terms.append(FilterTerm(key, "true" if value else "false", None, text))
        elif isinstance(value, int):
            if not -(2**63) <= value < 2**63:
                raise ConfigError(f"metadata filter value for {key!r} is outside the 64-bit integer range")
            terms.append(FilterTerm(key, "integer", value, text))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ConfigError(f"metadata filter value for {key!r} must be finite")
            terms.append(FilterTerm(key, "real", value, text))
        elif isinstance(value, str):
            terms.append(FilterTerm(key, "text", value, text))
        else:
            kind = "object" if isinstance(value, Mapping) else "array"
            terms.append(FilterTerm(key, kind, text, text))
    return terms
