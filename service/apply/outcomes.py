"""What becomes of each record of a batch: its outcome (for logs and metrics) and the outbox rows
it adds (its result, its events, or its dead letter), each with the command's trace headers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from contracts.parsing import DeadLetter, Parsed, ParseOutcome, Refused, parse_command
from contracts.results import CommandError, ErrorCode, ErrorDetail
from service.apply.unit_of_work import UnitOfWork, rejected
from service.apply.wire import Messages, Record
from service.domain.events import Event
from service.storage import inbox, outbox
from service.storage.database import Connection, Write, refusal
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

    @classmethod
    def of(cls, entry: InboxEntry, *, duplicate: bool = False, events: int = 0) -> Outcome:
        """A command's outcome; a duplicate names no error (it changed nothing this time)."""
        error_code = entry.error["code"] if entry.error and not duplicate else None
        status = "duplicate" if duplicate else entry.status
        return cls(
            entry.command_id, entry.command_type, entry.program_id, status, error_code, events
        )

    @classmethod
    def dead_letter(cls, code: str) -> Outcome:
        return cls(None, "", None, "dead_letter", code, 0)


@dataclass(slots=True)
class Written:
    """What a transaction decided: each record's outcome and the outbox rows it adds."""

    outcomes: list[Outcome] = field(default_factory=list)
    messages: list[OutgoingMessage] = field(default_factory=list)

    def add(self, outcome: Outcome, messages: Sequence[OutgoingMessage]) -> None:
        self.outcomes.append(outcome)
        self.messages += messages


@dataclass(frozen=True, slots=True)
class Decided:
    """A transaction's decisions, the statements that write them, and what it names (for the
    pipeline: programs, commandIds, ids created or deleted)."""

    written: Written
    writes: list[Write]
    names: frozenset[UUID] = frozenset()


class RecordOutcomes:
    """Decides each record of a batch against its unit of work."""

    def __init__(self, messages: Messages, tracing: Tracing, clock: Callable[[], datetime]) -> None:
        self.messages = messages
        self.tracing = tracing
        self.clock = clock

    async def decide(
        self, batch: UnitOfWork, record: Record, result: ParseOutcome, now: datetime
    ) -> tuple[Outcome, list[OutgoingMessage]]:
        """One record's outcome and the rows it publishes: a dead letter, a duplicate (the
        inbox's first outcome), another tenant's commandId, a refusal, or the command applied."""
        if isinstance(result, DeadLetter):
            code = result.code.value
            return Outcome.dead_letter(code), [
                self.messages.dead_letter(record, code, result.message)
            ]
        command_id = result.command_id
        with self.tracing.command(record.headers, str(command_id), str(result.program_id)) as span:
            first = batch.seen.get(command_id)
            events: list[Event] = []
            if first is not None and first.tenant_id != result.tenant_id:
                # The id is another tenant's: answered, never recorded, and nothing of the
                # first command or its outcome is told.
                entry = rejected(result, _taken_by_another_tenant(command_id))
            elif first is not None:
                entry = first
            elif isinstance(result, Refused):
                entry = batch.record(rejected(result, result.error))
            else:
                entry, events = await batch.apply(result.command)
                batch.record(entry)
            outcome = Outcome.of(entry, duplicate=entry is first, events=len(events))
            span.outcome(outcome.command_type, outcome.status, outcome.error_code)
            messages = self.messages.results(
                record, entry, now, span.headers, duplicate=entry is first
            )
            messages += self.messages.events(events, span.headers)
        return outcome, messages

    async def failure(self, connection: Connection, record: Record, error: Exception) -> Decided:
        """A record that fails alone for a non-transient reason: a rejection when the database
        refused its change (a constraint), otherwise the DLQ. Never an endless redelivery."""
        result = parse_command(record.value)
        rejection = refusal(error)
        written = Written()
        entries: list[InboxEntry] = []
        if isinstance(result, Parsed) and rejection is not None:
            if (await inbox.find(connection, [result.command_id])).get(result.command_id):
                raise error  # processed meanwhile by another instance: redo as a duplicate
            entry = rejected(result, rejection)
            entries.append(entry)
            trace_headers = self.tracing.forwarded(record.headers)
            written.add(
                Outcome.of(entry),
                self.messages.results(record, entry, self.clock(), trace_headers, duplicate=False),
            )
        else:
            log.error(
                "record %s/%d@%d goes to the DLQ: %r",
                record.topic,
                record.partition,
                record.offset,
                error,
            )
            reason = f"{type(error).__name__}: {error}"[:500]
            written.add(
                Outcome.dead_letter(PROCESSING_FAILED),
                [self.messages.dead_letter(record, PROCESSING_FAILED, reason)],
            )
        return Decided(written, [*inbox.recording(entries), *outbox.adding(written.messages)])


def _taken_by_another_tenant(command_id: UUID) -> CommandError:
    return CommandError(
        code=ErrorCode.CONFLICT,
        message=f"commandId {command_id} was already used by another tenant; a commandId "
        "belongs to the tenant that used it first: send this command with a new commandId",
        details=[ErrorDetail(path="commandId", reason="already used by another tenant")],
    )
