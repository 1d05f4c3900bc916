"""All data SQL of graphsaver, written once for both dialects.

SQLite and PostgreSQL share one schema and, apart from a handful of fragments (the parameter
placeholder, the JSON-object expansion function, the metadata filter), one set of statements.
A `Queries` object renders every statement for one dialect and one table prefix; the
dialect-specific schema DDL lives in each backend's `schema.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphsaver.core.records import FilterTerm
from graphsaver.errors import ConfigError


def check_limit(limit: int) -> int:
    """The limit of a listing, or ConfigError when it is not a non-negative int."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ConfigError(f"limit must be a non-negative integer, got {limit!r}")
    return int(limit)


def limit_clause(limit: int) -> str:
    """` LIMIT n`, with n written into the text rather than bound.

    A bound LIMIT is unknown to the plan PostgreSQL keeps for a prepared statement, which then
    assumes a tenth of the rows: that plan looks dearer than planning anew, so PostgreSQL
    re-planned the latest checkpoint's read at every execution (0.62-0.76 ms on the server,
    0.25-0.36 ms with the kept plan). Only an int is ever written here.
    """
    return f" LIMIT {check_limit(limit)}"


# The columns of a "tuple page" (kind, k1..k7, bin, num): checkpoint rows (kind 0), blob rows
# (kind 1) and write rows (kind 2), in one result, so a page costs one statement.
#   kind 0: thread, ns, checkpoint_id, parent_id, metadata, channel_versions, NULL, record, NULL
#   kind 1: thread, ns, channel, version, type, base, NULL, data, NULL
#   kind 2: thread, ns, checkpoint_id, task_id, channel, type, task_path, data, idx


@dataclass(frozen=True, slots=True)
class PageQuery:
    """Which checkpoints a page holds: the WHERE clause of list and get_tuple."""

    thread_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    before_id: str | None = None
    # keyset cursor: (checkpoint_id, thread_id, checkpoint_ns) of the last row of the previous page
    after: tuple[str, str, str] | None = None
    run_ids: Sequence[str] | None = None
    filters: Sequence[FilterTerm] = field(default_factory=tuple)
    limit: int | None = None
    with_values: bool = True
    # {channel: version} the reader already holds (a single thread and namespace): not fetched
    known: str | None = None

    @property
    def custom_plan(self) -> bool:
        """Whether the page needs a plan made for its own values: a metadata filter across
        threads, whose selectivity decides between the metadata index and walking checkpoints
        newest first (a prepared plan of the other kind took 5x as long in the scale store)."""
        return bool(self.filters) and self.thread_id is None


class Queries:
    """The statements of one dialect. `p` is the placeholder, `each` expands a JSON object."""

    def __init__(self, *, dialect: str, prefix: str = "") -> None:
        if dialect not in ("sqlite", "postgres"):
            raise ValueError(dialect)
        self.dialect = dialect
        p = "?" if dialect == "sqlite" else "%s"
        self.p = p
        self.each = "json_each" if dialect == "sqlite" else "jsonb_each_text"
        self.json_param = p if dialect == "sqlite" else f"{p}::jsonb"
        self.text = "" if dialect == "sqlite" else "::text"
        # a channel version from the channel_versions JSON, as the text the blob key holds
        self.cv_version = "CAST(cv.value AS TEXT)" if dialect == "sqlite" else "cv.value"
        t = self.tables = {
            "checkpoints": f"{prefix}graphsaver_checkpoints",
            "blobs": f"{prefix}graphsaver_blobs",
            "writes": f"{prefix}graphsaver_writes",
            "migrations": f"{prefix}graphsaver_migrations",
            "threads": f"{prefix}graphsaver_threads",
        }
        cp, bl, wr, th = t["checkpoints"], t["blobs"], t["writes"], t["threads"]
        self.MIGRATIONS = t["migrations"]

        # The thread summary: one row per thread, touched by every put (ts of the checkpoint).
        self.TOUCH_THREAD = (
            f"INSERT INTO {th} (thread_id, created_at, updated_at) VALUES ({p}, {p}, {p})"
            " ON CONFLICT (thread_id) DO UPDATE SET updated_at = excluded.updated_at"
            f" WHERE excluded.updated_at > {th}.updated_at"
        )
        self.DELETE_THREAD_ROWS = f"DELETE FROM {th} WHERE {self.in_list('thread_id')}"
        self.DELETE_EMPTY_THREAD_ROWS = (
            f"DELETE FROM {th} WHERE {self.in_list('thread_id')} AND NOT EXISTS"
            f" (SELECT 1 FROM {cp} c WHERE c.thread_id = {th}.thread_id)"
        )
        self.COPY_THREAD_ROW = (
            f"INSERT INTO {th} (thread_id, created_at, updated_at) SELECT {p}, created_at,"
            f" updated_at FROM {th} WHERE thread_id = {p} ON CONFLICT (thread_id) DO NOTHING"
        )

        # `compact`: the bytes the saver's store takes, and the statement that rewrites it
        # without the space deletes left (SQLite: the whole database file, in use or free).
        self.STORE_SIZE_PARAMS: tuple[Any, ...] = ()
        if dialect == "sqlite":
            self.STORE_SIZE = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
            self.COMPACT = "VACUUM"
        else:
            self.STORE_SIZE = (
                "SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)::bigint"
                f" FROM unnest({p}::text[]) t"
            )
            self.STORE_SIZE_PARAMS = (list(t.values()),)
            self.COMPACT = f"VACUUM (FULL, ANALYZE) {cp}, {bl}, {wr}, {th}"

        # `base` is set on a list delta: the version of the same channel it extends.
        self.INSERT_BLOB = (
            f"INSERT INTO {bl} (thread_id, checkpoint_ns, channel, version, type, data, base) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING"
        )
        self.UPSERT_CHECKPOINT = (
            f"INSERT INTO {cp} (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,"
            f" run_id, record, channel_versions, metadata)"
            f" VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {self.json_param}, {self.json_param})"
            " ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET"
            " parent_checkpoint_id = excluded.parent_checkpoint_id, run_id = excluded.run_id,"
            " record = excluded.record, channel_versions = excluded.channel_versions,"
            " metadata = excluded.metadata"
        )
        write_cols = (
            f"INSERT INTO {wr} (thread_id, checkpoint_ns, checkpoint_id, task_id, idx,"
            f" channel, type, data, task_path) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
            " ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)"
        )
        # Regular writes are kept once (a retried task must not duplicate them); the special
        # channels (error, interrupt, resume, scheduled) replace what was there.
        self.INSERT_WRITE = f"{write_cols} DO NOTHING"
        self.UPSERT_WRITE = (
            f"{write_cols} DO UPDATE SET channel = excluded.channel, type = excluded.type,"
            " data = excluded.data, task_path = excluded.task_path"
        )

        in_threads = self.in_list("thread_id")
        self.DELETE_THREAD_WRITES = f"DELETE FROM {wr} WHERE {in_threads}"
        self.DELETE_THREAD_BLOBS = f"DELETE FROM {bl} WHERE {in_threads}"
        self.DELETE_THREAD_CHECKPOINTS = f"DELETE FROM {cp} WHERE {in_threads}"

        self.SELECT_THREADS_OF_RUNS = f"SELECT DISTINCT thread_id FROM {cp} WHERE {self.in_list('run_id')}"
        self.DELETE_RUN_WRITES = (
            f"DELETE FROM {wr} WHERE EXISTS (SELECT 1 FROM {cp} c WHERE c.thread_id = {wr}.thread_id"
            f" AND c.checkpoint_ns = {wr}.checkpoint_ns AND c.checkpoint_id = {wr}.checkpoint_id"
            f" AND {self.in_list('c.run_id')})"
        )
        self.DELETE_RUN_CHECKPOINTS = f"DELETE FROM {cp} WHERE {self.in_list('run_id')}"

        # Blobs that no remaining checkpoint of the threads needs: not referenced by a
        # checkpoint's channel versions, nor the base of a list delta that is (transitively).
        self.DELETE_UNREFERENCED_BLOBS = (
            "WITH RECURSIVE live (thread_id, checkpoint_ns, channel, version) AS ("
            f" SELECT c.thread_id, c.checkpoint_ns, cv.key, {self.cv_version} FROM {cp} c,"
            f" {self.each}(c.channel_versions) cv WHERE {self.in_list('c.thread_id')}"
            " UNION SELECT l.thread_id, l.checkpoint_ns, l.channel, "
            + self._blob_column("l", "base")
            + " FROM live l WHERE l.version IS NOT NULL)"
            f" DELETE FROM {bl} WHERE {in_threads} AND (thread_id, checkpoint_ns, channel, version)"
            " NOT IN (SELECT thread_id, checkpoint_ns, channel, version FROM live)"
        )
        # Writes whose checkpoint is gone.
        self.DELETE_ORPHAN_WRITES = (
            f"DELETE FROM {wr} WHERE {in_threads} AND NOT EXISTS ("
            f"SELECT 1 FROM {cp} c WHERE c.thread_id = {wr}.thread_id"
            f" AND c.checkpoint_ns = {wr}.checkpoint_ns AND c.checkpoint_id = {wr}.checkpoint_id)"
        )

        self.COUNT_THREAD_CHECKPOINTS = f"SELECT count(*) FROM {cp} WHERE thread_id = {p}"
        self.COPY_CHECKPOINTS = (
            f"INSERT INTO {cp} (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,"
            " run_id, record, channel_versions, metadata)"
            f" SELECT {p}, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, record,"
            f" channel_versions, metadata FROM {cp} WHERE thread_id = {p}"
        )
        self.COPY_BLOBS = (
            f"INSERT INTO {bl} (thread_id, checkpoint_ns, channel, version, type, data, base)"
            f" SELECT {p}, checkpoint_ns, channel, version, type, data, base FROM {bl}"
            f" WHERE thread_id = {p}"
        )
        self.COPY_WRITES = (
            f"INSERT INTO {wr} (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel,"
            " type, data, task_path)"
            f" SELECT {p}, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, data,"
            f" task_path FROM {wr} WHERE thread_id = {p}"
        )

        # The parent chain of one checkpoint, nearest first (depth 1 = the parent itself).
        self.SELECT_ANCESTORS = (
            "WITH RECURSIVE chain (checkpoint_id, depth) AS ("
            f" SELECT parent_checkpoint_id, 1 FROM {cp}"
            f" WHERE thread_id = {p} AND checkpoint_ns = {p} AND checkpoint_id = {p}"
            " UNION ALL"
            f" SELECT c.parent_checkpoint_id, chain.depth + 1 FROM {cp} c JOIN chain"
            f" ON c.thread_id = {p} AND c.checkpoint_ns = {p} AND c.checkpoint_id = chain.checkpoint_id"
            f" WHERE chain.depth < {p})"
            f" SELECT c.checkpoint_id, c.channel_versions{self.text}, chain.depth FROM chain"
            f" JOIN {cp} c ON c.thread_id = {p} AND c.checkpoint_ns = {p}"
            " AND c.checkpoint_id = chain.checkpoint_id ORDER BY chain.depth"
        )
        # One channel value at one version, with the chain of list deltas it is built from.
        # Each blob's columns are primary-key lookups (`_blob_column`): nothing in the plan
        # depends on the values, so PostgreSQL keeps one plan for the prepared statement
        # (selecting the channel's blobs by version made that plan look dearer than planning
        # anew, which PostgreSQL then did at every call).
        self.SELECT_BLOB_CHAIN = (
            "WITH RECURSIVE chain (thread_id, checkpoint_ns, channel, version) AS ("
            f"SELECT CAST({p} AS TEXT), CAST({p} AS TEXT), CAST({p} AS TEXT), CAST({p} AS TEXT)"
            " UNION SELECT k.thread_id, k.checkpoint_ns, k.channel, "
            + self._blob_column("k", "base")
            + " FROM chain k WHERE k.version IS NOT NULL)"
            f" SELECT k.version, {self._blob_column('k', 'type')}, {self._blob_column('k', 'data')},"
            f" {self._blob_column('k', 'base')} FROM chain k WHERE k.version IS NOT NULL"
        )
        # Writes saved for checkpoints newer than a thread's newest (their put not stored yet).
        self.SELECT_WRITES_AFTER = (
            f"SELECT checkpoint_id, task_path, task_id, idx, channel, type, data FROM {wr}"
            f" WHERE thread_id = {p} AND checkpoint_ns = {p} AND checkpoint_id > {p}"
        )
        # Writes to some channels at some checkpoints of one thread and namespace.
        self.SELECT_WRITES_FOR_CHANNELS = (
            f"SELECT checkpoint_id, task_id, channel, type, data, task_path, idx FROM {wr}"
            f" WHERE thread_id = {p} AND checkpoint_ns = {p} AND {self.in_list('checkpoint_id')}"
            f" AND {self.in_list('channel')}"
        )
        self.SELECT_BLOB_TYPE = (
            f"SELECT type FROM {bl} WHERE thread_id = {p} AND checkpoint_ns = {p}"
            f" AND channel = {p} AND version = {p}"
        )

        # Checkpoints of the given threads, for prune: (thread, ns, id, parent, metadata)
        self.SELECT_THREAD_SKELETON = (
            f"SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,"
            f" metadata{self.text} FROM {cp} WHERE {in_threads}"
        )
        self.DELETE_CHECKPOINT = (
            f"DELETE FROM {cp} WHERE thread_id = {p} AND checkpoint_ns = {p} AND checkpoint_id = {p}"
        )

        # --- history (graphsaver.history, core/history_ops.py) ---------------------------------
        # Per-thread summaries for one page of threads: the latest root checkpoint and the
        # number of root checkpoints, found through the primary key of just those threads.
        latest = (
            f"(SELECT max(m.checkpoint_id) FROM {cp} m WHERE m.thread_id = t.value AND m.checkpoint_ns = '')"
        )
        self.HISTORY_THREAD_HEADS = (
            f"SELECT c.thread_id, c.checkpoint_id, c.metadata{self.text}, c.record,"
            f" c.channel_versions{self.text},"
            f" (SELECT count(*) FROM {cp} n WHERE n.thread_id = c.thread_id AND n.checkpoint_ns = '')"
            f" FROM {self.id_table('t')} JOIN {cp} c ON c.thread_id = t.value AND c.checkpoint_ns = ''"
            f" AND c.checkpoint_id = {latest}"
        )
        # The writes saved against some checkpoints of some threads (rows are matched to their
        # (thread, checkpoint) pair by the caller).
        self.HISTORY_WRITE_CHANNELS = (
            f"SELECT thread_id, checkpoint_id, task_id, task_path, channel FROM {wr}"
            f" WHERE {self.in_list('thread_id')} AND checkpoint_ns = ''"
            f" AND {self.in_list('checkpoint_id')}"
        )
        self.HISTORY_WRITES = (
            f"SELECT checkpoint_id, task_id, task_path, channel, idx, type, data FROM {wr}"
            f" WHERE thread_id = {p} AND checkpoint_ns = {p} AND {self.in_list('checkpoint_id')}"
        )
        self.HISTORY_COUNT_THREADS = f"SELECT count(*) FROM {th}"
        # A checkpoint and all its ancestors.
        self.HISTORY_CHAIN = (
            "WITH RECURSIVE chain (checkpoint_id) AS ("
            f" SELECT checkpoint_id FROM {cp}"
            f" WHERE thread_id = {p} AND checkpoint_ns = {p} AND checkpoint_id = {p}"
            f" UNION SELECT c.parent_checkpoint_id FROM {cp} c JOIN chain"
            f" ON c.thread_id = {p} AND c.checkpoint_ns = {p} AND c.checkpoint_id = chain.checkpoint_id"
            " WHERE c.parent_checkpoint_id IS NOT NULL)"
            " SELECT checkpoint_id FROM chain"
        )
        self.HISTORY_FORK_CHECKPOINTS = (
            f"INSERT INTO {cp} (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,"
            " run_id, record, channel_versions, metadata)"
            f" SELECT {p}, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, record,"
            f" channel_versions, metadata FROM {cp} WHERE thread_id = {p} AND checkpoint_ns = {p}"
            f" AND {self.in_list('checkpoint_id')}"
        )
        self.HISTORY_FORK_WRITES = (
            f"INSERT INTO {wr} (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel,"
            " type, data, task_path)"
            f" SELECT {p}, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, data,"
            f" task_path FROM {wr} WHERE thread_id = {p} AND checkpoint_ns = {p}"
            f" AND {self.in_list('checkpoint_id')}"
        )
        # Rows and bytes per thread, for `graphsaver stats`: (thread, rows, bytes) per table.
        self.HISTORY_STATS_CHECKPOINTS = (
            f"SELECT thread_id, count(*), coalesce(sum(length(record)), 0) FROM {cp}"
            f" WHERE {in_threads} GROUP BY thread_id"
        )
        self.HISTORY_STATS_BLOBS = (
            f"SELECT thread_id, count(*), coalesce(sum(length(data)), 0) FROM {bl}"
            f" WHERE {in_threads} GROUP BY thread_id"
        )
        self.HISTORY_STATS_WRITES = (
            f"SELECT thread_id, count(*), coalesce(sum(length(data)), 0) FROM {wr}"
            f" WHERE {in_threads} GROUP BY thread_id"
        )

    def _blob_column(self, alias: str, column: str) -> str:
        """One column of the blob that row `alias` names, as a correlated primary-key lookup.

        Blobs are reached this way (not by a join) so that both planners go through the key
        index: PostgreSQL overestimates the rows of a recursive CTE and would otherwise hash
        the whole blob table, making a read cost grow with the database.
        """
        bl = self.tables["blobs"]
        return (
            f"(SELECT b.{column} FROM {bl} b WHERE b.thread_id = {alias}.thread_id"
            f" AND b.checkpoint_ns = {alias}.checkpoint_ns AND b.channel = {alias}.channel"
            f" AND b.version = {alias}.version)"
        )

    def in_list(self, column: str) -> str:
        """`column IN <one bound list>`: a JSON array on SQLite, an array on PostgreSQL."""
        if self.dialect == "sqlite":
            return f"{column} IN (SELECT value FROM json_each({self.p}))"
        return f"{column} = ANY({self.p})"

    def id_table(self, alias: str) -> str:
        """One bound list of strings as a table with a `value` column, for driving a join."""
        if self.dialect == "sqlite":
            return f"json_each({self.p}) {alias}"
        return f"unnest({self.p}::text[]) AS {alias}(value)"

    def list_param(self, values: Sequence[str]) -> Any:
        if self.dialect == "sqlite":
            import json

            return json.dumps(list(values))
        return list(values)

    def metadata_condition(self, term: FilterTerm, params: list[Any], column: str) -> str:
        """One metadata equality condition; the key and value are always parameters.

        SQLite::

            EXISTS (SELECT 1 FROM json_each(c.metadata) m
                    WHERE m.key = ? AND m.type = ? [AND m.value = ?])

        PostgreSQL (containment lets the GIN index find candidates; equality is exact)::

            metadata @> jsonb_build_object(%s::text, %s::jsonb) AND metadata -> %s = %s::jsonb
        """
        if self.dialect == "postgres":
            params.extend([term.key, term.json_text, term.key, term.json_text])
            return f"{column} @> jsonb_build_object(%s::text, %s::jsonb) AND {column} -> %s::text = %s::jsonb"
        params.extend([term.key, term.json_type])
        cond = "m.key = ? AND m.type = ?"
        if term.json_type not in ("null", "true", "false"):
            params.append(term.value)
            cond += " AND m.value = ?"
        return f"EXISTS (SELECT 1 FROM json_each({column}) m WHERE {cond})"

    def _not_known(self, q: PageQuery, params: list[Any]) -> str:
        """Skip the channel versions the reader already holds (`q.known`)."""
        if q.known is None:
            return ""
        params.append(q.known)
        if self.dialect == "postgres":
            return " WHERE NOT (%s::jsonb @> jsonb_build_object(cv.key, cv.value))"
        return f" WHERE NOT EXISTS (SELECT 1 FROM json_each(?) x WHERE x.key = cv.key AND x.value = {self.cv_version})"

    def select_page(self, q: PageQuery) -> tuple[str, list[Any]]:
        """One page of checkpoints with their blobs and writes, as one statement::

        WITH c AS (SELECT ... FROM checkpoints WHERE <q> ORDER BY checkpoint_id DESC,
                   thread_id DESC, checkpoint_ns DESC LIMIT n)
        SELECT 0, <checkpoint columns> FROM c
        UNION ALL SELECT 1, <blob columns> FROM blobs WHERE (key) IN (<keys of c>)
        UNION ALL SELECT 2, <write columns> FROM c JOIN writes ...
        """
        p = self.p
        cp, wr = self.tables["checkpoints"], self.tables["writes"]
        params: list[Any] = []
        where: list[str] = []
        if q.thread_id is not None:
            where.append(f"thread_id = {p}")
            params.append(q.thread_id)
        if q.checkpoint_ns is not None:
            where.append(f"checkpoint_ns = {p}")
            params.append(q.checkpoint_ns)
        if q.checkpoint_id is not None:
            where.append(f"checkpoint_id = {p}")
            params.append(q.checkpoint_id)
        if q.before_id is not None:
            where.append(f"checkpoint_id < {p}")
            params.append(q.before_id)
        if q.after is not None:
            where.append(f"(checkpoint_id, thread_id, checkpoint_ns) < ({p}, {p}, {p})")
            params.extend(q.after)
        if q.run_ids is not None:
            where.append(self.in_list("run_id"))
            params.append(self.list_param(q.run_ids))
        for term in q.filters:
            where.append(self.metadata_condition(term, params, "metadata"))
        sql = (
            "WITH RECURSIVE c AS (SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,"
            f" metadata{self.text} AS metadata, channel_versions, record FROM {cp}"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY checkpoint_id DESC, thread_id DESC, checkpoint_ns DESC"
        )
        if q.limit is not None:
            sql += limit_clause(q.limit)
        sql += ")"
        if q.with_values:
            # every blob the page's checkpoints refer to, and the bases of list deltas
            sql += (
                ", keys (thread_id, checkpoint_ns, channel, version) AS ("
                f"SELECT c.thread_id, c.checkpoint_ns, cv.key, {self.cv_version} FROM c, {self.each}"
                f"(c.channel_versions) cv{self._not_known(q, params)}"
                " UNION SELECT k.thread_id, k.checkpoint_ns, k.channel, "
                + self._blob_column("k", "base")
                + " FROM keys k WHERE k.version IS NOT NULL)"
            )
        cols = (
            "0 AS kind, thread_id AS k1, checkpoint_ns AS k2, checkpoint_id AS k3,"
            f" parent_checkpoint_id AS k4, metadata AS k5, channel_versions{self.text} AS k6,"
            " NULL AS k7, record AS bin, CAST(NULL AS INTEGER) AS num"  # typed for the UNION on PostgreSQL
        )
        sql += f" SELECT {cols} FROM c"
        if q.with_values:
            sql += (
                " UNION ALL SELECT 1, k.thread_id, k.checkpoint_ns, k.channel, k.version,"
                f" {self._blob_column('k', 'type')}, {self._blob_column('k', 'base')}, NULL,"
                f" {self._blob_column('k', 'data')}, NULL FROM (SELECT DISTINCT thread_id,"
                " checkpoint_ns, channel, version FROM keys WHERE version IS NOT NULL) k"
                " UNION ALL SELECT 2, w.thread_id, w.checkpoint_ns, w.checkpoint_id, w.task_id,"
                f" w.channel, w.type, w.task_path, w.data, w.idx FROM c JOIN {wr} w ON"
                " w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns"
                " AND w.checkpoint_id = c.checkpoint_id"
            )
        return sql, params

    # --- history -------------------------------------------------------------------------------

    def history_threads_page(
        self, filters: Sequence[FilterTerm], after: tuple[str, str] | None, limit: int
    ) -> tuple[str, list[Any]]:
        """One page of threads from the summary table, the most recently updated first::

        SELECT thread_id, created_at, updated_at FROM threads t
        WHERE (t.updated_at, t.thread_id) < (?, ?)          -- the cursor, after page 1
          AND EXISTS (SELECT 1 FROM checkpoints c            -- one per metadata filter term
                      WHERE c.thread_id = t.thread_id AND <metadata condition>)
        ORDER BY t.updated_at DESC, t.thread_id DESC LIMIT n
        """
        p = self.p
        th, cp = self.tables["threads"], self.tables["checkpoints"]
        params: list[Any] = []
        where = []
        if after is not None:
            where.append(f"(t.updated_at, t.thread_id) < ({p}, {p})")
            params.extend(after)
        for term in filters:
            cond = self.metadata_condition(term, params, "c.metadata")
            where.append(f"EXISTS (SELECT 1 FROM {cp} c WHERE c.thread_id = t.thread_id AND {cond})")
        sql = f"SELECT t.thread_id, t.created_at, t.updated_at FROM {th} t"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY t.updated_at DESC, t.thread_id DESC" + limit_clause(limit)
        return sql, params
