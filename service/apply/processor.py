"""The service layer: applies consumed commands in one PostgreSQL transaction per batch.

Each batch is one unit of work, in the shape of a cosmicpython handler: read, decide each record
in order, write, commit (`service.apply.unit_of_work`, `service.apply.outcomes`). With a
`Publisher`, the transaction also takes the lanes of its outbox rows, and they are published on
its connection right after the commit, while the next batch is applied. If the batch fails for a
reason that is the data's (a constraint), each record is redone in a transaction of its own, so
one bad command cannot hold back the others; transient failures (connection, deadlock) are
retried unchanged.

There is one way to apply a batch, in steps the caller takes in order: `receive` (parse the
records: what they name), `prepare` (open the transaction, read, decide, start sending the
writes), `finish_writes`, `commit_prepared` (claim the lanes, commit). `consume.pipeline` takes
them one by one, waiting between them for the batch before when the two name the same; `process`
takes them with nothing before, and adds the retries. What may overlap, and in which order
batches commit, is the pipeline's: nothing here calls back into it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from uuid import UUID

import asyncpg
import asyncpg.transaction

from contracts.parsing import ParseOutcome, parse_command
from service.apply.outcomes import Decided, Outcome, RecordOutcomes, Written
from service.apply.unit_of_work import UnitOfWork, names_claimed
from service.apply.wire import Messages, Record
from service.publish.after_commit import AfterCommit, Publisher
from service.retry import until_available
from service.storage.database import Connection, is_transient, run
from service.tracing import Tracing

log = logging.getLogger("program_builder.commands")

YIELD_SECONDS = 0.002
"""Deciding a batch gives the event loop a turn at least this often (between two commands): an
import takes milliseconds to decide, an edit a tenth of one, and a turn costs a poll."""

Decide = Callable[[Connection], Awaitable[Decided]]
"""Reads and decides inside the transaction it is given; returns what to write."""


@dataclass(frozen=True, slots=True)
class Received:
    """A batch's records parsed, the time they are decided at, and what they name (programs,
    commandIds, ids they create): what the pipeline compares with the batch before."""

    records: Sequence[Record]
    parsed: list[ParseOutcome]
    now: datetime
    names: frozenset[UUID]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch read and decided in its open transaction, its writes being sent; `names` is what
    it touches (programs, commandIds, ids created or deleted)."""

    connection: asyncpg.pool.PoolConnectionProxy
    transaction: asyncpg.transaction.Transaction
    written: Written
    writing: asyncio.Task[None]
    names: frozenset[UUID]
    started: float


class CommandProcessor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        messages: Messages,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tracing: Tracing | None = None,
        publisher: Publisher | None = None,
        on_commit: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.outcomes = RecordOutcomes(messages, tracing or Tracing(), clock)
        self.after_commit = AfterCommit(pool, publisher, on_commit)

    async def process(
        self, records: Sequence[Record], stopping: asyncio.Event, max_backoff: float = 5.0
    ) -> list[Outcome]:
        """Commit the effects of `records`, with no batch before them; retry transient failures
        until done. A stop during a wait raises `retry.Stopped` (the batch is then not acked and
        will be redelivered)."""
        return await until_available(
            f"database (retrying batch of {len(records)})",
            lambda: self._process_once(records),
            is_transient,
            stopping,
            base=0.05,
            cap=max_backoff,
            interrupt=False,
        )

    async def settle(self) -> None:
        """Until what the last batch committed is published (or handed to the relay). Never
        raises; cancelling the wait leaves the publish running."""
        await self.after_commit.settle()

    def receive(self, records: Sequence[Record]) -> Received:
        """The records parsed (no I/O): what they name, before anything is read."""
        parsed = [parse_command(record.value) for record in records]
        return Received(records, parsed, self.clock(), names_claimed(parsed))

    async def prepare(self, batch: Received) -> Prepared:
        """Open a transaction on a connection of its own, read and decide the batch in it, and
        start sending its writes."""
        decide = partial(self._decide, records=batch.records, parsed=batch.parsed, now=batch.now)
        return await self._begin(decide)

    async def finish_writes(self, prepared: Prepared) -> None:
        """Until the batch's writes are sent; a failure rolls the transaction back and is
        raised."""
        try:
            await prepared.writing
        except BaseException:
            await self.roll_back(prepared)
            raise

    async def commit_prepared(self, prepared: Prepared) -> list[Outcome]:
        """Finish the writes, claim the lanes, commit. Any failure rolls the transaction back
        and is raised."""
        connection = prepared.connection
        try:
            await prepared.writing
            claim = await self.after_commit.claim(connection, prepared.written.messages)
            await prepared.transaction.commit()
        except BaseException:
            await self.roll_back(prepared)
            raise
        await self.after_commit.committed(connection, claim, prepared.started)
        return prepared.written.outcomes

    async def roll_back(self, prepared: Prepared) -> None:
        """Stop sending the writes, roll back and give the connection back (a broken connection
        is replaced by the pool)."""
        prepared.writing.cancel()
        await asyncio.gather(prepared.writing, return_exceptions=True)
        await _roll_back(self.pool, prepared.connection, prepared.transaction)

    async def _process_once(self, records: Sequence[Record]) -> list[Outcome]:
        """The batch in one transaction; if the data fails it, each record in one of its own."""
        try:
            return await self._apply(records)
        except Exception as error:
            if is_transient(error):
                raise
            if len(records) == 1:
                return await self._redo_alone(records[0], error)
            log.warning(
                "batch of %d failed (%s: %s); applying its records one by one",
                len(records),
                type(error).__name__,
                error,
            )
        outcomes: list[Outcome] = []
        for record in records:
            try:
                outcomes += await self._apply([record])
            except Exception as error:
                outcomes += await self._redo_alone(record, error)
        return outcomes

    async def _apply(self, records: Sequence[Record]) -> list[Outcome]:
        return await self.commit_prepared(await self.prepare(self.receive(records)))

    async def _redo_alone(self, record: Record, error: Exception) -> list[Outcome]:
        """A record that failed alone: transient errors are raised (to be retried), any other
        is recorded as its outcome (see `RecordOutcomes.failure`)."""
        if is_transient(error):
            raise error
        failure = partial(self.outcomes.failure, record=record, error=error)
        return await self.commit_prepared(await self._begin(failure))

    async def _begin(self, decide: Decide) -> Prepared:
        """Open a transaction on a connection of its own, `decide` in it, and start sending
        what it writes (the rows are built already; the task only sends them)."""
        started = time.perf_counter()
        connection = await self.pool.acquire()
        transaction = connection.transaction()
        try:
            await transaction.start()
            decided = await decide(connection)
            writing = asyncio.create_task(run(connection, decided.writes))
        except BaseException:
            await _roll_back(self.pool, connection, transaction)
            raise
        return Prepared(connection, transaction, decided.written, writing, decided.names, started)

    async def _decide(
        self,
        connection: Connection,
        records: Sequence[Record],
        parsed: Sequence[ParseOutcome],
        now: datetime,
    ) -> Decided:
        """Read what the records need, decide each in order, and plan the writes."""
        batch = await UnitOfWork.read(connection, parsed, now)
        written = Written()
        yielded = time.perf_counter()
        for record, result in zip(records, parsed, strict=True):
            written.add(*await self.outcomes.decide(batch, record, result, now))
            if time.perf_counter() - yielded >= YIELD_SECONDS:
                # What the batch before this one still sends to PostgreSQL (its writes, its
                # commit) goes out meanwhile, not after this loop.
                await asyncio.sleep(0)
                yielded = time.perf_counter()
        return Decided(written, batch.planned_writes(written.messages), batch.names())


async def _roll_back(
    pool: asyncpg.Pool,
    connection: asyncpg.pool.PoolConnectionProxy,
    transaction: asyncpg.transaction.Transaction,
) -> None:
    """Roll back and give the connection back; a broken connection is replaced by the pool."""
    try:
        await transaction.rollback()
    except Exception as error:
        log.debug("rolling back failed (%r); the connection is reset on release", error)
    finally:
        await pool.release(connection)
