"""The service's answer to a command without Kafka or PostgreSQL: the bytes parsed as the consumer
parses them, the command applied by the domain core to programs held in memory (every id they
hold is taken, as in the database), and the result a client would read, in its wire form."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic_core import to_json

from contracts.commands import Command
from contracts.parsing import DeadLetter, Refused, parse_command
from service.apply.wire import result_payload
from service.clients.client import Document, new_command
from service.domain.commands import Applied, Context, apply
from service.domain.errors import Rejection
from service.domain.history import Undo
from service.domain.model import Program
from service.storage.inbox import InboxEntry
from tests.support.programs import build_steps, new_program_ids

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def ids_of(program: Program) -> set[UUID]:
    """The session, group and program exercise ids a program holds."""
    ids: set[UUID] = set()
    for session in program.sessions:
        ids.add(session.id)
        for group in session.groups:
            ids.add(group.id)
            ids |= {exercise.id for exercise in group.exercises}
    return ids


def content(program: Program) -> Any:
    """What `program.revert` brings back: everything but the athlete and the versions
    (of the program and of its prescriptions). A deep copy: the program goes on changing."""
    return copy.deepcopy(
        (
            program.name,
            program.weeks,
            program.week_labels,
            program.start_date,
            program.source,
            program.removed_origins,
            program.sessions,
            {
                p.id: (p.program_exercise_id, p.week, p.series)
                for by_week in program.prescriptions.values()
                for p in by_week.values()
            },
        )
    )


class Programs:
    """Programs in memory, changed by commands as the service changes its database."""

    def __init__(self, tenant_id: str = "tenant-a", now: datetime = NOW) -> None:
        self.tenant_id = tenant_id
        self.now = now
        self.programs: dict[UUID, Program] = {}
        self.taken: set[UUID] = set()
        self.history: dict[UUID, dict[int, Undo]] = {}  # every version's undo, never pruned

    def context(self) -> Context:
        return Context(
            self.now,
            self.taken.__contains__,
            self.programs.get,
            lambda program_id: self.history.get(program_id, {}).values(),
        )

    def apply(self, command: Command) -> Applied:
        """Apply one parsed command; a `Rejection` raised leaves every program as it was."""
        before = self.programs.get(command.program_id)
        applied = apply(before, command, self.context())
        if applied.dry_run:
            return applied
        made = applied.program  # the command's program, or the copy a program.copy made
        if applied.undo is not None:
            self.history.setdefault(made.id, {})[applied.undo.version] = applied.undo
        self.taken.add(made.id)  # a program id is never used again, not even once deleted
        if made.deleted:
            del self.programs[made.id]
        else:
            self.programs[made.id] = made
        if made.id == command.program_id and before is not None:
            self.taken -= ids_of(before)
        self.taken |= ids_of(made)
        return applied

    def decide(self, value: bytes) -> Document | None:
        """The result the service publishes for this message value (None: a dead letter)."""
        parsed = parse_command(value)
        if isinstance(parsed, DeadLetter):
            return None
        if isinstance(parsed, Refused):
            entry = InboxEntry(
                parsed.command_id,
                parsed.type,
                parsed.program_id,
                "rejected",
                None,
                parsed.error.to_wire(),
            )
        else:
            command = parsed.command
            version: int | None = None
            error: dict[str, Any] | None = None
            report: dict[str, Any] | None = None
            try:
                applied = self.apply(command)
                version, report = applied.version, applied.report
            except Rejection as rejection:
                error = rejection.to_error().to_wire()
            status = "rejected" if error else "applied"
            entry = InboxEntry(
                command.command_id,
                command.type,
                command.program_id,
                status,
                version,
                error,
                sync=report,
            )
        result: Document = json.loads(to_json(result_payload(entry, self.now, duplicate=False)))
        return result

    # --- the same calls as the Kafka client's

    def command(self, kind: str, program_id: str, **fields: Any) -> Document:
        return new_command(kind, self.tenant_id, program_id, **fields)

    def request(self, command: Document) -> Document:
        result = self.decide(json.dumps(command, default=str).encode())
        assert result is not None, "a command document always has a result"
        return result

    def run(self, kind: str, program_id: str, **fields: Any) -> Document:
        return self.request(self.command(kind, program_id, **fields))

    def applied(self, kind: str, program_id: str, **fields: Any) -> Document:
        result = self.run(kind, program_id, **fields)
        assert result["status"] == "applied", result
        return result

    def build_program(self, weeks: int = 4) -> dict[str, str]:
        """The small program of `tests.support.programs.build_program`, in memory."""
        ids = new_program_ids()
        for kind, fields in build_steps(ids, weeks):
            self.applied(kind, ids["program"], **fields)
        return ids

    def snapshot(self) -> dict[UUID, Program]:
        """A copy of every program, to compare with after a command that must change nothing."""
        return copy.deepcopy(self.programs)
