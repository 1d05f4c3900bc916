"""The statements an operation asks a database to run, and the loops that run them.

An operation in `graphsaver.core.ops` is a generator: it yields statements and receives their
results, and returns the operation's result. It never touches a connection. An engine drives
the generator with `drive` (blocking drivers) or `adrive` (asyncio drivers), inside one
transaction. This is the only place where the sync and async worlds differ.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from graphsaver.errors import ConfigError

T = TypeVar("T")

# Statements are made several times per saver call: plain (not frozen) slotted classes, whose
# construction costs a third of a frozen one's. Nothing changes a statement once made.


@dataclass(slots=True)
class Fetch:
    """Run a query; the operation receives its rows as a list of tuples.

    `custom_plan`: plan the query for this execution's values instead of reusing a prepared
    statement's plan (PostgreSQL), where the best plan depends on a value's selectivity.
    """

    sql: str
    params: Sequence[Any] = ()
    custom_plan: bool = False


@dataclass(slots=True)
class Execute:
    """Run a statement; the operation receives the number of rows it changed."""

    sql: str
    params: Sequence[Any] = ()


@dataclass(slots=True)
class ExecuteMany:
    """Run one statement for each parameter set; the operation receives None.

    The operation does not look at the outcome, so an engine may queue it (PostgreSQL's
    pipeline mode) and send it with whatever comes next, until the commit.
    """

    sql: str
    params: Sequence[Sequence[Any]]


@dataclass(slots=True)
class Apply:
    """Run a statement whose outcome the operation does not need; it receives None.

    Like `ExecuteMany`, an engine may queue it until the next `Fetch`/`Execute` or the commit.
    """

    sql: str
    params: Sequence[Any] = ()


@dataclass(slots=True)
class Note:
    """Not SQL: Python to run once the writes before it are accepted, in the order writes are.

    Only an engine that holds a `LatestCache` receives them (core/latest.py); it runs each in
    the step that queues the operation's writes, so the cache sees writes in the order the
    store will run them.
    """

    run: Callable[[], None]


Statement = Fetch | Execute | ExecuteMany | Apply
Operation = Generator[Statement | Note, Any, T]


def drive(op: Operation[T], run: Callable[[Statement], Any]) -> T:
    """Run an operation with a blocking statement runner."""
    result: Any = None
    while True:
        try:
            statement = op.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if isinstance(statement, Note):
            statement.run()
            result = None
        else:
            result = run(statement)


async def adrive(op: Operation[T], run: Callable[[Statement], Awaitable[Any]]) -> T:
    """Run an operation with an asyncio statement runner."""
    result: Any = None
    while True:
        try:
            statement = op.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if isinstance(statement, Note):
            statement.run()
            result = None
        else:
            result = await run(statement)


@dataclass(frozen=True, slots=True)
class Compacted:
    """What `compact` did: the store's size in bytes before and after, and anything it could
    not do (`note`), such as moving a SQLite file to larger pages while another connection
    had the file open."""

    bytes_before: int
    bytes_after: int
    note: str | None = None


@dataclass(slots=True)
class Blind:
    """A write whose statements were all known before running any: see `prepare`."""

    statements: list[Statement]
    value: Any
    notes: list[Note]


def prepare(op: Operation[T]) -> Blind | Operation[T]:
    """Run an operation's Python up to the first statement whose result it needs.

    An operation that only yields `Apply`, `ExecuteMany` and `Note` (a `put`, a `put_writes`) never
    looks at a result, so all its statements and its return value are known before a
    transaction starts: it comes back as a `Blind` write, which a group commit may batch with
    others. Any other operation comes back as an equivalent operation (the statements collected
    so far, then the rest of the original).
    """
    done: list[Statement | Note] = []
    try:
        statement = op.send(None)
        while isinstance(statement, (Apply, ExecuteMany, Note)):
            done.append(statement)
            statement = op.send(None)
    except StopIteration as stop:
        statements = [st for st in done if not isinstance(st, Note)]
        return Blind(statements, stop.value, [st for st in done if isinstance(st, Note)])
    return _resume(done, statement, op)


def _resume(done: list[Statement | Note], pending: Statement, op: Operation[T]) -> Operation[T]:
    try:
        for statement in done:
            yield statement
        result = yield pending
        while True:
            try:
                statement = op.send(result)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            result = yield statement
    finally:
        op.close()


def check_text(statements: Sequence[Statement]) -> None:
    """Raise now, as a `ConfigError`, what binding a write's text would raise later.

    A write that waits in a queue or shares a batch must not fail there for its own bad input
    (a key that is not valid unicode), or it would fail the writes around it.
    """
    for st in statements:
        for row in st.params if isinstance(st, ExecuteMany) else (st.params,):
            for value in row:
                if type(value) is str and not value.isascii():  # ASCII always encodes
                    try:
                        value.encode()
                    except UnicodeEncodeError as exc:
                        raise ConfigError(f"a key or name is not valid unicode text: {exc}") from exc


def replay(statements: Sequence[Statement]) -> Operation[None]:
    """An operation that runs the given statements and looks at none of their results."""
    for statement in statements:  # noqa: UP028 (`yield from` would pass results on to a list)
        yield statement


# --- many rows in one statement --------------------------------------------------------------------

ROWS_PER_INSERT = 500  # x 9 columns at most: far below SQLite's and PostgreSQL's parameter limits


@functools.lru_cache(maxsize=256)
def multi_row(sql: str, rows: int) -> str | None:
    """`INSERT ... VALUES (a, b) ...` with its VALUES tuple repeated `rows` times, or None if
    `sql` is not such an insert."""
    start = sql.find(" VALUES (") + len(" VALUES ")
    if not sql.startswith("INSERT ") or start < len(" VALUES "):
        return None
    end = sql.index(")", start) + 1
    return sql[:start] + ", ".join([sql[start:end]] * rows) + sql[end:]


def as_multi_row(statement: ExecuteMany) -> Iterator[tuple[str, list[Any]]]:
    """An `ExecuteMany` insert as multi-row inserts: (sql, flat parameters) per chunk of rows.

    Each statement a driver runs costs a GIL hand-off (SQLite lets go of it for every statement;
    psycopg for every wait on the socket), and behind busy threads getting it back takes up to
    the interpreter's switch interval: one statement for many rows instead of one per row.
    """
    rows = statement.params
    for i in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[i : i + ROWS_PER_INSERT]
        sql = multi_row(statement.sql, len(chunk)) if len(chunk) > 1 else statement.sql
        yield sql or statement.sql, list(itertools.chain.from_iterable(chunk))


def only_inserts(statements: Sequence[Statement]) -> bool:
    """Whether every statement is an insert (or an upsert): what `merge_inserts` may reorder."""
    return all(st.sql.startswith("INSERT ") for st in statements)


def merge_inserts(statements: Sequence[Statement]) -> list[ExecuteMany] | None:
    """Blind writes made only of inserts, with the rows of each statement text gathered.

    Reordering them is safe: they are inserts and upserts (a delete among them returns None)
    whose rows keep their order within each statement text, and whose only reference, a list
    delta's base, points at a row written before (or earlier in the same statement).
    """
    if not only_inserts(statements):
        return None
    rows: dict[str, list[Sequence[Any]]] = {}
    for st in statements:
        if isinstance(st, ExecuteMany):
            rows.setdefault(st.sql, []).extend(st.params)
        else:
            rows.setdefault(st.sql, []).append(st.params)
    return [ExecuteMany(sql, params) for sql, params in rows.items()]
