"""The service layer: applies consumed commands in one PostgreSQL transaction per batch.

For each batch: lock the programs its commands name, read the inbox (after the lock, so two
instances cannot both apply one command), apply each command to its in-memory aggregate (a
rejection leaves the aggregate as it was), then write state, inbox rows and outbox rows (results,
events, dead letters) together and commit. With a `Publisher`, the transaction also takes the
lanes of its outbox rows, and they are published on its connection right after the commit. If
the batch transaction fails for a reason that is
the data's (a constraint), each record is redone in a transaction of its own, so one bad command
cannot hold back the others; transient failures (connection, deadlock) are retried unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from contracts import commands as c
from contracts.parsing import DeadLetter, Parsed, Refused, parse_command
from contracts.results import CommandError, ErrorCode, ErrorDetail
from service.domain.commands import Context, apply, ids_created_by, reads_of
from service.domain.errors import PrescriptionsNotLoaded, Rejection
from service.domain.events import Event
from service.domain.model import Program
from service.messages import Messages, Record
from service.retry import until_available
from service.storage import inbox, outbox, programs
from service.storage.database import Connection, is_transient, refusal
from service.storage.inbox import InboxEntry
from service.storage.outbox import OutgoingMessage
from service.tracing import Tracing

log = logging.getLogger("program_builder.commands")

PROCESSING_FAILED = "processing_failed"
"""DLQ code for a message that fails for a reason that is neither transient nor in the contract."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one record (for logs and metrics)."""

    command_id: UUID | None
    command_type: str
    program_id: UUID | None
    status: str  # applied | rejected | duplicate | dead_letter
    error_code: str | None
    events: int


class Publisher(Protocol):
    async def publish_committed(
        self, connection: Connection, claim: outbox.LaneClaim, committed_at: float
    ) -> None:
        """Publish a committed transaction's claimed rows on its connection; never raises."""


Work = Callable[..., Awaitable[tuple[list[Outcome], list[OutgoingMessage]]]]
"""Applies records in a transaction; returns their outcomes and the outbox rows it added."""


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
        self.messages = messages
        self.clock = clock
        self.tracing = tracing or Tracing()
        self.publisher = publisher
        self.on_commit = on_commit
        self._publishing: asyncio.Task[None] | None = None

    async def process(
        self, records: Sequence[Record], stopping: asyncio.Event, max_backoff: float = 5.0
    ) -> list[Outcome]:
        """Commit the effects of `records`; retry transient failures until done. A stop during
        a wait raises `retry.Stopped` (the batch is then not acked and will be redelivered)."""
        return await until_available(
            f"database (retrying batch of {len(records)})",
            lambda: self._process_once(records),
            is_transient,
            stopping,
            base=0.05,
            cap=max_backoff,
            interrupt=False,
        )

    async def _process_once(self, records: Sequence[Record]) -> list[Outcome]:
        try:
            return await self._in_transaction(self._apply_batch, records)
        except Exception as error:
            if is_transient(error):
                raise
            if len(records) == 1:
                return await self._in_transaction(self._record_failure, records[0], error)
            log.warning(
                "batch of %d failed (%s: %s); applying its records one by one",
                len(records),
                type(error).__name__,
                error,
            )
        outcomes: list[Outcome] = []
        for record in records:
            try:
                outcomes += await self._in_transaction(self._apply_batch, [record])
            except Exception as error:
                if is_transient(error):
                    raise
                outcomes += await self._in_transaction(self._record_failure, record, error)
        return outcomes

    async def _in_transaction(self, work: Work, *args: Any) -> list[Outcome]:
        """Run `work` in a transaction (it writes its outbox rows); with a publisher, hand them
        to it after the commit, in the background, on the same connection (which holds
        their lanes until they are out): the next batch is applied meanwhile."""
        started = time.perf_counter()
        connection = await self.pool.acquire()
        handed_over = False
        try:
            claim = None
            async with connection.transaction():
                outcomes, messages = await work(connection, *args)
                if self.publisher is not None:
                    # The previous batch's rows out first: its lanes are then free, and a key's
                    # rows leave in commit order.
                    await self.settle()
                    claim = await outbox.claim_lanes(connection, messages)
            committed = time.perf_counter()
            self.on_commit(committed - started)
            if claim is not None and self.publisher is not None:
                self._publishing = asyncio.create_task(
                    self._publish(self.publisher, connection, claim, committed)
                )
                handed_over = True
        finally:
            if not handed_over:
                await self.pool.release(connection)
        return outcomes

    async def _publish(
        self,
        publisher: Publisher,
        connection: asyncpg.pool.PoolConnectionProxy,
        claim: outbox.LaneClaim,
        committed: float,
    ) -> None:
        try:
            await publisher.publish_committed(connection, claim, committed)
        finally:
            try:
                await self.pool.release(connection)
            except Exception as error:  # a broken connection: the pool replaces it
                log.warning("releasing the publishing connection failed: %s", error)

    async def settle(self) -> None:
        """Until what the last batch committed is published (or handed to the relay). Never
        raises; cancelling the wait leaves the publish running."""
        if self._publishing is not None and not self._publishing.done():
            await asyncio.wait({self._publishing})

    async def _apply_batch(
        self, connection: Connection, records: Sequence[Record]
    ) -> tuple[list[Outcome], list[OutgoingMessage]]:
        now = self.clock()
        parsed = [parse_command(record.value) for record in records]
        commands = [p.command for p in parsed if isinstance(p, Parsed)]
        loaded = await programs.lock_and_load(connection, {cmd.program_id for cmd in commands})
        seen = await inbox.find(
            connection, [p.command_id for p in parsed if not isinstance(p, DeadLetter)]
        )
        # One query for the prescriptions the whole batch reads, judged on the stored structure.
        await _load_reads(connection, loaded, commands)
        taken = await programs.taken_ids(
            connection, {entity_id for cmd in commands for _, entity_id in ids_created_by(cmd)}
        )
        batch = _Batch(
            connection,
            loaded,
            Context(now=now, id_taken=taken.__contains__),
            programs.PendingWrites(stored=programs.stored_ids(loaded)),
            taken,
        )
        entries: list[InboxEntry] = []
        messages: list[OutgoingMessage] = []
        outcomes: list[Outcome] = []
        for record, result in zip(records, parsed, strict=True):
            if isinstance(result, DeadLetter):
                code = result.code.value
                messages.append(self.messages.dead_letter(record, code, result.message))
                outcomes.append(Outcome(None, "", None, "dead_letter", code, 0))
                continue
            command_id, program_id = result.command_id, result.program_id
            with self.tracing.command(record.headers, str(command_id), str(program_id)) as span:
                first = seen.get(command_id)
                if first is not None and first.tenant_id != result.tenant_id:
                    # The id is another tenant's: answered, never recorded, and nothing of
                    # the first command or its outcome is told.
                    entry = _rejected(result, _taken_by_another_tenant(command_id))
                    span.outcome(entry.command_type, "rejected", ErrorCode.CONFLICT.value)
                    messages += self.messages.results(
                        record, entry, now, span.headers, duplicate=False
                    )
                    outcomes.append(_outcome(entry))
                    continue
                if first is not None:
                    messages += self.messages.results(
                        record, first, now, span.headers, duplicate=True
                    )
                    span.outcome(first.command_type, "duplicate", None)
                    outcomes.append(
                        Outcome(
                            command_id, first.command_type, first.program_id, "duplicate", None, 0
                        )
                    )
                    continue
                events: list[Event] = []
                if isinstance(result, Refused):
                    entry = _rejected(result, result.error)
                else:
                    entry, events = await batch.apply(result.command)
                seen[command_id] = entry
                entries.append(entry)
                error_code = entry.error["code"] if entry.error else None
                span.outcome(entry.command_type, entry.status, error_code)
                messages += self.messages.results(record, entry, now, span.headers, duplicate=False)
                for event in events:
                    messages += self.messages.events(event, span.headers)
                outcomes.append(_outcome(entry, events=len(events)))
        await batch.writes.write(connection)
        await inbox.record(connection, entries)
        await outbox.add(connection, messages)
        return outcomes, messages

    async def _record_failure(
        self, connection: Connection, record: Record, error: Exception
    ) -> tuple[list[Outcome], list[OutgoingMessage]]:
        """A record that fails alone for a non-transient reason: a rejection when the database
        refused its change (a constraint), otherwise the DLQ. Never an endless redelivery."""
        result = parse_command(record.value)
        rejection = refusal(error)
        if isinstance(result, Parsed) and rejection is not None:
            if (await inbox.find(connection, [result.command_id])).get(result.command_id):
                raise error  # processed meanwhile by another instance: redo as a duplicate
            entry = _rejected(result, rejection)
            await inbox.record(connection, [entry])
            trace_headers = self.tracing.forwarded(record.headers)
            messages = self.messages.results(
                record, entry, self.clock(), trace_headers, duplicate=False
            )
            await outbox.add(connection, messages)
            return [_outcome(entry)], messages
        log.error(
            "record %s/%d@%d goes to the DLQ: %r",
            record.topic,
            record.partition,
            record.offset,
            error,
        )
        dead_letter = self.messages.dead_letter(
            record, PROCESSING_FAILED, f"{type(error).__name__}: {error}"[:500]
        )
        await outbox.add(connection, [dead_letter])
        return [Outcome(None, "", None, "dead_letter", PROCESSING_FAILED, 0)], [dead_letter]


@dataclass(slots=True)
class _Batch:
    """The programs of one transaction's batch and what its applied commands changed."""

    connection: Connection
    loaded: dict[UUID, Program]
    context: Context
    writes: programs.PendingWrites
    # The ids in use elsewhere, as `context.id_taken` sees them; it follows the batch: what a
    # command deletes is free for the next, what it creates is taken, as if each committed alone.
    taken: set[UUID]

    async def apply(self, command: c.Command) -> tuple[InboxEntry, list[Event]]:
        """Apply one command to its (possibly already changed) program, loading what it reads."""
        await _load_reads(self.connection, self.loaded, [command])
        while True:
            try:
                applied = apply(self.loaded.get(command.program_id), command, self.context)
                break
            except Rejection as rejection:
                return _rejected(Parsed(command), rejection.to_error()), []
            except PrescriptionsNotLoaded as missing:
                # An earlier operation of this batch made the command need more than the stored
                # structure showed: load it and apply again (`apply` changed nothing yet).
                program = self.loaded[command.program_id]
                await programs.load_prescriptions(
                    self.connection, self.loaded, exercise_ids=[missing.program_exercise_id]
                )
                if missing.program_exercise_id not in program.loaded:
                    raise
        self.loaded[applied.program.id] = applied.program
        self.writes.add(applied.program, applied.changes)
        changes = applied.changes
        if changes.program_deleted:
            self.taken.add(applied.program.id)  # a program id is never used again
        self.taken -= {
            *changes.deleted_sessions,
            *changes.deleted_groups,
            *changes.deleted_exercises,
        }
        self.taken |= {entity_id for _, entity_id in ids_created_by(command)}
        entry = InboxEntry(
            command.command_id,
            command.type,
            command.program_id,
            "applied",
            applied.version,
            None,
            command.tenant_id,
        )
        return entry, applied.events


async def _load_reads(
    connection: Connection, loaded: dict[UUID, Program], commands: Sequence[c.Command]
) -> None:
    """Load, in one query, the prescriptions these commands read and are not loaded yet."""
    exercises: set[UUID] = set()
    whole: set[UUID] = set()
    for command in commands:
        program = loaded.get(command.program_id)
        if program is None:
            continue
        reads = reads_of(program, command)
        if reads.whole_program:
            if not program.exercise_ids() <= program.loaded:
                whole.add(program.id)
        else:
            exercises |= reads.exercises - program.loaded
    if exercises or whole:
        await programs.load_prescriptions(connection, loaded, exercises, whole)


def _rejected(command: Parsed | Refused, error: CommandError) -> InboxEntry:
    return InboxEntry(
        command.command_id,
        command.type,
        command.program_id,
        "rejected",
        None,
        error.to_wire(),
        command.tenant_id,
    )


def _taken_by_another_tenant(command_id: UUID) -> CommandError:
    return CommandError(
        code=ErrorCode.CONFLICT,
        message=f"commandId {command_id} was already used by another tenant; a commandId "
        "belongs to the tenant that used it first: send this command with a new commandId",
        details=[ErrorDetail(path="commandId", reason="already used by another tenant")],
    )


def _outcome(entry: InboxEntry, *, events: int = 0) -> Outcome:
    return Outcome(
        entry.command_id,
        entry.command_type,
        entry.program_id,
        entry.status,
        entry.error["code"] if entry.error else None,
        events,
    )
