"""One consumer's batches, applied in order, overlapping: the next ones decided while one commits.

Applying a batch is Python (parse, decide, build the rows) then PostgreSQL (write, commit): one
after the other they keep each of the two busy half the time. The pipeline reads and decides a
batch while the batch before it still writes and commits on its own connection, when the two
name nothing in common (a program, a commandId, an id one creates or deletes); otherwise the
later one waits for the earlier to commit, as without the overlap. Either way the later batch
commits only after the earlier one, and its offsets are committed (`complete`) only after the
earlier batch's: an offset commit covers every record before it in its partition, so a batch
given up (a stop in its retry) keeps every later one of its consumer uncommitted too, and they
are all redelivered (a committed one is answered duplicate).

At most `MAX_IN_FLIGHT` batches are in flight: one committing, the next ones writing, decided or
being decided.

`Overlap` is how one batch is applied against the one before it; `Pipeline` keeps the batches in
flight and completes them in order. Neither knows SQL: `Overlap` takes the steps of
`CommandProcessor` (`receive`, `prepare`, `finish_writes`, `commit_prepared`, and `process` for a
batch applied in turn) one after the other, and waits between them for the batch before.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol
from uuid import UUID

from service.apply.outcomes import Outcome
from service.apply.processor import CommandProcessor, Prepared
from service.apply.unit_of_work import EVERYTHING
from service.apply.wire import Record
from service.retry import Stopped

log = logging.getLogger("program_builder")

Complete = Callable[[list[Outcome]], Awaitable[None]]
"""What follows a batch's commit, in batch order: its offset commit, its logs and metrics."""


class BatchInFlight(Protocol):
    """The batch before this one in a `Pipeline`, still writing or committing."""

    async def independent_of(self, names: frozenset[UUID]) -> bool:
        """Whether that batch names none of these (False while unknown: it was not decided)."""

    async def done(self) -> None:
        """Until that batch has committed, or given up (it will be redelivered)."""

    @property
    def completed(self) -> bool:
        """Whether that batch committed and completed (False: not yet, or given up)."""


async def in_turn_after(before: BatchInFlight | None) -> None:
    """Until `before` is done; `Stopped` if it was given up. A batch that depends on a given-up
    one gives up too: committing it would apply its commands before those of the batch given
    up, which are redelivered and would then be applied after them, out of order."""
    if before is not None:
        await before.done()
        if not before.completed:
            raise Stopped


class Applier(Protocol):
    async def process_overlapping(
        self,
        records: Sequence[Record],
        stopping: asyncio.Event,
        before: BatchInFlight | None,
        decided: Callable[[frozenset[UUID] | None], None],
    ) -> list[Outcome]:
        """Apply `records` after `before`, telling `decided` what they name once decided."""


class Overlap:
    """Applies a batch overlapped with the batch before it, through the processor's halves."""

    def __init__(self, processor: CommandProcessor) -> None:
        self.processor = processor

    async def process_overlapping(
        self,
        records: Sequence[Record],
        stopping: asyncio.Event,
        before: BatchInFlight | None,
        decided: Callable[[frozenset[UUID] | None], None],
    ) -> list[Outcome]:
        """Read and decide these records now, on a connection of their own (after `before` if
        the two name something in common), tell `decided` what this batch names, then write,
        and commit once `before` is done. Any failure of this first attempt rolls it back and
        falls back to `process` once `before` is done: its retries, and a record at a time for a
        failure that is the data's."""
        processor = self.processor
        prepared: Prepared | None = None
        try:
            batch = processor.receive(records)
            if before is not None and not await before.independent_of(batch.names):
                await in_turn_after(before)
            prepared = await processor.prepare(batch)
        except Stopped:
            raise  # the batch it depends on was given up: so is this one
        except Exception as error:
            log.info("batch of %d not applied ahead (%r): applied in turn", len(records), error)
        finally:
            decided(None if prepared is None else prepared.names)
        if prepared is not None:
            try:
                await processor.finish_writes(prepared)
                if before is not None:
                    await _until_done(before, processor, prepared)
                return await processor.commit_prepared(prepared)
            except Exception as error:
                log.info("batch of %d failed to commit (%r): applied again", len(records), error)
        await in_turn_after(before)
        return await self.processor.process(records, stopping)


async def _until_done(
    before: BatchInFlight, processor: CommandProcessor, prepared: Prepared
) -> None:
    """Until the batch before has committed (or given up); cancelled meanwhile, the prepared
    transaction is rolled back before the cancellation goes on."""
    try:
        await before.done()
    except BaseException:
        await processor.roll_back(prepared)
        raise


class Tracker(Protocol):
    def hold(self, task: asyncio.Task[bool]) -> None:
        """Count `task` as work in flight until it ends (a stop waits for it)."""


class _BatchInFlight:
    """A submitted batch: what it names once decided, and its task (True once completed)."""

    def __init__(self, before: _BatchInFlight | None) -> None:
        self.before = before
        self._names: asyncio.Future[frozenset[UUID] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.task: asyncio.Task[bool] | None = None

    def decided(self, names: frozenset[UUID] | None) -> None:
        """What the batch names (None: it was not decided ahead and is applied in turn)."""
        if not self._names.done():
            self._names.set_result(names)

    async def decided_or_done(self) -> None:
        assert self.task is not None
        waits: set[asyncio.Future[object]] = {self._names, self.task}  # type: ignore[arg-type]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)

    async def independent_of(self, names: frozenset[UUID]) -> bool:
        """Whether neither this batch nor any unfinished one before it names any of `names`."""
        if self.finished:
            return True
        mine = await self._names
        if mine is None or not mine.isdisjoint(names) or EVERYTHING in mine or EVERYTHING in names:
            return False  # (a batch naming EVERYTHING overlaps neither neighbour)
        return self.before is None or await self.before.independent_of(names)

    async def done(self) -> None:
        """Until the batch has committed and completed, or was given up; waiting is never
        cancelled into it."""
        if self.task is not None:
            await asyncio.wait({self.task})

    @property
    def finished(self) -> bool:
        return self.task is not None and self.task.done()

    @property
    def completed(self) -> bool:
        return self.task is not None and self.task.done() and self.task.result()


MAX_IN_FLIGHT = 3
"""Batches a pipeline holds at once, each on a connection of its own: one committing (its claim
waits for the publish of the batch before it), one writing, one being decided. With two, a
batch is decided only once the one two before it has committed, and PostgreSQL waits for Python
between commits (docs/performance.md, "The pipeline")."""


class Pipeline:
    def __init__(self, processor: Applier, stopping: asyncio.Event, in_flight: Tracker) -> None:
        self.processor = processor
        self.stopping = stopping
        self.in_flight = in_flight
        self._in_flight: deque[_BatchInFlight] = deque()
        self.paused = False
        """Set while the consumer's partitions are being revoked: no batch is submitted."""

    async def drain(self, timeout: float) -> bool:
        """Until no batch is in flight (each committed and completed, or given up), for at most
        `timeout` seconds: True if none is left. Before a rebalance takes the partitions, this
        lets the batches already applied commit their offsets while the consumer still owns
        them, so the next owner does not apply them again (it would answer duplicate)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while tasks := {b.task for b in self._in_flight if b.task and not b.task.done()}:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            await asyncio.wait(tasks, timeout=left)
        return True

    async def submit(self, records: Sequence[Record], complete: Complete) -> asyncio.Task[bool]:
        """Apply `records` after the batches submitted before, then `complete` them. Returns
        once they are decided (the next batch can be submitted), or applied; the task returned
        ends True once the batch committed and `complete` ran, False if it was given up."""
        waiting = self._in_flight
        while waiting and (waiting[0].finished or len(waiting) >= MAX_IN_FLIGHT):
            await waiting.popleft().done()
        batch = _BatchInFlight(before=waiting[-1] if waiting else None)
        batch.task = asyncio.create_task(self._run(batch, records, complete))
        self.in_flight.hold(batch.task)
        waiting.append(batch)
        await batch.decided_or_done()
        return batch.task

    async def _run(
        self, batch: _BatchInFlight, records: Sequence[Record], complete: Complete
    ) -> bool:
        try:
            outcomes = await self.processor.process_overlapping(
                records, self.stopping, batch.before, batch.decided
            )
        except Stopped:
            log.warning(
                "stopping with %d uncommitted commands: they will be redelivered", len(records)
            )
            return False
        except Exception:
            # Not transient and not attributable to one record: never ack, never skip.
            log.exception("batch of %d could not be processed; stopping consumption", len(records))
            self.stopping.set()
            return False
        finally:
            batch.decided(None)
        before, batch.before = batch.before, None
        if before is not None:
            await before.done()  # done already: the commit waited for it
        if before is not None and not before.completed:
            log.warning(
                "%d committed commands keep their offsets uncommitted, as the batch before them "
                "does: they will be redelivered and answered duplicate",
                len(records),
            )
            return False
        await complete(outcomes)
        return True
