"""The LangGraph checkpointer: each method is one call into the core, run by an engine.

A saver owns an engine (SQLite, or PostgreSQL) and hands it operations from
`graphsaver.core.ops`. The sync method runs the operation on the calling thread; the async
method awaits the engine's async runner. Neither needs an event loop of its own, so one saver
serves `invoke` and `ainvoke`, from any thread, opened with `with` or `async with`.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from graphsaver.core import codec, lru, ops
from graphsaver.core.latest import LatestCache
from graphsaver.core.lists import ListCache, ListKey, ListState
from graphsaver.errors import ConfigError, IntegrityError
from graphsaver.storage import migrations
from graphsaver.storage.queries import PageQuery, Queries
from graphsaver.storage.sql import Compacted, Operation

T = TypeVar("T")

# Version suffixes come from a generator of graphsaver's own, seeded from the OS and reseeded
# in every forked child: a program that seeds the global `random`, or two forked workers, must
# still mint distinct versions on two branches. (SystemRandom would cost a syscall per version.)
_VERSION_RANDOM = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _VERSION_RANDOM.seed(os.urandom(32)))


class Engine(Protocol):
    """What a saver needs from a storage engine."""

    queries: Queries
    prefix: str
    where: str
    latest: LatestCache | None  # only for a store no one else writes: see core/latest.py

    def run(self, op: Operation[T], *, write: bool) -> T: ...

    async def arun(self, op: Operation[T], *, write: bool) -> T: ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...

    def compact(self) -> Compacted: ...


class GraphsaverSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer backed by a graphsaver engine.

    Use it with `with` or `async with` (both close it at the end), or call `close()`.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        serde: SerializerProtocol | None = None,
        setup: bool = True,
        cache_mb: float = lru.CACHE_MB,
    ) -> None:
        super().__init__(serde=serde or codec.default_serde())
        try:
            budget = lru.budget(cache_mb)
        except ConfigError:
            engine.close()  # the saver classes open it first
            raise
        self._engine = engine
        self._q = engine.queries
        self._setup_on_enter = setup
        self._lists = ListCache(lru.SizedLRU(max_bytes=budget))
        self._latest = engine.latest
        if self._latest is not None:
            self._latest.limit(budget)

    # --- lifecycle ---------------------------------------------------------------------------

    def setup(self) -> list[int]:
        """Create or upgrade the schema; returns the migration versions applied now."""
        return self._engine.run(self._setup_op(), write=True)

    async def asetup(self) -> list[int]:
        """Create or upgrade the schema; returns the migration versions applied now."""
        return await self._engine.arun(self._setup_op(), write=True)

    def _setup_op(self) -> Operation[list[int]]:
        return migrations.setup(self._q, migrations.MIGRATIONS, self._engine.prefix, self._engine.where)

    def close(self) -> None:
        self._engine.close()

    async def aclose(self) -> None:
        await self._engine.aclose()

    def __enter__(self: T) -> T:
        saver: Any = self
        if saver._setup_on_enter:
            saver.setup()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self: T) -> T:
        saver: Any = self
        bind_loop = getattr(saver._engine, "bind_loop", None)
        if bind_loop is not None:  # engines with per-loop resources keep them on this loop
            bind_loop(asyncio.get_running_loop())
        if saver._setup_on_enter:
            await saver.asetup()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- the checkpointer contract ------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._remember(self._engine.run(self._get_op(config), write=False))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._remember(await self._engine.arun(self._get_op(config), write=False))

    def _get_op(
        self, config: RunnableConfig
    ) -> Operation[tuple[CheckpointTuple | None, Sequence[tuple[ListKey, ListState]]]]:
        return ops.get_tuple(self._q, self.serde, self._lists, ops.get_query(config), self._latest)

    def _remember(self, result: tuple[T, Sequence[tuple[ListKey, ListState]]]) -> T:
        """Keep the list states of what was read or written, for the next put's deltas."""
        value, states = result
        self._lists.update(states)
        return value

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        return self._pages(ops.list_query(config, filter=filter, before=before, limit=limit))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        async for item in self._apages(ops.list_query(config, filter=filter, before=before, limit=limit)):
            yield item

    def _pages(self, page: PageQuery | None) -> Iterator[CheckpointTuple]:
        while page is not None:
            tuples, page = self._engine.run(
                ops.list_page(self._q, self.serde, self._lists, page), write=False
            )
            yield from tuples

    async def _apages(self, page: PageQuery | None) -> AsyncIterator[CheckpointTuple]:
        while page is not None:
            op = ops.list_page(self._q, self.serde, self._lists, page)
            tuples, page = await self._engine.arun(op, write=False)
            for item in tuples:
                yield item

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        args = (config, checkpoint, metadata, new_versions)
        try:
            return self._remember(self._engine.run(self._put_op(*args), write=True))
        except IntegrityError:
            self._forget(config)
            return self._remember(self._engine.run(self._put_op(*args), write=True))

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        args = (config, checkpoint, metadata, new_versions)
        try:
            return self._remember(await self._engine.arun(self._put_op(*args), write=True))
        except IntegrityError:
            self._forget(config)
            return self._remember(await self._engine.arun(self._put_op(*args), write=True))

    def _put_op(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Operation[tuple[RunnableConfig, Sequence[tuple[ListKey, ListState]]]]:
        return ops.put(
            self._q, self.serde, self._lists, config, checkpoint, metadata, new_versions, self._latest
        )

    def _forget(self, config: RunnableConfig) -> None:
        """A list delta's base was deleted by someone else: store full values for the thread."""
        thread_id = (config.get("configurable") or {}).get("thread_id")
        self._lists.forget_threads([str(thread_id)])

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        op = ops.put_writes(self._q, self.serde, config, writes, task_id, task_path, self._latest)
        self._engine.run(op, write=True)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        op = ops.put_writes(self._q, self.serde, config, writes, task_id, task_path, self._latest)
        await self._engine.arun(op, write=True)

    def delete_thread(self, thread_id: str) -> None:
        self._lists.forget_threads([thread_id])
        self._engine.run(ops.delete_threads(self._q, [thread_id]), write=True)

    async def adelete_thread(self, thread_id: str) -> None:
        self._lists.forget_threads([thread_id])
        await self._engine.arun(ops.delete_threads(self._q, [thread_id]), write=True)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._lists.clear()
        self._engine.run(ops.delete_for_runs(self._q, run_ids), write=True)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._lists.clear()
        await self._engine.arun(ops.delete_for_runs(self._q, run_ids), write=True)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._engine.run(ops.copy_thread(self._q, source_thread_id, target_thread_id), write=True)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._engine.arun(ops.copy_thread(self._q, source_thread_id, target_thread_id), write=True)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._lists.forget_threads(thread_ids)
        self._engine.run(ops.prune(self._q, thread_ids, strategy), write=True)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._lists.forget_threads(thread_ids)
        await self._engine.arun(ops.prune(self._q, thread_ids, strategy), write=True)

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        op = ops.delta_channel_history(self._q, self.serde, config, channels)
        return self._engine.run(op, write=False)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        op = ops.delta_channel_history(self._q, self.serde, config, channels)
        return await self._engine.arun(op, write=False)

    def get_next_version(self, current: str | int | float | None, channel: None = None) -> str:
        """A version that sorts after `current`: a zero-padded counter and a random suffix.

        The suffix keeps versions made on two branches forked from one checkpoint distinct.
        `current` may come from anywhere (another saver, LangGraph's API server): integers,
        floats and strings with or without a numeric prefix are all accepted.
        """
        if current is None:
            counter = 0
        elif isinstance(current, (int, float)):
            counter = int(current)
        else:
            head = str(current).partition(".")[0]
            counter = int(head) if head.isdecimal() else 0
        # an integer suffix: formatting a random float cost as much as the rest of this call
        return f"{counter + 1:032}.{_VERSION_RANDOM.getrandbits(53):016}"

    # --- beyond the contract -------------------------------------------------------------------

    def compact(self) -> Compacted:
        """Give back the space that deleted checkpoints left (`prune`, `delete_thread`,
        `delete_for_runs`); what remains is unchanged. Returns the store's size in bytes
        before and after.

        SQLite rewrites the database (VACUUM), into 8 KB pages if the file was made with
        smaller ones and no other connection has it open. PostgreSQL rewrites the saver's
        tables (VACUUM FULL), which locks them while it runs: other workers wait.
        """
        return self._engine.compact()

    async def acompact(self) -> Compacted:
        """`compact`, from async code (it runs on a worker thread)."""
        return await asyncio.to_thread(self.compact)

    def list_metadata(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Like `list`, but without channel values or writes: for history views."""
        return self._pages(
            ops.list_query(config, filter=filter, before=before, limit=limit, with_values=False)
        )

    async def alist_metadata(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Like `alist`, but without channel values or writes: for history views."""
        query = ops.list_query(config, filter=filter, before=before, limit=limit, with_values=False)
        async for item in self._apages(query):
            yield item
