"""The service layer: applies consumed commands in one PostgreSQL transaction per batch.

Each batch is one unit of work, in the shape of a cosmicpython handler: read (lock the programs
its commands name, then the inbox, so two instances cannot both apply one command; the
prescriptions they read; the ids taken elsewhere), decide each record in order (a dead letter, a
duplicate, another tenant's commandId, a rejection, or the command applied to its in-memory
aggregate), write (state, inbox rows, outbox rows of results, events and dead letters), commit.
With a `Publisher`, the transaction also takes the lanes of its outbox rows, and they are
published on its connection right after the commit, while the next batch is applied. If the
batch fails for a reason that is the data's (a constraint), each record is redone in a
transaction of its own, so one bad command cannot hold back the others; transient failures
(connection, deadlock) are retried unchanged.

A batch can also be applied in two halves, `prepare` (open the transaction, read, decide, start
sending the writes) and `commit_prepared` (finish the writes, wait for a given turn, commit):
`service.pipeline` uses them to decide one batch while the one before it commits. What may
overlap, and in which order batches commit, is the pipeline's; this module only names what a
batch touches (`Prepared.names`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import InitVar, dataclass, field
from datetime import UTC, datetime
from functools import partial
from uuid import UUID

import asyncpg
import asyncpg.transaction

from contracts import commands as c
from contracts.commands import REVERTIBLE_VERSIONS
from contracts.parsing import DeadLetter, Parsed, ParseOutcome, Refused, parse_command
from contracts.results import CommandError, ErrorCode, ErrorDetail
from service.after_commit import AfterCommit, Publisher
from service.domain.commands import (
    Applied,
    Context,
    apply,
    ids_created_by,
    reads_of,
    reads_others,
)
from service.domain.errors import PrescriptionsNotLoaded, Rejection
from service.domain.events import Event
from service.domain.history import Undo
from service.domain.model import Program
from service.messages import Messages, Record
from service.retry import until_available
from service.storage import history, inbox, outbox, programs
from service.storage.database import Connection, Write, is_transient, refusal, run
from service.storage.inbox import InboxEntry
from service.storage.outbox import OutgoingMessage
from service.tracing import Tracing

log = logging.getLogger("program_builder.commands")

YIELD_SECONDS = 0.002
"""Deciding a batch gives the event loop a turn at least this often (between two commands): an
import takes milliseconds to decide, an edit a tenth of one, and a turn costs a poll."""

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
    """What a unit of work decided: each record's outcome and the outbox rows it adds."""

    outcomes: list[Outcome] = field(default_factory=list)
    messages: list[OutgoingMessage] = field(default_factory=list)

    def add(self, outcome: Outcome, messages: Sequence[OutgoingMessage]) -> None:
        self.outcomes.append(outcome)
        self.messages += messages


UnitOfWork = Callable[[Connection], Awaitable[Written]]
"""Decides and writes inside the transaction it is given."""


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

    async def settle(self) -> None:
        """Until what the last batch committed is published (or handed to the relay). Never
        raises; cancelling the wait leaves the publish running."""
        await self.after_commit.settle()

    async def _process_once(self, records: Sequence[Record]) -> list[Outcome]:
        """The batch in one transaction; if the data fails it, each record in one of its own."""
        try:
            return await self._commit(partial(self._apply_batch, records=records))
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
                outcomes += await self._commit(partial(self._apply_batch, records=[record]))
            except Exception as error:
                outcomes += await self._redo_alone(record, error)
        return outcomes

    async def _redo_alone(self, record: Record, error: Exception) -> list[Outcome]:
        """A record that failed alone: transient errors are raised (to be retried), any other
        is recorded as its outcome (see `RecordOutcomes.failure`)."""
        if is_transient(error):
            raise error
        return await self._commit(partial(self.outcomes.failure, record=record, error=error))

    async def _commit(self, work: UnitOfWork) -> list[Outcome]:
        """Run `work` in a transaction and commit; with a publisher, the transaction also takes
        the lanes of the rows it wrote, and its connection is handed over to publish them
        after the commit, in the background: the next batch is applied meanwhile."""
        started = time.perf_counter()
        connection = await self.pool.acquire()
        claim: outbox.LaneClaim | None = None
        try:
            async with connection.transaction():
                written = await work(connection)
                claim = await self.after_commit.claim(connection, written.messages)
        except BaseException:
            await self.pool.release(connection)
            raise
        await self.after_commit.committed(connection, claim, started)
        return written.outcomes

    async def _apply_batch(self, connection: Connection, records: Sequence[Record]) -> Written:
        """Read what the records need, decide each in order, write it all."""
        now = self.clock()
        parsed = [parse_command(record.value) for record in records]
        batch, written = await self._read_and_decide(connection, records, parsed, now)
        await batch.write(written.messages)
        return written

    async def _read_and_decide(
        self,
        connection: Connection,
        records: Sequence[Record],
        parsed: Sequence[ParseOutcome],
        now: datetime,
    ) -> tuple[_Batch, Written]:
        batch = await _Batch.read(connection, parsed, now)
        written = Written()
        yielded = time.perf_counter()
        for record, result in zip(records, parsed, strict=True):
            written.add(*await self.outcomes.decide(batch, record, result, now))
            if time.perf_counter() - yielded >= YIELD_SECONDS:
                # What the batch before this one still sends to PostgreSQL (its writes, its
                # commit) goes out meanwhile, not after this loop.
                await asyncio.sleep(0)
                yielded = time.perf_counter()
        return batch, written

    async def prepare(
        self, records: Sequence[Record], ready: Callable[[frozenset[UUID]], Awaitable[None]]
    ) -> Prepared:
        """The first half of applying `records`: await `ready` with what they name (the caller's
        turn to wait for an earlier batch that names the same), then open a transaction on a
        connection of its own, read and decide them, and start sending their writes."""
        now = self.clock()
        parsed = [parse_command(record.value) for record in records]
        await ready(_names_claimed(parsed))
        started = time.perf_counter()
        connection = await self.pool.acquire()
        transaction = connection.transaction()
        try:
            await transaction.start()
            batch, written = await self._read_and_decide(connection, records, parsed, now)
            # The rows are built here; the task only sends them.
            writes = batch.planned_writes(written.messages)
            writing = asyncio.create_task(run(connection, writes))
        except BaseException:
            await _roll_back(self.pool, connection, transaction)
            raise
        return Prepared(connection, transaction, written, writing, batch.names(), started)

    async def commit_prepared(
        self, prepared: Prepared, turn: Callable[[], Awaitable[None]]
    ) -> list[Outcome]:
        """The second half: finish the writes, await `turn` (the commit of the batch before),
        claim the lanes, commit. Any failure rolls the transaction back and is raised."""
        connection = prepared.connection
        try:
            await prepared.writing
            await turn()
            claim = await self.after_commit.claim(connection, prepared.written.messages)
            await prepared.transaction.commit()
        except BaseException:
            prepared.writing.cancel()
            await asyncio.gather(prepared.writing, return_exceptions=True)
            await _roll_back(self.pool, connection, prepared.transaction)
            raise
        await self.after_commit.committed(connection, claim, prepared.started)
        return prepared.written.outcomes


class RecordOutcomes:
    """What becomes of one record in a batch: its outcome and the rows it publishes (its result,
    its events, or the dead letter), each with the command's trace headers."""

    def __init__(self, messages: Messages, tracing: Tracing, clock: Callable[[], datetime]) -> None:
        self.messages = messages
        self.tracing = tracing
        self.clock = clock

    async def decide(
        self, batch: _Batch, record: Record, result: ParseOutcome, now: datetime
    ) -> tuple[Outcome, list[OutgoingMessage]]:
        """One record's outcome and the rows it publishes."""
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
                entry = _rejected(result, _taken_by_another_tenant(command_id))
            elif first is not None:
                entry = first
            elif isinstance(result, Refused):
                entry = batch.record(_rejected(result, result.error))
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

    async def failure(self, connection: Connection, record: Record, error: Exception) -> Written:
        """A record that fails alone for a non-transient reason: a rejection when the database
        refused its change (a constraint), otherwise the DLQ. Never an endless redelivery."""
        result = parse_command(record.value)
        rejection = refusal(error)
        written = Written()
        if isinstance(result, Parsed) and rejection is not None:
            if (await inbox.find(connection, [result.command_id])).get(result.command_id):
                raise error  # processed meanwhile by another instance: redo as a duplicate
            entry = _rejected(result, rejection)
            await inbox.record(connection, [entry])
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
        await outbox.add(connection, written.messages)
        return written


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


EVERYTHING = UUID(int=0)
"""Named by a batch that holds a command reading another program or the history (v1.3: a sync
locks its source, a revert brings ids back): the pipeline applies such a batch in turn, never
overlapped with the one before or after it (see `pipeline._BatchInFlight.independent_of`)."""


def _names_claimed(parsed: Iterable[ParseOutcome]) -> frozenset[UUID]:
    """What these commands name: their programs, their commandIds and the ids they create."""
    names: set[UUID] = set()
    for result in parsed:
        if isinstance(result, DeadLetter):
            continue
        names.add(result.command_id)
        if result.program_id is not None:
            names.add(result.program_id)
        if isinstance(result, Parsed):
            names.update(entity_id for _, entity_id in ids_created_by(result.command))
            if reads_others(result.command):
                names.add(EVERYTHING)
    return frozenset(names)


@dataclass(slots=True)
class _Batch:
    """The programs of one transaction's batch and what its applied commands changed."""

    connection: Connection
    loaded: dict[UUID, Program]
    seen: dict[UUID, InboxEntry]  # the first outcome of each commandId, this batch's included
    now: InitVar[datetime]
    writes: programs.PendingWrites
    # The ids in use elsewhere, as `context.id_taken` sees them; it follows the batch: what a
    # command deletes is free for the next, what it creates is taken, as if each committed alone.
    taken: set[UUID]
    # what another batch applied at the same time must not name (see `Pipeline`): this batch's
    # programs, commandIds and created ids, and the ids its commands delete
    named: set[UUID]
    entries: list[InboxEntry] = field(default_factory=list)
    # (v1.3) the kept versions of programs read so far, the undos of this batch's own commands
    # included
    undos: dict[UUID, dict[int, Undo]] = field(default_factory=dict)
    history_read: set[UUID] = field(default_factory=set)  # programs whose stored undos are in
    # What a command may know besides its program: the taken ids and (v1.3) the programs and
    # kept versions above, as the batch goes on.
    context: Context = field(init=False)

    def __post_init__(self, now: datetime) -> None:
        self.context = Context(now, self.taken.__contains__, self.program_of, self.history_of)

    @classmethod
    async def read(
        cls, connection: Connection, parsed: Sequence[ParseOutcome], now: datetime
    ) -> _Batch:
        """Lock and load the programs the commands name, then read their inbox rows, the
        prescriptions they read (one query, judged on the stored structure) and the ids they
        create that are taken elsewhere."""
        commands = [p.command for p in parsed if isinstance(p, Parsed)]
        # (v1.3) A copy's source is locked with the programs, in the same id order, so two
        # instances syncing crossed families cannot deadlock.
        syncing = [cmd.program_id for cmd in commands if reads_others(cmd)]
        sources = await programs.sources_of(connection, syncing) if syncing else set()
        loaded = await programs.lock_and_load(
            connection, {cmd.program_id for cmd in commands} | sources
        )
        seen = await inbox.find(
            connection, [p.command_id for p in parsed if not isinstance(p, DeadLetter)]
        )
        await _load_reads(connection, loaded, commands)
        taken = await programs.taken_ids(
            connection, {entity_id for cmd in commands for _, entity_id in ids_created_by(cmd)}
        )
        writes = programs.PendingWrites(stored=programs.stored_ids(loaded))
        return cls(connection, loaded, seen, now, writes, taken, set(_names_claimed(parsed)))

    def program_of(self, program_id: UUID) -> Program | None:
        """Another program a command reads, with what the batch's earlier commands did to it
        (None: it does not exist)."""
        program = self.loaded.get(program_id)
        return None if program is None or program.deleted else program

    def history_of(self, program_id: UUID) -> Iterable[Undo]:
        return self.undos.get(program_id, {}).values()

    async def load_reads(self, commands: Sequence[c.Command]) -> None:
        """Load what these commands read besides their programs' prescriptions (v1.3): a copy's
        source, whole (without changing it), and a program's kept versions, with the ids they
        held that other programs hold now (a revert cannot bring those back)."""
        for command in commands:
            program = self.loaded.get(command.program_id)
            if program is None or not reads_others(command):
                continue
            reads = reads_of(program, command)
            if reads.source and program.source is not None:
                await self._load_source(program.source.program_id)
            if reads.history and program.id not in self.history_read:
                await self._load_history(program)

    async def _load_source(self, program_id: UUID) -> None:
        """The whole source, locked with the batch's programs (`read`); absent: deleted."""
        if program_id in self.loaded:
            await programs.load_prescriptions(
                self.connection, self.loaded, whole_programs=[program_id]
            )

    async def _load_history(self, program: Program) -> None:
        oldest = max(0, program.version - REVERTIBLE_VERSIONS - 1)
        undos = await history.since(self.connection, program.id, oldest)
        self.history_read.add(program.id)
        kept = self.undos.setdefault(program.id, {})  # those of this batch's commands are in
        for undo in undos:
            kept.setdefault(undo.version, undo)
        held = {
            entity_id
            for undo in undos
            for session in undo.sessions.values()
            if session is not None
            for entity_id in session.entity_ids()
        }
        self.taken |= await programs.held_elsewhere(self.connection, held, program.id)

    def names(self) -> frozenset[UUID]:
        return frozenset(self.named)

    def record(self, entry: InboxEntry) -> InboxEntry:
        """The first outcome of its commandId: written to the inbox with the batch."""
        self.seen[entry.command_id] = entry
        self.entries.append(entry)
        return entry

    async def write(self, messages: Sequence[OutgoingMessage]) -> None:
        """State, inbox rows and outbox rows, in the transaction that read them."""
        await run(self.connection, self.planned_writes(messages))

    def planned_writes(self, messages: Sequence[OutgoingMessage]) -> list[Write]:
        """The statements of `write`, their rows built now."""
        return [*self.writes.plan(), *inbox.recording(self.entries), *outbox.adding(messages)]

    async def apply(self, command: c.Command) -> tuple[InboxEntry, list[Event]]:
        """Apply one command to its (possibly already changed) program, loading what it reads."""
        await _load_reads(self.connection, self.loaded, [command])
        await self.load_reads([command])
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
        if not applied.dry_run:
            self._follow(command, applied)
        entry = InboxEntry(
            command.command_id,
            command.type,
            command.program_id,
            "applied",
            applied.version,
            None,
            command.tenant_id,
            applied.report,
        )
        return entry, applied.events

    def _follow(self, command: c.Command, applied: Applied) -> None:
        """Keep the batch's programs, pending writes, kept versions and taken ids as `command`
        left them."""
        program, changes = applied.program, applied.changes
        self.loaded[program.id] = program
        self.writes.add(program, changes, applied.undo)
        if applied.undo is not None:
            self.undos.setdefault(program.id, {})[applied.undo.version] = applied.undo
        if reads_others(command):
            # A sync or a revert creates or brings back ids no command names: taken from now on.
            self.taken |= {i for session in program.sessions for i in session.entity_ids()}
        if changes.program_deleted:
            self.taken.add(program.id)  # a program id is never used again
        deleted = {*changes.deleted_sessions, *changes.deleted_groups, *changes.deleted_exercises}
        self.taken -= deleted
        self.named |= deleted
        self.taken |= {entity_id for _, entity_id in ids_created_by(command)}


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
