"""`apply`: one command against its program, through the handler the registry names for it.

It checks what every command shares (the program exists for the tenant, or must not for one
that creates it; `expectedVersion`; ids the command creates are free elsewhere), runs the
handler on a copy of the aggregate when the handler needs one, and returns the new program with
what changed and the events that announce it. A `Rejection` leaves the caller's program as it
was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts import commands as c
from service.domain.changes import Changes
from service.domain.commands.registry import Context, Step, handler_of, ids_created_by
from service.domain.errors import Conflict, NotFound
from service.domain.events import Event, announce
from service.domain.history import Undo, undo_of
from service.domain.ids import IdDeriver
from service.domain.model import Program


@dataclass(frozen=True, slots=True)
class Applied:
    """`program` is what `changes` describe and what is written: the command's program, or the
    one it made (program.copy). `version` is the command's own program's version after it.

    `undo` leads from the new version back to the one before (None: no new version of an
    existing program); `report` is what the result adds; `dry_run`: nothing is to be written
    or published but the result."""

    program: Program
    changes: Changes
    events: list[Event]
    version: int
    undo: Undo | None = None
    report: dict[str, Any] | None = None
    dry_run: bool = False


def apply(program: Program | None, command: c.Command, context: Context) -> Applied:
    """Apply one command to `program` (None when it does not exist). Raises `Rejection`, and
    `PrescriptionsNotLoaded` when it needs stored prescriptions the caller did not load."""
    handler = handler_of(command)
    if program is not None and program.deleted:
        program = None  # deleted earlier in the same batch
    if handler.creates_program:
        if program is not None:
            raise Conflict(f"program {command.program_id} already exists", path="programId")
        target = before = Program(command.program_id, command.tenant_id, "", 1, 0)
    else:
        if program is None or program.tenant_id != command.tenant_id:
            # The same answer whether the program is missing or another tenant's: no hint.
            raise NotFound(
                f"program {command.program_id} not found for tenant {command.tenant_id!r}",
                path="programId",
            )
        if command.expected_version is not None and command.expected_version != program.version:
            raise Conflict(
                f"expectedVersion is {command.expected_version} but program {program.id} is at "
                f"version {program.version}",
                path="expectedVersion",
            )
        target = program.copy() if handler.copies else program
        # What the version before looked like, for the history: the program itself when the
        # handler works on a copy, else a view of it that the handler's in-place changes (it
        # only replaces sessions and prescriptions) leave as it was.
        before = program if handler.copies or not handler.versioned else program.view()
    for path, entity_id in ids_created_by(command):
        if context.id_taken(entity_id):
            if path in ("programId", "newProgramId"):
                raise Conflict(
                    f"program {entity_id} exists or was deleted: a program id is never reused",
                    path=path,
                )
            raise Conflict(f"id {entity_id} is already in use", path=path)

    changes = Changes()
    step = Step(changes, context, IdDeriver(command.command_id))
    handler.apply(target, command, step)
    if step.dry_run:
        return Applied(program or target, Changes(), [], target.version, None, step.report, True)
    if handler.versioned:
        target.version += 1
    written = step.output or target
    events = announce(written, changes, command.command_id, context.now)
    undo = None
    if handler.versioned and not handler.creates_program and not changes.program_deleted:
        undo = undo_of(before, written, changes)
    return Applied(written, changes, events, target.version, undo, step.report)
