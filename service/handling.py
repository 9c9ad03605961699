"""The service layer: applies consumed commands in one PostgreSQL transaction per batch.

For each batch: lock the programs its commands name, read the inbox (after the lock, so two
instances cannot both apply one command), apply each command to its in-memory aggregate (a
rejection leaves the aggregate as it was), then write state, inbox rows and outbox rows (results,
events, dead letters) together and commit. If the batch transaction fails for a reason that is
the data's (a constraint), each record is redone in a transaction of its own, so one bad command
cannot hold back the others; transient failures (connection, deadlock) are retried unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic_core import to_json

from contracts import commands as c
from contracts.dlq import (
    HEADER_CORRELATION_ID,
    HEADER_ERROR_CODE,
    HEADER_ERROR_MESSAGE,
    HEADER_ORIGINAL_OFFSET,
    HEADER_ORIGINAL_PARTITION,
    HEADER_ORIGINAL_TOPIC,
    HEADER_REPLY_TO,
)
from contracts.parsing import DeadLetter, Parsed, Refused, parse_command
from contracts.results import CommandError, ErrorCode
from contracts.snapshots import LegacySession
from contracts.topics import Topics
from service.domain.changes import PRESCRIPTION_EVENT, Event
from service.domain.commands import Context, apply, required_exercises
from service.domain.errors import Rejection
from service.retry import backoff
from service.storage import inbox, outbox, programs
from service.storage.database import Connection, is_transient
from service.storage.inbox import InboxEntry
from service.storage.outbox import OutgoingMessage
from service.tracing import Headers, Tracing

log = logging.getLogger("program_builder.commands")

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")

PROCESSING_FAILED = "processing_failed"
"""DLQ code for a message that fails for a reason that is neither transient nor in the contract."""


@dataclass(frozen=True, slots=True)
class Record:
    """A consumed message, free of Kafka client types."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one record (for logs and metrics)."""

    command_id: UUID | None
    command_type: str
    program_id: UUID | None
    status: str  # applied | rejected | duplicate | dead_letter
    error_code: str | None
    events: int


class Stopping(Exception):
    """The service is shutting down while a batch could not be committed: do not ack it."""


class CommandProcessor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        topics: Topics,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tracing: Tracing | None = None,
    ) -> None:
        self.pool = pool
        self.topics = topics
        self.clock = clock
        self.tracing = tracing or Tracing()

    async def process(
        self,
        records: Sequence[Record],
        stopping: asyncio.Event | None = None,
        max_backoff: float = 5.0,
    ) -> list[Outcome]:
        """Commit the effects of `records`; retry transient failures until done or stopping."""
        attempt = 0
        while True:
            try:
                return await self._process_once(records)
            except Exception as error:
                if not is_transient(error):
                    raise
                attempt += 1
                delay = backoff(attempt, base=0.05, cap=max_backoff)
                log.warning(
                    "database unavailable (%s), retrying batch of %d in %.2f s",
                    type(error).__name__,
                    len(records),
                    delay,
                )
                if stopping is not None and stopping.is_set():
                    raise Stopping from error
                await _sleep_unless(stopping, delay)

    async def _process_once(self, records: Sequence[Record]) -> list[Outcome]:
        try:
            return await self._in_transaction(self._apply_batch, records)
        except Exception as error:
            if is_transient(error) or len(records) == 1:
                if len(records) == 1 and not is_transient(error):
                    return await self._in_transaction(self._record_failure, records[0], error)
                raise
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

    async def _in_transaction(
        self, work: Callable[..., Awaitable[list[Outcome]]], *args: Any
    ) -> list[Outcome]:
        async with self.pool.acquire() as connection, connection.transaction():
            return await work(connection, *args)

    async def _apply_batch(
        self, connection: Connection, records: Sequence[Record]
    ) -> list[Outcome]:
        now = self.clock()
        parsed = [parse_command(record.value) for record in records]
        commands = [p.command for p in parsed if isinstance(p, Parsed)]
        loaded = await programs.lock_and_load(connection, {cmd.program_id for cmd in commands})
        seen = await inbox.find(
            connection,
            [
                p.command.command_id if isinstance(p, Parsed) else p.command_id
                for p in parsed
                if not isinstance(p, DeadLetter)
            ],
        )
        await _preload_prescriptions(connection, loaded, commands)
        taken = await programs.taken_ids(connection, _new_ids(commands))
        context = Context(now=now, id_taken=taken.__contains__)

        writes = programs.PendingWrites()
        entries: list[InboxEntry] = []
        messages: list[OutgoingMessage] = []
        outcomes: list[Outcome] = []
        for record, result in zip(records, parsed, strict=True):
            if isinstance(result, DeadLetter):
                messages.append(self._dead_letter(record, result.code.value, result.message))
                outcomes.append(Outcome(None, "", None, "dead_letter", result.code.value, 0))
                continue
            command_id = (
                result.command.command_id if isinstance(result, Parsed) else result.command_id
            )
            program_id = (
                result.command.program_id if isinstance(result, Parsed) else result.program_id
            )
            with self.tracing.command(record.headers, str(command_id), str(program_id)) as span:
                first = seen.get(command_id)
                if first is not None:
                    messages += self._results(record, first, now, span.headers, duplicate=True)
                    span.outcome(first.command_type, "duplicate", None)
                    outcomes.append(
                        Outcome(
                            command_id, first.command_type, first.program_id, "duplicate", None, 0
                        )
                    )
                    continue
                events: list[Event] = []
                if isinstance(result, Refused):
                    entry = _rejected(command_id, result.type, result.program_id, result.error)
                else:
                    entry, events = await self._apply_one(
                        connection, loaded, result.command, context, writes
                    )
                seen[command_id] = entry
                entries.append(entry)
                error_code = entry.error["code"] if entry.error else None
                span.outcome(entry.command_type, entry.status, error_code)
                messages += self._results(record, entry, now, span.headers, duplicate=False)
                messages += [self._event_message(event, span.headers) for event in events]
                outcomes.append(
                    Outcome(
                        command_id,
                        entry.command_type,
                        entry.program_id,
                        entry.status,
                        error_code,
                        len(events),
                    )
                )
        await writes.write(connection)
        await inbox.record(connection, entries)
        await outbox.add(connection, messages)
        return outcomes

    async def _apply_one(
        self,
        connection: Connection,
        loaded: dict[UUID, Any],
        command: c.Command,
        context: Context,
        writes: programs.PendingWrites,
    ) -> tuple[InboxEntry, list[Event]]:
        program = loaded.get(command.program_id)
        if program is not None:
            needed = required_exercises(program, command)
            if needed is None:
                await programs.load_prescriptions(connection, loaded, whole_programs=[program.id])
            elif needed - program.loaded:
                await programs.load_prescriptions(connection, loaded, exercise_ids=needed)
        try:
            applied = apply(program, command, context)
        except Rejection as rejection:
            return _rejected(
                command.command_id, command.type, command.program_id, rejection.to_error()
            ), []
        loaded[command.program_id] = applied.program
        writes.add(applied.program, applied.changes)
        entry = InboxEntry(
            command.command_id,
            command.type,
            command.program_id,
            "applied",
            applied.program.version,
            None,
        )
        return entry, applied.events

    async def _record_failure(
        self, connection: Connection, record: Record, error: Exception
    ) -> list[Outcome]:
        """A record that fails alone for a non-transient reason: a rejection when the database
        refused its change (a constraint), otherwise the DLQ. Never an endless redelivery."""
        result = parse_command(record.value)
        if isinstance(result, Parsed) and isinstance(
            error, asyncpg.IntegrityConstraintViolationError
        ):
            command = result.command
            if (await inbox.find(connection, [command.command_id])).get(command.command_id):
                raise error  # processed meanwhile by another instance: redo as a duplicate
            code = (
                ErrorCode.CONFLICT
                if isinstance(error, asyncpg.UniqueViolationError)
                else ErrorCode.INVARIANT_VIOLATED
            )
            message = (
                "an id this command creates is already in use"
                if code is ErrorCode.CONFLICT
                else f"the database refused the change ({error.__class__.__name__})"
            )
            entry = _rejected(
                command.command_id,
                command.type,
                command.program_id,
                CommandError(code=code, message=message),
            )
            await inbox.record(connection, [entry])
            trace_headers = self.tracing.forwarded(record.headers)
            await outbox.add(
                connection,
                self._results(record, entry, self.clock(), trace_headers, duplicate=False),
            )
            return [
                Outcome(
                    command.command_id, command.type, command.program_id, "rejected", code.value, 0
                )
            ]
        log.error(
            "record %s/%d@%d goes to the DLQ: %r",
            record.topic,
            record.partition,
            record.offset,
            error,
        )
        await outbox.add(
            connection,
            [
                self._dead_letter(
                    record, PROCESSING_FAILED, f"{type(error).__name__}: {error}"[:500]
                )
            ],
        )
        return [Outcome(None, "", None, "dead_letter", PROCESSING_FAILED, 0)]

    # --- outgoing messages

    def _results(
        self,
        record: Record,
        entry: InboxEntry,
        now: datetime,
        trace_headers: Headers,
        *,
        duplicate: bool,
    ) -> list[OutgoingMessage]:
        value = to_json(
            {
                "commandId": str(entry.command_id),
                "type": entry.command_type,
                "programId": str(entry.program_id) if entry.program_id else None,
                "status": "duplicate" if duplicate else entry.status,
                "programVersion": entry.program_version,
                "error": entry.error,
                "processedAt": now.isoformat().replace("+00:00", "Z"),
            }
        )
        key = str(entry.command_id).encode()
        correlation = record.header(HEADER_CORRELATION_ID)
        headers = trace_headers
        if correlation is not None:
            headers = ((HEADER_CORRELATION_ID, correlation), *headers)
        messages = [OutgoingMessage(self.topics.command_results, key, value, headers)]
        reply_to = self._reply_topic(record)
        if reply_to:
            messages.append(OutgoingMessage(reply_to, key, value, headers))
        return messages

    def _reply_topic(self, record: Record) -> str | None:
        """The requester's topic, if it is a legal Kafka topic name that is not one of ours."""
        raw = record.header(HEADER_REPLY_TO)
        if not raw:
            return None
        topic = raw.decode(errors="replace")
        if not _TOPIC_NAME.fullmatch(topic) or topic in self.topics.all():
            log.warning("ignoring reply-to %r: not a topic we may answer on", topic[:300])
            return None
        return topic

    def _event_message(self, event: Event, headers: Headers) -> OutgoingMessage:
        topic = (
            self.topics.prescription_updated
            if event.kind == PRESCRIPTION_EVENT
            else self.topics.session_updated
        )
        return OutgoingMessage(topic, str(event.key).encode(), to_json(event.payload), headers)

    def _dead_letter(self, record: Record, code: str, message: str) -> OutgoingMessage:
        headers = (
            *record.headers,
            (HEADER_ERROR_CODE, code.encode()),
            (HEADER_ERROR_MESSAGE, message.encode()),
            (HEADER_ORIGINAL_TOPIC, record.topic.encode()),
            (HEADER_ORIGINAL_PARTITION, str(record.partition).encode()),
            (HEADER_ORIGINAL_OFFSET, str(record.offset).encode()),
        )
        return OutgoingMessage(self.topics.dead_letters, record.key, record.value or b"", headers)


async def _preload_prescriptions(
    connection: Connection, loaded: dict[UUID, Any], commands: Sequence[c.Command]
) -> None:
    """One query for the prescriptions the whole batch reads (judged on the stored structure);
    a command that needs more after earlier ones changed the structure loads the rest itself."""
    exercises: set[UUID] = set()
    whole: set[UUID] = set()
    for command in commands:
        program = loaded.get(command.program_id)
        if program is None:
            continue
        needed = required_exercises(program, command)
        if needed is None:
            whole.add(program.id)
        else:
            exercises |= needed
    if exercises or whole:
        await programs.load_prescriptions(connection, loaded, exercises, whole)


def _rejected(
    command_id: UUID, command_type: str, program_id: UUID | None, error: CommandError
) -> InboxEntry:
    return InboxEntry(command_id, command_type, program_id, "rejected", None, error.to_wire())


_NEW_ID_FIELDS = ("session_id", "new_session_id", "program_exercise_id", "group_id", "new_group_id")
_CREATING = (
    c.SessionAddBody,
    c.ExerciseAddBody,
    c.ExercisesGroupBody,
    c.ExerciseMoveBody,
    c.SessionCopyBody,
)


def _new_ids(commands: Sequence[c.Command]) -> set[UUID]:
    """Client-given ids of things the commands create, to check against every program at once."""
    found: set[UUID] = set()
    for command in commands:
        if isinstance(command, c.ProgramImport):
            snapshot = command.program
            for session in snapshot.sessions:
                found.add(session.session_id)
                if isinstance(session, LegacySession):
                    found |= {e.program_exercise_id for e in session.exercises}
                else:
                    for group in session.groups:
                        found.add(group.group_id)
                        found |= {e.program_exercise_id for e in group.exercises}
            continue
        bodies = command.operations if isinstance(command, c.Batch) else [command]
        for body in bodies:
            if not isinstance(body, _CREATING):
                continue
            for name in _NEW_ID_FIELDS:
                value = getattr(body, name, None)
                if isinstance(value, UUID):
                    found.add(value)
    return found


async def _sleep_unless(stopping: asyncio.Event | None, delay: float) -> None:
    if stopping is None:
        await asyncio.sleep(delay)
        return
    try:
        await asyncio.wait_for(stopping.wait(), delay)
    except TimeoutError:
        return
