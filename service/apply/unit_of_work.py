"""The unit of work of one batch: what its transaction read, what its commands changed, and the
writes it will send.

`UnitOfWork.read` locks and loads the programs the batch's commands name, then reads their inbox
rows (after the lock, so two instances can never both apply one command), the prescriptions they
read and the ids they create that are taken elsewhere. Then each command is applied in order to
its in-memory program (`apply`), and the unit of work follows what it changed, so the next
command sees it, as if each committed alone: the identity map of programs, the ids taken, the
kept versions, and the pending writes (`planned_writes`: state, inbox rows, outbox rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import InitVar, dataclass, field
from datetime import datetime
from uuid import UUID

from contracts import commands as c
from contracts.commands import REVERTIBLE_VERSIONS
from contracts.parsing import DeadLetter, Parsed, ParseOutcome, Refused
from contracts.results import CommandError
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
from service.storage import history, inbox, outbox, programs
from service.storage.database import Connection, Write
from service.storage.inbox import InboxEntry
from service.storage.outbox import OutgoingMessage

EVERYTHING = UUID(int=0)
"""Named by a batch that holds a command reading another program or the history (a sync locks
its source, a revert brings ids back): the pipeline applies such a batch in turn, never
overlapped with the one before or after it (see `consume.pipeline`), since a lock it waits for
could otherwise be held by a batch waiting for its turn."""


def names_claimed(parsed: Iterable[ParseOutcome]) -> frozenset[UUID]:
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


def rejected(command: Parsed | Refused, error: CommandError) -> InboxEntry:
    """The inbox entry of a command answered `rejected` with `error`."""
    return InboxEntry(
        command.command_id,
        command.type,
        command.program_id,
        "rejected",
        None,
        error.to_wire(),
        command.tenant_id,
    )


@dataclass(slots=True)
class UnitOfWork:
    """The programs of one transaction's batch and what its applied commands changed."""

    connection: Connection
    loaded: dict[UUID, Program]
    """The identity map: each program the batch locked, as its commands so far left it."""
    seen: dict[UUID, InboxEntry]
    """The first outcome of each commandId, this batch's included."""
    now: InitVar[datetime]
    writes: programs.PendingWrites
    taken: set[UUID]
    """The ids in use elsewhere, as `context.id_taken` sees them. It follows the batch: what a
    command deletes is free for the next, what it creates is taken."""
    named: set[UUID]
    """What another batch applied at the same time must not name (see `consume.pipeline`): this
    batch's programs, commandIds and created ids, and the ids its commands delete."""
    entries: list[InboxEntry] = field(default_factory=list)
    undos: dict[UUID, dict[int, Undo]] = field(default_factory=dict)
    """The kept versions of the programs read so far, those of this batch's commands included."""
    history_read: set[UUID] = field(default_factory=set)
    """The programs whose stored kept versions are in `undos`."""
    context: Context = field(init=False)
    """What a command may know besides its program: the taken ids, the other programs and the
    kept versions above, as the batch goes on."""

    def __post_init__(self, now: datetime) -> None:
        self.context = Context(now, self.taken.__contains__, self.program_of, self.history_of)

    @classmethod
    async def read(
        cls, connection: Connection, parsed: Sequence[ParseOutcome], now: datetime
    ) -> UnitOfWork:
        """Lock and load the programs the commands name, then read their inbox rows, the
        prescriptions they read (one query, judged on the stored structure) and the ids they
        create that are taken elsewhere."""
        commands = [p.command for p in parsed if isinstance(p, Parsed)]
        # A copy's source is locked with the programs, in the same id order, so two instances
        # syncing crossed families cannot deadlock.
        syncing = [cmd.program_id for cmd in commands if reads_others(cmd)]
        sources = await programs.sources_of(connection, syncing) if syncing else set()
        loaded = await programs.lock_and_load(
            connection, {cmd.program_id for cmd in commands} | sources
        )
        seen = await inbox.find(
            connection, [p.command_id for p in parsed if not isinstance(p, DeadLetter)]
        )
        await _load_prescriptions_read(connection, loaded, commands)
        taken = await programs.taken_ids(
            connection, {entity_id for cmd in commands for _, entity_id in ids_created_by(cmd)}
        )
        writes = programs.PendingWrites(stored=programs.stored_ids(loaded))
        return cls(connection, loaded, seen, now, writes, taken, set(names_claimed(parsed)))

    def program_of(self, program_id: UUID) -> Program | None:
        """Another program a command reads, with what the batch's earlier commands did to it
        (None: it does not exist)."""
        program = self.loaded.get(program_id)
        return None if program is None or program.deleted else program

    def history_of(self, program_id: UUID) -> Iterable[Undo]:
        return self.undos.get(program_id, {}).values()

    def names(self) -> frozenset[UUID]:
        return frozenset(self.named)

    def record(self, entry: InboxEntry) -> InboxEntry:
        """The first outcome of its commandId: written to the inbox with the batch."""
        self.seen[entry.command_id] = entry
        self.entries.append(entry)
        return entry

    def planned_writes(self, messages: Sequence[OutgoingMessage]) -> list[Write]:
        """State, inbox rows and outbox rows, to be sent in the transaction that read them;
        their rows are built now."""
        return [*self.writes.plan(), *inbox.recording(self.entries), *outbox.adding(messages)]

    async def apply(self, command: c.Command) -> tuple[InboxEntry, list[Event]]:
        """Apply one command to its (possibly already changed) program, loading what it reads."""
        await _load_prescriptions_read(self.connection, self.loaded, [command])
        await self._load_other_reads(command)
        while True:
            try:
                applied = apply(self.loaded.get(command.program_id), command, self.context)
                break
            except Rejection as rejection:
                return rejected(Parsed(command), rejection.to_error()), []
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

    async def _load_other_reads(self, command: c.Command) -> None:
        """What a command reads besides its program's prescriptions: a copy's source, whole
        (without changing it), and a program's kept versions, with the ids they held that other
        programs hold now (a revert cannot bring those back)."""
        program = self.loaded.get(command.program_id)
        if program is None or not reads_others(command):
            return
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


async def _load_prescriptions_read(
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
