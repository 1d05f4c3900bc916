"""Database URLs: parsing, and a form safe to print (the password replaced)."""

from __future__ import annotations

from dataclasses import dataclass

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


def _split_userinfo(url: str) -> tuple[str, str, str | None, str] | None:
    """(scheme, user, password, rest after '@') of `scheme://user:password@rest`, or None.

    The password ends at the *last* '@': users write passwords holding '/', '?', '#' or '@'
    without percent-encoding them, and those must never be printed either.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    userinfo, _, host = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return scheme, user, (password if colon else None), host


def redact(url: str) -> str:
    """The URL with its password (if any) replaced by ***."""
    parts = _split_userinfo(url)
    if parts is None or parts[2] is None:
        return url
    scheme, user, _, host = parts
    return f"{scheme}://{user}:***@{host}"


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
        split = _split_userinfo(url)
        hostpart = (split[3] if split else rest).split("/", 1)[0].split("?", 1)[0]
        for host in hostpart.split(","):
            port = host.rsplit("]", 1)[-1].rpartition(":")[2] if ":" in host.rsplit("]", 1)[-1] else ""
            if port and not (port.isdigit() and 0 < int(port) < 65536):
                raise InvalidURLError(f"{display!r} is not a valid PostgreSQL URL: bad port {port!r}")
        return Target("postgres", url, display)
    raise InvalidURLError(f"unknown database URL scheme {scheme!r} in {display!r}: use {FORMS}")
