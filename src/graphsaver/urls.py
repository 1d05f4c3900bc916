"""Database URLs: parsing, and a form safe to print (the password replaced)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from graphsaver.errors import InvalidURLError

FORMS = (
    "memory://, sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite://:memory: "
    "or postgresql://user:password@host:5432/database"
)


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "memory", "sqlite" or "postgres"
    location: str  # a file path for sqlite, the conninfo for postgres
    display: str  # the URL with any password replaced by ***


def redact(url: str) -> str:
    """The URL with its password (if any) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:***@{netloc[1]}"))


def parse(url: str) -> Target:
    if not isinstance(url, str) or not url.strip():
        raise InvalidURLError(f"a database URL is required: {FORMS}")
    display = redact(url)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise InvalidURLError(f"{display!r} is not a database URL: use {FORMS}")
    if scheme == "memory":
        if rest:
            raise InvalidURLError(f"{display!r}: memory:// takes nothing after '//'")
        return Target("memory", ":memory:", display)
    if scheme == "sqlite":
        if rest == ":memory:":
            return Target("memory", ":memory:", display)
        if not rest.startswith("/") or rest == "/":
            raise InvalidURLError(
                f"{display!r} names no file: use sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
        path = rest[1:]  # sqlite:///x.db -> x.db, sqlite:////abs/x.db -> /abs/x.db
        if "?" in path or "\x00" in path:
            raise InvalidURLError(f"{display!r}: query strings and NUL are not allowed in a sqlite URL")
        return Target("sqlite", path, display)
    if scheme in ("postgresql", "postgres"):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise InvalidURLError(f"{display!r} is not a valid PostgreSQL URL: {exc}") from None
        return Target("postgres", url, display)
    raise InvalidURLError(f"unknown database URL scheme {scheme!r} in {display!r}: use {FORMS}")
