"""Group commit: the writes that arrive while a transaction is in flight share the next one.

LangGraph saves each task's writes as soon as the task ends, and a checkpoint at the end of
each superstep; parallel tasks and concurrent threads therefore hand the saver many small
writes at once. Committing each on its own costs a round trip and a WAL flush apiece. Here a
committer takes every write waiting in the queue, runs them in one transaction (one round
trip on PostgreSQL), and only then tells each caller that its write is committed: durability
is unchanged, a caller still returns only once its data is on disk.

A sync writer that finds no write being committed and none queued may commit its own on its
own thread instead (`claim`), paying no thread switch; writes that arrive meanwhile queue for
the worker, whose batches wait for their turn (`_turn`).

Only blind writes join a batch (operations that never look at a statement's result, like `put`
and `put_writes`; see `storage.sql.prepare`). If a batch fails because the database refused a
statement, each of its writes is run again in a transaction of its own, so one bad write (a
conflicting key, say) fails alone and the others keep their outcome. A failure that is not
about the statements (no connection, a lost one) is every write's outcome at once: trying
them one by one would only make each wait for it again.

Two drivers share that logic (`_Batches`): `GroupCommitter`, a worker thread, for blocking
drivers; `LoopCommitter`, a task on the event loop, for asyncio drivers, so an async write
costs no thread switch at all (PostgreSQL's async pool). Each keeps one batch in flight: on
the graph benchmark, letting two or eight batches of one event loop run at once on pooled
connections made more, smaller transactions and took 14% longer (the loop's Python, not the
database, is what a batch waits for).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Sequence
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field

from graphsaver.errors import StorageError
from graphsaver.storage.sql import Statement, check_text

MAX_BATCH = 64  # writes per transaction: bounds how long one batch holds its row locks

# The statements to run in one transaction; the plan receives the exception they raised, or None.
Plan = Generator[list[Statement], BaseException | None, None]


@dataclass(slots=True)
class Ticket:
    statements: Sequence[Statement]
    done: Future[None] = field(default_factory=Future)


class _Batches:
    """The queue of writes and what to do with a batch of them, for both drivers below."""

    def __init__(self, refused: Callable[[BaseException], bool], where: str) -> None:
        self._refused = refused
        self._where = where
        self._queue: deque[Ticket] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._closed = False

    def _ticket(self, statements: Sequence[Statement]) -> Ticket:
        """A write to queue (under `_ready`). Text that cannot be bound raises here, so it
        fails this write and not its batch."""
        check_text(statements)
        if self._closed:
            raise StorageError(f"the saver for the database {self._where} is closed")
        return Ticket(statements)

    def _take(self) -> list[Ticket]:
        """The oldest queued writes, at most MAX_BATCH; a cancelled caller's write is dropped."""
        batch: list[Ticket] = []
        with self._ready:
            while self._queue and len(batch) < MAX_BATCH:
                ticket = self._queue.popleft()
                if ticket.done.set_running_or_notify_cancel():
                    batch.append(ticket)
        return batch

    def _plan(self, batch: list[Ticket]) -> Plan:
        """Commit the batch; if the database refused a statement, each write alone instead."""
        exc = yield [st for ticket in batch for st in ticket.statements]
        if exc is None:
            for ticket in batch:
                ticket.done.set_result(None)
        elif len(batch) == 1 or not self._refused(exc):
            for ticket in batch:
                ticket.done.set_exception(exc)
        else:
            for ticket in batch:  # find the write that failed; the others commit on their own
                yield from self._plan([ticket])


class GroupCommitter(_Batches):
    """Runs queued blind writes in batches on one worker thread, started on first use.

    `run_batch` runs statements in one transaction and raises if it fails; `refused` tells an
    error about the statements (worth running each write alone) from any other; `where` names
    the database in errors.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Statement]], None],
        refused: Callable[[BaseException], bool],
        where: str,
    ) -> None:
        super().__init__(refused, where)
        self._run_batch = run_batch
        self._turn = threading.Lock()  # held while a batch, or a write on its own, is committed
        self._worker: threading.Thread | None = None
        self._pid = os.getpid()

    def submit(self, statements: Sequence[Statement]) -> Future[None]:
        """Queue a blind write; the future resolves once it is committed (or has failed)."""
        with self._ready:
            ticket = self._ticket(statements)
            if self._pid != os.getpid():  # a forked child: the parent's queue is the parent's
                self._pid, self._worker = os.getpid(), None
                self._queue.clear()
                self._turn = threading.Lock()  # held, maybe, by a parent thread that is not here
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="graphsaver-commit", daemon=True)
                self._worker.start()
            self._queue.append(ticket)
            self._ready.notify()
        return ticket.done

    def claim(self) -> bool:
        """Take the turn to commit a write on this thread, if no write is being committed or
        waits (then `release` it); writes that arrive meanwhile queue for the worker."""
        if not self._turn.acquire(blocking=False):
            return False
        if self._queue:  # one just queued waits for the worker, which waits for this turn
            self._turn.release()
            return False
        return True

    def release(self) -> None:
        self._turn.release()

    def close(self) -> None:
        """Commit what is queued, then stop the worker."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
            with self._turn:  # the batch is taken once it can run: it holds what queued meanwhile
                batch = self._take()
                if batch:
                    self._commit(batch)

    def _commit(self, batch: list[Ticket]) -> None:
        plan = self._plan(batch)
        statements = next(plan)
        while True:
            try:
                self._run_batch(statements)
                outcome = None
            except BaseException as exc:
                outcome = exc
            try:
                statements = plan.send(outcome)
            except StopIteration:
                return


class LoopCommitter(_Batches):
    """Runs queued blind writes in batches in a task on the event loop it was made on.

    The same as `GroupCommitter` with an asyncio `run_batch`: writes made while a batch is in
    flight share the next one, and no thread is involved. Use it from its loop only.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Statement]], Awaitable[None]],
        refused: Callable[[BaseException], bool],
        where: str,
    ) -> None:
        super().__init__(refused, where)
        self._run_batch = run_batch
        self.loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, statements: Sequence[Statement]) -> None:
        """Queue a blind write and return once it is committed (or raise why it failed)."""
        with self._ready:
            ticket = self._ticket(statements)
            self._queue.append(ticket)
        if self._task is None:
            self._task = self.loop.create_task(self._work())
        await asyncio.wrap_future(ticket.done, loop=self.loop)

    async def aclose(self) -> None:
        """Commit what is queued, then stop (call it on the committer's loop)."""
        self._closed = True
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _work(self) -> None:
        try:
            while self._queue:
                batch = self._take()
                if batch:
                    await self._commit(batch)
        except BaseException as exc:  # cancelled: nothing will run the queued writes now
            while self._queue:
                for ticket in self._take():
                    ticket.done.set_exception(exc)
            raise
        finally:
            self._task = None

    async def _commit(self, batch: list[Ticket]) -> None:
        plan = self._plan(batch)
        statements = next(plan)
        while True:
            try:
                await self._run_batch(statements)
                outcome = None
            except Exception as exc:
                outcome = exc
            except BaseException as exc:  # cancelled mid-batch: so is each of its writes
                with suppress(StopIteration):
                    plan.send(exc)
                raise
            try:
                statements = plan.send(outcome)
            except StopIteration:
                return
